"""The DuckDB warehouse: schema, writes (one writer), read-only reads and documented views."""
