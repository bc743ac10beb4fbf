"""The `vultr` connector: plans + bare-metal plans, cursor pagination, fractional GPUs.

Why: Vultr is the one no-key source here that pages (``meta.links.next`` cursors), so these
tests show every page is followed and that a pagination that stops early (an error page, an
unrecorded page, a recorded set missing its last page) fails instead of publishing short data.
They also pin the GPU-count arithmetic (``gpu_vram_gb`` / per-GPU memory, fractions kept; the
bare-metal id convention), the monthly fallback, and that bad input fails clearly or is
quarantined. Fixtures are gpuhunt's hand-trimmed mirrors of live responses (see PROVENANCE.md);
paginated variants are built here from them.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from connectors.base import ParseError, SourceError
from connectors.registry import get_source
from connectors.snapshot import ReplayTransport
from connectors.vultr import METAL_URL, PLANS_URL, VultrSource
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

FIXTURES = Path(__file__).parent / "fixtures" / "vultr"
PLANS = (FIXTURES / "vultr_v2_plans_excerpt.json").read_bytes()
METAL = (FIXTURES / "vultr_v2_plans-metal_excerpt.json").read_bytes()


def _parse(plans: bytes = PLANS, metal: bytes = METAL):
    source = VultrSource()
    served = [Recorded(PLANS_URL, plans), Recorded(METAL_URL, metal)]
    return source.parse(fetch_checked(source, mock_transport(served)))


def _plans_with(mutate) -> bytes:
    doc = json.loads(PLANS)
    mutate(doc["plans"][1])  # vcg-a100-12c-120g-80vram
    return as_bytes(doc)


def _paged_plans() -> tuple[bytes, bytes]:
    """The plans excerpt split over two pages linked by a cursor (test-built)."""
    doc = json.loads(PLANS)
    page1 = {"plans": doc["plans"][:2], "meta": {"total": 3, "links": {"next": "bmV4dF9fMg==", "prev": ""}}}
    page2 = {"plans": doc["plans"][2:], "meta": {"total": 3, "links": {"next": "", "prev": "cHJldl9fMQ=="}}}
    return as_bytes(page1), as_bytes(page2)


PAGE2_URL = PLANS_URL + "&cursor=bmV4dF9fMg%3D%3D"


def test_registered():
    assert isinstance(get_source("vultr"), VultrSource)
    assert get_source("vultr").key_env is None


def test_parses_vm_and_bare_metal_plans():
    parsed = _parse()
    assert parsed.height == 7  # 3 vcg plans + 2 bare-metal plans x (on-demand, spot)
    rows = {(r["instance_type"], r["pricing"]): r for r in parsed.to_dicts()}

    small = rows[("vcg-a100-1c-6g-4vram", "on_demand")]
    # The plan's GPU memory is handed over as its total; the count is decided downstream.
    assert (small["gpu_memory_gb"], small["memory_is_total"], small["gpu_count"]) == (4.0, True, None)
    assert small["price"] == 0.123
    assert small["region"] == "ewr"

    mi300x = rows[("vbm-256c-2048gb-8-mi300x-gpu", "on_demand")]
    assert (mi300x["gpu_name_raw"], mi300x["gpu_count"], mi300x["price"]) == ("MI300X", 8.0, 17.52)
    assert rows[("vbm-256c-2048gb-8-mi300x-gpu", "spot")]["price"] == 14.72
    assert rows[("vbm-112c-2048gb-8-h100-gpu", "on_demand")]["price"] == 23.92
    assert rows[("vbm-112c-2048gb-8-h100-gpu", "spot")]["region"] == "sea"
    # The API quotes no currency; the parser states USD rather than leaving it implied.
    assert set(parsed["currency"]) == {"USD"}

    offers, quarantined = finalize(VultrSource(), parsed)
    assert (offers.height, quarantined.height) == (7, 0)
    counts = {r["instance_type"]: r["gpu_count"] for r in offers.to_dicts()}
    assert counts["vcg-a100-1c-6g-4vram"] == pytest.approx(0.05)  # 4 GB of an 80 GB A100: kept fractional
    assert counts["vcg-a100-12c-120g-80vram"] == 1.0 and counts["vcg-a100-6c-60g-40vram"] == 0.5
    small_offer = offers.filter(offers["instance_type"] == "vcg-a100-1c-6g-4vram").to_dicts()[0]
    assert small_offer["price_usd_per_gpu_hour"] == pytest.approx(2.46)  # a whole A100's price
    assert "fractional" in small_offer["identity_note"]
    mi300 = offers.filter(offers["instance_type"] == "vbm-256c-2048gb-8-mi300x-gpu").to_dicts()[0]
    assert (mi300["gpu"], mi300["gpu_memory_gb"]) == ("MI300X-192GB", 192.0)


def test_follows_every_page_through_a_replayed_snapshot(tmp_path):
    page1, page2 = _paged_plans()
    snap = write_snapshot(
        tmp_path,
        "vultr",
        [Recorded(PLANS_URL, page1), Recorded(PAGE2_URL, page2), Recorded(METAL_URL, METAL)],
    )
    source = VultrSource()
    responses = fetch_checked(source, ReplayTransport(snap))
    assert [r.url for r in responses] == [PLANS_URL, PAGE2_URL, METAL_URL]
    parsed = source.parse(responses)
    assert sorted(parsed["instance_type"].to_list()) == sorted(_parse()["instance_type"].to_list())
    # each row points at the page it came from
    last = parsed.filter(parsed["instance_type"] == "vcg-a100-6c-60g-40vram").to_dicts()[0]
    assert last["source_url"] == PAGE2_URL


def test_pagination_stopping_at_an_error_page_fails(tmp_path):
    page1, _ = _paged_plans()
    snap = write_snapshot(
        tmp_path,
        "vultr",
        [
            Recorded(PLANS_URL, page1),
            Recorded(PAGE2_URL, HTML_ERROR_PAGE, status=404, content_type="text/html"),
            Recorded(METAL_URL, METAL),
        ],
    )
    responses = fetch_all(VultrSource(), ReplayTransport(snap))
    assert [r.status for r in responses] == [200, 404]  # the failing page is yielded (archived)
    with pytest.raises(SourceError, match="HTTP 404"):
        fetch_checked(VultrSource(), ReplayTransport(snap))


def test_pagination_to_a_missing_page_fails(tmp_path):
    page1, _ = _paged_plans()
    snap = write_snapshot(tmp_path, "vultr", [Recorded(PLANS_URL, page1), Recorded(METAL_URL, METAL)])
    with pytest.raises(httpx.TransportError, match="no recorded response.*cursor"):
        fetch_all(VultrSource(), ReplayTransport(snap))


def test_recorded_pages_missing_the_announced_next_page_fail_in_parse(tmp_path):
    page1, page2 = _paged_plans()
    snap = write_snapshot(
        tmp_path,
        "vultr",
        [Recorded(PLANS_URL, page1), Recorded(PAGE2_URL, page2), Recorded(METAL_URL, METAL)],
    )
    responses = fetch_checked(VultrSource(), ReplayTransport(snap))
    # An archive that lost its last page must not parse into a silently shorter offer list.
    without_page2 = [r for r in responses if r.url != PAGE2_URL]
    with pytest.raises(ParseError, match="pagination stopped early.*bmV4dF9fMg=="):
        VultrSource().parse(without_page2)


def test_truncated_body_is_a_clear_parse_error():
    with pytest.raises(ParseError, match="truncated"):
        _parse(metal=METAL[:400])


def test_html_page_instead_of_json_is_a_clear_parse_error():
    with pytest.raises(ParseError, match="HTML page instead of JSON"):
        _parse(plans=HTML_ERROR_PAGE)


def test_missing_gpu_field_names_it():
    with pytest.raises(ParseError, match="'gpu_vram_gb'"):
        _parse(plans=_plans_with(lambda plan: plan.pop("gpu_vram_gb")))


def test_missing_hourly_falls_back_to_monthly_over_672_hours():
    parsed = _parse(plans=_plans_with(lambda plan: plan.pop("hourly_cost")))
    row = parsed.filter(parsed["instance_type"] == "vcg-a100-12c-120g-80vram").to_dicts()[0]
    assert row["price"] == pytest.approx(1750 / 672)


def test_missing_hourly_and_monthly_names_hourly_cost():
    def strip(plan):
        plan.pop("hourly_cost")
        plan.pop("monthly_cost")

    with pytest.raises(ParseError, match="'hourly_cost'"):
        _parse(plans=_plans_with(strip))


def test_unknown_gpu_model_is_quarantined_rather_than_given_a_guessed_count():
    """A model the Vultr instance table does not know: the count (total / card memory) cannot be
    told, so the row is quarantined with the reason and the other plans still land."""
    parsed = _parse(plans=_plans_with(lambda plan: plan.update(gpu_type="NVIDIA_B300", id="vcg-b300-12c-120g-80vram")))
    offers, quarantined = finalize(VultrSource(), parsed)
    reasons = quarantined.filter(quarantined["instance_type"] == "vcg-b300-12c-120g-80vram")["reason"].to_list()
    assert reasons and all("GPU count unknown" in r for r in reasons)
    assert offers.filter(offers["instance_type"].str.starts_with("vcg-a100")).height == 2


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (0, "price of zero"),  # e.g. a free-tier plan
        (-1.5, "negative price"),
        (2397.0, "absurd price: 2397.0 USD per GPU-hour"),  # monthly-sized number as hourly
    ],
)
def test_bad_price_is_quarantined_with_reason(value, reason):
    parsed = _parse(plans=_plans_with(lambda plan: plan.update(hourly_cost=value)))
    offers, quarantined = finalize(VultrSource(), parsed)
    assert "vcg-a100-12c-120g-80vram" not in offers["instance_type"].to_list()
    row = quarantined.filter(quarantined["instance_type"] == "vcg-a100-12c-120g-80vram").to_dicts()[0]
    assert row["reason"] == reason
