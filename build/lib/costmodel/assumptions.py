"""Utilisation (MFU) and scaling-efficiency assumptions: the warehouse table, else our constants.

The `assumptions` table (kind, gpu_class, precision, interconnect, min_gpus, max_gpus, value,
source_url; '*' is a wildcard) is built by the specs work and may be empty on a fresh
warehouse. `Assumptions` looks values up in it and falls back to the documented constants
below, and always says which one it used (`Assumed.source`), so the CLI can print it.

Lookup rule: among rows whose kind matches, whose gpu_class / precision / interconnect equal the
query or are '*', and whose [min_gpus, max_gpus] contains the GPU count, the most specific row
wins (fewest wildcards), then the narrowest GPU range.

Fallback constants (every one overridable: `--mfu`, `TrainingSpec.mfu`, `scaling_efficiency`):

* FALLBACK_UTILISATION = 0.40 for training at any precision. Llama 3 405B BF16 ran at 38-43 %
  MFU on 8k-16k H100s [L3, arXiv 2407.21783 Table 4]; EleutherAI's "at least 120 TFLOP/s on an
  A100" is 38 % of 312 [TM101, blog.eleuther.ai/transformer-math]; DESIGN.md quotes 0.35-0.55.
  For fp8 the MFU is against the fp8 peak, where published runs report less; 0.40 is then
  optimistic, so pass --mfu when you know better.
* Scaling efficiency: 1.0 within one 8-GPU node; beyond it, 1 - k * log2(n / 8), floored at
  0.5, with k = 0.01 per doubling on a fast GPU fabric (NVLink/NVSwitch nodes, InfiniBand
  between them) and k = 0.04 on PCIe-only or Ethernet-linked GPUs. Evidence that it falls with
  size: Llama 3 MFU 43 % -> 41 % from 8,192 to 16,384 GPUs [L3 Table 4]. Because the 0.40 MFU
  above already comes from runs of thousands of GPUs, the fast-fabric slope is kept gentle; the
  PCIe slope is our assumption (DESIGN.md: "falls faster on PCIe-only or Ethernet-linked"), not
  a measurement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

import polars as pl

FALLBACK_UTILISATION = 0.40
FALLBACK_UTILISATION_SOURCE = (
    "fallback constant 0.40 (Llama 3 405B 38-43% MFU, arXiv 2407.21783 Table 4; "
    "EleutherAI transformer-math >=120 TFLOP/s on A100)"
)
GPUS_PER_NODE = 8
SCALING_SLOPE_FAST = 0.01
SCALING_SLOPE_SLOW = 0.04
SCALING_FLOOR = 0.5
FALLBACK_SCALING_SOURCE = (
    "fallback curve 1 - k*log2(n/8) past one 8-GPU node, k=0.01 fast fabric / 0.04 PCIe or "
    "Ethernet, floor 0.5 (trend from Llama 3 MFU 43%->41% at 8k->16k GPUs, arXiv 2407.21783)"
)


@dataclass(frozen=True)
class Assumed:
    value: float
    source: str  # "assumptions table: <source_url>", "fallback ...", or "user override"


def fallback_scaling(gpus: float, fast_interconnect: bool) -> float:
    if gpus <= GPUS_PER_NODE:
        return 1.0
    slope = SCALING_SLOPE_FAST if fast_interconnect else SCALING_SLOPE_SLOW
    return max(SCALING_FLOOR, 1.0 - slope * math.log2(gpus / GPUS_PER_NODE))


_ROW_KEYS = ("kind", "gpu_class", "precision", "interconnect", "min_gpus", "max_gpus", "value")


class Assumptions:
    """Lookups over the `assumptions` table (a polars frame, a list of dicts, or None)."""

    def __init__(self, table: pl.DataFrame | Iterable[dict[str, Any]] | None = None) -> None:
        if table is None:
            rows: list[dict[str, Any]] = []
        elif isinstance(table, pl.DataFrame):
            rows = table.to_dicts() if all(k in table.columns for k in _ROW_KEYS) else []
        else:
            rows = [dict(r) for r in table]
        self._rows = [r for r in rows if r.get("value") is not None]

    @property
    def empty(self) -> bool:
        return not self._rows

    def max_utilisation(self) -> float:
        """The highest utilisation any lookup can return (bounds the deadline search)."""
        values = [float(r["value"]) for r in self._rows if r["kind"] == "utilisation"]
        return max([FALLBACK_UTILISATION, *values])

    def _match(self, kind: str, gpu_class: str, precision: str, interconnect: str, gpus: float) -> dict | None:
        def fits(row_value: Any, wanted: str) -> bool:
            return row_value in ("*", None) or str(row_value).lower() == (wanted or "").lower()

        best, best_key = None, None
        for row in self._rows:
            if row["kind"] != kind:
                continue
            if not (fits(row["gpu_class"], gpu_class) and fits(row["precision"], precision)
                    and fits(row["interconnect"], interconnect)):
                continue
            lo = row["min_gpus"] if row["min_gpus"] is not None else 0
            hi = row["max_gpus"] if row["max_gpus"] is not None else math.inf
            if not (lo <= gpus <= hi):
                continue
            specific = sum(row[k] not in ("*", None) for k in ("gpu_class", "precision", "interconnect"))
            key = (specific, bool(row.get("overridden")), -(hi - lo), lo)  # a user's override wins
            if best_key is None or key > best_key:
                best, best_key = row, key
        return best

    def utilisation(self, gpu_class: str, precision: str, interconnect: str | None, gpus: float = 1) -> Assumed:
        row = self._match("utilisation", gpu_class, precision, interconnect or "", gpus)
        if row is not None:
            return Assumed(float(row["value"]), _table_source(row))
        return Assumed(FALLBACK_UTILISATION, FALLBACK_UTILISATION_SOURCE)

    def scaling(self, gpu_class: str, precision: str, interconnect: str | None, gpus: float, fast: bool) -> Assumed:
        row = self._match("scaling", gpu_class, precision, interconnect or "", gpus)
        if row is not None:
            return Assumed(float(row["value"]), _table_source(row))
        return Assumed(fallback_scaling(gpus, fast), FALLBACK_SCALING_SOURCE)


def _table_source(row: dict) -> str:
    where = row.get("source_url") or "no source_url"
    return f"assumptions table ({row['kind']} {row['gpu_class']}/{row['precision']}/{row['interconnect']}, {where})"
