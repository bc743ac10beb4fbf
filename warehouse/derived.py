"""Derived tables, rebuilt from offers: cost metrics and the price index. Every write is here.

The builders are pure polars (`warehouse.transforms`); these functions read their inputs from
the warehouse, build, and replace one day's rows in one transaction.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from warehouse.store import WarehouseWriter
from warehouse.transforms import (
    CARRY_FORWARD_DAYS,
    build_cost_metrics,
    build_index_links,
    build_price_index,
    offers_as_of,
    with_index_links,
)


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


def market_on(writer: WarehouseWriter, day: date, source_kinds: dict[str, str]) -> pl.DataFrame:
    """The market the index sees on `day` (carry-forward window, one quote per offer)."""
    recent = _frame(
        writer.con,
        f"SELECT * FROM offers WHERE snapshot_date <= $d AND snapshot_date > $d - INTERVAL {CARRY_FORWARD_DAYS} DAY",
        {"d": day},
    )
    return offers_as_of(recent, day, source_kinds)


def _index_day_beside(writer: WarehouseWriter, day: date, later: bool) -> date | None:
    sql = ("SELECT min(snapshot_date) FROM price_index WHERE snapshot_date > $d" if later
           else "SELECT max(snapshot_date) FROM price_index WHERE snapshot_date < $d")
    return writer.con.sql(sql, params={"d": day}).fetchall()[0][0]


def _write_index_day(writer: WarehouseWriter, day: date, market: pl.DataFrame,
                     previous_day: date | None, previous_market: pl.DataFrame | None) -> pl.DataFrame:
    index = with_index_links(build_price_index(market, day), build_index_links(previous_market, market), previous_day)
    writer.replace_day("price_index", day, index)
    return index


def refresh_price_index(writer: WarehouseWriter, snapshot_date: date, source_kinds: dict[str, str]) -> pl.DataFrame:
    """Rebuild one day's price index from the market as of that day (see docs/price-index.md).

    The day's chain link compares its market with the previous index day's; the next index day
    (if already built) is linked to this one, so it is rebuilt too. Days further on keep their
    links: the chained level is multiplied out on read, so they follow without a rewrite."""
    previous_day = _index_day_beside(writer, snapshot_date, later=False)
    market = market_on(writer, snapshot_date, source_kinds)
    previous_market = market_on(writer, previous_day, source_kinds) if previous_day else None
    index = _write_index_day(writer, snapshot_date, market, previous_day, previous_market)
    next_day = _index_day_beside(writer, snapshot_date, later=True)
    if next_day is not None:
        _write_index_day(writer, next_day, market_on(writer, next_day, source_kinds), snapshot_date, market)
    return index


def refresh_all_price_index(writer: WarehouseWriter, source_kinds: dict[str, str]) -> int:
    """Rebuild the price index (raw and links) for every index day and every day with offers,
    in date order, each linked to the one before (e.g. after migration 7 added the links to a
    warehouse whose index rows have none). Returns the number of days."""
    days = [r[0] for r in writer.con.sql(
        "SELECT snapshot_date FROM offers UNION SELECT snapshot_date FROM price_index ORDER BY 1"
    ).fetchall()]
    previous_day, previous_market = None, None
    for day in days:
        market = market_on(writer, day, source_kinds)
        _write_index_day(writer, day, market, previous_day, previous_market)
        previous_day, previous_market = day, market
    return len(days)
