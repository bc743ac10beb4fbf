"""The `gpu-prices` command line: ingest, backfill, sql, sources, assumptions, estimate, dashboard."""
