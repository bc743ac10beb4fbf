"""Why: the daily run fetches every source at once, and several sources share hosts
(raw.githubusercontent.com serves SkyPilot, Cyclenerd and OpenCost files). The per-host limit of
connectors/http.py must hold across clients, sources and threads, for as long as a body is being
downloaded (a streamed AWS region file is hundreds of megabytes), and each host keeps its own
limit. A replayed response, read in memory, must give its slot back at once, or a replay of many
files would stall.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from connectors import http
from connectors.http import HostSlots, HttpPolicy, build_client


class SlowBodies(httpx.BaseTransport):
    """Answers every request with a body that arrives in slow chunks, counting per host how many
    bodies are being downloaded at the same moment."""

    def __init__(self) -> None:
        self.guard = threading.Lock()
        self.downloading: dict[str, int] = {}
        self.peak: dict[str, int] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=self._Body(self, request.url.host), request=request)

    class _Body(httpx.SyncByteStream):
        def __init__(self, transport: "SlowBodies", host: str) -> None:
            self.transport, self.host = transport, host

        def __iter__(self):
            t = self.transport
            with t.guard:
                t.downloading[self.host] = t.downloading.get(self.host, 0) + 1
                t.peak[self.host] = max(t.peak.get(self.host, 0), t.downloading[self.host])
            try:
                for _ in range(4):
                    time.sleep(0.01)
                    yield b"x" * 1024
            finally:
                with t.guard:
                    t.downloading[self.host] -= 1


def fetch_many(clients: list[httpx.Client], urls: list[str], threads: int) -> None:
    def one(i: int) -> None:
        raw = http.get(clients[i % len(clients)], f"source{i % len(clients)}", urls[i % len(urls)])
        assert raw.size == 4096

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(one, range(len(urls) * 12)))


def test_the_limit_holds_across_clients_and_threads_while_bodies_download():
    inner = SlowBodies()
    slots = HostSlots()
    # Four "sources", each with its own client, two of them with a looser limit.
    clients = [
        httpx.Client(transport=http.RetryTransport(inner, HttpPolicy(per_host_concurrency=limit), slots=slots))
        for limit in (2, 2, 3, 3)
    ]
    fetch_many(clients, ["https://shared.example.test/a.csv"], threads=12)
    # 12 threads pushed; the shared count never let more than the loosest limit through.
    assert inner.peak["shared.example.test"] <= 3
    assert inner.peak["shared.example.test"] >= 2  # and the downloads did overlap
    assert slots.in_flight("shared.example.test") == 0


def test_each_host_has_its_own_slots():
    inner = SlowBodies()
    slots = HostSlots()
    policy = HttpPolicy(per_host_concurrency=2)
    clients = [httpx.Client(transport=http.RetryTransport(inner, policy, slots=slots)) for _ in range(3)]
    fetch_many(clients, ["https://one.example.test/x", "https://two.example.test/y"], threads=12)
    assert inner.peak["one.example.test"] <= 2 and inner.peak["two.example.test"] <= 2
    # A saturated host does not hold the other back: both reached their limit.
    assert inner.peak["one.example.test"] == 2 and inner.peak["two.example.test"] == 2


def test_a_body_read_in_memory_gives_its_slot_back():
    slots = HostSlots()
    replayed = httpx.MockTransport(lambda request: httpx.Response(200, content=b"recorded body"))
    client = httpx.Client(transport=http.RetryTransport(replayed, HttpPolicy(per_host_concurrency=1), slots=slots))
    for _ in range(5):  # with a leaked slot the second request would wait forever
        assert http.get(client, "replayed", "https://replayed.example.test/").read() == b"recorded body"
    assert slots.in_flight("replayed.example.test") == 0


def test_a_retried_error_response_gives_its_slot_back_before_the_wait():
    slots = HostSlots()
    seen_in_flight: list[int] = []
    answers = iter([httpx.Response(503), httpx.Response(200, content=b"ok")])

    def sleep(_seconds: float) -> None:
        seen_in_flight.append(slots.in_flight("flaky.example.test"))

    client = build_client(httpx.MockTransport(lambda request: next(answers)), policy=HttpPolicy(per_host_concurrency=1), sleep=sleep)
    client._transport.slots = slots  # noqa: SLF001 - the test's own slot table
    assert http.get(client, "flaky", "https://flaky.example.test/").read() == b"ok"
    assert seen_in_flight == [0]
    assert slots.in_flight("flaky.example.test") == 0


def test_clients_share_one_tls_context():
    assert http.network_transport()._pool._ssl_context is http.network_transport()._pool._ssl_context  # noqa: SLF001
