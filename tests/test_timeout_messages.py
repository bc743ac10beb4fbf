"""A timeout names the URL (so the page) that timed out, how long we waited and how often.

httpx says only "The read operation timed out"; on a paginated source that leaves the reader
guessing which page. A local server that never answers, or stops half-way through a body,
stands in for the slow provider; the message that reaches `ingest_runs` must name the URL with
its page parameter, and secrets in the query string stay redacted.
"""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from connectors import http
from pipelines.ingest import _describe


class _Slow(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        if "half" in self.path:
            self.send_response(200)
            self.send_header("content-length", "1000")
            self.end_headers()
            self.wfile.write(b"{\"items\": [")
            self.wfile.flush()
        time.sleep(3)  # longer than the client waits

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def slow_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


POLICY = http.HttpPolicy(timeout_s=0.3, connect_timeout_s=0.3, max_retries=1)


def test_a_stalled_response_names_the_page_and_the_wait(slow_server):
    url = f"{slow_server}/api/prices?page=7&api_key=SECRET123"
    with http.build_client(policy=POLICY, sleep=lambda s: None) as client:
        with pytest.raises(httpx.ReadTimeout) as caught:
            http.get(client, "example", url)
    message = _describe(caught.value, "example")
    assert message.startswith("example: timed out (ReadTimeout): ")
    assert f"{slow_server}/api/prices?page=7&api_key=***" in message
    assert "no data within 0.3 s" in message and "gave up after 2 attempt(s)" in message
    assert "SECRET123" not in message


def test_a_body_that_stops_half_way_names_the_page(slow_server):
    url = f"{slow_server}/half?page=3"
    with http.build_client(policy=POLICY, sleep=lambda s: None) as client:
        with pytest.raises(httpx.ReadTimeout) as caught:
            http.get(client, "example", url)
    message = str(caught.value)
    assert message.startswith(f"{url}: ") and "no data within 0.3 s" in message


def test_a_refused_connection_names_the_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    url = f"http://127.0.0.1:{port}/v1/plans?cursor=abc"
    with http.build_client(policy=POLICY, sleep=lambda s: None) as client:
        with pytest.raises(httpx.ConnectError) as caught:
            http.get(client, "example", url)
    assert str(caught.value).startswith(f"{url}: ") and "gave up after 2 attempt(s)" in str(caught.value)
