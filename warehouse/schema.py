"""DuckDB schema: numbered migrations for tables, plus views re-created on every write.

Tables change only through a new entry in MIGRATIONS (never by editing an applied one); the
`schema_version` table records which have run. Views live in `views.sql` and are replaced on
every writer connection, so improving a view needs no migration.
"""

from __future__ import annotations

from importlib import resources

import duckdb

MIGRATIONS: list[str] = [
    # 1: the spine
    """
    CREATE TABLE raw_responses (
        id VARCHAR NOT NULL,            -- RawResponse.id: same request + same bytes, same id
        snapshot_date DATE NOT NULL,
        source VARCHAR NOT NULL,
        method VARCHAR NOT NULL,
        url VARCHAR NOT NULL,           -- secrets redacted
        status INTEGER NOT NULL,
        fetched_at TIMESTAMPTZ NOT NULL,
        content_type VARCHAR,
        sha256 VARCHAR NOT NULL,
        size_bytes BIGINT NOT NULL,
        body_file VARCHAR NOT NULL,     -- gzip file in the content store beside the database
        request_body VARCHAR,
        archived_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (snapshot_date, id)
    );
    CREATE TABLE ingest_runs (
        snapshot_date DATE NOT NULL,
        source VARCHAR NOT NULL,
        status VARCHAR NOT NULL,        -- ok | failed | skipped | running
        stage VARCHAR,                  -- fetch | parse | write, where it stopped
        mode VARCHAR,                   -- live | replay | record
        run_id VARCHAR,
        started_at TIMESTAMPTZ,
        finished_at TIMESTAMPTZ,
        responses INTEGER,
        offers_written INTEGER,
        quarantined INTEGER,
        message VARCHAR,                -- the failure reason, or why it was skipped
        good_raw_ids VARCHAR[],         -- responses of the latest successful fetch (re-parse input)
        last_success_at TIMESTAMPTZ,
        PRIMARY KEY (snapshot_date, source)
    );
    CREATE TABLE offers (
        snapshot_date DATE NOT NULL,
        source VARCHAR NOT NULL,
        provider VARCHAR NOT NULL,
        region VARCHAR NOT NULL,
        instance_type VARCHAR NOT NULL,
        gpu VARCHAR,
        gpu_name_raw VARCHAR,
        gpu_count DOUBLE,
        gpu_memory_gb DOUBLE,
        vcpus DOUBLE,
        ram_gb DOUBLE,
        pricing VARCHAR NOT NULL,
        price_usd_per_hour DOUBLE NOT NULL,
        price_usd_per_gpu_hour DOUBLE NOT NULL,
        currency VARCHAR NOT NULL,
        price_original DOUBLE NOT NULL,
        spot_is_estimate BOOLEAN NOT NULL,
        source_url VARCHAR NOT NULL,
        observed_at TIMESTAMPTZ NOT NULL,
        raw_response_id VARCHAR NOT NULL,
        PRIMARY KEY (snapshot_date, source, provider, region, instance_type, pricing)
    );
    CREATE TABLE quarantined_offers AS SELECT *, ''::VARCHAR AS reason FROM offers LIMIT 0;
    """,
]


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ)"
    )
    row = con.sql("SELECT coalesce(max(version), 0) FROM schema_version").fetchall()
    return int(row[0][0])


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Apply pending migrations and re-create the views. Returns the schema version."""
    version = current_version(con)
    for number, ddl in enumerate(MIGRATIONS, start=1):
        if number <= version:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(ddl)
            con.execute("INSERT INTO schema_version VALUES (?, now())", [number])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        version = number
    con.execute(resources.files("warehouse").joinpath("views.sql").read_text())
    return version
