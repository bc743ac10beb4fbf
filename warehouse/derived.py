"""Derived tables, rebuilt from offers: cost metrics and the price index. Every write is here.

The builders are pure polars (`warehouse.transforms`); these functions read their inputs from
the warehouse, build, and replace one day's rows in one transaction.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from warehouse.store import OFFER_KEY_COLUMNS, WarehouseWriter
from costmodel.offers import one_quote_per_offer
from warehouse.transforms import build_cost_metrics, build_price_index


def _frame(con, sql: str, params: dict | None = None) -> pl.DataFrame:
    return con.sql(sql, params=params).pl() if params else con.sql(sql).pl()


def refresh_cost_metrics(writer: WarehouseWriter, snapshot_date: date) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Recompute the cost metrics of the offers of one day (and of any interval still without
    them) from specs and assumptions. Metrics are stored per offer interval, so a day that
    only extends yesterday's intervals writes nothing. Returns (the day's offers, its metrics)."""
    _refresh_interval_metrics(
        writer,
        """SELECT i.* FROM offer_intervals i
           WHERE (i.valid_from <= $d AND i.valid_to >= $d)
              OR i.interval_id NOT IN (SELECT interval_id FROM cost_metric_intervals)""",
        {"d": snapshot_date},
    )
    day = {"d": snapshot_date}
    return (_frame(writer.con, "SELECT * FROM offers WHERE snapshot_date = $d", day),
            _frame(writer.con, "SELECT * FROM cost_metrics WHERE snapshot_date = $d", day))


def refresh_all_cost_metrics(writer: WarehouseWriter) -> int:
    """Recompute every interval's cost metrics (after an assumption changes). Returns days."""
    _refresh_interval_metrics(writer, "SELECT * FROM offer_intervals", None)
    return writer.con.sql("SELECT count(DISTINCT snapshot_date) FROM source_snapshots").fetchall()[0][0]


def _refresh_interval_metrics(writer: WarehouseWriter, intervals_sql: str, params: dict | None) -> None:
    """build_cost_metrics over these intervals (each standing for any of its days: its values
    are the same on all of them), stored per interval."""
    con = writer.con
    intervals = _frame(con, intervals_sql, params)
    # The builder speaks offers: an interval's last day stands in for its snapshot_date, and
    # (key, last day) finds the interval again.
    as_offers = intervals.rename({"valid_to": "snapshot_date"})
    metrics = build_cost_metrics(as_offers, _frame(con, "SELECT * FROM gpu_specs"), _frame(con, "SELECT * FROM assumptions"))
    ids = as_offers.select(*OFFER_KEY_COLUMNS, "snapshot_date", "interval_id")
    metrics = metrics.join(ids, on=[*OFFER_KEY_COLUMNS, "snapshot_date"], how="inner")
    writer.replace_interval_metrics(intervals["interval_id"], metrics)


def refresh_price_index(writer: WarehouseWriter, snapshot_date: date, source_kinds: dict[str, str]) -> pl.DataFrame:
    """Rebuild one day's price index from the market as of that day (see docs/price-index.md):
    the SQL `offers_as_of` decides which sources are current, so the index and latest_offers
    share one staleness rule; an offer quoted by a direct source and an aggregator counts once."""
    current = _frame(writer.con, "SELECT * EXCLUDE (canonical_gpu) FROM offers_as_of($d)", {"d": snapshot_date})
    index = build_price_index(one_quote_per_offer(current, source_kinds), snapshot_date)
    writer.replace_day("price_index", snapshot_date, index)
    return index
