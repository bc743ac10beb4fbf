"""Derived tables, rebuilt from offers: cost metrics and the price index. Every write is here.

The builders are pure polars (`warehouse.transforms`); these functions read their inputs from
the warehouse, build, and replace one day's rows in one transaction.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from warehouse.store import OFFER_KEY_COLUMNS, WarehouseWriter
from costmodel.offers import one_quote_per_offer
from warehouse.transforms import build_cost_metrics, build_index_links, build_price_index, with_index_links


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


def market_on(writer: WarehouseWriter, day: date, source_kinds: dict[str, str]) -> pl.DataFrame:
    """The market the index sees on `day`: the SQL `offers_as_of` decides which sources are
    current (the same staleness rule as latest_offers); an offer quoted by a direct source and
    an aggregator counts once."""
    current = _frame(writer.con, "SELECT * EXCLUDE (canonical_gpu) FROM offers_as_of($d)", {"d": day})
    return one_quote_per_offer(current, source_kinds)


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
    in date order, each linked to the one before (e.g. after migration 6 added the links to a
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
