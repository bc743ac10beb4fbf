"""Bytes per offer-day: history stored as intervals against today's per-day copy, same run.

    python benchmarks/history_storage.py [--days 365] [--regions 10] [--old-days 28]
                                         [--writer-days 7] [--keep DIR]

Builds, in a temporary folder (or --keep DIR, which benchmarks/dashboard_queries.py reads):

* a generated year: real offers (every source's newest day in the warehouse replayed from the
  bundled snapshot, ~5,200) repeated over --regions invented regions (~52,000 offers a day; the
  regions are invented, the prices real), on every day of --days. Each week ~3% of offers change
  price by -10%..+10% (a deterministic hash picks them), the rest stay put. Never published.
* the interval layout (schema migration 5) holding it: the first days bulk-loaded as the
  intervals the writer produces (tests/test_history_storage.py proves the writer's intervals
  are exactly these runs), the last --writer-days through the real writer (`replace_offers`,
  `refresh_cost_metrics`, `refresh_price_index`), so its updates and deletes are in the file;
  cost metrics per interval and the price index for every day.
* today's per-day layout (schema 4: one row per offer per day in `offers`, per offer, day and
  precision in `cost_metrics`, the index) for --old-days of the same data. Its size grows
  linearly with days (every row is a copy), so bytes per offer-day over a few weeks is its
  figure for a year; --old-days 365 builds the whole year (slow: 19M offer rows, ~90M metric rows).

Prints each layout's file size and bytes per offer-day (file size after CHECKPOINT / offers x
days it holds), the ratio, and the writer's seconds per day and publish() seconds.
Target (issue 10): at most 5 bytes per offer-day at 50k offers/day for a year.
"""

from __future__ import annotations

import argparse
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
import polars as pl  # noqa: E402

from connectors.registry import source_kinds  # noqa: E402
from market.offer import OFFER_COLUMNS, QUARANTINE_COLUMNS  # noqa: E402
from market.rules import FinalizedOffers  # noqa: E402
from warehouse.derived import refresh_all_cost_metrics, refresh_cost_metrics, refresh_price_index  # noqa: E402
from warehouse.reference_history import refresh_reference_history  # noqa: E402
from warehouse.schema import MIGRATIONS  # noqa: E402
from warehouse.specs import load_reference_tables  # noqa: E402
from warehouse.store import Warehouse  # noqa: E402

LAST_DAY = date(2026, 8, 22)  # the bundled snapshot's newest day; the year ends there
WEEKLY_CHANGE_PCT = 3
KINDS = source_kinds()


def replayed(folder: Path) -> Path:
    path = folder / "base" / "gp.duckdb"
    subprocess.run([sys.executable, "-m", "cli.main", "ingest", "--replay", "--warehouse", str(path)],
                   cwd=ROOT, check=True, capture_output=True)
    return path


def generated_offers(base: Path, regions: int) -> pl.DataFrame:
    """Every source's newest day of real offers, repeated over invented regions, numbered."""
    con = duckdb.connect(str(base), read_only=True)
    try:
        return con.sql(
            f"""
            SELECT row_number() OVER (ORDER BY o.source, o.provider, o.region, o.instance_type, o.pricing, k.k) AS offer_no,
                   o.* EXCLUDE (snapshot_date, observed_at, raw_response_id)
                   REPLACE (o.region || '~synthetic-' || k.k AS region)
            FROM offers o
            JOIN (SELECT source, max(snapshot_date) AS d FROM offers GROUP BY source) newest
              ON newest.source = o.source AND newest.d = o.snapshot_date,
                 range({regions}) k(k)
            """
        ).pl()
    finally:
        con.close()


def price_segments(offers: pl.DataFrame, first: date, last: date) -> pl.DataFrame:
    """offer_no, valid_from, valid_to, factor: the runs of one price each offer has over the
    period (a change on ~3% of offers each week, -10%..+10%, never 0%)."""
    weeks = (last - first).days // 7
    changes = (
        pl.DataFrame({"offer_no": offers["offer_no"]})
        .join(pl.DataFrame({"week": list(range(1, weeks + 1))}), how="cross")
        .with_columns(h=pl.struct("offer_no", "week").hash(seed=10))
        .filter(pl.col("h") % 100 < WEEKLY_CHANGE_PCT)
        .with_columns(pct=(pl.col("h") // 100) % 20 - 10)  # -10..+9, never 0: a change changes
        .with_columns(step=1 + pl.when(pl.col("pct") >= 0).then(pl.col("pct") + 1).otherwise(pl.col("pct")).cast(pl.Float64) / 100)
        .select("offer_no", "week", "step")
    )
    starts = pl.concat([
        pl.DataFrame({"offer_no": offers["offer_no"], "week": 0, "step": 1.0},
                     schema={"offer_no": pl.Int64, "week": pl.Int64, "step": pl.Float64}),
        changes.cast({"offer_no": pl.Int64, "week": pl.Int64}),
    ]).sort("offer_no", "week")
    return (
        starts.with_columns(
            factor=pl.col("step").cum_prod().over("offer_no"),
            valid_from=pl.lit(first) + pl.duration(days=7 * pl.col("week")),
        )
        .with_columns(
            valid_to=(pl.col("valid_from").shift(-1).over("offer_no") - pl.duration(days=1)).fill_null(pl.lit(last))
        )
        .select("offer_no", "valid_from", "valid_to", "factor")
    )


def priced(offers: pl.DataFrame, segments: pl.DataFrame) -> pl.DataFrame:
    """One row per offer and price run, prices scaled by the run's factor (rounded to cents' 1/100)."""
    return offers.join(segments, on="offer_no").with_columns(
        price_usd_per_hour=(pl.col("price_usd_per_hour") * pl.col("factor")).round(4),
        price_usd_per_gpu_hour=(pl.col("price_usd_per_gpu_hour") * pl.col("factor")).round(4),
        price_original=(pl.col("price_original") * pl.col("factor")).round(4),
    ).drop("factor")


def day_rows(runs: pl.DataFrame, day: date) -> pl.DataFrame:
    """The offers of one day (the runs covering it), as a connector's finalized rows."""
    from datetime import datetime, timezone

    fetched = datetime(day.year, day.month, day.day, 6, tzinfo=timezone.utc)
    return (
        runs.filter((pl.col("valid_from") <= day) & (pl.col("valid_to") >= day))
        .with_columns(snapshot_date=pl.lit(day), observed_at=pl.lit(fetched),
                      raw_response_id=pl.concat_str(pl.col("source"), pl.lit(f"-{day}")))
        .select(list(OFFER_COLUMNS))
        .cast({c: t for c, t in OFFER_COLUMNS.items()})
    )


def interval_layout(folder: Path, runs: pl.DataFrame, first: date, last: date, writer_days: int) -> tuple[Path, float, int]:
    """The year in the interval layout. Returns (path, writer seconds per day, offers per day)."""
    path = folder / "intervals" / "gpu_prices.duckdb"
    warehouse = Warehouse(path)
    cut = last - timedelta(days=writer_days)
    with warehouse.writer() as w:
        load_reference_tables(w)
        con = w.con
        sources = runs["source"].unique().sort().to_list()
        urls = runs.select("source", "source_url").unique()
        bulk = runs.filter(pl.col("valid_from") <= cut).with_columns(valid_to=pl.min_horizontal("valid_to", pl.lit(cut)))
        con.register("bulk", bulk)
        con.register("urls", urls)
        con.register("days", pl.DataFrame({"snapshot_date": pl.date_range(first, cut, eager=True)}))
        con.register("sources", pl.DataFrame({"source": sources}))
        con.execute("INSERT INTO source_snapshots SELECT s.source, d.snapshot_date FROM sources s, days d")
        con.execute(
            "INSERT INTO offer_observations SELECT u.source, d.snapshot_date, u.source_url, "
            "make_timestamptz(year(d.snapshot_date), month(d.snapshot_date), day(d.snapshot_date), 6, 0, 0, 'UTC'), "
            "u.source || '-' || d.snapshot_date "
            "FROM urls u, days d"
        )
        con.execute(
            "INSERT INTO offer_intervals BY NAME SELECT nextval('offer_interval_ids') AS interval_id, "
            "* EXCLUDE (offer_no) FROM bulk ORDER BY source, provider, instance_type, region, pricing, valid_from"
        )
        for name in ("bulk", "urls", "days", "sources"):
            con.unregister(name)
        refresh_all_cost_metrics(w)
        con.execute("CHECKPOINT")
        started = time.perf_counter()
        per_day = 0
        for n in range(1, writer_days + 1):
            day = cut + timedelta(days=n)
            rows = day_rows(runs, day)
            per_day = rows.height
            for source in sources:
                mine = rows.filter(pl.col("source") == source)
                w.replace_offers(day, source, FinalizedOffers(source, mine.height, mine, pl.DataFrame(schema=QUARANTINE_COLUMNS),
                                                              pl.DataFrame(schema={"rule": pl.String, "rows": pl.Int64})))
            refresh_cost_metrics(w, day)
            refresh_price_index(w, day, KINDS)
        writer_s = (time.perf_counter() - started) / max(writer_days, 1)
        for n in range((cut - first).days + 1):
            refresh_price_index(w, first + timedelta(days=n), KINDS)
        # the reference runs, as the pipeline prices them (the History page reads them)
        refresh_reference_history(w, KINDS, full=True)
        con.execute("CHECKPOINT")
    return path, writer_s, per_day


def per_day_layout(folder: Path, intervals: Path, days: int) -> tuple[Path, int]:
    """Today's layout (schema 4) holding the interval warehouse's last `days` days, row for row."""
    path = folder / "per-day" / "gpu_prices.duckdb"
    path.parent.mkdir(parents=True)
    con = duckdb.connect(str(path))
    try:
        con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ)")
        for number, ddl in enumerate(MIGRATIONS[:4], start=1):
            con.execute(ddl)
            con.execute("INSERT INTO schema_version VALUES (?, now())", [number])
        con.execute(f"ATTACH '{intervals}' AS new (READ_ONLY)")
        since = f"(SELECT max(snapshot_date) - INTERVAL {days - 1} DAY FROM new.source_snapshots)"
        for table in ("offers", "cost_metrics", "price_index"):
            # Schema 4's columns only (later migrations added some, e.g. the chain links of 6).
            columns = ", ".join(f'"{r[0]}"' for r in con.sql(f"DESCRIBE {table}").fetchall())
            con.execute(f"INSERT INTO {table} BY NAME SELECT {columns} FROM new.{table} WHERE snapshot_date >= {since}")
        for table in ("gpu_specs", "assumptions"):
            con.execute(f"DELETE FROM {table}")
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM new.{table}")
        offer_days = con.sql("SELECT count(*) FROM offers").fetchall()[0][0]
        con.execute("DETACH new")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return path, offer_days


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--regions", type=int, default=10, help="invented regions per real offer (10: ~52k offers/day)")
    parser.add_argument("--old-days", type=int, default=28, help="days of today's per-day layout to build")
    parser.add_argument("--writer-days", type=int, default=7, help="last days written through the real writer")
    parser.add_argument("--keep", type=Path, help="build here and keep it (for benchmarks/dashboard_queries.py)")
    args = parser.parse_args()

    tmp = None if args.keep else tempfile.TemporaryDirectory(prefix="bench-history-")
    folder = args.keep or Path(tmp.name)
    if args.keep and (folder / "intervals").exists():
        shutil.rmtree(folder / "intervals")
        shutil.rmtree(folder / "per-day", ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        started = time.perf_counter()
        base = replayed(folder) if not (folder / "base" / "gp.duckdb").exists() else folder / "base" / "gp.duckdb"
        first = LAST_DAY - timedelta(days=args.days - 1)
        offers = generated_offers(base, args.regions)
        runs = priced(offers, price_segments(offers, first, LAST_DAY))
        print(f"generated: {offers.height:,} offers/day x {args.days} days = {offers.height * args.days:,} offer-days; "
              f"{runs.height:,} price runs ({WEEKLY_CHANGE_PCT}% of offers change price each week)", flush=True)

        new_path, writer_s, per_day = interval_layout(folder, runs, first, LAST_DAY, args.writer_days)
        new_size = new_path.stat().st_size
        new_offer_days = offers.height * args.days
        con = duckdb.connect(str(new_path), read_only=True)
        counts = {t: con.sql(f"SELECT count(*) FROM {t}").fetchall()[0][0]
                  for t in ("offer_intervals", "cost_metric_intervals", "price_index", "source_snapshots", "offer_observations")}
        assert con.sql("SELECT count(*) FROM offers").fetchall()[0][0] == new_offer_days, "the offers view lost rows"
        con.close()
        publish_s = -time.perf_counter()
        Warehouse(new_path).publish()
        publish_s += time.perf_counter()

        old_path, old_offer_days = per_day_layout(folder, new_path, args.old_days)
        old_size = old_path.stat().st_size

        new_bpod, old_bpod = new_size / new_offer_days, old_size / old_offer_days
        print(f"\ninterval layout: {new_size / 1e6:8.1f} MB for {new_offer_days:,} offer-days ({args.days} days) "
              f"= {new_bpod:6.2f} bytes/offer-day   rows: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
        print(f"per-day layout:  {old_size / 1e6:8.1f} MB for {old_offer_days:,} offer-days ({args.old_days} days) "
              f"= {old_bpod:6.2f} bytes/offer-day   (a year: ~{old_bpod * new_offer_days / 1e9:.2f} GB)")
        print(f"ratio: the per-day layout takes {old_bpod / new_bpod:,.0f}x the bytes per offer-day "
              f"(target <= 5 bytes/offer-day: {'met' if new_bpod <= 5 else 'NOT met'})")
        print(f"writer, one day of {per_day:,} offers (replace offers, cost metrics, index): {writer_s:.2f} s; "
              f"publish() of the interval file: {publish_s:.2f} s; whole run {time.perf_counter() - started:.0f} s")
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    main()
