"""The curated spec sheet, the assumptions, the Epoch AI specs connector and the spec views.

Why this exists: every cost metric is price / (dense peak x utilisation). A sparsity
figure stored as dense halves every $/TFLOP; a bandwidth in GB/s read as TB/s makes decode
1000x faster; an external dataset silently overwriting a datasheet figure makes the numbers
untraceable; a GPU without a dense figure gets no metrics at all. These tests pin: the sheet's
size, sources and units; dense != datasheet sparsity for every part that quotes it; the rows
issue 8 found missing or wrong (GB300, B100, H20, L20, MI210, MI325X, Trainium 1-3, RTX PRO
6000's derived dense BF16, the H200 launch date, TPU v5p ICI); Epoch AI
parsing on the real exports, today's and two older ones with other column names (aliases, a
missing column not rejecting the file, inf / Infinity / empty cells, a bad cell dropping one
figure with its reason, unit checks, sparsity columns never dense) and the 10 % cross-check;
and the warehouse loaders, the spec_disagreements / unmapped_gpus views and the ingest record
of dropped figures. Inputs marked "derived" below are in-memory edits of a real Epoch file,
made to show one failure each; nothing hand-made is stored as a fixture.
"""

from __future__ import annotations

import csv
import io
import math
from datetime import date, datetime, timezone
from pathlib import Path

import httpx
import polars as pl
import pytest

from connectors.base import FetchContext, ParseError, RawResponse
from connectors.epoch_ai import COLUMNS, HEADER_ALIASES, EpochAIHardware, cross_check
from market.gpu_names import canonical_gpu
from connectors.http import build_client
from market.specs import (
    EXTERNAL_SPEC_SCHEMA,
    GPU_SPEC_SCHEMA,
    load_assumptions,
    load_curated_specs,
    load_datasheet_sparsity,
)
from costmodel.gpus import GpuSpec


FIXTURES = Path(__file__).resolve().parent / "fixtures" / "epoch_ai"
FIXTURE = FIXTURES / "ml_hardware_2026-04-22.csv"
# Real older exports that spell some columns differently (PROVENANCE.md in that folder).
OLD_EXPORTS = ("ml_hardware_2025-06-11.csv", "ml_hardware_2025-11-14.csv")
OBSERVED = datetime(2026, 4, 22, tzinfo=timezone.utc)
TFLOPS_COLUMNS = [c for c in GPU_SPEC_SCHEMA if c.endswith("_tflops") or c == "int8_tops"]


@pytest.fixture(scope="module")
def specs() -> pl.DataFrame:
    return load_curated_specs()


def raw(body: bytes, status: int = 200) -> RawResponse:
    return RawResponse(
        source="epoch_ai",
        method="GET",
        url=EpochAIHardware.url,
        status=status,
        headers={"content-type": "text/csv"},
        fetched_at=OBSERVED,
        body=body,
    )


def parse(body: bytes) -> pl.DataFrame:
    return EpochAIHardware().parse([raw(body)])


def parse_with_report(body: bytes):
    return EpochAIHardware().parse_with_report([raw(body)])


def figures(frame: pl.DataFrame) -> pl.DataFrame:
    """The published figures without provenance (a derived body is a different response)."""
    return frame.select("name_raw", "metric", "value")


def value(frame: pl.DataFrame, name: str, metric: str) -> float | None:
    hit = frame.filter((pl.col("name_raw") == name) & (pl.col("metric") == metric))
    return hit["value"][0] if hit.height else None


# --- the curated sheet ------------------------------------------------------------------------

def test_sheet_size_schema_and_sources(specs):
    assert specs.height >= 40
    assert specs.schema == pl.Schema(GPU_SPEC_SCHEMA)
    assert specs["gpu"].is_unique().all()
    for row in specs.iter_rows(named=True):
        assert row["source_url"] and row["source_url"].startswith("https://"), row["gpu"]
        assert row["vendor"] and row["name"], row["gpu"]
    required = {
        "V100-SXM-16GB", "V100-SXM-32GB", "V100-PCIE-16GB", "T4-16GB", "A10-24GB", "A10G-24GB",
        "A100-SXM-40GB", "A100-SXM-80GB", "A100-PCIE-40GB", "A100-PCIE-80GB", "L4-24GB",
        "L40-48GB", "L40S-48GB", "H100-SXM-80GB", "H100-PCIE-80GB", "H100-NVL-94GB",
        "H200-SXM-141GB", "H200-NVL-141GB", "H800-SXM-80GB", "GH200-96GB", "B200-180GB",
        "GB200-186GB", "B300-288GB", "RTX4090-24GB", "RTX5090-32GB", "RTX6000ADA-48GB",
        "RTXA6000-48GB", "RTXA5000-24GB", "RTXA4000-16GB", "RTX3090-24GB", "A40-48GB",
        "MI250X-128GB", "MI300X-192GB", "MI325X-256GB", "MI355X-288GB", "TPU-V4", "TPU-V5E",
        "TPU-V5P", "TPU-V6E", "TRAINIUM-32GB", "TRAINIUM2-96GB", "INFERENTIA2-32GB",
        "GAUDI2-96GB", "GAUDI3-128GB",
        # issue 8: missing until then
        "GB300-288GB", "B100-192GB", "H20-96GB", "L20-48GB", "MI210-64GB", "TRAINIUM3-144GB",
        "RTXPRO6000-96GB",
    }
    assert required <= set(specs["gpu"])
    # Every new row has the figures a cost metric needs: memory, bandwidth, dense BF16.
    for gpu in ("GB300-288GB", "B100-192GB", "H20-96GB", "L20-48GB", "MI210-64GB", "TRAINIUM3-144GB",
                "RTXPRO6000-96GB"):
        row = specs.filter(pl.col("gpu") == gpu).row(0, named=True)
        assert row["memory_gb"] and row["memory_bandwidth_tbs"] and row["bf16_tflops"], gpu


def test_uncertain_rows_are_marked(specs):
    # gpu-math.md marks these with a double dagger; the sheet must say so too.
    for gpu in ("A10G-24GB", "H100-NVL-94GB", "H800-SXM-80GB", "GH200-96GB", "GB200-186GB",
                "B300-288GB", "MI325X-256GB", "MI355X-288GB", "GAUDI2-96GB", "GB300-288GB",
                "B100-192GB", "H20-96GB", "L20-48GB", "RTXPRO6000-96GB"):
        notes = specs.filter(pl.col("gpu") == gpu)["notes"][0] or ""
        assert notes.startswith("‡"), gpu


def test_units_are_sane(specs):
    for row in specs.iter_rows(named=True):
        gpu = row["gpu"]
        if row["memory_bandwidth_tbs"] is not None:
            assert 0.1 <= row["memory_bandwidth_tbs"] <= 20, gpu  # TB/s, not GB/s
        assert row["memory_gb"] is not None and 8 <= row["memory_gb"] <= 400, gpu  # GB, not MiB
        for column in TFLOPS_COLUMNS:
            if row[column] is not None:
                assert 0 < row[column] <= 25_000, (gpu, column)  # TFLOPS, not FLOP/s
        if row["tdp_w"] is not None:
            assert 50 <= row["tdp_w"] <= 1_500, gpu
        if row["interconnect_gbs"] is not None:
            assert 16 <= row["interconnect_gbs"] <= 4_000, gpu  # Trainium3 NeuronLink: 2,560
        assert row["interconnect"] in {"nvlink", "nvswitch", "pcie", "infinity-fabric", "ici",
                                       "neuronlink", "ethernet"}, gpu
        assert row["launch_date"] is None or date(2014, 1, 1) <= row["launch_date"] <= date(2026, 12, 31)
        # Lower precision is never slower on the same part.
        order = ["tf32_tflops", "bf16_tflops", "fp8_tflops", "fp4_tflops"]
        known = [row[c] for c in order if row[c] is not None]
        assert known == sorted(known), gpu


def test_dense_is_never_the_datasheet_sparsity_figure(specs):
    sparse = load_datasheet_sparsity()
    by_gpu = {r["gpu"]: r for r in specs.iter_rows(named=True)}
    assert sparse.height >= 140
    assert sparse.select("gpu", "metric").is_unique().all()
    for row in sparse.iter_rows(named=True):
        assert row["gpu"] in by_gpu, row
        assert row["source_url"].startswith("https://"), row
        dense = by_gpu[row["gpu"]][row["metric"]]
        # A published sparse figure with no dense one beside it is a GPU without metrics.
        assert dense is not None, row
        assert dense != row["sparse_value"], row
        ratio = row["sparse_value"] / dense
        if row["note"]:
            assert ratio > 1, (row, dense)  # explained non-2:4 sparsity (AWS, Blackwell Ultra FP4)
        else:
            assert 1.9 <= ratio <= 2.1, (row, dense)  # 2:4 sparsity: sparse = 2x dense
    # Every part whose datasheet quotes sparsity is covered by the file.
    covered = set(sparse["gpu"])
    for gpu in ("A10-24GB", "A100-SXM-80GB", "A100-PCIE-40GB", "L4-24GB", "L40S-48GB",
                "H100-SXM-80GB", "H100-PCIE-80GB", "H100-NVL-94GB", "H200-SXM-141GB",
                "H200-NVL-141GB", "B200-180GB", "GB200-186GB", "RTX4090-24GB",
                "RTX6000ADA-48GB", "RTXA6000-48GB", "A40-48GB", "A30-24GB", "GB300-288GB",
                "B100-192GB", "MI325X-256GB", "RTXPRO6000-96GB", "TRAINIUM2-96GB",
                "TRAINIUM3-144GB"):
        assert gpu in covered, gpu


def test_rtx_pro_6000_dense_bf16_is_derived_from_the_published_sparse_figure(specs):
    # 591 offers in the bundled replay had no metrics because this figure was empty.
    row = specs.filter(pl.col("gpu") == "RTXPRO6000-96GB").row(0, named=True)
    sparse = load_datasheet_sparsity().filter(pl.col("gpu") == "RTXPRO6000-96GB")
    published = dict(zip(sparse["metric"], sparse["sparse_value"]))
    assert row["bf16_tflops"] == pytest.approx(published["bf16_tflops"] / 2) == pytest.approx(503.8)
    assert row["fp8_tflops"] == pytest.approx(published["fp8_tflops"] / 2)
    assert row["fp4_tflops"] == pytest.approx(published["fp4_tflops"] / 2, rel=0.01)  # "4,000" rounded
    assert "/ 2" in row["notes"] and "sparsity" in row["notes"]  # the derivation is written down
    assert row["memory_gb"] == 96
    assert GpuSpec.from_row(row).dense_tflops("bf16") == pytest.approx(503.8)


def test_checked_against_vendor_pages(specs):
    by_gpu = {r["gpu"]: r for r in specs.iter_rows(named=True)}
    # NVIDIA announced H200 at SC23 (2023-11-13); 2024-11-18 is the H200 NVL's SC24 launch.
    assert by_gpu["H200-SXM-141GB"]["launch_date"] == date(2023, 11, 13)
    assert "nvidianews.nvidia.com" in by_gpu["H200-SXM-141GB"]["notes"]
    assert by_gpu["H200-NVL-141GB"]["launch_date"] == date(2024, 11, 18)
    # Google: v5p "bidirectional ICI bandwidth per chip 1,200 GBps" (v5e 400, v6e 800 likewise).
    assert by_gpu["TPU-V5P"]["interconnect_gbs"] == 1200
    assert by_gpu["TPU-V5E"]["interconnect_gbs"] == 400 and by_gpu["TPU-V6E"]["interconnect_gbs"] == 800
    # AWS Neuron docs: BF16 dense 190 / 667 / 671, HBM 32 / 96 / 144 GiB, link 384 / 1,280 / 2,560 GB/s.
    for gpu, bf16, memory, link in (("TRAINIUM-32GB", 190, 32, 384), ("TRAINIUM2-96GB", 667, 96, 1280),
                                    ("TRAINIUM3-144GB", 671, 144, 2560)):
        row = by_gpu[gpu]
        assert (row["bf16_tflops"], row["memory_gb"], row["interconnect_gbs"]) == (bf16, memory, link), gpu
        assert row["source_url"].startswith("https://awsdocs-neuron.readthedocs-hosted.com/"), gpu


# --- assumptions ------------------------------------------------------------------------------
# The assumption table's shape and lookups are tested with the cost model that reads them:
# tests/test_costmodel_assumptions.py and tests/test_costmodel_calibration.py.


# --- Epoch AI ---------------------------------------------------------------------------------

def test_epoch_parses_the_real_export():
    frame = parse(FIXTURE.read_bytes())
    assert frame.schema == pl.Schema(EXTERNAL_SPEC_SCHEMA)
    assert frame["name_raw"].n_unique() >= 170
    assert frame.height > 800
    assert frame.select(pl.col("value").is_finite().all()).item()
    assert frame.filter(pl.col("value").is_null()).height == 0
    assert set(frame["metric"]) <= set(GPU_SPEC_SCHEMA)
    assert "fp16_tflops" not in set(frame["metric"])  # Epoch's FP16 column is the vector rate
    h100 = "NVIDIA H100 SXM5 80GB"
    assert value(frame, h100, "bf16_tflops") == pytest.approx(989.4, abs=0.1)
    assert value(frame, h100, "memory_gb") == pytest.approx(80)
    assert value(frame, h100, "memory_bandwidth_tbs") == pytest.approx(3.35)
    assert value(frame, h100, "interconnect_gbs") == pytest.approx(900)
    assert value(frame, h100, "tdp_w") == pytest.approx(700)
    # A row whose quoted Notes span lines parses whole.
    assert value(frame, "Google TPU v7 Ironwood", "fp8_tflops") == pytest.approx(4614)
    assert value(frame, "Amazon Trainium3", "bf16_tflops") == pytest.approx(671)
    row = frame.row(0, named=True)
    assert row["source_url"] == EpochAIHardware.url and row["observed_at"] == OBSERVED
    assert row["raw_response_id"] == raw(FIXTURE.read_bytes()).id


def test_epoch_agrees_with_the_sheet_mostly(specs):
    disagreements = cross_check(specs, parse(FIXTURE.read_bytes()))
    # The headline figures of the main data-centre parts agree within 10 %.
    for gpu in ("H100-SXM-80GB", "H200-SXM-141GB", "A100-SXM-80GB", "MI300X-192GB", "L4-24GB"):
        flagged = disagreements.filter(
            (pl.col("gpu") == gpu) & pl.col("metric").is_in(["bf16_tflops", "memory_gb", "memory_bandwidth_tbs"])
        )
        assert flagged.is_empty(), flagged


def _edit_cell(body: bytes, name: str, header: str, new: str) -> bytes:
    """Derived input: the real file with one cell replaced."""
    table = pl.read_csv(body, infer_schema=False)
    table = table.with_columns(
        pl.when(pl.col("Hardware name") == name).then(pl.lit(new)).otherwise(pl.col(header)).alias(header)
    )
    return table.write_csv().encode()


# Written out here, not imported: the test's own reading of Epoch's headers over the years
# (today's spelling first), units and the metric each fills.
INDEPENDENT_HEADERS = {
    ("Tensor-FP16/BF16 performance (FLOP/s)",): ("bf16_tflops", 1e12),
    ("FP8 performance (FLOP/s)",): ("fp8_tflops", 1e12),
    ("FP4 performance (FLOP/s)",): ("fp4_tflops", 1e12),
    ("FP64 (double precision) performance (FLOP/s)",): ("fp64_tflops", 1e12),
    ("FP32 (single precision) performance (FLOP/s)",): ("fp32_tflops", 1e12),
    ("TF32 (TensorFloat-32) performance (FLOP/s)",): ("tf32_tflops", 1e12),
    ("INT8 performance (OP/s)",): ("int8_tops", 1e12),
    ("Memory (bytes)", "Memory size per board (Byte)"): ("memory_gb", 1e9),
    ("Memory bandwidth (byte/s)",): ("memory_bandwidth_tbs", 1e12),
    ("Intranode bandwidth (byte/s)",): ("interconnect_gbs", 1e9),
    ("TDP (W)",): ("tdp_w", 1.0),
}


def independent_figures(body: bytes) -> dict[tuple[str, str], float]:
    """(chip, metric) -> value, read with the csv module and the table above."""
    reader = csv.DictReader(io.StringIO(body.decode("utf-8")))
    figures: dict[tuple[str, str], float] = {}
    for record in reader:
        name = (record["Hardware name"] or "").strip()
        if not name:
            continue
        for spellings, (metric, divisor) in INDEPENDENT_HEADERS.items():
            header = next((h for h in spellings if h in record), None)
            cell = (record.get(header) or "").strip() if header else ""
            if not cell:
                continue
            number = float(cell)
            if math.isfinite(number):
                figures.setdefault((name, metric), number / divisor)  # first row wins
    return figures


@pytest.mark.parametrize("fixture", OLD_EXPORTS)
def test_older_exports_with_other_column_names_load(fixture):
    body = (FIXTURES / fixture).read_bytes()
    header = body.split(b"\n", 1)[0].decode()
    assert "Memory size per board (Byte)" in header and "Memory (bytes)" not in header  # really old
    frame, report = parse_with_report(body)
    got = {(r["name_raw"], r["metric"]): r["value"] for r in frame.iter_rows(named=True)}
    expected = independent_figures(body)
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-12), key
    assert report.dropped.is_empty()
    # The renamed memory column is read, not lost.
    assert got[("NVIDIA H100 SXM5 80GB", "memory_gb")] == pytest.approx(80)
    assert frame.filter(pl.col("metric") == "memory_gb").height > 100
    if fixture == "ml_hardware_2025-06-11.csv":
        # FP8 and FP4 columns did not exist yet: reported, the rest of the file loads.
        assert report.missing_columns == ("FP8 performance (FLOP/s)", "FP4 performance (FLOP/s)")
        assert "FP8 performance (FLOP/s)" in report.summary()
        assert not set(frame["metric"]) & {"fp8_tflops", "fp4_tflops"}
    else:
        assert report.missing_columns == ()
        assert got[("NVIDIA GB300", "fp4_tflops")] == pytest.approx(15_000)


def test_first_sheet_headers_load_through_the_aliases():
    # Derived: today's export with the 2022-2023 sheet's header spellings (as public scripts
    # read that sheet). Every figure must come out the same.
    body = FIXTURE.read_bytes()
    head, rest = body.split(b"\n", 1)
    renames = {
        "Hardware name": "Name of the hardware",
        "Tensor-FP16/BF16 performance (FLOP/s)": "FP16 Tensor Performance (FLOP/s)",
        "TF32 (TensorFloat-32) performance (FLOP/s)": "FP/TF32 Tensor Performance (FLOP/s)",
        "FP8 performance (FLOP/s)": "FP8 Tensor Performance (FLOP/s)",
        "INT8 performance (OP/s)": "INT8 Tensor Performance (OP/s)",
        "FP32 (single precision) performance (FLOP/s)": "FP32 Performance (FLOP/s)",
        "FP64 (double precision) performance (FLOP/s)": "FP64 Performance (FLOP/s)",
        "Memory (bytes)": "Memory size per board (Byte)",
        "Memory bandwidth (byte/s)": "Memory Bandwidth (Byte/s)",
    }
    old_head = head.decode()
    for new_name, old_name in renames.items():
        assert new_name in old_head
        old_head = old_head.replace(new_name, old_name, 1)
    frame, report = parse_with_report(old_head.encode() + b"\n" + rest)
    assert figures(frame).equals(figures(parse(body)))
    assert report.missing_columns == () and report.dropped.is_empty()
    # One alias table, and every entry in it is exercised here or by a real fixture.
    aliases = {a for spellings in HEADER_ALIASES.values() for a in spellings}
    assert aliases <= set(renames.values()) | {"Memory size per board (Byte)"}


def test_unknown_schema_is_a_clear_error_naming_the_missing_columns():
    body = FIXTURE.read_bytes().replace(b"Hardware name", b"Name", 1)
    with pytest.raises(ParseError, match=r"unknown schema.*'Hardware name'.*missing"):
        parse(body)
    # A CSV with a name column but none of the metric columns is not an Epoch export either.
    with pytest.raises(ParseError, match=r"unknown schema.*'Tensor-FP16/BF16 performance \(FLOP/s\)'.*'TDP \(W\)'"):
        parse(b"Hardware name,Price\nNVIDIA H100,30000\n")


def test_a_renamed_metric_column_does_not_reject_the_file():
    # Derived: a future export renames one column (and changes its unit, so no alias applies).
    original = parse(FIXTURE.read_bytes())
    body = FIXTURE.read_bytes().replace(b"Memory bandwidth (byte/s)", b"Memory bandwidth (GB/s)", 1)
    frame, report = parse_with_report(body)
    assert report.missing_columns == ("Memory bandwidth (byte/s)",)
    assert "column(s) not in this export: Memory bandwidth (byte/s)" in report.summary()
    assert "memory_bandwidth_tbs" not in set(frame["metric"])
    assert figures(frame).equals(figures(original.filter(pl.col("metric") != "memory_bandwidth_tbs")))


def test_a_bad_cell_drops_that_figure_with_its_reason():
    h100 = "NVIDIA H100 SXM5 80GB"
    original = parse(FIXTURE.read_bytes())
    # Derived: 3350 (GB/s) typed into the byte/s column would read as 3.35e-9 TB/s; a value
    # 1000x too large on another chip; text where a number belongs on a third.
    body = _edit_cell(FIXTURE.read_bytes(), h100, "Memory bandwidth (byte/s)", "3350")
    body = _edit_cell(body, "NVIDIA A100 SXM4 80 GB", "Memory bandwidth (byte/s)", "2.039e15")
    body = _edit_cell(body, "NVIDIA L4", "TDP (W)", "seven hundred")
    frame, report = parse_with_report(body)
    drops = {(r["name_raw"], r["metric"]): r for r in report.dropped.iter_rows(named=True)}
    assert set(drops) == {(h100, "memory_bandwidth_tbs"), ("NVIDIA A100 SXM4 80 GB", "memory_bandwidth_tbs"),
                          ("NVIDIA L4", "tdp_w")}
    assert "3350 gives 3.35e-09 TB/s, outside the plausible" in drops[(h100, "memory_bandwidth_tbs")]["reason"]
    assert "byte/s" in drops[(h100, "memory_bandwidth_tbs")]["reason"]  # says what unit is expected
    assert "outside the plausible" in drops[("NVIDIA A100 SXM4 80 GB", "memory_bandwidth_tbs")]["reason"]
    assert drops[("NVIDIA L4", "tdp_w")]["reason"] == "'seven hundred' is not a number"
    assert drops[("NVIDIA L4", "tdp_w")]["column"] == "TDP (W)"
    assert all(r["raw_response_id"] == raw(body).id for r in drops.values())
    # Exactly those three figures are missing; the rest of those rows and of the file load.
    kept = original.join(pl.DataFrame(list(drops), schema=["name_raw", "metric"], orient="row"),
                         on=["name_raw", "metric"], how="anti")
    assert figures(frame).equals(figures(kept))
    assert value(frame, h100, "bf16_tflops") == pytest.approx(989.4, abs=0.1)
    assert "3 figure(s) dropped" in report.summary()


def test_an_unreadable_file_fails_alone():
    good, bad = raw(FIXTURE.read_bytes()), raw(b"<!DOCTYPE html><html>rate limited</html>")
    frame, report = EpochAIHardware().parse_with_report([bad, good])
    assert frame.equals(parse(FIXTURE.read_bytes()))
    assert len(report.failed_files) == 1 and "HTML" in report.failed_files[0]
    with pytest.raises(ParseError, match="HTML"):
        EpochAIHardware().parse_with_report([bad])


def test_inf_and_empty_cells_become_null():
    body = FIXTURE.read_bytes()
    h100 = "NVIDIA H100 SXM5 80GB"
    body = _edit_cell(body, h100, "TDP (W)", "inf")
    body = _edit_cell(body, h100, "FP8 performance (FLOP/s)", "")
    body = _edit_cell(body, h100, "INT8 performance (OP/s)", "-inf")
    body = _edit_cell(body, h100, "FP4 performance (FLOP/s)", "NaN")
    frame = parse(body)
    for metric in ("tdp_w", "fp8_tflops", "int8_tops", "fp4_tflops"):
        assert value(frame, h100, metric) is None, metric
    assert value(frame, h100, "bf16_tflops") == pytest.approx(989.4, abs=0.1)
    assert all(math.isfinite(v) for v in frame["value"])


def test_sparsity_columns_never_land_as_dense():
    # Derived: an export that adds a "with sparsity" column (NVIDIA's 2x figure).
    table = pl.read_csv(FIXTURE.read_bytes(), infer_schema=False).with_columns(
        (pl.col("Tensor-FP16/BF16 performance (FLOP/s)").cast(pl.Float64) * 2)
        .cast(pl.String)
        .alias("Tensor-FP16/BF16 performance with sparsity (FLOP/s)")
    )
    frame = parse(table.write_csv().encode())
    assert value(frame, "NVIDIA H100 SXM5 80GB", "bf16_tflops") == pytest.approx(989.4, abs=0.1)
    assert frame.height == parse(FIXTURE.read_bytes()).height
    assert not any("spars" in h.lower() for h in COLUMNS)


def test_html_and_empty_bodies_are_parse_errors():
    with pytest.raises(ParseError, match="HTML"):
        parse(b"<!DOCTYPE html><html><body>Cloudflare</body></html>")
    with pytest.raises(ParseError, match="empty"):
        parse(b"")
    with pytest.raises(ParseError, match="missing"):
        parse(b"just,some,columns\n1,2,3\n")


def test_fetch_is_one_get():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=FIXTURE.read_bytes(), headers={"content-type": "text/csv"})

    client = build_client(httpx.MockTransport(handler), sleep=lambda s: None)
    responses = list(EpochAIHardware().fetch(client, FetchContext()))
    assert len(seen) == 1 and seen[0].method == "GET" and str(seen[0].url) == EpochAIHardware.url
    assert len(responses) == 1 and responses[0].status == 200
    assert EpochAIHardware().parse(responses).height > 800


def test_registered_as_a_specs_source():
    from connectors.registry import get_source, price_sources

    source = get_source("epoch_ai")
    assert source.kind == "specs" and source.providers == () and source.key_env is None
    assert source not in price_sources()


def test_cross_check_flags_over_ten_percent_only(specs):
    now = OBSERVED
    external = pl.DataFrame(
        {
            "name_raw": ["NVIDIA H100 SXM5 80GB", "NVIDIA H100 SXM5 80GB", "NVIDIA L4", "Mystery chip"],
            "metric": ["bf16_tflops", "memory_bandwidth_tbs", "bf16_tflops", "bf16_tflops"],
            "value": [989.5 * 2, 3.35 * 1.05, None, 5.0],  # sparse-as-dense (+100 %), +5 %, null
            "source_url": [EpochAIHardware.url] * 4,
            "observed_at": [now] * 4,
            "raw_response_id": ["x"] * 4,
        },
        schema=EXTERNAL_SPEC_SCHEMA,
    )
    before = specs.clone()
    found = cross_check(specs, external)
    assert found.columns[:8] == ["gpu", "metric", "curated_value", "external_value", "rel_diff",
                                 "external_source", "name_raw", "source_url"]
    assert found.height == 1
    row = found.row(0, named=True)
    assert (row["gpu"], row["metric"]) == ("H100-SXM-80GB", "bf16_tflops")
    assert row["rel_diff"] == pytest.approx(1.0)
    assert row["external_source"] == "epoch_ai"
    assert specs.equals(before)  # never overwrites
    assert cross_check(specs, external, tolerance=0.04).height == 2  # the 5 % one at 4 %


# --- warehouse ---------------------------------------------------------------------------------

def test_reference_tables_and_spec_views(tmp_path, specs):
    from market.rules import finalize_offers
    from connectors.base import offers_frame
    from warehouse.specs import load_reference_tables, replace_external_specs
    from warehouse.store import Warehouse

    warehouse = Warehouse(tmp_path / "gpu_prices.duckdb")
    with warehouse.writer() as w:
        con = w.con
        con.execute("INSERT INTO gpu_aliases VALUES ('H100 SXM', NULL, 'vast', DATE '2026-01-01', DATE '2026-02-01')")
        counts = load_reference_tables(w)
        assert counts["gpu_specs"] == specs.height
        assert con.sql("SELECT count(*) FROM gpu_specs WHERE loaded_at IS NULL").fetchall()[0][0] == 0
        seen = con.sql("SELECT gpu, seen_in, first_seen FROM gpu_aliases WHERE alias = 'H100 SXM'").fetchall()
        assert seen == [("H100-SXM-80GB", "vast", date(2026, 1, 1))]  # kept, NULL gpu filled
        # An operator's override survives a reload; edited defaults are refreshed.
        con.execute("INSERT INTO assumptions (kind, generation, precision, model_params, measured_gpus, value, "
                    "source_run, source_url, overridden) VALUES ('training_mfu', 'hopper', 'bf16', 70e9, 1024, 0.5, "
                    "'our run', 'https://example.test/our-run', true)")
        con.execute("UPDATE assumptions SET value = 0.99 WHERE kind = 'serve_memory_efficiency' AND NOT overridden")
        load_reference_tables(w)
        rows = con.sql("SELECT kind, value, overridden FROM assumptions WHERE (kind = 'training_mfu' AND "
                       "generation = 'hopper' AND model_params = 70e9) OR kind = 'serve_memory_efficiency'").fetchall()
        assert sorted(rows) == sorted(
            [("training_mfu", 0.2527, False), ("serve_memory_efficiency", 0.8, False), ("training_mfu", 0.5, True)])
        assert con.sql("SELECT count(*) FROM assumptions").fetchall()[0][0] == load_assumptions().height + 1

        # Epoch's real figures plus one seeded disagreement (derived: H100 bandwidth +25 %).
        body = _edit_cell(FIXTURE.read_bytes(), "NVIDIA H100 SXM5 80GB", "Memory bandwidth (byte/s)", "4187500000000.0")
        replace_external_specs(w, date(2026, 4, 1), "epoch_ai", parse(FIXTURE.read_bytes()))
        written = replace_external_specs(w, date(2026, 4, 22), "epoch_ai", parse(body))
        assert written > 800
        assert con.sql("SELECT gpu FROM external_specs WHERE name_raw = 'NVIDIA H100 SXM5 80GB' LIMIT 1").fetchall() == [("H100-SXM-80GB",)]
        view = con.sql("SELECT * FROM spec_disagreements").pl()
        hit = view.filter((pl.col("gpu") == "H100-SXM-80GB") & (pl.col("metric") == "memory_bandwidth_tbs"))
        assert hit.height == 1 and hit["rel_diff"][0] == pytest.approx(0.25)
        assert hit["external_snapshot_date"][0] == date(2026, 4, 22)  # the latest snapshot only
        assert view.filter(pl.col("gpu") == "H200-SXM-141GB").is_empty()
        assert set(view["gpu"]) <= set(specs["gpu"])
        assert con.sql("SELECT memory_bandwidth_tbs FROM gpu_specs WHERE gpu = 'H100-SXM-80GB'").fetchall() == [(3.35,)]

        # Offers whose GPU name maps to nothing are listed, with counts and where they came from.
        rows = [
            {"provider": "vast", "region": r, "instance_type": f"{name}-1", "gpu_name_raw": name,
             "gpu_count": 1.0, "pricing": "on_demand", "price": 1.0, "currency": "USD",
             "source_url": "https://example.invalid/recorded", "observed_at": OBSERVED, "raw_response_id": "r"}
            for name in ("Mystery X1", "H100 SXM") for r in ("us", "eu")
        ]
        w.replace_offers(date(2026, 4, 22), "vast", finalize_offers(offers_frame(rows, "vast"), "vast", date(2026, 4, 22)))
        unmapped = con.sql("SELECT * FROM unmapped_gpus").pl()
        assert unmapped["gpu_name_raw"].to_list() == ["Mystery X1"]
        assert unmapped["offers"][0] == 2 and unmapped["sources"][0].to_list() == ["vast"]
        assert unmapped["first_seen"][0] == date(2026, 4, 22)
        assert con.sql("SELECT count(*) FROM gpus_without_specs").fetchall()[0][0] == 0


def test_every_spec_row_has_a_resolvable_id(specs):
    for gpu in specs["gpu"]:
        assert canonical_gpu(gpu) == gpu


def test_ingest_records_dropped_figures_and_lands_the_rest(tmp_path):
    from pipelines.ingest import fetch_source, parse_source
    from warehouse.store import Warehouse

    # Derived: the real export with one bad cell, served by a local mock of the download link.
    body = _edit_cell(FIXTURE.read_bytes(), "NVIDIA H100 SXM5 80GB", "TDP (W)", "N/A")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "text/csv"})

    client = build_client(httpx.MockTransport(handler), sleep=lambda s: None)
    warehouse = Warehouse(tmp_path / "gpu_prices.duckdb")
    day = date(2026, 4, 22)
    assert fetch_source(warehouse, EpochAIHardware(), client, day, mode="live").status == "fetched"
    outcome = parse_source(warehouse, EpochAIHardware(), day)
    assert outcome.status == "ok" and outcome.quarantined == 1
    with warehouse.writer() as w:
        run = w.run_state(day, "epoch_ai")
        landed = w.con.sql("SELECT count(*) FROM external_specs WHERE snapshot_date = $d",
                           params={"d": day}).fetchall()[0][0]
        h100 = dict(w.con.sql("SELECT metric, value FROM external_specs "
                              "WHERE name_raw = 'NVIDIA H100 SXM5 80GB'").fetchall())
    assert run["status"] == "ok" and run["quarantined"] == 1
    assert "1 figure(s) dropped: 'NVIDIA H100 SXM5 80GB' 'TDP (W)': 'N/A' is not a number" in run["message"]
    assert landed == parse(FIXTURE.read_bytes()).height - 1
    assert "tdp_w" not in h100 and h100["bf16_tflops"] == pytest.approx(989.4, abs=0.1)
