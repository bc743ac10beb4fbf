"""The `runpod` connector: the public GraphQL gpuTypes query and its four price kinds.

Why: RunPod answers one GraphQL POST with four per-GPU prices per GPU type; these tests pin
which field becomes which pricing kind (secure -> on_demand, community, secure spot -> spot,
community spot -> interruptible), that a null means "not offered" (no row) while a zero is
kept and quarantined, that GraphQL errors (HTTP 200 with ``errors``) fail clearly, and that the
POST replays byte-for-byte from a snapshot. The fixture is hand-made (PROVENANCE.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from connectors.base import ParseError
from connectors.registry import get_source
from connectors.runpod import GRAPHQL_URL, REQUEST_BODY, RunpodSource
from connectors.snapshot import ReplayTransport
from tests.connector_kit import (
    HTML_ERROR_PAGE,
    Recorded,
    as_bytes,
    fetch_checked,
    finalize,
    write_snapshot,
)

FIXTURE = (Path(__file__).parent / "fixtures" / "runpod" / "gpu_types_handmade.json").read_bytes()


def _parse(tmp_path, body: bytes = FIXTURE):
    snap = write_snapshot(
        tmp_path, "runpod", [Recorded(GRAPHQL_URL, body, method="POST", request_body=REQUEST_BODY)]
    )
    source = RunpodSource()
    return source.parse(fetch_checked(source, ReplayTransport(snap)))


def _with_gpu(mutate, index: int = 0) -> bytes:
    doc = json.loads(FIXTURE)
    mutate(doc["data"]["gpuTypes"][index])  # NVIDIA A100 80GB PCIe
    return as_bytes(doc)


def test_registered():
    assert isinstance(get_source("runpod"), RunpodSource)
    assert get_source("runpod").key_env is None


def test_query_asks_for_every_price_field():
    query = json.loads(REQUEST_BODY)["query"]
    for field in ("securePrice", "communityPrice", "secureSpotPrice", "communitySpotPrice", "memoryInGb"):
        assert field in query


def test_parses_four_price_kinds_per_gpu(tmp_path):
    parsed = _parse(tmp_path)
    # 4 GPU types x 4 price fields; a null price (not offered that way) is an excluded row.
    assert parsed.height == 16
    assert parsed["excluded_by"].drop_nulls().to_list() == ["no-price-offered"] * 4
    parsed = parsed.filter(pl.col("excluded_by").is_null())
    rows = {(r["instance_type"], r["pricing"]): r for r in parsed.to_dicts()}
    assert rows[("NVIDIA A100 80GB PCIe", "on_demand")]["price"] == 1.9
    assert rows[("NVIDIA A100 80GB PCIe", "community")]["price"] == 1.6
    assert rows[("NVIDIA A100 80GB PCIe", "spot")]["price"] == 1.2
    assert rows[("NVIDIA A100 80GB PCIe", "interruptible")]["price"] == 1.0
    assert ("NVIDIA H100 80GB HBM3", "community") not in rows  # null: not offered
    assert rows[("NVIDIA H100 80GB HBM3", "on_demand")]["gpu_name_raw"] == "H100 SXM"
    assert rows[("AMD Instinct MI300X OAM", "on_demand")]["gpu_memory_gb"] == 192
    assert set(parsed["gpu_count"]) == {1.0}  # per-GPU list prices
    assert set(parsed["region"]) == {"all"}
    # RunPod quotes credits (1 credit = 1 USD) and no currency field; the parser states USD.
    assert set(parsed["currency"]) == {"USD"}


def test_zero_spot_price_is_quarantined_not_dropped(tmp_path):
    offers, quarantined = finalize(RunpodSource(), _parse(tmp_path))
    assert offers.height == 11
    assert quarantined.select("instance_type", "pricing", "reason").to_dicts() == [
        {"instance_type": "AMD Instinct MI300X OAM", "pricing": "spot", "reason": "price of zero"}
    ]


def test_graphql_error_is_a_clear_parse_error(tmp_path):
    body = as_bytes({"errors": [{"message": "Cannot query field \"securePrice\" on type \"GpuType\"."}], "data": None})
    with pytest.raises(ParseError, match="GraphQL error.*securePrice"):
        _parse(tmp_path, body)


def test_truncated_body_is_a_clear_parse_error(tmp_path):
    with pytest.raises(ParseError, match="truncated"):
        _parse(tmp_path, FIXTURE[: len(FIXTURE) // 3])


def test_html_page_instead_of_json_is_a_clear_parse_error(tmp_path):
    with pytest.raises(ParseError, match="HTML page instead of JSON"):
        _parse(tmp_path, HTML_ERROR_PAGE)


def test_missing_price_field_names_it(tmp_path):
    with pytest.raises(ParseError, match="'securePrice'.*gpuTypes\\[0\\]"):
        _parse(tmp_path, _with_gpu(lambda gpu: gpu.pop("securePrice")))


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (0, "price of zero"),
        (-0.5, "negative price"),
        (190.0, "absurd price: 190.0 USD per GPU-hour"),  # cents read as dollars
    ],
)
def test_bad_price_is_quarantined_with_reason(tmp_path, value, reason):
    offers, quarantined = finalize(RunpodSource(), _parse(tmp_path, _with_gpu(lambda gpu: gpu.update(securePrice=value))))
    row = quarantined.filter(
        (quarantined["instance_type"] == "NVIDIA A100 80GB PCIe") & (quarantined["pricing"] == "on_demand")
    ).to_dicts()
    assert [r["reason"] for r in row] == [reason]
    a100 = offers.filter(offers["instance_type"] == "NVIDIA A100 80GB PCIe")
    assert sorted(a100["pricing"].to_list()) == ["community", "interruptible", "spot"]
