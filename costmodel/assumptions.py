"""The assumption table: utilisation and serving efficiencies, each row citing the run it comes from.

Rows (`market/data/assumptions.csv`, loaded into the warehouse's `assumptions` table, where an
operator may add overriding rows):

* ``training_mfu``: end-to-end model FLOPs utilisation, keyed by GPU *generation* (the spec
  sheet's architecture), *precision* and *model size* (``model_params``, the active parameters
  of the published run). "End to end" means model FLOPs / (GPUs x dense peak x wall time) over
  the whole run: communication, restarts and stragglers are inside it, because the value is
  computed from the GPU-hours the run's authors published (`costmodel.calibration`). Between two
  runs of one generation and precision the value is interpolated linearly in log(model size);
  outside them the nearest run's value holds.
* A row with ``same_as_generation`` / ``same_as_precision`` measures nothing: it borrows another
  key's value and multiplies it by ``value`` (e.g. Blackwell borrows Hopper at 1.0; FP8 borrows
  BF16 at 0.5, i.e. no speed-up assumed over BF16). Empty ``same_as_*`` means "as asked".
* ``mfu_scale_per_doubling``: the factor applied per doubling of the GPU count *beyond* the
  count the source run measured (``measured_gpus``). Llama 3 405B fell from 43 % to 41 % MFU
  going from 8,192 to 16,384 H100s (arXiv 2407.21783 Table 4), so 41/43 per doubling. At or
  below the measured size the factor is 1: the published MFU already includes the
  communication of that many GPUs, and since every measured run used thousands of GPUs (never
  fewer than 8) a single 8-GPU node is never penalised against one GPU.
* ``serve_compute_efficiency``, ``serve_memory_efficiency``, ``serve_tp_efficiency``: the
  serving model's fractions of dense peak and of memory bandwidth, and the per-GPU efficiency
  per doubling of tensor parallelism, keyed by generation; calibrated on MLPerf Inference
  (see `costmodel.calibration` and docs/inference-model.md).

Lookup order for a (kind, generation, precision): measured rows of that key; else a borrowing
row of (generation, precision), then (generation, '*'), then ('*', precision), then ('*', '*').
Overridden rows replace the default row with the same key. `Assumed.source` always says which
rows were used, so every interface can print where a default came from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import polars as pl

from costmodel.errors import EstimateError

TRAINING_MFU = "training_mfu"
SCALE_PER_DOUBLING = "mfu_scale_per_doubling"
SERVE_COMPUTE = "serve_compute_efficiency"
SERVE_MEMORY = "serve_memory_efficiency"
SERVE_TP = "serve_tp_efficiency"
KINDS = (TRAINING_MFU, SCALE_PER_DOUBLING, SERVE_COMPUTE, SERVE_MEMORY, SERVE_TP)
ANY = "*"
# The smallest GPU count a measured row may claim: below one node there is nothing to extrapolate.
MIN_MEASURED_GPUS = 8
MAX_BORROW_DEPTH = 6

ROW_KEYS = (
    "kind", "generation", "precision", "model_params", "measured_gpus", "value",
    "same_as_generation", "same_as_precision", "source_run", "source_url", "note", "overridden",
)


@dataclass(frozen=True)
class AssumptionRow:
    kind: str
    generation: str
    precision: str
    value: float
    source_url: str
    model_params: float | None = None
    measured_gpus: float | None = None
    same_as_generation: str | None = None
    same_as_precision: str | None = None
    source_run: str | None = None
    note: str | None = None
    overridden: bool = False

    @property
    def borrows(self) -> bool:
        return bool(self.same_as_generation or self.same_as_precision)

    @property
    def key(self) -> tuple:
        return (self.kind, self.generation, self.precision, self.model_params)


@dataclass(frozen=True)
class Assumed:
    value: float
    source: str  # which rows, which run, which URL; or "your value"
    measured_gpus: float | None = None  # the GPU count the source run measured (training MFU)
    source_urls: tuple[str, ...] = ()


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    number = float(value)
    return None if math.isnan(number) else number


def row_from_mapping(raw: Mapping[str, Any]) -> AssumptionRow:
    return AssumptionRow(
        kind=str(raw["kind"]).strip(),
        generation=(_text(raw.get("generation")) or ANY).lower(),
        precision=(_text(raw.get("precision")) or ANY).lower(),
        value=float(raw["value"]),
        source_url=_text(raw.get("source_url")) or "",
        model_params=_number(raw.get("model_params")),
        measured_gpus=_number(raw.get("measured_gpus")),
        same_as_generation=(_text(raw.get("same_as_generation")) or "").lower() or None,
        same_as_precision=(_text(raw.get("same_as_precision")) or "").lower() or None,
        source_run=_text(raw.get("source_run")),
        note=_text(raw.get("note")),
        overridden=bool(raw.get("overridden") or False),
    )


def _rows_of(table: pl.DataFrame | Iterable[Mapping[str, Any]] | None) -> list[AssumptionRow]:
    if table is None:
        return []
    if isinstance(table, pl.DataFrame):
        if not {"kind", "generation", "value"} <= set(table.columns):
            return []  # an older warehouse's table shape
        raw_rows: Iterable[Mapping[str, Any]] = table.to_dicts()
    else:
        raw_rows = table
    return [row_from_mapping(r) for r in raw_rows if r.get("value") is not None]


def _winning_rows(rows: list[AssumptionRow]) -> list[AssumptionRow]:
    """One row per key: an operator's override beats the curated default."""
    best: dict[tuple, AssumptionRow] = {}
    for row in rows:
        held = best.get(row.key)
        if held is None or (row.overridden and not held.overridden):
            best[row.key] = row
    return list(best.values())


def packaged_rows() -> list[AssumptionRow]:
    """The curated defaults shipped with the package (market/data/assumptions.csv)."""
    from market.specs import load_assumptions

    return _rows_of(load_assumptions())


class Assumptions:
    """Lookups over the assumption table (a polars frame, row dicts, or None = packaged defaults).

    A table with none of the expected rows (a fresh or older warehouse) falls back to the
    packaged defaults; `from_package` says so."""

    def __init__(self, table: pl.DataFrame | Iterable[Mapping[str, Any]] | None = None) -> None:
        rows = _rows_of(table)
        self.from_package = not rows
        self._rows = _winning_rows(rows or packaged_rows())
        self._memo: dict[tuple, Assumed] = {}  # lookups are pure; plans ask the same ones thousands of times

    @property
    def rows(self) -> list[AssumptionRow]:
        return list(self._rows)

    # -- training ---------------------------------------------------------------------------
    def training_mfu(self, generation: str, precision: str, active_params: float) -> Assumed:
        """End-to-end MFU for a model of `active_params` on this generation and precision."""
        return self._lookup(TRAINING_MFU, generation.lower(), precision.lower(), active_params)

    def scale_factor(self, gpus: float, measured_gpus: float | None) -> Assumed:
        """The extrapolation factor for `gpus` GPUs when the source run measured `measured_gpus`.

        1.0 at or below the measured size (never below one 8-GPU node)."""
        reference = max(float(measured_gpus or MIN_MEASURED_GPUS), MIN_MEASURED_GPUS)
        if gpus <= reference:
            return Assumed(1.0, f"no extrapolation: {gpus:,.0f} GPUs is within the {reference:,.0f} the source run measured")
        per_doubling = self._lookup(SCALE_PER_DOUBLING, ANY, ANY, None)
        doublings = math.log2(gpus / reference)
        return Assumed(
            per_doubling.value ** doublings,
            f"{per_doubling.value:.4f} per doubling beyond the {reference:,.0f} GPUs measured "
            f"({doublings:.2f} doublings); {per_doubling.source}",
            source_urls=per_doubling.source_urls,
        )

    # -- serving ----------------------------------------------------------------------------
    def serve_compute_efficiency(self, generation: str) -> Assumed:
        return self._lookup(SERVE_COMPUTE, generation.lower(), ANY, None)

    def serve_memory_efficiency(self, generation: str) -> Assumed:
        return self._lookup(SERVE_MEMORY, generation.lower(), ANY, None)

    def serve_tp_efficiency(self, generation: str) -> Assumed:
        return self._lookup(SERVE_TP, generation.lower(), ANY, None)

    def _lookup(self, kind: str, generation: str, precision: str, params: float | None) -> Assumed:
        key = (kind, generation, precision, params)
        if key not in self._memo:
            self._memo[key] = self._resolve(kind, generation, precision, params, set())
        return self._memo[key]

    # -- the lookup rule --------------------------------------------------------------------
    def _measured(self, kind: str, generation: str, precision: str) -> list[AssumptionRow]:
        return [r for r in self._rows if r.kind == kind and r.generation == generation
                and r.precision == precision and not r.borrows]

    def _borrowing(self, kind: str, generation: str, precision: str) -> AssumptionRow | None:
        return next((r for r in self._rows if r.kind == kind and r.generation == generation
                     and r.precision == precision and r.borrows), None)

    def _resolve(self, kind: str, generation: str, precision: str, params: float | None, seen: set) -> Assumed:
        if len(seen) > MAX_BORROW_DEPTH:
            raise self._missing(kind, generation, precision)
        for key_gen, key_prec in dict.fromkeys(((generation, precision), (generation, ANY), (ANY, precision), (ANY, ANY))):
            measured = self._measured(kind, key_gen, key_prec)
            if measured:
                return _interpolate(measured, params)
            row = self._borrowing(kind, key_gen, key_prec)
            if row is not None:
                return self._follow(row, generation, precision, params, seen)
        raise self._missing(kind, generation, precision)

    def _follow(self, row: AssumptionRow, generation: str, precision: str, params: float | None, seen: set) -> Assumed:
        target_gen = row.same_as_generation if row.same_as_generation not in (None, ANY) else generation
        target_prec = row.same_as_precision if row.same_as_precision not in (None, ANY) else precision
        if (target_gen, target_prec) == (generation, precision) or (target_gen, target_prec) in seen:
            raise self._missing(row.kind, generation, precision)
        borrowed = self._resolve(row.kind, target_gen, target_prec, params, seen | {(generation, precision)})
        factor = "" if row.value == 1.0 else f" x {row.value:g}"
        return Assumed(
            borrowed.value * row.value,
            f"{generation}/{precision} borrows {target_gen}/{target_prec}{factor}; {borrowed.source}",
            measured_gpus=borrowed.measured_gpus,
            source_urls=tuple(dict.fromkeys((*([row.source_url] if row.source_url else []), *borrowed.source_urls))),
        )

    @staticmethod
    def _missing(kind: str, generation: str, precision: str) -> EstimateError:
        return EstimateError(
            f"the assumption table has no {kind} row for {generation} / {precision} and nothing to borrow from",
            reason="no_assumption", values={"kind": kind, "generation": generation, "precision": precision},
        )


def _describe(row: AssumptionRow) -> str:
    run = row.source_run or "unnamed run"
    return f"{run} ({row.generation}, {row.precision}: {row.value:.4g}) {row.source_url}".strip()


def _model_size(row: AssumptionRow) -> float:
    return row.model_params or 0.0


def _interpolate(rows: list[AssumptionRow], params: float | None) -> Assumed:
    """Linear in log(model size) between the two runs around `params`; the nearest run outside."""
    ordered = sorted(rows, key=_model_size)
    if params is None or len(ordered) == 1 or any(r.model_params is None for r in ordered):
        row = ordered[-1]
        return Assumed(row.value, _describe(row), row.measured_gpus, (row.source_url,))
    if params <= ordered[0].model_params:
        row = ordered[0]
        return Assumed(row.value, _describe(row), row.measured_gpus, (row.source_url,))
    if params >= ordered[-1].model_params:
        row = ordered[-1]
        return Assumed(row.value, _describe(row), row.measured_gpus, (row.source_url,))
    for low, high in zip(ordered, ordered[1:]):
        if low.model_params <= params <= high.model_params:
            share = math.log(params / low.model_params) / math.log(high.model_params / low.model_params)
            value = low.value + share * (high.value - low.value)
            measured = min(low.measured_gpus or math.inf, high.measured_gpus or math.inf)
            return Assumed(
                value,
                f"interpolated in log(model size) at {params / 1e9:.3g}B between {_describe(low)} and {_describe(high)}",
                None if math.isinf(measured) else measured,
                tuple(dict.fromkeys((low.source_url, high.source_url))),
            )
    raise AssertionError("unreachable: params lies between the smallest and largest run")
