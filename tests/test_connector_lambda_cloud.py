"""Lambda Cloud connector: prices arrive in cents (sometimes as strings, as in Lambda's own
spec example), the GPU count may be missing from specs, and a sold-out type has no region.
These tests pin those rules on the documented sample response, the failure modes CONTRIBUTING
asks for, and that the API key is sent as a Bearer header but never archived.

The fixture is the example of ``InstanceTypeGetListResponse`` in Lambda's OpenAPI spec
(illustrative values, not real prices); see tests/fixtures/lambda_cloud/PROVENANCE.md."""

from __future__ import annotations

import json

import httpx
import polars as pl
import pytest

from connectors.base import ParseError
from connectors.lambda_cloud import API_URL, LambdaCloud
from tests.connector_checks import FIXTURES, archived_text, finalize, live_fetch, no_network, raw, replay_fetch

BODY = (FIXTURES / "lambda_cloud" / "instance_types_openapi_example.json").read_bytes()
KEY = "secret_lambda_test_0123456789"
SOURCE = LambdaCloud()


def parse(body: bytes = BODY):
    return SOURCE.parse([raw("lambda_cloud", API_URL, body)])


def mutated(edit) -> bytes:
    data = json.loads(BODY)
    edit(data)
    return json.dumps(data).encode()


def test_fixture_parses_with_exact_prices():
    frame = parse()
    rows = {r["instance_type"]: r for r in frame.to_dicts()}
    assert set(rows) == {"gpu_1x_a100", "gpu_4x_a6000"}
    a100, a6000 = rows["gpu_1x_a100"], rows["gpu_4x_a6000"]
    assert (a100["price"], a100["region"], a100["gpu_count"], a100["vcpus"], a100["ram_gb"]) == (0.80, "us-tx-1", 1.0, 24.0, 800.0)
    assert (a6000["price"], a6000["region"], a6000["gpu_count"]) == (1.10, "us-az-1", 4.0)
    # No specs.gpus in the spec's example: the count comes from the name; the GPU text from the
    # description without its "4x " prefix, memory from "(24 GB)".
    assert (a6000["gpu_name_raw"], a6000["gpu_memory_gb"]) == ("RTX 6000 (24 GB)", 24.0)
    assert set(frame["provider"]) == {"lambda"} and set(frame["currency"]) == {"USD"}
    assert set(frame["pricing"]) == {"on_demand"}
    offers, quarantined = finalize(frame, SOURCE.id)
    assert offers.height == 2 and quarantined.height == 0


def test_specs_gpus_wins_over_the_name_and_gpu_description_over_description():
    def edit(data):
        itype = data["data"]["gpu_1x_a100"]["instance_type"]
        itype["specs"]["gpus"] = 2
        itype["gpu_description"] = "A100 (40 GB SXM4)"

    row = parse(mutated(edit)).filter(instance_type="gpu_1x_a100").to_dicts()[0]
    assert (row["gpu_count"], row["gpu_name_raw"], row["gpu_memory_gb"]) == (2.0, "A100 (40 GB SXM4)", 40.0)


def test_sold_out_type_keeps_its_list_price_with_an_empty_region():
    frame = parse(mutated(lambda d: d["data"]["gpu_4x_a6000"].update(regions_with_capacity_available=[])))
    row = frame.filter(instance_type="gpu_4x_a6000").to_dicts()
    assert [(r["region"], r["price"]) for r in row] == [("", 1.10)]


def test_several_regions_give_one_row_each():
    extra = {"description": "Washington, DC", "name": "us-east-1"}
    frame = parse(mutated(lambda d: d["data"]["gpu_1x_a100"]["regions_with_capacity_available"].append(extra)))
    assert sorted(frame.filter(instance_type="gpu_1x_a100")["region"]) == ["us-east-1", "us-tx-1"]


def test_truncated_body_is_a_parse_error():
    with pytest.raises(ParseError, match="truncated"):
        parse(BODY[:-40])


def test_html_page_is_a_parse_error():
    with pytest.raises(ParseError, match="HTML page instead of JSON"):
        parse(b"<html><head><title>502 Bad Gateway</title></head></html>")


@pytest.mark.parametrize(
    "edit, field",
    [
        (lambda d: d.pop("data"), "'data'"),
        (lambda d: d["data"]["gpu_1x_a100"]["instance_type"].pop("price_cents_per_hour"), "'price_cents_per_hour'"),
        (lambda d: d["data"]["gpu_1x_a100"].pop("regions_with_capacity_available"), "'regions_with_capacity_available'"),
        (lambda d: d["data"]["gpu_1x_a100"]["regions_with_capacity_available"][0].pop("name"), "'name'"),
    ],
)
def test_missing_required_field_is_named(edit, field):
    with pytest.raises(ParseError, match=field):
        parse(mutated(edit))


def test_gpu_count_neither_in_specs_nor_in_the_name_is_named():
    def edit(data):
        data["data"]["gpu_1x_a100"]["instance_type"]["name"] = "h100-flex"

    with pytest.raises(ParseError, match="'specs.gpus'"):
        parse(mutated(edit))


@pytest.mark.parametrize(
    "cents, reason",
    [(0, "price of zero"), (-80, "negative price"), (80_000_000, "absurd price")],
)
def test_bad_prices_are_quarantined(cents, reason):
    frame = parse(mutated(lambda d: d["data"]["gpu_1x_a100"]["instance_type"].update(price_cents_per_hour=cents)))
    offers, quarantined = finalize(frame, SOURCE.id)
    assert list(offers["instance_type"]) == ["gpu_4x_a6000"]
    assert quarantined["reason"][0].startswith(reason)


def test_non_usd_is_quarantined():
    # Lambda quotes "US cents per hour" by definition and has no currency field, so the parser
    # always says USD; what is checked here is that a non-USD row would never be mixed in.
    frame = parse().with_columns(currency=pl.lit("EUR"))
    offers, quarantined = finalize(frame, SOURCE.id)
    assert offers.height == 0
    assert set(quarantined["reason"]) == {"currency EUR has no recorded USD rate"}


def test_an_error_response_fails_the_fetch(tmp_path, monkeypatch):
    # One response, no pagination: the early stop Lambda can have is the one page failing.
    monkeypatch.setenv("LAMBDA_API_KEY", KEY)
    error = {"error": {"code": "global/invalid-api-key", "message": "API key is invalid, expired, or deleted."}}
    outcome, archived = live_fetch(SOURCE, lambda r: httpx.Response(401, json=error), tmp_path)
    assert outcome.status == "failed" and "HTTP 401" in outcome.message
    assert len(archived) == 1


def test_without_the_key_a_live_run_is_skipped(tmp_path, monkeypatch):
    monkeypatch.delenv("LAMBDA_API_KEY", raising=False)
    outcome, archived = live_fetch(SOURCE, no_network, tmp_path)
    assert outcome.status == "skipped" and outcome.message.startswith("skipped: no key")
    assert outcome.state["status"] == "skipped"
    assert archived == []


def test_with_the_key_the_request_carries_it_and_the_archive_does_not(tmp_path, monkeypatch):
    monkeypatch.setenv("LAMBDA_API_KEY", KEY)
    seen = []

    def respond(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        assert str(request.url) == API_URL
        assert request.headers["authorization"] == f"Bearer {KEY}"
        return httpx.Response(200, content=BODY, headers={"content-type": "application/json"})

    outcome, archived = live_fetch(SOURCE, respond, tmp_path)
    assert outcome.status == "fetched", outcome.message
    assert len(seen) == 1 and [row["url"] for row in archived] == [API_URL]
    assert KEY not in archived_text(tmp_path, archived)


def test_replay_needs_no_key(tmp_path, monkeypatch):
    monkeypatch.delenv("LAMBDA_API_KEY", raising=False)
    fetched, parsed = replay_fetch(SOURCE, [(API_URL, BODY)], tmp_path)
    assert fetched.status == "fetched", fetched.message
    assert (parsed.status, parsed.offers) == ("ok", 2)
