"""The reference runs priced at each period's market, kept in `reference_run_history`.

Pricing every reference run at every week's market plans hundreds of markets (15-60 s), far
too slow for a page load, so the pipeline does it once and the History page reads the rows.
The numbers are those of `gpu-prices estimate reference --over ... --step ...`: the same runs
(`costmodel.reference_runs`), the same market of a day (`warehouse.read.offers_on_query`, each
offer once, with node facts) and the same specs and assumptions tables.

A period's rows depend only on its as-of day's market, so a refresh after new days prices only
the periods whose market those days can touch (as-of day from the new day to its source's
cadence later), the periods that are new, and re-prices the last one (its as-of day is the
newest snapshot, so it moves with every new day). `full=True` prices everything again: after
the specs or assumptions change (`gpu-prices assumptions set` does).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Callable, Iterable

import polars as pl

from costmodel import reference_runs
from costmodel.assumptions import Assumptions
from costmodel.gpus import GpuSpec
from costmodel.offers import one_quote_per_offer, with_node_facts
from warehouse.read import offers_on_query
from warehouse.store import WarehouseWriter

STEPS = ("week", "month")
# pricing asked -> the run's pricing option (None: any kind)
PRICINGS: dict[str, str | None] = {"on_demand": "on_demand", "spot": "spot", "any": None}


def span_of(writer: WarehouseWriter) -> tuple[date, date] | None:
    """From January 1st of the first snapshot's year to the newest snapshot day."""
    lo, hi = writer.con.sql("SELECT min(snapshot_date), max(snapshot_date) FROM source_snapshots").fetchall()[0]
    return (date(lo.year, 1, 1), hi) if hi is not None else None


def _max_age_days(writer: WarehouseWriter) -> int:
    return int(writer.con.sql("SELECT coalesce(max(max_age_days), 0) FROM source_cadence").fetchall()[0][0])


def refresh_reference_history(writer: WarehouseWriter, source_kinds: dict[str, str],
                              changed_days: Iterable[date] = (), *, full: bool = False,
                              progress: Callable[[str], None] | None = None) -> int:
    """Bring reference_run_history up to date with the warehouse; returns the periods priced."""
    con = writer.con
    span = span_of(writer)
    if span is None:
        con.execute("DELETE FROM reference_run_history")
        con.execute("DELETE FROM reference_run_periods")
        return 0
    reach = timedelta(days=_max_age_days(writer))
    changed = sorted(set(changed_days))
    wanted = {(step, period, as_of) for step in STEPS for period, as_of in reference_runs.periods(*span, step)}
    stored = set(con.sql("SELECT DISTINCT step, period, as_of FROM reference_run_periods").fetchall())
    todo = wanted if full else (wanted - stored) | {
        (step, period, as_of) for step, period, as_of in wanted
        if any(day <= as_of <= day + reach for day in changed)
    }
    gone = (stored - wanted) | todo
    specs = {row["gpu"]: GpuSpec.from_row(row) for row in con.sql("SELECT * FROM gpu_specs").pl().iter_rows(named=True)}
    assumptions = Assumptions(con.sql("SELECT * FROM assumptions").pl())
    markets: dict[date, pl.DataFrame] = {}

    def market_on(day: date) -> pl.DataFrame:
        if day not in markets:
            sql, params = offers_on_query(day)
            markets[day] = with_node_facts(one_quote_per_offer(con.sql(sql, params=params).pl(), source_kinds))
        return markets[day]

    frames = []
    for step in STEPS:
        spans = sorted((period, as_of) for s, period, as_of in todo if s == step)
        if not spans:
            continue
        if progress is not None:
            progress(f"reference runs: pricing {len(spans)} {step}(s) x {len(PRICINGS)} pricing kinds")
        for asked, pricing in PRICINGS.items():
            for run in reference_runs.REFERENCE_RUNS.values():
                rows = reference_runs.price_over(run.with_options(pricing), spans, market_on, specs, assumptions)
                frames.append(rows.with_columns(step=pl.lit(step), pricing_asked=pl.lit(asked)))
    priced = pl.DataFrame(
        [(step, asked, period, as_of) for step, period, as_of in todo for asked in PRICINGS],
        schema={"step": pl.String, "pricing_asked": pl.String, "period": pl.Date, "as_of": pl.Date}, orient="row",
    ).with_columns(priced_at=pl.lit(datetime.now(timezone.utc)))
    removed = pl.DataFrame(sorted(gone), schema={"step": pl.String, "period": pl.Date, "as_of": pl.Date}, orient="row")
    rows = pl.concat(frames, how="diagonal_relaxed") if frames else None
    con.execute("BEGIN TRANSACTION")
    try:
        con.register("gone_periods", removed)
        for table in ("reference_run_history", "reference_run_periods"):
            con.execute(f"DELETE FROM {table} t USING gone_periods g "
                        "WHERE t.step = g.step AND t.period = g.period AND t.as_of = g.as_of")
        # a period priced before at another as-of day (the last one moves with the newest day)
        con.register("priced_periods", priced)
        for table in ("reference_run_history", "reference_run_periods"):
            con.execute(f"DELETE FROM {table} t USING priced_periods p "
                        "WHERE t.step = p.step AND t.period = p.period")
        con.execute("INSERT INTO reference_run_periods BY NAME SELECT * FROM priced_periods")
        if rows is not None and rows.height:
            con.register("priced_rows", rows)
            con.execute("INSERT INTO reference_run_history BY NAME SELECT * FROM priced_rows")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        for name in ("gone_periods", "priced_periods", "priced_rows"):
            try:
                con.unregister(name)
            except Exception:  # noqa: BLE001 - not registered on this path
                pass
    return len(todo)
