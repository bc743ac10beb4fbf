"""gpuhunt catalogs connector: one version file and one zip per provider, and one provider's
missing catalog must not cost us the others. These tests pin the two-step fetch, the CSV
columns read by name, provider-name normalisation and spot rows, and the failure modes
CONTRIBUTING asks for.

The fixture zips under tests/fixtures/gpuhunt/v3/ are CONSTRUCTED for tests from real
becloudready values (gpuModel, price, provider of its 2024-09-26 gpuhunt.query dump); they are
not recorded gpuhunt responses. See tests/fixtures/gpuhunt/PROVENANCE.md."""

from __future__ import annotations

import csv
import io
import zipfile

import httpx
import polars as pl
import pytest

from connectors.base import ParseError, SourceError
from connectors.gpuhunt import BASE_URL, CATALOGS, GpuhuntCatalogs, catalog_url, version_url
from market.providers import canonical_provider
from tests.connector_checks import FIXTURES, fetch_all, finalize, live_fetch, raw

ROOT = FIXTURES / "gpuhunt"
VERSION = "20240926-1"
FIELDS = ["instance_name", "location", "price", "cpu", "memory", "gpu_count", "gpu_name", "gpu_memory",
          "spot", "disk_size", "gpu_vendor", "flags", "cpu_arch", "provider_data"]


def serve(overrides: dict[str, httpx.Response] | None = None):
    """Serve the fixture tree at the S3 paths; `overrides` maps a URL to another response."""
    overrides = overrides or {}
    seen: list[str] = []

    def respond(request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        seen.append(url)
        assert url.startswith(BASE_URL + "/")
        if url in overrides:
            return overrides[url]
        path = ROOT / url[len(BASE_URL) - 2:].lstrip("/")  # ".../v3/<provider>/..." -> ROOT/v3/...
        if not path.is_file():
            return httpx.Response(403, text="<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code></Error>")
        return httpx.Response(200, content=path.read_bytes())

    respond.seen = seen  # type: ignore[attr-defined]
    return respond


def fixture_zip(provider: str) -> bytes:
    return (ROOT / "v3" / provider / VERSION / "catalog.zip").read_bytes()


def make_zip(provider: str, rows: list[list[str]], header: list[str] = FIELDS) -> bytes:
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(f"{provider}.csv", text.getvalue())
    return out.getvalue()


def fixture_rows(provider: str) -> list[list[str]]:
    with zipfile.ZipFile(io.BytesIO(fixture_zip(provider))) as archive:
        return list(csv.reader(io.StringIO(archive.read(f"{provider}.csv").decode())))[1:]


def parse_zip(provider: str, data: bytes):
    return GpuhuntCatalogs().parse([raw("gpuhunt", catalog_url(provider, VERSION), data, content_type="application/zip")])


SOURCE = GpuhuntCatalogs(catalogs=("lambdalabs", "datacrunch", "aws"))


def test_fetch_reads_version_then_catalog_and_parses_exact_prices():
    said: list[str] = []
    responses = fetch_all(SOURCE, serve(), said=said)
    assert [r.url for r in responses] == [
        version_url("lambdalabs"), catalog_url("lambdalabs", VERSION),
        version_url("datacrunch"), catalog_url("datacrunch", VERSION),
        version_url("aws"), catalog_url("aws", VERSION),
    ]
    frame = SOURCE.parse(responses)
    got = sorted((r["provider"], r["instance_type"], r["region"], r["pricing"], r["price"]) for r in frame.to_dicts())
    assert got == [
        ("aws", "p5.48xlarge", "us-east-1", "on_demand", 98.32),
        ("lambda", "gpu_1x_h100_pcie", "europe-central-1", "on_demand", 2.49),
        ("lambda", "gpu_8x_h100_sxm5", "europe-central-1", "on_demand", 23.92),
        ("verda", "1H100.80S.30V", "FIN-01", "on_demand", 3.35),
        ("verda", "1H100.80S.30V", "FIN-01", "spot", 1.68),
    ]
    row = frame.filter(instance_type="gpu_8x_h100_sxm5").to_dicts()[0]
    assert (row["gpu_name_raw"], row["gpu_count"], row["gpu_memory_gb"], row["vcpus"], row["ram_gb"]) == (
        "H100", 8.0, 80.0, 208.0, 1800.0,
    )
    assert row["source_url"] == catalog_url("lambdalabs", VERSION)
    offers, quarantined = finalize(frame, "gpuhunt")
    assert offers.height == 5 and quarantined.height == 0


def test_provider_names_are_normalised_to_ours():
    assert [canonical_provider(p) for p in ("lambdalabs", "datacrunch", "verda", "vastai", "AWS")] == [
        "lambda", "verda", "verda", "vastai", "aws",
    ]
    assert set(GpuhuntCatalogs.providers) == {canonical_provider(p) for p in CATALOGS}


def test_a_missing_provider_catalog_is_skipped_not_fatal():
    said: list[str] = []
    source = GpuhuntCatalogs(catalogs=("lambdalabs", "runpod", "aws"))  # no runpod fixture: S3 says 403
    responses = fetch_all(source, serve(), said=said)
    assert {r.url for r in responses} >= {catalog_url("lambdalabs", VERSION), catalog_url("aws", VERSION)}
    assert all(r.status == 200 for r in responses)  # nothing for check_responses to reject
    assert any(line.startswith("skipped runpod: HTTP 403") for line in said)
    assert set(source.parse(responses)["provider"]) == {"lambda", "aws"}


def test_a_catalog_missing_after_its_version_is_skipped(tmp_path):
    # Pagination's analogue here: the version names a catalog that is not there.
    gone = {catalog_url("datacrunch", VERSION): httpx.Response(404, text="NoSuchKey")}
    said: list[str] = []
    responses = fetch_all(SOURCE, serve(gone), said=said)
    assert catalog_url("datacrunch", VERSION) not in [r.url for r in responses]
    assert any("skipped datacrunch: HTTP 404" in line for line in said)
    assert set(SOURCE.parse(responses)["provider"]) == {"lambda", "aws"}


def test_no_catalog_at_all_fails_the_fetch(tmp_path):
    source = GpuhuntCatalogs(catalogs=("runpod", "nebius"))
    outcome, archived = live_fetch(source, serve(), tmp_path)
    assert outcome.status == "failed"
    assert "no provider catalog could be fetched" in outcome.message and "runpod" in outcome.message
    with pytest.raises(SourceError):
        fetch_all(source, serve())


def test_a_transport_error_on_one_provider_is_skipped():
    def respond(request: httpx.Request) -> httpx.Response:
        if "/lambdalabs/" in str(request.url):
            raise httpx.ConnectError("connection refused", request=request)
        return serve()(request)

    said: list[str] = []
    responses = fetch_all(SOURCE, respond, said=said)
    assert any(line.startswith("skipped lambdalabs: version: ConnectError") for line in said)
    assert set(SOURCE.parse(responses)["provider"]) == {"verda", "aws"}


def test_a_version_file_that_is_not_a_version_is_skipped():
    html = {version_url("aws"): httpx.Response(200, text="<html><body>maintenance</body></html>")}
    said: list[str] = []
    responses = fetch_all(SOURCE, serve(html), said=said)
    assert version_url("aws") not in [r.url for r in responses]
    assert any(line.startswith("skipped aws:") and "version name" in line for line in said)


def test_truncated_zip_is_a_parse_error():
    data = fixture_zip("lambdalabs")
    with pytest.raises(ParseError, match="not a valid zip.*truncated"):
        parse_zip("lambdalabs", data[: len(data) // 2])


def test_html_instead_of_a_zip_is_a_parse_error():
    with pytest.raises(ParseError, match="an HTML page"):
        parse_zip("lambdalabs", b"<!DOCTYPE html><html><body>Access denied</body></html>")


def test_zip_without_the_provider_csv_is_a_parse_error():
    with pytest.raises(ParseError, match="'lambdalabs.csv'"):
        parse_zip("lambdalabs", make_zip("aws", fixture_rows("aws")))


@pytest.mark.parametrize("column", ["price", "spot", "gpu_count", "instance_name"])
def test_missing_column_is_named(column):
    index = FIELDS.index(column)
    header = FIELDS[:index] + FIELDS[index + 1:]
    rows = [r[:index] + r[index + 1:] for r in fixture_rows("lambdalabs")]
    with pytest.raises(ParseError, match=f"'{column}'"):
        parse_zip("lambdalabs", make_zip("lambdalabs", rows, header))


def test_columns_are_read_by_name_not_position():
    order = list(reversed(FIELDS))
    rows = [list(reversed(r)) for r in fixture_rows("datacrunch")]
    frame = parse_zip("datacrunch", make_zip("datacrunch", rows, order))
    assert sorted(frame["price"]) == [1.68, 3.35]


def test_flagged_offers_are_skipped():
    rows = fixture_rows("lambdalabs")
    rows[0][FIELDS.index("flags")] = "gcp-dws-calendar-mode"
    frame = parse_zip("lambdalabs", make_zip("lambdalabs", rows))
    assert frame["excluded_by"].to_list() == ["not-a-list-price", None]  # kept, excluded by name
    assert list(frame.filter(pl.col("excluded_by").is_null())["instance_type"]) == ["gpu_1x_h100_pcie"]


@pytest.mark.parametrize("price, reason", [("0", "price of zero"), ("-2.49", "negative price"), ("24900", "absurd price")])
def test_bad_prices_are_quarantined(price, reason):
    rows = fixture_rows("lambdalabs")
    rows[1][FIELDS.index("price")] = price  # gpu_1x_h100_pcie
    offers, quarantined = finalize(parse_zip("lambdalabs", make_zip("lambdalabs", rows)), "gpuhunt")
    assert list(offers["instance_type"]) == ["gpu_8x_h100_sxm5"]
    assert quarantined["reason"][0].startswith(reason)


def test_non_usd_is_quarantined():
    # gpuhunt catalogs are USD by definition (no currency column); this checks that a non-USD
    # row would be quarantined rather than mixed in.
    import polars as pl

    frame = parse_zip("aws", fixture_zip("aws")).with_columns(currency=pl.lit("GBP"))
    offers, quarantined = finalize(frame, "gpuhunt")
    assert offers.height == 0 and set(quarantined["reason"]) == {"currency GBP has no recorded USD rate"}


def test_no_key_is_needed(tmp_path):
    outcome, archived = live_fetch(SOURCE, serve(), tmp_path)
    assert GpuhuntCatalogs.key_env is None
    assert outcome.status == "fetched" and len(archived) == 6
