"""The offers history as an Apache Iceberg table that other engines can read.

Why: beyond one machine, Spark, Trino and polars read the history without DuckDB. This writes
the replayed bundled snapshot's offers into an Iceberg table in a local SQL catalog (SQLite),
reads it back with pyiceberg and with polars, and requires the very same rows; re-exporting a
day replaces exactly that day; a column the offers table gains appears in the Iceberg schema;
and `gpu-prices export-iceberg` does the same from the command line.
"""

from __future__ import annotations

import shutil
from datetime import date

import polars as pl
import pytest

from tests.conftest import run_cli
from warehouse import read
from warehouse.iceberg import DEFAULT_TABLE, export_offers_history, local_catalog
from warehouse.store import Warehouse

KEY = ["snapshot_date", "source", "provider", "region", "instance_type", "pricing"]


def duckdb_offers(path, where: str = "") -> pl.DataFrame:
    frame = read.query(f"SELECT * FROM offers {where}", path=path)
    # Iceberg keeps timestamps in UTC, microseconds: compare like with like.
    return frame.with_columns(pl.col("observed_at").dt.convert_time_zone("UTC")).sort(KEY)


def iceberg_offers(table) -> pl.DataFrame:
    return pl.scan_iceberg(table).collect().sort(KEY)


@pytest.fixture
def copy_of_replayed(replayed_warehouse, tmp_path):
    """A writable copy of the replayed warehouse (working file, published copy and raw/)."""
    folder = tmp_path / "warehouse"
    shutil.copytree(replayed_warehouse.parent, folder)
    return folder / replayed_warehouse.name


def test_the_history_reads_back_the_same_from_pyiceberg_and_polars(copy_of_replayed, tmp_path):
    catalog = local_catalog(tmp_path / "iceberg")
    result = export_offers_history(catalog, warehouse_path=copy_of_replayed)
    expected = duckdb_offers(copy_of_replayed)
    assert result.rows == expected.height > 1000
    assert result.days == expected["snapshot_date"].n_unique() >= 5

    table = catalog.load_table(DEFAULT_TABLE)
    assert [f.name for f in table.spec().fields] == ["snapshot_month"]
    from_polars = iceberg_offers(table)
    assert from_polars.columns == expected.columns
    assert from_polars.equals(expected)
    from_pyiceberg = pl.from_arrow(table.scan().to_arrow()).sort(KEY)
    assert from_pyiceberg.equals(expected)
    # A predicate pushed down to the table's files, as Trino or Spark would.
    one_day = pl.from_arrow(table.scan(row_filter="snapshot_date = '2026-08-22'").to_arrow()).sort(KEY)
    assert one_day.equals(expected.filter(pl.col("snapshot_date") == date(2026, 8, 22)))

    # Exporting everything again replaces, never duplicates.
    export_offers_history(catalog, warehouse_path=copy_of_replayed)
    assert iceberg_offers(catalog.load_table(DEFAULT_TABLE)).equals(expected)


def test_re_exporting_a_day_replaces_exactly_that_day(copy_of_replayed, tmp_path):
    catalog = local_catalog(tmp_path / "iceberg")
    export_offers_history(catalog, warehouse_path=copy_of_replayed)
    day = date(2026, 8, 22)
    warehouse = Warehouse(copy_of_replayed)
    with warehouse.writer() as w:  # the day is re-run and azure has no offers any more
        from market.rules import FinalizedOffers
        from market.offer import OFFER_COLUMNS, QUARANTINE_COLUMNS

        none = FinalizedOffers("azure", 0, pl.DataFrame(schema=OFFER_COLUMNS), pl.DataFrame(schema=QUARANTINE_COLUMNS),
                               pl.DataFrame(schema={"rule": pl.String, "rows": pl.Int64}))
        w.replace_offers(day, "azure", none)
        # offers (a view over the stored intervals) gains a column
        w.con.execute("ALTER VIEW offers RENAME TO offers_before")
        w.con.execute("CREATE VIEW offers AS SELECT *, false AS backfilled FROM offers_before")
    warehouse.publish()

    result = export_offers_history(catalog, days=[day], warehouse_path=copy_of_replayed)
    after = iceberg_offers(catalog.load_table(DEFAULT_TABLE))
    expected = duckdb_offers(copy_of_replayed)
    assert result.rows == expected.filter(pl.col("snapshot_date") == day).height
    assert "backfilled" in after.columns  # the new column reached the Iceberg schema
    assert after.filter(pl.col("snapshot_date") == day).equals(expected.filter(pl.col("snapshot_date") == day))
    assert after.filter(pl.col("source") == "azure", pl.col("snapshot_date") == day).is_empty()
    # Other days are as exported before (their new column is empty there: written before it existed).
    others = after.filter(pl.col("snapshot_date") != day).drop("backfilled")
    assert others.equals(expected.filter(pl.col("snapshot_date") != day).drop("backfilled"))


def test_the_command_exports_to_a_local_catalog(copy_of_replayed, tmp_path):
    folder = tmp_path / "cli_iceberg"
    result = run_cli("export-iceberg", "--warehouse", str(copy_of_replayed), "--catalog-dir", str(folder))
    expected = duckdb_offers(copy_of_replayed)
    assert f"{expected.height:,} offers" in result.stdout
    assert iceberg_offers(local_catalog(folder).load_table(DEFAULT_TABLE)).equals(expected)
