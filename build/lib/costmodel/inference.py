"""Serving arithmetic: memory per replica, prefill and decode time, replicas for the peak, cost.

Formulas (DESIGN.md "Run pricing"; reference/gpu-math.md §1):

* Weights = params x bytes per parameter (fp32 4, fp16/bf16 2, fp8/int8 1, int4 0.5).
* KV cache per token = 2 x layers x kv_heads x head_dim x kv_bytes [kipply; Baseten]; per
  sequence x context length (memory is reserved for the whole context).
* GPUs per replica: the fewest g with g x memory >= 1.2 x (weights + batch x KV per sequence)
  [TM101, HF accelerate: ~1.2x weights]. Among g and the powers of two above it, up to one
  8-GPU node, we keep the one that needs the fewest GPUs in total for the peak load (smaller
  replica on a tie). Tensor-parallel traffic is not modelled (ideal aggregate bandwidth), so
  multi-GPU replicas are optimistic; an offer with fewer GPUs per instance than a replica needs
  is flagged (`replica_spans_instances`), since tensor parallelism across instances is slow.
* Prefill (compute-bound): 2 x N_active x prompt / (g x peak x flops_efficiency) per request.
* Decode step (memory-bound, batched): max((weights + batch x KV read) / (g x BW x
  memory_efficiency), 2 x N_active x batch / (g x peak x flops_efficiency)). KV read per
  sequence is KV per token x (prompt + output / 2), the average live length. All weights are
  read each step (for an MoE at batch 1 that overstates it; at serving batches most experts
  are touched).
* Batch: the largest that fits in memory, meets the latency targets (ms per output token,
  seconds per request) and stays <= max_batch (256, vLLM's default max_num_seqs).
* Throughput per replica: a batch of B requests takes B x prefill + output x step(B) (prefill
  and decode not overlapped: conservative versus chunked prefill).
* Replicas for the PEAK rate (capacity is provisioned for the peak, not the average);
  average utilisation = avg rate / provisioned capacity. Cost per million tokens at that
  utilisation; per month = 730 hours. The peak premium compares with a peak == average fleet.

Default efficiencies (overridable): flops_efficiency 0.5 and memory_efficiency 0.8, both below
llm-analysis's suggested ceilings for inference (<= 0.7 FLOPs, 0.9 memory "aggressive") [LLMA,
github.com/cli99/llm-analysis]. Our choices, not measurements.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Iterable, Mapping

import polars as pl

from costmodel.errors import EstimateError
from costmodel.gpus import GpuSpec, catalog, pick
from costmodel.offers import whole_gpu_offers
from costmodel.presets import ModelPreset

WEIGHT_BYTES = {"fp32": 4.0, "fp16": 2.0, "bf16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5}
HOURS_PER_MONTH = 730
DEFAULT_FLOPS_EFFICIENCY = 0.5
DEFAULT_MEMORY_EFFICIENCY = 0.8
DEFAULT_MAX_BATCH = 256
MEMORY_OVERHEAD = 1.2
GPUS_PER_NODE = 8
MAX_GPUS_PER_REPLICA = 64


@dataclass(frozen=True)
class InferenceSpec:
    params: float
    n_layers: int | None = None
    n_kv_heads: int | None = None
    head_dim: int | None = None
    active_params: float | None = None
    weight_precision: str = "fp16"
    kv_bytes: float = 2.0  # per KV element (fp16 cache)
    kv_elements_per_layer: int | None = None  # per token; None = 2 x kv_heads x head_dim (MLA differs)
    prompt_tokens: int = 1024  # a16z's worked example: 1,024 in + 1,024 out
    output_tokens: int = 1024
    context_length: int | None = None  # None = prompt + output
    avg_rps: float = 1.0
    peak_rps: float | None = None  # None = avg_rps
    max_ms_per_output_token: float | None = None
    max_request_seconds: float | None = None
    flops_efficiency: float = DEFAULT_FLOPS_EFFICIENCY
    memory_efficiency: float = DEFAULT_MEMORY_EFFICIENCY
    max_batch: int = DEFAULT_MAX_BATCH
    memory_overhead: float = MEMORY_OVERHEAD
    max_gpus_per_replica: int = MAX_GPUS_PER_REPLICA
    gpu: str | None = None
    pricing: str | None = "on_demand"

    @classmethod
    def from_preset(cls, preset: ModelPreset, **overrides) -> "InferenceSpec":
        base = dict(
            params=preset.params,
            active_params=preset.active_params,
            n_layers=preset.n_layers,
            n_kv_heads=preset.n_kv_heads,
            head_dim=preset.head_dim,
            kv_elements_per_layer=preset.kv_elements_per_layer,
        )
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**base)

    def __post_init__(self) -> None:
        def positive(x) -> bool:
            return x is not None and x > 0 and math.isfinite(x)

        if not positive(self.params):
            raise EstimateError(f"params must be a positive number of parameters (got {self.params!r}); e.g. 70e9 or 70B")
        if self.active_params is not None and not (positive(self.active_params) and self.active_params <= self.params):
            raise EstimateError(
                f"active params must be positive and at most the total ({self.active_params!r} vs {self.params!r}); "
                "omit it for a dense model"
            )
        if self.weight_precision not in WEIGHT_BYTES:
            raise EstimateError(f"unknown weight precision {self.weight_precision!r}; use one of {', '.join(WEIGHT_BYTES)}")
        if self.kv_elements_per_layer is None:
            missing = [n for n in ("n_layers", "n_kv_heads", "head_dim") if getattr(self, n) is None]
            if missing:
                raise EstimateError(
                    f"the KV cache size needs {', '.join(missing)}: pick a preset (e.g. --preset llama-3.1-70b) "
                    "or pass --layers, --kv-heads and --head-dim"
                )
        elif self.n_layers is None:
            raise EstimateError("the KV cache size needs n_layers (--layers) or a preset")
        for name in ("n_layers", "n_kv_heads", "head_dim", "kv_elements_per_layer"):
            value = getattr(self, name)
            if value is not None and not (value >= 1 and int(value) == value):
                raise EstimateError(f"{name} must be a whole number >= 1 (got {value!r})")
        if not positive(self.kv_bytes):
            raise EstimateError(f"kv_bytes must be positive (got {self.kv_bytes!r}); 2 for an fp16 cache, 1 for fp8")
        if self.prompt_tokens < 0 or self.output_tokens < 1:
            raise EstimateError(
                f"need prompt tokens >= 0 and output tokens >= 1 (got {self.prompt_tokens!r}, {self.output_tokens!r})"
            )
        if self.context_length is not None and self.context_length < self.prompt_tokens + self.output_tokens:
            raise EstimateError(
                f"context length {self.context_length:,} is shorter than prompt + output "
                f"({self.prompt_tokens + self.output_tokens:,}); raise --context or shorten the request"
            )
        if not positive(self.avg_rps):
            raise EstimateError(f"average requests/s must be positive (got {self.avg_rps!r})")
        if self.peak_rps is not None and not (positive(self.peak_rps) and self.peak_rps >= self.avg_rps):
            raise EstimateError(
                f"peak requests/s ({self.peak_rps!r}) must be >= the average ({self.avg_rps!r}); "
                "leave it out if the load is flat"
            )
        for name in ("max_ms_per_output_token", "max_request_seconds"):
            value = getattr(self, name)
            if value is not None and not positive(value):
                raise EstimateError(f"{name} must be positive (got {value!r})")
        for name in ("flops_efficiency", "memory_efficiency"):
            value = getattr(self, name)
            if not (0 < value <= 1):
                raise EstimateError(f"{name} is a fraction in (0, 1] (got {value!r})")
        if self.max_batch < 1:
            raise EstimateError(f"max_batch must be >= 1 (got {self.max_batch!r})")

    # -- derived sizes -----------------------------------------------------------------------
    @property
    def n_active(self) -> float:
        return float(self.active_params if self.active_params is not None else self.params)

    @property
    def weight_bytes(self) -> float:
        return self.params * WEIGHT_BYTES[self.weight_precision]

    @property
    def kv_bytes_per_token(self) -> float:
        per_layer = self.kv_elements_per_layer or 2 * self.n_kv_heads * self.head_dim
        return self.n_layers * per_layer * self.kv_bytes

    @property
    def context(self) -> int:
        return self.context_length or (self.prompt_tokens + self.output_tokens)

    @property
    def peak(self) -> float:
        return self.peak_rps if self.peak_rps is not None else self.avg_rps


@dataclass(frozen=True)
class InferenceResult:
    gpu: str
    compute_precision: str
    weight_bytes: float
    kv_bytes_per_token: float
    kv_bytes_per_sequence: float
    min_gpus_per_replica: int
    gpus_per_replica: int
    batch_size: int
    batch_limited_by: str  # memory | latency | max batch
    prefill_seconds: float
    decode_step_seconds: float
    decode_bound: str  # memory bandwidth | compute
    request_seconds: float  # upper bound: the batch's prefills + output x step time
    requests_per_second_per_replica: float
    output_tokens_per_second_per_replica: float
    tokens_per_second_per_replica: float  # prompt + output
    avg_rps: float
    peak_rps: float
    replicas: int  # provisioned for the peak
    baseline_replicas: int  # if the peak were the average
    total_gpus: int
    baseline_gpus: int
    average_utilisation: float
    tokens_per_request: int
    output_tokens_per_request: int
    pricing: str | None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["notes"] = list(self.notes)
        return out


def decode_step_seconds(
    weight_bytes: float,
    kv_bytes_read: float,
    batch: int,
    active_params: float,
    bandwidth_tbs: float,
    peak_tflops: float,
    memory_efficiency: float = DEFAULT_MEMORY_EFFICIENCY,
    flops_efficiency: float = DEFAULT_FLOPS_EFFICIENCY,
    gpus: int = 1,
) -> tuple[float, str]:
    """One decode step for the whole batch: (seconds, "memory bandwidth" | "compute").

    `kv_bytes_read` is for the whole batch."""
    memory = (weight_bytes + kv_bytes_read) / (gpus * bandwidth_tbs * 1e12 * memory_efficiency)
    compute = 2 * active_params * batch / (gpus * peak_tflops * 1e12 * flops_efficiency)
    return (memory, "memory bandwidth") if memory >= compute else (compute, "compute")


def prefill_seconds(active_params: float, prompt_tokens: int, peak_tflops: float,
                    flops_efficiency: float = DEFAULT_FLOPS_EFFICIENCY, gpus: int = 1) -> float:
    return 2 * active_params * prompt_tokens / (gpus * peak_tflops * 1e12 * flops_efficiency)


def compute_precision(spec: InferenceSpec, gpu: GpuSpec) -> str:
    """The tensor-core precision the math runs at: fp8 weights on fp8 hardware, else 16-bit."""
    order = {"fp32": ["fp32", "tf32"], "fp8": ["fp8", "bf16", "fp16"]}.get(spec.weight_precision, ["bf16", "fp16"])
    # GPUs without tensor cores (K80, M60) still serve, on their fp32 units.
    for precision in [*order, "fp32"]:
        if gpu.tflops.get(precision):
            return precision
    gpu.dense_tflops(order[0])  # raises with the available precisions
    raise AssertionError("unreachable")


def estimate_inference(
    spec: InferenceSpec, gpus: GpuSpec | Mapping[str, GpuSpec] | Iterable[GpuSpec]
) -> InferenceResult:
    gpu, _ = pick(spec.gpu, gpus)
    if not gpu.memory_gb or gpu.memory_gb <= 0:
        raise EstimateError(f"{gpu.gpu} has no memory size in gpu_specs; cannot size a replica")
    if not gpu.memory_bandwidth_tbs:
        raise EstimateError(f"{gpu.gpu} has no memory bandwidth in gpu_specs; decode time cannot be estimated")
    precision = compute_precision(spec, gpu)
    peak = gpu.dense_tflops(precision)
    weights = spec.weight_bytes
    kv_seq = spec.kv_bytes_per_token * spec.context
    kv_read = spec.kv_bytes_per_token * (spec.prompt_tokens + spec.output_tokens / 2)
    mem = gpu.memory_gb * 1e9

    need_one = spec.memory_overhead * (weights + kv_seq)
    g_min = max(1, math.ceil(need_one / mem))
    if g_min > spec.max_gpus_per_replica:
        smaller = [p for p, b in WEIGHT_BYTES.items() if b < WEIGHT_BYTES[spec.weight_precision]]
        raise EstimateError(
            f"one replica needs {need_one / 1e9:,.0f} GB (weights {weights / 1e9:,.0f} GB + KV for one "
            f"{spec.context:,}-token sequence {kv_seq / 1e9:,.1f} GB, x{spec.memory_overhead:g}); that is "
            f"{g_min:,} x {gpu.gpu} ({gpu.memory_gb:g} GB), more than the {spec.max_gpus_per_replica} GPUs per "
            f"replica we model. Try a GPU with more memory"
            + (f", or --weight-precision {smaller[-1]}" if smaller else "")
            + ", or a shorter --context."
        )

    def evaluate(g: int) -> dict | str:
        b_mem = math.floor((g * mem / spec.memory_overhead - weights) / kv_seq)
        if b_mem < 1:
            return f"{g} GPU(s): no room for one sequence"
        limit, by = min(b_mem, spec.max_batch), ("memory" if b_mem <= spec.max_batch else "max batch")
        pre = prefill_seconds(spec.n_active, spec.prompt_tokens, peak, spec.flops_efficiency, g)

        def step(b: int) -> tuple[float, str]:
            return decode_step_seconds(weights, kv_read * b, b, spec.n_active, gpu.memory_bandwidth_tbs,
                                       peak, spec.memory_efficiency, spec.flops_efficiency, g)

        def meets(b: int) -> bool:
            t, _ = step(b)
            if spec.max_ms_per_output_token is not None and t * 1e3 > spec.max_ms_per_output_token:
                return False
            if spec.max_request_seconds is not None and b * pre + spec.output_tokens * t > spec.max_request_seconds:
                return False
            return True

        if not meets(1):
            t1, _ = step(1)
            return f"{g} GPU(s): batch 1 takes {t1 * 1e3:.1f} ms/token, request {pre + spec.output_tokens * t1:.1f} s"
        b = limit
        if not meets(limit):
            lo, hi = 1, limit  # meets(lo) and not meets(hi): step time grows with the batch
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if meets(mid) else (lo, mid)
            b, by = lo, "latency"
        t, bound = step(b)
        cycle = b * pre + spec.output_tokens * t
        rps = b / cycle
        return dict(g=g, b=b, by=by, pre=pre, t=t, bound=bound, cycle=cycle, rps=rps, per_gpu=rps / g)

    def candidates(top: int) -> list[int]:
        out, p = [g_min], 1
        while p <= top:
            if p > g_min:
                out.append(p)
            p *= 2
        return [g for g in out if g <= spec.max_gpus_per_replica]

    tried = [evaluate(g) for g in candidates(max(GPUS_PER_NODE, g_min))]
    ok = [r for r in tried if isinstance(r, dict)]
    notes: list[str] = []
    if not ok:
        tried += [evaluate(g) for g in candidates(spec.max_gpus_per_replica) if g > max(GPUS_PER_NODE, g_min)]
        ok = [r for r in tried if isinstance(r, dict)]
        if ok:
            notes.append("the latency target needs a replica larger than one 8-GPU node")
    if not ok:
        reasons = "; ".join(r for r in tried if isinstance(r, str))
        best_ms = min(
            decode_step_seconds(weights, kv_read, 1, spec.n_active, gpu.memory_bandwidth_tbs, peak,
                                spec.memory_efficiency, spec.flops_efficiency, g)[0] * 1e3
            for g in candidates(spec.max_gpus_per_replica)
        )
        raise EstimateError(
            f"no replica of up to {spec.max_gpus_per_replica} x {gpu.gpu} meets the latency target ({reasons}). "
            f"The fastest is about {best_ms:.1f} ms per output token; try --latency-ms-per-token "
            f"{math.ceil(best_ms * 1.1):g} or more, a GPU with more memory bandwidth, or a lower weight precision."
        )
    # The replica size that needs the fewest GPUs for the peak; on a tie the smaller replica
    # (less tensor-parallel traffic, which this model does not charge for).
    best = min(ok, key=lambda r: (math.ceil(spec.peak / r["rps"] - 1e-12) * r["g"], r["g"]))
    replicas = math.ceil(spec.peak / best["rps"] - 1e-12)
    baseline = math.ceil(spec.avg_rps / best["rps"] - 1e-12)
    if best["g"] > 1:
        notes.append("tensor-parallel communication is not modelled: multi-GPU replicas are optimistic")
    if spec.active_params is not None and spec.active_params < spec.params:
        notes.append("MoE: decode reads all expert weights each step (conservative at small batches)")
    return InferenceResult(
        gpu=gpu.gpu,
        compute_precision=precision,
        weight_bytes=weights,
        kv_bytes_per_token=spec.kv_bytes_per_token,
        kv_bytes_per_sequence=kv_seq,
        min_gpus_per_replica=g_min,
        gpus_per_replica=best["g"],
        batch_size=best["b"],
        batch_limited_by=best["by"],
        prefill_seconds=best["pre"],
        decode_step_seconds=best["t"],
        decode_bound=best["bound"],
        request_seconds=best["cycle"],
        requests_per_second_per_replica=best["rps"],
        output_tokens_per_second_per_replica=best["rps"] * spec.output_tokens,
        tokens_per_second_per_replica=best["rps"] * (spec.prompt_tokens + spec.output_tokens),
        avg_rps=spec.avg_rps,
        peak_rps=spec.peak,
        replicas=replicas,
        baseline_replicas=baseline,
        total_gpus=replicas * best["g"],
        baseline_gpus=baseline * best["g"],
        average_utilisation=spec.avg_rps / (replicas * best["rps"]),
        tokens_per_request=spec.prompt_tokens + spec.output_tokens,
        output_tokens_per_request=spec.output_tokens,
        pricing=spec.pricing,
        notes=tuple(notes),
    )


# -- pricing ---------------------------------------------------------------------------------

def cost_at_price(result: InferenceResult, usd_per_gpu_hour: float, billed_gpus: float | None = None,
                  baseline_billed_gpus: float | None = None) -> dict:
    """Hourly, monthly and per-million-token cost at one $/GPU-hour (billed GPUs default to the fleet)."""
    gpus = result.total_gpus if billed_gpus is None else billed_gpus
    base = result.baseline_gpus if baseline_billed_gpus is None else baseline_billed_gpus
    per_hour = gpus * usd_per_gpu_hour
    tokens_per_hour = result.avg_rps * result.tokens_per_request * 3600
    output_per_hour = result.avg_rps * result.output_tokens_per_request * 3600
    baseline_month = base * usd_per_gpu_hour * HOURS_PER_MONTH
    month = per_hour * HOURS_PER_MONTH
    return {
        "usd_per_hour": per_hour,
        "usd_per_month": month,
        "usd_per_million_tokens": per_hour / tokens_per_hour * 1e6,
        "usd_per_million_output_tokens": per_hour / output_per_hour * 1e6,
        "baseline_usd_per_month": baseline_month,
        "peak_premium_usd_per_month": month - baseline_month,
        "peak_premium_fraction": month / baseline_month - 1 if baseline_month else None,
    }


PRICED_COLUMNS = [
    "rank", "provider", "region", "instance_type", "pricing", "gpu", "gpu_count",
    "price_usd_per_gpu_hour", "instances", "billed_gpus", "usd_per_hour", "usd_per_month",
    "usd_per_million_tokens", "usd_per_million_output_tokens", "baseline_usd_per_month",
    "peak_premium_usd_per_month", "replica_spans_instances", "source", "source_url", "snapshot_date", "observed_at",
]


def _instances(replicas: int, g: int) -> pl.Expr:
    """Instances to rent: whole replicas per instance, or instances per replica when a replica spans several."""
    per_instance = (pl.col("gpu_count") / g).floor()
    return (
        pl.when(per_instance >= 1)
        .then((pl.lit(float(replicas)) / per_instance).ceil())
        .otherwise(pl.lit(float(replicas)) * (pl.lit(float(g)) / pl.col("gpu_count")).ceil())
    )


def price_offers(result: InferenceResult, offers: pl.DataFrame, pricing: str | None = "same") -> pl.DataFrame:
    """Every matching offer of `result.gpu` priced for the fleet, cheapest first.

    Offers of fractional GPUs (gpu_count < 1) are left out: the replica was sized on whole GPUs.
    """
    kind = result.pricing if pricing == "same" else pricing
    frame = whole_gpu_offers(offers, result.gpu, kind)
    g = result.gpus_per_replica
    tokens_h = result.avg_rps * result.tokens_per_request * 3600
    output_h = result.avg_rps * result.output_tokens_per_request * 3600
    price = pl.col("price_usd_per_gpu_hour")
    priced = (
        frame.with_columns(
            instances=_instances(result.replicas, g).cast(pl.Int64),
            _base_instances=_instances(result.baseline_replicas, g),
        )
        .with_columns(
            billed_gpus=pl.col("instances") * pl.col("gpu_count"),
            replica_spans_instances=pl.col("gpu_count") < g,
        )
        .with_columns(usd_per_hour=pl.col("billed_gpus") * price)
        .with_columns(
            usd_per_month=pl.col("usd_per_hour") * HOURS_PER_MONTH,
            usd_per_million_tokens=pl.col("usd_per_hour") / tokens_h * 1e6,
            usd_per_million_output_tokens=pl.col("usd_per_hour") / output_h * 1e6,
            baseline_usd_per_month=pl.col("_base_instances") * pl.col("gpu_count") * price * HOURS_PER_MONTH,
        )
        .with_columns(peak_premium_usd_per_month=pl.col("usd_per_month") - pl.col("baseline_usd_per_month"))
        .sort(["usd_per_month", "price_usd_per_gpu_hour", "provider", "region", "instance_type"])
        .with_row_index("rank", offset=1)
    )
    return priced.select(PRICED_COLUMNS)


def quoted_price(result: InferenceResult, usd_per_gpu_hour: float) -> pl.DataFrame:
    """The fleet at a user-quoted $/GPU-hour (one row, same columns as price_offers)."""
    if not (usd_per_gpu_hour and usd_per_gpu_hour > 0):
        raise EstimateError(f"the quoted price must be a positive $/GPU-hour (got {usd_per_gpu_hour!r})")
    cost = cost_at_price(result, usd_per_gpu_hour)
    row = {
        "rank": 1, "provider": "quoted", "region": None, "instance_type": None, "pricing": result.pricing,
        "gpu": result.gpu, "gpu_count": None, "price_usd_per_gpu_hour": float(usd_per_gpu_hour),
        "instances": None, "billed_gpus": float(result.total_gpus),
        **{k: cost[k] for k in ("usd_per_hour", "usd_per_month", "usd_per_million_tokens",
                                "usd_per_million_output_tokens", "baseline_usd_per_month",
                                "peak_premium_usd_per_month")},
        "replica_spans_instances": None, "source": None, "source_url": None, "snapshot_date": None, "observed_at": None,
    }
    return pl.DataFrame(
        [row],
        schema_overrides={
            "rank": pl.UInt32, "region": pl.String, "instance_type": pl.String, "pricing": pl.String,
            "gpu_count": pl.Float64, "instances": pl.Int64, "source": pl.String, "source_url": pl.String,
            "replica_spans_instances": pl.Boolean,
            "snapshot_date": pl.Date, "observed_at": pl.Datetime("us", "UTC"),
        },
    ).select(PRICED_COLUMNS)


def rank_gpu_types(
    spec: InferenceSpec,
    gpus: Mapping[str, GpuSpec] | Iterable[GpuSpec],
    offers: pl.DataFrame,
    pricing: str | None = "same",
) -> tuple[pl.DataFrame, list[str]]:
    """The cheapest offer per GPU type for this workload, cheapest type first.

    Returns (ranking, skipped) where `skipped` says why a GPU type with offers was left out."""
    table = catalog(gpus)
    kind = spec.pricing if pricing == "same" else pricing
    offered = offers.filter(pl.col("gpu").is_not_null())
    if kind is not None:
        offered = offered.filter(pl.col("pricing") == kind)
    rows, skipped = [], []
    for gpu_id in sorted(set(offered["gpu"].to_list())):
        if gpu_id not in table:
            skipped.append(f"{gpu_id}: no spec sheet")
            continue
        try:
            result = estimate_inference(replace(spec, gpu=gpu_id), table)
        except EstimateError as exc:
            skipped.append(f"{gpu_id}: {str(exc).split(';')[0]}")
            continue
        priced = price_offers(result, offered, pricing=kind)
        if priced.is_empty():
            skipped.append(f"{gpu_id}: no whole-GPU offer")
            continue
        best = priced.row(0, named=True)
        rows.append({
            "gpu": gpu_id,
            "gpus_per_replica": result.gpus_per_replica,
            "batch_size": result.batch_size,
            "ms_per_output_token": result.decode_step_seconds * 1e3,
            "replicas": result.replicas,
            "offers": priced.height,
            **{k: best[k] for k in ("provider", "region", "instance_type", "pricing", "price_usd_per_gpu_hour",
                                    "billed_gpus", "usd_per_month", "usd_per_million_tokens",
                                    "usd_per_million_output_tokens", "peak_premium_usd_per_month",
                                    "replica_spans_instances", "source", "source_url", "snapshot_date")},
        })
    if not rows:
        raise EstimateError(
            "no GPU type with offers can serve this workload"
            + (f" ({'; '.join(skipped)})" if skipped else " (no offers of this pricing kind)")
            + ". Try a lower --weight-precision, a shorter --context, a looser latency target or another --pricing."
        )
    frame = pl.DataFrame(rows).sort(["usd_per_month", "price_usd_per_gpu_hour", "gpu"]).with_row_index("rank", offset=1)
    return frame, skipped
