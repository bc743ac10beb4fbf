"""Where one machine stops: offers per day and years of history.

    python benchmarks/history_scale.py [--years 1,3,10] [--per-day 1,10,50]

Starts from a warehouse replayed from the bundled snapshot (real offers; every source's latest
day, about 5,200 offers) and builds throwaway warehouses from it, in a temporary folder:

* history: the same real offers repeated on every day for Y years (dates invented, prices
  real; a stand-in for the shape of the data, never published), derived tables included;
  measured: file size, `publish()` (checkpoint and copy of the whole file: it runs after every
  ingest) and the dashboard's reads on the published copy (latest offers, the cheapest
  offers, the index history of one GPU, one offer's price history over all years);
* one day with M times today's offers (each offer repeated in M invented regions): measured,
  the writer's day: replace the offers, rebuild cost metrics and the price index.

Prints seconds for each, so docs/scale.md can say where a step passes a minute.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402

from warehouse import read  # noqa: E402
from warehouse.derived import refresh_cost_metrics, refresh_price_index  # noqa: E402
from warehouse.store import Warehouse  # noqa: E402

DASHBOARD_READS = {
    "latest offers": "SELECT count(*) FROM latest_offers",
    "cheapest offers": "SELECT * FROM cheapest_offers",
    "index history, one GPU": "SELECT * FROM price_index_daily WHERE gpu = 'H100-SXM-80GB' ORDER BY snapshot_date",
    "offer history, all years": (
        "SELECT snapshot_date, price_usd_per_hour FROM offers_history "
        "WHERE gpu = 'H100-SXM-80GB' AND pricing = 'on_demand' ORDER BY snapshot_date"
    ),
}


def timed(fn):
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def base_warehouse(folder: Path) -> Path:
    path = folder / "base" / "gp.duckdb"
    subprocess.run([sys.executable, "-m", "cli.main", "ingest", "--replay", "--warehouse", str(path)],
                   cwd=ROOT, check=True, capture_output=True)
    return path


def history_warehouse(base: Path, folder: Path, years: int) -> Path:
    """The base's latest offers (and their derived rows) repeated on every day for `years`."""
    path = folder / f"history-{years}y" / "gp.duckdb"
    path.parent.mkdir(parents=True)
    shutil.copy(base, path)
    last = date(2026, 8, 22)
    first = last - timedelta(days=365 * years - 1)
    con = duckdb.connect(str(path))
    try:
        for table, latest in (
            ("offers", "SELECT * EXCLUDE (snapshot_date) FROM latest_offers"),
            ("cost_metrics", "SELECT * EXCLUDE (snapshot_date) FROM cost_metrics WHERE (source, snapshot_date) IN (SELECT source, max(snapshot_date) FROM cost_metrics GROUP BY 1)"),
            ("price_index", "SELECT * EXCLUDE (snapshot_date) FROM price_index WHERE snapshot_date = (SELECT max(snapshot_date) FROM price_index)"),
        ):
            con.execute(f"CREATE TEMP TABLE one_day AS {latest}")
            con.execute(f"DELETE FROM {table}")
            con.execute(
                f"INSERT INTO {table} BY NAME SELECT d.day::DATE AS snapshot_date, one_day.* "
                f"FROM range(DATE '{first}', DATE '{last}' + INTERVAL 1 DAY, INTERVAL 1 DAY) d(day), one_day"
            )
            con.execute("DROP TABLE one_day")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return path


def wide_day(base: Path, folder: Path, multiple: int) -> tuple[float, int]:
    """The writer's day with `multiple` x today's offers: replace them, rebuild the derived rows."""
    path = folder / f"wide-{multiple}x" / "gp.duckdb"
    path.parent.mkdir(parents=True)
    shutil.copy(base, path)
    day = date(2026, 8, 22)
    warehouse = Warehouse(path)
    with warehouse.writer() as w:
        offers = w.con.sql(
            f"SELECT o.* REPLACE (o.region || '#' || k.k AS region, DATE '{day}' AS snapshot_date) "
            f"FROM latest_offers o, range({multiple}) k(k)"
        ).pl()
        quarantined = w.con.sql("SELECT * FROM quarantined_offers LIMIT 0").pl()
        kinds = {s: k for s, k in w.con.sql("SELECT DISTINCT source, 'direct' FROM offers").fetchall()}

        def the_day():
            for source in offers["source"].unique().to_list():
                w.replace_offers(day, source, offers.filter(offers["source"] == source), quarantined)
            refresh_cost_metrics(w, day)
            refresh_price_index(w, day, kinds)

        seconds, _ = timed(the_day)
    return seconds, offers.height


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--years", default="1,3,10", help="years of history to build (empty: none)")
    parser.add_argument("--per-day", default="1,10,50", help="multiples of today's offers in one day")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        folder = Path(tmp)
        base = base_warehouse(folder)
        today = read.query("SELECT count(*) AS n FROM latest_offers", path=base)["n"][0]
        print(f"{os.cpu_count()} cores; today's real offers: {today:,}\n")
        print("history (today's offers every day):")
        for years in [int(y) for y in args.years.split(",") if y.strip()]:
            build_s, path = timed(lambda: history_warehouse(base, folder, years))
            publish_s, _ = timed(Warehouse(path).publish)
            rows = read.query("SELECT count(*) AS n FROM offers", path=path)["n"][0]
            reads = {name: timed(lambda sql=sql: read.query(sql, path=path))[0] for name, sql in DASHBOARD_READS.items()}
            size = path.stat().st_size / 1e9
            print(f"  {years:2d} years: {rows:>12,} offers, file {size:6.2f} GB, built in {build_s:5.1f} s, "
                  f"publish {publish_s:5.1f} s; reads: " + ", ".join(f"{k} {v:.2f} s" for k, v in reads.items()), flush=True)
            shutil.rmtree(path.parent)
        print("\none day with more offers (replace offers, cost metrics, price index):")
        for multiple in [int(m) for m in args.per_day.split(",") if m.strip()]:
            seconds, offers = wide_day(base, folder, multiple)
            print(f"  {multiple:3d}x: {offers:>10,} offers in the day: {seconds:6.1f} s", flush=True)
            shutil.rmtree(folder / f"wide-{multiple}x")


if __name__ == "__main__":
    main()
