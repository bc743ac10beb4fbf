"""Which class a GPU belongs to, and the utilisation / scaling assumptions that apply to it.

Pure functions over the ``assumptions`` rows (``connectors.specs.load_assumptions()`` or the
warehouse table, overrides included). Used by the metrics step and the cost model:

    effective_tflops = dense_tflops(precision)
                       * lookup_utilisation(a, gpu_class(spec), precision)
                       * lookup_scaling(a, spec["interconnect"], gpu_count)

Wildcards: ``*`` in gpu_class, precision or interconnect matches anything; the most specific
matching row wins (exact class and precision, then exact class, then exact precision, then
``*``/``*``). A row with ``overridden = true`` beats a default row with the same specificity.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl

# Architectures before Ampere: FP16-only tensor cores (or none), lower published MFU.
_LEGACY_ARCHITECTURES = {"kepler", "maxwell", "pascal", "volta", "turing"}

GPU_CLASSES = (
    "datacenter",
    "datacenter-legacy",
    "workstation",
    "consumer",
    "amd",
    "tpu",
    "trainium",
    "gaudi",
)


def gpu_class(spec_row: Mapping[str, Any] | None) -> str:
    """The assumption class of a gpu_specs row (a dict with vendor, name, architecture, gpu).

    datacenter | datacenter-legacy | workstation | consumer | amd | tpu | trainium | gaudi;
    ``*`` when there is no spec row, so only wildcard assumptions apply.
    """
    if not spec_row:
        return "*"
    vendor = str(spec_row.get("vendor") or "").lower()
    name = str(spec_row.get("name") or "").lower()
    gpu = str(spec_row.get("gpu") or "").upper()
    architecture = str(spec_row.get("architecture") or "").lower()
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
    if architecture in _LEGACY_ARCHITECTURES:
        return "datacenter-legacy"
    return "datacenter"


def _rows(assumptions: pl.DataFrame | Iterable[Mapping[str, Any]], kind: str) -> list[Mapping[str, Any]]:
    rows = assumptions.to_dicts() if isinstance(assumptions, pl.DataFrame) else list(assumptions)
    chosen = [r for r in rows if r.get("kind") == kind]
    # Overrides first, so they win ties with a default of the same specificity.
    chosen.sort(key=lambda r: not bool(r.get("overridden")))
    return chosen


def lookup_utilisation(
    assumptions: pl.DataFrame | Iterable[Mapping[str, Any]], gpu_class: str, precision: str
) -> float | None:
    """The MFU to assume for a GPU class at a precision (e.g. 'datacenter', 'bf16')."""
    rows = _rows(assumptions, "utilisation")
    for cls, prec in ((gpu_class, precision), (gpu_class, "*"), ("*", precision), ("*", "*")):
        for row in rows:
            if row.get("gpu_class") == cls and row.get("precision") == prec:
                return float(row["value"])
    return None


def lookup_scaling(
    assumptions: pl.DataFrame | Iterable[Mapping[str, Any]],
    interconnect: str | None,
    gpu_count: float | None,
) -> float | None:
    """Scaling efficiency for ``gpu_count`` GPUs linked by ``interconnect``.

    Fractional counts (a shared GPU) are rounded up: part of one GPU never communicates.
    """
    count = 1 if gpu_count is None or gpu_count != gpu_count else max(1, math.ceil(gpu_count))
    rows = _rows(assumptions, "scaling")
    for link in (interconnect or "*", "*"):
        for row in rows:
            if row.get("interconnect") != link:
                continue
            if float(row["min_gpus"]) <= count <= float(row["max_gpus"]):
                return float(row["value"])
    return None
