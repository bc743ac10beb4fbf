"""Why: every connector goes through one HTTP policy (connectors.http) and one record/replay
mechanism (connectors.snapshot). These tests pin that policy without a network: retries with
backoff on 429/5xx and connect errors, Retry-After honoured (with an injected fake sleep), the
size cap, the User-Agent, secrets redacted from everything archived, and a record -> replay
round trip that keeps the recorded time and fails clearly on a request it never saw.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import httpx
import pytest

from connectors.base import SourceError
from connectors.http import (
    USER_AGENT,
    HttpPolicy,
    build_client,
    canonical_url,
    get,
    redact_url,
)
from connectors.snapshot import NotRecorded, RecordingTransport, ReplayTransport, Snapshot

FAST = HttpPolicy(max_retries=3, backoff_base_s=1.0, backoff_max_s=8.0)


class Sequence:
    """A MockTransport handler answering from a list, recording every request."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def client_for(handler, sleeps: list[float], policy: HttpPolicy = FAST) -> httpx.Client:
    return build_client(httpx.MockTransport(handler), policy=policy, sleep=sleeps.append)


def test_retries_429_and_5xx_with_growing_backoff_then_succeeds():
    handler = Sequence([httpx.Response(500), httpx.Response(502), httpx.Response(429), httpx.Response(200, text="ok")])
    sleeps: list[float] = []
    raw = get(client_for(handler, sleeps), "t", "https://example.test/a")
    assert raw.status == 200 and raw.body == b"ok"
    assert len(handler.requests) == 4 and len(sleeps) == 3
    # "Equal jitter": attempt n waits in [ceiling/2, ceiling], ceiling = base * 2**n.
    for attempt, wait in enumerate(sleeps):
        ceiling = min(FAST.backoff_max_s, FAST.backoff_base_s * 2**attempt)
        assert ceiling / 2 <= wait <= ceiling


def test_retry_after_is_honoured():
    handler = Sequence([httpx.Response(429, headers={"retry-after": "7"}), httpx.Response(200)])
    sleeps: list[float] = []
    get(client_for(handler, sleeps), "t", "https://example.test/a")
    assert sleeps == [7.0]


def test_retry_after_is_capped_at_the_backoff_maximum():
    handler = Sequence([httpx.Response(503, headers={"retry-after": "3600"}), httpx.Response(200)])
    sleeps: list[float] = []
    get(client_for(handler, sleeps), "t", "https://example.test/a")
    assert sleeps == [FAST.backoff_max_s]


def test_the_last_error_response_is_returned_for_archiving():
    handler = Sequence([httpx.Response(503, text="busy")] * 4)
    sleeps: list[float] = []
    raw = get(client_for(handler, sleeps), "t", "https://example.test/a")
    assert raw.status == 503 and raw.body == b"busy"
    assert len(handler.requests) == FAST.max_retries + 1


def test_client_errors_are_not_retried():
    handler = Sequence([httpx.Response(404)])
    sleeps: list[float] = []
    assert get(client_for(handler, sleeps), "t", "https://example.test/a").status == 404
    assert sleeps == []


def test_connect_errors_are_retried_then_raised():
    handler = Sequence([httpx.ConnectError("refused"), httpx.Response(200, text="ok")])
    sleeps: list[float] = []
    assert get(client_for(handler, sleeps), "t", "https://example.test/a").body == b"ok"
    assert len(sleeps) == 1
    handler = Sequence([httpx.ConnectError("refused")] * 4)
    with pytest.raises(httpx.ConnectError):
        get(client_for(handler, []), "t", "https://example.test/a")
    assert len(handler.requests) == 4


def test_size_cap_on_announced_and_streamed_bodies():
    announced = Sequence([httpx.Response(200, headers={"content-length": "5000"}, content=b"x" * 5000)])
    with pytest.raises(SourceError, match="announces 5,000 bytes"):
        get(client_for(announced, []), "t", "https://example.test/a", max_body_bytes=1000)

    def streamed(request):
        return httpx.Response(200, content=iter([b"x" * 600, b"x" * 600]))  # no content-length

    with pytest.raises(SourceError, match="more than the 1,000-byte cap"):
        get(build_client(httpx.MockTransport(streamed), sleep=lambda s: None), "t", "https://example.test/a",
            max_body_bytes=1000)


def test_spooled_body_goes_to_a_file():
    handler = Sequence([httpx.Response(200, content=b"big body")])
    raw = get(client_for(handler, []), "t", "https://example.test/a", spool_to_disk=True)
    try:
        assert raw.body is None and raw.body_path is not None and raw.read() == b"big body"
    finally:
        raw.body_path.unlink()


def test_user_agent_is_descriptive():
    handler = Sequence([httpx.Response(200)])
    get(client_for(handler, []), "t", "https://example.test/a")
    agent = handler.requests[0].headers["user-agent"]
    assert agent == USER_AGENT and "gpu-prices" in agent and "http" in agent


def test_secrets_are_redacted_from_urls_and_headers():
    assert redact_url("https://x.test/p?key=SECRET&q=1") == "https://x.test/p?key=***&q=1"
    assert "SECRET" not in redact_url("https://x.test/p?api_key=SECRET&token=T2&sig=S3")
    assert redact_url("https://x.test/p?q=1") == "https://x.test/p?q=1"
    handler = Sequence([httpx.Response(200, headers={"set-cookie": "sid=SECRET", "content-type": "text/plain"})])
    raw = get(client_for(handler, []), "t", "https://x.test/p?key=SECRET&q=1",
              headers={"Authorization": "Bearer SECRET"})
    assert handler.requests[0].headers["authorization"] == "Bearer SECRET"  # sent, never kept
    assert "SECRET" not in raw.url and "SECRET" not in json.dumps(raw.headers)
    assert raw.headers["content-type"] == "text/plain"


def test_canonical_url_ignores_encoding_and_order():
    a = "https://prices.azure.com:443/api?b=2&$filter=serviceName eq 'X'"
    b = "https://prices.azure.com/api?%24filter=serviceName%20eq%20%27X%27&b=2"
    assert canonical_url(a) == canonical_url(b)


def test_record_then_replay_round_trip(tmp_path):
    def live(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"path": request.url.path}, headers={"set-cookie": "x=1"})

    snapshot_dir = tmp_path / "snap"
    recorder = build_client(RecordingTransport(httpx.MockTransport(live), snapshot_dir, "demo"), sleep=lambda s: None)
    recorded = get(recorder, "demo", "https://api.test/v1/items?key=SECRET&page=2")
    manifest_text = (snapshot_dir / "manifest.json").read_text()
    assert "SECRET" not in manifest_text and "set-cookie" not in manifest_text
    snapshot = Snapshot(snapshot_dir)
    assert snapshot.sources() == {"demo"} and len(snapshot.entries) == 1

    replayer = build_client(ReplayTransport(snapshot_dir), sleep=lambda s: None)
    # The query can come in another order and encoding; the key is redacted either way.
    replayed = get(replayer, "demo", "https://api.test/v1/items?page=2&key=OTHER")
    assert replayed.body == recorded.body
    assert replayed.fetched_at == datetime.fromisoformat(snapshot.entries[0].fetched_at)
    assert replayed.fetched_at.tzinfo is not None
    assert "x-gpu-prices-recorded-at" not in replayed.headers


def test_replay_keeps_the_real_observation_time(tmp_path):
    (tmp_path / "responses" / "s").mkdir(parents=True)
    (tmp_path / "responses" / "s" / "a.json").write_bytes(b"{}")
    (tmp_path / "manifest.json").write_text(json.dumps({
        "snapshot_date": "2026-08-22", "description": "t",
        "entries": [{"source": "s", "method": "GET", "url": "https://a.test/x", "status": 200,
                     "file": "responses/s/a.json", "fetched_at": "2026-08-20T00:00:00+00:00"}],
    }))
    raw = get(build_client(ReplayTransport(tmp_path)), "s", "https://a.test/x")
    assert raw.fetched_at == datetime(2026, 8, 20, tzinfo=timezone.utc)


def test_not_recorded_names_the_request_and_is_not_retried(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"snapshot_date": "2026-08-22", "entries": []}))
    sleeps: list[float] = []
    client = build_client(ReplayTransport(tmp_path), sleep=sleeps.append)
    with pytest.raises(NotRecorded) as info:
        get(client, "s", "https://a.test/missing?token=SECRET")
    message = str(info.value)
    assert "no recorded response for GET https://a.test/missing" in message
    assert str(tmp_path) in message and "SECRET" not in message
    assert sleeps == []


def test_a_directory_without_manifest_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a snapshot directory"):
        Snapshot(tmp_path)
