"""Derived tables, rebuilt from offers: cost metrics and the price index. Every write is here.

The builders are pure polars (`warehouse.transforms`); these functions read their inputs from
the warehouse, build, and replace one day's rows in one transaction.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from warehouse.store import WarehouseWriter
from costmodel.offers import one_quote_per_offer
from warehouse.transforms import build_cost_metrics, build_price_index


def _frame(con, sql: str, params: dict | None = None) -> pl.DataFrame:
    return con.sql(sql, params=params).pl() if params else con.sql(sql).pl()


def refresh_cost_metrics(writer: WarehouseWriter, snapshot_date: date) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Recompute one day's cost_metrics from offers, specs and assumptions. Returns (offers, metrics)."""
    con = writer.con
    day_offers = _frame(con, "SELECT * FROM offers WHERE snapshot_date = $d", {"d": snapshot_date})
    specs = _frame(con, "SELECT * FROM gpu_specs")
    assumptions = _frame(con, "SELECT * FROM assumptions")
    metrics = build_cost_metrics(day_offers, specs, assumptions)
    writer.replace_day("cost_metrics", snapshot_date, metrics)
    return day_offers, metrics


def refresh_all_cost_metrics(writer: WarehouseWriter) -> int:
    """Recompute cost_metrics for every day with offers (after an assumption changes). Returns days."""
    days = [r[0] for r in writer.con.sql("SELECT DISTINCT snapshot_date FROM offers ORDER BY 1").fetchall()]
    for day in days:
        refresh_cost_metrics(writer, day)
    return len(days)


def refresh_price_index(writer: WarehouseWriter, snapshot_date: date, source_kinds: dict[str, str]) -> pl.DataFrame:
    """Rebuild one day's price index from the market as of that day (see docs/price-index.md):
    the SQL `offers_as_of` decides which sources are current, so the index and latest_offers
    share one staleness rule; an offer quoted by a direct source and an aggregator counts once."""
    current = _frame(writer.con, "SELECT * EXCLUDE (canonical_gpu) FROM offers_as_of($d)", {"d": snapshot_date})
    index = build_price_index(one_quote_per_offer(current, source_kinds), snapshot_date)
    writer.replace_day("price_index", snapshot_date, index)
    return index
