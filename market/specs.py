"""The curated spec sheet, the published sparsity figures and the MFU / scaling assumptions.

Three hand-maintained CSV files live in `market/data/`, each row with a source URL:

* ``gpu_specs.csv``: one row per canonical GPU (ids from ``market.gpu_names``). Every
  ``*_tflops`` / ``int8_tops`` figure is DENSE. NVIDIA and AMD datasheets print tensor
  figures "with sparsity", which are 2x dense; those go to ``datasheet_sparsity.csv`` and
  never into the spec sheet (a test pins that no dense figure equals its sparse one).
  ``fp16_tflops`` is the tensor/matrix FP16 rate (what mixed-precision training uses), not the
  vector rate; GeForce cards are quoted at the FP32-accumulate rate. ``interconnect_gbs`` is
  the per-GPU total (both directions) as vendors quote NVLink: 600 for A100, 900 for H100;
  PCIe x16 is 32 / 64 / 128 GB/s for Gen3 / 4 / 5. ``notes`` starting with ``‡`` mark rows
  whose figures are uncertain (no public datasheet, recalled or derived values), as in
  gpu-math.md.
* ``datasheet_sparsity.csv``: the published "with sparsity" figures, for that test only.
  2:4 sparsity doubles a figure; where a vendor's sparse figure is not 2x dense (AWS Neuron
  cores, Blackwell Ultra FP4) the row's ``note`` says why.
* ``assumptions.csv``: end-to-end training MFU by GPU generation, precision and model size,
  each row citing the published run it comes from, the extrapolation factor beyond a run's
  GPU count, and the serving efficiencies calibrated on MLPerf (rules in
  ``costmodel.assumptions``; runs in ``costmodel.calibration``). Loaded into the
  ``assumptions`` table, where an operator may add overriding rows (``overridden = true``).

``EXTERNAL_SPEC_SCHEMA`` is the long form a specs source (``connectors.epoch_ai``) parses to;
``cross_check`` in that module compares it with the curated sheet. ``SpecParseReport`` is what
such a parse left out and why (one bad cell drops one figure, not the file).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

SPECS_DIR = Path(__file__).resolve().parent / "data"
GPU_SPECS_CSV = SPECS_DIR / "gpu_specs.csv"
SPARSITY_CSV = SPECS_DIR / "datasheet_sparsity.csv"
ASSUMPTIONS_CSV = SPECS_DIR / "assumptions.csv"

# The gpu_specs table (migration 2) without loaded_at, in table order.
GPU_SPEC_SCHEMA: dict[str, pl.DataType] = {
    "gpu": pl.String,
    "vendor": pl.String,
    "name": pl.String,
    "architecture": pl.String,
    "form_factor": pl.String,
    "memory_gb": pl.Float64,
    "memory_bandwidth_tbs": pl.Float64,
    "fp64_tflops": pl.Float64,
    "fp32_tflops": pl.Float64,
    "tf32_tflops": pl.Float64,
    "bf16_tflops": pl.Float64,
    "fp16_tflops": pl.Float64,
    "fp8_tflops": pl.Float64,
    "fp4_tflops": pl.Float64,
    "int8_tops": pl.Float64,
    "tdp_w": pl.Float64,
    "interconnect": pl.String,
    "interconnect_gbs": pl.Float64,
    "launch_date": pl.Date,
    "source_url": pl.String,
    "notes": pl.String,
}

# The numeric columns a specs source may report, i.e. what `metric` may name.
SPEC_METRICS: tuple[str, ...] = tuple(
    c for c, t in GPU_SPEC_SCHEMA.items() if t == pl.Float64
)

# A specs source's parsed frame: one row per (chip as the source names it, metric).
EXTERNAL_SPEC_SCHEMA: dict[str, pl.DataType] = {
    "name_raw": pl.String,
    "metric": pl.String,  # a column of gpu_specs, e.g. bf16_tflops (always dense)
    "value": pl.Float64,  # in the gpu_specs unit: TFLOPS, GB, TB/s, W, GB/s; never inf
    "source_url": pl.String,
    "observed_at": pl.Datetime("us", "UTC"),
    "raw_response_id": pl.String,
}

# A figure a specs source published but we did not load, and why (one row per cell).
SPEC_DROP_SCHEMA: dict[str, pl.DataType] = {
    "name_raw": pl.String,
    "column": pl.String,  # the header as the file spells it
    "metric": pl.String,  # the gpu_specs column it would have filled
    "raw_value": pl.String,
    "reason": pl.String,
    "raw_response_id": pl.String,
}


def spec_drops_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SPEC_DROP_SCHEMA) if rows else pl.DataFrame(schema=SPEC_DROP_SCHEMA)


@dataclass(frozen=True)
class SpecParseReport:
    """What a specs parse left out: dropped cells, metric columns absent, files unreadable."""

    dropped: pl.DataFrame = field(default_factory=lambda: spec_drops_frame([]))
    missing_columns: tuple[str, ...] = ()
    failed_files: tuple[str, ...] = ()

    def summary(self, examples: int = 3) -> str:
        """One line for ingest_runs.message; empty when nothing was left out."""
        parts: list[str] = []
        if self.dropped.height:
            shown = [
                f"{r['name_raw']!r} {r['column']!r}: {r['reason']}"
                for r in self.dropped.head(examples).iter_rows(named=True)
            ]
            more = f" (+{self.dropped.height - examples} more)" if self.dropped.height > examples else ""
            parts.append(f"{self.dropped.height} figure(s) dropped: " + "; ".join(shown) + more)
        if self.missing_columns:
            parts.append("column(s) not in this export: " + ", ".join(self.missing_columns))
        if self.failed_files:
            parts.append(f"{len(self.failed_files)} file(s) unreadable: " + "; ".join(self.failed_files))
        return "; ".join(parts)


ASSUMPTION_SCHEMA: dict[str, pl.DataType] = {
    "kind": pl.String,  # training_mfu | mfu_scale_per_doubling | serve_* (see costmodel.assumptions)
    "generation": pl.String,  # the spec sheet's architecture, lower-cased, or '*'
    "precision": pl.String,  # bf16 | fp16 | fp8 | ... | '*'
    "model_params": pl.Float64,  # active parameters of the run a training_mfu row measured
    "measured_gpus": pl.Float64,  # GPUs that run used (extrapolation starts beyond it)
    "value": pl.Float64,  # the fraction; for a borrowing row, the factor on the borrowed value
    "same_as_generation": pl.String,  # a borrowing row: take this generation's value ...
    "same_as_precision": pl.String,  # ... and/or this precision's
    "source_run": pl.String,
    "source_url": pl.String,
    "note": pl.String,
    "overridden": pl.Boolean,
}
ASSUMPTION_KINDS = (
    "training_mfu", "mfu_scale_per_doubling", "serve_compute_efficiency", "serve_memory_efficiency",
    "serve_tp_efficiency",
)

SPARSITY_SCHEMA: dict[str, pl.DataType] = {
    "gpu": pl.String,
    "metric": pl.String,
    "sparse_value": pl.Float64,
    "source_url": pl.String,
    "note": pl.String,  # why the sparse:dense ratio is not 2, where it is not
}


def _read(path: Path, schema: dict[str, pl.DataType], dates: tuple[str, ...] = ()) -> pl.DataFrame:
    text_schema = {c: (pl.String if c in dates else t) for c, t in schema.items() if c != "overridden"}
    frame = pl.read_csv(path, schema=text_schema)
    for column in dates:
        frame = frame.with_columns(pl.col(column).str.to_date("%Y-%m-%d", strict=True))
    return frame


def load_curated_specs() -> pl.DataFrame:
    """The curated spec sheet, one row per canonical GPU, in gpu_specs column order."""
    frame = _read(GPU_SPECS_CSV, GPU_SPEC_SCHEMA, dates=("launch_date",))
    duplicated = frame.filter(pl.col("gpu").is_duplicated())["gpu"].unique().to_list()
    if duplicated:
        raise ValueError(f"gpu_specs.csv lists {duplicated} more than once")
    missing = frame.filter(pl.col("source_url").is_null() | (pl.col("source_url") == ""))
    if missing.height:
        raise ValueError(f"gpu_specs.csv rows without source_url: {missing['gpu'].to_list()}")
    return frame.select(list(GPU_SPEC_SCHEMA))


def load_datasheet_sparsity() -> pl.DataFrame:
    """Published "with sparsity" figures (2x dense) for the parts that quote them."""
    return _read(SPARSITY_CSV, SPARSITY_SCHEMA)


def check_assumptions(frame: pl.DataFrame) -> None:
    """Every row cites a source; measured rows name their run, size and GPU count; values are fractions."""
    problems = []
    for row in frame.iter_rows(named=True):
        label = f"{row['kind']} {row['generation']}/{row['precision']} {row.get('model_params') or ''}".strip()
        borrows = bool(row.get("same_as_generation") or row.get("same_as_precision"))
        if row["kind"] not in ASSUMPTION_KINDS:
            problems.append(f"{label}: unknown kind")
        if not (row.get("source_url") or "").startswith("https://"):
            problems.append(f"{label}: no https source_url")
        if row["value"] is None or not (0 < row["value"] <= 1):
            problems.append(f"{label}: value must be in (0, 1]")
        if row["kind"] == "training_mfu" and not borrows:
            if not row.get("source_run") or not row.get("model_params"):
                problems.append(f"{label}: a measured row names its run and model size")
            if not row.get("measured_gpus") or row["measured_gpus"] < 8:
                problems.append(f"{label}: measured_gpus must be >= 8 (one node is never extrapolated)")
    if problems:
        raise ValueError("assumptions.csv: " + "; ".join(problems))


def load_assumptions() -> pl.DataFrame:
    """The curated utilisation and serving-efficiency defaults (overridden = false)."""
    frame = _read(ASSUMPTIONS_CSV, ASSUMPTION_SCHEMA)
    frame = frame.with_columns(overridden=pl.lit(False)).select(list(ASSUMPTION_SCHEMA))
    check_assumptions(frame)
    return frame


__all__ = [
    "ASSUMPTION_KINDS",
    "ASSUMPTION_SCHEMA",
    "EXTERNAL_SPEC_SCHEMA",
    "GPU_SPEC_SCHEMA",
    "SPARSITY_SCHEMA",
    "SPEC_DROP_SCHEMA",
    "SPEC_METRICS",
    "SpecParseReport",
    "check_assumptions",
    "load_assumptions",
    "load_curated_specs",
    "load_datasheet_sparsity",
    "spec_drops_frame",
]
