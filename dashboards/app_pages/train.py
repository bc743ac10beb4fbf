"""Train: a training plan a team could book (whole nodes of one offer, sized for a deadline), then every offer."""

from __future__ import annotations

import math
from dataclasses import replace

import altair as alt
import polars as pl
import streamlit as st

from costmodel import training
from costmodel.errors import EstimateError
from costmodel.gpus import TRAINING_PRECISIONS
from costmodel.offers import bookable_offers, one_quote_per_offer, with_node_facts
from costmodel.reference_runs import cheapest_bookings
from costmodel.presets import PRESETS
from dashboards import data, ui

CUSTOM = "custom"
DEFAULT_PRESET = "llama-3.1-70b"
PREFERRED_GPUS = ("H100-SXM-80GB", "A100-SXM-80GB")
CLUSTER_SIZES = [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384]
SIZING = ("Deadline", "Cluster size")
FIELD_LABELS = {
    "params": "Parameters (billions)", "active_params": "Active params (billions, MoE)",
    "tokens": "Training tokens (billions)", "gpus": "Cluster size (GPUs)", "deadline_days": "Deadline (days)",
    "mfu": "MFU", "spot_allowance": "Spot allowance (% extra time)",
}


# -- the cost model's reasons, in this page's words ----------------------------------------------

def page_message(exc: EstimateError) -> str:
    """The error and what to change, naming this page's inputs (never command-line flags)."""
    v = exc.values
    if exc.reason == "invalid_input":
        return f"“{FIELD_LABELS.get(v.get('field'), v.get('field'))}” must be {v.get('expected')} (now {v.get('value')!r})."
    if exc.reason == "too_few_gpus_for_memory":
        return (f"{exc}. Raise “Cluster size (GPUs)” to at least {v.get('min_gpus_whole_nodes', v.get('min_gpus')):,}, "
                "or pick a GPU with more memory.")
    if exc.reason == "deadline_unreachable":
        return (f"{exc}. Lengthen “Deadline (days)” to at least {math.ceil(v.get('best_days', 0) * 10) / 10:g}, "
                "train on fewer tokens, or pick a faster GPU or fp8.")
    if exc.reason == "precision_unavailable":
        return f"{exc}. Pick one of its precisions under “Precision”: {', '.join(v.get('available') or []) or 'none'}."
    if exc.reason == "model_too_large":
        return f"{exc}. Pick a GPU with more memory."
    return f"{exc}."


def show_error(exc: EstimateError) -> None:
    st.error(ui.md(f"Cannot plan this run: {page_message(exc)}"), icon=":material/block:")


# -- inputs ----------------------------------------------------------------------------------------

def apply_preset() -> None:
    key = st.session_state["train_preset"]
    if key == CUSTOM:
        return
    preset = PRESETS[key]
    st.session_state["train_params_b"] = preset.params / 1e9
    st.session_state["train_active_b"] = preset.active_params / 1e9 if preset.active_params != preset.params else None
    st.session_state["train_tokens_b"] = training.COMPUTE_OPTIMAL_TOKENS_PER_PARAM * preset.params / 1e9


def model_label(params_b: float | None, active_b: float | None) -> str:
    """The preset's name while its numbers are untouched; a custom label once they are edited."""
    key = st.session_state.get("train_preset")
    preset = PRESETS.get(key)
    if preset and params_b is not None and math.isclose(params_b * 1e9, preset.params, rel_tol=1e-6) and (
            (active_b is None and preset.active_params == preset.params)
            or (active_b is not None and math.isclose(active_b * 1e9, preset.active_params, rel_tol=1e-6))):
        return preset.name
    size = ui.count((params_b or 0) * 1e9)
    return f"a custom {size}-parameter model" + (f" (edited from {preset.name})" if preset else "")


def preset_name(key: str) -> str:
    return PRESETS[key].name if key in PRESETS else "Custom model"


def day_text(day) -> str:
    return f"{day:%Y-%m-%d}"


@st.cache_data(ttl=data.CACHE_TTL, max_entries=16, show_spinner=False)
def market_on(day, warehouse_key: tuple) -> pl.DataFrame:
    """The day's offers, each offer once (a provider's own quote first), with node facts."""
    return with_node_facts(one_quote_per_offer(data.offers_on(day)))


ui.header(
    "Train",
    "A plan is whole nodes of one offer's instance type, priced at the instance price: more than one node only "
    "where the instance has a known inter-node fabric. Without a cluster size it is the fewest nodes that finish "
    "within the deadline. FLOPs = 6 x active params x tokens; GPU-hours = FLOPs / (dense peak x end-to-end MFU x "
    "3600 s), MFU from published runs (docs/run-pricing-calibration.md).",
)

dates = data.snapshot_dates()
if not dates:
    ui.empty("The warehouse holds no offers to price a run with.", "Run `gpu-prices ingest --replay` and reload.")
    st.stop()
catalog = data.gpu_catalog()
if not catalog:
    ui.empty("gpu_specs is empty, so no GPU's throughput is known.", "Run `gpu-prices ingest --replay` and reload.")
    st.stop()
if "train_params_b" not in st.session_state:
    st.session_state["train_preset"] = DEFAULT_PRESET
    apply_preset()

with st.container(border=True):
    st.markdown("**Model**")
    c1, c2, c3, c4 = st.columns([2, 1, 1, 1])
    c1.selectbox("Preset (then edit any number)", [*PRESETS, CUSTOM], key="train_preset", on_change=apply_preset,
                 format_func=preset_name)
    params_b = c2.number_input("Parameters (billions)", key="train_params_b", step=1.0, format="%.4g")
    active_b = c3.number_input("Active params (billions, MoE)", key="train_active_b", step=1.0, format="%.4g",
                               placeholder="= parameters (dense)",
                               help="Parameters used per token; leave empty for a dense model.")
    tokens_b = c4.number_input("Training tokens (billions)", key="train_tokens_b", step=100.0, format="%.5g",
                               help="The preset fills the compute-optimal 20 tokens per parameter (Chinchilla).")
    label = model_label(params_b, active_b)
    preset = PRESETS.get(st.session_state["train_preset"])
    ui.caption(f"Planning {label}." + (f" Source: {preset.source_url}" if preset and label == preset.name else ""))

    st.markdown("**Hardware and pricing**")
    gpu_ids = sorted(g for g, s in catalog.items() if any(s.tflops.get(p) for p in TRAINING_PRECISIONS))
    default_gpu = next((g for g in PREFERRED_GPUS if g in gpu_ids), gpu_ids[0])
    c1, c2, c3, c4 = st.columns(4)
    gpu = c1.selectbox("GPU", gpu_ids, index=gpu_ids.index(default_gpu), key="train_gpu")
    precision = c2.selectbox("Precision", TRAINING_PRECISIONS, key="train_precision")
    day = c3.selectbox("Price as of snapshot date", dates, index=0, key="train_date",
                       format_func=day_text, help="Each source's newest snapshot on or before it.")
    offers = market_on(day, data.warehouse_key())
    kinds = sorted(offers["pricing"].unique().to_list()) if not offers.is_empty() else ["on_demand"]
    pricing = c4.selectbox("Pricing kind", kinds, index=kinds.index("on_demand") if "on_demand" in kinds else 0,
                           key="train_pricing")

    st.markdown("**Plan**")
    c1, c2, c3, c4 = st.columns(4)
    sizing = c1.radio("Size the plan by", SIZING, key="train_sizing")
    deadline = c2.number_input("Deadline (days)", value=training.DEFAULT_DEADLINE_DAYS, step=1.0, key="train_deadline",
                               disabled=sizing != "Deadline", help="The default plan finishes within 30 days.")
    gpus_in = c2.number_input("Cluster size (GPUs)", value=512, step=8, key="train_gpus",
                              disabled=sizing != "Cluster size", help="Rounded up to whole nodes of each offer.")
    mfu_override = c3.checkbox("Use my own MFU", key="train_mfu_override",
                               help="End-to-end model FLOPs utilisation, used exactly. Default: the assumption table.")
    mfu = c3.slider("MFU", 0.05, 1.0, 0.40, 0.01, key="train_mfu", disabled=not mfu_override)
    recompute = c3.checkbox("Full activation recomputation (8 x N x D)", key="train_recompute")
    spot_pct = c4.number_input("Spot allowance (% extra time)", value=training.DEFAULT_SPOT_ALLOWANCE * 100,
                               step=5.0, key="train_spot_allowance",
                               help="Work lost to pre-emptions on spot / interruptible pricing. Our assumption.")

lo, hi = data.window_on(day)
ui.as_of(lo, hi)


# -- the plan --------------------------------------------------------------------------------------

def plan_card(plan: training.TrainingPlan, compute: training.TrainingCompute, what: str, deadline_text: str) -> None:
    """The cheapest bookable plan: nodes x instance, days, cost, warnings."""
    with st.container(border=True):
        fabric = f"{plan.inter_node_fabric} between nodes" if plan.nodes > 1 else "a single node"
        tag = " · interruptible" if plan.interruptible else ""
        st.markdown(ui.md(f"#### {plan.nodes:,} × {plan.provider} {plan.instance_type}"))
        ui.caption(f"Training {what}: {plan.gpus_per_node} × {plan.gpu} per node, {fabric}, {plan.gpus:,} GPUs, "
                   f"{plan.pricing}{tag}. {deadline_text}")
        m = st.columns(5)
        m[0].metric("Wall-clock", f"{plan.days:,.1f} days", help=f"sized by {plan.sized_by}")
        m[1].metric("Total cost", ui.usd(plan.total_cost_usd),
                    help=ui.md(f"{plan.nodes:,} instances at ${plan.price_usd_per_hour:,.2f}/h for {plan.days:,.1f} days"))
        m[2].metric("Per 1M training tokens", ui.usd(plan.usd_per_million_tokens))
        m[3].metric("GPUs", f"{plan.gpus:,}", help=f"memory minimum {compute.min_gpus:,}")
        m[4].metric("MFU", f"{plan.mfu_used:.3f}", help=ui.md(mfu_help(plan)))
        for warning in plan.warnings:
            st.warning(ui.md(warning.message), icon=":material/warning:")


def mfu_help(plan: training.TrainingPlan) -> str:
    if plan.mfu_table is None:
        return "your value, used as given"
    extra = f" x {plan.mfu_scale_factor:.3f} for running beyond the source run's GPU count" \
        if plan.mfu_scale_factor < 1 else ""
    return f"{plan.mfu_table:.4f}{extra}; {plan.mfu_source}"


def left_out_note(left_out: list, gpu: str) -> None:
    if not left_out:
        return
    counts: dict[str, int] = {}
    for item in left_out:
        counts[item.reason] = counts.get(item.reason, 0) + 1
    words = {"needs_fabric": "need more than one node but have no known inter-node fabric",
             "too_few_gpus_for_memory": "cannot hold the training state at this size",
             "fractional_gpu": "are a share of one GPU"}
    with st.expander(f"{len(left_out)} offer(s) of {gpu} left out, and why"):
        st.markdown("\n".join(f"- {n} {words.get(r, r.replace('_', ' '))}" for r, n in counts.items()))
        st.markdown("\n".join(f"- {ui.md(item.offer)}: {ui.md(item.message)}" for item in left_out[:8]))


def no_plan(gpu: str, pricing: str, day, left_out: list, offers: pl.DataFrame) -> None:
    if not left_out:
        other = sorted(offers.filter(pl.col("gpu") == gpu)["pricing"].unique().to_list()) if not offers.is_empty() else []
        ui.empty(f"No whole-GPU {pricing} offer of {gpu} as of {day:%Y-%m-%d}.",
                 f"{gpu} is offered as: {', '.join(other)}; switch the pricing kind." if other
                 else "Pick another GPU or snapshot date.")
        return
    blocking = [item for item in left_out if item.reason not in ("needs_fabric", "fractional_gpu")]
    if blocking and len(blocking) == len(left_out):  # the run itself, not the offers, is the problem
        first = blocking[0]
        show_error(EstimateError(first.message, first.reason, first.values))
        return
    needs_fabric = sum(1 for item in left_out if item.reason == "needs_fabric")
    ui.empty(f"None of the {len(left_out)} {pricing} offers of {gpu} can run this plan"
             + (f" ({needs_fabric} would need several nodes and have no known inter-node fabric)." if needs_fabric else "."),
             "Size the plan by “Cluster size” within one node, lengthen “Deadline (days)”, or pick another GPU.")
    left_out_note(left_out, gpu)


PLAN_TABLE = {
    **ui.OFFER_COLUMNS,
    "rank": ui.number("#", "%d"),
    "interruptible": st.column_config.CheckboxColumn("interruptible"),
    "nodes": ui.number("nodes", "%d"),
    "gpus_per_node": ui.number("GPUs / node", "%d"),
    "gpus": ui.number("GPUs", "%d"),
    "inter_node_fabric": "fabric between nodes",
    "intra_node_link": "link in the node",
    "mfu_used": ui.number("MFU", "%.3f"),
    "mfu_scale_factor": ui.number("extrapolation", "%.3f", "MFU factor beyond the source run's GPU count"),
    "days": ui.number("wall-clock (days)", "%.1f"),
    "billed_gpu_hours": ui.number("billed GPU-hours", "%.0f"),
    "total_cost_usd": st.column_config.NumberColumn("total cost ($)", format="dollar"),
    "usd_per_million_tokens": ui.money("$ per 1M tokens", digits=2),
    "warnings": "warnings",
}


# -- cost against time ---------------------------------------------------------------------------

@st.cache_data(ttl=data.CACHE_TTL, max_entries=32, show_spinner="Pricing cluster sizes...")
def tradeoff(_spec: training.TrainingSpec, spec_key: tuple, _offers: pl.DataFrame, offers_key: tuple,
             _catalog: dict, _assumptions) -> pl.DataFrame:
    """Per GPU type and cluster size, the cheapest bookable plan's days and cost."""
    rows = []
    of_kind = _offers.filter((pl.col("pricing") == _spec.pricing) & (pl.col("gpu_count") >= 1))
    for gpu_id in sorted(set(of_kind["gpu"].drop_nulls().to_list())):
        spec_sheet = _catalog.get(gpu_id)
        if spec_sheet is None or not spec_sheet.tflops.get(_spec.precision):
            continue
        gpu_offers = cheapest_bookings(bookable_offers(of_kind, gpu_id, _spec.pricing))
        rows += tradeoff_rows(_spec, spec_sheet, gpu_offers, _assumptions)
    schema = {"gpu": pl.String, "gpus": pl.Int64, "days": pl.Float64, "cost_usd": pl.Float64,
              "provider": pl.String, "instance_type": pl.String}
    return pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)


def tradeoff_rows(spec: training.TrainingSpec, gpu, offers: pl.DataFrame, assumptions) -> list[dict]:
    rows = []
    for size in CLUSTER_SIZES:
        try:
            ranked = training.rank_plans(replace(spec, gpus=size, deadline_days=None), gpu, offers, assumptions)
        except EstimateError:
            continue
        best = ranked.best
        if best is None or best.gpus != size:
            continue
        rows.append({"gpu": gpu.gpu, "gpus": best.gpus, "days": best.days, "cost_usd": best.total_cost_usd,
                     "provider": best.provider, "instance_type": best.instance_type})
    return rows


def tradeoff_chart(curve: pl.DataFrame, plan: training.TrainingPlan | None) -> alt.Chart:
    cheapest = curve.group_by("gpu").agg(pl.col("cost_usd").min()).sort("cost_usd").head(10)["gpu"].to_list()
    keep = set(cheapest) | ({plan.gpu} if plan else set())
    shown = curve.filter(pl.col("gpu").is_in(list(keep)))
    x = alt.X("days:Q", title="wall-clock time (days, log scale)", scale=alt.Scale(type="log"))
    y = alt.Y("cost_usd:Q", title="total cost ($, log scale)", scale=alt.Scale(type="log", nice=False, padding=12),
              axis=alt.Axis(format="$~s"))
    tooltip = [alt.Tooltip("gpu:N", title="GPU"), alt.Tooltip("gpus:Q", title="GPUs", format=","),
               alt.Tooltip("days:Q", title="days", format=",.1f"), alt.Tooltip("cost_usd:Q", title="cost", format="$,.0f"),
               alt.Tooltip("provider:N", title="cheapest at"), alt.Tooltip("instance_type:N", title="instance")]
    chart = alt.Chart(shown).mark_line(point=True).encode(x=x, y=y, color=alt.Color("gpu:N", title="GPU"),
                                                          tooltip=tooltip)
    if plan is not None:
        here = pl.DataFrame({"days": [plan.days], "cost_usd": [plan.total_cost_usd], "gpu": [plan.gpu]})
        chart = chart + alt.Chart(here).mark_point(size=320, filled=False, strokeWidth=2.5, color="black").encode(
            x=x, y=y, tooltip=[alt.Tooltip("gpu:N", title="your plan on")])
    return chart.properties(height=420)


# -- the page ------------------------------------------------------------------------------------

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
        pricing=pricing,
        spot_allowance=(spot_pct or 0) / 100,
    )
    ranked = training.rank_plans(spec, catalog[gpu], bookable_offers(offers, gpu, pricing), assumptions)
except EstimateError as exc:
    show_error(exc)
    st.stop()

deadline_text = (f"Deadline {spec.deadline:g} days" + (" (the default)." if spec.deadline == training.DEFAULT_DEADLINE_DAYS
                                                       else ".")) if spec.gpus is None else f"Sized for {spec.gpus:,} GPUs."
best = ranked.best
if best is None:
    no_plan(gpu, pricing, day, ranked.left_out, offers)
else:
    plan_card(best, ranked.compute, label, deadline_text)
    compute = ranked.compute
    ui.caption(f"{ui.sci(compute.total_flops)} FLOPs ({compute.flops_factor:g} x {ui.count(compute.active_params)} active "
               f"params x {ui.count(compute.tokens)} tokens); {best.gpu_hours:,.0f} GPU-hours at MFU {best.mfu_used:.3f}; "
               f"training state {compute.state_bytes / 1e12:,.3g} TB, at least {compute.min_gpus:,} GPUs. "
               + " ".join(compute.notes))
    st.subheader(f"Every bookable {pricing} plan on {gpu}, cheapest first")
    frame = training.plans_frame(ranked.plans)
    st.dataframe(frame, hide_index=True, width="stretch", height=min(38 + 35 * frame.height, 460),
                 column_config=PLAN_TABLE)
    left_out_note(ranked.left_out, gpu)

st.subheader("Cost against wall-clock time")
ui.caption(f"Each line is one GPU type at {pricing} prices as of {day:%Y-%m-%d}; each point the cheapest bookable plan "
           "of that many GPUs (multi-node only on instances with a known fabric). More GPUs finish sooner; beyond "
           "the size a source run measured, the MFU extrapolation makes them cost a little more. The ring is your plan.")
spec_key = (spec.params, spec.active_params, spec.tokens, spec.full_recompute, spec.precision, spec.mfu, spec.pricing,
            spec.spot_allowance)
curve = tradeoff(spec, spec_key, offers, (day, data.warehouse_key()), catalog, assumptions)
if curve.is_empty():
    ui.empty(f"No GPU type has a bookable {pricing} plan at these sizes as of {day:%Y-%m-%d}.",
             "Pick another pricing kind or snapshot date.")
else:
    st.altair_chart(tradeoff_chart(curve, best), width="stretch")
