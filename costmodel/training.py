"""Training runs a team could book: whole nodes of one offer, sized for a deadline, priced per instance.

Formulas (DESIGN.md "Run pricing"; reference/gpu-math.md §1):

* FLOPs = factor x N_active x D, factor 6 (2 forward + 4 backward) or 8 with full activation
  recomputation [TM101; llm-analysis]. MoE models count only active parameters. D defaults to
  the compute-optimal 20 tokens per parameter [Chinchilla, arXiv 2203.15556].
* MFU is end to end: model FLOPs / (GPUs x dense peak x wall time). A value the user gives is
  used exactly. Otherwise it comes from the assumption table (generation, precision, model
  size; `costmodel.assumptions`), times the documented extrapolation factor when the plan uses
  more GPUs than the source run measured. Nothing else multiplies it: published MFUs already
  include communication.
* GPU-hours = FLOPs / (dense peak x MFU x 3600); wall-clock days = GPU-hours / GPUs / 24.
* Memory: 16 bytes per parameter of training state for mixed-precision Adam (weights 2 +
  gradients 2 + fp32 master, momentum and variance 12) [TM101; ZeRO's 16 Psi], sharded over
  the data-parallel GPUs (ZeRO-3), using *total* parameters. `activation_reserve` (20 %) of
  each GPU's memory is kept for activations at micro-batch 1 with recomputation, the CUDA
  context and fragmentation; our rule of thumb, not a measurement.
* A plan is N whole nodes of one offer's instance type, priced at the instance's hourly price.
  More than one node needs a known inter-node fabric (`costmodel.nodes`). Without a GPU count
  the plan is the smallest number of nodes that finishes within the deadline (default 30 days)
  and holds the training state.
* Spot / interruptible pricing adds `spot_allowance` (10 %) to the wall-clock and the bill for
  lost work and restarts: our assumption, no published figure.
* Warnings: runs longer than 180 days (hardware refreshes, price changes and failures make such
  plans unbookable in practice) and plans above 2,048 GPUs (beyond a few thousand GPUs capacity
  comes through reserved contracts, not list prices; see docs/run-pricing-calibration.md).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

import polars as pl

from costmodel.assumptions import Assumptions
from costmodel.errors import EstimateError
from costmodel.gpus import TRAINING_PRECISIONS, GpuSpec
from costmodel.nodes import NodeShape, quoted_shape, shape_of
from costmodel.offers import offer_order

COMPUTE_OPTIMAL_TOKENS_PER_PARAM = 20
DEFAULT_DEADLINE_DAYS = 30.0
LONG_RUN_DAYS = 180.0
LIST_PRICE_CAPACITY_GPUS = 2048
MAX_GPUS = 100_000
DEFAULT_SPOT_ALLOWANCE = 0.10
STATE_BYTES_PER_PARAM = 16.0  # 2 weights + 2 grads + 12 Adam (fp32 master, m, v)
DEFAULT_ACTIVATION_RESERVE = 0.20
FEW_TOKENS = 200e9
INTERRUPTIBLE_PRICING = frozenset({"spot", "low_priority", "interruptible", "preemptible"})
DEFAULT_QUOTED_GPUS_PER_NODE = 8


@dataclass(frozen=True)
class PlanWarning:
    code: str  # long_run | beyond_list_capacity | interruptible | extrapolated_mfu | few_tokens
    message: str

    def to_dict(self) -> dict:
        return asdict(self)


def _positive(value: Any) -> bool:
    try:
        return value is not None and math.isfinite(float(value)) and float(value) > 0
    except (TypeError, ValueError):
        return False


def _invalid(field_name: str, value: Any, expected: str) -> EstimateError:
    return EstimateError(f"{field_name} must be {expected} (got {value!r})", reason="invalid_input",
                         values={"field": field_name, "value": value, "expected": expected})


@dataclass(frozen=True)
class TrainingSpec:
    params: float  # total parameters
    tokens: float | None = None  # None = 20 x params (compute-optimal)
    active_params: float | None = None  # MoE: parameters active per token; None = params
    flops_factor: float | None = None  # None = 6, or 8 with full_recompute
    full_recompute: bool = False
    precision: str = "bf16"
    mfu: float | None = None  # end-to-end MFU used exactly; None = assumption table
    gpus: int | None = None  # cluster size (rounded up to whole nodes); None = size for the deadline
    deadline_days: float | None = None  # None = DEFAULT_DEADLINE_DAYS
    pricing: str | None = "on_demand"  # offers of this kind; None = every kind
    spot_allowance: float = DEFAULT_SPOT_ALLOWANCE
    state_bytes_per_param: float = STATE_BYTES_PER_PARAM
    activation_reserve: float = DEFAULT_ACTIVATION_RESERVE
    max_gpus: int = MAX_GPUS

    def __post_init__(self) -> None:
        if not _positive(self.params):
            raise _invalid("params", self.params, "a positive number of parameters")
        if self.active_params is not None and not (_positive(self.active_params) and self.active_params <= self.params):
            raise _invalid("active_params", self.active_params, f"positive and at most the total ({self.params:g})")
        if self.tokens is not None and not _positive(self.tokens):
            raise _invalid("tokens", self.tokens, "a positive number of training tokens")
        if self.flops_factor is not None and not _positive(self.flops_factor):
            raise _invalid("flops_factor", self.flops_factor, "positive (6, or 8 with full recomputation)")
        if self.precision not in TRAINING_PRECISIONS:
            raise _invalid("precision", self.precision, f"one of {', '.join(TRAINING_PRECISIONS)}")
        if self.mfu is not None and not (_positive(self.mfu) and self.mfu <= 1):
            raise _invalid("mfu", self.mfu, "a fraction in (0, 1], e.g. 0.4 for 40 %")
        if self.gpus is not None and not (float(self.gpus).is_integer() and 1 <= self.gpus <= self.max_gpus):
            raise _invalid("gpus", self.gpus, f"a whole number from 1 to {self.max_gpus:,}")
        if self.deadline_days is not None and not _positive(self.deadline_days):
            raise _invalid("deadline_days", self.deadline_days, "a positive number of days")
        if not (0 <= self.spot_allowance < 10):
            raise _invalid("spot_allowance", self.spot_allowance, "a fraction of extra time, e.g. 0.1")
        if not (0 <= self.activation_reserve < 1):
            raise _invalid("activation_reserve", self.activation_reserve, "a fraction of GPU memory in [0, 1)")

    @property
    def n_active(self) -> float:
        return float(self.active_params if self.active_params is not None else self.params)

    @property
    def n_tokens(self) -> float:
        return float(self.tokens if self.tokens is not None else COMPUTE_OPTIMAL_TOKENS_PER_PARAM * self.params)

    @property
    def factor(self) -> float:
        if self.flops_factor is not None:
            return float(self.flops_factor)
        return 8.0 if self.full_recompute else 6.0

    @property
    def deadline(self) -> float:
        return float(self.deadline_days if self.deadline_days is not None else DEFAULT_DEADLINE_DAYS)


@dataclass(frozen=True)
class TrainingCompute:
    """What a run costs in FLOPs and memory on one GPU type, before choosing an offer."""

    gpu: str
    generation: str
    precision: str
    params: float
    active_params: float
    tokens: float
    tokens_defaulted: bool
    flops_factor: float
    total_flops: float
    dense_tflops: float
    state_bytes: float
    usable_gb_per_gpu: float
    min_gpus: int
    notes: tuple[str, ...] = ()


def training_compute(spec: TrainingSpec, gpu: GpuSpec) -> TrainingCompute:
    peak = gpu.dense_tflops(spec.precision)
    if not gpu.memory_gb or gpu.memory_gb <= 0:
        raise EstimateError(f"{gpu.gpu} has no memory size on its spec sheet", reason="missing_spec",
                            values={"gpu": gpu.gpu, "field": "memory_gb"})
    usable = gpu.memory_gb * 1e9 * (1 - spec.activation_reserve)
    state = spec.params * spec.state_bytes_per_param
    min_gpus = max(1, math.ceil(state / usable))
    if min_gpus > spec.max_gpus:
        raise EstimateError(
            f"{spec.params / 1e9:,.4g}B parameters need {state / 1e12:,.3g} TB of training state: at least "
            f"{min_gpus:,} x {gpu.gpu}, more than the {spec.max_gpus:,} GPUs priced",
            reason="model_too_large", values={"min_gpus": min_gpus, "max_gpus": spec.max_gpus, "gpu": gpu.gpu},
        )
    notes = []
    if spec.tokens is None:
        notes.append(f"tokens not given: the compute-optimal {COMPUTE_OPTIMAL_TOKENS_PER_PARAM} x parameters "
                     f"= {spec.n_tokens:.3g} tokens (Chinchilla, arXiv 2203.15556)")
    return TrainingCompute(
        gpu=gpu.gpu, generation=gpu.generation, precision=spec.precision, params=float(spec.params),
        active_params=spec.n_active, tokens=spec.n_tokens, tokens_defaulted=spec.tokens is None,
        flops_factor=spec.factor, total_flops=spec.factor * spec.n_active * spec.n_tokens, dense_tflops=peak,
        state_bytes=state, usable_gb_per_gpu=usable / 1e9, min_gpus=min_gpus,
        notes=tuple(notes),
    )


@dataclass(frozen=True)
class Utilisation:
    mfu_used: float
    source: str
    table_mfu: float | None = None  # before the extrapolation factor
    scale_factor: float = 1.0
    scale_source: str | None = None
    user_given: bool = False


def utilisation_at(spec: TrainingSpec, compute: TrainingCompute, gpus: int, assumptions: Assumptions) -> Utilisation:
    """The MFU a plan of `gpus` GPUs uses: the user's value exactly, else table x extrapolation."""
    if spec.mfu is not None:
        return Utilisation(float(spec.mfu), "your value, used as given", user_given=True)
    table = assumptions.training_mfu(compute.generation, compute.precision, compute.active_params)
    scale = assumptions.scale_factor(gpus, table.measured_gpus)
    return Utilisation(table.value * scale.value, table.source, table.value, scale.value, scale.source)


def compute_gpu_hours(compute: TrainingCompute, mfu: float) -> float:
    return compute.total_flops / (compute.dense_tflops * 1e12 * mfu * 3600)


def interruptible(pricing: str | None) -> bool:
    return (pricing or "").lower() in INTERRUPTIBLE_PRICING


def wall_clock_days(spec: TrainingSpec, compute: TrainingCompute, gpus: int, mfu: float, pricing: str | None) -> float:
    allowance = 1 + spec.spot_allowance if interruptible(pricing) else 1.0
    return compute_gpu_hours(compute, mfu) / gpus / 24 * allowance


def days_on_nodes(spec: TrainingSpec, compute: TrainingCompute, shape: NodeShape, nodes: int,
                  assumptions: Assumptions, pricing: str | None) -> float:
    gpus = nodes * shape.gpus_per_node
    return wall_clock_days(spec, compute, gpus, utilisation_at(spec, compute, gpus, assumptions).mfu_used, pricing)


def memory_minimum_nodes(compute: TrainingCompute, shape: NodeShape) -> int:
    return math.ceil(compute.min_gpus / shape.gpus_per_node)


def nodes_for_deadline(spec: TrainingSpec, compute: TrainingCompute, shape: NodeShape,
                       assumptions: Assumptions, pricing: str | None) -> int:
    """The fewest whole nodes (at least the memory minimum) finishing within the deadline.

    More GPUs always finish sooner (the extrapolation factor falls slower than 1/GPUs), so a
    binary search over node counts finds the smallest that makes it."""
    low = memory_minimum_nodes(compute, shape)
    high = max(low, spec.max_gpus // shape.gpus_per_node)
    if days_on_nodes(spec, compute, shape, high, assumptions, pricing) > spec.deadline:
        best = days_on_nodes(spec, compute, shape, high, assumptions, pricing)
        raise EstimateError(
            f"{compute.total_flops:.3g} FLOPs cannot finish within {spec.deadline:g} days on {compute.gpu}: "
            f"even {high * shape.gpus_per_node:,} GPUs, the largest plan priced, take {best:,.1f} days",
            reason="deadline_unreachable",
            values={"deadline_days": spec.deadline, "best_days": best, "max_gpus": high * shape.gpus_per_node},
        )
    while low < high:
        middle = (low + high) // 2
        if days_on_nodes(spec, compute, shape, middle, assumptions, pricing) <= spec.deadline:
            high = middle
        else:
            low = middle + 1
    return low


def nodes_for(spec: TrainingSpec, compute: TrainingCompute, shape: NodeShape,
              assumptions: Assumptions, pricing: str | None) -> tuple[int, str]:
    """(nodes, how they were chosen) for one node shape; raises when this shape cannot do it."""
    minimum = memory_minimum_nodes(compute, shape)
    if spec.gpus is not None:
        nodes, sized_by = math.ceil(spec.gpus / shape.gpus_per_node), "cluster size"
        if nodes < minimum:
            raise EstimateError(
                f"{compute.params / 1e9:,.4g}B parameters need {compute.state_bytes / 1e12:,.3g} TB of training state "
                f"({compute.usable_gb_per_gpu:,.0f} GB usable per {compute.gpu}): at least {compute.min_gpus:,} GPUs, "
                f"{spec.gpus:,} asked for",
                reason="too_few_gpus_for_memory",
                values={"min_gpus": compute.min_gpus, "gpus": spec.gpus, "gpus_per_node": shape.gpus_per_node,
                        "min_gpus_whole_nodes": minimum * shape.gpus_per_node},
            )
    else:
        nodes, sized_by = nodes_for_deadline(spec, compute, shape, assumptions, pricing), "deadline"
    if nodes > 1 and not shape.can_cluster:
        raise EstimateError(
            f"needs {nodes:,} nodes of {shape.gpus_per_node} GPUs, and this instance has no known inter-node fabric",
            reason="needs_fabric", values={"nodes": nodes, "gpus_per_node": shape.gpus_per_node},
        )
    return nodes, sized_by


def sized_nodes(spec: TrainingSpec, compute: TrainingCompute, shape: NodeShape, assumptions: Assumptions,
                pricing: str | None, sizes: dict) -> tuple[int, str]:
    """`nodes_for`, remembered per (GPUs per node, can cluster, interruptible): offers of one shape
    differ only in price, which does not change the size. A shape that cannot run is remembered too."""
    key = (shape.gpus_per_node, shape.can_cluster, interruptible(pricing))
    if key not in sizes:
        try:
            sizes[key] = nodes_for(spec, compute, shape, assumptions, pricing)
        except EstimateError as exc:
            sizes[key] = exc
    if isinstance(sizes[key], EstimateError):
        raise sizes[key]
    return sizes[key]


@dataclass(frozen=True)
class TrainingPlan:
    provider: str
    region: str | None
    instance_type: str | None
    pricing: str | None
    gpu: str
    gpus_per_node: int
    nodes: int
    gpus: int
    intra_node_link: str | None
    inter_node_fabric: str | None
    price_usd_per_hour: float  # one instance
    price_usd_per_gpu_hour: float
    mfu_used: float
    mfu_source: str
    mfu_table: float | None  # the assumption table's value before extrapolation (None: the user's value)
    mfu_scale_factor: float  # the extrapolation factor beyond the source run's GPU count (1 = none)
    gpu_hours: float  # compute GPU-hours at mfu_used
    billed_gpu_hours: float  # incl. the spot allowance
    days: float
    total_cost_usd: float
    usd_per_million_tokens: float
    interruptible: bool
    sized_by: str  # "cluster size" | "deadline"
    warnings: tuple[PlanWarning, ...] = ()
    source: str | None = None
    source_url: str | None = None
    snapshot_date: Any = None
    observed_at: Any = None

    def to_dict(self) -> dict:
        out = asdict(self)
        out["warnings"] = [w.to_dict() for w in self.warnings]
        return out


def plan_warnings(spec: TrainingSpec, compute: TrainingCompute, plan_gpus: int, days: float,
                  util: Utilisation, pricing: str | None) -> tuple[PlanWarning, ...]:
    found = []
    if days > LONG_RUN_DAYS:
        found.append(PlanWarning("long_run", f"runs {days:,.0f} days, longer than {LONG_RUN_DAYS:.0f}: hardware, prices "
                                             "and failures change over that time; use more GPUs or a shorter run"))
    if plan_gpus > LIST_PRICE_CAPACITY_GPUS:
        found.append(PlanWarning("beyond_list_capacity", f"{plan_gpus:,} GPUs: beyond about {LIST_PRICE_CAPACITY_GPUS:,} "
                                                          "GPUs capacity comes through reserved contracts, not list prices"))
    if interruptible(pricing):
        found.append(PlanWarning("interruptible", f"{pricing} capacity is interruptible: "
                                                  f"{spec.spot_allowance:.0%} extra time and cost allowed for restarts"))
    if util.scale_factor < 1:
        found.append(PlanWarning("extrapolated_mfu", f"MFU x {util.scale_factor:.3f} for running beyond the GPU count "
                                                     "the source run measured"))
    if compute.tokens < FEW_TOKENS:
        found.append(PlanWarning("few_tokens", "fewer than 200B tokens: EleutherAI's transformer-math advises against it"))
    return tuple(found)


def plan_on(spec: TrainingSpec, compute: TrainingCompute, offer: Mapping[str, Any], assumptions: Assumptions,
            sizes: dict | None = None) -> TrainingPlan:
    """The plan on one offer's instance type; raises EstimateError when that offer cannot do it.

    `sizes` caches the node count per node shape and pricing across the offers of one ranking."""
    shape = shape_of(offer)
    if shape is None:
        raise EstimateError("a fractional-GPU offer cannot form a cluster", reason="fractional_gpu",
                            values={"gpu_count": offer.get("gpu_count")})
    pricing = offer.get("pricing")
    nodes, sized_by = sized_nodes(spec, compute, shape, assumptions, pricing, {} if sizes is None else sizes)
    gpus = nodes * shape.gpus_per_node
    util = utilisation_at(spec, compute, gpus, assumptions)
    hours = compute_gpu_hours(compute, util.mfu_used)
    days = wall_clock_days(spec, compute, gpus, util.mfu_used, pricing)
    price = float(offer["price_usd_per_hour"])
    cost = nodes * price * days * 24
    return TrainingPlan(
        provider=offer.get("provider") or "?", region=offer.get("region"), instance_type=offer.get("instance_type"),
        pricing=pricing, gpu=compute.gpu, gpus_per_node=shape.gpus_per_node, nodes=nodes, gpus=gpus,
        intra_node_link=shape.intra_node_link, inter_node_fabric=shape.inter_node_fabric,
        price_usd_per_hour=price, price_usd_per_gpu_hour=price / shape.gpus_per_node,
        mfu_used=util.mfu_used, mfu_source=util.source, mfu_table=util.table_mfu, mfu_scale_factor=util.scale_factor,
        gpu_hours=hours, billed_gpu_hours=gpus * days * 24,
        days=days, total_cost_usd=cost, usd_per_million_tokens=cost / compute.tokens * 1e6,
        interruptible=interruptible(pricing), sized_by=sized_by,
        warnings=plan_warnings(spec, compute, gpus, days, util, pricing),
        source=offer.get("source"), source_url=offer.get("source_url"), snapshot_date=offer.get("snapshot_date"),
        observed_at=offer.get("observed_at"),
    )


def quoted_offer(gpu: str, usd_per_gpu_hour: float, pricing: str | None,
                 gpus_per_node: int = DEFAULT_QUOTED_GPUS_PER_NODE) -> dict:
    """A user-quoted price as an offer row: nodes of `gpus_per_node` GPUs that can cluster."""
    if not _positive(usd_per_gpu_hour):
        raise _invalid("quoted price", usd_per_gpu_hour, "a positive $ per GPU-hour")
    shape = quoted_shape(gpus_per_node)
    return {
        "provider": "quoted", "region": None, "instance_type": f"{gpus_per_node}x {gpu} (quoted)",
        "pricing": pricing, "gpu": gpu, "gpu_count": float(gpus_per_node),
        "price_usd_per_hour": usd_per_gpu_hour * gpus_per_node, "price_usd_per_gpu_hour": usd_per_gpu_hour,
        "intra_node_link": shape.intra_node_link, "inter_node_fabric": shape.inter_node_fabric,
    }


@dataclass(frozen=True)
class LeftOut:
    offer: str
    reason: str
    message: str
    values: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RankedPlans:
    compute: TrainingCompute
    plans: list[TrainingPlan] = field(default_factory=list)  # cheapest first, one per instance type and price
    left_out: list[LeftOut] = field(default_factory=list)

    @property
    def best(self) -> TrainingPlan | None:
        return self.plans[0] if self.plans else None


def _offer_label(offer: Mapping[str, Any]) -> str:
    return f"{offer.get('provider')} {offer.get('instance_type')} ({offer.get('region')}, {offer.get('pricing')})"


def _offer_booking(offer: Mapping[str, Any]) -> tuple:
    """What makes two offers the same booking: one plan, whatever the region."""
    price = offer.get("price_usd_per_hour")
    return (offer.get("provider"), offer.get("instance_type"), offer.get("pricing"),
            round(price, 6) if price is not None else None, offer.get("source"), offer.get("gpu_count"))


def plan_order(plan: TrainingPlan) -> tuple:
    return plan.total_cost_usd, plan.price_usd_per_gpu_hour, plan.provider, str(plan.instance_type)


def rank_plans(spec: TrainingSpec, gpu: GpuSpec, offers: pl.DataFrame | list[Mapping[str, Any]],
               assumptions: Assumptions | None = None) -> RankedPlans:
    """Every offer's plan, cheapest first; regions quoting the same instance at the same price
    collapse into one plan (the first region alphabetically). Offers that cannot run the plan
    are listed in `left_out` with the reason."""
    assumptions = assumptions or Assumptions()
    compute = training_compute(spec, gpu)
    rows = offers.to_dicts() if isinstance(offers, pl.DataFrame) else list(offers)
    plans: dict[tuple, TrainingPlan] = {}
    left_out = []
    sizes: dict = {}
    # An offer's plan depends on its instance (the same provider, type, pricing, price and source
    # give the same plan in every region), so each such booking is planned once, at its first
    # region: what the collapse below keeps anyway. A booking that cannot run the plan is left
    # out once per offer, with the first region's reason.
    failed: dict[tuple, EstimateError] = {}
    for offer in sorted(rows, key=offer_order):
        booking = _offer_booking(offer)
        if booking in plans:
            continue
        error = failed.get(booking)
        if error is None:
            try:
                plans[booking] = plan_on(spec, compute, offer, assumptions, sizes)
                continue
            except EstimateError as exc:
                error = failed[booking] = exc
        left_out.append(LeftOut(_offer_label(offer), error.reason, str(error), error.values))
    ranked = sorted(plans.values(), key=plan_order)
    return RankedPlans(compute, ranked, left_out)


PLAN_COLUMNS = [
    "rank", "provider", "instance_type", "region", "pricing", "interruptible", "nodes", "gpus_per_node", "gpus",
    "inter_node_fabric", "intra_node_link", "price_usd_per_hour", "price_usd_per_gpu_hour", "mfu_used",
    "mfu_scale_factor", "days",
    "billed_gpu_hours", "total_cost_usd", "usd_per_million_tokens", "warnings", "source", "source_url",
    "snapshot_date", "observed_at",
]


def plans_frame(plans: list[TrainingPlan]) -> pl.DataFrame:
    """The ranked plans as a frame (warnings joined into one text column), for tables and JSON."""
    records = []
    for rank, plan in enumerate(plans, start=1):
        row = plan.to_dict()
        row["rank"] = rank
        row["warnings"] = "; ".join(w["message"] for w in row["warnings"])
        records.append({c: row.get(c) for c in PLAN_COLUMNS})
    if not records:
        return pl.DataFrame(schema={c: pl.String for c in PLAN_COLUMNS})
    return pl.DataFrame(records, infer_schema_length=None)
