"""Training-run arithmetic: FLOPs, GPU-hours, wall-clock, memory feasibility, cost per offer.

Formulas (DESIGN.md "Run pricing"; reference/gpu-math.md §1):

* FLOPs = factor x N_active x D, factor 6 (2 forward + 4 backward) or 8 with full activation
  recomputation [TM101; llm-analysis]. MoE models count only active parameters. D defaults to
  the compute-optimal 20 tokens per parameter [Chinchilla, arXiv 2203.15556] of the *total*
  parameters (the rule was fitted on dense models; pass tokens for MoE).
* GPU-hours = FLOPs / (dense_peak x 1e12 x utilisation x scaling_efficiency x 3600).
* Wall-clock days = GPU-hours / GPUs / 24.
* Memory: 16 bytes per parameter of training state for mixed-precision Adam (weights 2 +
  gradients 2 + fp32 master, momentum and variance 12) [TM101; ZeRO's 16Psi], sharded across
  the data-parallel GPUs (ZeRO-3), using *total* parameters (an MoE holds every expert).
  Activations: a flat per-GPU allowance, `activation_reserve` (default 20 %) of each GPU's
  memory is kept back for activations at micro-batch 1 with recomputation, the CUDA context
  (0.3-2 GiB, vram.asmirnov.xyz) and fragmentation. This is our rule of thumb, not a
  measurement; the exact sbhL(10 + 24/t + 5as/ht) form needs the parallel layout, which this
  estimate does not model. Minimum GPUs = ceil(16 x N / (memory x (1 - reserve))).
* Spot: interruptible pricing adds `spot_allowance` (default 10 %) GPU-hours for lost work and
  restarts. Our assumption; no published figure; override it.
* Renting: a cluster of n GPUs on an offer of g GPUs per instance needs ceil(n / g) instances;
  the idle GPUs of the last instance are paid for.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Iterable, Mapping

import polars as pl

from costmodel.assumptions import GPUS_PER_NODE, Assumptions
from costmodel.errors import EstimateError
from costmodel.gpus import TRAINING_PRECISIONS, GpuSpec, pick
from costmodel.offers import whole_gpu_offers

COMPUTE_OPTIMAL_TOKENS_PER_PARAM = 20
DEFAULT_SPOT_ALLOWANCE = 0.10
STATE_BYTES_PER_PARAM = 16.0  # 2 weights + 2 grads + 12 Adam (fp32 master, m, v)
DEFAULT_ACTIVATION_RESERVE = 0.20
MAX_CLUSTER = 100_000
INTERRUPTIBLE_PRICING = frozenset({"spot", "low_priority", "interruptible"})


@dataclass(frozen=True)
class TrainingSpec:
    params: float  # total parameters
    gpu: str | None = None  # canonical GPU id
    active_params: float | None = None  # MoE: parameters active per token; None = params
    tokens: float | None = None  # None = 20 x params (compute-optimal)
    full_recompute: bool = False
    flops_factor: float | None = None  # None = 6, or 8 with full_recompute
    precision: str = "bf16"
    mfu: float | None = None  # utilisation override; None = assumptions table / fallback
    scaling_efficiency: float | None = None  # override; None = assumptions table / fallback
    gpus: int | None = None  # cluster size, or ...
    deadline_days: float | None = None  # ... the smallest cluster finishing within this
    pricing: str | None = "on_demand"  # offers of this kind; None = every kind
    spot_allowance: float = DEFAULT_SPOT_ALLOWANCE
    state_bytes_per_param: float = STATE_BYTES_PER_PARAM
    activation_reserve: float = DEFAULT_ACTIVATION_RESERVE
    max_cluster: int = MAX_CLUSTER

    def __post_init__(self) -> None:
        if not _positive(self.params):
            raise EstimateError(f"params must be a positive number of parameters (got {self.params!r}); e.g. 70e9 or 70B")
        if self.active_params is not None:
            if not _positive(self.active_params):
                raise EstimateError(f"active params must be positive (got {self.active_params!r}); omit it for a dense model")
            if self.active_params > self.params:
                raise EstimateError(
                    f"active params ({_fmt_count(self.active_params)}) exceed total params "
                    f"({_fmt_count(self.params)}); for an MoE pass the total as params and the per-token "
                    "count as active params"
                )
        if self.tokens is not None and not _positive(self.tokens):
            raise EstimateError(
                f"tokens must be positive (got {self.tokens!r}); e.g. 2e12 or 2T, or omit it for the "
                f"compute-optimal {COMPUTE_OPTIMAL_TOKENS_PER_PARAM} tokens per parameter"
            )
        if self.flops_factor is not None and not _positive(self.flops_factor):
            raise EstimateError(f"flops factor must be positive (got {self.flops_factor!r}); use 6, or 8 with full recomputation")
        if self.precision not in TRAINING_PRECISIONS:
            raise EstimateError(f"unknown training precision {self.precision!r}; use one of {', '.join(TRAINING_PRECISIONS)}")
        for name in ("mfu", "scaling_efficiency"):
            value = getattr(self, name)
            if value is not None and not (0 < value <= 1):
                raise EstimateError(f"{name} is a fraction in (0, 1] (got {value!r}); e.g. 0.4 for 40 %")
        if self.gpus is not None and self.deadline_days is not None:
            raise EstimateError("give a cluster size (gpus) or a deadline, not both")
        if self.gpus is not None and (self.gpus < 1 or int(self.gpus) != self.gpus):
            raise EstimateError(f"gpus must be a whole number >= 1 (got {self.gpus!r})")
        if self.gpus is not None and self.gpus > self.max_cluster:
            raise EstimateError(f"{self.gpus:,} GPUs is more than the largest cluster we price ({self.max_cluster:,})")
        if self.deadline_days is not None and not _positive(self.deadline_days):
            raise EstimateError(f"deadline must be a positive number of days (got {self.deadline_days!r})")
        if not (0 <= self.spot_allowance < 10):
            raise EstimateError(f"spot allowance is a fraction of extra GPU-hours, e.g. 0.1 (got {self.spot_allowance!r})")
        if not (0 <= self.activation_reserve < 1):
            raise EstimateError(f"activation reserve is a fraction of GPU memory in [0, 1) (got {self.activation_reserve!r})")

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


@dataclass(frozen=True)
class TrainingResult:
    gpu: str
    precision: str
    params: float
    active_params: float
    tokens: float
    tokens_defaulted: bool
    flops_factor: float
    total_flops: float
    dense_tflops: float
    utilisation: float
    utilisation_source: str
    scaling_efficiency: float
    scaling_source: str
    effective_tflops: float  # per GPU = dense x utilisation x scaling
    gpus: int
    gpus_chosen_by: str  # "gpus" | "deadline" | "memory minimum"
    min_gpus: int
    state_bytes: float
    usable_gb_per_gpu: float
    gpu_hours: float
    wall_clock_days: float
    pricing: str | None
    spot_allowance: float
    deadline_days: float | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["notes"] = list(self.notes)
        return out


def training_state_bytes(params: float, bytes_per_param: float = STATE_BYTES_PER_PARAM) -> float:
    return params * bytes_per_param


def min_training_gpus(spec: TrainingSpec, gpu: GpuSpec) -> int:
    """Fewest GPUs of this type whose memory holds the ZeRO-sharded training state."""
    usable = _usable_bytes(spec, gpu)
    return max(1, math.ceil(training_state_bytes(spec.params, spec.state_bytes_per_param) / usable))


def estimate_training(
    spec: TrainingSpec,
    gpus: GpuSpec | Mapping[str, GpuSpec] | Iterable[GpuSpec],
    assumptions: Assumptions | pl.DataFrame | None = None,
) -> TrainingResult:
    """Run arithmetic for `spec` on `spec.gpu` (looked up in `gpus`, or the one GpuSpec given)."""
    gpu, table = pick(spec.gpu, gpus)
    spec_gpu = gpu.gpu
    assumed = assumptions if isinstance(assumptions, Assumptions) else Assumptions(assumptions)
    peak = gpu.dense_tflops(spec.precision)
    flops = spec.factor * spec.n_active * spec.n_tokens
    notes: list[str] = []

    state = training_state_bytes(spec.params, spec.state_bytes_per_param)
    min_gpus = min_training_gpus(spec, gpu)
    if min_gpus > spec.max_cluster:
        raise EstimateError(
            f"{_fmt_count(spec.params)} parameters need {_fmt_bytes(state)} of training state; on "
            f"{spec_gpu} that is >= {min_gpus:,} GPUs, more than the largest cluster we price "
            f"({spec.max_cluster:,}). {_larger_gpus_hint(spec, gpu, table)}"
        )

    def per_gpu(n: int) -> tuple[float, str, float, str]:
        if spec.mfu is not None:
            u, u_src = spec.mfu, "user override (--mfu)"
        else:
            a = assumed.utilisation(gpu.klass, spec.precision, gpu.interconnect, n)
            u, u_src = a.value, a.source
        if spec.scaling_efficiency is not None:
            s, s_src = spec.scaling_efficiency, "user override"
        else:
            a = assumed.scaling(gpu.klass, spec.precision, gpu.interconnect, n, gpu.fast_interconnect)
            s, s_src = a.value, a.source
        return u, u_src, s, s_src

    def days_on(n: int) -> float:
        u, _, s, _ = per_gpu(n)
        return flops / (peak * 1e12 * u * s * 3600) / n / 24

    if spec.gpus is not None:
        n = int(spec.gpus)
        chosen_by = "gpus"
        if n < min_gpus:
            raise EstimateError(
                f"{_fmt_count(spec.params)} parameters need >= {_fmt_bytes(state)} for training state "
                f"({spec.state_bytes_per_param:g} bytes/param: weights 2 + grads 2 + Adam 12, sharded); "
                f"{spec_gpu} ({_usable_bytes(spec, gpu) / 1e9:.0f} GB usable of {gpu.memory_gb:g} GB after a "
                f"{spec.activation_reserve:.0%} activation allowance) would need >= {min_gpus:,} GPUs, "
                f"you asked for {n:,}. Try --gpus {_round_up_node(min_gpus):,} or a larger GPU. "
                f"{_larger_gpus_hint(spec, gpu, table)}"
            )
    elif spec.deadline_days is not None:
        chosen_by = "deadline"
        at_max = days_on(spec.max_cluster)
        if at_max > spec.deadline_days:
            raise EstimateError(
                f"{_fmt_flops(flops)} FLOPs cannot finish within {spec.deadline_days:g} days on {spec_gpu}: even "
                f"{spec.max_cluster:,} GPUs (the largest cluster we price) would take {at_max:.1f} days. "
                f"Try --deadline-days {math.ceil(at_max * 10) / 10:g} or more, a faster GPU, fewer tokens, "
                "or fp8 on a GPU that has it."
            )
        n = _smallest_cluster(days_on, spec, peak, flops, assumed, min_gpus)
    else:
        chosen_by = "memory minimum"
        n = _round_up_node(max(min_gpus, GPUS_PER_NODE))
        notes.append(
            f"no cluster size or deadline given: using {n:,} GPUs, the memory minimum ({min_gpus:,}) "
            "rounded up to whole 8-GPU nodes; pass --gpus or --deadline-days"
        )

    u, u_src, s, s_src = per_gpu(n)
    effective = peak * u * s
    gpu_hours = flops / (effective * 1e12 * 3600)
    wall_days = gpu_hours / n / 24
    if spec.tokens is None:
        notes.append(
            f"tokens not given: using the compute-optimal {COMPUTE_OPTIMAL_TOKENS_PER_PARAM} x params = "
            f"{_fmt_count(spec.n_tokens)} tokens (Chinchilla, arXiv 2203.15556)"
        )
    if spec.n_tokens < 200e9:
        notes.append("fewer than 200B tokens: EleutherAI's transformer-math advises against it for LLMs")
    if gpu.klass != "datacenter" and spec.mfu is None:
        notes.append(f"{spec_gpu} is a {gpu.klass} GPU; published MFU figures come from data-centre runs")
    return TrainingResult(
        gpu=spec_gpu,
        precision=spec.precision,
        params=float(spec.params),
        active_params=spec.n_active,
        tokens=spec.n_tokens,
        tokens_defaulted=spec.tokens is None,
        flops_factor=spec.factor,
        total_flops=flops,
        dense_tflops=peak,
        utilisation=u,
        utilisation_source=u_src,
        scaling_efficiency=s,
        scaling_source=s_src,
        effective_tflops=effective,
        gpus=n,
        gpus_chosen_by=chosen_by,
        min_gpus=min_gpus,
        state_bytes=state,
        usable_gb_per_gpu=_usable_bytes(spec, gpu) / 1e9,
        gpu_hours=gpu_hours,
        wall_clock_days=wall_days,
        pricing=spec.pricing,
        spot_allowance=spec.spot_allowance,
        deadline_days=spec.deadline_days,
        notes=tuple(notes),
    )


# -- pricing ---------------------------------------------------------------------------------

PRICED_COLUMNS = [
    "rank", "provider", "region", "instance_type", "pricing", "gpu", "gpu_count",
    "price_usd_per_gpu_hour", "nodes", "billed_gpus", "billed_gpu_hours", "wall_clock_days",
    "total_cost_usd", "source", "source_url", "snapshot_date", "observed_at",
]


def price_offers(result: TrainingResult, offers: pl.DataFrame, pricing: str | None = "same") -> pl.DataFrame:
    """Every matching offer of `result.gpu` priced for the run, cheapest first.

    `pricing`: "same" = the result's pricing kind; None = every kind; or a kind name.
    Offers of fractional GPUs (gpu_count < 1) are left out: a share cannot join a cluster.
    """
    kind = result.pricing if pricing == "same" else pricing
    frame = whole_gpu_offers(offers, result.gpu, kind)
    allowance = (
        pl.when(pl.col("pricing").is_in(list(INTERRUPTIBLE_PRICING)))
        .then(pl.lit(1.0 + result.spot_allowance))
        .otherwise(pl.lit(1.0))
    )
    nodes = (pl.lit(float(result.gpus)) / pl.col("gpu_count")).ceil()
    priced = (
        frame.with_columns(nodes=nodes.cast(pl.Int64), _allow=allowance)
        .with_columns(billed_gpus=pl.col("nodes") * pl.col("gpu_count"))
        .with_columns(
            billed_gpu_hours=pl.lit(result.gpu_hours) * pl.col("billed_gpus") / result.gpus * pl.col("_allow"),
            wall_clock_days=pl.lit(result.wall_clock_days) * pl.col("_allow"),
        )
        .with_columns(total_cost_usd=pl.col("billed_gpu_hours") * pl.col("price_usd_per_gpu_hour"))
        .sort(["total_cost_usd", "price_usd_per_gpu_hour", "provider", "region", "instance_type"])
        .with_row_index("rank", offset=1)
    )
    return priced.select(PRICED_COLUMNS)


def quoted_price(result: TrainingResult, usd_per_gpu_hour: float, pricing: str | None = None) -> pl.DataFrame:
    """The run at a user-quoted $/GPU-hour instead of market offers (one row, same columns)."""
    if not _positive(usd_per_gpu_hour):
        raise EstimateError(f"the quoted price must be a positive $/GPU-hour (got {usd_per_gpu_hour!r})")
    kind = pricing if pricing is not None else result.pricing
    allow = 1.0 + result.spot_allowance if kind in INTERRUPTIBLE_PRICING else 1.0
    hours = result.gpu_hours * allow
    return pl.DataFrame(
        {
            "rank": [1],
            "provider": ["quoted"],
            "region": [None],
            "instance_type": [None],
            "pricing": [kind],
            "gpu": [result.gpu],
            "gpu_count": [None],
            "price_usd_per_gpu_hour": [float(usd_per_gpu_hour)],
            "nodes": [None],
            "billed_gpus": [float(result.gpus)],
            "billed_gpu_hours": [hours],
            "wall_clock_days": [result.wall_clock_days * allow],
            "total_cost_usd": [hours * usd_per_gpu_hour],
            "source": [None],
            "source_url": [None],
            "snapshot_date": [None],
            "observed_at": [None],
        },
        schema_overrides={
            "rank": pl.UInt32, "region": pl.String, "instance_type": pl.String, "gpu_count": pl.Float64,
            "nodes": pl.Int64, "source": pl.String, "source_url": pl.String, "snapshot_date": pl.Date,
            "observed_at": pl.Datetime("us", "UTC"),
        },
    )


# -- helpers ---------------------------------------------------------------------------------

def _smallest_cluster(days_on, spec: TrainingSpec, peak: float, flops: float, assumed: Assumptions, min_gpus: int) -> int:
    # No cluster below the one that would make it at the best utilisation and perfect scaling.
    best_u = spec.mfu if spec.mfu is not None else assumed.max_utilisation()
    top_s = spec.scaling_efficiency or 1.0
    floor = math.ceil(flops / (peak * 1e12 * best_u * top_s * 3600 * 24 * spec.deadline_days) - 1e-9)
    n = max(min_gpus, floor, 1)
    while n <= spec.max_cluster:
        if days_on(n) <= spec.deadline_days:
            return n
        n += 1
    raise AssertionError("unreachable: the largest cluster was checked first")


def _usable_bytes(spec: TrainingSpec, gpu: GpuSpec) -> float:
    if not gpu.memory_gb or gpu.memory_gb <= 0:
        raise EstimateError(f"{gpu.gpu} has no memory size in gpu_specs; cannot check whether the model fits")
    return gpu.memory_gb * 1e9 * (1 - spec.activation_reserve)


def _larger_gpus_hint(spec: TrainingSpec, gpu: GpuSpec, table: Mapping[str, GpuSpec]) -> str:
    options = []
    for other in table.values():
        if other.gpu == gpu.gpu or not other.memory_gb or other.memory_gb <= gpu.memory_gb:
            continue
        if other.tflops.get(spec.precision) in (None, 0):
            continue
        options.append((min_training_gpus(spec, other), other.gpu))
    options.sort()
    if not options:
        return ""
    listed = ", ".join(f"{name} >= {count:,}" for count, name in options[:3])
    return f"Larger GPUs need fewer: {listed}."


def _round_up_node(n: int) -> int:
    return n if n < GPUS_PER_NODE else math.ceil(n / GPUS_PER_NODE) * GPUS_PER_NODE


def _positive(x) -> bool:
    try:
        return x is not None and float(x) > 0 and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _fmt_count(x: float) -> str:
    for unit, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.4g}{unit}"
    return f"{x:g}"


def _fmt_bytes(x: float) -> str:
    for unit, scale in (("PB", 1e15), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if x >= scale:
            return f"{x / scale:.3g} {unit}"
    return f"{x:.0f} B"


def _fmt_flops(x: float) -> str:
    return f"{x:.3g}"
