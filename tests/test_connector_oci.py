"""The `oci` connector on Oracle's real price list (opencost's recorded copy, 2024-01-19).

Why: OCI prices are assembled (GPU part per GPU-hour x a count read from the shape name,
joined through a shape -> part map); these tests pin that arithmetic on real bytes, show the
bundled snapshot replays to the same rows, and show every way the two documents can go wrong
(truncated, HTML, a field gone, a bad or non-USD price, a GPU shape that gains CPU parts) either
fails with a message naming the problem or lands in quarantine with a reason.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import polars as pl
import pytest

from connectors.base import ParseError, SourceError
from connectors.oci import PRICES_URL, SHAPES_URL, OciSource
from connectors.registry import get_source
from connectors.snapshot import ReplayTransport
from tests.connector_kit import (
    HTML_ERROR_PAGE,
    Recorded,
    as_bytes,
    fetch_all,
    fetch_checked,
    finalize,
    mock_transport,
    write_snapshot,
)

FIXTURES = Path(__file__).parent / "fixtures" / "oci"
BUNDLED = Path(__file__).resolve().parent.parent / "snapshots" / "bundled" / "2024-01-19"
PRICES = (FIXTURES / "oci_cetools_products_prices_usd.json").read_bytes()
SHAPES = (FIXTURES / "oci_shape_part_numbers.json").read_bytes()
H100_PART = "B98415"


def _served(prices: bytes = PRICES, shapes: bytes = SHAPES, **prices_kw) -> list[Recorded]:
    return [Recorded(PRICES_URL, prices, **prices_kw), Recorded(SHAPES_URL, shapes)]


def _parse(prices: bytes = PRICES, shapes: bytes = SHAPES):
    source = OciSource()
    return source.parse(fetch_checked(source, mock_transport(_served(prices, shapes))))


def _with_h100(mutate) -> bytes:
    doc = json.loads(PRICES)
    for item in doc["items"]:
        if item["partNumber"] == H100_PART:
            mutate(item)
    return as_bytes(doc)


def _set_h100_value(value: float) -> bytes:
    return _with_h100(lambda item: item["currencyCodeLocalizations"][0]["prices"][0].update(value=value))


def test_registered():
    assert isinstance(get_source("oci"), OciSource)
    assert get_source("oci").key_env is None


def test_parses_real_price_list_through_a_replayed_snapshot(tmp_path):
    snap = write_snapshot(tmp_path, "oci", _served(fetched_at="2024-01-19T00:00:00+00:00"))
    source = OciSource()
    parsed = source.parse(fetch_checked(source, ReplayTransport(snap)))

    # Every shape of the map is a row: the 13 GPU shapes, and 59 CPU shapes excluded by name.
    assert parsed.height == 72
    assert dict(parsed.group_by("excluded_by").len().rows()) == {None: 13, "cpu-only": 59}
    parsed = parsed.filter(pl.col("excluded_by").is_null())
    by_shape = {r["instance_type"]: r for r in parsed.to_dicts()}
    assert by_shape["BM.GPU.H100.8"]["price"] == 80.0  # 10.00 per GPU-hour x 8
    assert by_shape["BM.GPU.H100.8"]["gpu_count"] == 8
    assert by_shape["BM.GPU.A100-v2.8"]["price"] == 32.0  # 4.00 x 8
    assert by_shape["BM.GPU4.8"]["price"] == pytest.approx(24.4)  # 3.05 x 8, A100 40 GB
    assert by_shape["VM.GPU.A10.1"]["price"] == 2.0
    assert by_shape["VM.GPU.A10.2"]["gpu_count"] == 2
    assert by_shape["VM.GPU3.4"]["price"] == pytest.approx(11.8)  # 2.95 x 4
    assert set(parsed["region"]) == {"all"}
    assert set(parsed["pricing"]) == {"on_demand"}
    assert set(parsed["currency"]) == {"USD"}
    assert parsed["observed_at"][0].isoformat().startswith("2024-01-19")

    offers, quarantined = finalize(source, parsed)
    assert offers.height == 12
    # The map (2024-10) names the L40S shape; the 2024-01 price list has no such part yet.
    assert quarantined.select("instance_type", "reason").to_dicts() == [
        {"instance_type": "BM.GPU.L40S.4", "reason": "no price"}
    ]
    h100 = offers.filter(offers["instance_type"] == "BM.GPU.H100.8").to_dicts()[0]
    assert h100["price_usd_per_gpu_hour"] == 10.0
    # OCI names no GPU: the shape is the evidence and the OCI instance table decides.
    identity = {r["instance_type"]: r["gpu"] for r in offers.to_dicts()}
    assert (identity["BM.GPU.A100-v2.8"], identity["BM.GPU4.8"]) == ("A100-SXM-80GB", "A100-SXM-40GB")
    assert set(offers["identity_basis"]) == {"instance table"}


def test_bundled_snapshot_replays_to_the_fixture_rows():
    source = OciSource()
    replayed = source.parse(fetch_checked(source, ReplayTransport(BUNDLED)))
    assert replayed.drop("raw_response_id", "observed_at", "source_url").equals(
        _parse().drop("raw_response_id", "observed_at", "source_url")
    )
    manifest = json.loads((BUNDLED / "manifest.json").read_text())
    assert manifest["snapshot_date"] == "2024-01-19"
    assert {e["url"] for e in manifest["entries"]} == {PRICES_URL, SHAPES_URL}


def test_truncated_price_list_is_a_clear_parse_error():
    with pytest.raises(ParseError, match="truncated"):
        _parse(prices=PRICES[: len(PRICES) // 2])


def test_html_page_instead_of_json_is_a_clear_parse_error():
    with pytest.raises(ParseError, match="HTML page instead of JSON"):
        _parse(shapes=HTML_ERROR_PAGE)


def test_http_error_page_rejects_the_fetch():
    source = OciSource()
    served = _served(PRICES, SHAPES)
    served[0] = Recorded(PRICES_URL, HTML_ERROR_PAGE, status=502, content_type="text/html")
    responses = fetch_all(source, mock_transport(served))
    assert responses[0].status == 502  # yielded, so it is archived
    with pytest.raises(SourceError, match="HTTP 502"):
        fetch_checked(source, mock_transport(served))


def test_missing_price_field_names_it():
    prices = _with_h100(lambda item: item.pop("currencyCodeLocalizations"))
    with pytest.raises(ParseError, match="'currencyCodeLocalizations'"):
        _parse(prices=prices)


def test_missing_gpu_field_in_shape_map_names_it():
    shapes = json.loads(SHAPES)
    del shapes["BM.GPU.H100.8"]["GPU"]
    with pytest.raises(ParseError, match="'GPU'.*BM.GPU.H100.8"):
        _parse(shapes=as_bytes(shapes))


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (0, "price of zero"),
        (-10, "negative price"),
        (1000, "absurd price: 1000.0 USD per GPU-hour"),
    ],
)
def test_bad_price_is_quarantined_with_reason(value, reason):
    source = OciSource()
    offers, quarantined = finalize(source, _parse(prices=_set_h100_value(value)))
    assert "BM.GPU.H100.8" not in offers["instance_type"].to_list()
    row = quarantined.filter(quarantined["instance_type"] == "BM.GPU.H100.8").to_dicts()[0]
    assert row["reason"] == reason


def test_non_usd_price_is_quarantined():
    prices = _with_h100(lambda item: item["currencyCodeLocalizations"][0].update(currencyCode="EUR"))
    offers, quarantined = finalize(OciSource(), _parse(prices=prices))
    row = quarantined.filter(quarantined["instance_type"] == "BM.GPU.H100.8").to_dicts()[0]
    assert row["reason"] == "currency EUR has no recorded USD rate"
    assert row["currency"] == "EUR"
    assert "BM.GPU.H100.8" not in offers["instance_type"].to_list()


def test_usd_is_chosen_when_several_currencies_are_listed():
    def add_eur_first(item):
        usd = item["currencyCodeLocalizations"][0]
        eur = copy.deepcopy(usd)
        eur["currencyCode"] = "EUR"
        eur["prices"][0]["value"] = 9.1
        item["currencyCodeLocalizations"] = [eur, usd]

    parsed = _parse(prices=_with_h100(add_eur_first))
    row = parsed.filter(parsed["instance_type"] == "BM.GPU.H100.8").to_dicts()[0]
    assert (row["price"], row["currency"]) == (80.0, "USD")


def test_gpu_shape_gaining_cpu_parts_fails_rather_than_underpricing():
    shapes = json.loads(SHAPES)
    shapes["BM.GPU.H100.8"]["OCPU"] = "B97384"
    with pytest.raises(ParseError, match="BM.GPU.H100.8.*OCPU"):
        _parse(shapes=as_bytes(shapes))


def test_unreadable_gpu_shape_name_fails_clearly():
    shapes = json.loads(SHAPES)
    shapes["BM.GPU.H100"] = {"OCPU": "", "Memory": "", "GPU": H100_PART, "Disk": ""}
    offers, quarantined = finalize(OciSource(), _parse(shapes=as_bytes(shapes)))
    reason = quarantined.filter(pl.col("instance_type") == "BM.GPU.H100")["reason"].to_list()
    assert len(reason) == 1 and "'BM.GPU.H100'" in reason[0] and "GPU count" in reason[0]
    assert offers.height == 12  # the other shapes still land
