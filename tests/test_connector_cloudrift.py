"""The `cloudrift` connector: the public instance-types list, prices in US cents.

Why: CloudRift quotes cents, not dollars, and sizes in bytes; these tests pin the conversions
(cents / 100, per-GPU memory = total vram / count), one row per size and data centre, that the
POST replays byte-for-byte from a snapshot, and that bad input fails clearly or is quarantined.
The fixture is hand-made in the shape gpuhunt reads (PROVENANCE.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from connectors.base import ParseError
from connectors.cloudrift import LIST_URL, REQUEST_BODY, CloudriftSource
from connectors.registry import get_source
from connectors.snapshot import ReplayTransport
from tests.connector_kit import (
    HTML_ERROR_PAGE,
    Recorded,
    as_bytes,
    fetch_checked,
    finalize,
    write_snapshot,
)

FIXTURE = (Path(__file__).parent / "fixtures" / "cloudrift" / "instance_types_handmade.json").read_bytes()


def _parse(tmp_path, body: bytes = FIXTURE):
    snap = write_snapshot(tmp_path, "cloudrift", [Recorded(LIST_URL, body, method="POST", request_body=REQUEST_BODY)])
    source = CloudriftSource()
    return source.parse(fetch_checked(source, ReplayTransport(snap)))


def _with_variant(mutate) -> bytes:
    doc = json.loads(FIXTURE)
    mutate(doc["data"]["instance_types"][0]["variants"][0])  # rtx49-7-50-500-nr.1
    return as_bytes(doc)


def test_registered():
    assert isinstance(get_source("cloudrift"), CloudriftSource)
    assert get_source("cloudrift").key_env is None


def test_parses_sizes_per_data_centre_in_dollars(tmp_path):
    parsed = _parse(tmp_path)
    assert parsed.height == 4  # 1 + 2 data centres + 1
    rows = {(r["instance_type"], r["region"]): r for r in parsed.to_dicts()}
    one = rows[("rtx49-7-50-500-nr.1", "us-east-nc-nr-1")]
    assert (one["price"], one["gpu_count"], one["gpu_memory_gb"]) == (0.40, 1, 24.0)
    assert one["ram_gb"] == 50.0
    two = rows[("rtx49-7-50-500-nr.2", "eu-west-nl-1")]
    # vram is the variant's total, handed over as such; the resolver divides it (below).
    assert (two["price"], two["gpu_count"], two["gpu_memory_gb"], two["memory_is_total"]) == (0.80, 2, 48.0, True)
    assert rows[("rtxpro6000-16-100-1000.1", "us-east-nc-nr-1")]["gpu_memory_gb"] == 96.0
    assert set(parsed["currency"]) == {"USD"}  # cents of USD; no currency field in the payload

    offers, quarantined = finalize(CloudriftSource(), parsed)
    assert (offers.height, quarantined.height) == (4, 0)
    assert set(offers.filter(pl.col("instance_type") == "rtx49-7-50-500-nr.2")["gpu_memory_gb"]) == {24.0}


def test_truncated_body_is_a_clear_parse_error(tmp_path):
    with pytest.raises(ParseError, match="truncated"):
        _parse(tmp_path, FIXTURE[:200])


def test_html_page_instead_of_json_is_a_clear_parse_error(tmp_path):
    with pytest.raises(ParseError, match="HTML page instead of JSON"):
        _parse(tmp_path, HTML_ERROR_PAGE)


def test_missing_price_field_names_it(tmp_path):
    with pytest.raises(ParseError, match="'cost_per_hour'"):
        _parse(tmp_path, _with_variant(lambda v: v.pop("cost_per_hour")))


@pytest.mark.parametrize(
    ("cents", "reason"),
    [
        (0, "price of zero"),
        (-40, "negative price"),
        (4_000_000, "absurd price: 40000.0 USD per GPU-hour"),
    ],
)
def test_bad_price_is_quarantined_with_reason(tmp_path, cents, reason):
    parsed = _parse(tmp_path, _with_variant(lambda v: v.update(cost_per_hour=cents)))
    offers, quarantined = finalize(CloudriftSource(), parsed)
    assert quarantined.select("instance_type", "reason").to_dicts() == [
        {"instance_type": "rtx49-7-50-500-nr.1", "reason": reason}
    ]
    assert offers.height == 3
