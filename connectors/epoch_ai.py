"""Epoch AI's "Machine Learning Hardware" dataset: a second opinion on the curated spec sheet.

Epoch AI publishes one CSV of ML chips (CC-BY 4.0), linked from
https://epoch.ai/data/machine-learning-hardware. We fetch the download link
``https://epoch.ai/data/ml_hardware.csv`` (other projects also use the equivalent
``https://epoch.ai/data/epochdb/ml_hardware.csv``). The file's units are base SI units:
FLOP/s, bytes, byte/s, W. We convert to the gpu_specs units (TFLOPS, GB, TB/s, GB/s, W) and
emit the long form ``market.specs.EXTERNAL_SPEC_SCHEMA``: one row per chip and metric.

Rules (each a test in tests/test_specs.py):

* Columns are found by header name, case and spacing ignored. Epoch renames, adds and
  reorders columns between exports; the renames we know are read through ``HEADER_ALIASES``
  (one table). A metric column an export does not have (FP8 and FP4 arrived in 2025) is
  reported in ``SpecParseReport.missing_columns`` and its figures are simply absent: one
  missing column never rejects the file. A file with no chip-name column, or with none of
  the metric columns, is an unknown schema: a ParseError naming the missing columns.
* ``inf`` / ``Infinity`` / ``nan`` and empty cells are "no figure", never a number.
* A bad cell drops that one figure, with its reason, into ``SpecParseReport.dropped``: text
  where a number belongs, or a converted value outside the plausible range of its unit (a
  bandwidth that reads as 3e-9 TB/s because GB/s were typed into a byte/s column). The rest
  of the row and of the file still load, and no figure is ever stored silently wrong.
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
import re
from typing import ClassVar, Iterator

import httpx
import polars as pl

from connectors.base import (
    FetchContext,
    ParseError,
    RawResponse,
    Source,
    provenance,
)
from connectors.bodies import complete_body, csv_records
from market.gpu_names import canonical_gpu
from connectors.http import get
from market.specs import EXTERNAL_SPEC_SCHEMA, GPU_SPEC_SCHEMA, SpecParseReport, spec_drops_frame

NAME_COLUMN = "Hardware name"

# Epoch header (today's spelling) -> (gpu_specs metric, divisor to our unit, plausible range in
# our unit).
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

# Today's header -> the older spellings of the same column, in the same unit. Case and
# spacing are ignored anyway ("Memory Bandwidth (Byte/s)" needs no entry).
# * "Memory size per board (Byte)": the name until late 2025; real exports with it are in
#   tests/fixtures/epoch_ai (2025-06 and 2025-11, see PROVENANCE.md there).
# * The rest are the 2022-2023 headers of the first "ML hardware" sheet, as read by public
#   analysis scripts (no stored copy of that export was found; the aliases are kept so such a
#   file loads instead of failing, and are covered by a derived test).
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    NAME_COLUMN: ("Name of the hardware",),
    "Memory (bytes)": ("Memory size per board (Byte)",),
    "Tensor-FP16/BF16 performance (FLOP/s)": ("FP16 Tensor Performance (FLOP/s)",),
    "TF32 (TensorFloat-32) performance (FLOP/s)": ("FP/TF32 Tensor Performance (FLOP/s)",),
    "FP8 performance (FLOP/s)": ("FP8 Tensor Performance (FLOP/s)",),
    "INT8 performance (OP/s)": ("INT8 Tensor Performance (OP/s)",),
    "FP32 (single precision) performance (FLOP/s)": ("FP32 Performance (FLOP/s)",),
    "FP64 (double precision) performance (FLOP/s)": ("FP64 Performance (FLOP/s)",),
}

# gpu_specs column suffix -> its unit, for messages.
_UNIT_LABELS = {"tflops": "TFLOPS", "tops": "TOPS", "gb": "GB", "tbs": "TB/s", "gbs": "GB/s", "w": "W"}

_UNIT_HINTS = {
    1e12: "FLOP/s or byte/s (a value in TFLOPS or TB/s here would be 1e12 too small)",
    1e9: "bytes or byte/s (a value in GB or GB/s here would be 1e9 too small)",
    1.0: "W",
}

assert all(metric in GPU_SPEC_SCHEMA for metric, _, _ in COLUMNS.values())
assert all(metric.rsplit("_", 1)[-1] in _UNIT_LABELS for metric, _, _ in COLUMNS.values())
assert set(HEADER_ALIASES) <= {NAME_COLUMN, *COLUMNS}
# A sparse figure must never be read as a dense one, whatever the spelling.
assert not any("spars" in h.lower() for h in [*COLUMNS, *(a for v in HEADER_ALIASES.values() for a in v)])


def _header_key(header: str) -> str:
    return re.sub(r"\s+", " ", header).strip().casefold()


def resolve_headers(headers: list[str]) -> tuple[dict[str, str], list[str]]:
    """(today's header -> the header this file uses, today's headers the file lacks).

    Today's spelling wins over an alias when a file has both.
    """
    by_key: dict[str, str] = {}
    for header in headers:
        by_key.setdefault(_header_key(header), header)
    found: dict[str, str] = {}
    missing: list[str] = []
    for wanted in (NAME_COLUMN, *COLUMNS):
        for spelling in (wanted, *HEADER_ALIASES.get(wanted, ())):
            if _header_key(spelling) in by_key:
                found[wanted] = by_key[_header_key(spelling)]
                break
        else:
            missing.append(wanted)
    return found, missing


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
        return self.parse_with_report(responses)[0]

    def parse_with_report(self, responses: list[RawResponse]) -> tuple[pl.DataFrame, SpecParseReport]:
        """The figures, and what was left out and why (dropped cells, absent columns, bad files).

        A file that cannot be read at all fails alone; only when no file can be read is the
        first file's ParseError raised.
        """
        rows: list[dict] = []
        drops: list[dict] = []
        missing: list[str] = []
        failed: list[str] = []
        errors: list[ParseError] = []
        for raw in responses:
            try:
                parsed, dropped, absent = parse_hardware_csv(raw, self.id)
            except ParseError as exc:
                errors.append(exc)
                failed.append(str(exc))
                continue
            rows.extend(parsed)
            drops.extend(dropped)
            missing.extend(c for c in absent if c not in missing)
        if errors and len(errors) == len(responses):
            raise errors[0]
        report = SpecParseReport(
            dropped=spec_drops_frame(drops), missing_columns=tuple(missing), failed_files=tuple(failed)
        )
        if not rows:
            return pl.DataFrame(schema=EXTERNAL_SPEC_SCHEMA), report
        frame = pl.DataFrame(rows, schema=EXTERNAL_SPEC_SCHEMA)
        # Epoch has no duplicate names today; if an export repeats one, the first row wins
        # rather than two values competing for one key.
        return frame.unique(subset=["name_raw", "metric"], keep="first", maintain_order=True), report


def _number(text: str | None) -> tuple[float | None, str | None]:
    """(value, None), (None, None) for "no figure", or (None, reason) for a bad cell."""
    if text is None:
        return None, None
    text = text.strip()
    if not text:
        return None, None
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        return None, f"{text!r} is not a number"
    if math.isnan(value) or math.isinf(value):
        return None, None
    return value, None


def parse_hardware_csv(raw: RawResponse, source_id: str = "epoch_ai") -> tuple[list[dict], list[dict], list[str]]:
    """(figures in EXTERNAL_SPEC_SCHEMA, dropped cells with reasons, absent metric columns).

    Raises ParseError only when the file as a whole is unreadable or of an unknown schema.
    """
    body = complete_body(raw)
    # Empty, HTML, cut mid-row (no final newline, or a short last row): the file fails whole,
    # before polars would pad a half-row with nulls. polars still reads the cells below.
    _, lines = csv_records(raw, data=body)
    try:
        # All text: numbers are converted below with their unit, and the quoted multi-line
        # Notes fields stay intact.
        table = pl.read_csv(io.BytesIO(body), infer_schema=False, encoding="utf8-lossy")
    except Exception as exc:  # polars raises several types for malformed CSV
        raise ParseError(f"{source_id}: {raw.url} is not a readable CSV: {exc}") from exc
    found, missing = resolve_headers(table.columns)
    metrics_found = [c for c in COLUMNS if c in found]
    if NAME_COLUMN not in found or not metrics_found:
        raise ParseError(
            f"{source_id}: unknown schema in {raw.url}: column(s) "
            f"{', '.join(repr(m) for m in missing)} missing (found: {', '.join(table.columns)}); "
            f"if Epoch renamed them, add the new spelling to HEADER_ALIASES in connectors/epoch_ai.py"
        )
    prov = provenance(raw)
    rows: list[dict] = []
    # A line with the wrong number of cells has its cells under the wrong headers: reported
    # first (ingest_runs shows the first drops), with the URL and line.
    dropped: list[dict] = [{
        "name_raw": next(iter(line.cells.values()), ""),
        "column": "(whole line)",
        "metric": "",
        "raw_value": ",".join(line.cells.values())[:200],
        "reason": f"{source_id}: {raw.url} line {line.line}: {line.problem}; its cells are unreliable",
        "raw_response_id": prov["raw_response_id"],
    } for line in lines if line.problem]
    selected = table.select(pl.col(found[c]).alias(c) for c in (NAME_COLUMN, *metrics_found))
    for record in selected.iter_rows(named=True):
        name = (record[NAME_COLUMN] or "").strip()
        if not name:
            continue
        for header in metrics_found:
            metric, divisor, (low, high) = COLUMNS[header]
            value, reason = _number(record[header])
            if value is not None:
                converted = value / divisor
                if low <= converted <= high:
                    rows.append({"name_raw": name, "metric": metric, "value": converted, **prov})
                    continue
                reason = (
                    f"{record[header]} gives {converted:g} {_UNIT_LABELS[metric.rsplit('_', 1)[-1]]}, outside the "
                    f"plausible {low:g}..{high:g}; the column is expected in "
                    f"{_UNIT_HINTS.get(divisor, 'base units')}: the source may have changed units"
                )
            if reason is not None:
                dropped.append({
                    "name_raw": name,
                    "column": found[header],
                    "metric": metric,
                    "raw_value": record[header],
                    "reason": reason,
                    "raw_response_id": prov["raw_response_id"],
                })
    return rows, dropped, [c for c in missing if c != NAME_COLUMN]


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
