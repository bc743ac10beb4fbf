"""Why: the SkyPilot catalog brings ~15 clouds into the demo through one aggregator, and its
CSVs differ by cloud and schema version in ways that silently corrupt prices if read by
position or with one GpuInfo format. These tests parse EVERY SkyPilot file in the shared data
(tests/fixtures/skypilot, byte-exact copies), pin row counts, and pin each quirk listed in
../shared/data/MANIFEST.md; they also check that a missing cloud does not sink the aggregator.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timezone
from pathlib import Path

import httpx
import polars as pl
import pytest

from connectors.base import FetchContext, ParseError, RawResponse, SourceError, check_responses
from connectors.http import build_client
from market.rules import finalize_offers
from connectors.skypilot import SkyPilotCatalog, catalog_url, parse_gpu_info
from connectors.snapshot import ReplayTransport

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "skypilot"
BUNDLED = Path(__file__).resolve().parent.parent / "snapshots" / "bundled" / "2026-08-22"

# file -> parsed GPU rows per pricing kind (CPU rows are handed over too, excluded downstream).
EXPECTED = {
    "v5/lambda/vms@4223d8e1.csv": {"on_demand": 184},
    "v6/do/vms@1fbe7331.csv": {"on_demand": 2},
    "v6/fluidstack/vms@002403bc.csv": {"on_demand": 23},
    "v6/lambda/vms@40a857dc.csv": {"on_demand": 210},
    "v6/paperspace/vms@e5200541.csv": {"on_demand": 14},
    "v6/runpod/vms@098741e7.csv": {"on_demand": 480, "spot": 160},
    "v6/azure/vms@098741e7_excerpt.csv": {"on_demand": 8, "spot": 8},
    "v7/gcp/vms@017e2502_excerpt.csv": {"on_demand": 31, "spot": 27},
    "v7/lambda/vms@11580132.csv": {"on_demand": 306},
    "v8/cudo/vms@113567a7_first74rows.csv": {"on_demand": 74},
    "v8/hyperstack/vms@fdc9d908.csv": {"on_demand": 25},
    "v8/lambda/vms@0f407038.csv": {"on_demand": 374},
    "v8/nebius/vms@0082b043.csv": {"on_demand": 21, "spot": 8},
    "v8/shadeform/vms@002363da_first82rows.csv": {"on_demand": 82},
    "v8/vast/vms@01b8cdda.csv": {"marketplace": 67},
    "v8/verda/vms@000c1d0b.csv": {"on_demand": 17, "spot": 16},
    "v8/verda/vms@538675a0_excerpt.csv": {"on_demand": 9, "spot": 9},
}


def raw_for(relative: str, body: bytes | None = None, version: str | None = None) -> RawResponse:
    schema, cloud, _ = relative.split("/")
    data = body if body is not None else (FIXTURES / relative).read_bytes()
    return RawResponse(
        source="skypilot", method="GET", url=catalog_url(cloud, version or schema), status=200,
        headers={"content-type": "text/plain"}, fetched_at=datetime(2026, 8, 22, tzinfo=timezone.utc),
        body=data,
    )


def parse(relative: str, body: bytes | None = None) -> pl.DataFrame:
    return SkyPilotCatalog().parse([raw_for(relative, body)])


def test_every_shared_file_is_a_fixture():
    assert sorted(str(p.relative_to(FIXTURES)) for p in FIXTURES.glob("*/*/vms@*.csv")) == sorted(EXPECTED)


# Rows the resolver rejects, by file: Vast lists a 48 GB "RTX 4090" and a 16 GB "RTX 4070"
# (modified or misnamed cards: more memory than any card of the family); the Azure excerpt has
# one NC16ads A10 v4 row with an empty price ("no price").
EXPECTED_QUARANTINED = {"v8/vast/vms@01b8cdda.csv": 2, "v6/azure/vms@098741e7_excerpt.csv": 1}


@pytest.mark.parametrize("relative", sorted(EXPECTED))
def test_every_file_parses_with_the_expected_rows(relative):
    every_row = parse(relative)
    frame = every_row.filter(pl.col("gpu_name_raw").is_not_null())
    counts = dict(frame.group_by("pricing").len().rows())
    assert counts == EXPECTED[relative]
    # Independent count with the csv module: GPU rows with a Price / a positive SpotPrice.
    with (FIXTURES / relative).open(newline="", encoding="utf-8") as handle:
        gpu = [r for r in csv.DictReader(handle) if r["AcceleratorName"] and float(r["AcceleratorCount"] or 0)]
    with_price = sum(1 for r in gpu if r["Price"])
    with_spot = sum(1 for r in gpu if r["SpotPrice"] and float(r["SpotPrice"]) > 0)
    assert counts.get("on_demand", counts.get("marketplace")) == with_price
    assert counts.get("spot", 0) == with_spot
    assert frame["gpu_count"].min() > 0 and frame["price"].null_count() == 0
    assert set(frame["currency"]) == {"USD"}
    result = finalize_offers(every_row, "skypilot", date(2026, 8, 22))
    assert result.quarantined.height == EXPECTED_QUARANTINED.get(relative, 0)
    assert result.offers.height >= 1 and result.unaccounted == 0


def test_line_endings_and_bom_do_not_matter():
    relative = "v8/vast/vms@01b8cdda.csv"
    crlf = (FIXTURES / relative).read_bytes()
    assert b"\r\n" in crlf
    lf = crlf.replace(b"\r\n", b"\n")
    bom = b"\xef\xbb\xbf" + lf
    expected = parse(relative).drop("raw_response_id")
    assert parse(relative, lf).drop("raw_response_id").equals(expected)
    assert parse(relative, bom).drop("raw_response_id").equals(expected)
    assert b"\r\n" not in (FIXTURES / "v6/do/vms@1fbe7331.csv").read_bytes()  # an LF original


def test_columns_are_read_by_name_not_position():
    relative = "v8/nebius/vms@0082b043.csv"
    rows = list(csv.DictReader(io.StringIO((FIXTURES / relative).read_text(), newline="")))
    columns = list(reversed(rows[0].keys())) + ["SomethingNew"]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "SomethingNew": "x"})
    shuffled = parse(relative, out.getvalue().encode())
    assert shuffled.drop("raw_response_id").equals(parse(relative).drop("raw_response_id"))


def test_gpu_info_spellings():
    repr_dict = "{'Gpus': [{'Name': 'A40', 'Manufacturer': 'NVIDIA', 'Count': '1.0', 'MemoryInfo': {'SizeInMiB': 49152}}], 'TotalGpuMemoryInMiB': 49152}"
    assert parse_gpu_info(repr_dict) == {"name": "A40", "count": "1.0", "memory": 49152, "total": 49152}
    json_style = '{"Gpus": [{"Name": "B300", "Count": 1, "MemoryInfo": {"SizeInMiB": 268288}}], "TotalGpuMemoryInMiB": 268288}'
    assert parse_gpu_info(json_style)["memory"] == 268288
    lower = "{'gpus': [{'name': 'h100', 'manufacturer': 'nvidia', 'count': 1.0, 'memoryinfo': {'sizeinmib': 81559}}], 'totalgpumemoryinmib': 81559}"
    assert parse_gpu_info(lower)["name"] == "h100" and parse_gpu_info(lower)["memory"] == 81559
    null_maker = "{'Gpus': [{'Name': 'L40', 'Manufacturer': null, 'Count': 1, 'MemoryInfo': {'SizeInMiB': 49152}}], 'TotalGpuMemoryInMiB': 49152}"
    assert parse_gpu_info(null_maker)["name"] == "L40"
    assert parse_gpu_info("A100-80GB") == {"name": "A100-80GB", "count": None, "memory": None, "total": None}
    assert parse_gpu_info("") is None
    with pytest.raises(ParseError, match="GpuInfo"):
        parse_gpu_info("{'Gpus': [")


def _row(frame: pl.DataFrame, **where) -> dict:
    out = frame
    for column, value in where.items():
        out = out.filter(pl.col(column) == value)
    assert out.height >= 1, where
    return out.row(0, named=True)


def test_quirk_verda_json_gpu_info_and_spot_only_rows():
    frame = parse("v8/verda/vms@000c1d0b.csv")
    two_b300 = frame.filter(pl.col("instance_type") == "2B300.60V")
    assert two_b300["pricing"].to_list() == ["spot"] and two_b300["price"].to_list() == [4.893]
    one = _row(frame, instance_type="1B300.30V", pricing="on_demand")
    assert (one["price"], one["gpu_memory_gb"], one["provider"]) == (6.99, 262.0, "verda")
    assert _row(frame, instance_type="1B300.30V", pricing="spot")["price"] == 2.447


def test_quirk_vast_marketplace_no_spot_total_memory_and_non_ascii_regions():
    frame = parse("v8/vast/vms@01b8cdda.csv")
    assert set(frame["pricing"]) == {"marketplace"}  # SpotPrice 0.00 -> no spot offer
    h200 = frame.filter(pl.col("gpu_name_raw") == "H200")
    assert h200["memory_is_total"].to_list() == [True] * h200.height  # SizeInMiB is the total over GPUs
    assert _row(frame, instance_type="2x-H200-32-65536")["gpu_count"] == 2
    offers = finalize_offers(frame, "skypilot", date(2026, 8, 22)).offers
    assert set(offers.filter(pl.col("gpu_name_raw") == "H200")["gpu_memory_gb"]) == {141.0}
    assert "Hafnarfjarðarkaupstaður, IS, EU" in set(frame["region"])


def test_quirk_do_lower_case_keys_and_provider_name():
    frame = parse("v6/do/vms@1fbe7331.csv").filter(pl.col("gpu_name_raw").is_not_null())
    assert set(frame["provider"]) == {"digitalocean"}
    assert frame["gpu_memory_gb"].to_list() == pytest.approx([81559 / 1024] * 2, abs=1e-3)  # as given
    assert sorted(frame["gpu_count"]) == [1.0, 8.0]


def test_quirk_bare_name_gpu_info_has_no_memory():
    for relative in ("v6/paperspace/vms@e5200541.csv", "v6/runpod/vms@098741e7.csv"):
        frame = parse(relative).filter(pl.col("gpu_name_raw").is_not_null())
        assert frame["gpu_memory_gb"].null_count() == frame.height
    runpod = parse("v6/runpod/vms@098741e7.csv")
    assert _row(runpod, instance_type="1x_A100-80GB_SECURE", region="CA", pricing="on_demand")["price"] == 1.99


def test_quirk_hyperstack_null_manufacturer():
    frame = parse("v8/hyperstack/vms@fdc9d908.csv")
    row = _row(frame, instance_type="n3-A100x1", region="CANADA-1")
    assert (row["gpu_name_raw"], row["gpu_memory_gb"], row["price"]) == ("A100-80G-PCIe", 80.0, 1.35)


def test_quirk_shadeform_gb_in_mib_and_underlying_clouds():
    frame = parse("v8/shadeform/vms@002363da_first82rows.csv")
    row = _row(frame, instance_type="massedcompute_A6000x8")
    assert (row["provider"], row["underlying_provider"], row["gpu_memory_gb"], row["gpu_count"], row["price"]) == (
        "shadeform", "massedcompute", 48.0, 8.0, 4.56
    )
    assert _row(frame, instance_type="lambdalabs_A6000x4")["underlying_provider"] == "lambda"
    # A reseller's offer is the reseller's (what you pay); the cloud behind it is kept apart.
    assert set(frame["provider"]) == {"shadeform"}
    assert set(frame["underlying_provider"]) == {
        "crusoe", "denvr", "excesssupply", "hyperstack", "lambda", "massedcompute", "paperspace",
        "scaleway", "vultr",
    }
    assert frame["gpu_memory_gb"].max() <= 141


def test_quirk_cudo_string_count_and_float_artefacts_kept():
    frame = parse("v8/cudo/vms@113567a7_first74rows.csv")
    row = _row(frame, instance_type="ice-lake-a40-compute_1x2v4gb", region="ca-montreal-3")
    assert row["price"] == 0.36979999999999996  # as published; rounding is not ours to do
    assert row["gpu_count"] == 1.0 and row["gpu_memory_gb"] == 48.0


def test_lambda_history_across_schema_versions():
    """Same series in v5..v8 (MANIFEST): 8x H100 SXM 23.92 in v6/v7 -> 31.92 in v8."""
    def price(relative):
        frame = parse(relative).filter(
            (pl.col("gpu_name_raw") == "H100") & (pl.col("gpu_count") == 8) & (pl.col("region") == "us-east-1")
        )
        return sorted(set(frame["price"]))
    assert price("v6/lambda/vms@40a857dc.csv") == [23.92]
    assert price("v8/lambda/vms@0f407038.csv") == [31.92]


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("column", ["InstanceType", "AcceleratorName", "AcceleratorCount", "Price", "Region"])
def test_a_missing_required_column_is_named(column):
    relative = "v8/nebius/vms@0082b043.csv"
    text = (FIXTURES / relative).read_text()
    header, rest = text.split("\n", 1)
    header = header.replace(column, column + "_renamed")
    with pytest.raises(ParseError, match=repr(column)):
        parse(relative, (header + "\n" + rest).encode())


def test_html_truncated_and_garbled_bodies():
    relative = "v8/nebius/vms@0082b043.csv"
    with pytest.raises(ParseError, match="HTML"):
        parse(relative, b"<!DOCTYPE html><html>rate limited</html>")
    with pytest.raises(ParseError, match="empty body"):
        parse(relative, b"")
    real = (FIXTURES / relative).read_bytes()
    with pytest.raises(ParseError, match="no final newline.*truncated"):
        parse(relative, real[: len(real) * 6 // 10])  # cut mid-row, as a dropped transfer is
    last_row_cut = real.rstrip(b"\r\n").rsplit(b",", 3)[0] + b"\n"  # ends on a newline, cells short
    with pytest.raises(ParseError, match="incomplete row.*truncated"):
        parse(relative, last_row_cut)


def test_a_bad_cell_or_line_quarantines_its_row_not_the_file():
    """Hand-made cells in a real header: 'abc' as a price and a line with an extra cell."""
    body = (b"InstanceType,AcceleratorName,AcceleratorCount,Price,Region\n"
            b"x,H100,1,abc,r\ny,H100,1,2.0,r,extra\nz,H100,1,2.5,r\n")
    result = finalize_offers(parse("v8/nebius/vms@0082b043.csv", body), "skypilot", date(2026, 8, 22))
    assert result.offers["instance_type"].to_list() == ["z"]
    reasons = dict(zip(result.quarantined["instance_type"], result.quarantined["reason"]))
    assert "'Price' is not a number ('abc')" in reasons["x"]
    assert "more cells than the header" in reasons["y"]
    assert result.unaccounted == 0


def test_empty_price_without_spot_is_kept_for_quarantine():
    body = b"InstanceType,AcceleratorName,AcceleratorCount,Price,Region,SpotPrice\nx,H100,1,,r,\n"
    frame = parse("v8/nebius/vms@0082b043.csv", body)
    result = finalize_offers(frame, "skypilot", date(2026, 8, 22))
    assert result.offers.height == 0 and result.quarantined["reason"].to_list() == ["no price"]


# --- fetch ------------------------------------------------------------------------------------


def test_fetch_replays_the_bundled_snapshot_and_skips_unrecorded_clouds():
    client = build_client(ReplayTransport(BUNDLED), sleep=lambda s: None)
    messages: list[str] = []
    raws = list(SkyPilotCatalog().fetch(client, FetchContext(progress=messages.append)))
    check_responses("skypilot", raws)
    assert len(raws) == 13
    assert "gcp: not in this snapshot; skipped" in messages
    assert {r.fetched_at.date() for r in raws} == {date(2026, 8, 22)}
    frame = SkyPilotCatalog().parse(raws)
    result = finalize_offers(frame, "skypilot", date(2026, 8, 22))
    # The two Vast cards above, and five AWS p5e.48xlarge lines with neither price nor spot price.
    assert result.quarantined.height == 7 and result.unaccounted == 0
    # 12 clouds with their own lists (aws and azure excerpts included) plus Shadeform, whose
    # offers name 9 clouds behind it (6 of them new).
    assert result.offers["provider"].n_unique() == 13
    behind = result.offers.select(pl.coalesce("underlying_provider", "provider")).to_series()
    assert behind.n_unique() == 18


def _mock(statuses: dict[str, int]) -> httpx.Client:
    body = (FIXTURES / "v8/nebius/vms@0082b043.csv").read_bytes()

    def handler(request: httpx.Request) -> httpx.Response:
        cloud = request.url.path.split("/")[-2]
        status = statuses.get(cloud, 404)
        return httpx.Response(status, content=body if status == 200 else b"404: Not Found")

    return build_client(httpx.MockTransport(handler), sleep=lambda s: None)


def test_a_404_cloud_is_skipped_and_the_rest_parsed():
    messages: list[str] = []
    raws = list(SkyPilotCatalog().fetch(_mock({"nebius": 200}), FetchContext(progress=messages.append)))
    assert len(raws) == 1 and raws[0].url.endswith("/v8/nebius/vms.csv")
    assert any("aws: no catalog" in m and "404" in m for m in messages)


def test_no_readable_cloud_fails_the_source():
    with pytest.raises(SourceError, match="no cloud catalog could be read"):
        list(SkyPilotCatalog().fetch(_mock({}), FetchContext()))


def test_a_server_error_is_yielded_and_rejected():
    raws = list(SkyPilotCatalog(clouds=("nebius", "lambda")).fetch(_mock({"nebius": 200, "lambda": 503}), FetchContext()))
    assert [r.status for r in raws] == [200, 503]
    with pytest.raises(SourceError, match="HTTP 503"):
        check_responses("skypilot", raws)


@pytest.mark.parametrize(
    ("cloud", "accelerator", "instance_type", "expected"),
    [
        ("runpod", "H100", "1x_H100_SECURE", "H100-PCIE-80GB"),  # RunPod's SXM part is "H100-SXM"
        ("runpod", "A100-80GB-SXM", "1x_A100-80GB-SXM_SECURE", "A100-SXM-80GB"),
        ("lambda", "A100", "gpu_1x_a100", "A100-PCIE-40GB"),  # "1x A100 (40 GB PCIe)"
        ("lambda", "A100", "gpu_8x_a100", "A100-SXM-40GB"),  # the 8x node is SXM4
        ("cudo", "A100", "intel-ice-lake-a100-pci_1x4v8gb", "A100-PCIE-80GB"),
        ("vast", "A100", "1x-A100_PCIE-8-32768", "A100-PCIE-40GB"),
        ("nebius", "H100", "gpu-h100-sxm_8gpu-128vcpu-1600gb", "H100-SXM-80GB"),
    ],
)
def test_form_factor_is_recovered_where_the_catalog_drops_it(cloud, accelerator, instance_type, expected):
    """SkyPilot names an A100 PCIe card and an A100 SXM module alike; prices and specs differ.
    The parser hands the names over; the instance tables and the instance name decide."""
    from market.identity import Evidence, resolve
    from market.providers import canonical_provider

    assert resolve(Evidence(canonical_provider(cloud), accelerator, instance_type, 1.0)).gpu == expected


def test_a_missing_cloud_is_a_warning_kept_in_ingest_runs(tmp_path):
    """One cloud's catalog gone (404) must not sink the aggregator, nor pass unnoticed."""
    from pipelines.ingest import fetch_source, parse_source
    from warehouse.store import Warehouse

    lambda_csv = next((Path(__file__).parent / "fixtures" / "skypilot" / "v8" / "lambda").glob("*.csv")).read_bytes()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url == httpx.URL(catalog_url("lambda")):
            return httpx.Response(200, content=lambda_csv)
        return httpx.Response(404, text="404: Not Found")

    warehouse = Warehouse(tmp_path / "w.duckdb")
    source = SkyPilotCatalog(clouds=("lambda", "nebius"))
    day = date(2026, 8, 22)
    with build_client(httpx.MockTransport(handler)) as client:
        assert fetch_source(warehouse, source, client, day, mode="live").status == "fetched"
    outcome = parse_source(warehouse, source, day)
    assert outcome.status == "ok" and outcome.offers > 0
    with warehouse.writer() as w:
        message = w.run_state(day, "skypilot")["message"]
    assert "nebius: no catalog" in message and "404" in message
