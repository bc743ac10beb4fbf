"""What the History page asks for, bounded, against the old unbounded read, on years of rows.

    python benchmarks/history_index.py [--years 3]

Builds a stand-in history (the bundled replay's latest real offers of each source repeated on
every day for Y years, then the index rebuilt day by day with its links: dates invented, prices
real; never published) and times, on the published copy, in the same run:

* baseline: the old page's read, every `price_index` row (`SELECT * FROM price_index ORDER BY ...`);
* the old page's read through today's view (the chain multiplied out over every GPU);
* the page's bounded reads (warehouse.read): index of two GPUs over the last year, one GPU's
  per-provider medians over the last year, its >10% price steps;
* `refresh_price_index` of one day in the middle of the history (rebuilds two days' links).

Prints seconds and the ratio of each to the baseline. Run by hand; no test times anything.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import duckdb  # noqa: E402
from history_scale import base_warehouse  # noqa: E402

from connectors.registry import all_sources  # noqa: E402
from warehouse import read  # noqa: E402
from warehouse.derived import refresh_all_price_index, refresh_price_index  # noqa: E402
from warehouse.store import Warehouse  # noqa: E402

LAST = date(2026, 8, 22)
GPUS = ["H100-SXM-80GB", "A100-SXM-80GB"]


def timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def history(base: Path, folder: Path, years: int) -> Path:
    """Each source's latest real offers on every day for `years`; the price index rebuilt."""
    path = folder / f"history-{years}y" / "gp.duckdb"
    path.parent.mkdir(parents=True)
    path.write_bytes(base.read_bytes())
    first = LAST - timedelta(days=365 * years - 1)
    con = duckdb.connect(str(path))
    try:
        con.execute(
            "CREATE TEMP TABLE one_day AS SELECT o.* EXCLUDE (snapshot_date) FROM offers o "
            "JOIN (SELECT source, max(snapshot_date) AS snapshot_date FROM offers GROUP BY 1) USING (source, snapshot_date)"
        )
        con.execute("DELETE FROM offers")
        con.execute("DELETE FROM price_index")
        con.execute(
            "INSERT INTO offers BY NAME SELECT d.day::DATE AS snapshot_date, one_day.* "
            f"FROM range(DATE '{first}', DATE '{LAST}' + INTERVAL 1 DAY, INTERVAL 1 DAY) d(day), one_day"
        )
        con.execute("CHECKPOINT")
    finally:
        con.close()
    with Warehouse(path).writer() as w:
        started = time.perf_counter()
        days = refresh_all_price_index(w, {s.id: s.kind for s in all_sources()})
        print(f"refresh_all_price_index: {days} days in {time.perf_counter() - started:.1f} s")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--years", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-history-") as tmp:
        path = history(base_warehouse(Path(tmp)), Path(tmp), args.years)
        warehouse = Warehouse(path)
        warehouse.publish()
        rows = read.query("SELECT count(*) AS n FROM price_index", path=path)["n"][0]
        year_ago = LAST - timedelta(days=365)
        reads = {
            "baseline: every price_index row": "SELECT * FROM price_index ORDER BY snapshot_date, gpu, pricing",
            "every price_index_daily row": "SELECT * FROM price_index_daily ORDER BY snapshot_date, gpu, pricing",
        }
        timings = {name: timed(lambda sql=sql: read.query(sql, path=path)) for name, sql in reads.items()}
        bounded = {
            "index, 2 GPUs, last year": read.index_history_query(GPUS, "on_demand", year_ago, LAST),
            "per provider, 1 GPU, last year": read.provider_history_query(GPUS[0], "on_demand", year_ago, LAST),
            "price steps, 1 GPU, last year": read.price_steps_query(GPUS[0], "on_demand", year_ago, LAST),
        }
        timings |= {name: timed(lambda q=q: read.query(*q, path=path)) for name, q in bounded.items()}
        kinds = {s.id: s.kind for s in all_sources()}
        middle = LAST - timedelta(days=365 * args.years // 2)
        with warehouse.writer() as w:
            timings["refresh_price_index, one day mid-history"] = timed(
                lambda: refresh_price_index(w, middle, kinds), repeat=1)
        baseline = timings["baseline: every price_index row"]
        print(f"{args.years} years, {rows:,} price_index rows")
        for name, seconds in timings.items():
            print(f"  {name:45s} {seconds:7.3f} s  x{seconds / baseline:6.2f} of baseline")


if __name__ == "__main__":
    main()
