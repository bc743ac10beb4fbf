"""Data access for the dashboard: cached, read-only queries on the published warehouse.

Every query goes through `warehouse.read.query`, which opens the *published* copy read-only and
closes it again, so the dashboard never holds a connection while `gpu-prices ingest` swaps a new
copy in. Results are cached for five minutes, keyed on the published file's identity (path,
size, mtime): a fresh publish is seen on the next rerun instead of after the TTL.
"""

from __future__ import annotations

import os
from datetime import date, datetime, timezone

import polars as pl
import streamlit as st

from warehouse import read

CACHE_TTL = "5m"
CACHE_ENTRIES = 128


class NoWarehouse(Exception):
    """Raised (after showing the message) when there is no published warehouse to read."""


def warehouse_key() -> tuple[str, int, int]:
    """Identity of the published copy; part of every cache key. Raises read.WarehouseMissing.

    The first element is the *working* path, which is what `warehouse.read` resolves the
    published copy from."""
    published = read.published_file()
    stat = published.stat()
    return (str(read.resolved()), stat.st_size, stat.st_mtime_ns)


def require_warehouse() -> tuple[str, int, int]:
    """The warehouse key, or a clear error (and the command that fixes it) and st.stop()."""
    try:
        return warehouse_key()
    except read.WarehouseMissing as exc:
        st.error(f"No warehouse to show. {exc}")
        st.info(
            "Run `gpu-prices ingest --replay` to load the bundled real snapshot (offline), "
            "then reload this page. The dashboard reads the warehouse named by "
            f"`GPU_PRICES_WAREHOUSE` (now: `{os.environ.get('GPU_PRICES_WAREHOUSE') or 'unset, so data/gpu_prices.duckdb'}`)."
        )
        st.stop()
        raise NoWarehouse() from exc  # st.stop() raises; this only runs outside Streamlit


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def _cached_query(key: tuple[str, int, int], sql: str, params: tuple | None) -> pl.DataFrame:
    return read.query(sql, dict(params) if params else None, key[0])


def query(sql: str, params: dict | None = None) -> pl.DataFrame:
    """Run our own (trusted) SQL read-only, cached. `params` are DuckDB named parameters."""
    key = require_warehouse()
    frozen = tuple(sorted(params.items())) if params else None
    return _cached_query(key, sql, frozen)


# -- the shared look-ups pages need -----------------------------------------------------------


def snapshot_dates() -> list[date]:
    """Distinct snapshot dates with offers, newest first."""
    return query(*read.snapshot_days_query())["snapshot_date"].to_list()


def latest_window() -> tuple[date | None, date | None]:
    """(oldest, newest) snapshot date among the sources' latest days (what latest_offers holds)."""
    frame = query("SELECT min(snapshot_date) AS lo, max(snapshot_date) AS hi FROM latest_offers")
    if frame.is_empty():
        return None, None
    return frame["lo"][0], frame["hi"][0]


def as_of_text(lo: date | None, hi: date | None, what: str = "Prices") -> str:
    if hi is None:
        return f"{what} as of: no snapshot in the warehouse yet."
    if lo is None or lo == hi:
        return f"{what} as of {hi:%Y-%m-%d} (snapshot date)."
    return (
        f"{what} as of {hi:%Y-%m-%d} (the newest snapshot; each source contributes its latest day, "
        f"from {lo:%Y-%m-%d} to {hi:%Y-%m-%d})."
    )


def days_old(day: date | datetime | None, now: datetime | None = None) -> int | None:
    if day is None:
        return None
    now = now or datetime.now(timezone.utc)
    if isinstance(day, datetime):
        day = day.date()
    return (now.date() - day).days


def gpu_specs() -> pl.DataFrame:
    return query("SELECT * FROM gpu_specs ORDER BY vendor, launch_date, gpu")


def assumptions() -> pl.DataFrame:
    return query("SELECT * FROM assumptions")


def market_offers() -> pl.DataFrame:
    """latest_offers with the headline cost metrics and the GPU's spec columns beside each offer."""
    return query(
        """
        SELECT o.snapshot_date, o.source, o.provider, o.region, o.instance_type, o.pricing,
               o.gpu, o.gpu_name_raw, o.gpu_count,
               coalesce(o.gpu_memory_gb, s.memory_gb) AS gpu_memory_gb,
               o.vcpus, o.ram_gb,
               o.price_usd_per_hour, o.price_usd_per_gpu_hour, o.spot_is_estimate,
               m.precision, m.effective_tflops, m.usd_per_effective_tflop_hour,
               coalesce(s.interconnect, 'unknown') AS interconnect, s.vendor, s.form_factor,
               o.source_url, o.observed_at, o.identity_basis, o.identity_note, o.underlying_provider
        FROM latest_offers o
        LEFT JOIN gpu_cost_metrics m
          USING (snapshot_date, source, provider, region, instance_type, pricing)
        LEFT JOIN gpu_specs s ON s.gpu = o.gpu
        ORDER BY o.price_usd_per_gpu_hour
        """
    )


def offers_on(day: date) -> pl.DataFrame:
    """The market on `day`: each current source's offers of mapped GPUs (read.offers_on_query)."""
    return query(*read.offers_on_query(day))


def ingest_status() -> pl.DataFrame:
    return query("SELECT * FROM ingest_status ORDER BY source")


def view_columns() -> pl.DataFrame:
    return query(
        """
        SELECT c.table_name, c.column_name, c.data_type, t.table_type
        FROM information_schema.columns c
        JOIN information_schema.tables t USING (table_catalog, table_schema, table_name)
        WHERE c.table_schema = 'main'
        ORDER BY c.table_name, c.ordinal_position
        """
    )


# -- cost-model inputs --------------------------------------------------------------------------


def gpu_catalog() -> dict:
    """{gpu id: costmodel.gpus.GpuSpec} from the warehouse's gpu_specs."""
    from costmodel.gpus import GpuSpec

    return {row["gpu"]: GpuSpec.from_row(row) for row in gpu_specs().iter_rows(named=True)}


def assumption_table():
    """costmodel.assumptions.Assumptions over the warehouse's `assumptions` table (may be empty)."""
    from costmodel.assumptions import Assumptions

    try:
        frame = assumptions()
    except Exception:  # an older warehouse without the table: the documented fallbacks apply
        frame = None
    return Assumptions(frame)


def window_on(day: date) -> tuple[date | None, date | None]:
    frame = query(*read.window_on_query(day))
    return (frame["lo"][0], frame["hi"][0]) if not frame.is_empty() else (None, None)


# -- history (bounded: a pricing kind, a date range, a few GPUs; see warehouse.read) ----------


def index_summary() -> pl.DataFrame:
    return query(*read.index_summary_query())


def index_history(gpus: list[str], pricing: str, start: date, end: date) -> pl.DataFrame:
    return query(*read.index_history_query(gpus, pricing, start, end))


def provider_history(gpu: str, pricing: str, start: date, end: date) -> pl.DataFrame:
    return query(*read.provider_history_query(gpu, pricing, start, end))


def price_steps(gpu: str, pricing: str, start: date, end: date) -> pl.DataFrame:
    return query(*read.price_steps_query(gpu, pricing, start, end))


def market_quote_models() -> pl.DataFrame:
    return query(*read.market_quote_models_query())


def market_quotes(gpu_model: str, start: date, end: date) -> pl.DataFrame:
    return query(*read.market_quotes_query(gpu_model, start, end))
