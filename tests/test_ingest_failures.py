"""Why: DESIGN.md promises that a source failing, timing out or changing its format is recorded
and isolated, and that no earlier data is lost. This drives the real ingest steps
(pipelines.ingest.fetch_source / parse_source) and a real temporary Warehouse through each
failure mode of the Azure source (a timeout and an HTTP 500 from a small local server on
127.0.0.1; an HTML page, a truncated body and a body whose fields changed), and checks: the
run is `failed` with a message naming the source and the problem, the other source (SkyPilot,
replayed) still lands, the day's earlier good rows stay, the raw body is archived either way,
and re-running the same day leaves every table's row count unchanged.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from connectors.azure import AzureRetailPrices
from connectors.http import HttpPolicy, build_client
from connectors.skypilot import SkyPilotCatalog
from connectors.snapshot import ReplayTransport
from pipelines.ingest import fetch_source, parse_source
from warehouse.store import Warehouse

BUNDLED = Path(__file__).resolve().parent.parent / "snapshots" / "bundled" / "2026-08-22"
DAY = date(2026, 8, 22)
REAL_PAGE = (BUNDLED / "responses" / "azure" / "page006.json").read_bytes()  # last page: no next link


def _changed_page() -> bytes:
    """The real last page with `unitPrice` renamed, as if the API changed its format."""
    page = json.loads(REAL_PAGE)
    for item in page["Items"]:
        item["price"] = item.pop("unitPrice")
    return json.dumps(page).encode()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server API
        mode = self.path.split("/")[1]
        if mode == "slow":
            time.sleep(1.0)  # longer than the client's read timeout
            status, ctype, body = 200, "application/json", REAL_PAGE
        elif mode == "err":
            status, ctype, body = 500, "text/plain", b"Internal Server Error"
        elif mode == "html":
            status, ctype, body = 200, "text/html", b"<!DOCTYPE html><html><body>Maintenance</body></html>"
        elif mode == "truncated":
            status, ctype, body = 200, "application/json", REAL_PAGE[: len(REAL_PAGE) // 3]
        elif mode == "changed":
            status, ctype, body = 200, "application/json", _changed_page()
        else:
            status, ctype, body = 404, "text/plain", b"no such mode"
        try:
            self.send_response(status)
            self.send_header("content-type", ctype)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout case)

    def log_message(self, *args):  # keep test output quiet
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def live_client() -> httpx.Client:
    policy = HttpPolicy(timeout_s=0.3, connect_timeout_s=0.3, max_retries=1)
    return build_client(httpx.HTTPTransport(), policy=policy, sleep=lambda s: None)


def replay_client() -> httpx.Client:
    return build_client(ReplayTransport(BUNDLED), sleep=lambda s: None)


def ingest(wh: Warehouse, source, client, mode: str = "replay") -> tuple[str, str]:
    fetched = fetch_source(wh, source, client, DAY, mode=mode)
    parsed = parse_source(wh, source, DAY)
    assert parsed.status in ("ok", "failed")
    return parsed.status, parsed.message or fetched.message


def table_counts(wh: Warehouse) -> dict[str, int]:
    with wh.writer() as w:
        tables = [r[0] for r in w.con.sql(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'main' AND table_type = 'BASE TABLE' ORDER BY 1"
        ).fetchall()]
        return {t: w.con.execute(f'SELECT count(*) FROM "{t}"').fetchall()[0][0] for t in tables}


def offers_by_source(wh: Warehouse) -> dict[str, int]:
    with wh.writer() as w:
        return dict(w.con.sql(
            "SELECT source, count(*) FROM offers WHERE snapshot_date = $d GROUP BY 1", params={"d": DAY}
        ).fetchall())


def run_state(wh: Warehouse, source: str) -> dict:
    with wh.writer() as w:
        return w.run_state(DAY, source)


def archived(wh: Warehouse, url_part: str) -> list[dict]:
    with wh.writer() as w:
        rows = w.con.sql(
            "SELECT url, status, sha256, body_file FROM raw_responses WHERE contains(url, $u)",
            params={"u": url_part},
        ).pl().to_dicts()
    for row in rows:
        assert (wh.raw_dir / row["body_file"]).exists()
    return rows


FAILURES = [
    # (server mode, words the failure message must contain, body archived?)
    ("slow", ["azure", "timed out"], False),
    ("err", ["azure", "HTTP 500", "Internal Server Error"], True),
    ("html", ["azure", "HTML page instead of JSON"], True),
    ("truncated", ["azure", "may be truncated"], True),
    ("changed", ["azure", "'unitPrice'", "missing"], True),
]


def test_each_failure_is_recorded_and_isolated(tmp_path, server):
    wh = Warehouse(tmp_path / "gp.duckdb")
    # The day's good run first: both sources land from the bundled snapshot.
    assert ingest(wh, AzureRetailPrices(), replay_client())[0] == "ok"
    assert ingest(wh, SkyPilotCatalog(), replay_client())[0] == "ok"
    good = offers_by_source(wh)
    assert good["azure"] > 150 and good["skypilot"] > 1000

    for mode, words, body_archived in FAILURES:
        source = AzureRetailPrices(api_url=f"{server}/{mode}/api/retail/prices")
        status, message = ingest(wh, source, live_client(), mode="live")
        assert status == "failed", mode
        for word in words:
            assert word in message, (mode, message)
        assert message.startswith("azure")
        state = run_state(wh, "azure")
        assert state["status"] == "failed" and state["message"] == message
        # The day's earlier good rows for azure stay; skypilot is untouched.
        assert offers_by_source(wh) == good, mode
        rows = archived(wh, f"/{mode}/")
        assert bool(rows) == body_archived, mode
        if mode == "err":
            assert {r["status"] for r in rows} == {500}

    # The other source still lands on a day when azure fails.
    other = Warehouse(tmp_path / "other.duckdb")
    status, message = ingest(other, AzureRetailPrices(api_url=f"{server}/err/api/retail/prices"), live_client(), "live")
    assert status == "failed" and "HTTP 500" in message
    assert ingest(other, SkyPilotCatalog(), replay_client())[0] == "ok"
    assert offers_by_source(other) == {"skypilot": good["skypilot"]}
    assert run_state(other, "skypilot")["status"] == "ok"


def test_rerunning_the_same_day_changes_no_row_count(tmp_path, server):
    wh = Warehouse(tmp_path / "gp.duckdb")

    def whole_day():
        ingest(wh, AzureRetailPrices(), replay_client())
        ingest(wh, SkyPilotCatalog(), replay_client())
        for mode in ("err", "html", "changed"):
            ingest(wh, AzureRetailPrices(api_url=f"{server}/{mode}/api/retail/prices"), live_client(), "live")
        ingest(wh, AzureRetailPrices(), replay_client())  # and a good re-run after the failures

    whole_day()
    first = table_counts(wh)
    assert first["offer_intervals"] > 0 and first["raw_responses"] > 0 and first["ingest_runs"] == 2
    whole_day()
    assert table_counts(wh) == first
    assert run_state(wh, "azure")["status"] == "ok"
