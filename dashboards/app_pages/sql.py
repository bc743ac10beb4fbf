"""SQL: a read-only console on the published warehouse, with the views documented.

A query runs in a background thread (`warehouse.read.UserQuery`); the page shows a spinner and a
Cancel button while it runs, and the limit that stopped it, if one did."""

from __future__ import annotations

import io

import duckdb
import polars as pl
import streamlit as st

from dashboards import data, ui
from warehouse import read, results

VIEWS = {
    "latest_offers": "Every source's offers from its most recent snapshot date. One row per source, provider, "
    "region, instance type and pricing kind. Prices in USD per instance-hour and per GPU-hour.",
    "offers": "Every offer on every snapshot date (same columns as latest_offers).",
    "offers_history": "offers plus the previous observed price of the same offer (previous_price_usd_per_hour, "
    "previous_snapshot_date).",
    "price_changes": "The change log: an offer's price went from old to new on changed_on (change_pct in %).",
    "gpu_specs": "Spec sheet per canonical GPU: memory (GB), bandwidth (TB/s), DENSE TFLOPS per precision, "
    "TDP (W), interconnect, launch date, source URL.",
    "gpu_cost_metrics": "Per latest offer: bf16 (fp16 fallback) dense TFLOPS x utilisation x scaling efficiency = "
    "effective TFLOPS, and USD per effective TFLOP-hour / per exaFLOP / per GB-hour.",
    "gpu_cost_metrics_by_precision": "The same for every precision a GPU has a dense figure for.",
    "price_index_daily": "Per day, GPU and pricing kind: offers, providers, min/p10/median/p90 USD per GPU-hour "
    "and index_usd (median of per-provider medians; NULL with withheld_reason when too few providers); "
    "chained_index_usd moves only by matched offers' price changes (link_factor per day).",
    "cheapest_offers": "The cheapest latest offer per GPU and pricing kind, by USD per GPU-hour.",
    "ingest_status": "One row per source: its last run's status, stage, message and counts, and when it last "
    "succeeded.",
    "source_disagreements": "Two sources quoting the same provider/region/instance/pricing more than 5% apart.",
    "spec_disagreements": "Where an external spec source disagrees with gpu_specs.",
    "unmapped_gpus": "GPU names seen in offers that map to no canonical GPU, with counts.",
    "assumptions": "Utilisation (MFU) and scaling-efficiency assumptions with their sources.",
}

EXAMPLES = {
    "Cheapest on-demand GPU-hour per GPU": (
        "SELECT gpu, provider, region, instance_type, round(price_usd_per_gpu_hour, 3) AS usd_per_gpu_hour\n"
        "FROM cheapest_offers\nWHERE pricing = 'on_demand'\nORDER BY usd_per_gpu_hour"
    ),
    "Offers per provider and pricing kind": (
        "SELECT provider, pricing, count(*) AS offers, count(DISTINCT gpu) AS gpus\n"
        "FROM latest_offers\nGROUP BY ALL\nORDER BY offers DESC"
    ),
    "Cheapest effective TFLOP-hour": (
        "SELECT gpu, provider, pricing, round(usd_per_effective_tflop_hour, 5) AS usd_per_eff_tflop_h,\n"
        "       round(effective_tflops) AS eff_tflops\nFROM gpu_cost_metrics\n"
        "ORDER BY usd_per_effective_tflop_hour\nLIMIT 20"
    ),
    "H100 price index over time": (
        "SELECT snapshot_date, gpu, pricing, offers, providers, median_usd, index_usd, withheld_reason\n"
        "FROM price_index_daily\nWHERE gpu ILIKE '%H100%'\nORDER BY gpu, pricing, snapshot_date"
    ),
    "Biggest price cuts": (
        "SELECT changed_on, provider, instance_type, gpu, pricing, old_price_usd_per_hour,\n"
        "       new_price_usd_per_hour, change_pct\nFROM price_changes\nORDER BY change_pct\nLIMIT 20"
    ),
    "Source health": (
        "SELECT source, last_status, last_snapshot_date, last_success_at, offers_in_latest, last_message\n"
        "FROM ingest_status\nORDER BY source"
    ),
}
DEFAULT_EXAMPLE = next(iter(EXAMPLES))

ui.header(
    "SQL",
    "Query the warehouse yourself: one SELECT at a time on a read-only copy. Writes, COPY, ATTACH, "
    "INSTALL, SET, reading local files or URLs and metadata that shows server paths are refused. "
    "Each query is bounded in time, memory and rows returned.",
)
ui.as_of()


def _load_example() -> None:
    st.session_state["sql_query"] = EXAMPLES[st.session_state["sql_example"]]
    st.session_state.pop("sql_result", None)


if "sql_query" not in st.session_state:
    st.session_state["sql_query"] = EXAMPLES[DEFAULT_EXAMPLE]

left, right = st.columns([3, 2])
with right:
    st.selectbox("Example queries", list(EXAMPLES), key="sql_example", on_change=_load_example)
    with st.expander("Views and their columns", expanded=False):
        try:
            columns = data.view_columns()
        except duckdb.Error:
            columns = pl.DataFrame()
        for name, about in VIEWS.items():
            cols = columns.filter(pl.col("table_name") == name) if not columns.is_empty() else columns
            if not columns.is_empty() and cols.is_empty():
                continue
            listed = ", ".join(f"`{c}`" for c in cols["column_name"].to_list()) if not cols.is_empty() else ""
            st.markdown(f"**{name}**: {about}" + (f"  \nColumns: {listed}" if listed else ""))
with left:
    sql = st.text_area("SQL (DuckDB dialect, read-only)", key="sql_query", height=200)
    run = st.button("Run query", key="sql_run", type="primary")


def _friendly(exc: duckdb.Error) -> tuple[str, str]:
    """(kind, message) for a DuckDB error, without a traceback."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    if isinstance(exc, duckdb.PermissionException) or "disabled by configuration" in text or "external access" in text.lower():
        return "refused", (
            "Refused: this console cannot read local files, URLs or other databases (external access is off). "
            "Query the warehouse's views instead."
        )
    if isinstance(exc, duckdb.CatalogException):
        return "error", f"Query failed: {first} See 'Views and their columns' for what exists."
    return "error", f"Query failed: {first}"


def _start(text: str) -> None:
    """Check the query and start it in the background; a refusal is the result at once."""
    previous = st.session_state.pop("sql_running", None)
    if previous is not None:
        previous[0].cancel()
    st.session_state.pop("sql_result", None)
    try:
        data.require_warehouse()
        st.session_state["sql_running"] = (read.UserQuery(text), text)
    except read.SqlRefused as exc:
        st.session_state["sql_result"] = ("refused", text, f"Refused: {exc}")
    except read.WarehouseMissing as exc:
        st.session_state["sql_result"] = ("error", text, str(exc))


def _cancel() -> None:
    job = st.session_state.get("sql_running")
    if job is not None:
        job[0].cancel()


def _wait_for(running: read.UserQuery) -> None:
    """Spinner, elapsed time and a Cancel button until the query ends. Each tick writes to the
    page, which is where Streamlit can stop this run when Cancel (or anything else) is clicked."""
    timeout = running.limits.timeout_s
    with st.container(key="sql_progress"):
        stop, spin = st.columns([1, 7], vertical_alignment="center")
        stop.button("Cancel", key="sql_cancel", on_click=_cancel, icon=":material/stop_circle:")
        with spin, st.spinner(f"Running the query (it stops by itself after {timeout:g} s)..."):
            ticker = st.empty()
            while not running.wait(0.25):
                ticker.caption(f"{running.elapsed_s:.0f} s of at most {timeout:g} s")


def _collect(running: read.UserQuery, text: str) -> None:
    try:
        st.session_state["sql_result"] = ("ok", text, running.result())
    except read.SqlCancelled as exc:
        st.session_state["sql_result"] = ("cancelled", text, f"Cancelled: the query was {exc}.")
    except read.SqlStopped as exc:
        st.session_state["sql_result"] = ("stopped", text, f"Stopped: the query {exc}.")
    except duckdb.Error as exc:
        kind, message = _friendly(exc)
        st.session_state["sql_result"] = (kind, text, message)


if run:
    _start(sql)

job = st.session_state.get("sql_running")
if job is not None:
    running, running_sql = job
    if not running.done:
        _wait_for(running)
    _collect(running, running_sql)
    st.session_state.pop("sql_running", None)

result = st.session_state.get("sql_result")
if result is None:
    ui.caption("Pick an example or write a query, then press **Run query**. Each query may run for "
               f"{read.SqlLimits.from_env().timeout_s:g} s and return {read.SqlLimits.from_env().max_rows:,} rows.")
else:
    kind, ran_sql, payload = result
    if ran_sql != sql:
        ui.caption("Showing the result of the previous query; press Run query to run the edited one.")
    if kind == "refused":
        st.error(ui.md(payload), icon=":material/block:")
    elif kind == "stopped":
        st.error(ui.md(payload), icon=":material/timer_off:")
    elif kind == "cancelled":
        st.info(ui.md(payload), icon=":material/stop_circle:")
    elif kind == "error":
        st.error(ui.md(payload), icon=":material/error:")
    else:
        outcome: read.SqlResult = payload
        frame = outcome.frame
        for line in outcome.notes():
            st.warning(ui.md(line[0].upper() + line[1:] + "."), icon=":material/content_cut:")
        if frame.width == 0 or frame.is_empty():
            st.info("The query ran and returned no rows. Loosen its WHERE clause, or check the values "
                    "you filter on (e.g. `SELECT DISTINCT pricing FROM latest_offers`).")
        ui.caption(f"{frame.height:,} row(s) x {frame.width} column(s) in {outcome.elapsed_s:.1f} s")
        shown = results.text_safe(frame)
        st.dataframe(shown, hide_index=True, width="stretch", height=min(38 + 35 * max(frame.height, 1), 560),
                     key="sql_result_table")
        if frame.width:
            parquet = io.BytesIO()
            results.parquet_safe(frame).write_parquet(parquet)
            d1, d2, _ = st.columns([1, 1, 4])
            d1.download_button("Download CSV", results.csv_text(frame).encode(), "query.csv", "text/csv",
                               key="sql_download_csv", on_click="ignore")
            d2.download_button("Download Parquet", parquet.getvalue(), "query.parquet", "application/vnd.apache.parquet",
                               key="sql_download_parquet", on_click="ignore")
