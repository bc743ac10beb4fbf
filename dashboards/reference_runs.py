"""The History page's "what a reference run cost" section: each reference run priced at each
period's market, one line per GPU generation, with the plan behind every point.

The runs and the pricing are `costmodel.reference_runs` (the same the CLI's `estimate
reference` prints), priced by the pipeline into `reference_run_history`
(warehouse/reference_history.py): planning hundreds of markets takes 15-60 s, so a page load
only reads the stored rows.
"""

from __future__ import annotations

from datetime import date

import altair as alt
import polars as pl
import streamlit as st

from costmodel import reference_runs
from dashboards import data, ui
from warehouse import read

PRICING_KINDS = {"on demand": "on_demand", "spot (interruptible)": "spot", "any kind": "any"}
STEP_LABELS = {"week": "weekly", "month": "monthly"}
COST_COLUMN = {reference_runs.TRAIN: "total_cost_usd", reference_runs.SERVE: "usd_per_month"}
COST_TITLE = {reference_runs.TRAIN: "run cost (USD, log scale)",
              reference_runs.SERVE: "fleet cost (USD per month, log scale)"}


def with_segments(rows: pl.DataFrame, periods: list[date]) -> pl.DataFrame:
    """A `segment` per unbroken run of periods of each generation, so the chart's line stops where
    a generation had no plan instead of drawing across the gap as if it had one."""
    position = {period: i for i, period in enumerate(sorted(periods))}
    return (
        rows.with_columns(_position=pl.col("period").replace_strict(position, return_dtype=pl.Int64))
        .sort(["generation", "period"])
        .with_columns(segment=(pl.col("_position").diff().over("generation").fill_null(1) != 1)
                      .cast(pl.Int64).cum_sum().over("generation"))
        .with_columns(segment=pl.col("generation") + pl.lit(" #") + pl.col("segment").cast(pl.String))
        .drop("_position")
    )


def run_chart(rows: pl.DataFrame, run: reference_runs.ReferenceRun, periods: list[date]) -> alt.Chart:
    cost = COST_COLUMN[run.kind]
    rows = with_segments(rows, periods)
    tooltip = [
        alt.Tooltip("generation:N", title="generation"),
        alt.Tooltip("period:T", title="period from", format="%Y-%m-%d"),
        alt.Tooltip(f"{cost}:Q", title=COST_TITLE[run.kind], format="$,.0f"),
        alt.Tooltip("usd_per_million_tokens:Q", title="$ per 1M tokens" if run.kind == reference_runs.TRAIN
                    else "$ per 1M output tokens", format="$,.2f"),
        alt.Tooltip("gpu:N", title="GPU"), alt.Tooltip("provider:N"), alt.Tooltip("instance_type:N", title="instance"),
        alt.Tooltip("nodes:Q"), alt.Tooltip("gpus:Q", title="GPUs"), alt.Tooltip("pricing:N"),
        alt.Tooltip("interruptible:N"), alt.Tooltip("snapshot_date:T", title="prices from", format="%Y-%m-%d"),
        alt.Tooltip("source:N"),
    ]
    if run.kind == reference_runs.TRAIN:
        tooltip.insert(5, alt.Tooltip("days:Q", title="days", format=",.1f"))
    return (
        alt.Chart(rows)
        .mark_line(point=alt.OverlayMarkDef(size=14), interpolate="step-after")
        .encode(
            # the whole span, so years in which no generation could run the job show as empty
            x=alt.X("period:T", title="period", axis=alt.Axis(format="%Y", tickCount="year"),
                    scale=alt.Scale(domain=[min(periods).isoformat(), max(periods).isoformat()])),
            y=alt.Y(f"{cost}:Q", title=COST_TITLE[run.kind], scale=alt.Scale(type="log"),
                    axis=alt.Axis(format="$.2~s")),
            color=alt.Color("generation:N", title="GPU generation", legend=alt.Legend(orient="right")),
            detail="segment:N",
            tooltip=tooltip,
        )
        .properties(height=320)
    )


def reference_run_section(dates: list[date] | None = None) -> None:
    """The section: span = the warehouse's snapshot dates (or `dates`), a chart per reference run."""
    st.subheader("What a reference run cost")
    dates = dates if dates is not None else data.snapshot_dates()
    if not dates:
        ui.empty("The warehouse holds no snapshots yet.", "Run `gpu-prices ingest --replay` and reload.")
        return
    c1, c2 = st.columns(2)
    kind_label = c1.radio("Pricing", list(PRICING_KINDS), horizontal=True, key="reference_pricing")
    step = c2.radio("Step", list(STEP_LABELS), format_func=STEP_LABELS.get, horizontal=True, key="reference_step",
                    help="Each period is priced at its last day's market: each source's newest snapshot on or "
                         "before it, while no older than the source's cadence (offers_as_of).")
    spans = data.query(*read.reference_periods_query(step, PRICING_KINDS[kind_label]))
    if spans.is_empty():
        ui.empty("The reference runs have not been priced in this warehouse yet.",
                 "They are priced by the pipeline: run `gpu-prices ingest --replay` (or a backfill) again.")
        return
    history = data.query(*read.reference_history_query(step, PRICING_KINDS[kind_label]))
    periods = spans["period"].to_list()
    start, end = periods[0], spans["as_of"].max()
    ui.caption(
        f"The same jobs priced at each {step}'s market from {start:%Y-%m-%d} to {end:%Y-%m-%d}: the cheapest "
        "deployable plan per GPU generation (whole nodes, more than one node only with a known inter-node fabric, "
        "sized for a 30-day deadline, MFU from published runs). A generation without an offer that can run the job "
        "has no point that period: absent, not zero. Priced by the pipeline when prices land; the same numbers as "
        f"`gpu-prices estimate reference --over {start:%Y-%m}:{end:%Y-%m} --step {step}`."
    )
    for run in reference_runs.REFERENCE_RUNS.values():
        rows = history.filter(pl.col("run") == run.key)
        st.markdown(f"**{run.name}**")
        ui.caption(f"{run.note}. Source: {run.source}.")
        if rows.is_empty():
            ui.empty(f"No {step} in the span has an offer that can run {run.name}.",
                     "Pick another pricing kind, or ingest more history.")
            continue
        st.altair_chart(run_chart(rows, run, periods), width="stretch")
        first, last = rows["period"].min(), rows["period"].max()
        ui.caption(f"{rows['generation'].n_unique()} generation(s) priced on {rows['period'].n_unique()} {step}(s), "
                   f"{first:%Y-%m-%d} to {last:%Y-%m-%d}; 'prices from' in the tooltip is the snapshot behind a point.")
    st.download_button(
        "Download all reference-run rows (CSV)", history.write_csv(), file_name=f"reference_runs_{step}.csv",
        mime="text/csv", key="reference_download",
    )
