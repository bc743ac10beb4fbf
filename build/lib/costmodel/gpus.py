"""What the cost model needs to know about one GPU type, independent of where it came from.

The CLI and the dashboard build `GpuSpec`s from the warehouse's `gpu_specs` rows
(`GpuSpec.from_row`); tests build them by hand. Keeping this a plain dataclass keeps
`costmodel` free of DuckDB.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from costmodel.errors import EstimateError

# Precision name -> the dense-throughput column of `gpu_specs`.
PRECISION_COLUMNS: dict[str, str] = {
    "bf16": "bf16_tflops",
    "fp16": "fp16_tflops",
    "fp8": "fp8_tflops",
    "tf32": "tf32_tflops",
    "fp32": "fp32_tflops",
    "fp4": "fp4_tflops",
}
TRAINING_PRECISIONS = ("bf16", "fp8", "fp16", "tf32", "fp32")

# Interconnects on which multi-GPU jobs scale well (a switched or point-to-point GPU fabric).
# Anything else (pcie, ethernet, none, unknown) is treated as slow.
FAST_INTERCONNECTS = frozenset(
    {"nvlink", "nvswitch", "nvlink-c2c", "infinity-fabric", "ici", "neuronlink", "xe-link"}
)


@dataclass(frozen=True)
class GpuSpec:
    gpu: str  # canonical id, e.g. "A100-80GB"
    memory_gb: float
    memory_bandwidth_tbs: float | None = None
    tflops: Mapping[str, float | None] = field(default_factory=dict)  # precision -> DENSE TFLOPS
    interconnect: str | None = None
    form_factor: str | None = None
    vendor: str | None = None
    name: str | None = None
    gpu_class: str | None = None  # see guess_gpu_class; None -> guessed
    architecture: str | None = None
    source_url: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "GpuSpec":
        """From a `gpu_specs` row (dict); unknown keys are ignored."""
        return cls(
            gpu=row["gpu"],
            memory_gb=float(row["memory_gb"]) if row.get("memory_gb") is not None else 0.0,
            memory_bandwidth_tbs=row.get("memory_bandwidth_tbs"),
            tflops={p: row.get(c) for p, c in PRECISION_COLUMNS.items()},
            interconnect=row.get("interconnect"),
            form_factor=row.get("form_factor"),
            vendor=row.get("vendor"),
            name=row.get("name"),
            gpu_class=row.get("gpu_class"),
            architecture=row.get("architecture"),
            source_url=row.get("source_url"),
        )

    def dense_tflops(self, precision: str) -> float:
        value = self.tflops.get(precision)
        if value is None or value <= 0:
            known = [p for p, v in self.tflops.items() if v]
            hint = (
                f"it has {', '.join(known)} (e.g. --precision {known[0]}), or pick another GPU"
                if known else "its spec sheet has no dense throughput figures; pick another GPU"
            )
            raise EstimateError(f"{self.gpu} has no published dense {precision} throughput in gpu_specs; {hint}.")
        return float(value)

    @property
    def klass(self) -> str:
        return self.gpu_class or guess_gpu_class(self)

    @property
    def fast_interconnect(self) -> bool:
        return (self.interconnect or "").lower() in FAST_INTERCONNECTS


# Architectures whose data-centre parts get the "datacenter-legacy" utilisation (no bf16,
# older tensor cores, smaller published MFU).
LEGACY_ARCHITECTURES = {"kepler", "maxwell", "pascal", "volta", "turing"}


def guess_gpu_class(spec: GpuSpec) -> str:
    """The `assumptions` class of a GPU: datacenter | datacenter-legacy | workstation | consumer |
    amd | tpu | trainium | gaudi. One implementation, used by the pipeline's metrics, the CLI
    and the dashboard, so they can never disagree on a default."""
    vendor = (spec.vendor or "").lower()
    name = (spec.name or "").lower()
    gpu = (spec.gpu or "").upper()
    architecture = (spec.architecture or "").lower()
    if vendor == "google" or gpu.startswith("TPU"):
        return "tpu"
    if vendor in ("aws", "amazon") or gpu.startswith(("TRAINIUM", "INFERENTIA")):
        return "trainium"
    if vendor == "intel" or gpu.startswith("GAUDI"):
        return "gaudi"
    if vendor == "amd":
        return "workstation" if "radeon pro" in name else "amd"
    if "geforce" in name or re.match(r"^(RTX|GTX)\d{4}(TI|S)?-\d+GB$", gpu):
        return "consumer"
    if gpu.startswith(("RTX", "QUADRO")) or "quadro" in name or name.startswith("rtx"):
        return "workstation"
    if architecture in LEGACY_ARCHITECTURES:
        return "datacenter-legacy"
    return "datacenter"


def catalog(specs: Iterable[GpuSpec] | Mapping[str, GpuSpec]) -> dict[str, GpuSpec]:
    if isinstance(specs, Mapping):
        return dict(specs)
    return {s.gpu: s for s in specs}


def pick(gpu: str | None, specs: GpuSpec | Mapping[str, GpuSpec] | Iterable[GpuSpec]) -> tuple[GpuSpec, dict[str, GpuSpec]]:
    """The spec of `gpu` and the whole catalog (for "try a larger GPU" suggestions)."""
    if isinstance(specs, GpuSpec):
        if gpu and gpu != specs.gpu:
            raise EstimateError(f"asked for GPU {gpu!r} but was given the spec of {specs.gpu!r}")
        return specs, {specs.gpu: specs}
    table = catalog(specs)
    if not gpu:
        raise EstimateError(f"no GPU given; pick one of: {', '.join(sorted(table)) or '(no GPU specs loaded)'}")
    if gpu not in table:
        raise EstimateError(
            f"unknown GPU {gpu!r}: no spec sheet for it; known GPUs: "
            f"{', '.join(sorted(table)) or '(none; run an ingest that loads gpu_specs)'}"
        )
    return table[gpu], table
