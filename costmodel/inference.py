"""Serving a model on hardware it fits: replicas, throughput, replicas for the peak, cost per token.

The model (docs/inference-model.md has the derivation and the MLPerf calibration):

* A replica is ``tp`` GPUs of tensor parallelism (1, 2, 4 or 8, inside one NVLink domain) times
  ``pp`` pipeline stages (1, 2, 4, 8 or 16; stages may span the GPUs of a PCIe node or, with a
  known inter-node fabric, whole nodes). A replica larger than a node takes whole nodes.
* Memory per replica: weights at the chosen precision (fp32 4, fp16/bf16 2, fp8/int8 1, int4
  0.5 bytes per parameter) plus the KV cache of every sequence in the batch at the full context
  (2 x layers x kv_heads x head_dim x kv_bytes per token), within `memory_utilisation` (0.9,
  vLLM's default gpu_memory_utilization) of the replica's GPU memory.
* Prefill is compute-bound: 2 x N_active x prompt FLOPs at the replica's dense peak x compute
  efficiency. A decode step for a batch of b sequences reads the weights once and does
  2 x N_active x b FLOPs (whichever takes longer), then reads each sequence's KV cache
  (attention runs after the GEMMs, so its time adds): KV per token x (prompt + output / 2) x b
  at the replica's memory bandwidth x memory efficiency.
* Splitting a replica costs ``serve_tp_efficiency`` per doubling of its GPUs (all-reduce per
  layer and smaller GEMMs for tensor parallelism; bubbles and stage transfers for pipeline
  stages, taken to cost the same). Pipeline stages are used only when the largest tensor-parallel
  group of the node cannot hold the weights and one sequence.
* Continuous batching: a replica's cycle serves b requests in b x prefill + output x step(b)
  seconds, so time per output token = cycle / output and requests/s = b / cycle. The batch is
  the largest that fits in memory, meets the latency targets and stays <= max_batch.
* Replicas are provisioned for the PEAK rate; the bill runs all the time, so the cost per token
  is paid at the AVERAGE rate. Cost is split between input and output tokens by the share of
  replica time spent in prefill and in decode.
* Efficiencies come from the assumption table (`serve_*` rows, keyed by generation), calibrated
  on MLPerf Inference v4.1 Llama-2-70B Server results (`costmodel.calibration`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

import polars as pl

from costmodel.assumptions import Assumptions
from costmodel.errors import EstimateError
from costmodel.gpus import GpuSpec
from costmodel.nodes import NodeShape, quoted_shape, shape_of
from costmodel.offers import offer_order
from costmodel.presets import ModelPreset
from costmodel.training import INTERRUPTIBLE_PRICING, LeftOut, PlanWarning

WEIGHT_BYTES = {"fp32": 4.0, "fp16": 2.0, "bf16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5}
TP_DEGREES = (1, 2, 4, 8)
PP_STAGES = (1, 2, 4, 8, 16)
HOURS_PER_MONTH = 730
DEFAULT_MEMORY_UTILISATION = 0.9
DEFAULT_MAX_BATCH = 1024
MAX_RPS = 1e6
MAX_FLEET_GPUS = 100_000
DEFAULT_QUOTED_GPUS_PER_NODE = 8


def _positive(value: Any) -> bool:
    try:
        return value is not None and math.isfinite(float(value)) and float(value) > 0
    except (TypeError, ValueError):
        return False


def _invalid(field_name: str, value: Any, expected: str) -> EstimateError:
    return EstimateError(f"{field_name} must be {expected} (got {value!r})", reason="invalid_input",
                         values={"field": field_name, "value": value, "expected": expected})


@dataclass(frozen=True)
class ServingSpec:
    params: float
    n_layers: int | None = None
    n_kv_heads: int | None = None
    head_dim: int | None = None
    active_params: float | None = None
    kv_elements_per_layer: int | None = None  # per token; None = 2 x kv_heads x head_dim (MLA differs)
    weight_precision: str = "fp16"
    kv_bytes: float = 2.0  # per KV element (fp16 cache; 1 for fp8)
    prompt_tokens: int = 1024
    output_tokens: int = 1024
    context_length: int | None = None  # KV reserved per sequence; None = prompt + output
    avg_rps: float = 1.0
    peak_rps: float | None = None  # None = avg_rps
    max_ms_per_output_token: float | None = None
    max_seconds_to_first_token: float | None = None
    max_batch: int = DEFAULT_MAX_BATCH
    memory_utilisation: float = DEFAULT_MEMORY_UTILISATION
    compute_efficiency: float | None = None  # overrides the table
    memory_efficiency: float | None = None
    pricing: str | None = "on_demand"

    @classmethod
    def from_preset(cls, preset: ModelPreset, **overrides: Any) -> "ServingSpec":
        base: dict[str, Any] = dict(
            params=preset.params, active_params=preset.active_params, n_layers=preset.n_layers,
            n_kv_heads=preset.n_kv_heads, head_dim=preset.head_dim, kv_elements_per_layer=preset.kv_elements_per_layer,
        )
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**base)

    def __post_init__(self) -> None:
        self._check_model()
        self._check_workload()

    def _check_model(self) -> None:
        if not _positive(self.params):
            raise _invalid("params", self.params, "a positive number of parameters")
        if self.active_params is not None and not (_positive(self.active_params) and self.active_params <= self.params):
            raise _invalid("active_params", self.active_params, f"positive and at most the total ({self.params:g})")
        if self.weight_precision not in WEIGHT_BYTES:
            raise _invalid("weight_precision", self.weight_precision, f"one of {', '.join(WEIGHT_BYTES)}")
        needed = ["n_layers"] if self.kv_elements_per_layer else ["n_layers", "n_kv_heads", "head_dim"]
        missing = [n for n in needed if getattr(self, n) is None]
        if missing:
            raise EstimateError(f"the KV-cache size needs the model's {', '.join(missing)}", reason="missing_shape",
                                values={"missing": missing})
        for name in ("n_layers", "n_kv_heads", "head_dim", "kv_elements_per_layer"):
            value = getattr(self, name)
            if value is not None and not (float(value).is_integer() and 1 <= value <= 1_000_000):
                raise _invalid(name, value, "a whole number >= 1")
        if not (_positive(self.kv_bytes) and self.kv_bytes <= 4):
            raise _invalid("kv_bytes", self.kv_bytes, "bytes per KV element: 2 for fp16, 1 for fp8")

    def _check_workload(self) -> None:
        if not (0 <= self.prompt_tokens <= 10_000_000 and 1 <= self.output_tokens <= 10_000_000):
            raise _invalid("prompt/output tokens", (self.prompt_tokens, self.output_tokens),
                           "prompt >= 0 and output >= 1 tokens per request, at most 10M each")
        if self.context_length is not None and self.context_length < self.prompt_tokens + self.output_tokens:
            raise _invalid("context_length", self.context_length,
                           f"at least prompt + output ({self.prompt_tokens + self.output_tokens:,} tokens)")
        if not (_positive(self.avg_rps) and self.avg_rps <= MAX_RPS):
            raise _invalid("average requests/s", self.avg_rps, f"positive and at most {MAX_RPS:,.0f}")
        if self.peak_rps is not None and not (_positive(self.peak_rps) and self.avg_rps <= self.peak_rps <= MAX_RPS):
            raise _invalid("peak requests/s", self.peak_rps, f"at least the average ({self.avg_rps:g}) and at most {MAX_RPS:,.0f}")
        for name in ("max_ms_per_output_token", "max_seconds_to_first_token"):
            if getattr(self, name) is not None and not _positive(getattr(self, name)):
                raise _invalid(name, getattr(self, name), "positive")
        for name in ("compute_efficiency", "memory_efficiency", "memory_utilisation"):
            value = getattr(self, name)
            if value is not None and not (_positive(value) and value <= 1):
                raise _invalid(name, value, "a fraction in (0, 1]")
        if not (1 <= self.max_batch <= 100_000):
            raise _invalid("max_batch", self.max_batch, "from 1 to 100,000 sequences")

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
class Efficiencies:
    compute: float
    memory: float
    tp_per_doubling: float
    source: str


def efficiencies_for(spec: ServingSpec, gpu: GpuSpec, assumptions: Assumptions) -> Efficiencies:
    compute = assumptions.serve_compute_efficiency(gpu.generation)
    memory = assumptions.serve_memory_efficiency(gpu.generation)
    tp = assumptions.serve_tp_efficiency(gpu.generation)
    return Efficiencies(
        compute=spec.compute_efficiency if spec.compute_efficiency is not None else compute.value,
        memory=spec.memory_efficiency if spec.memory_efficiency is not None else memory.value,
        tp_per_doubling=tp.value,
        source=f"compute {compute.source}; memory {memory.source}; tensor parallel {tp.source}",
    )


def compute_precision(spec: ServingSpec, gpu: GpuSpec) -> str:
    """The tensor-core precision the math runs at: fp8 weights on fp8 hardware, else 16-bit."""
    order = {"fp32": ["fp32", "tf32"], "fp8": ["fp8", "bf16", "fp16"]}.get(spec.weight_precision, ["bf16", "fp16"])
    for precision in [*order, "fp32"]:  # K80 / M60 class parts serve on their fp32 units
        if gpu.tflops.get(precision):
            return precision
    gpu.dense_tflops(order[0])  # raises, naming what the spec sheet has
    raise AssertionError("unreachable: dense_tflops raised")


@dataclass(frozen=True)
class Replica:
    tp: int
    pp: int
    batch: int
    batch_limited_by: str  # memory | latency | max batch
    prefill_seconds: float  # one request
    decode_step_seconds: float
    decode_bound: str  # memory bandwidth | compute
    seconds_per_output_token: float
    seconds_to_first_token: float
    requests_per_second: float
    prefill_share: float  # of the replica's busy time

    @property
    def gpus(self) -> int:
        return self.tp * self.pp


@dataclass(frozen=True)
class ReplicaRates:
    """Per-replica compute (FLOP/s) and bandwidth (B/s) after efficiencies."""

    flops: float
    bandwidth: float


def replica_rates(gpu: GpuSpec, precision: str, eff: Efficiencies, tp: int, pp: int) -> ReplicaRates:
    """Each doubling of a replica's GPUs, by tensor or pipeline split, costs the calibrated factor."""
    gpus = tp * pp
    split_factor = eff.tp_per_doubling ** math.log2(gpus)
    return ReplicaRates(
        flops=gpus * gpu.dense_tflops(precision) * 1e12 * eff.compute * split_factor,
        bandwidth=gpus * gpu.memory_bandwidth_tbs * 1e12 * eff.memory * split_factor,
    )


def decode_step(spec: ServingSpec, rates: ReplicaRates, batch: int) -> tuple[float, str]:
    """One decode step for `batch` sequences: (seconds, what bounds the GEMMs)."""
    weights = spec.weight_bytes / rates.bandwidth
    gemm = 2 * spec.n_active * batch / rates.flops
    attention = batch * spec.kv_bytes_per_token * (spec.prompt_tokens + spec.output_tokens / 2) / rates.bandwidth
    return max(weights, gemm) + attention, ("memory bandwidth" if weights >= gemm else "compute")


def cycle_times(spec: ServingSpec, rates: ReplicaRates, batch: int) -> tuple[float, float, float, str]:
    """(time per output token, time to first token, prefill seconds, decode bound) at `batch`."""
    prefill = 2 * spec.n_active * spec.prompt_tokens / rates.flops
    step, bound = decode_step(spec, rates, batch)
    cycle = batch * prefill + spec.output_tokens * step
    return cycle / spec.output_tokens, prefill + step, prefill, bound


def meets_latency(spec: ServingSpec, rates: ReplicaRates, batch: int) -> bool:
    per_token, first, _, _ = cycle_times(spec, rates, batch)
    if spec.max_ms_per_output_token is not None and per_token * 1e3 > spec.max_ms_per_output_token:
        return False
    if spec.max_seconds_to_first_token is not None and first > spec.max_seconds_to_first_token:
        return False
    return True


def memory_batch_limit(spec: ServingSpec, gpu: GpuSpec, gpus: int) -> int:
    room = gpus * gpu.memory_gb * 1e9 * spec.memory_utilisation - spec.weight_bytes
    return max(0, math.floor(room / (spec.kv_bytes_per_token * spec.context)))


def best_batch(spec: ServingSpec, rates: ReplicaRates, memory_limit: int) -> tuple[int, str] | None:
    """The largest batch within memory, max_batch and the latency targets, or None."""
    limit = min(memory_limit, spec.max_batch)
    if limit < 1 or not meets_latency(spec, rates, 1):
        return None
    by = "memory" if memory_limit <= spec.max_batch else "max batch"
    if meets_latency(spec, rates, limit):
        return limit, by
    low, high = 1, limit  # meets(low) and not meets(high): time per token grows with the batch
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if meets_latency(spec, rates, middle) else (low, middle)
    return low, "latency"


def replica_on(spec: ServingSpec, gpu: GpuSpec, eff: Efficiencies, precision: str, tp: int, pp: int) -> Replica | None:
    """The replica of tp x pp GPUs at its best batch, or None when it cannot hold a sequence or meet latency."""
    rates = replica_rates(gpu, precision, eff, tp, pp)
    chosen = best_batch(spec, rates, memory_batch_limit(spec, gpu, tp * pp))
    if chosen is None:
        return None
    batch, by = chosen
    per_token, first, prefill, bound = cycle_times(spec, rates, batch)
    step, _ = decode_step(spec, rates, batch)
    cycle = per_token * spec.output_tokens
    return Replica(tp, pp, batch, by, prefill, step, bound, per_token, first, batch / cycle, batch * prefill / cycle)


def one_sequence_bytes(spec: ServingSpec) -> float:
    return spec.weight_bytes + spec.kv_bytes_per_token * spec.context


def replica_layouts(spec: ServingSpec, gpu: GpuSpec, shape: NodeShape) -> list[tuple[int, int]]:
    """(tp, pp) pairs a node shape allows. Tensor parallelism stays inside the NVLink domain.
    Pipeline stages are used only when the largest tensor-parallel group cannot hold the weights
    and one sequence, and then on top of that group (tensor parallel inside the node, stages
    across); a replica larger than a node takes whole nodes and needs a known fabric."""
    domain = min(shape.nvlink_domain, max(TP_DEGREES))
    largest_tp = max(t for t in TP_DEGREES if t <= domain)
    tp_room = largest_tp * gpu.memory_gb * 1e9 * spec.memory_utilisation
    needs_stages = one_sequence_bytes(spec) > tp_room
    stages = PP_STAGES if needs_stages else (1,)
    layouts = []
    for tp in TP_DEGREES:
        if tp > domain or (needs_stages and tp != largest_tp):  # stages only after the NVLink domain is full
            continue
        for pp in stages:
            gpus = tp * pp
            if pp > spec.n_layers:
                continue
            if gpus > shape.gpus_per_node and not (shape.can_cluster and gpus % shape.gpus_per_node == 0):
                continue
            layouts.append((tp, pp))
    return layouts


@dataclass(frozen=True)
class Fleet:
    replica: Replica
    replicas: int  # for the peak
    baseline_replicas: int  # if the peak were the average
    nodes: int
    baseline_nodes: int


def nodes_needed(replicas: int, replica_gpus: int, gpus_per_node: int) -> int:
    if replica_gpus <= gpus_per_node:
        return math.ceil(replicas / (gpus_per_node // replica_gpus))
    return replicas * (replica_gpus // gpus_per_node)


def fleet_for(spec: ServingSpec, replica: Replica, shape: NodeShape) -> Fleet:
    replicas = math.ceil(spec.peak / replica.requests_per_second - 1e-12)
    baseline = math.ceil(spec.avg_rps / replica.requests_per_second - 1e-12)
    return Fleet(replica, replicas, baseline, nodes_needed(replicas, replica.gpus, shape.gpus_per_node),
                 nodes_needed(baseline, replica.gpus, shape.gpus_per_node))


def fleet_order(fleet: Fleet) -> tuple[int, int, int]:
    """Fewest nodes for the peak; on a tie the smaller replica, then less tensor parallelism."""
    return fleet.nodes, fleet.replica.gpus, fleet.replica.tp


def best_fleet(spec: ServingSpec, gpu: GpuSpec, shape: NodeShape, assumptions: Assumptions) -> Fleet:
    """The replica layout that needs the fewest nodes for the peak (smaller replica on a tie)."""
    if not gpu.memory_gb or not gpu.memory_bandwidth_tbs:
        raise EstimateError(f"{gpu.gpu} has no memory size or bandwidth on its spec sheet", reason="missing_spec",
                            values={"gpu": gpu.gpu})
    eff = efficiencies_for(spec, gpu, assumptions)
    precision = compute_precision(spec, gpu)
    fleets = []
    for tp, pp in replica_layouts(spec, gpu, shape):
        replica = replica_on(spec, gpu, eff, precision, tp, pp)
        if replica is not None:
            fleets.append(fleet_for(spec, replica, shape))
    if not fleets:
        raise no_replica_error(spec, gpu, shape)
    best = min(fleets, key=fleet_order)
    if best.nodes * shape.gpus_per_node > MAX_FLEET_GPUS:
        raise EstimateError(
            f"{spec.peak:,.4g} requests/s at peak need {best.nodes * shape.gpus_per_node:,} x {gpu.gpu}, more than "
            f"the {MAX_FLEET_GPUS:,} GPUs priced",
            reason="fleet_too_large",
            values={"gpus": best.nodes * shape.gpus_per_node, "max_gpus": MAX_FLEET_GPUS, "peak_rps": spec.peak},
        )
    return best


def no_replica_error(spec: ServingSpec, gpu: GpuSpec, shape: NodeShape) -> EstimateError:
    per_sequence = one_sequence_bytes(spec)
    largest = max((tp * pp for tp, pp in replica_layouts(spec, gpu, shape)), default=shape.gpus_per_node)
    room = largest * gpu.memory_gb * 1e9 * spec.memory_utilisation
    if per_sequence > room:
        return EstimateError(
            f"one replica needs {per_sequence / 1e9:,.0f} GB (weights {spec.weight_bytes / 1e9:,.0f} GB + one "
            f"{spec.context:,}-token sequence); the largest replica this node allows ({largest} x {gpu.gpu}) holds "
            f"{room / 1e9:,.0f} GB",
            reason="model_does_not_fit",
            values={"needed_gb": per_sequence / 1e9, "room_gb": room / 1e9, "replica_gpus": largest,
                    "gpus_per_node": shape.gpus_per_node, "can_cluster": shape.can_cluster},
        )
    return EstimateError(
        f"no replica on {gpu.gpu} meets the latency targets even with one sequence",
        reason="latency_unreachable",
        values={"max_ms_per_output_token": spec.max_ms_per_output_token,
                "max_seconds_to_first_token": spec.max_seconds_to_first_token},
    )


@dataclass(frozen=True)
class ServingPlan:
    provider: str
    region: str | None
    instance_type: str | None
    pricing: str | None
    gpu: str
    gpus_per_node: int
    nodes: int
    gpus: int
    tp: int
    pp: int
    gpus_per_replica: int
    replicas: int
    batch: int
    batch_limited_by: str
    ms_per_output_token: float
    seconds_to_first_token: float
    output_tokens_per_second_per_gpu: float
    average_utilisation: float
    price_usd_per_hour: float
    price_usd_per_gpu_hour: float
    usd_per_hour: float
    usd_per_month: float
    usd_per_million_input_tokens: float | None
    usd_per_million_output_tokens: float
    baseline_usd_per_month: float
    peak_premium_usd_per_month: float
    interruptible: bool
    warnings: tuple[PlanWarning, ...] = ()
    inter_node_fabric: str | None = None
    intra_node_link: str | None = None
    source: str | None = None
    source_url: str | None = None
    snapshot_date: Any = None
    observed_at: Any = None

    def to_dict(self) -> dict:
        out = asdict(self)
        out["warnings"] = [w.to_dict() for w in self.warnings]
        return out


def token_costs(spec: ServingSpec, fleet: Fleet, usd_per_hour: float) -> tuple[float | None, float]:
    """($ per 1M input tokens, $ per 1M output tokens) at the average rate, split by prefill/decode time."""
    prefill_share = fleet.replica.prefill_share
    input_per_hour = spec.avg_rps * spec.prompt_tokens * 3600
    output_per_hour = spec.avg_rps * spec.output_tokens * 3600
    per_input = usd_per_hour * prefill_share / input_per_hour * 1e6 if input_per_hour else None
    return per_input, usd_per_hour * (1 - prefill_share if input_per_hour else 1.0) / output_per_hour * 1e6


def serving_warnings(spec: ServingSpec, fleet: Fleet, shape: NodeShape, pricing: str | None) -> tuple[PlanWarning, ...]:
    found = []
    if (pricing or "").lower() in INTERRUPTIBLE_PRICING:
        found.append(PlanWarning("interruptible", f"{pricing} capacity is interruptible: a serving fleet on it can "
                                                  "lose replicas without notice"))
    if fleet.replica.gpus > shape.gpus_per_node:
        found.append(PlanWarning("replica_spans_nodes", f"each replica spans {fleet.replica.gpus // shape.gpus_per_node} "
                                                        "nodes (pipeline stages over the inter-node fabric)"))
    if fleet.replica.tp > 1:
        found.append(PlanWarning("tensor_parallel", f"tensor parallel {fleet.replica.tp}: per-GPU efficiency "
                                                    "reduced per the calibrated tensor-parallel factor"))
    return tuple(found)


def plan_on(spec: ServingSpec, gpu: GpuSpec, offer: Mapping[str, Any], assumptions: Assumptions,
            fleets: dict | None = None) -> ServingPlan:
    """The fleet on one offer's instance type, priced at the instance price (raises when it cannot serve)."""
    shape = shape_of(offer)
    if shape is None:
        raise EstimateError("a fractional-GPU offer cannot hold a replica", reason="fractional_gpu",
                            values={"gpu_count": offer.get("gpu_count")})
    cache = fleets if fleets is not None else {}
    key = (shape.gpus_per_node, shape.nvlink_domain, shape.can_cluster)
    if key not in cache:
        cache[key] = best_fleet(spec, gpu, shape, assumptions)
    fleet = cache[key]
    price = float(offer["price_usd_per_hour"])
    per_hour = fleet.nodes * price
    per_input, per_output = token_costs(spec, fleet, per_hour)
    gpus = fleet.nodes * shape.gpus_per_node
    capacity = fleet.replicas * fleet.replica.requests_per_second
    return ServingPlan(
        provider=offer.get("provider") or "?", region=offer.get("region"), instance_type=offer.get("instance_type"),
        pricing=offer.get("pricing"), gpu=gpu.gpu, gpus_per_node=shape.gpus_per_node, nodes=fleet.nodes, gpus=gpus,
        tp=fleet.replica.tp, pp=fleet.replica.pp, gpus_per_replica=fleet.replica.gpus, replicas=fleet.replicas,
        batch=fleet.replica.batch, batch_limited_by=fleet.replica.batch_limited_by,
        ms_per_output_token=fleet.replica.seconds_per_output_token * 1e3,
        seconds_to_first_token=fleet.replica.seconds_to_first_token,
        output_tokens_per_second_per_gpu=fleet.replica.requests_per_second * spec.output_tokens / fleet.replica.gpus,
        average_utilisation=spec.avg_rps / capacity, price_usd_per_hour=price,
        price_usd_per_gpu_hour=price / shape.gpus_per_node, usd_per_hour=per_hour,
        usd_per_month=per_hour * HOURS_PER_MONTH, usd_per_million_input_tokens=per_input,
        usd_per_million_output_tokens=per_output, baseline_usd_per_month=fleet.baseline_nodes * price * HOURS_PER_MONTH,
        peak_premium_usd_per_month=(fleet.nodes - fleet.baseline_nodes) * price * HOURS_PER_MONTH,
        interruptible=(offer.get("pricing") or "").lower() in INTERRUPTIBLE_PRICING,
        warnings=serving_warnings(spec, fleet, shape, offer.get("pricing")),
        inter_node_fabric=shape.inter_node_fabric, intra_node_link=shape.intra_node_link,
        source=offer.get("source"), source_url=offer.get("source_url"), snapshot_date=offer.get("snapshot_date"),
        observed_at=offer.get("observed_at"),
    )


def quoted_offer(gpu: str, usd_per_gpu_hour: float, pricing: str | None,
                 gpus_per_node: int = DEFAULT_QUOTED_GPUS_PER_NODE) -> dict:
    if not _positive(usd_per_gpu_hour):
        raise _invalid("quoted price", usd_per_gpu_hour, "a positive $ per GPU-hour")
    shape = quoted_shape(gpus_per_node)
    return {
        "provider": "quoted", "region": None, "instance_type": f"{gpus_per_node}x {gpu} (quoted)", "pricing": pricing,
        "gpu": gpu, "gpu_count": float(gpus_per_node), "price_usd_per_hour": usd_per_gpu_hour * gpus_per_node,
        "price_usd_per_gpu_hour": usd_per_gpu_hour, "intra_node_link": shape.intra_node_link,
        "inter_node_fabric": shape.inter_node_fabric,
    }


@dataclass(frozen=True)
class RankedServing:
    gpu: str
    plans: list[ServingPlan] = field(default_factory=list)
    left_out: list[LeftOut] = field(default_factory=list)

    @property
    def best(self) -> ServingPlan | None:
        return self.plans[0] if self.plans else None


def serving_order(plan: ServingPlan) -> tuple:
    return plan.usd_per_month, plan.price_usd_per_gpu_hour, plan.provider, str(plan.instance_type)


def rank_plans(spec: ServingSpec, gpu: GpuSpec, offers: pl.DataFrame | list[Mapping[str, Any]],
               assumptions: Assumptions | None = None) -> RankedServing:
    """Every offer's fleet for `gpu`, cheapest per month first; same instance and price in several
    regions collapse to one plan."""
    assumptions = assumptions or Assumptions()
    rows = offers.to_dicts() if isinstance(offers, pl.DataFrame) else list(offers)
    fleets: dict = {}
    plans: dict[tuple, ServingPlan] = {}
    left_out = []
    for offer in sorted(rows, key=offer_order):
        try:
            plan = plan_on(spec, gpu, offer, assumptions, fleets)
        except EstimateError as exc:
            left_out.append(LeftOut(f"{offer.get('provider')} {offer.get('instance_type')} ({offer.get('region')})",
                                    exc.reason, str(exc), exc.values))
            continue
        plans.setdefault((plan.provider, plan.instance_type, plan.pricing, round(plan.price_usd_per_hour, 6),
                          plan.source), plan)
    ranked = sorted(plans.values(), key=serving_order)
    return RankedServing(gpu.gpu, ranked, left_out)


def layout_text(plan: ServingPlan) -> str:
    return f"TP{plan.tp} x PP{plan.pp}"


SERVING_COLUMNS = [
    "rank", "provider", "instance_type", "region", "pricing", "interruptible", "nodes", "gpus_per_node", "gpus",
    "tp", "pp", "replica_layout", "replicas", "batch", "ms_per_output_token", "output_tokens_per_second_per_gpu", "average_utilisation",
    "price_usd_per_hour", "price_usd_per_gpu_hour", "usd_per_month", "usd_per_million_input_tokens",
    "usd_per_million_output_tokens", "peak_premium_usd_per_month", "inter_node_fabric", "warnings", "source",
    "source_url", "snapshot_date", "observed_at",
]


def plans_frame(plans: list[ServingPlan]) -> pl.DataFrame:
    records = []
    for rank, plan in enumerate(plans, start=1):
        row = plan.to_dict()
        row["rank"] = rank
        row["replica_layout"] = layout_text(plan)
        row["warnings"] = "; ".join(w["message"] for w in row["warnings"])
        records.append({c: row.get(c) for c in SERVING_COLUMNS})
    if not records:
        return pl.DataFrame(schema={c: pl.String for c in SERVING_COLUMNS})
    return pl.DataFrame(records, infer_schema_length=None)


def node_throughput(spec: ServingSpec, gpu: GpuSpec, shape: NodeShape, assumptions: Assumptions) -> float:
    """Output tokens/s per GPU of one full node at its best layout, with no latency slack to spare
    (the MLPerf Server comparison: as many replicas as fit, each at its best batch)."""
    eff = efficiencies_for(spec, gpu, assumptions)
    precision = compute_precision(spec, gpu)
    best = 0.0
    for tp, pp in replica_layouts(spec, gpu, shape):
        if tp * pp > shape.gpus_per_node:
            continue
        replica = replica_on(spec, gpu, eff, precision, tp, pp)
        if replica is None:
            continue
        replicas = shape.gpus_per_node // replica.gpus
        best = max(best, replicas * replica.requests_per_second * spec.output_tokens / shape.gpus_per_node)
    return best
