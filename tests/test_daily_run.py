"""How the daily run executes: every source at once, one writer per run, readers never blocked.

Why: a live day used to take the sum of its sources (fetched one after another) and opened the
warehouse for every write (each open re-ran the migrations and re-created every view). These
tests hold the new promises without timing anything:

* the sources of a day are fetched at the same time (a local server only answers once every
  source's request has arrived), a failing source is recorded with its URL and reason, retried
  on its own, its error response archived, while the others land;
* a run opens the writer once, and an unchanged warehouse opens without re-defining its views;
* readers (`gpu-prices sql`, `warehouse.read`) answer while a writer holds its lock;
* a day holding only spec data parses no price source (OffersConfig: None = all, [] = none);
* the same definitions run under Dagster's multiprocess executor, each step in its own process.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import threading
from collections import Counter
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import dagster as dg
import duckdb
import httpx
import polars as pl
import pytest

from connectors import http
from connectors.base import FetchContext, RawResponse, Source, offers_frame, provenance
from connectors.registry import get_source
from connectors.snapshot import ReplayTransport
from pipelines import ingest
from pipelines.definitions import DAILY_JOB, DERIVED_ASSET_KEYS, build_defs, daily_job
from pipelines.resources import HttpResource, WarehouseResource
from tests.conftest import FIXTURES, PROJECT_ROOT
from warehouse import read, schema, store
from warehouse.store import Warehouse

BUNDLED = PROJECT_ROOT / "snapshots" / "bundled"
DAY = date(2026, 8, 22)
REAL_CSV = (FIXTURES / "skypilot" / "v8" / "nebius" / "vms@0082b043.csv").read_bytes()  # real SkyPilot bytes
TOGETHER = ("alpha", "bravo", "charlie")  # answered only when all three are waiting at once
BARRIER_TIMEOUT_S = 20


class CatalogSource(Source):
    """A price source built in the test: one GET to the local server, parsed like a SkyPilot CSV."""

    kind = "direct"
    description = "Exists only in tests/test_daily_run.py."

    def __init__(self, source_id: str, base_url: str, route: str) -> None:
        self.id = source_id
        self.name = f"test source {source_id}"
        self.providers = (source_id,)
        self.url = f"{base_url}/{route}/{source_id}/vms.csv"

    def fetch(self, client: httpx.Client, ctx: FetchContext) -> Iterator[RawResponse]:
        yield http.get(client, self.id, self.url)

    def parse(self, responses: list[RawResponse]) -> pl.DataFrame:
        rows = [
            {
                "provider": self.id, "region": rec["Region"], "instance_type": rec["InstanceType"],
                "gpu_name_raw": rec["AcceleratorName"], "gpu_count": float(rec["AcceleratorCount"]),
                "pricing": "on_demand", "price": float(rec["Price"]), "currency": "USD", **provenance(raw),
            }
            for raw in responses
            for rec in csv.DictReader(io.StringIO(raw.read().decode()))
            if rec["AcceleratorName"] and rec["Price"]
        ]
        return offers_frame(rows, self.id)


@pytest.fixture
def server():
    """/together/<id>/...: answers once all TOGETHER sources are waiting; /missing/<id>/...: 404."""
    barrier = threading.Barrier(len(TOGETHER), timeout=BARRIER_TIMEOUT_S)
    requests: Counter[str] = Counter()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server API
            _, route, source_id, _ = self.path.split("/", 3)
            requests[source_id] += 1
            if route == "together":
                try:
                    barrier.wait()
                    status, body = 200, REAL_CSV
                except threading.BrokenBarrierError:
                    status, body = 409, b"the sources were not fetched at the same time"
            else:
                status, body = 404, b"no such catalog"
            self.send_response(status)
            self.send_header("content-type", "text/csv" if status == 200 else "text/plain")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", requests
    httpd.shutdown()
    httpd.server_close()


def test_sources_are_fetched_together_and_a_failing_one_is_retried_alone(tmp_path, server):
    base_url, requests = server
    sources = [CatalogSource(s, base_url, "together") for s in TOGETHER] + [CatalogSource("delta", base_url, "missing")]
    path = tmp_path / "gp.duckdb"
    defs = build_defs({"http": HttpResource(mode="live"), "warehouse": WarehouseResource(path=str(path))}, sources=sources)
    result = defs.resolve_job_def(DAILY_JOB).execute_in_process(
        partition_key=DAY.isoformat(),
        run_config={"ops": {"raw_sources": {"config": {"retries": 2, "retry_delay_s": 0}}}},
    )
    assert result.success

    status = {r["source"]: r for r in read.query("SELECT * FROM ingest_runs", path=path).to_dicts()}
    for source_id in TOGETHER:  # had they come one by one, the barrier would have broken
        assert status[source_id]["status"] == "ok", status[source_id]["message"]
        assert status[source_id]["offers_written"] > 0
        assert requests[source_id] == 1
    failed = status["delta"]
    assert failed["status"] == "failed"
    assert failed["message"].startswith("delta") and "404" in failed["message"] and "/missing/delta/" in failed["message"]
    assert requests["delta"] == 3  # the first try and its two retries, while the others went on

    # Archive first: the error response is kept, and every offer traces to an archived body.
    archived = read.query("SELECT source, status, body_file FROM raw_responses", path=path)
    assert archived.filter(pl.col("source") == "delta")["status"].to_list() == [404]
    for body_file in archived["body_file"]:
        assert (tmp_path / "raw" / body_file).is_file()
    untraced = read.query(
        "SELECT count(*) AS n FROM offers o LEFT JOIN raw_responses r "
        "ON r.id = o.raw_response_id AND r.snapshot_date = o.snapshot_date WHERE r.id IS NULL",
        path=path,
    )
    assert untraced["n"][0] == 0

    checks = {c.asset_key.path[-1]: c.passed for c in result.get_asset_check_evaluations() if c.check_name == "fetch_succeeded"}
    assert checks == {"alpha": True, "bravo": True, "charlie": True, "delta": False}


def count_writer_opens(monkeypatch) -> list[str]:
    """Every read-write connection the warehouse opens from now on."""
    opened: list[str] = []
    connect = duckdb.connect

    def counting(database=":memory:", read_only=False, config=None):
        opened.append(str(database))
        return connect(database, read_only=read_only, config=config or {})

    monkeypatch.setattr(store.duckdb, "connect", counting)
    return opened


def count_view_definitions(monkeypatch) -> list[bool]:
    defined: list[bool] = []
    define = schema.define_views

    def counting(con, version):
        defined.append(define(con, version))
        return defined[-1]

    monkeypatch.setattr(schema, "define_views", counting)
    return defined


def replay_day(path, snapshot, partition: str, selection: list[dg.AssetKey], offers_sources=None):
    defs = build_defs({
        "http": HttpResource(mode="replay", snapshot_dir=str(snapshot)),
        "warehouse": WarehouseResource(path=str(path)),
    })
    config = {} if offers_sources is None else {"sources": offers_sources}
    result = defs.resolve_job_def(DAILY_JOB).execute_in_process(
        partition_key=partition, asset_selection=selection + DERIVED_ASSET_KEYS,
        run_config={"ops": {"offers": {"config": config}}},
    )
    assert result.success
    return result


def test_a_run_opens_the_writer_once_and_defines_views_only_when_they_change(tmp_path, monkeypatch):
    path = tmp_path / "gp.duckdb"
    selection = [dg.AssetKey(["raw", "azure"]), dg.AssetKey(["raw", "skypilot"])]
    opened = count_writer_opens(monkeypatch)
    defined = count_view_definitions(monkeypatch)

    replay_day(path, BUNDLED / "2026-08-22", "2026-08-22", selection)
    assert opened == [str(path)]  # fetch, archive, parse, metrics, index and publish: one writer
    assert defined == [True]  # a new file: the views are defined

    replay_day(path, BUNDLED / "2026-08-22", "2026-08-22", selection)
    assert opened == [str(path)] * 2
    assert defined == [True, False]  # the same views: nothing re-defined

    monkeypatch.setattr(schema, "views_fingerprint", lambda version: "a changed view")
    with Warehouse(path).writer():
        pass
    assert defined == [True, False, True]
    assert read.query("SELECT count(*) AS n FROM latest_offers", path=path)["n"][0] > 0


def test_readers_answer_while_a_writer_holds_its_lock(tmp_path):
    path = tmp_path / "gp.duckdb"
    replay_day(path, BUNDLED / "2024-01-19", "2024-01-19", [dg.AssetKey(["raw", "oci"])], ["oci"])
    expected = read.query("SELECT count(*) AS n FROM offers", path=path)["n"][0]
    assert expected > 0

    warehouse = Warehouse(path)
    with warehouse.session(), warehouse.writer() as w:  # the file lock and DuckDB's own lock are held
        w.con.execute("SELECT 1").fetchall()
        cli = subprocess.run(
            [sys.executable, "-m", "cli.main", "sql", "select count(*) as n from offers", "--format", "csv",
             "--warehouse", str(path)],
            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
        )
        assert cli.returncode == 0, cli.stderr
        assert cli.stdout.split() == ["n", str(expected)]
        other_process = subprocess.run(
            [sys.executable, "-c", f"from warehouse import read; print(read.query('select count(*) as n from latest_offers', path={str(path)!r})['n'][0])"],
            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
        )
        assert other_process.returncode == 0, other_process.stderr
        assert int(other_process.stdout.strip()) > 0


def test_a_spec_only_day_parses_no_price_source(tmp_path):
    """Epoch AI's day (2026-04-22) holds only specs; azure was fetched that day and not parsed."""
    path = tmp_path / "gp.duckdb"
    day = date(2026, 4, 22)
    warehouse = Warehouse(path)
    with http.build_client(ReplayTransport(BUNDLED / "2026-08-22"), sleep=lambda _s: None) as client:
        assert ingest.fetch_source(warehouse, get_source("azure"), client, day, mode="replay").status == "fetched"

    def azure_state():
        with warehouse.writer() as w:
            state = w.run_state(day, "azure")
            offers = w.con.execute("SELECT count(*) FROM offers WHERE source = 'azure'").fetchall()[0][0]
        return state["status"], offers

    epoch_only = [dg.AssetKey(["raw", "epoch_ai"])]
    # As `gpu-prices ingest` runs a day with only spec sources: the offers step gets [] (none).
    result = replay_day(path, BUNDLED / "2026-04-22", day.isoformat(), epoch_only, offers_sources=[])
    assert azure_state() == ("fetched", 0)
    offers_meta = next(
        e.event_specific_data.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.event_specific_data.materialization.asset_key == dg.AssetKey("offers")
    )
    assert offers_meta["sources"].value == {}
    with warehouse.writer() as w:
        assert w.run_state(day, "epoch_ai")["status"] == "ok"

    # None means every price source: now the fetched azure day is parsed.
    replay_day(path, BUNDLED / "2026-04-22", day.isoformat(), epoch_only, offers_sources=None)
    status, offers = azure_state()
    assert status == "ok" and offers > 0


def test_the_daily_job_runs_under_the_multiprocess_executor(tmp_path, monkeypatch):
    """The same definitions, configured with GPU_PRICES_EXECUTOR=multiprocess: each step is its
    own process, the writer lock serialises their writes, and the day lands as in-process."""
    path = tmp_path / "gp.duckdb"
    for name, value in {
        "GPU_PRICES_EXECUTOR": "multiprocess",
        "GPU_PRICES_HTTP_MODE": "replay",
        "GPU_PRICES_SNAPSHOT": str(BUNDLED / "2024-01-19"),
        "GPU_PRICES_WAREHOUSE": str(path),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")]))
    assert daily_job().executor_def.name == "multiprocess"
    (tmp_path / "dagster_home").mkdir()
    with dg.DagsterInstance.local_temp(str(tmp_path / "dagster_home")) as instance:
        result = dg.execute_job(
            dg.reconstructable(daily_job),
            instance=instance,
            tags={"dagster/partition": "2024-01-19"},
            asset_selection=[dg.AssetKey(["raw", "oci"]), *DERIVED_ASSET_KEYS],
            run_config={
                "ops": {"offers": {"config": {"sources": ["oci"]}}},
                "execution": {"config": {"max_concurrent": 2}},
            },
        )
        assert result.success, [e.event_specific_data.error.message for e in result.all_events if e.is_step_failure]
        step_pids = {e.step_key: e.pid for e in result.all_events if e.event_type_value == "STEP_START"}
    assert set(step_pids) == {"raw_sources", "offers", "gpu_specs", "cost_metrics", "price_index", "reference_runs",
                              "published_warehouse"}
    assert os.getpid() not in step_pids.values() and len(set(step_pids.values())) == len(step_pids)
    landed = read.query("SELECT source, last_status, offers_in_latest FROM ingest_status ORDER BY source", path=path).to_dicts()
    assert [(r["source"], r["last_status"]) for r in landed] == [("oci", "ok")]
    assert landed[0]["offers_in_latest"] > 0
    assert read.query("SELECT count(*) AS n FROM price_index", path=path)["n"][0] > 0
