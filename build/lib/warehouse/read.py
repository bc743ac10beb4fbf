"""Read-only access to the published warehouse, for the dashboard, the CLI and analysts.

Readers open the *published* copy (see `warehouse.store`), never the file an ingest writes, so
reads keep working during an ingest. User SQL is held to a read-only surface: one SELECT-like
statement, on a read-only connection with external access (files, network, extensions) off.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import polars as pl

from warehouse.store import Warehouse, resolve_path

# Statement types a user may run. Everything else (COPY, ATTACH, INSTALL, CREATE, DELETE, SET,
# PRAGMA, ...) is refused before it reaches the database.
ALLOWED_STATEMENTS = {
    duckdb.StatementType.SELECT,
    duckdb.StatementType.EXPLAIN,
}

READ_ONLY_CONFIG = {
    "access_mode": "READ_ONLY",
    "enable_external_access": False,  # no read_csv('/etc/...'), no httpfs, no ATTACH of files
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "lock_configuration": True,  # and the above cannot be SET back
}


class WarehouseMissing(FileNotFoundError):
    pass


class SqlRefused(ValueError):
    """A statement that the read-only SQL surface does not run."""


def published_file(path: str | Path | None = None) -> Path:
    warehouse = Warehouse(path)
    if not warehouse.published.exists():
        raise WarehouseMissing(
            f"No published warehouse at {warehouse.published}. Run `gpu-prices ingest --replay` "
            "(the bundled snapshot, offline) or `gpu-prices ingest` (live) first, or point "
            "--warehouse / GPU_PRICES_WAREHOUSE at an existing one."
        )
    return warehouse.published


def connect(path: str | Path | None = None, retries: int = 5) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the published warehouse, retried briefly if a swap races it."""
    target = published_file(path)
    for attempt in range(retries):
        try:
            return duckdb.connect(str(target), config=dict(READ_ONLY_CONFIG))
        except duckdb.IOException:
            if attempt == retries - 1:
                raise
            time.sleep(0.1 * (attempt + 1))
    raise AssertionError("unreachable")


def query(sql: str, params: dict | list | None = None, path: str | Path | None = None) -> pl.DataFrame:
    """Run trusted SQL (our own code) read-only and return a polars frame."""
    con = connect(path)
    try:
        return con.sql(sql, params=params).pl() if params else con.sql(sql).pl()
    finally:
        con.close()


def check_user_sql(sql: str) -> str:
    """Return the single statement if the read-only surface allows it, else raise SqlRefused."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise SqlRefused(f"could not parse the query: {exc}") from exc
    if not statements:
        raise SqlRefused("the query is empty")
    if len(statements) > 1:
        raise SqlRefused("one statement at a time, please (found %d)" % len(statements))
    statement = statements[0]
    if statement.type not in ALLOWED_STATEMENTS:
        kind = statement.type.name
        raise SqlRefused(
            f"{kind} statements are refused: this SQL surface is read-only. Query the views "
            "(latest_offers, gpu_cost_metrics, price_index_daily, ...) with SELECT; to change "
            "data, run an ingest."
        )
    return sql


def user_query(sql: str, path: str | Path | None = None, limit: int | None = None) -> pl.DataFrame:
    """Run an analyst's SQL on the read-only surface. Raises SqlRefused or duckdb.Error."""
    check_user_sql(sql)
    con = connect(path)
    try:
        relation = con.sql(sql)
        if relation is None:
            return pl.DataFrame()
        if limit is not None:
            relation = relation.limit(limit)
        return relation.pl()
    finally:
        con.close()


def resolved(path: str | Path | None = None) -> Path:
    return resolve_path(path)
