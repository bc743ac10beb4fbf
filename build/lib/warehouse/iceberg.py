"""The offers history published as an Apache Iceberg table, for Spark, Trino, polars and friends.

The DuckDB file stays the system of record; this is a copy other engines can read without
DuckDB: one Iceberg table (`gpu_prices.offers_history` by default) holding every row of
`offers`, partitioned by month of `snapshot_date`, written with pyiceberg from the *published*
copy (read-only, so an export never waits for or blocks the writer).

Catalogs. `local_catalog(folder)` is a SQL catalog in a SQLite file with the data files beside
it: enough for one machine, for tests, and for polars / pyiceberg on the same disk. Any other
catalog pyiceberg knows (REST, Glue, Hive, a SQL catalog on PostgreSQL that Spark's and Trino's
JDBC catalogs can share) is loaded by name from pyiceberg's own configuration
(`~/.pyiceberg.yaml` or `PYICEBERG_CATALOG__<NAME>__URI`, ...). See docs/scale.md.

Writes are idempotent: exporting every day replaces the table's rows; exporting some days
replaces exactly those days (an overwrite filtered on `snapshot_date`). A column the offers
table gained since the last export is added to the Iceberg schema first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa
from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.expressions import In
from pyiceberg.table import Table
from pyiceberg.transforms import MonthTransform

from warehouse import read

DEFAULT_TABLE = "gpu_prices.offers_history"
PARTITION_FIELD = "snapshot_month"


@dataclass(frozen=True)
class ExportResult:
    table: str
    location: str
    rows: int
    days: int
    snapshot_id: int | None


def local_catalog(folder: str | Path, name: str = "gpu_prices") -> SqlCatalog:
    """A SQL catalog in `folder/catalog.db` (SQLite) with its data files in `folder/data/`."""
    folder = Path(folder).expanduser().resolve()
    (folder / "data").mkdir(parents=True, exist_ok=True)
    return SqlCatalog(name, uri=f"sqlite:///{folder / 'catalog.db'}", warehouse=(folder / "data").as_uri())


def named_catalog(name: str) -> Catalog:
    """A catalog from pyiceberg's configuration (REST, Glue, Hive, SQL on PostgreSQL, ...)."""
    return load_catalog(name)


def _iceberg_ready(frame: pa.Table) -> pa.Table:
    """Types Iceberg takes as they are: timestamps in microseconds, zoned ones in UTC (DuckDB
    names the session's zone, which Iceberg does not accept)."""
    fields = []
    for field in frame.schema:
        if pa.types.is_timestamp(field.type):
            field = field.with_type(pa.timestamp("us", tz="UTC" if field.type.tz else None))
        fields.append(field)
    return frame.cast(pa.schema(fields))


def offers_arrow(days: list[date] | None = None, warehouse_path: str | Path | None = None) -> pa.Table:
    """The published warehouse's offers (every day, or these), in a stable order."""
    con = read.connect(warehouse_path)
    try:
        where = "WHERE list_contains($days, snapshot_date)" if days is not None else ""
        relation = con.sql(
            f"SELECT * FROM offers {where} ORDER BY snapshot_date, source, provider, region, instance_type, pricing",
            params={"days": list(days)} if days is not None else None,
        )
        return _iceberg_ready(relation.to_arrow_table())
    finally:
        con.close()


def _table(catalog: Catalog, identifier: str, schema: pa.Schema) -> Table:
    namespace = identifier.rsplit(".", 1)[0]
    catalog.create_namespace_if_not_exists(namespace)
    if not catalog.table_exists(identifier):
        table = catalog.create_table(identifier, schema=schema)
        with table.update_spec() as spec:
            spec.add_field("snapshot_date", MonthTransform(), PARTITION_FIELD)
        return catalog.load_table(identifier)
    table = catalog.load_table(identifier)
    known = {field.name for field in table.schema().fields}
    if any(name not in known for name in schema.names):
        with table.update_schema() as update:
            update.union_by_name(schema)
        table = catalog.load_table(identifier)
    return table


def export_offers_history(
    catalog: Catalog,
    identifier: str = DEFAULT_TABLE,
    *,
    days: list[date] | None = None,
    warehouse_path: str | Path | None = None,
) -> ExportResult:
    """Write the offers history (every day, or only `days`) into the Iceberg table."""
    frame = offers_arrow(days, warehouse_path)
    table = _table(catalog, identifier, frame.schema)
    if table.current_snapshot() is None:
        table.append(frame)  # a new table: nothing to replace
    elif days is None:
        table.overwrite(frame)
    else:
        table.overwrite(frame, overwrite_filter=In("snapshot_date", [d.isoformat() for d in days]))
    table = catalog.load_table(identifier)
    snapshot = table.current_snapshot()
    return ExportResult(
        table=identifier,
        location=table.location(),
        rows=frame.num_rows,
        days=len(set(frame.column("snapshot_date").to_pylist())) if frame.num_rows else 0,
        snapshot_id=snapshot.snapshot_id if snapshot else None,
    )
