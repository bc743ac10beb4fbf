"""Reference runs priced at each period's market: "training is getting cheaper", measured.

A reference run is a fixed job, so its price over time moves only with the market: the same
GPT-3-sized training run, the same 70B training run, the same serving load, planned on each
week's (or month's) offers with the ordinary plan rules (`costmodel.training`,
`costmodel.inference`: whole nodes, a known fabric for more than one node, the default
deadline, MFU from the assumption table unless given).

* `REFERENCE_RUNS`: the runs, each citing where its shape comes from.
* `cheapest_by_generation`: on one day's market, the cheapest deployable plan per GPU
  generation (the spec sheet's `architecture`: Ampere, Hopper, Blackwell, CDNA 3, TPU v5p...).
  A generation without a bookable offer that can run the job is absent, never zero.
* `periods`: the weeks or months of a span, each priced at its last day's market.
* `price_over`: the run over the periods. The caller passes `market_on(day)`, the market read
  it already uses (the CLI's `load_offers`, the dashboard's `offers_on`), so this module keeps
  no as-of rule of its own. Days whose market is the same set of (source, snapshot) pairs are
  planned once.

Pure: no I/O; frames in, frames out.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Callable, Iterable, Mapping

import polars as pl

from costmodel import inference, training
from costmodel.assumptions import Assumptions
from costmodel.errors import EstimateError
from costmodel.gpus import GpuSpec
from costmodel.offers import bookable_offers, first_region_per_booking
from costmodel.presets import PRESETS

TRAIN = "train"
SERVE = "serve"
STEPS = ("week", "month")

GPT3_PAPER = "https://arxiv.org/abs/2005.14165"  # Brown et al. 2020, Table 2.1 (175B) and section 2.2 (300B tokens)
LLAMA2_PAPER = "https://arxiv.org/abs/2307.09288"  # Touvron et al. 2023, Table 1 (70B, 2.0T tokens)
MLPERF_LLM_RULES = "https://github.com/mlcommons/inference_policies/blob/master/inference_rules.adoc"

# The serving load: our choice of a round, mid-sized production rate, stated rather than sourced.
SERVE_OUTPUT_TOKENS_PER_SECOND = 1_000.0
SERVE_PEAK_TO_AVERAGE = 2.0
SERVE_PROMPT_TOKENS = 1_500
SERVE_OUTPUT_TOKENS = 500
SERVE_CONTEXT = 4_096  # Llama 2's context window (model card)


@dataclass(frozen=True)
class ReferenceRun:
    key: str
    name: str
    kind: str  # TRAIN | SERVE
    spec: training.TrainingSpec | inference.ServingSpec
    source: str  # where the shape comes from
    note: str = ""

    def with_options(self, pricing: str | None = "on_demand", mfu: float | None = None,
                     compute_efficiency: float | None = None) -> "ReferenceRun":
        """The run at another pricing kind (None = any) and, for training, a given MFU (used exactly)."""
        if self.kind == TRAIN:
            spec = replace(self.spec, pricing=pricing, **({"mfu": mfu} if mfu is not None else {}))
        else:
            extra = {"compute_efficiency": compute_efficiency} if compute_efficiency is not None else {}
            spec = replace(self.spec, pricing=pricing, **extra)
        return replace(self, spec=spec)


def _serving_reference() -> inference.ServingSpec:
    avg_rps = SERVE_OUTPUT_TOKENS_PER_SECOND / SERVE_OUTPUT_TOKENS
    return inference.ServingSpec.from_preset(
        PRESETS["llama-2-70b"], prompt_tokens=SERVE_PROMPT_TOKENS, output_tokens=SERVE_OUTPUT_TOKENS,
        context_length=SERVE_CONTEXT, avg_rps=avg_rps, peak_rps=avg_rps * SERVE_PEAK_TO_AVERAGE,
        max_ms_per_output_token=200.0, max_seconds_to_first_token=2.0,
    )


REFERENCE_RUNS: dict[str, ReferenceRun] = {
    run.key: run
    for run in [
        ReferenceRun(
            "gpt3-175b", "GPT-3 175B on 300B tokens", TRAIN,
            training.TrainingSpec(params=175e9, tokens=300e9),
            f"Brown et al. 2020, Language Models are Few-Shot Learners, {GPT3_PAPER}: Table 2.1 (175B parameters), "
            "section 2.2 (300B training tokens)",
            note="bf16, 6 x N x D FLOPs, sized for the default 30-day deadline",
        ),
        ReferenceRun(
            "llama2-70b", "Llama 2 70B on 2T tokens", TRAIN,
            training.TrainingSpec(params=70e9, tokens=2e12),
            f"Touvron et al. 2023, Llama 2, {LLAMA2_PAPER}: Table 1 (70B parameters, 2.0T tokens)",
            note="bf16, 6 x N x D FLOPs, sized for the default 30-day deadline",
        ),
        ReferenceRun(
            "serve-llama2-70b", "Serving Llama 2 70B at 1,000 output tokens/s", SERVE,
            _serving_reference(),
            f"model shape: {PRESETS['llama-2-70b'].source_url}; latency limits (2 s to the first token, 200 ms per "
            f"output token): MLPerf Inference Llama-2-70B Server, {MLPERF_LLM_RULES}",
            note=f"{SERVE_OUTPUT_TOKENS_PER_SECOND:,.0f} output tokens/s on average ({SERVE_PROMPT_TOKENS:,}-token "
                 f"prompts, {SERVE_OUTPUT_TOKENS}-token answers), provisioned for a peak of "
                 f"{SERVE_PEAK_TO_AVERAGE:g} x the average, {SERVE_CONTEXT:,}-token context, fp16 weights and KV "
                 "cache; the load is our choice, not a published figure",
        ),
    ]
}


def get_reference_run(key: str) -> ReferenceRun:
    if key in REFERENCE_RUNS:
        return REFERENCE_RUNS[key]
    raise EstimateError(f"unknown reference run {key!r}; known: {', '.join(REFERENCE_RUNS)}",
                        reason="unknown_preset", values={"preset": key, "known": list(REFERENCE_RUNS)})


def generation_of(gpu: GpuSpec) -> str:
    """The generation as its spec sheet names it ("Hopper", "CDNA 3", "TPU v5p")."""
    return (gpu.architecture or "unknown").strip()


# -- one day -------------------------------------------------------------------------------------

ROW_SCHEMA: dict[str, pl.DataType] = {
    "period": pl.Date, "as_of": pl.Date, "run": pl.String, "generation": pl.String, "vendor": pl.String,
    "gpu": pl.String, "provider": pl.String, "instance_type": pl.String, "region": pl.String,
    "pricing": pl.String, "interruptible": pl.Boolean, "nodes": pl.Int64, "gpus_per_node": pl.Int64,
    "gpus": pl.Int64, "days": pl.Float64, "mfu_used": pl.Float64, "total_cost_usd": pl.Float64,
    "usd_per_month": pl.Float64, "usd_per_million_tokens": pl.Float64, "price_usd_per_hour": pl.Float64,
    "price_usd_per_gpu_hour": pl.Float64, "snapshot_date": pl.Date, "source": pl.String, "source_url": pl.String,
    "warnings": pl.String,
}
SHAPE_KEY = ["gpu", "gpu_count", "intra_node_link", "inter_node_fabric", "pricing"]


def cheapest_per_shape(offers: pl.DataFrame) -> pl.DataFrame:
    """Only the offers at the lowest instance price of their node shape and pricing kind.

    A plan's size depends on the node shape and whether the pricing is interruptible, never on
    the price, so a dearer offer of the same shape cannot be the cheapest plan; ties are all kept
    so the ranking breaks them as it would on the whole market."""
    if offers.is_empty():
        return offers
    keys = [k for k in SHAPE_KEY if k in offers.columns]
    return offers.filter(pl.col("price_usd_per_hour") == pl.col("price_usd_per_hour").min().over(keys))


def cheapest_bookings(offers: pl.DataFrame) -> pl.DataFrame:
    """What the cheapest plan can be made of: the cheapest offers of each node shape, each
    booking once at its first region. For callers that show only the best plan (the Train
    page's cost-against-time curve, the Serve page's ranking by GPU type)."""
    return first_region_per_booking(cheapest_per_shape(offers))


def _plan_row(run: ReferenceRun, gpu: GpuSpec, plan) -> dict:
    common = {
        "run": run.key, "generation": generation_of(gpu), "vendor": gpu.vendor, "gpu": plan.gpu,
        "provider": plan.provider, "instance_type": plan.instance_type, "region": plan.region,
        "pricing": plan.pricing, "interruptible": plan.interruptible, "nodes": plan.nodes,
        "gpus_per_node": plan.gpus_per_node, "gpus": plan.gpus, "price_usd_per_hour": plan.price_usd_per_hour,
        "price_usd_per_gpu_hour": plan.price_usd_per_gpu_hour, "snapshot_date": plan.snapshot_date,
        "source": plan.source, "source_url": plan.source_url,
        "warnings": "; ".join(w.message for w in plan.warnings),
    }
    if run.kind == TRAIN:
        return {**common, "days": plan.days, "mfu_used": plan.mfu_used, "total_cost_usd": plan.total_cost_usd,
                "usd_per_million_tokens": plan.usd_per_million_tokens}
    return {**common, "usd_per_month": plan.usd_per_month,
            "usd_per_million_tokens": plan.usd_per_million_output_tokens}


def _best_plan(run: ReferenceRun, gpu: GpuSpec, offers: pl.DataFrame, assumptions: Assumptions):
    """The cheapest plan of `run` on these offers of one GPU, or None when none can run it."""
    try:
        if run.kind == TRAIN:
            return training.rank_plans(run.spec, gpu, offers, assumptions).best
        return inference.rank_plans(run.spec, gpu, offers, assumptions).best
    except EstimateError:  # the GPU cannot hold or run the job at all (memory, precision, latency)
        return None


def _cost(row: dict) -> float:
    return row["total_cost_usd"] if row.get("total_cost_usd") is not None else row["usd_per_month"]


def cheapest_by_generation(run: ReferenceRun, market: pl.DataFrame, catalog: Mapping[str, GpuSpec],
                           assumptions: Assumptions | None = None, gpus: Iterable[str] | None = None) -> list[dict]:
    """Per GPU generation with a bookable plan on this market, its cheapest plan (a dict per row,
    cheapest generation first). `run.spec.pricing` picks the offer kind (None = every kind);
    `gpus` limits the GPUs considered. GPUs without a spec sheet are skipped. The market is
    offer rows with `price_usd_per_hour` (the instance) and the node-fact columns."""
    assumptions = assumptions or Assumptions()
    if market.is_empty():
        return []
    wanted = set(gpus) if gpus is not None else None
    pricing = run.spec.pricing
    # Narrowed once for the whole market, then per GPU: a market holds thousands of offers.
    priced = market.filter(pl.col("gpu").is_not_null() & (pl.col("price_usd_per_hour") > 0))
    if pricing is not None:
        priced = priced.filter(pl.col("pricing") == pricing)
    best: dict[str, dict] = {}
    for (gpu_id,), of_gpu in sorted(cheapest_per_shape(priced).partition_by("gpu", as_dict=True).items()):
        if gpu_id not in catalog or (wanted is not None and gpu_id not in wanted):
            continue
        offers = bookable_offers(of_gpu, gpu_id, pricing)
        if offers.is_empty():
            continue
        plan = _best_plan(run, catalog[gpu_id], offers, assumptions)
        if plan is None:
            continue
        row = _plan_row(run, catalog[gpu_id], plan)
        current = best.get(row["generation"])
        if current is None or (_cost(row), row["gpu"]) < (_cost(current), current["gpu"]):
            best[row["generation"]] = row
    return sorted(best.values(), key=_cost)


# -- over time -----------------------------------------------------------------------------------

def _month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def periods(start: date, end: date, step: str = "week") -> list[tuple[date, date]]:
    """(period start, as-of day) for each week (Monday to Sunday) or calendar month from `start`
    to `end`; each period is priced at its last day, cut at `end`."""
    if step not in STEPS:
        raise EstimateError(f"step must be one of {', '.join(STEPS)} (got {step!r})", reason="invalid_input",
                            values={"field": "step", "value": step, "expected": ", ".join(STEPS)})
    if end < start:
        raise EstimateError(f"the span ends ({end}) before it starts ({start})", reason="invalid_input",
                            values={"field": "over", "value": f"{start}:{end}", "expected": "START before END"})
    out = []
    if step == "week":
        first = start - timedelta(days=start.weekday())
        day = first
        while day <= end:
            out.append((max(day, start), min(day + timedelta(days=6), end)))
            day += timedelta(days=7)
    else:
        day = start.replace(day=1)
        while day <= end:
            out.append((max(day, start), min(_month_end(day), end)))
            day = _month_end(day) + timedelta(days=1)
    return out


def market_fingerprint(market: pl.DataFrame) -> tuple:
    """The (source, snapshot date) pairs a market is made of: equal pairs, equal market."""
    if market.is_empty():
        return ()
    pairs = market.select("source", "snapshot_date").unique()
    return tuple(sorted((str(r["source"]), str(r["snapshot_date"])) for r in pairs.iter_rows(named=True)))


def price_over(run: ReferenceRun, spans: list[tuple[date, date]], market_on: Callable[[date], pl.DataFrame],
               catalog: Mapping[str, GpuSpec], assumptions: Assumptions | None = None,
               gpus: Iterable[str] | None = None,
               progress: Callable[[int, int, date], None] | None = None) -> pl.DataFrame:
    """One row per period and generation with a plan: the cheapest plan on the period's market.

    `market_on(day)` returns the offers of that day (with node facts). Periods whose market is
    made of the same snapshots reuse the plans already made."""
    assumptions = assumptions or Assumptions()
    gpus = list(gpus) if gpus is not None else None
    planned: dict[tuple, list[dict]] = {}
    rows = []
    for number, (period, as_of) in enumerate(spans, start=1):
        if progress is not None:
            progress(number, len(spans), as_of)
        market = market_on(as_of)
        key = market_fingerprint(market)
        if key not in planned:
            planned[key] = cheapest_by_generation(run, market, catalog, assumptions, gpus)
        rows += [{**row, "period": period, "as_of": as_of} for row in planned[key]]
    frame = pl.DataFrame(rows, schema=ROW_SCHEMA) if rows else pl.DataFrame(schema=ROW_SCHEMA)
    return frame.sort(["period", "generation"])


def cost_of(frame: pl.DataFrame) -> pl.Expr:
    """The headline cost of a row: a training run's total, a serving fleet's month."""
    if "total_cost_usd" in frame.columns and "usd_per_month" in frame.columns:
        return pl.coalesce("total_cost_usd", "usd_per_month")
    return pl.col("total_cost_usd" if "total_cost_usd" in frame.columns else "usd_per_month")


def first_and_last(frame: pl.DataFrame) -> pl.DataFrame:
    """Per run and generation: the cost in the first and the last period it has a plan, and the ratio."""
    schema = {"run": pl.String, "generation": pl.String, "first_period": pl.Date, "first_cost_usd": pl.Float64,
              "first_gpu": pl.String, "last_period": pl.Date, "last_cost_usd": pl.Float64, "last_gpu": pl.String,
              "last_over_first": pl.Float64}
    if frame.is_empty():
        return pl.DataFrame(schema=schema)
    ordered = frame.with_columns(_cost=cost_of(frame)).sort("period")
    return (
        ordered.group_by(["run", "generation"], maintain_order=True)
        .agg(first_period=pl.col("period").first(), first_cost_usd=pl.col("_cost").first(),
             first_gpu=pl.col("gpu").first(), last_period=pl.col("period").last(),
             last_cost_usd=pl.col("_cost").last(), last_gpu=pl.col("gpu").last())
        .with_columns(last_over_first=pl.col("last_cost_usd") / pl.col("first_cost_usd"))
        .sort(["run", "first_period", "generation"])
        .select(list(schema))
    )
