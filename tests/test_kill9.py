"""Kill -9 at four moments of an ingest loses nothing (issue 12).

Why this exists: a day's run can die at any instant (OOM killer, a node drained, Ctrl-\\). The
warehouse must still open, the earlier day must be exactly as it was, the day being re-run must
hold either its earlier rows or the new ones (never a half-replaced mix), and running the day
again must finish and give the same tables. A child process re-runs a replayed SkyPilot day on
a warehouse that already holds two good days and stops itself at one named moment (it writes a
marker and sleeps there); the test then SIGKILLs it. The moments:

* ``archived``: a response body is in the raw archive, its row not yet written;
* ``deleted``: inside replace_offers, the day's old rows deleted, the transaction open;
* ``inserted``: inside replace_offers, the new offers inserted, not yet committed;
* ``recorded``: the offers committed, the run's "ok" not yet recorded.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_fault_matrix import DAY, DAY_BEFORE, FIXTURES, replay, rows_of, state
from warehouse.store import Warehouse

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SOURCE = "skypilot"
MOMENTS = ("archived", "deleted", "inserted", "recorded")


def _pause(marker: Path) -> None:
    marker.write_text(str(os.getpid()))
    time.sleep(120)  # the parent kills us here
    raise SystemExit("not killed")  # pragma: no cover


def child(moment: str, path: str, marker: str) -> None:
    """Run in the child process: re-run the day, stopping at `moment` for the SIGKILL."""
    from warehouse import store

    stop = Path(marker)
    if moment == "archived":
        original_store_body = store.Warehouse.store_body

        def store_body(self, raw):
            written = original_store_body(self, raw)
            _pause(stop)
            return written

        store.Warehouse.store_body = store_body
    elif moment in ("deleted", "inserted"):
        original_replace = store.WarehouseWriter.replace_offers
        # offers are intervals: the day's observations are written last, after its intervals
        after = "DELETE FROM source_exclusions" if moment == "deleted" else "INSERT INTO offer_observations"

        class PausingConnection:
            def __init__(self, con):
                self._con = con

            def execute(self, sql, *args, **kwargs):
                result = self._con.execute(sql, *args, **kwargs)
                if sql.lstrip().startswith(after):
                    _pause(stop)
                return result

            def __getattr__(self, name):
                return getattr(self._con, name)

        def replace_offers(self, *args, **kwargs):
            self.con = PausingConnection(self.con)
            return original_replace(self, *args, **kwargs)

        store.WarehouseWriter.replace_offers = replace_offers
    elif moment == "recorded":
        original_record = store.WarehouseWriter.record_run

        def record_run(self, snapshot_date, source, **fields):
            if fields.get("status") == "ok":
                _pause(stop)
            return original_record(self, snapshot_date, source, **fields)

        store.WarehouseWriter.record_run = record_run
    replay(store.Warehouse(path), FIXTURES / SOURCE, SOURCE, DAY)


@pytest.fixture(scope="module")
def two_good_days(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("kill9_good")
    warehouse = Warehouse(folder / "w.duckdb")
    for day in (DAY_BEFORE, DAY):
        replay(warehouse, FIXTURES / SOURCE, SOURCE, day)
    return folder


@pytest.mark.parametrize("moment", MOMENTS)
def test_sigkill_loses_nothing(moment, two_good_days, tmp_path):
    folder = tmp_path / "w"
    shutil.copytree(two_good_days, folder)
    path = folder / "w.duckdb"
    before = state(path)
    assert rows_of(before, "offers", snapshot_date=DAY_BEFORE, source=SOURCE), "no earlier day to protect"
    marker = tmp_path / "reached"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from tests.test_kill9 import child; child(*sys.argv[1:])",
         moment, str(path), str(marker)],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while not marker.exists():
        if proc.poll() is not None:
            pytest.fail(f"the child ended before {moment!r}: {proc.stdout.read().decode()[-2000:]}")
        assert time.monotonic() < deadline, f"the child never reached {moment!r}"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL

    killed = state(path)  # opens: the WAL is replayed, the open transaction discarded
    for table in ("offers", "quarantined_offers", "source_exclusions"):
        assert rows_of(killed, table, snapshot_date=DAY_BEFORE) == rows_of(before, table, snapshot_date=DAY_BEFORE), table
        # The same bytes were being written again: the day is its earlier rows, never a mix.
        assert rows_of(killed, table, snapshot_date=DAY) == rows_of(before, table, snapshot_date=DAY), table

    replay(Warehouse(path), FIXTURES / SOURCE, SOURCE, DAY)  # running the day again finishes
    again = state(path)
    assert rows_of(again, "ingest_runs", snapshot_date=DAY, source=SOURCE)[0]["status"] == "ok"
    for table in ("offers", "quarantined_offers", "source_exclusions", "raw_responses"):
        assert again[table] == before[table], table
