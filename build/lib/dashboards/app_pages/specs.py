"""Specs: the spec sheet of every GPU, and what an effective TFLOP-hour costs against launch date."""

from __future__ import annotations

import altair as alt
import polars as pl
import streamlit as st

from dashboards import data, ui

ui.header(
    "Specs",
    "Published spec sheets, dense figures only (sparsity figures are never shown as dense). Each row "
    "links to its source.",
)
ui.as_of()

specs = data.gpu_specs()
if specs.is_empty():
    ui.empty("gpu_specs is empty.", "It is loaded by the ingest; run `gpu-prices ingest --replay` and reload.")
    st.stop()

c1, c2 = st.columns([2, 3])
vendors = sorted(v for v in specs["vendor"].unique().to_list() if v)
chosen_vendors = c1.multiselect("Vendor", vendors, key="specs_vendor", placeholder="all vendors")
search = c2.text_input("Find a GPU", key="specs_search", placeholder="e.g. H100, MI300, L4")
shown = specs
if chosen_vendors:
    shown = shown.filter(pl.col("vendor").is_in(chosen_vendors))
if search.strip():
    needle = search.strip().lower()
    shown = shown.filter(
        pl.col("gpu").str.to_lowercase().str.contains(needle, literal=True)
        | pl.col("name").str.to_lowercase().str.contains(needle, literal=True)
    )

st.subheader("Spec sheets")
if shown.is_empty():
    ui.empty(f"No GPU matches {search!r}" + (f" from {', '.join(chosen_vendors)}" if chosen_vendors else "") + ".",
             "Clear the search or the vendor filter.")
else:
    columns = [c for c in (
        "gpu", "vendor", "name", "architecture", "form_factor", "memory_gb", "memory_bandwidth_tbs",
        "fp64_tflops", "fp32_tflops", "tf32_tflops", "bf16_tflops", "fp16_tflops", "fp8_tflops", "fp4_tflops",
        "int8_tops", "tdp_w", "interconnect", "interconnect_gbs", "launch_date", "source_url", "notes",
    ) if c in shown.columns]
    tf = "%.1f"
    st.dataframe(
        shown.select(columns),
        hide_index=True,
        width="stretch",
        height=min(38 + 35 * shown.height, 620),
        column_config={
            "gpu": st.column_config.TextColumn("GPU", pinned=True),
            "form_factor": "form factor",
            "memory_gb": ui.number("memory (GB)", "%.0f"),
            "memory_bandwidth_tbs": ui.number("bandwidth (TB/s)", "%.2f"),
            "fp64_tflops": ui.number("FP64 (TFLOPS)", tf),
            "fp32_tflops": ui.number("FP32 (TFLOPS)", tf),
            "tf32_tflops": ui.number("TF32 (TFLOPS)", tf),
            "bf16_tflops": ui.number("BF16 (TFLOPS)", tf),
            "fp16_tflops": ui.number("FP16 (TFLOPS)", tf),
            "fp8_tflops": ui.number("FP8 (TFLOPS)", tf),
            "fp4_tflops": ui.number("FP4 (TFLOPS)", tf),
            "int8_tops": ui.number("INT8 (TOPS)", "%.0f"),
            "tdp_w": ui.number("TDP (W)", "%.0f"),
            "interconnect_gbs": ui.number("interconnect (GB/s per GPU)", "%.0f"),
            "launch_date": st.column_config.DateColumn("launched", format="YYYY-MM"),
            "source_url": ui.link("spec source"),
        },
    )
    ui.caption(f"{shown.height} of {specs.height} GPUs. None: no published dense figure for that precision.")

# -- price per effective TFLOP against launch date ---------------------------------------------
st.subheader("Price per effective TFLOP-hour against launch date")
metrics = data.query(
    """
    SELECT gpu, pricing, vendor, launch_date,
           min(usd_per_effective_tflop_hour) AS min_usd_tflop,
           median(usd_per_effective_tflop_hour) AS median_usd_tflop,
           min(price_usd_per_gpu_hour) AS min_usd_gpu_hour,
           max(effective_tflops) AS effective_tflops,
           count(*) AS offers, count(DISTINCT provider) AS providers
    FROM gpu_cost_metrics
    WHERE launch_date IS NOT NULL
    GROUP BY ALL
    """
)
if metrics.is_empty():
    ui.empty("No offer of a GPU with both a launch date and a dense bf16/fp16 figure.",
             "Check gpu_specs on the SQL page (launch_date, bf16_tflops).")
    st.stop()
kinds = sorted(metrics["pricing"].unique().to_list())
c1, c2 = st.columns([1, 1])
kind = c1.selectbox(
    "Pricing kind", kinds, index=kinds.index("on_demand") if "on_demand" in kinds else 0, key="specs_pricing",
)
stat = c2.radio("Per GPU", ["cheapest offer", "median offer"], horizontal=True, key="specs_stat")
y_col = "min_usd_tflop" if stat == "cheapest offer" else "median_usd_tflop"
points = metrics.filter(pl.col("pricing") == kind)
if chosen_vendors:
    points = points.filter(pl.col("vendor").is_in(chosen_vendors))
if points.is_empty():
    ui.empty(f"No {kind} offer for the chosen vendors.", "Pick another pricing kind or clear the vendor filter.")
else:
    scatter = alt.Chart(points).mark_circle(size=110, opacity=0.85).encode(
        x=alt.X("launch_date:T", title="GPU launch date"),
        y=alt.Y(f"{y_col}:Q", title=f"{stat} ({ui.USD_TFLOP_H}, log scale)", scale=alt.Scale(type="log")),
        color=alt.Color("vendor:N", title="vendor", scale=alt.Scale(scheme="tableau10")),
        tooltip=[
            alt.Tooltip("gpu:N", title="GPU"),
            alt.Tooltip("launch_date:T", title="launched", format="%Y-%m"),
            alt.Tooltip("min_usd_tflop:Q", title="cheapest $/eff. TFLOP-h", format="$.4f"),
            alt.Tooltip("median_usd_tflop:Q", title="median $/eff. TFLOP-h", format="$.4f"),
            alt.Tooltip("min_usd_gpu_hour:Q", title="cheapest $/GPU-h", format="$.3f"),
            alt.Tooltip("effective_tflops:Q", title="effective TFLOPS/GPU", format=".0f"),
            alt.Tooltip("offers:Q"),
            alt.Tooltip("providers:Q"),
        ],
    )
    labels = scatter.mark_text(align="left", dx=8, fontSize=11).encode(text="gpu:N")
    st.altair_chart((scatter + labels).properties(height=420), width="stretch")
    ui.caption(
        f"One dot per GPU: the {stat}'s {ui.USD_TFLOP_H} at {kind} prices (bf16, or fp16 where a GPU has no "
        "bf16). Lower is cheaper useful compute; hover a dot for its price per GPU-hour and offer count."
    )
