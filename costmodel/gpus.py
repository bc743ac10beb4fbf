"""What the cost model needs to know about one GPU type, independent of where it came from.

The CLI and the dashboard build `GpuSpec`s from the warehouse's `gpu_specs` rows
(`GpuSpec.from_row`); tests build them by hand. Keeping this a plain dataclass keeps
`costmodel` free of DuckDB.

A GPU's *generation* is its spec sheet's `architecture`, lower-cased ("hopper", "ampere",
"tpu v4", "cdna 3"): the key the assumption table's utilisation rows use.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class GpuSpec:
    gpu: str  # canonical id, e.g. "A100-SXM-80GB"
    memory_gb: float
    memory_bandwidth_tbs: float | None = None
    tflops: Mapping[str, float | None] = field(default_factory=dict)  # precision -> DENSE TFLOPS
    interconnect: str | None = None
    form_factor: str | None = None
    vendor: str | None = None
    name: str | None = None
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
            architecture=row.get("architecture"),
            source_url=row.get("source_url"),
        )

    @property
    def generation(self) -> str:
        return (self.architecture or "unknown").strip().lower()

    def dense_tflops(self, precision: str) -> float:
        value = self.tflops.get(precision)
        if value is None or value <= 0:
            known = [p for p, v in self.tflops.items() if v]
            raise EstimateError(
                f"{self.gpu} has no published dense {precision} throughput"
                + (f"; its spec sheet has {', '.join(known)}" if known else "; its spec sheet has no dense figures"),
                reason="precision_unavailable",
                values={"gpu": self.gpu, "precision": precision, "available": known},
            )
        return float(value)


def catalog(specs: Iterable[GpuSpec] | Mapping[str, GpuSpec]) -> dict[str, GpuSpec]:
    if isinstance(specs, Mapping):
        return dict(specs)
    return {s.gpu: s for s in specs}


def pick(gpu: str | None, specs: GpuSpec | Mapping[str, GpuSpec] | Iterable[GpuSpec]) -> tuple[GpuSpec, dict[str, GpuSpec]]:
    """The spec of `gpu` and the whole catalog (for "a larger GPU needs fewer" suggestions)."""
    if isinstance(specs, GpuSpec):
        if gpu and gpu != specs.gpu:
            raise EstimateError(f"asked for GPU {gpu!r} but was given the spec of {specs.gpu!r}", reason="unknown_gpu",
                                values={"gpu": gpu, "known": [specs.gpu]})
        return specs, {specs.gpu: specs}
    table = catalog(specs)
    if not gpu or gpu not in table:
        raise EstimateError(
            f"no spec sheet for GPU {gpu!r}" if gpu else "no GPU chosen",
            reason="unknown_gpu", values={"gpu": gpu, "known": sorted(table)},
        )
    return table[gpu], table
