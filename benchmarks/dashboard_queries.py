"""The dashboard's queries on a generated year at ~50k offers/day: p50 and p95 per query.

    python benchmarks/dashboard_queries.py [--folder DIR] [--runs 20]

Reads the interval-layout warehouse benchmarks/history_storage.py builds (run it first with
`--keep DIR`). Each query runs --runs times through `warehouse.read`, after one warm-up run,
without Streamlit's cache, on one open read-only connection to the published copy (what the
query costs); opening that connection (`read.connect`, which every `read.query` call does
today) is timed on its own line, since it is paid per call whatever the query.

Three groups:
* the pages' queries as the dashboard sends them today (dashboards/data.py and app_pages);
* the other bounded reads in warehouse/read.py (one GPU, one offer, a date range, a page of
  the change log with its count);
* before: the three page queries that read the per-day `offers` view until 2026-12-02.

Prints p50 and p95 in ms and rows returned. Target (issue 10): every query p95 < 100 ms.

MEASURED (2026-12-02, 2 cores shared with another job, load average ~3; the generated year of
benchmarks/history_storage.py: 53,920 offers/day x 365 days, 32 MB): of the 17 queries the
pages send, 13 have p95 under 100 ms; over it are the Market page's whole latest market with
its headline metrics (385 ms, 53,920 rows: the page shows the whole market), one GPU's median
per provider per day over the year (244 ms: a median over 730k offer-days), the change log of
two GPUs over the year (146 ms, 5,000 rows) and the all-GPU change log (114 ms). The three
page queries that read the per-day `offers` view until this day took 758 ms, 2,403 ms and
1,720 ms (p95); they now take 4.5, 70 and 59 ms. Whole page loads: benchmarks/dashboard_load.py.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from warehouse import read  # noqa: E402

DEFAULT_FOLDER = Path("/tmp/bench-history-year")
TARGET_P95_MS = 100.0


def page_queries_today(path: Path, gpu: str, offer: dict, day) -> dict:
    """What the pages send today for their first view (dashboards/data.py and app_pages): the
    Market page's join, the Freshness reads, the History page's reads for its default view (two
    GPUs, on-demand, the whole span), and the Train/Serve market of the newest day."""
    q = lambda sql, params=None: (lambda: read.query(sql, params, path))  # noqa: E731
    qp = lambda pair: q(*pair)  # noqa: E731  (a read.*_query pair)
    oldest = read.snapshot_days(path)[-1]
    gpus = [gpu, "A100-SXM-80GB"]
    return {
        "market: data.market_offers (latest + headline metrics)": q(
            """SELECT o.*, m.precision, m.effective_tflops, m.usd_per_effective_tflop_hour, s.vendor
               FROM latest_offers o LEFT JOIN gpu_cost_metrics m
                 USING (snapshot_date, source, provider, region, instance_type, pricing)
               LEFT JOIN gpu_specs s ON s.gpu = o.gpu ORDER BY o.price_usd_per_gpu_hour"""),
        "all: data.latest_window": q("SELECT min(snapshot_date) AS lo, max(snapshot_date) AS hi FROM latest_offers"),
        "freshness: newest observation per source": q(
            "SELECT source, max(snapshot_date), min(observed_at), max(observed_at), count(*) FROM latest_offers GROUP BY source"),
        "freshness: data.ingest_status": q("SELECT * FROM ingest_status ORDER BY source"),
        "history: snapshot_days_query": qp(read.snapshot_days_query()),
        "history: index_summary_query": qp(read.index_summary_query()),
        "history: index_history_query (2 GPUs, a year)": qp(read.index_history_query(gpus, "on_demand", oldest, day)),
        "history: provider_history_query (a year)": qp(read.provider_history_query(gpu, "on_demand", oldest, day)),
        "history: price_steps_query (a year)": qp(read.price_steps_query(gpu, "on_demand", oldest, day)),
        "history: market_quote_models_query": qp(read.market_quote_models_query()),
        "history: market_quotes_query (a year)": qp(read.market_quotes_query("H100", oldest, day)),
        "history: offer_catalog_query (a year, 500)": qp(read.offer_catalog_query(gpu, oldest, day)),
        "history: one offer from offers_history": q(
            """SELECT snapshot_date, price_usd_per_hour, previous_price_usd_per_hour FROM offers_history
               WHERE source = $source AND provider = $provider AND region = $region
                 AND instance_type = $instance_type AND pricing = $pricing ORDER BY snapshot_date""", offer),
        "history: changes_of_query (2 GPUs, a year, 5000)": qp(read.changes_of_query(gpus, "on_demand", oldest, day)),
        "train/serve: offers_on_query(day)": qp(read.offers_on_query(day)),
        "train/serve: window_on_query(day)": qp(read.window_on_query(day)),
    }


def the_old_pages_queries(path: Path, day) -> dict:
    """Before the pages moved to the bounded reads (kept for the before/after)."""
    q = lambda sql, params=None: (lambda: read.query(sql, params, path))  # noqa: E731
    return {
        "history: snapshot dates from the offers view": q("SELECT DISTINCT snapshot_date FROM offers ORDER BY 1 DESC"),
        "history: offer catalog over all offers": q(
            """SELECT gpu, provider, region, instance_type, pricing, source, count(*) AS days,
                      min(price_usd_per_hour) <> max(price_usd_per_hour) AS moved
               FROM offers WHERE gpu IS NOT NULL GROUP BY ALL ORDER BY days DESC, moved DESC, gpu, provider"""),
        "train/serve: offers_on over the offers view": q(
            """WITH latest AS (SELECT source, max(snapshot_date) AS snapshot_date FROM offers
                              WHERE snapshot_date <= $day GROUP BY source)
               SELECT o.* FROM offers o JOIN latest USING (source, snapshot_date) WHERE o.gpu IS NOT NULL""",
            {"day": day}),
    }


def bounded_reads(path: Path, gpu: str, offer: dict, day) -> dict:
    since = day - timedelta(days=90)
    return {
        "read.snapshot_days": lambda: read.snapshot_days(path),
        "read.offers_on(day)": lambda: read.offers_on(day, path),
        "read.window_on(day)": lambda: read.window_on(day, path),
        "read.index_summary": lambda: read.index_summary(path),
        "read.index_history(gpu)": lambda: read.index_history(gpu, path=path),
        "read.offer_catalog(gpu)": lambda: read.offer_catalog(gpu, path),
        "read.offer_price_history(offer)": lambda: read.offer_price_history(**offer, path=path),
        "read.change_log() (all GPUs, last 30 days, 500)": lambda: read.change_log(path=path),
        "read.change_log(gpu) (a year, 500)": lambda: read.change_log(gpu=gpu, path=path),
        "read.change_log(gpu, 90 days)": lambda: read.change_log(gpu=gpu, since=since, path=path),
        "offers_as_of(day) (SQL macro)": lambda: read.query("SELECT count(*) FROM offers_as_of($d)", {"d": day}, path),
    }


def measure(fn, runs: int) -> tuple[float, float, int]:
    result = fn()  # warm-up (file cache)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    rows = result[0].height if isinstance(result, tuple) and hasattr(result[0], "height") else (
        result.height if hasattr(result, "height") else len(result) if isinstance(result, (list, tuple)) else 1)
    times.sort()
    p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
    return statistics.median(times), p95, rows


class _SharedConnection:
    """read.connect's connection, kept open across calls (close() leaves it open)."""

    def __init__(self, con) -> None:
        self._con = con

    def __getattr__(self, name):
        return getattr(self._con, name)

    def close(self) -> None:
        pass


def connect_cost(path: Path, runs: int) -> tuple[float, float, int]:
    def open_close():
        read.connect(path).close()
        return []
    return measure(open_close, runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", type=Path, default=DEFAULT_FOLDER,
                        help="what `benchmarks/history_storage.py --keep DIR` built")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--skip-today", action="store_true", help="only the bounded reads")
    args = parser.parse_args()
    path = args.folder / "intervals" / "gpu_prices.duckdb"
    if not path.exists():
        sys.exit(f"no warehouse at {path}: run `python benchmarks/history_storage.py --keep {args.folder}` first")
    offer_days = read.query("SELECT count(*) AS n FROM offers", path=path)["n"][0]
    day = read.snapshot_days(path)[0]
    gpu = "H100-SXM-80GB"
    offer = read.offer_catalog(gpu, path).select("source", "provider", "region", "instance_type", "pricing").row(0, named=True)
    print(f"warehouse: {path} ({path.stat().st_size / 1e6:.1f} MB, {offer_days:,} offer-days); {args.runs} runs each\n")
    groups = [("bounded reads (warehouse/read.py)", bounded_reads(path, gpu, offer, day))]
    if not args.skip_today:
        groups.insert(0, ("pages' queries as sent today", page_queries_today(path, gpu, offer, day)))
        groups.append(("before: the pages' old queries", the_old_pages_queries(path, day)))
    p50, p95, _ = connect_cost(path, args.runs)
    print(f"  {'read.connect + close (per read.query call)':58s} p50 {p50:8.1f} ms  p95 {p95:8.1f} ms\n")
    shared = _SharedConnection(read.connect(path))
    read.connect = lambda *a, **k: shared  # every read below runs on the one open connection
    worst = 0.0
    for title, queries in groups:
        print(title)
        for name, fn in queries.items():
            p50, p95, rows = measure(fn, args.runs)
            if not title.startswith("before"):
                worst = max(worst, p95)
            flag = "" if p95 < TARGET_P95_MS else "  > 100 ms"
            print(f"  {name:58s} p50 {p50:8.1f} ms  p95 {p95:8.1f} ms  {rows:>9,} rows{flag}", flush=True)
        print()
    print(f"pages' queries and bounded reads: worst p95 {worst:.1f} ms (target < {TARGET_P95_MS:.0f} ms: "
          f"{'met' if worst < TARGET_P95_MS else 'NOT met'})")


if __name__ == "__main__":
    main()
