"""Epoch AI's "Machine Learning Hardware" dataset: a second opinion on the curated spec sheet.

Epoch AI publishes one CSV of ML chips (CC-BY 4.0), linked from
https://epoch.ai/data/machine-learning-hardware. We fetch the download link
``https://epoch.ai/data/ml_hardware.csv`` (other projects also use the equivalent
``https://epoch.ai/data/epochdb/ml_hardware.csv``). The file's units are base SI units:
FLOP/s, bytes, byte/s, W. We convert to the gpu_specs units (TFLOPS, GB, TB/s, GB/s, W) and
emit the long form ``market.specs.EXTERNAL_SPEC_SCHEMA``: one row per chip and metric.

Rules (each a test in tests/test_specs.py):

* Columns are found by header name; Epoch renames and reorders them between exports, so a
  missing one is a ParseError naming it.
* ``inf`` / ``nan`` and empty cells become null, never a number.
* A converted value outside the plausible range of its unit (e.g. a bandwidth that reads as
  3e-9 TB/s because GB/s were entered in a byte/s column) is a ParseError naming the chip,
  column and value: a figure is never stored silently wrong.
* "FP16 (half precision)" is Epoch's *vector* FP16 rate (H100: 134 TFLOPS), not the tensor
  rate our fp16_tflops holds, so it is not loaded. "Tensor-FP16/BF16" is loaded as
  bf16_tflops. Any column whose header mentions sparsity is ignored: sparse figures are
  never loaded as dense.

The curated table is never overwritten by this source: ``cross_check`` lists disagreements
over 10 % for a person to resolve (and the ``spec_disagreements`` view does the same in SQL).
"""

from __future__ import annotations

import io
import math
from typing import ClassVar, Iterator

import httpx
import polars as pl

from connectors.base import (
    FetchContext,
    ParseError,
    RawResponse,
    Source,
    provenance,
    require_columns,
)
from market.gpu_names import canonical_gpu
from connectors.http import get
from market.specs import EXTERNAL_SPEC_SCHEMA, GPU_SPEC_SCHEMA

NAME_COLUMN = "Hardware name"

# Epoch header -> (gpu_specs metric, divisor to our unit, plausible range in our unit).
COLUMNS: dict[str, tuple[str, float, tuple[float, float]]] = {
    "Tensor-FP16/BF16 performance (FLOP/s)": ("bf16_tflops", 1e12, (0.001, 100_000)),
    "FP8 performance (FLOP/s)": ("fp8_tflops", 1e12, (0.001, 100_000)),
    "FP4 performance (FLOP/s)": ("fp4_tflops", 1e12, (0.001, 200_000)),
    "FP64 (double precision) performance (FLOP/s)": ("fp64_tflops", 1e12, (0.001, 10_000)),
    "FP32 (single precision) performance (FLOP/s)": ("fp32_tflops", 1e12, (0.001, 10_000)),
    "TF32 (TensorFloat-32) performance (FLOP/s)": ("tf32_tflops", 1e12, (0.001, 50_000)),
    "INT8 performance (OP/s)": ("int8_tops", 1e12, (0.001, 200_000)),
    "Memory (bytes)": ("memory_gb", 1e9, (0.05, 4_000)),  # SRAM-only chips hold ~0.1 GB
    "Memory bandwidth (byte/s)": ("memory_bandwidth_tbs", 1e12, (0.005, 200)),  # Groq SRAM: 80
    "Intranode bandwidth (byte/s)": ("interconnect_gbs", 1e9, (1, 20_000)),
    "TDP (W)": ("tdp_w", 1.0, (1, 5_000)),
}

_UNIT_HINTS = {
    1e12: "FLOP/s or byte/s (a value in TFLOPS or TB/s here would be 1e12 too small)",
    1e9: "bytes or byte/s (a value in GB or GB/s here would be 1e9 too small)",
    1.0: "W",
}

assert all(metric in GPU_SPEC_SCHEMA for metric, _, _ in COLUMNS.values())


class EpochAIHardware(Source):
    id: ClassVar[str] = "epoch_ai"
    name: ClassVar[str] = "Epoch AI - Machine Learning Hardware"
    kind: ClassVar[str] = "specs"
    providers: ClassVar[tuple[str, ...]] = ()
    url: ClassVar[str] = "https://epoch.ai/data/ml_hardware.csv"
    docs_url: ClassVar[str] = "https://epoch.ai/data/machine-learning-hardware"
    key_env: ClassVar[str | None] = None
    description: ClassVar[str] = (
        "Epoch AI's public CSV of ML accelerators (FLOP/s by precision, memory, bandwidth, "
        "TDP), CC-BY 4.0; cross-checks the curated spec sheet, never overwrites it."
    )

    def fetch(self, client: httpx.Client, ctx: FetchContext) -> Iterator[RawResponse]:
        ctx.say(f"{self.id}: GET {self.url}")
        yield get(client, self.id, self.url)

    def parse(self, responses: list[RawResponse]) -> pl.DataFrame:
        rows: list[dict] = []
        for raw in responses:
            rows.extend(parse_hardware_csv(raw, self.id))
        if not rows:
            return pl.DataFrame(schema=EXTERNAL_SPEC_SCHEMA)
        frame = pl.DataFrame(rows, schema=EXTERNAL_SPEC_SCHEMA)
        # Epoch has no duplicate names today; if an export repeats one, the first row wins
        # rather than two values competing for one key.
        return frame.unique(subset=["name_raw", "metric"], keep="first", maintain_order=True)


def _number(text: str | None, where: str) -> float | None:
    if text is None:
        return None
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text.replace(",", ""))
    except ValueError as exc:
        raise ParseError(f"{where}: {text!r} is not a number") from exc
    if math.isnan(value) or math.isinf(value):
        return None
    return value


def parse_hardware_csv(raw: RawResponse, source_id: str = "epoch_ai") -> list[dict]:
    """Row dicts in EXTERNAL_SPEC_SCHEMA from one Epoch ml_hardware.csv response."""
    body = raw.read()
    if not body.strip():
        raise ParseError(f"{source_id}: {raw.url} returned an empty body")
    head = body[:80].decode("utf-8", "replace").strip().lower()
    if head.startswith("<!doctype html") or head.startswith("<html"):
        raise ParseError(f"{source_id}: {raw.url} returned an HTML page instead of the CSV")
    try:
        # All text: numbers are converted below with their unit, and the quoted multi-line
        # Notes fields stay intact.
        table = pl.read_csv(io.BytesIO(body), infer_schema=False, encoding="utf8-lossy")
    except Exception as exc:  # polars raises several types for malformed CSV
        raise ParseError(f"{source_id}: {raw.url} is not a readable CSV: {exc}") from exc
    columns = [c.strip() for c in table.columns]
    table.columns = columns
    require_columns(source_id, columns, (NAME_COLUMN, *COLUMNS), raw.url)
    # Sparsity columns are deliberately not in COLUMNS; nothing else to do with them.
    prov = provenance(raw)
    rows: list[dict] = []
    for record in table.select(NAME_COLUMN, *COLUMNS).iter_rows(named=True):
        name = (record[NAME_COLUMN] or "").strip()
        if not name:
            continue
        for header, (metric, divisor, (low, high)) in COLUMNS.items():
            where = f"{source_id}: {name!r} column {header!r}"
            value = _number(record[header], where)
            if value is None:
                continue
            converted = value / divisor
            if not low <= converted <= high:
                raise ParseError(
                    f"{where}: {record[header]} gives {converted:g} {metric.rsplit('_', 1)[-1]}, "
                    f"outside the plausible {low:g}..{high:g}; the column is expected in "
                    f"{_UNIT_HINTS.get(divisor, 'base units')}: the source may have changed units"
                )
            rows.append({"name_raw": name, "metric": metric, "value": converted, **prov})
    return rows


def cross_check(
    curated: pl.DataFrame,
    external: pl.DataFrame,
    tolerance: float = 0.10,
    external_source: str = "epoch_ai",
) -> pl.DataFrame:
    """One row per (gpu, metric, external name) where both have a value and differ > tolerance.

    ``rel_diff`` is relative to the curated value. ``external`` is the long form
    (EXTERNAL_SPEC_SCHEMA, optionally with ``gpu`` and ``source`` columns); names without a
    ``gpu`` are resolved with ``canonical_gpu``. Nothing is written back to ``curated``.
    """
    out_schema = {
        "gpu": pl.String,
        "metric": pl.String,
        "curated_value": pl.Float64,
        "external_value": pl.Float64,
        "rel_diff": pl.Float64,
        "external_source": pl.String,
        "name_raw": pl.String,
        "source_url": pl.String,
        "curated_source_url": pl.String,
    }
    if external.is_empty() or curated.is_empty():
        return pl.DataFrame(schema=out_schema)
    ext = external
    if "gpu" not in ext.columns:
        ext = ext.with_columns(
            pl.col("name_raw")
            .map_elements(canonical_gpu, return_dtype=pl.String, skip_nulls=True)
            .alias("gpu")
        )
    if "source" not in ext.columns:
        ext = ext.with_columns(source=pl.lit(external_source))
    metrics = [c for c in curated.columns if c in GPU_SPEC_SCHEMA and GPU_SPEC_SCHEMA[c] == pl.Float64]
    long = curated.select(
        "gpu",
        pl.col("source_url").alias("curated_source_url"),
        *[pl.col(m).cast(pl.Float64) for m in metrics],
    ).unpivot(
        index=["gpu", "curated_source_url"], on=metrics, variable_name="metric", value_name="curated_value"
    )
    joined = (
        ext.filter(pl.col("gpu").is_not_null() & pl.col("value").is_not_null())
        .join(long.filter(pl.col("curated_value").is_not_null()), on=["gpu", "metric"], how="inner")
        .filter(pl.col("curated_value") != 0)
        .with_columns(
            rel_diff=(pl.col("value") - pl.col("curated_value")).abs() / pl.col("curated_value").abs()
        )
        .filter(pl.col("rel_diff") > tolerance)
    )
    return (
        joined.select(
            "gpu",
            "metric",
            "curated_value",
            pl.col("value").alias("external_value"),
            "rel_diff",
            pl.col("source").alias("external_source"),
            "name_raw",
            "source_url",
            "curated_source_url",
        )
        .cast(out_schema)
        .sort("gpu", "metric", "name_raw")
    )
