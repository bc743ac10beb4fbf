"""Verda (DataCrunch) connector: OAuth client credentials, prices as strings, and offers placed
by a separate availability call. The client secret and the access token are the two secrets
that could leak into the archive; these tests check neither does, pin the parse on gpuhunt's
trimmed mirrors of the live responses, and check the failure modes CONTRIBUTING asks for.

The fixture prices may be illustrative (gpuhunt's test literals); see
tests/fixtures/verda/PROVENANCE.md."""

from __future__ import annotations

import json

import httpx
import polars as pl
import pytest

from connectors.base import MissingKey, ParseError, SourceError
from connectors.verda import AVAILABILITY_URL, TOKEN_URL, TYPES_URL, VerdaCloud
from tests.connector_checks import FIXTURES, archived_text, fetch_all, finalize, live_fetch, no_network, raw, replay_fetch

TYPES = (FIXTURES / "verda" / "instance_types.json").read_bytes()
AVAILABILITY = (FIXTURES / "verda" / "instance_availability.json").read_bytes()
CLIENT_ID = "verda-client-id-test"
SECRET = "verda-client-secret-TEST-0123"
TOKEN = "eyJ-access-token-TEST-4567"
AVAILABILITY_QUERY = AVAILABILITY_URL + "?is_spot=false"
SOURCE = VerdaCloud()


def parse(types: bytes = TYPES, availability: bytes = AVAILABILITY):
    return SOURCE.parse([raw("verda", TYPES_URL, types), raw("verda", AVAILABILITY_QUERY, availability)])


def mutated(data: bytes, edit) -> bytes:
    loaded = json.loads(data)
    edit(loaded)
    return json.dumps(loaded).encode()


def serve(types_status: int = 200, availability_status: int = 200, token_status: int = 200):
    seen: list[httpx.Request] = []

    def respond(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        url = str(request.url)
        if url == TOKEN_URL:
            assert request.method == "POST"
            assert json.loads(request.content) == {
                "grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": SECRET,
            }
            return httpx.Response(token_status, json={"access_token": TOKEN, "refresh_token": "r-TEST", "expires_in": 3600})
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        if url == TYPES_URL:
            return httpx.Response(types_status, content=TYPES, headers={"content-type": "application/json"})
        if url == AVAILABILITY_QUERY:
            return httpx.Response(availability_status, content=AVAILABILITY, headers={"content-type": "application/json"})
        raise AssertionError(f"unexpected {url}")

    respond.seen = seen  # type: ignore[attr-defined]
    return respond


def test_fixture_parses_with_exact_prices():
    frame = parse()
    got = sorted((r["instance_type"], r["region"], r["pricing"], r["price"]) for r in frame.filter(pl.col("gpu_count") > 0).to_dicts())
    assert got == [
        # 1H100.80S.30V is in no location's availabilities: list price, region "".
        ("1H100.80S.30V", "", "on_demand", 3.95),
        ("1H100.80S.30V", "", "spot", 1.70),
        ("1V100.6V", "FIN-01", "on_demand", 0.89),
        ("1V100.6V", "FIN-01", "spot", 0.25),
        ("2A6000.20V", "FIN-01", "on_demand", 1.98),
        ("2A6000.20V", "FIN-01", "spot", 0.70),
    ]
    a6000 = frame.filter(instance_type="2A6000.20V", pricing="on_demand").to_dicts()[0]
    # gpu_memory.size_in_gigabytes is the instance's total (96 for 2 GPUs), handed over as such.
    assert (a6000["gpu_name_raw"], a6000["gpu_count"], a6000["gpu_memory_gb"], a6000["memory_is_total"],
            a6000["vcpus"], a6000["ram_gb"]) == ("RTX A6000 48GB", 2.0, 96.0, True, 20.0, 120.0)
    assert set(frame["currency"]) == {"USD"} and set(frame["provider"]) == {"verda"}
    offers, quarantined = finalize(frame, SOURCE.id)
    assert offers.height == 6 and quarantined.height == 0  # the CPU type (0 GPUs) is excluded
    two = offers.filter(instance_type="2A6000.20V", pricing="on_demand").to_dicts()[0]
    assert (two["gpu"], two["gpu_memory_gb"], two["identity_basis"]) == ("RTXA6000-48GB", 48.0, "instance table")


def test_truncated_body_is_a_parse_error():
    with pytest.raises(ParseError, match="truncated"):
        parse(types=TYPES[: len(TYPES) // 2])


def test_html_page_is_a_parse_error():
    with pytest.raises(ParseError, match="HTML page instead of JSON"):
        parse(availability=b"<!doctype html><html><body>Cloudflare</body></html>")


@pytest.mark.parametrize(
    "which, edit, field",
    [
        ("types", lambda d: d[0].pop("price_per_hour"), "'price_per_hour'"),
        ("types", lambda d: d[1]["gpu"].pop("number_of_gpus"), "'number_of_gpus'"),
        ("types", lambda d: d[0].pop("instance_type"), "'instance_type'"),
        ("availability", lambda d: d[0].pop("availabilities"), "'availabilities'"),
    ],
)
def test_missing_required_field_is_named(which, edit, field):
    with pytest.raises(ParseError, match=field):
        if which == "types":
            parse(types=mutated(TYPES, edit))
        else:
            parse(availability=mutated(AVAILABILITY, edit))


@pytest.mark.parametrize("value, reason", [("0.00", "price of zero"), ("-1.98", "negative price"), ("1980", "absurd price")])
def test_bad_prices_are_quarantined(value, reason):
    frame = parse(types=mutated(TYPES, lambda d: d[1].update(price_per_hour=value)))  # 2A6000.20V
    offers, quarantined = finalize(frame, SOURCE.id)
    assert [(r["instance_type"], r["pricing"]) for r in quarantined.to_dicts()] == [("2A6000.20V", "on_demand")]
    assert quarantined["reason"][0].startswith(reason)
    assert offers.height == 5


def test_non_usd_is_quarantined():
    frame = parse(types=mutated(TYPES, lambda d: d[0].update(currency="eur")))  # 1H100.80S.30V
    offers, quarantined = finalize(frame, SOURCE.id)
    assert set(quarantined["instance_type"]) == {"1H100.80S.30V"}
    assert set(quarantined["reason"]) == {"currency EUR has no recorded USD rate"}


def test_a_fetch_that_stops_before_availability_fails(tmp_path, monkeypatch):
    monkeypatch.setenv("VERDA_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("VERDA_CLIENT_SECRET", SECRET)
    outcome, archived = live_fetch(SOURCE, serve(availability_status=500), tmp_path)
    assert outcome.status == "failed" and "HTTP 500" in outcome.message and "instance-availability" in outcome.message
    assert len(archived) == 2
    with pytest.raises(ParseError, match="no instance-availability response"):
        SOURCE.parse([raw("verda", TYPES_URL, TYPES)])


def test_a_failed_token_request_fails_without_quoting_it(tmp_path, monkeypatch):
    monkeypatch.setenv("VERDA_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("VERDA_CLIENT_SECRET", SECRET)
    outcome, archived = live_fetch(SOURCE, serve(token_status=401), tmp_path)
    assert outcome.status == "failed" and "token request failed with HTTP 401" in outcome.message
    assert SECRET not in outcome.message and archived == []


def test_without_the_secret_a_live_run_is_skipped(tmp_path, monkeypatch):
    monkeypatch.delenv("VERDA_CLIENT_SECRET", raising=False)
    monkeypatch.setenv("VERDA_CLIENT_ID", CLIENT_ID)
    outcome, archived = live_fetch(SOURCE, no_network, tmp_path)
    assert outcome.status == "skipped" and outcome.message.startswith("skipped: no key")
    assert outcome.state["status"] == "skipped" and archived == []


def test_without_the_client_id_the_fetch_says_which_variable(monkeypatch):
    monkeypatch.delenv("VERDA_CLIENT_ID", raising=False)
    with pytest.raises(MissingKey, match="VERDA_CLIENT_ID"):
        fetch_all(SOURCE, no_network, api_key=SECRET)


def test_with_credentials_requests_carry_them_and_the_archive_does_not(tmp_path, monkeypatch):
    monkeypatch.setenv("VERDA_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("VERDA_CLIENT_SECRET", SECRET)
    respond = serve()
    outcome, archived = live_fetch(SOURCE, respond, tmp_path)
    assert outcome.status == "fetched", outcome.message
    assert [str(r.url) for r in respond.seen] == [TOKEN_URL, TYPES_URL, AVAILABILITY_QUERY]
    assert sorted(row["url"] for row in archived) == [AVAILABILITY_QUERY, TYPES_URL]  # no token exchange
    text = archived_text(tmp_path, archived)
    for secret in (SECRET, TOKEN, CLIENT_ID, "r-TEST"):
        assert secret not in text


def test_source_error_is_not_swallowed_when_token_has_no_access_token(monkeypatch):
    monkeypatch.setenv("VERDA_CLIENT_ID", CLIENT_ID)

    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"error": "invalid_client"})

    with pytest.raises(SourceError, match="no 'access_token'"):
        fetch_all(SOURCE, respond, api_key=SECRET)


def test_replay_needs_no_credentials_and_no_token_exchange(tmp_path, monkeypatch):
    monkeypatch.delenv("VERDA_CLIENT_ID", raising=False)
    monkeypatch.delenv("VERDA_CLIENT_SECRET", raising=False)
    fetched, parsed = replay_fetch(SOURCE, [(TYPES_URL, TYPES), (AVAILABILITY_QUERY, AVAILABILITY)], tmp_path)
    assert fetched.status == "fetched", fetched.message
    assert (parsed.status, parsed.offers) == ("ok", 6)
