"""GCP Cloud Billing Catalog connector: machine prices are assembled from core + RAM + GPU
SKUs, so a wrong pattern or unit silently mis-prices every GPU machine; the key travels in the
URL, so it must never reach the archive. These tests pin the assembly to the recorded SKU page
(opencost's real page, whose sum matches Cyclenerd's published price to the cent), and check
every failure mode CONTRIBUTING asks for, plus the key handling."""

from __future__ import annotations

import copy
import json

import httpx
import pytest

from connectors.base import ParseError
from connectors.gcp import API_URL, GcpBillingCatalog
from pipelines.ingest import skip_reason
from tests.connector_checks import FIXTURES, archived_text, fetch_all, finalize, live_fetch, no_network, raw, replay_fetch

PAGE1 = (FIXTURES / "gcp" / "skus_page1.json").read_bytes()
PAGE1_TOKEN = json.loads(PAGE1)["nextPageToken"]
# The recorded page announces a next page that was not recorded; this terminal page is
# hand-made (no SKUs, no token) so that a complete two-page fetch can be replayed.
LAST_PAGE = json.dumps({"skus": [], "nextPageToken": ""}).encode()
KEY = "AIzaTEST-not-a-real-key-123"

SOURCE = GcpBillingCatalog()


def handler(first: bytes = PAGE1, last: bytes | None = LAST_PAGE, last_status: int = 200, key: str | None = None):
    seen: list[httpx.Request] = []

    def respond(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        assert str(request.url).startswith(API_URL)
        assert request.url.params["pageSize"] == "5000"
        if key is not None:
            assert request.url.params["key"] == key
        if request.url.params.get("pageToken") == PAGE1_TOKEN:
            if last is None:
                return httpx.Response(404, json={"error": {"code": 404, "message": "page gone"}})
            return httpx.Response(last_status, content=last, headers={"content-type": "application/json"})
        assert "pageToken" not in request.url.params
        return httpx.Response(200, content=first, headers={"content-type": "application/json"})

    respond.seen = seen  # type: ignore[attr-defined]
    return respond


def parse_pages(first: bytes = PAGE1):
    return SOURCE.parse(fetch_all(SOURCE, handler(first), api_key=KEY))


def mutated(edit) -> bytes:
    page = json.loads(PAGE1)
    edit(page)
    return json.dumps(page).encode()


def sku(page: dict, description: str) -> dict:
    return next(s for s in page["skus"] if s["description"] == description)


def price_of(page: dict, description: str) -> dict:
    return sku(page, description)["pricingInfo"][-1]["pricingExpression"]["tieredRates"][0]["unitPrice"]


def test_fixture_assembles_a2_prices_exactly():
    frame = parse_pages()
    # 5 A100-40GB machine types x 3 regions of the SKUs, on-demand only (the page has no spot
    # or commitment SKUs); the IDR-priced E2/T2D SKUs are not GPU machine families.
    assert frame.height == 15
    assert set(frame["region"]) == {"us-central1", "us-east1", "us-west1"}
    assert set(frame["pricing"]) == {"on_demand"}
    assert set(frame["currency"]) == {"USD"}
    prices = {r["instance_type"]: r["price"] for r in frame.filter(region="us-central1").to_dicts()}
    # 12 x 0.031611 + 85 x 0.004237 + 1 x 2.933908 = 3.673385 (Cyclenerd's hour, same region).
    assert prices == pytest.approx(
        {
            "a2-highgpu-1g": 3.673385,
            "a2-highgpu-2g": 7.34677,
            "a2-highgpu-4g": 14.69354,
            "a2-highgpu-8g": 29.38708,
            "a2-megagpu-16g": 55.739504,
        },
        abs=1e-9,
    )
    row = frame.filter(instance_type="a2-highgpu-1g", region="us-east1").to_dicts()[0]
    assert (row["gpu_name_raw"], row["gpu_count"], row["vcpus"], row["ram_gb"]) == (
        "Nvidia Tesla A100", 1.0, 12.0, 85.0,
    )
    offers, quarantined = finalize(frame, SOURCE.id)
    assert offers.height == 15 and quarantined.height == 0
    a2 = offers.filter(instance_type="a2-highgpu-1g", region="us-east1").to_dicts()[0]
    assert (a2["gpu"], a2["gpu_memory_gb"], a2["identity_basis"]) == ("A100-SXM-40GB", 40.0, "instance table")
    assert "key=***" in row["source_url"] and KEY not in row["source_url"]


def test_spot_and_commitment_skus_map_to_their_pricing_kinds():
    def add_variants(page):
        for usage, prefix in (("Preemptible", "Spot Preemptible "), ("Commit1Yr", "Commitment v1: ")):
            for description in ("A2 Instance Core running in Americas", "A2 Instance Ram running in Americas"):
                variant = copy.deepcopy(sku(page, description))
                variant["description"] = prefix + description
                variant["category"]["usageType"] = usage
                page["skus"].append(variant)
            gpu = copy.deepcopy(sku(page, "Nvidia Tesla A100 GPU running in Americas"))
            gpu["category"]["usageType"] = usage
            gpu["description"] = (
                "Nvidia Tesla A100 GPU attached to Spot Preemptible VMs running in Americas"
                if usage == "Preemptible" else "Commitment v1: Nvidia Tesla A100 GPU running in Americas for 1 Year"
            )
            page["skus"].append(gpu)

    frame = parse_pages(mutated(add_variants))
    assert sorted(set(frame["pricing"])) == ["on_demand", "reserved_1y", "spot"]
    assert frame.filter(pricing="spot").height == 15


def test_truncated_page_is_a_parse_error():
    with pytest.raises(ParseError, match="truncated"):
        SOURCE.parse([raw("gcp", API_URL + "?key=***&pageSize=5000", PAGE1[: len(PAGE1) // 2])])


def test_html_page_is_a_parse_error():
    html = b"<!DOCTYPE html><html><body>Sign in</body></html>"
    with pytest.raises(ParseError, match="HTML page instead of JSON"):
        SOURCE.parse([raw("gcp", API_URL + "?key=***&pageSize=5000", html)])


@pytest.mark.parametrize(
    "edit, field",
    [
        (lambda p: p.pop("skus"), "'skus'"),
        (lambda p: sku(p, "A2 Instance Core running in Americas").pop("pricingInfo"), "'pricingInfo'"),
        (lambda p: sku(p, "A2 Instance Core running in Americas")["category"].pop("usageType"), "'usageType'"),
        (lambda p: price_of(p, "Nvidia Tesla A100 GPU running in Americas").pop("currencyCode"), "'currencyCode'"),
    ],
)
def test_missing_required_field_is_named(edit, field):
    with pytest.raises(ParseError, match=field):
        parse_pages(mutated(edit))


@pytest.mark.parametrize(
    "units, nanos, reason",
    [
        ("0", 0, "price of zero"),
        ("-3", 0, "negative price"),
        ("250", 0, "absurd price"),
    ],
)
def test_bad_prices_are_quarantined_not_dropped(units, nanos, reason):
    def edit(page):
        for description in (
            "Nvidia Tesla A100 GPU running in Americas",
            "A2 Instance Core running in Americas",
            "A2 Instance Ram running in Americas",
        ):
            price_of(page, description).update(units=units, nanos=nanos)

    offers, quarantined = finalize(parse_pages(mutated(edit)), SOURCE.id)
    assert offers.height == 0
    assert quarantined.height == 15
    assert all(r.startswith(reason) for r in quarantined["reason"])


def test_non_usd_prices_are_quarantined():
    def edit(page):
        for description in (
            "Nvidia Tesla A100 GPU running in Americas",
            "A2 Instance Core running in Americas",
            "A2 Instance Ram running in Americas",
        ):
            price_of(page, description)["currencyCode"] = "EUR"

    offers, quarantined = finalize(parse_pages(mutated(edit)), SOURCE.id)
    assert offers.height == 0
    assert set(quarantined["reason"]) == {"currency EUR has no recorded USD rate"}


def test_mixed_currency_components_are_quarantined_not_summed():
    offers, quarantined = finalize(
        parse_pages(mutated(lambda p: price_of(p, "A2 Instance Ram running in Americas").update(currencyCode="IDR"))),
        SOURCE.id,
    )
    assert offers.height == 0
    assert set(quarantined["currency"]) == {"IDR+USD"}


def test_pagination_that_stops_early_fails_the_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("GCP_API_KEY", KEY)
    outcome, archived = live_fetch(SOURCE, handler(last=None), tmp_path)
    assert outcome.status == "failed"
    assert "HTTP 404" in outcome.message and "pageToken=" in outcome.message
    assert len(archived) == 2  # both pages archived, the failing one included


def test_a_page_whose_next_page_was_never_recorded_is_a_parse_error():
    with pytest.raises(ParseError, match="pagination stopped early"):
        SOURCE.parse([raw("gcp", API_URL + "?key=***&pageSize=5000", PAGE1)])


def test_without_the_key_a_live_run_is_skipped(tmp_path, monkeypatch):
    monkeypatch.delenv("GCP_API_KEY", raising=False)
    outcome, archived = live_fetch(SOURCE, no_network, tmp_path)
    assert outcome.status == "skipped"
    assert outcome.message.startswith("skipped: no key")
    assert outcome.state["status"] == "skipped"  # recorded in ingest_runs
    assert archived == []
    assert skip_reason(SOURCE, "replay", None, {}) is None  # replay never needs the key


def test_with_the_key_the_request_carries_it_and_the_archive_does_not(tmp_path, monkeypatch):
    monkeypatch.setenv("GCP_API_KEY", KEY)
    respond = handler(key=KEY)
    outcome, archived = live_fetch(SOURCE, respond, tmp_path)
    assert outcome.status == "fetched", outcome.message
    assert len(respond.seen) == 2 and all(r.url.params["key"] == KEY for r in respond.seen)
    assert all("key=%2A%2A%2A" in row["url"] or "key=***" in row["url"] for row in archived)
    assert KEY not in archived_text(tmp_path, archived)


def test_replay_needs_no_key(tmp_path, monkeypatch):
    monkeypatch.delenv("GCP_API_KEY", raising=False)
    recorded = [
        (f"{API_URL}?key={KEY}&pageSize=5000", PAGE1),
        (f"{API_URL}?key={KEY}&pageSize=5000&pageToken={PAGE1_TOKEN}", LAST_PAGE),
    ]
    fetched, parsed = replay_fetch(SOURCE, recorded, tmp_path)
    assert fetched.status == "fetched", fetched.message
    assert (parsed.status, parsed.offers, parsed.quarantined) == ("ok", 15, 0)
