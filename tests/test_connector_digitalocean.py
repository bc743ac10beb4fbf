"""DigitalOcean sizes connector: GPU sizes hide among CPU Droplets, VRAM is an instance total
and memory is in MiB, and the list is paginated by absolute next links. These tests pin the
parse on gpuhunt's trimmed mirror of the live /v2/sizes response (prices may be
illustrative; see tests/fixtures/digitalocean/PROVENANCE.md), the failure modes CONTRIBUTING
asks for, and that the token is sent but never archived."""

from __future__ import annotations

import json

import httpx
import polars as pl
import pytest

from connectors.base import ParseError
from connectors.digitalocean import FIRST_PAGE_URL, DigitalOceanSizes
from tests.connector_checks import FIXTURES, archived_text, fetch_all, finalize, live_fetch, no_network, raw, replay_fetch

PAGE = (FIXTURES / "digitalocean" / "v2_sizes.json").read_bytes()
SECOND_URL = "https://api.digitalocean.com/v2/sizes?page=2&per_page=200"
TOKEN = "dop_v1_TEST_0123456789abcdef"
SOURCE = DigitalOceanSizes()


def with_next(data: bytes = PAGE, next_url: str = SECOND_URL) -> bytes:
    page = json.loads(data)
    page["links"] = {"pages": {"next": next_url, "last": next_url}}
    return json.dumps(page).encode()


# Hand-made terminal page (the fixture is a single page): no sizes, no next link.
LAST_PAGE = json.dumps({"sizes": [], "links": {"pages": {"first": FIRST_PAGE_URL}}, "meta": {"total": 3}}).encode()


def parse(data: bytes = PAGE):
    return SOURCE.parse([raw("digitalocean", FIRST_PAGE_URL, data)])


def mutated(edit) -> bytes:
    page = json.loads(PAGE)
    edit(page)
    return json.dumps(page).encode()


def serve(first: bytes = PAGE, second: bytes | None = LAST_PAGE, second_status: int = 200):
    seen: list[httpx.Request] = []

    def respond(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        if str(request.url) == FIRST_PAGE_URL:
            return httpx.Response(200, content=first, headers={"content-type": "application/json"})
        if str(request.url) == SECOND_URL and second is not None:
            return httpx.Response(second_status, content=second, headers={"content-type": "application/json"})
        return httpx.Response(404, json={"id": "not_found", "message": "The resource you requested could not be found."})

    respond.seen = seen  # type: ignore[attr-defined]
    return respond


def test_fixture_parses_with_exact_prices():
    frame = parse()
    gpus = frame.filter(pl.col("gpu_count").is_not_null())
    got = sorted((r["instance_type"], r["region"], r["price"], r["gpu_name_raw"], r["gpu_count"], r["gpu_memory_gb"]) for r in gpus.to_dicts())
    assert got == [
        # gpu_info.vram is the size's total, handed over as such (memory_is_total).
        ("gpu-h100x8-640gb", "nyc1", 23.92, "nvidia_h100", 8.0, 640.0),
        ("gpu-mi300x8-1536gb", "nyc1", 15.92, "amd_mi300x", 8.0, 1536.0),
    ]
    assert set(gpus["memory_is_total"]) == {True}
    h100 = gpus.filter(instance_type="gpu-h100x8-640gb").to_dicts()[0]
    assert (h100["vcpus"], h100["ram_gb"], h100["currency"], h100["pricing"]) == (160.0, 1920.0, "USD", "on_demand")
    # the CPU Droplet is parsed (8 regions) but has no GPU: finalize_offers drops it.
    assert frame.filter(instance_type="s-1vcpu-512mb-10gb").height == 8
    offers, quarantined = finalize(frame, SOURCE.id)
    assert offers.height == 2 and quarantined.height == 0
    identity = {r["instance_type"]: (r["gpu"], r["gpu_memory_gb"], r["identity_basis"]) for r in offers.to_dicts()}
    assert identity == {
        "gpu-h100x8-640gb": ("H100-SXM-80GB", 80.0, "instance table"),
        "gpu-mi300x8-1536gb": ("MI300X-192GB", 192.0, "instance table"),
    }


def test_size_with_no_region_keeps_its_list_price():
    frame = parse(mutated(lambda p: p["sizes"][1].update(regions=[])))
    assert frame.filter(instance_type="gpu-h100x8-640gb")[["region", "price"]].rows() == [("", 23.92)]


def test_truncated_body_is_a_parse_error():
    with pytest.raises(ParseError, match="truncated"):
        parse(PAGE[:-100])


def test_html_page_is_a_parse_error():
    with pytest.raises(ParseError, match="HTML page instead of JSON"):
        parse(b"<!DOCTYPE html><html><body>Service Unavailable</body></html>")


@pytest.mark.parametrize(
    "edit, field",
    [
        (lambda p: p.pop("sizes"), "'sizes'"),
        (lambda p: p["sizes"][1].pop("price_hourly"), "'price_hourly'"),
        (lambda p: p["sizes"][1].pop("regions"), "'regions'"),
        (lambda p: p["sizes"][2]["gpu_info"].pop("count"), "'count'"),
    ],
)
def test_missing_required_field_is_named(edit, field):
    with pytest.raises(ParseError, match=field):
        parse(mutated(edit))


@pytest.mark.parametrize("value, reason", [(0, "price of zero"), (-23.92, "negative price"), (23_920.0, "absurd price")])
def test_bad_prices_are_quarantined(value, reason):
    offers, quarantined = finalize(parse(mutated(lambda p: p["sizes"][1].update(price_hourly=value))), SOURCE.id)
    assert list(offers["instance_type"]) == ["gpu-mi300x8-1536gb"]
    assert list(quarantined["instance_type"]) == ["gpu-h100x8-640gb"]
    assert quarantined["reason"][0].startswith(reason)


def test_non_usd_is_quarantined():
    # DigitalOcean quotes USD only and has no currency field, so the parser always says USD;
    # this checks that a non-USD row would be quarantined rather than mixed in.
    offers, quarantined = finalize(parse().with_columns(currency=pl.lit("EUR")), SOURCE.id)
    assert offers.height == 0 and set(quarantined["reason"]) == {"currency EUR has no recorded USD rate"}


def test_pagination_follows_next_links():
    responses = fetch_all(SOURCE, serve(first=with_next()), api_key=TOKEN)
    assert [r.url for r in responses] == [FIRST_PAGE_URL, SECOND_URL]
    assert SOURCE.parse(responses).filter(pl.col("gpu_count").is_not_null()).height == 2


def test_pagination_that_stops_early_fails_the_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITALOCEAN_TOKEN", TOKEN)
    outcome, archived = live_fetch(SOURCE, serve(first=with_next(), second=None), tmp_path)
    assert outcome.status == "failed" and "HTTP 404" in outcome.message and "page=2" in outcome.message
    assert len(archived) == 2


def test_a_page_whose_next_page_was_never_recorded_is_a_parse_error():
    with pytest.raises(ParseError, match="pagination stopped early"):
        parse(with_next())


def test_without_the_token_a_live_run_is_skipped(tmp_path, monkeypatch):
    monkeypatch.delenv("DIGITALOCEAN_TOKEN", raising=False)
    outcome, archived = live_fetch(SOURCE, no_network, tmp_path)
    assert outcome.status == "skipped" and outcome.message.startswith("skipped: no key")
    assert outcome.state["status"] == "skipped" and archived == []


def test_with_the_token_requests_carry_it_and_the_archive_does_not(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITALOCEAN_TOKEN", TOKEN)
    respond = serve(first=with_next())
    outcome, archived = live_fetch(SOURCE, respond, tmp_path)
    assert outcome.status == "fetched", outcome.message
    assert len(respond.seen) == 2  # the handler asserted the Bearer header on each
    assert sorted(row["url"] for row in archived) == sorted([FIRST_PAGE_URL, SECOND_URL])
    assert TOKEN not in archived_text(tmp_path, archived)


def test_replay_needs_no_token(tmp_path, monkeypatch):
    monkeypatch.delenv("DIGITALOCEAN_TOKEN", raising=False)
    fetched, parsed = replay_fetch(SOURCE, [(FIRST_PAGE_URL, with_next()), (SECOND_URL, LAST_PAGE)], tmp_path)
    assert fetched.status == "fetched", fetched.message
    assert (parsed.status, parsed.offers) == ("ok", 2)
