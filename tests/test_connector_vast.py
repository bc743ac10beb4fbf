"""The `vastai` connector: one row per marketplace offer, keeping the price spread.

Why: Vast is a marketplace, so the useful number is the spread across hosts, not one price per
GPU. These tests pin that every offer stays its own row (two offers of the same GPU stay two
offers after `finalize_offers`), which fields become marketplace / interruptible prices, that
the POST search is replayable byte-for-byte from a snapshot, and that bad input fails clearly
or is quarantined. The fixture is hand-made in the documented field shape (PROVENANCE.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.base import ParseError
from connectors.registry import get_source
from connectors.snapshot import ReplayTransport
from connectors.vast import BUNDLES_URL, REQUEST_BODY, VastSource
from tests.connector_kit import (
    HTML_ERROR_PAGE,
    Recorded,
    as_bytes,
    fetch_checked,
    finalize,
    write_snapshot,
)

FIXTURE = (Path(__file__).parent / "fixtures" / "vastai" / "bundles_handmade.json").read_bytes()


def _recorded(body: bytes, **kw) -> Recorded:
    return Recorded(BUNDLES_URL, body, method="POST", request_body=REQUEST_BODY, **kw)


def _parse(tmp_path, body: bytes = FIXTURE):
    snap = write_snapshot(tmp_path, "vastai", [_recorded(body)])
    source = VastSource()
    return source.parse(fetch_checked(source, ReplayTransport(snap)))


def _with_offer(mutate, index: int = 2) -> bytes:
    doc = json.loads(FIXTURE)
    mutate(doc["offers"][index])  # offer 10000003: 8x H100 SXM
    return as_bytes(doc)


def test_registered():
    assert isinstance(get_source("vastai"), VastSource)
    assert get_source("vastai").key_env is None


def test_request_is_the_documented_filter():
    search = json.loads(REQUEST_BODY)
    assert search["verified"] == {"eq": True}
    assert search["rentable"] == {"eq": True}
    assert search["rented"] == {"eq": False}
    assert search["order"] == [["dph_total", "asc"]]
    assert search["limit"] > 0


def test_parses_one_row_per_offer_and_price(tmp_path):
    parsed = _parse(tmp_path)
    assert parsed.height == 7  # 4 offers marketplace + 3 with a min_bid
    assert parsed.filter(parsed["pricing"] == "marketplace").height == 4
    assert parsed.filter(parsed["pricing"] == "interruptible").height == 3

    rows = {(r["instance_type"], r["pricing"]): r for r in parsed.to_dicts()}
    big = rows[("vast-10000003-8x-H100_SXM", "marketplace")]
    assert (big["price"], big["gpu_count"], big["region"]) == (16.0, 8, "Oslo, NO")
    assert big["gpu_memory_gb"] == pytest.approx(81559 / 1024)
    assert rows[("vast-10000003-8x-H100_SXM", "interruptible")]["price"] == 11.0
    small = rows[("vast-10000001-1x-RTX_4090", "marketplace")]
    assert small["price"] == 0.32  # dph_total, not dph_base (0.30)
    assert small["ram_gb"] == pytest.approx(65536 * 4 / 32 / 1024)  # its share of host RAM
    assert rows[("vast-10000004-1x-H100_SXM", "marketplace")]["region"] == ""  # no geolocation
    assert ("vast-10000002-2x-RTX_4090", "interruptible") not in rows  # min_bid null
    # Vast's payload has no currency; the parser states USD.
    assert set(parsed["currency"]) == {"USD"}


def test_spread_survives_finalize(tmp_path):
    offers, quarantined = finalize(VastSource(), _parse(tmp_path))
    assert (offers.height, quarantined.height) == (7, 0)
    h100 = offers.filter((offers["gpu_name_raw"] == "H100 SXM") & (offers["pricing"] == "marketplace"))
    # two hosts, two per-GPU prices: 2.25 (1 GPU) and 2.00 (16.00 / 8)
    assert sorted(h100["price_usd_per_gpu_hour"].to_list()) == [2.0, 2.25]


def test_truncated_body_is_a_clear_parse_error(tmp_path):
    with pytest.raises(ParseError, match="truncated"):
        _parse(tmp_path, FIXTURE[:-40])


def test_html_page_instead_of_json_is_a_clear_parse_error(tmp_path):
    with pytest.raises(ParseError, match="HTML page instead of JSON"):
        _parse(tmp_path, HTML_ERROR_PAGE)


def test_missing_offers_list_names_it(tmp_path):
    with pytest.raises(ParseError, match="'offers'"):
        _parse(tmp_path, as_bytes({"success": True}))


def test_missing_price_field_names_it(tmp_path):
    with pytest.raises(ParseError, match="'dph_total'.*offers\\[2\\]"):
        _parse(tmp_path, _with_offer(lambda offer: offer.pop("dph_total")))


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (0, "price of zero"),
        (-3.0, "negative price"),
        (1600.0, "absurd price: 200.0 USD per GPU-hour"),  # 8 GPUs
    ],
)
def test_bad_price_is_quarantined_with_reason(tmp_path, value, reason):
    parsed = _parse(tmp_path, _with_offer(lambda offer: offer.update(dph_total=value)))
    offers, quarantined = finalize(VastSource(), parsed)
    row = quarantined.filter(quarantined["pricing"] == "marketplace").to_dicts()
    assert [(r["instance_type"], r["reason"]) for r in row] == [("vast-10000003-8x-H100_SXM", reason)]
    # its min_bid row is still a valid interruptible offer
    assert offers.filter(offers["instance_type"] == "vast-10000003-8x-H100_SXM")["pricing"].to_list() == [
        "interruptible"
    ]
