"""Derived tables, rebuilt from offers: cost metrics and the price index. Every write is here.

The builders are pure polars (`warehouse.transforms`); these functions read their inputs from
the warehouse, build, and replace one day's rows in one transaction.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from warehouse.store import WarehouseWriter
from warehouse.transforms import CARRY_FORWARD_DAYS, build_cost_metrics, build_price_index, offers_as_of


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
    """Rebuild one day's price index from the market as of that day (see docs/price-index.md)."""
    recent = _frame(
        writer.con,
        f"SELECT * FROM offers WHERE snapshot_date <= $d AND snapshot_date > $d - INTERVAL {CARRY_FORWARD_DAYS} DAY",
        {"d": snapshot_date},
    )
    index = build_price_index(offers_as_of(recent, snapshot_date, source_kinds), snapshot_date)
    writer.replace_day("price_index", snapshot_date, index)
    return index
