"""The dashboard keeps answering while `gpu-prices ingest` writes the same warehouse.

DuckDB allows one read-write process or many readers, never both; the warehouse publishes a
copy for readers and swaps it atomically (warehouse/store.py). This test holds that promise up
from the dashboard's side: while a real ingest subprocess re-writes a copy of the replayed
warehouse, it keeps reading through the same path the pages use (warehouse.read.query on the
views, and whole page runs through Streamlit's AppTest) and requires every read to succeed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from warehouse import read

PROJECT_ROOT = Path(__file__).resolve().parent.parent
APP = PROJECT_ROOT / "dashboards" / "streamlit_app.py"
VIEW_QUERIES = [
    "SELECT count(*) AS n FROM latest_offers",
    "SELECT gpu, pricing, min(price_usd_per_gpu_hour) AS p FROM latest_offers WHERE gpu IS NOT NULL GROUP BY ALL",
    "SELECT count(*) AS n FROM gpu_cost_metrics",
    "SELECT * FROM price_index_daily ORDER BY snapshot_date DESC LIMIT 50",
    "SELECT * FROM ingest_status",
    "SELECT * FROM cheapest_offers",
]
MIN_READS_DURING_INGEST = 20


def test_reads_never_fail_while_ingest_writes(replayed_warehouse, tmp_path, monkeypatch):
    work = tmp_path / "warehouse"
    shutil.copytree(replayed_warehouse.parent, work)
    path = work / replayed_warehouse.name
    monkeypatch.setenv("GPU_PRICES_WAREHOUSE", str(path))
    baseline = read.query("SELECT count(*) AS n FROM latest_offers", path=path)["n"][0]
    assert baseline > 0

    log = tmp_path / "ingest.log"
    with log.open("w") as out:
        ingest = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "ingest", "--replay", "--warehouse", str(path)],
            cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT,
        )
    reads, failures, page_runs, rounds = 0, [], 0, 0
    started = time.monotonic()
    try:
        while ingest.poll() is None and time.monotonic() - started < 900:
            rounds += 1
            for sql in VIEW_QUERIES:
                try:
                    frame = read.query(sql, path=path)
                    if sql.startswith("SELECT count(*) AS n FROM latest_offers") and frame["n"][0] == 0:
                        failures.append("latest_offers read empty mid-ingest")
                    reads += 1
                except Exception as exc:  # any failed read is the bug this test exists for
                    failures.append(f"{sql}: {type(exc).__name__}: {exc}")
            if rounds % 5 == 1 and ingest.poll() is None:
                at = AppTest.from_file(str(APP), default_timeout=120).run()
                at.switch_page("app_pages/market.py").run()
                page_runs += 1
                if at.exception or at.error:
                    failures.append(
                        "market page: " + "; ".join([e.value for e in at.exception] + [e.value for e in at.error])
                    )
    finally:
        if ingest.poll() is None:
            ingest.kill()
        ingest.wait(timeout=60)

    output = log.read_text()
    print(f"{reads} view reads and {page_runs} page runs during a {time.monotonic() - started:.1f}s ingest")
    assert ingest.returncode == 0, f"the ingest failed:\n{output[-4000:]}"
    assert not failures, failures[:5]
    assert reads >= MIN_READS_DURING_INGEST, f"only {reads} reads happened during the ingest"
    assert page_runs >= 1
    assert "lock" not in " ".join(failures).lower()
    # and after it, the published copy serves the re-ingested data
    assert read.query("SELECT count(*) AS n FROM latest_offers", path=path)["n"][0] == baseline
