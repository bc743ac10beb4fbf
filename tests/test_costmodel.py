"""The run-cost arithmetic checked against numbers worked out by hand.

`costmodel` is shared by the pipeline, the dashboard and the CLI, so a slip in a formula would
show up everywhere at once. Each test recomputes one figure from the published formula
(DESIGN.md "Run pricing", /work/shared/reference/gpu-math.md) and compares, and checks that
impossible inputs raise `EstimateError` with a message saying what would work.

GPU figures below are the dense datasheet values listed in gpu-math.md §3; the offers are made
up for the arithmetic (provider names "test-provider-*"), not market prices.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date

import polars as pl
import pytest

from costmodel.assumptions import Assumptions, FALLBACK_UTILISATION, fallback_scaling
from costmodel.errors import EstimateError
from costmodel.gpus import GpuSpec
from costmodel.inference import (
    InferenceSpec,
    cost_at_price,
    decode_step_seconds,
    estimate_inference,
    prefill_seconds,
    price_offers as price_inference_offers,
    quoted_price as quoted_inference,
    rank_gpu_types,
)
from costmodel.metrics import add_cost_metrics
from costmodel.presets import PRESETS, get_preset
from costmodel.training import TrainingSpec, estimate_training, min_training_gpus, price_offers, quoted_price

A100 = GpuSpec("A100-80GB", 80, 2.039, {"bf16": 312, "fp16": 312, "tf32": 156, "fp32": 19.5}, "nvlink")
H100 = GpuSpec("H100-SXM-80GB", 80, 3.35, {"bf16": 989, "fp16": 989, "fp8": 1979, "tf32": 495, "fp32": 67}, "nvswitch")
A10 = GpuSpec("A10-24GB", 24, 0.6, {"bf16": 125, "fp16": 125, "tf32": 62.5, "fp32": 31.2}, "pcie")
T4 = GpuSpec("T4-16GB", 16, 0.32, {"fp16": 65, "fp32": 8.1}, "pcie")
CATALOG = {g.gpu: g for g in (A100, H100, A10, T4)}


def offers_frame(rows):
    return pl.DataFrame(
        [
            dict(provider=p, region="r1", instance_type=i, pricing=k, gpu=g, gpu_count=n,
                 price_usd_per_gpu_hour=price, source_url="https://example.test/offers",
                 snapshot_date=date(2026, 8, 1), observed_at=None)
            for p, i, k, g, n, price in rows
        ],
        schema_overrides={"gpu_count": pl.Float64, "observed_at": pl.Datetime("us", "UTC")},
    )


# -- training --------------------------------------------------------------------------------------

def test_training_flops_70b_2t():
    """6 x 70e9 x 2e12 = 8.4e23 FLOPs, the figure everyone quotes for a Llama-2-70B-sized run."""
    r = estimate_training(TrainingSpec(params=70e9, tokens=2e12, gpu="A100-80GB", mfu=0.4, gpus=32), CATALOG)
    assert r.total_flops == pytest.approx(8.4e23)


def test_gpu_hours_hand_checked_on_a100():
    """8.4e23 / (312e12 x 0.4 x 3600) = 1.8697e6 GPU-hours with perfect scaling; wall-clock / 32 / 24."""
    spec = TrainingSpec(params=70e9, tokens=2e12, gpu="A100-80GB", mfu=0.4, scaling_efficiency=1.0, gpus=32)
    r = estimate_training(spec, CATALOG)
    assert r.gpu_hours == pytest.approx(8.4e23 / (312e12 * 0.4 * 3600), rel=1e-9)
    assert r.gpu_hours == pytest.approx(1.8697e6, rel=1e-4)
    assert r.wall_clock_days == pytest.approx(1.8697e6 / 32 / 24, rel=1e-4)
    assert r.effective_tflops == pytest.approx(124.8)


def test_moe_uses_active_params_for_flops_and_total_for_memory():
    """Mixtral: FLOPs from 12.9B active params, training state from all 46.7B (every expert is held)."""
    spec = TrainingSpec(params=46.7e9, active_params=12.9e9, tokens=1e12, gpu="H100-SXM-80GB", mfu=0.4, gpus=64)
    r = estimate_training(spec, CATALOG)
    assert r.total_flops == pytest.approx(6 * 12.9e9 * 1e12)
    assert r.state_bytes == pytest.approx(46.7e9 * 16)
    assert r.min_gpus == math.ceil(46.7e9 * 16 / (80e9 * 0.8))  # 12


def test_full_recompute_factor_8_and_explicit_factor():
    """Full activation recomputation adds a forward pass: 8 N D; an explicit factor wins."""
    base = dict(params=70e9, tokens=2e12, gpu="A100-80GB", mfu=0.4, gpus=32)
    assert estimate_training(TrainingSpec(**base, full_recompute=True), CATALOG).total_flops == pytest.approx(1.12e24)
    assert estimate_training(TrainingSpec(**base, flops_factor=7), CATALOG).total_flops == pytest.approx(9.8e23)


def test_default_tokens_are_compute_optimal():
    """No token count -> Chinchilla's 20 tokens per parameter, and the result says so."""
    r = estimate_training(TrainingSpec(params=8e9, gpu="A100-80GB", mfu=0.4, gpus=8), CATALOG)
    assert r.tokens == pytest.approx(160e9)
    assert r.tokens_defaulted
    assert any("compute-optimal" in n for n in r.notes)


def test_deadline_sets_smallest_cluster_constant_efficiency():
    """With utilisation and scaling fixed, the cluster is ceil(GPU-hours / (24 x days)): 1.8697e6 / 720 -> 2597."""
    spec = TrainingSpec(params=70e9, tokens=2e12, gpu="A100-80GB", mfu=0.4, scaling_efficiency=1.0, deadline_days=30)
    r = estimate_training(spec, CATALOG)
    assert r.gpus == math.ceil(8.4e23 / (312e12 * 0.4 * 3600) / (24 * 30))
    assert r.gpus == 2597
    assert r.wall_clock_days <= 30
    assert r.gpus_chosen_by == "deadline"


def test_deadline_with_falling_scaling_is_smallest_that_meets_it():
    """With scaling falling with size, the chosen cluster meets the deadline and one GPU fewer does not."""
    spec = TrainingSpec(params=70e9, tokens=2e12, gpu="A100-80GB", mfu=0.4, deadline_days=30)
    r = estimate_training(spec, CATALOG)
    assert r.wall_clock_days <= 30
    assert r.gpus > 2597  # scaling < 1 at this size needs more GPUs than the perfect-scaling answer
    smaller = estimate_training(replace(spec, deadline_days=None, gpus=r.gpus - 1), CATALOG)
    assert smaller.wall_clock_days > 30


def test_scaling_efficiency_falls_with_size_and_faster_on_pcie():
    """1.0 inside one node; 1 - k log2(n/8) beyond, steeper without a GPU fabric; floored at 0.5."""
    assert fallback_scaling(8, True) == 1.0
    assert fallback_scaling(16, True) == pytest.approx(0.99)
    assert fallback_scaling(1024, False) == pytest.approx(1 - 0.04 * 7)
    assert fallback_scaling(1024, False) < fallback_scaling(1024, True)
    assert fallback_scaling(10**7, False) == 0.5
    small = estimate_training(TrainingSpec(params=7e9, tokens=1e12, gpu="A100-80GB", mfu=0.4, gpus=8), CATALOG)
    big = estimate_training(TrainingSpec(params=7e9, tokens=1e12, gpu="A100-80GB", mfu=0.4, gpus=4096), CATALOG)
    assert big.effective_tflops < small.effective_tflops
    assert big.gpu_hours > small.gpu_hours


def test_memory_feasibility_minimum_gpus():
    """16 bytes/param: 70B -> 1.12 TB. A100-80GB at 64 GB usable -> 18; with no activation reserve
    an A10-24GB needs ceil(1.12e12 / 24e9) = 47."""
    spec = TrainingSpec(params=70e9, tokens=2e12, gpu="A100-80GB")
    assert min_training_gpus(spec, A100) == 18
    assert min_training_gpus(replace(spec, activation_reserve=0.0), A10) == 47
    r = estimate_training(spec, CATALOG)
    assert r.min_gpus == 18 and r.gpus >= 18
    assert r.gpus_chosen_by == "memory minimum"


def test_assumptions_table_used_then_fallback():
    """A matching assumptions row sets utilisation (and says it came from the table); none -> fallback."""
    table = pl.DataFrame({
        "kind": ["utilisation", "utilisation", "scaling"],
        "gpu_class": ["datacenter", "*", "*"],
        "precision": ["bf16", "*", "*"],
        "interconnect": ["*", "*", "*"],
        "min_gpus": [1.0, 1.0, 1.0],
        "max_gpus": [1e9, 1e9, 1e9],
        "value": [0.45, 0.30, 0.9],
        "source_url": ["https://example.test/a", "https://example.test/b", "https://example.test/c"],
    })
    spec = TrainingSpec(params=70e9, tokens=2e12, gpu="A100-80GB", gpus=32)
    r = estimate_training(spec, CATALOG, table)
    assert r.utilisation == 0.45 and "assumptions table" in r.utilisation_source
    assert r.scaling_efficiency == 0.9
    r8 = estimate_training(replace(spec, precision="fp32"), CATALOG, table)
    assert r8.utilisation == 0.30  # the wildcard row
    fallback = estimate_training(spec, CATALOG, None)
    assert fallback.utilisation == FALLBACK_UTILISATION and "fallback" in fallback.utilisation_source
    assert Assumptions(pl.DataFrame()).empty


def test_price_offers_ranked_with_nodes_and_spot_allowance():
    """Cost = GPU-hours x billed/needed GPUs x price; 8-GPU nodes round a 20-GPU cluster up to 24;
    spot adds 10 %. Ranked cheapest first."""
    spec = TrainingSpec(params=70e9, tokens=2e12, gpu="A100-80GB", mfu=0.4, scaling_efficiency=1.0, gpus=20, pricing=None)
    r = estimate_training(spec, CATALOG)
    offers = offers_frame([
        ("test-provider-a", "x8", "on_demand", "A100-80GB", 8, 2.0),
        ("test-provider-b", "x1", "on_demand", "A100-80GB", 1, 2.2),
        ("test-provider-c", "x8", "spot", "A100-80GB", 8, 1.0),
        ("test-provider-d", "frac", "on_demand", "A100-80GB", 0.5, 0.1),
        ("test-provider-e", "h8", "on_demand", "H100-SXM-80GB", 8, 0.1),
    ])
    priced = price_offers(r, offers)
    assert priced["provider"].to_list() == ["test-provider-c", "test-provider-b", "test-provider-a"]
    a = priced.filter(pl.col("provider") == "test-provider-a").row(0, named=True)
    assert a["nodes"] == 3 and a["billed_gpus"] == 24
    assert a["total_cost_usd"] == pytest.approx(r.gpu_hours * 24 / 20 * 2.0)
    c = priced.filter(pl.col("provider") == "test-provider-c").row(0, named=True)
    assert c["total_cost_usd"] == pytest.approx(r.gpu_hours * 24 / 20 * 1.0 * 1.10)
    assert priced["total_cost_usd"].is_sorted()
    on_demand = price_offers(r, offers, pricing="on_demand")
    assert set(on_demand["pricing"]) == {"on_demand"}


def test_quoted_price():
    """A quoted $/GPU-hour prices the GPU-hours directly (no node rounding)."""
    r = estimate_training(TrainingSpec(params=70e9, tokens=2e12, gpu="A100-80GB", mfu=0.4, gpus=32), CATALOG)
    q = quoted_price(r, 1.75)
    assert q.height == 1 and q["total_cost_usd"][0] == pytest.approx(r.gpu_hours * 1.75)
    assert quoted_price(r, 1.0, pricing="spot")["total_cost_usd"][0] == pytest.approx(r.gpu_hours * 1.1)


# -- inference -------------------------------------------------------------------------------------

def test_decode_batch1_is_bandwidth_bound_baseten():
    """Baseten: 7B fp16 at batch 1 reads 14 GB per token: A100-80GB 2,039 GB/s -> ~6.9 ms, A10 -> ~23 ms, T4 -> ~46 ms."""
    for bw, expected_ms in ((2.039, 6.87), (0.6, 23.3), (0.3, 46.7)):
        t, bound = decode_step_seconds(14e9, 0, 1, 7e9, bw, 312, memory_efficiency=1.0)
        assert bound == "memory bandwidth"
        assert t * 1e3 == pytest.approx(expected_ms, rel=0.01)


def test_decode_turns_compute_bound_at_large_batch():
    """Step time = max(memory, compute): a large batch of a 7B model on an A10 is compute-bound."""
    t, bound = decode_step_seconds(14e9, 0, 4096, 7e9, 0.6, 125, memory_efficiency=1.0, flops_efficiency=1.0)
    assert bound == "compute"
    assert t == pytest.approx(2 * 7e9 * 4096 / 125e12)


def test_prefill_is_compute_bound():
    """2 x N x prompt / (peak x mfu): 70B, 1,000 tokens, A100 at 0.5 -> 1.4e14 / 1.56e14 = 0.897 s."""
    assert prefill_seconds(70e9, 1000, 312, 0.5) == pytest.approx(1.4e14 / 1.56e14)


def test_weight_and_kv_memory():
    """Weights 70B x 2 = 140 GB (int4: 35 GB); KV per token Llama-3-70B GQA = 327,680 B (gpu-math.md),
    Llama-2-7B MHA = 524,288 B."""
    llama70 = InferenceSpec.from_preset(get_preset("llama-3.1-70b"))
    assert llama70.weight_bytes == pytest.approx(140e9)
    assert replace(llama70, weight_precision="int4").weight_bytes == pytest.approx(35e9)
    assert llama70.kv_bytes_per_token == 327_680
    assert InferenceSpec(params=7e9, n_layers=32, n_kv_heads=32, head_dim=128).kv_bytes_per_token == 524_288


def test_gpus_per_replica_from_memory():
    """70B fp16 plus one 2,048-token sequence, x1.2 = 168.8 GB -> at least 3 A100-80GB."""
    spec = InferenceSpec.from_preset(get_preset("llama-3.1-70b"), gpu="A100-80GB")
    r = estimate_inference(spec, CATALOG)
    assert r.min_gpus_per_replica == math.ceil(1.2 * (140e9 + 327_680 * 2048) / 80e9) == 3
    assert r.gpus_per_replica >= 3
    used = 1.2 * (r.weight_bytes + r.batch_size * r.kv_bytes_per_sequence)
    assert used <= r.gpus_per_replica * 80e9


def test_latency_target_limits_batch():
    """A tight per-token target caps the batch; the chosen batch meets it."""
    loose = estimate_inference(InferenceSpec.from_preset(get_preset("llama-3.1-8b"), gpu="A100-80GB"), CATALOG)
    tight = estimate_inference(
        InferenceSpec.from_preset(get_preset("llama-3.1-8b"), gpu="A100-80GB", max_ms_per_output_token=15), CATALOG
    )
    assert tight.batch_limited_by == "latency"
    assert tight.decode_step_seconds * 1e3 <= 15
    assert tight.batch_size < loose.batch_size


def test_replicas_for_peak_not_average():
    """Capacity is provisioned for the peak: replicas = ceil(peak / per-replica rate); average
    utilisation = avg / capacity; the peak premium is the cost over a peak == average fleet."""
    spec = InferenceSpec.from_preset(get_preset("llama-3.1-8b"), gpu="A10-24GB", avg_rps=2, peak_rps=10)
    r = estimate_inference(spec, CATALOG)
    rate = r.requests_per_second_per_replica
    assert r.replicas == math.ceil(10 / rate)
    assert r.baseline_replicas == math.ceil(2 / rate)
    assert r.replicas > r.baseline_replicas
    assert r.average_utilisation == pytest.approx(2 / (r.replicas * rate))
    cost = cost_at_price(r, 1.0)
    assert cost["peak_premium_usd_per_month"] == pytest.approx((r.total_gpus - r.baseline_gpus) * 730)
    flat = estimate_inference(replace(spec, peak_rps=2), CATALOG)
    assert cost_at_price(flat, 1.0)["peak_premium_usd_per_month"] == 0


def test_cost_per_million_tokens_hand_checked():
    """$/h = GPUs x price; tokens/h = avg rps x (prompt + output) x 3600.
    1 rps x 2,048 tokens -> 7,372,800 tokens/h; at $1/GPU-h: $/1M = GPUs / 7.3728."""
    spec = InferenceSpec.from_preset(get_preset("llama-3.1-8b"), gpu="A100-80GB", avg_rps=1)
    r = estimate_inference(spec, CATALOG)
    cost = cost_at_price(r, 1.0)
    assert cost["usd_per_hour"] == r.total_gpus
    assert cost["usd_per_month"] == r.total_gpus * 730
    assert cost["usd_per_million_tokens"] == pytest.approx(r.total_gpus / 7.3728)
    assert cost["usd_per_million_output_tokens"] == pytest.approx(r.total_gpus / 3.6864)
    q = quoted_inference(r, 1.0)
    assert q["usd_per_million_tokens"][0] == pytest.approx(cost["usd_per_million_tokens"])


def test_inference_offers_and_gpu_type_ranking():
    """Offers of the GPU are priced per instance (whole replicas per instance), and ranking by GPU
    type keeps the cheapest offer of each type."""
    spec = InferenceSpec.from_preset(get_preset("llama-3.1-8b"), avg_rps=1)
    offers = offers_frame([
        ("test-provider-a", "a100x8", "on_demand", "A100-80GB", 8, 1.0),
        ("test-provider-b", "a100x1", "on_demand", "A100-80GB", 1, 1.5),
        ("test-provider-c", "a10x1", "on_demand", "A10-24GB", 1, 0.5),
        ("test-provider-d", "unknown", "on_demand", "NOSPEC-GPU", 1, 0.01),
    ])
    r = estimate_inference(replace(spec, gpu="A100-80GB"), CATALOG)
    priced = price_inference_offers(r, offers)
    assert priced["provider"].to_list() == ["test-provider-b", "test-provider-a"]  # 1 x $1.5 < 8 x $1
    ranking, skipped = rank_gpu_types(spec, CATALOG, offers)
    assert ranking["gpu"].to_list()[0] == "A10-24GB"
    assert ranking.filter(pl.col("gpu") == "A100-80GB")["provider"][0] == "test-provider-b"
    assert any("NOSPEC-GPU" in s for s in skipped)


# -- metrics ----------------------------------------------------------------------------------------

def test_add_cost_metrics_hand_checked():
    """$2/h, 312 TFLOPS x 0.4 x 1.0 = 124.8 effective: $0.016026/TFLOP-h, $4.4516 per 1e18 FLOPs,
    $0.025/GB-h on 80 GB; zero or missing inputs give nulls, not inf."""
    frame = pl.DataFrame({
        "price_usd_per_gpu_hour": [2.0, 2.0, 2.0],
        "dense_tflops": [312.0, 0.0, None],
        "utilisation": [0.4, 0.4, 0.4],
        "scaling_efficiency": [1.0, 1.0, 1.0],
        "gpu_memory_gb": [80.0, 0.0, 80.0],
    })
    out = add_cost_metrics(frame)
    first = out.row(0, named=True)
    assert first["effective_tflops"] == pytest.approx(124.8)
    assert first["usd_per_effective_tflop_hour"] == pytest.approx(2 / 124.8)
    assert first["usd_per_exaflop"] == pytest.approx(2 / (124.8e12 * 3600) * 1e18)
    assert first["usd_per_exaflop"] == pytest.approx(4.4516, rel=1e-4)
    assert first["usd_per_gb_hour"] == pytest.approx(0.025)
    assert out["effective_tflops"][1] is None and out["usd_per_gb_hour"][1] is None
    assert out["usd_per_exaflop"][2] is None
    plain = add_cost_metrics(frame.drop("utilisation", "scaling_efficiency"), utilisation=0.4, scaling_efficiency=1.0)
    assert plain["effective_tflops"][0] == pytest.approx(124.8)


# -- presets ----------------------------------------------------------------------------------------

def test_presets_have_sources_and_moe_active_params():
    """Every preset names its source; MoE presets carry active params (Mixtral 12.9B, DeepSeek-V3 37B)."""
    for preset in PRESETS.values():
        assert preset.source_url.startswith("https://")
        assert 0 < preset.active_params <= preset.params
    assert get_preset("Mixtral-8x7B").active_params == 12.9e9
    deepseek = get_preset("deepseek_v3")
    assert (deepseek.params, deepseek.active_params) == (671e9, 37e9)
    assert deepseek.kv_elements_per_token == 61 * 576  # MLA latent, not 2 x heads x dim


# -- errors -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(params=0), "params must be a positive"),
        (dict(params=-1e9), "e.g. 70e9"),
        (dict(params=70e9, tokens=0), "tokens must be positive"),
        (dict(params=70e9, tokens=-5), "compute-optimal"),
        (dict(params=7e9, active_params=8e9), "exceed total params"),
        (dict(params=70e9, mfu=1.5), "fraction in (0, 1]"),
        (dict(params=70e9, gpus=8, deadline_days=3), "not both"),
        (dict(params=70e9, precision="fp4"), "use one of"),
    ],
)
def test_invalid_training_inputs(kwargs, fragment):
    """Impossible inputs are refused up front with a message naming a valid alternative."""
    with pytest.raises(EstimateError, match=None) as err:
        TrainingSpec(gpu="A100-80GB", **kwargs)
    assert fragment in str(err.value)


def test_too_few_gpus_says_how_many_and_suggests_larger_gpu():
    """70B on 8 x A10: the message gives the requirement, the minimum, a --gpus value and larger GPUs."""
    with pytest.raises(EstimateError) as err:
        estimate_training(TrainingSpec(params=70e9, tokens=2e12, gpu="A10-24GB", gpus=8), CATALOG)
    msg = str(err.value)
    assert "1.12 TB" in msg and ">= 59 GPUs" in msg and "--gpus 64" in msg
    assert "A100-80GB >= 18" in msg


def test_unmeetable_deadline_names_the_time_it_would_take():
    """A deadline no cluster up to 100k GPUs meets says how long the largest would take."""
    with pytest.raises(EstimateError) as err:
        estimate_training(TrainingSpec(params=405e9, tokens=15e12, gpu="T4-16GB", precision="fp16", deadline_days=1), CATALOG)
    msg = str(err.value)
    assert "100,000 GPUs" in msg and "--deadline-days" in msg


def test_training_state_beyond_max_cluster():
    """A model whose state needs more than 100k GPUs of this type is refused, with larger GPUs suggested."""
    with pytest.raises(EstimateError) as err:
        estimate_training(TrainingSpec(params=100e12, tokens=1e12, gpu="T4-16GB", precision="fp16", gpus=8), CATALOG)
    assert "largest cluster" in str(err.value) and "A100-80GB" in str(err.value)


def test_unknown_gpu_and_missing_precision():
    """An unknown GPU lists the known ones; a precision the GPU lacks lists the ones it has."""
    with pytest.raises(EstimateError, match="known GPUs: A10-24GB, A100-80GB"):
        estimate_training(TrainingSpec(params=7e9, gpu="B999"), CATALOG)
    with pytest.raises(EstimateError, match="no published dense fp8.*bf16"):
        estimate_training(TrainingSpec(params=7e9, gpu="A100-80GB", precision="fp8", gpus=8), CATALOG)


def test_model_that_fits_no_gpu_for_inference():
    """DeepSeek-V3 in fp16 (1.34 TB) needs more than 64 T4s per replica: refused, suggesting lower precision."""
    spec = InferenceSpec.from_preset(get_preset("deepseek-v3"), gpu="T4-16GB")
    with pytest.raises(EstimateError) as err:
        estimate_inference(spec, CATALOG)
    assert "more memory" in str(err.value) and "--weight-precision" in str(err.value)
    offers = offers_frame([("test-provider-a", "t4", "on_demand", "T4-16GB", 1, 0.3)])
    with pytest.raises(EstimateError, match="no GPU type with offers can serve"):
        rank_gpu_types(replace(spec, gpu=None), CATALOG, offers)


def test_unmeetable_latency_target():
    """A per-token target below what bandwidth allows says what the fastest replica achieves."""
    spec = InferenceSpec.from_preset(get_preset("llama-3.1-70b"), gpu="A10-24GB", max_ms_per_output_token=0.5)
    with pytest.raises(EstimateError, match="--latency-ms-per-token"):
        estimate_inference(spec, CATALOG)


def test_inference_needs_a_model_shape():
    """Without layers / KV heads / head dim the KV cache is unknown: ask for a preset."""
    with pytest.raises(EstimateError, match="--preset"):
        InferenceSpec(params=70e9)
    with pytest.raises(EstimateError, match="peak"):
        InferenceSpec.from_preset(get_preset("mistral-7b"), avg_rps=5, peak_rps=1)


def test_costmodel_stays_pure():
    """costmodel is imported by the dashboard and the pipeline alike: nothing heavier than polars."""
    import ast
    from pathlib import Path

    import costmodel

    forbidden = {"duckdb", "dagster", "streamlit", "warehouse", "connectors", "pipelines", "dashboards", "httpx"}
    for path in Path(costmodel.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                for module in modules:
                    assert module.split(".")[0] not in forbidden, f"{path.name} imports {module}"
