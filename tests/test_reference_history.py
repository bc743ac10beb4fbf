"""The stored reference-run history is what `gpu-prices estimate reference --over` computes.

Why: issue 10. Pricing the reference runs at every week's market took 15-60 s of a History page
load; the pipeline now prices them once (warehouse/reference_history.py) and the page reads the
rows. These check that the stored rows are the CLI's numbers on the bundled snapshot, that the
incremental refresh the daily asset does ends where a full re-pricing ends, and that a period
after the newest snapshot is never priced.
"""

from __future__ import annotations

import json
from datetime import timedelta
import shutil

import polars as pl
import pytest

from connectors.registry import source_kinds
from tests.conftest import run_cli
from warehouse import read
from warehouse.reference_history import refresh_reference_history
from warehouse.store import Warehouse

KEY = ["run", "period", "generation"]
COMPARED = [*KEY, "as_of", "gpu", "provider", "instance_type", "region", "pricing", "nodes", "gpus",
            "total_cost_usd", "usd_per_month", "snapshot_date", "source"]


def _stored(path, step: str, pricing: str) -> pl.DataFrame:
    return read.query(*read.reference_history_query(step, pricing), path=path).select(COMPARED).sort(KEY)


@pytest.mark.parametrize("step,pricing", [("week", "on_demand"), ("month", "any")])
def test_stored_rows_are_the_clis_numbers(replayed_warehouse, step, pricing):
    periods = read.query(*read.reference_periods_query(step, pricing), path=replayed_warehouse)
    assert periods.height > 0
    first, last = periods["period"].min(), periods["as_of"].max()
    result = run_cli("estimate", "reference", "--over", f"{first:%Y-%m}:{last:%Y-%m}", "--step", step,
                     "--pricing", pricing, "--format", "json", "--warehouse", str(replayed_warehouse))
    cli = pl.DataFrame(json.loads(result.stdout)).with_columns(
        pl.col("period", "as_of", "snapshot_date").str.to_date()).select(COMPARED).sort(KEY)
    stored = _stored(replayed_warehouse, step, pricing)
    assert stored.height == cli.height > 0
    assert stored.select(KEY).equals(cli.select(KEY))
    for column in ("total_cost_usd", "usd_per_month"):
        assert ((stored[column] - cli[column]).abs().fill_null(0) < 1e-6 * stored[column].abs().fill_null(1)).all()
    assert stored.drop("total_cost_usd", "usd_per_month").equals(cli.drop("total_cost_usd", "usd_per_month"))
    # every period priced ends at or before the newest snapshot
    newest = read.query("SELECT max(snapshot_date) AS d FROM source_snapshots", path=replayed_warehouse)["d"][0]
    assert periods["as_of"].max() == newest


def test_the_daily_refresh_ends_where_a_full_repricing_ends(replayed_warehouse, tmp_path):
    """The replay priced the table day by day (the asset per partition); pricing it all again from
    scratch gives the same rows."""
    path = tmp_path / "gpu_prices.duckdb"
    shutil.copy(replayed_warehouse, path)
    shutil.copy(Warehouse(replayed_warehouse).published, Warehouse(path).published)
    before = {step: _stored(path, step, "on_demand") for step in ("week", "month")}
    with Warehouse(path).writer() as w:
        w.con.execute("DELETE FROM reference_run_history")
        w.con.execute("DELETE FROM reference_run_periods")
        priced = refresh_reference_history(w, source_kinds(), full=True)
        assert priced == w.con.sql("SELECT count(DISTINCT (step, period)) FROM reference_run_periods").fetchall()[0][0]
        after = {}
        for step in ("week", "month"):
            sql, params = read.reference_history_query(step, "on_demand")
            after[step] = w.con.sql(sql, params=params).pl().select(COMPARED).sort(KEY)
    for step in before:
        assert after[step].equals(before[step]), step
    # and a refresh with no new day prices nothing
    with Warehouse(path).writer() as w:
        assert refresh_reference_history(w, source_kinds()) == 0


def test_a_changed_older_day_reprices_the_periods_it_reaches(replayed_warehouse, tmp_path):
    """A day landed out of order (a backfill, a re-run) changes the market of the periods whose
    as-of day falls within its sources' cadence after it: those are priced again, and only those."""
    path = tmp_path / "gpu_prices.duckdb"
    shutil.copy(replayed_warehouse, path)
    with Warehouse(path).writer() as w:
        day = w.con.sql("SELECT max(snapshot_date) FROM source_snapshots WHERE source = 'cyclenerd'").fetchall()[0][0]
        reach = w.con.sql("SELECT max(max_age_days) FROM source_cadence").fetchall()[0][0]
        true_costs = w.con.sql("SELECT step, pricing_asked, run, period, generation, total_cost_usd, usd_per_month "
                               "FROM reference_run_history ORDER BY ALL").fetchall()
        w.con.execute("UPDATE reference_run_history SET total_cost_usd = -1, usd_per_month = -1")
        refresh_reference_history(w, source_kinds(), [day])
        repriced = w.con.sql("SELECT DISTINCT as_of FROM reference_run_history WHERE coalesce(total_cost_usd, 0) <> -1 "
                             "OR coalesce(usd_per_month, 0) <> -1").fetchall()
        assert repriced and all(day <= as_of <= day + timedelta(days=reach) for (as_of,) in repriced)
        untouched = w.con.execute("SELECT count(*) FROM reference_run_history WHERE as_of < ?", [day]).fetchall()[0][0]
        assert untouched > 0 and w.con.execute("SELECT count(*) FROM reference_run_history WHERE as_of < ? "
                                               "AND total_cost_usd <> -1", [day]).fetchall()[0][0] == 0
        within = w.con.execute("SELECT step, pricing_asked, run, period, generation, total_cost_usd, usd_per_month "
                           "FROM reference_run_history WHERE as_of BETWEEN ? AND ? ORDER BY ALL",
                           [day, day + timedelta(days=reach)]).fetchall()
    assert within and set(within) <= set(true_costs)
