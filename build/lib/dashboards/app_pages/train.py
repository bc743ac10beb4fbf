"""Train: what a training run costs, on every matching offer, as of a chosen snapshot date."""

from __future__ import annotations

from dataclasses import replace

import altair as alt
import polars as pl
import streamlit as st

from costmodel import training
from costmodel.errors import EstimateError
from costmodel.gpus import TRAINING_PRECISIONS
from costmodel.presets import PRESETS
from dashboards import data, ui

CUSTOM = "custom"
DEFAULT_PRESET = "llama-3.1-8b"
PREFERRED_GPUS = ("H100-SXM-80GB", "H100-80GB", "H100-SXM", "A100-SXM-80GB", "A100-80GB")
CLUSTER_SIZES = [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384]
SIZING = ("Cluster size", "Deadline", "Memory minimum")
MIN_CHART_DAYS = 1 / 24  # the chart stops at clusters that would finish within an hour

ui.header(
    "Train",
    "FLOPs = 6 x active params x tokens (8 with full activation recomputation); GPU-hours = FLOPs / "
    "(dense peak x MFU x scaling efficiency x 3600 s); memory (16 bytes/param, sharded) sets the minimum "
    "cluster. Priced on every matching offer.",
)

dates = data.snapshot_dates()
if not dates:
    ui.empty("The warehouse holds no offers to price a run with.", "Run `gpu-prices ingest --replay` and reload.")
    st.stop()
catalog = data.gpu_catalog()
if not catalog:
    ui.empty("gpu_specs is empty, so no GPU's throughput is known.", "Run `gpu-prices ingest --replay` and reload.")
    st.stop()


def _apply_preset() -> None:
    key = st.session_state["train_preset"]
    if key == CUSTOM:
        return
    preset = PRESETS[key]
    st.session_state["train_params_b"] = preset.params / 1e9
    st.session_state["train_active_b"] = preset.active_params / 1e9 if preset.active_params != preset.params else None
    st.session_state["train_tokens_b"] = training.COMPUTE_OPTIMAL_TOKENS_PER_PARAM * preset.params / 1e9


if "train_params_b" not in st.session_state:
    st.session_state["train_preset"] = DEFAULT_PRESET if DEFAULT_PRESET in PRESETS else next(iter(PRESETS))
    _apply_preset()

# -- inputs -------------------------------------------------------------------------------------
with st.container(border=True):
    st.markdown("**Model**")
    c1, c2, c3, c4 = st.columns([2, 1, 1, 1])
    c1.selectbox(
        "Preset (then edit any number)", [*PRESETS, CUSTOM], key="train_preset", on_change=_apply_preset,
        format_func=lambda k: PRESETS[k].name if k in PRESETS else "Custom model",
    )
    params_b = c2.number_input("Parameters (billions)", key="train_params_b", step=1.0, format="%.3g")
    active_b = c3.number_input(
        "Active params (billions, MoE)", key="train_active_b", step=1.0, format="%.3g",
        placeholder="= parameters (dense)", help="Parameters used per token; leave empty for a dense model.",
    )
    tokens_b = c4.number_input(
        "Training tokens (billions)", key="train_tokens_b", step=100.0, format="%.4g",
        help="The preset fills the compute-optimal 20 tokens per parameter (Chinchilla).",
    )
    preset_key = st.session_state["train_preset"]
    if preset_key in PRESETS:
        p = PRESETS[preset_key]
        ui.caption(f"{p.name}: {ui.count(p.params)} parameters" + (f" ({p.note})" if p.note else "") + f". Source: {p.source_url}")

    st.markdown("**Hardware and pricing**")
    gpu_ids = sorted(g for g, s in catalog.items() if any(s.tflops.get(p) for p in TRAINING_PRECISIONS))
    default_gpu = next((g for g in PREFERRED_GPUS if g in gpu_ids), gpu_ids[0] if gpu_ids else None)
    c1, c2, c3, c4 = st.columns(4)
    gpu = c1.selectbox("GPU", gpu_ids, index=gpu_ids.index(default_gpu) if default_gpu else 0, key="train_gpu")
    precision = c2.selectbox("Precision", TRAINING_PRECISIONS, key="train_precision")
    day = c3.selectbox(
        "Price as of snapshot date", dates, index=0, key="train_date", format_func=lambda d: f"{d:%Y-%m-%d}",
        help="Each source's newest snapshot on or before this date.",
    )
    offers = data.offers_on(day)
    kinds = sorted(offers["pricing"].unique().to_list()) if not offers.is_empty() else ["on_demand"]
    pricing = c4.selectbox(
        "Pricing kind", kinds, index=kinds.index("on_demand") if "on_demand" in kinds else 0, key="train_pricing",
    )

    st.markdown("**Cluster and assumptions**")
    c1, c2, c3, c4 = st.columns(4)
    sizing = c1.radio("Size the cluster by", SIZING, key="train_sizing", horizontal=False)
    gpus_in = c2.number_input("Cluster size (GPUs)", value=64, step=8, key="train_gpus",
                              disabled=sizing != "Cluster size")
    deadline = c2.number_input("Deadline (days)", value=30.0, step=1.0, key="train_deadline",
                               disabled=sizing != "Deadline")
    mfu_override = c3.checkbox("Override MFU", key="train_mfu_override",
                               help="Model FLOPs utilisation; default from the assumptions table (about 0.40).")
    mfu = c3.slider("MFU", 0.05, 1.0, 0.40, 0.01, key="train_mfu", disabled=not mfu_override)
    recompute = c3.checkbox("Full activation recomputation (8 x N x D)", key="train_recompute")
    spot_pct = c4.number_input(
        "Spot allowance (% extra GPU-hours)", value=training.DEFAULT_SPOT_ALLOWANCE * 100, step=5.0,
        key="train_spot_allowance",
        help="Work lost to pre-emptions on spot / interruptible pricing. Our assumption, not a measurement.",
    )

lo, hi = data.window_on(day)
ui.as_of(lo, hi)

# -- the estimate -------------------------------------------------------------------------------
assumptions = data.assumption_table()
try:
    spec = training.TrainingSpec(
        params=(params_b or 0) * 1e9,
        active_params=active_b * 1e9 if active_b else None,
        tokens=(tokens_b or 0) * 1e9 if tokens_b is not None else None,
        full_recompute=recompute,
        precision=precision,
        mfu=mfu if mfu_override else None,
        gpus=int(gpus_in) if sizing == "Cluster size" else None,
        deadline_days=deadline if sizing == "Deadline" else None,
        gpu=gpu,
        pricing=pricing,
        spot_allowance=(spot_pct or 0) / 100,
    )
    result = training.estimate_training(spec, catalog, assumptions)
except EstimateError as exc:
    ui.estimate_error(exc)
    st.stop()

m = st.columns(3) + st.columns(3)
m[0].metric("Training compute", f"{ui.sci(result.total_flops)} FLOPs",
            help=f"{result.flops_factor:g} x {ui.count(result.active_params)} active params x {ui.count(result.tokens)} tokens")
m[1].metric("GPU-hours", f"{result.gpu_hours:,.0f} GPU-h", help="Before any spot allowance.")
m[2].metric("Wall-clock", f"{result.wall_clock_days:,.1f} days", help=f"on {result.gpus:,} x {result.gpu}")
m[3].metric("Cluster", f"{result.gpus:,} GPUs", help=f"chosen by: {result.gpus_chosen_by}")
m[4].metric("Minimum GPUs (memory)", f"{result.min_gpus:,} GPUs",
            help=f"{result.state_bytes / 1e9:,.0f} GB of training state over {result.usable_gb_per_gpu:.0f} GB usable per GPU")
m[5].metric("Effective throughput", f"{result.effective_tflops:,.0f} TFLOPS/GPU",
            help=f"{result.dense_tflops:g} dense {result.precision} TFLOPS x MFU {result.utilisation:.2f} x scaling {result.scaling_efficiency:.3f}")
with st.expander("Assumptions and notes"):
    st.markdown(
        f"- Utilisation (MFU) **{result.utilisation:.2f}**: {result.utilisation_source}\n"
        f"- Scaling efficiency at {result.gpus:,} GPUs **{result.scaling_efficiency:.3f}**: {result.scaling_source}\n"
        f"- Memory: {training.STATE_BYTES_PER_PARAM:g} bytes/param of training state, "
        f"{training.DEFAULT_ACTIVATION_RESERVE:.0%} of each GPU kept for activations\n"
        + "".join(f"- {n}\n" for n in result.notes)
    )

# -- ranked offers ------------------------------------------------------------------------------
st.subheader(f"What it costs on each {pricing} offer of {result.gpu}")
priced = training.price_offers(result, offers) if not offers.is_empty() else pl.DataFrame()
if priced.is_empty():
    other_kinds = sorted(offers.filter(pl.col("gpu") == result.gpu)["pricing"].unique().to_list()) if not offers.is_empty() else []
    other_gpus = sorted(offers.filter(pl.col("pricing") == pricing)["gpu"].unique().to_list()) if not offers.is_empty() else []
    ui.empty(
        f"No whole-GPU {pricing} offer of {result.gpu} as of {day:%Y-%m-%d}.",
        (f"{result.gpu} is offered as: {', '.join(other_kinds)}; switch the pricing kind. " if other_kinds else "")
        + (f"GPUs with {pricing} offers: {', '.join(other_gpus[:12])}{'...' if len(other_gpus) > 12 else ''}." if other_gpus else
           "Try another snapshot date."),
    )
else:
    best = priced.row(0, named=True)
    c1, c2, c3 = st.columns(3)
    c1.metric("Cheapest total", ui.usd(best["total_cost_usd"]),
              help=ui.md(f"{best['provider']} {best['instance_type']} ({best['region']}) at ${best['price_usd_per_gpu_hour']:.3f}/GPU-h"))
    c2.metric("Median offer total", ui.usd(priced["total_cost_usd"].median()))
    c3.metric("Offers priced", f"{priced.height:,}")
    st.dataframe(
        priced,
        hide_index=True,
        width="stretch",
        height=min(38 + 35 * priced.height, 460),
        column_config={
            **ui.OFFER_COLUMNS,
            "rank": ui.number("#", "%d"),
            "nodes": ui.number("instances", "%d", "ceil(cluster GPUs / GPUs per instance)"),
            "billed_gpus": ui.number("billed GPUs", "%d"),
            "billed_gpu_hours": ui.number("billed GPU-hours", "%.0f", "incl. idle GPUs of the last instance and the spot allowance"),
            "wall_clock_days": ui.number("wall-clock (days)", "%.1f"),
            "total_cost_usd": st.column_config.NumberColumn("total cost ($)", format="dollar"),
        },
    )

# -- cost against time --------------------------------------------------------------------------
st.subheader("Cost against wall-clock time")
ui.caption(
    f"Each line is one GPU type at {pricing} prices (its cheapest whole-GPU offer as of {day:%Y-%m-%d}); each "
    "point a cluster size, from its memory minimum up to 16,384 GPUs (or until the run would take under an hour). Bigger clusters finish sooner but "
    "scale less efficiently, so the cost creeps up. The ring marks your current estimate."
)


@st.cache_data(ttl=data.CACHE_TTL, max_entries=32, show_spinner="Pricing cluster sizes...")
def _tradeoff(_spec: training.TrainingSpec, spec_key: tuple, _offers: pl.DataFrame, offers_key: tuple,
              _catalog: dict, _assumptions) -> pl.DataFrame:
    rows = []
    of_kind = _offers.filter((pl.col("pricing") == _spec.pricing) & (pl.col("gpu_count") >= 1))
    for gpu_id in sorted(set(of_kind["gpu"].to_list())):
        if gpu_id not in _catalog or not _catalog[gpu_id].tflops.get(_spec.precision):
            continue
        gpu_offers = of_kind.filter(pl.col("gpu") == gpu_id)
        try:
            need = training.min_training_gpus(_spec, _catalog[gpu_id])
        except EstimateError:
            continue
        sizes = sorted({n for n in CLUSTER_SIZES if n >= need} | ({need} if need <= CLUSTER_SIZES[-1] else set()))
        for n in sizes:
            try:
                r = training.estimate_training(replace(_spec, gpu=gpu_id, gpus=n, deadline_days=None), _catalog, _assumptions)
            except EstimateError:
                continue
            p = training.price_offers(r, gpu_offers)
            if p.is_empty():
                break
            if p["wall_clock_days"][0] < MIN_CHART_DAYS:
                break  # bigger clusters only shave minutes off a run this short
            rows.append({"gpu": gpu_id, "gpus": n, "days": p["wall_clock_days"][0], "cost_usd": p["total_cost_usd"][0],
                         "gpu_hours": r.gpu_hours, "provider": p["provider"][0],
                         "price_usd_per_gpu_hour": p["price_usd_per_gpu_hour"][0]})
    return pl.DataFrame(rows) if rows else pl.DataFrame(
        schema={"gpu": pl.String, "gpus": pl.Int64, "days": pl.Float64, "cost_usd": pl.Float64,
                "gpu_hours": pl.Float64, "provider": pl.String, "price_usd_per_gpu_hour": pl.Float64})


spec_key = (spec.params, spec.active_params, spec.tokens, spec.full_recompute, spec.precision, spec.mfu,
            spec.pricing, spec.spot_allowance)
curve = _tradeoff(spec, spec_key, offers, (day, data.warehouse_key()), catalog, assumptions)
if curve.is_empty():
    ui.empty(f"No GPU type has both a dense {precision} figure and a {pricing} offer as of {day:%Y-%m-%d}.",
             "Pick bf16 precision, another pricing kind or another snapshot date.")
else:
    # Keep the chart readable: the 10 GPU types cheapest at their best point, plus the chosen one.
    best_per_gpu = curve.group_by("gpu").agg(pl.col("cost_usd").min()).sort("cost_usd")
    keep = set(best_per_gpu.head(10)["gpu"].to_list()) | {result.gpu}
    shown = curve.filter(pl.col("gpu").is_in(list(keep)))
    tooltip = [
        alt.Tooltip("gpu:N", title="GPU"),
        alt.Tooltip("gpus:Q", title="cluster (GPUs)", format=","),
        alt.Tooltip("days:Q", title="wall-clock (days)", format=",.1f"),
        alt.Tooltip("cost_usd:Q", title="total cost ($)", format="$,.0f"),
        alt.Tooltip("gpu_hours:Q", title="GPU-hours", format=",.0f"),
        alt.Tooltip("provider:N", title="cheapest at"),
        alt.Tooltip("price_usd_per_gpu_hour:Q", title="$/GPU-h", format="$.3f"),
    ]
    x = alt.X("days:Q", title="wall-clock time (days, log scale)", scale=alt.Scale(type="log"))
    y = alt.Y("cost_usd:Q", title="total cost ($, log scale)", scale=alt.Scale(type="log", nice=False, padding=12),
              axis=alt.Axis(format="$~s"))
    lines = alt.Chart(shown).mark_line(point=True).encode(x=x, y=y, color=alt.Color("gpu:N", title="GPU"), tooltip=tooltip)
    chart = lines
    if not priced.is_empty():
        here = pl.DataFrame({"days": [priced["wall_clock_days"][0]], "cost_usd": [priced["total_cost_usd"][0]],
                             "gpu": [result.gpu], "gpus": [result.gpus]})
        chart = chart + alt.Chart(here).mark_point(size=320, shape="circle", filled=False, strokeWidth=2.5, color="black").encode(
            x=x, y=y, tooltip=[alt.Tooltip("gpu:N", title="your run on"), alt.Tooltip("gpus:Q", title="GPUs", format=",")]
        )
    st.altair_chart(chart.properties(height=420), width="stretch")
    if len(keep) < curve["gpu"].n_unique():
        ui.caption(f"{curve['gpu'].n_unique() - len(keep)} more GPU types are priced but not drawn (the 10 cheapest are).")
