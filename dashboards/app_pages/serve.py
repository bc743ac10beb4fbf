"""Serve: a serving fleet that fits the hardware, sized for the peak, priced per instance at the average."""

from __future__ import annotations

import math
from dataclasses import replace

import altair as alt
import polars as pl
import streamlit as st

from costmodel import inference
from costmodel.calibration import MLPERF_LLAMA2_70B_SERVER, benchmark_shape, mlperf_workload
from costmodel.errors import EstimateError
from costmodel.offers import bookable_offers, one_quote_per_offer, with_node_facts
from costmodel.reference_runs import cheapest_bookings
from costmodel.presets import PRESETS
from dashboards import data, ui

CUSTOM = "custom"
DEFAULT_PRESET = "llama-3.1-70b"
PEAK_RATIOS = [1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0]
KV_PRECISIONS = {"fp16": 2.0, "fp8": 1.0}
FIELD_LABELS = {
    "params": "Parameters (billions)", "active_params": "Active params (billions, MoE)", "n_layers": "Layers",
    "n_kv_heads": "KV heads", "head_dim": "Head dim", "average requests/s": "Average load (requests/s)",
    "peak requests/s": "Peak / average", "peak_ratio": "Peak / average",
    "prompt/output tokens": "Prompt tokens / request and Output tokens / request",
    "max_ms_per_output_token": "Max ms per output token", "max_seconds_to_first_token": "Max seconds to first token",
}


# -- the cost model's reasons, in this page's words ----------------------------------------------

def page_message(exc: EstimateError) -> str:
    v = exc.values
    if exc.reason == "invalid_input":
        return f"“{FIELD_LABELS.get(v.get('field'), v.get('field'))}” must be {v.get('expected')} (now {v.get('value')!r})."
    if exc.reason == "model_does_not_fit":
        return (f"{exc}. Lower “Weight precision” or “KV cache precision”, shorten the prompt or output, "
                "or pick a GPU with more memory.")
    if exc.reason == "latency_unreachable":
        return f"{exc}. Raise “Max ms per output token” or “Max seconds to first token”, or pick a faster GPU."
    if exc.reason == "fleet_too_large":
        return f"{exc}. Lower “Average load (requests/s)” or “Peak / average”."
    if exc.reason == "missing_shape":
        return "The KV cache needs “Layers”, “KV heads” and “Head dim”: pick a preset or fill them in."
    return f"{exc}."


def show_error(exc: EstimateError) -> None:
    st.error(ui.md(f"Cannot plan this fleet: {page_message(exc)}"), icon=":material/block:")


# -- inputs ----------------------------------------------------------------------------------------

def apply_preset() -> None:
    key = st.session_state["serve_preset"]
    if key == CUSTOM:
        return
    p = PRESETS[key]
    st.session_state["serve_params_b"] = p.params / 1e9
    st.session_state["serve_active_b"] = p.active_params / 1e9 if p.active_params != p.params else None
    st.session_state["serve_layers"] = p.n_layers
    st.session_state["serve_kv_heads"] = p.n_kv_heads
    st.session_state["serve_head_dim"] = p.head_dim


def preset_name(key: str) -> str:
    return PRESETS[key].name if key in PRESETS else "Custom model"


def day_text(day) -> str:
    return f"{day:%Y-%m-%d}"


def unedited_preset(params_b, active_b, layers, kv_heads, head_dim):
    """The chosen preset while its numbers are untouched, else None (the label then says custom)."""
    preset = PRESETS.get(st.session_state.get("serve_preset"))
    if preset is None or params_b is None:
        return None
    same_active = (active_b is None and preset.active_params == preset.params) or (
        active_b is not None and math.isclose(active_b * 1e9, preset.active_params, rel_tol=1e-6))
    same = (math.isclose(params_b * 1e9, preset.params, rel_tol=1e-6) and same_active
            and (layers, kv_heads, head_dim) == (preset.n_layers, preset.n_kv_heads, preset.head_dim))
    return preset if same else None


def model_label(params_b, active_b, layers, kv_heads, head_dim) -> str:
    preset = unedited_preset(params_b, active_b, layers, kv_heads, head_dim)
    if preset is not None:
        return preset.name
    base = PRESETS.get(st.session_state.get("serve_preset"))
    return f"a custom {ui.count((params_b or 0) * 1e9)}-parameter model" + (f" (edited from {base.name})" if base else "")


@st.cache_data(ttl=data.CACHE_TTL, max_entries=16, show_spinner=False)
def market_on(day, warehouse_key: tuple) -> pl.DataFrame:
    """The day's offers, each offer once (a provider's own quote first), with node facts."""
    return with_node_facts(one_quote_per_offer(data.offers_on(day)))


@st.cache_data(ttl=data.CACHE_TTL, max_entries=32, show_spinner="Sizing fleets on every GPU type...")
def gpu_type_ranking(_spec: inference.ServingSpec, spec_key: tuple, _offers: pl.DataFrame, offers_key: tuple,
                     _catalog: dict, _assumptions) -> tuple[list, list[str]]:
    """The cheapest fleet per GPU type with offers, cheapest first, and why the others were left out."""
    best, skipped = [], []
    for gpu_id in sorted(set(_offers["gpu"].drop_nulls().to_list())):
        if gpu_id not in _catalog:
            skipped.append(f"{gpu_id}: no spec sheet")
            continue
        try:
            # only the best plan and the first reason are shown: the cheapest offer per node shape suffices
            ranked = inference.rank_plans(_spec, _catalog[gpu_id],
                                          cheapest_bookings(bookable_offers(_offers, gpu_id, _spec.pricing)),
                                          _assumptions)
        except EstimateError as exc:
            skipped.append(f"{gpu_id}: {page_message(exc)}")
            continue
        if ranked.best is None:
            first = ranked.left_out[0].message if ranked.left_out else f"no whole-GPU {_spec.pricing} offer"
            skipped.append(f"{gpu_id}: {first}")
            continue
        best.append(ranked.best)
    best.sort(key=inference.serving_order)
    return best, skipped


def plan_card(plan: inference.ServingPlan, spec: inference.ServingSpec, what: str) -> None:
    with st.container(border=True):
        st.markdown(ui.md(f"#### {plan.nodes:,} × {plan.provider} {plan.instance_type}"))
        tag = " · interruptible" if plan.interruptible else ""
        ui.caption(f"Serving {what}: {plan.gpus_per_node} × {plan.gpu} per node, {plan.gpus:,} GPUs, {plan.pricing}{tag}. "
                   f"{plan.replicas:,} replicas of {inference.layout_text(plan)} for the peak {spec.peak:g} requests/s "
                   f"(batch {plan.batch}, limited by {plan.batch_limited_by}); billed all month at the average "
                   f"{spec.avg_rps:g} requests/s.")
        m = st.columns(5)
        m[0].metric("Fleet per month", ui.usd(plan.usd_per_month), help="730 hours of every node")
        m[1].metric("Per 1M input tokens", ui.usd(plan.usd_per_million_input_tokens),
                    help="the fleet's cost times its share of time spent in prefill, per input token at the average rate")
        m[2].metric("Per 1M output tokens", ui.usd(plan.usd_per_million_output_tokens),
                    help="the fleet's cost times its share of time spent in decode")
        m[3].metric("Time per output token", f"{plan.ms_per_output_token:,.1f} ms",
                    help=f"{plan.seconds_to_first_token:,.2f} s to the first token")
        m[4].metric("Average utilisation", f"{plan.average_utilisation:.0%}",
                    help=ui.md(f"peak premium {ui.usd(plan.peak_premium_usd_per_month)}/month over a fleet sized for "
                               "the average"))
        for warning in plan.warnings:
            st.warning(ui.md(warning.message), icon=":material/warning:")


def mlperf_caption(gpu, assumptions) -> None:
    """Beside a Llama-2-70B plan: the model at MLPerf's workload and the published result."""
    lines = []
    for bench in MLPERF_LLAMA2_70B_SERVER:
        if bench.gpu != gpu.gpu:
            continue
        modelled = inference.node_throughput(mlperf_workload(), gpu, benchmark_shape(bench), assumptions)
        lines.append(f"MLPerf Inference v4.1 Llama-2-70B Server, {bench.name} ({bench.role}): published "
                     f"{bench.per_gpu:,.0f} output tokens/s per GPU; this model at that workload {modelled:,.0f} "
                     f"({modelled / bench.per_gpu - 1:+.1%}). [source]({bench.source_url})")
    for line in lines:
        ui.caption(line)


RANKING_TABLE = {
    **ui.OFFER_COLUMNS,
    "rank": ui.number("#", "%d"),
    "interruptible": st.column_config.CheckboxColumn("interruptible"),
    "nodes": ui.number("nodes", "%d"),
    "gpus_per_node": ui.number("GPUs / node", "%d"),
    "gpus": ui.number("GPUs", "%d"),
    "tp": ui.number("tensor parallel", "%d"),
    "pp": ui.number("pipeline stages", "%d"),
    "replica_layout": "replica",
    "replicas": ui.number("replicas (peak)", "%d"),
    "batch": ui.number("batch (sequences)", "%d"),
    "ms_per_output_token": ui.number("ms / output token", "%.1f"),
    "output_tokens_per_second_per_gpu": ui.number("output tokens/s per GPU", "%.0f"),
    "average_utilisation": st.column_config.ProgressColumn("average utilisation", min_value=0.0, max_value=1.0,
                                                           format="percent"),
    "usd_per_month": st.column_config.NumberColumn("$/month", format="dollar"),
    "usd_per_million_input_tokens": ui.money("$ per 1M input", digits=3),
    "usd_per_million_output_tokens": ui.money("$ per 1M output", digits=3),
    "peak_premium_usd_per_month": st.column_config.NumberColumn("peak premium ($/month)", format="dollar"),
    "inter_node_fabric": "fabric between nodes",
    "warnings": "warnings",
}


def peak_curve(spec: inference.ServingSpec, plans: list, offers: pl.DataFrame, catalog: dict, assumptions,
               ratio: float) -> pl.DataFrame:
    rows = []
    for plan in plans[:5]:
        gpu_offers = cheapest_bookings(bookable_offers(offers, plan.gpu, spec.pricing))
        for r in sorted(set(PEAK_RATIOS) | {float(ratio)}):
            try:
                ranked = inference.rank_plans(replace(spec, peak_rps=spec.avg_rps * r), catalog[plan.gpu], gpu_offers,
                                              assumptions)
            except EstimateError:
                continue
            if ranked.best is not None:
                rows.append({"gpu": plan.gpu, "peak_ratio": r, "usd_per_month": ranked.best.usd_per_month,
                             "usd_per_million_output_tokens": ranked.best.usd_per_million_output_tokens,
                             "replicas": ranked.best.replicas})
    return pl.DataFrame(rows) if rows else pl.DataFrame()


ui.header(
    "Serve",
    "Replicas that fit the hardware: tensor parallelism 1, 2, 4 or 8 inside one NVLink domain, pipeline stages "
    "across GPUs or (with a known fabric) nodes; memory holds the weights and the KV cache of every sequence. "
    "Prefill is compute-bound, decode memory-bandwidth-bound, efficiencies calibrated on MLPerf Inference. Replicas "
    "are bought for the PEAK rate and paid for at the average; input and output tokens are priced separately.",
)

dates = data.snapshot_dates()
catalog = data.gpu_catalog()
if not dates or not catalog:
    ui.empty("The warehouse holds no offers or no GPU specs.", "Run `gpu-prices ingest --replay` and reload.")
    st.stop()
if "serve_params_b" not in st.session_state:
    st.session_state["serve_preset"] = DEFAULT_PRESET
    apply_preset()

with st.container(border=True):
    st.markdown("**Model**")
    c = st.columns([2, 1, 1, 1, 1, 1])
    c[0].selectbox("Preset (then edit any number)", [*PRESETS, CUSTOM], key="serve_preset", on_change=apply_preset,
                   format_func=preset_name)
    params_b = c[1].number_input("Parameters (billions)", key="serve_params_b", step=1.0, format="%.4g")
    active_b = c[2].number_input("Active params (billions, MoE)", key="serve_active_b", step=1.0, format="%.4g",
                                 placeholder="= parameters (dense)")
    layers = c[3].number_input("Layers", key="serve_layers", step=1)
    kv_heads = c[4].number_input("KV heads", key="serve_kv_heads", step=1)
    head_dim = c[5].number_input("Head dim", key="serve_head_dim", step=1)
    preset = unedited_preset(params_b, active_b, layers, kv_heads, head_dim)
    label = model_label(params_b, active_b, layers, kv_heads, head_dim)
    ui.caption(f"Serving {label}." + (f" {preset.note}." if preset and preset.note else "")
               + (f" Source: {preset.source_url}" if preset else ""))

    st.markdown("**Workload**")
    c = st.columns(4)
    weight_precision = c[0].selectbox("Weight precision", list(inference.WEIGHT_BYTES), index=1, key="serve_precision")
    kv_precision = c[1].selectbox("KV cache precision", list(KV_PRECISIONS), key="serve_kv_precision")
    prompt = c[2].number_input("Prompt tokens / request", value=1024, step=128, key="serve_prompt")
    output = c[3].number_input("Output tokens / request", value=1024, step=128, key="serve_output")
    c = st.columns(4)
    avg_rps = c[0].number_input("Average load (requests/s)", value=5.0, step=1.0, key="serve_avg_rps")
    ratio = c[1].number_input("Peak / average", value=3.0, step=0.5, key="serve_peak_ratio",
                              help="Replicas are bought for the peak; a spiky load idles them the rest of the time.")
    latency = c[2].number_input("Max ms per output token", value=None, step=5.0, key="serve_latency",
                                placeholder="no target")
    first_token = c[3].number_input("Max seconds to first token", value=None, step=0.5, key="serve_first_token",
                                    placeholder="no target")

    st.markdown("**Pricing**")
    c = st.columns(3)
    day = c[0].selectbox("Price as of snapshot date", dates, index=0, key="serve_date", format_func=day_text)
    offers = market_on(day, data.warehouse_key())
    kinds = sorted(offers["pricing"].unique().to_list()) if not offers.is_empty() else ["on_demand"]
    pricing = c[1].selectbox("Pricing kind", kinds, index=kinds.index("on_demand") if "on_demand" in kinds else 0,
                             key="serve_pricing")

lo, hi = data.window_on(day)
ui.as_of(lo, hi)

assumptions = data.assumption_table()
try:
    if ratio is None or not ratio >= 1:
        raise EstimateError("the peak cannot be below the average", reason="invalid_input",
                            values={"field": "peak_ratio", "value": ratio, "expected": "at least 1 (1 = a flat load)"})
    spec = inference.ServingSpec(
        params=(params_b or 0) * 1e9,
        active_params=active_b * 1e9 if active_b else None,
        n_layers=int(layers) if layers is not None else None,
        n_kv_heads=int(kv_heads) if kv_heads is not None else None,
        head_dim=int(head_dim) if head_dim is not None else None,
        kv_elements_per_layer=preset.kv_elements_per_layer if preset else None,
        weight_precision=weight_precision, kv_bytes=KV_PRECISIONS[kv_precision],
        prompt_tokens=int(prompt or 0), output_tokens=int(output or 0),
        avg_rps=float(avg_rps or 0), peak_rps=float(avg_rps or 0) * float(ratio),
        max_ms_per_output_token=latency, max_seconds_to_first_token=first_token, pricing=pricing,
    )
except EstimateError as exc:
    show_error(exc)
    st.stop()

spec_key = (spec, day)
best_per_gpu, skipped = gpu_type_ranking(spec, spec_key, offers, (day, data.warehouse_key()), catalog, assumptions)
if not best_per_gpu:
    st.error(ui.md(f"No GPU type with {pricing} offers can serve {label}: " + "; ".join(skipped[:4])
                   + ". Lower “Weight precision”, shorten the requests, relax the latency targets or pick another "
                     "pricing kind."), icon=":material/block:")
    st.stop()

gpu_choices = [p.gpu for p in best_per_gpu]
gpu = st.selectbox("GPU type (the cheapest first)", gpu_choices, index=0, key="serve_gpu")
ranked = inference.rank_plans(spec, catalog[gpu], bookable_offers(offers, gpu, pricing), assumptions)
plan_card(ranked.best, spec, label)
if preset is not None and preset.key == "llama-2-70b":
    mlperf_caption(catalog[gpu], assumptions)

st.subheader("The cheapest fleet on each GPU type")
ui.caption(f"Each GPU type's cheapest {pricing} fleet for {spec.peak:g} requests/s at peak ({ratio:g} x the "
           f"{spec.avg_rps:g} requests/s average), priced per instance.")
ranking = inference.plans_frame(best_per_gpu).with_columns(gpu=pl.Series([p.gpu for p in best_per_gpu]))
bars = alt.Chart(ranking.head(20)).mark_bar().encode(
    x=alt.X("usd_per_million_output_tokens:Q", title="$ per 1M output tokens"),
    y=alt.Y("gpu:N", title="GPU", sort="x"),
    color=alt.Color("replica_layout:N", title="replica"),
    tooltip=[alt.Tooltip("gpu:N", title="GPU"), alt.Tooltip("usd_per_month:Q", title="$/month", format="$,.0f"),
             alt.Tooltip("usd_per_million_input_tokens:Q", title="$/1M input", format="$.3f"),
             alt.Tooltip("usd_per_million_output_tokens:Q", title="$/1M output", format="$.3f"),
             alt.Tooltip("replicas:Q", title="replicas"), alt.Tooltip("provider:N", title="at"),
             alt.Tooltip("instance_type:N", title="instance")],
).properties(height=max(200, 24 * min(ranking.height, 20)))
st.altair_chart(bars, width="stretch")
st.dataframe(ranking.select(["gpu", *[c for c in ranking.columns if c != "gpu"]]), hide_index=True, width="stretch",
             column_config=RANKING_TABLE)
if skipped:
    with st.expander(f"{len(skipped)} GPU type(s) with offers left out, and why"):
        st.markdown("\n".join(f"- {ui.md(s)}" for s in skipped))

st.subheader(f"Every {pricing} offer of {gpu}")
offer_frame = inference.plans_frame(ranked.plans)
st.dataframe(offer_frame, hide_index=True, width="stretch", height=min(38 + 35 * offer_frame.height, 320),
             column_config=RANKING_TABLE)

st.subheader("What the peak-to-average ratio costs")
ui.caption(f"Monthly cost as the peak grows over the same {spec.avg_rps:g} requests/s average, on the five cheapest GPU "
           "types. Replicas come in whole numbers, so the cost climbs in steps; the ring is your ratio.")
curve = peak_curve(spec, best_per_gpu, offers, catalog, assumptions, ratio)
if curve.is_empty():
    ui.empty("Could not price the peak ratios.", "Change the workload above.")
else:
    base = alt.Chart(curve).encode(
        x=alt.X("peak_ratio:Q", title="peak / average request rate"),
        y=alt.Y("usd_per_month:Q", title="$ per month", axis=alt.Axis(format="$~s")),
        color=alt.Color("gpu:N", title="GPU"),
        tooltip=[alt.Tooltip("gpu:N"), alt.Tooltip("peak_ratio:Q", title="peak / average"),
                 alt.Tooltip("usd_per_month:Q", title="$/month", format="$,.0f"), alt.Tooltip("replicas:Q")],
    )
    here = curve.filter((pl.col("peak_ratio") == float(ratio)) & (pl.col("gpu") == gpu_choices[0]))
    chart = base.mark_line(point=True) + alt.Chart(here).mark_point(
        size=260, filled=False, strokeWidth=2.5, color="black").encode(x="peak_ratio:Q", y="usd_per_month:Q")
    st.altair_chart(chart.properties(height=360), width="stretch")
