"""Serve: what serving a model costs per million tokens, by GPU type, and what the peak costs."""

from __future__ import annotations

from dataclasses import replace

import altair as alt
import polars as pl
import streamlit as st

from costmodel import inference
from costmodel.errors import EstimateError
from costmodel.presets import PRESETS
from dashboards import data, ui

CUSTOM = "custom"
DEFAULT_PRESET = "llama-3.1-70b"
PEAK_RATIOS = [1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]

ui.header(
    "Serve",
    "Replicas sized for the PEAK request rate (capacity is provisioned for the peak, not the average): "
    "prefill is compute-bound (2 x N FLOPs per token), decode memory-bandwidth-bound (weights and KV cache "
    "read every step, batched). Cost per million tokens at the resulting average utilisation.",
)

dates = data.snapshot_dates()
catalog = data.gpu_catalog()
if not dates or not catalog:
    ui.empty("The warehouse holds no offers or no GPU specs.", "Run `gpu-prices ingest --replay` and reload.")
    st.stop()


def _apply_preset() -> None:
    key = st.session_state["serve_preset"]
    if key == CUSTOM:
        return
    p = PRESETS[key]
    st.session_state["serve_params_b"] = p.params / 1e9
    st.session_state["serve_active_b"] = p.active_params / 1e9 if p.active_params != p.params else None
    st.session_state["serve_layers"] = p.n_layers
    st.session_state["serve_kv_heads"] = p.n_kv_heads
    st.session_state["serve_head_dim"] = p.head_dim


if "serve_params_b" not in st.session_state:
    st.session_state["serve_preset"] = DEFAULT_PRESET if DEFAULT_PRESET in PRESETS else next(iter(PRESETS))
    _apply_preset()

with st.container(border=True):
    st.markdown("**Model**")
    c = st.columns([2, 1, 1, 1, 1, 1])
    c[0].selectbox(
        "Preset (then edit any number)", [*PRESETS, CUSTOM], key="serve_preset", on_change=_apply_preset,
        format_func=lambda k: PRESETS[k].name if k in PRESETS else "Custom model",
    )
    params_b = c[1].number_input("Parameters (billions)", key="serve_params_b", step=1.0, format="%.3g")
    active_b = c[2].number_input("Active params (billions, MoE)", key="serve_active_b", step=1.0, format="%.3g",
                                 placeholder="= parameters (dense)")
    layers = c[3].number_input("Layers", key="serve_layers", step=1)
    kv_heads = c[4].number_input("KV heads", key="serve_kv_heads", step=1)
    head_dim = c[5].number_input("Head dim", key="serve_head_dim", step=1)
    preset_key = st.session_state["serve_preset"]
    preset = PRESETS.get(preset_key)
    if preset:
        ui.caption(f"{preset.name}" + (f": {preset.note}" if preset.note else "") + f". Source: {preset.source_url}")

    st.markdown("**Workload**")
    c = st.columns(6)
    weight_precision = c[0].selectbox("Weight precision", list(inference.WEIGHT_BYTES), index=1, key="serve_precision")
    prompt = c[1].number_input("Prompt tokens / request", value=1024, step=128, key="serve_prompt")
    output = c[2].number_input("Output tokens / request", value=1024, step=128, key="serve_output")
    avg_rps = c[3].number_input("Average load (requests/s)", value=5.0, step=1.0, key="serve_avg_rps")
    ratio = c[4].number_input("Peak / average", value=3.0, step=0.5, key="serve_peak_ratio",
                              help="Capacity is bought for the peak; a spiky load idles GPUs the rest of the time.")
    latency = c[5].number_input("Max ms per output token", value=None, step=5.0, key="serve_latency",
                                placeholder="no target", help="Leave empty for no latency target.")

    st.markdown("**Pricing**")
    c = st.columns(3)
    day = c[0].selectbox("Price as of snapshot date", dates, index=0, key="serve_date",
                         format_func=lambda d: f"{d:%Y-%m-%d}")
    offers = data.offers_on(day)
    kinds = sorted(offers["pricing"].unique().to_list()) if not offers.is_empty() else ["on_demand"]
    pricing = c[1].selectbox("Pricing kind", kinds, index=kinds.index("on_demand") if "on_demand" in kinds else 0,
                             key="serve_pricing")

lo, hi = data.window_on(day)
ui.as_of(lo, hi)

try:
    if ratio is None or ratio < 1:
        raise EstimateError(
            f"peak / average must be at least 1 (got {ratio!r}): the peak load cannot be below the average; "
            "use 1 for a flat load"
        )
    spec = inference.InferenceSpec(
        params=(params_b or 0) * 1e9,
        active_params=active_b * 1e9 if active_b else None,
        n_layers=int(layers) if layers is not None else None,
        n_kv_heads=int(kv_heads) if kv_heads is not None else None,
        head_dim=int(head_dim) if head_dim is not None else None,
        kv_elements_per_layer=preset.kv_elements_per_layer if preset and layers == preset.n_layers else None,
        weight_precision=weight_precision,
        prompt_tokens=int(prompt or 0),
        output_tokens=int(output or 0),
        avg_rps=float(avg_rps or 0),
        peak_rps=float(avg_rps or 0) * float(ratio),
        max_ms_per_output_token=latency,
        pricing=pricing,
    )
    ranking, skipped = inference.rank_gpu_types(spec, catalog, offers)
except EstimateError as exc:
    ui.estimate_error(exc)
    st.stop()

# -- by GPU type --------------------------------------------------------------------------------
best = ranking.row(0, named=True)
m = st.columns(4)
m[0].metric("Cheapest per million tokens", f"${best['usd_per_million_tokens']:,.3f} /M tokens",
            help=f"prompt + output tokens, on {best['gpu']} at {best['provider']}")
m[1].metric("Cheapest fleet per month", ui.usd(best["usd_per_month"]) + " /month", help="730 hours")
m[2].metric("GPU types that can serve it", f"{ranking.height}")
m[3].metric("Peak premium (cheapest)", ui.usd(best["peak_premium_usd_per_month"]) + " /month",
            help="Extra spend for provisioning for the peak rather than the average load")

st.subheader("Cost per million tokens by GPU type")
ui.caption(f"Each GPU type's cheapest {pricing} offer, fleet sized for {spec.peak:g} requests/s "
           f"({ratio:g} x the {spec.avg_rps:g} requests/s average).")
bars = alt.Chart(ranking.head(20)).mark_bar().encode(
    x=alt.X("usd_per_million_tokens:Q", title="$ per million tokens (prompt + output)"),
    y=alt.Y("gpu:N", title="GPU", sort="x"),
    color=alt.Color("gpus_per_replica:O", title="GPUs / replica"),
    tooltip=[
        alt.Tooltip("gpu:N", title="GPU"),
        alt.Tooltip("usd_per_million_tokens:Q", title="$/M tokens", format="$.4f"),
        alt.Tooltip("usd_per_million_output_tokens:Q", title="$/M output tokens", format="$.4f"),
        alt.Tooltip("usd_per_month:Q", title="$/month", format="$,.0f"),
        alt.Tooltip("replicas:Q", title="replicas"),
        alt.Tooltip("gpus_per_replica:Q", title="GPUs/replica"),
        alt.Tooltip("provider:N", title="at"),
        alt.Tooltip("price_usd_per_gpu_hour:Q", title="$/GPU-h", format="$.3f"),
    ],
).properties(height=max(200, 24 * min(ranking.height, 20)))
st.altair_chart(bars, width="stretch")
st.dataframe(
    ranking,
    hide_index=True,
    width="stretch",
    column_config={
        **ui.OFFER_COLUMNS,
        "rank": ui.number("#", "%d"),
        "gpus_per_replica": ui.number("GPUs / replica", "%d"),
        "batch_size": ui.number("batch (sequences)", "%d"),
        "ms_per_output_token": ui.number("ms / output token", "%.1f"),
        "replicas": ui.number("replicas (peak)", "%d"),
        "offers": ui.number("offers", "%d"),
        "billed_gpus": ui.number("billed GPUs", "%d"),
        "usd_per_month": st.column_config.NumberColumn("$/month", format="dollar"),
        "usd_per_million_tokens": ui.money("$/M tokens", digits=4),
        "usd_per_million_output_tokens": ui.money("$/M output tokens", digits=4),
        "peak_premium_usd_per_month": st.column_config.NumberColumn("peak premium ($/month)", format="dollar"),
    },
)
if skipped:
    with st.expander(f"{len(skipped)} GPU type(s) with offers left out, and why"):
        st.markdown("\n".join(f"- {s}" for s in skipped))

# -- one GPU in detail --------------------------------------------------------------------------
st.subheader("One GPU type in detail")
gpu_choices = ranking["gpu"].to_list()
gpu = st.selectbox("GPU", gpu_choices, index=0, key="serve_gpu")
result = inference.estimate_inference(replace(spec, gpu=gpu), catalog)
priced = inference.price_offers(result, offers)
m = st.columns(3) + st.columns(3)
m[0].metric("Replicas for the peak", f"{result.replicas:,}", help=f"{result.baseline_replicas:,} would carry the average")
m[1].metric("GPUs per replica", f"{result.gpus_per_replica}", help=f"memory needs at least {result.min_gpus_per_replica}")
m[2].metric("Fleet", f"{result.total_gpus:,} GPUs")
m[3].metric("Batch", f"{result.batch_size} seq", help=f"limited by {result.batch_limited_by}")
m[4].metric("Decode", f"{result.decode_step_seconds * 1e3:,.1f} ms/token", help=f"{result.decode_bound}-bound")
m[5].metric("Average utilisation", f"{result.average_utilisation:.0%}")
if result.notes:
    ui.caption(" ".join(f"Note: {n}." for n in result.notes))
st.dataframe(
    priced, hide_index=True, width="stretch", height=min(38 + 35 * priced.height, 320),
    column_config={
        **ui.OFFER_COLUMNS,
        "rank": ui.number("#", "%d"),
        "instances": ui.number("instances", "%d"),
        "billed_gpus": ui.number("billed GPUs", "%d"),
        "usd_per_hour": ui.money("$/hour", digits=2),
        "usd_per_month": st.column_config.NumberColumn("$/month", format="dollar"),
        "usd_per_million_tokens": ui.money("$/M tokens", digits=4),
        "usd_per_million_output_tokens": ui.money("$/M output tokens", digits=4),
        "baseline_usd_per_month": st.column_config.NumberColumn("if peak = average ($/month)", format="dollar"),
        "peak_premium_usd_per_month": st.column_config.NumberColumn("peak premium ($/month)", format="dollar"),
    },
)

# -- what the peak costs ------------------------------------------------------------------------
st.subheader("What the peak-to-average ratio costs")
ui.caption(
    f"Cost per million tokens as the peak grows relative to the same {spec.avg_rps:g} requests/s average, on each of "
    "the five cheapest GPU types (their cheapest offer). Replicas come in whole numbers, so the cost climbs in steps. "
    "The ring marks your current ratio on the cheapest GPU type."
)
curve_rows = []
for g in ranking.head(5)["gpu"].to_list():
    for r in sorted(set(PEAK_RATIOS) | {float(ratio)}):
        try:
            res = inference.estimate_inference(replace(spec, gpu=g, peak_rps=spec.avg_rps * r), catalog)
        except EstimateError:
            continue
        p = inference.price_offers(res, offers)
        if p.is_empty():
            continue
        curve_rows.append({"gpu": g, "peak_ratio": r, "usd_per_million_tokens": p["usd_per_million_tokens"][0],
                           "usd_per_month": p["usd_per_month"][0], "replicas": res.replicas,
                           "utilisation": res.average_utilisation})
curve = pl.DataFrame(curve_rows)
if curve.is_empty():
    ui.empty("Could not price the peak ratios.", "Change the workload above.")
else:
    base = alt.Chart(curve).encode(
        x=alt.X("peak_ratio:Q", title="peak / average request rate"),
        y=alt.Y("usd_per_million_tokens:Q", title="$ per million tokens"),
        color=alt.Color("gpu:N", title="GPU"),
        tooltip=[
            alt.Tooltip("gpu:N", title="GPU"),
            alt.Tooltip("peak_ratio:Q", title="peak / average"),
            alt.Tooltip("usd_per_million_tokens:Q", title="$/M tokens", format="$.4f"),
            alt.Tooltip("usd_per_month:Q", title="$/month", format="$,.0f"),
            alt.Tooltip("replicas:Q", title="replicas"),
            alt.Tooltip("utilisation:Q", title="avg utilisation", format=".0%"),
        ],
    )
    chart = base.mark_line(point=True)
    here = curve.filter((pl.col("peak_ratio") == float(ratio)) & (pl.col("gpu") == best["gpu"]))
    chart = chart + alt.Chart(here).mark_point(size=260, filled=False, strokeWidth=2.5, color="black").encode(
        x="peak_ratio:Q", y="usd_per_million_tokens:Q")
    st.altair_chart(chart.properties(height=360), width="stretch")
    flat = curve.filter((pl.col("gpu") == best["gpu"]) & (pl.col("peak_ratio") == 1.0))
    now = curve.filter((pl.col("gpu") == best["gpu"]) & (pl.col("peak_ratio") == float(ratio)))
    if not flat.is_empty() and not now.is_empty():
        extra = now["usd_per_million_tokens"][0] / flat["usd_per_million_tokens"][0] - 1
        ui.caption(
            f"On {best['gpu']}, a peak {ratio:g} x the average costs {extra:+.0%} per token against a flat load "
            f"(${flat['usd_per_million_tokens'][0]:.4f} -> ${now['usd_per_million_tokens'][0]:.4f} per million tokens)."
        )
