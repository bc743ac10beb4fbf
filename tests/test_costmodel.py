"""Training plans a team could book, checked against arithmetic worked by hand.

`costmodel.training` is shared by the CLI, the dashboard and the calibration document, so a slip
shows up everywhere at once. These pin the issue-9 contract: a plan is whole nodes of one offer
priced at the instance price; more than one node only on a known inter-node fabric; a user's MFU
is used exactly (no second multiplication); without a cluster size the plan is the fewest nodes
that finish within the deadline; warnings for long runs and beyond list-price capacity; errors
carry a reason and values and name no CLI flag.

GPU figures are the dense datasheet values of reference/gpu-math.md §3. The offers are made up
for the arithmetic ("test-provider-*"): they are not market prices.
"""

from __future__ import annotations

import math
from dataclasses import replace

import polars as pl
import pytest

from costmodel.assumptions import Assumptions
from costmodel.errors import EstimateError
from costmodel.gpus import GpuSpec
from costmodel.nodes import NodeShape, shape_of
from costmodel.offers import bookable_offers, one_quote_per_offer, with_node_facts
from costmodel.training import (
    DEFAULT_DEADLINE_DAYS,
    LIST_PRICE_CAPACITY_GPUS,
    TrainingSpec,
    compute_gpu_hours,
    plan_on,
    plans_frame,
    quoted_offer,
    rank_plans,
    training_compute,
)

A100 = GpuSpec("A100-SXM-80GB", 80, 2.039, {"bf16": 312, "fp16": 312, "tf32": 156, "fp32": 19.5}, "nvswitch",
               architecture="Ampere")
H100 = GpuSpec("H100-SXM-80GB", 80, 3.35, {"bf16": 989.5, "fp16": 989.5, "fp8": 1979, "tf32": 495, "fp32": 67},
               "nvswitch", architecture="Hopper")
ASSUMED = Assumptions()  # the packaged table


def offer(instance, gpus, usd_per_hour, fabric="infiniband", link="nvswitch", pricing="on_demand",
          provider="test-provider-a", region="r1", source="test-src", gpu="A100-SXM-80GB") -> dict:
    return dict(provider=provider, region=region, instance_type=instance, pricing=pricing, gpu=gpu,
                gpu_count=float(gpus), price_usd_per_hour=usd_per_hour, price_usd_per_gpu_hour=usd_per_hour / gpus,
                intra_node_link=link, inter_node_fabric=fabric, source=source, source_url="https://example.test/o")


LLAMA2_70B = dict(params=70e9, tokens=2e12)


def test_user_mfu_is_used_exactly_and_gives_the_published_gpu_hours():
    """Llama 2 70B: 1,720,320 A100-hours at 43.47 % MFU. --mfu 0.4347 must give them back, on any cluster."""
    spec = TrainingSpec(**LLAMA2_70B, mfu=0.4347)
    for gpus in (None, 24, 512, 4096):
        plan = plan_on(replace(spec, gpus=gpus), training_compute(spec, A100), offer("x8", 8, 32.0), ASSUMED)
        assert plan.mfu_used == 0.4347
        assert plan.gpu_hours == pytest.approx(1_720_320, rel=0.005)
        assert plan.gpu_hours == pytest.approx(8.4e23 / (312e12 * 0.4347 * 3600), rel=1e-12)


def test_plan_is_whole_nodes_priced_at_the_instance_price():
    """--gpus 100 on 8-GPU nodes rents 13 instances (104 GPUs) and pays 13 x the instance's $/h."""
    spec = TrainingSpec(**LLAMA2_70B, mfu=0.4, gpus=100)
    plan = plan_on(spec, training_compute(spec, A100), offer("x8", 8, 24.0), ASSUMED)
    assert (plan.nodes, plan.gpus_per_node, plan.gpus) == (13, 8, 104)
    hours = 8.4e23 / (312e12 * 0.4 * 3600)
    assert plan.days == pytest.approx(hours / 104 / 24)
    assert plan.total_cost_usd == pytest.approx(13 * 24.0 * plan.days * 24)
    assert plan.usd_per_million_tokens == pytest.approx(plan.total_cost_usd / 2e12 * 1e6)


def test_default_plan_is_the_fewest_nodes_within_the_default_deadline():
    """No cluster size: 30 days. One node fewer must miss the deadline."""
    spec = TrainingSpec(**LLAMA2_70B, mfu=0.4347)
    compute = training_compute(spec, A100)
    plan = plan_on(spec, compute, offer("x8", 8, 32.0), ASSUMED)
    assert spec.deadline == DEFAULT_DEADLINE_DAYS == 30
    assert plan.sized_by == "deadline"
    assert plan.days <= 30
    smaller = plan_on(replace(spec, gpus=plan.gpus - 8), compute, offer("x8", 8, 32.0), ASSUMED)
    assert smaller.days > 30
    assert plan.nodes == math.ceil(1_720_320 / (30 * 24) / 8)  # 299 nodes


def test_table_mfu_comes_from_the_published_run_with_no_penalty_for_8_gpus():
    """A 70B model on H100 takes Llama 3.1 70B's end-to-end MFU; a 3B model on 1 GPU, one 8-GPU node
    and 8 nodes uses one and the same value: nothing charges a node for having 8 GPUs."""
    seventy = TrainingSpec(params=70e9, tokens=1e12, gpus=1024)
    plan = plan_on(seventy, training_compute(seventy, H100), offer("x8", 8, 32.0, gpu="H100-SXM-80GB"), ASSUMED)
    assert plan.mfu_used == pytest.approx(0.2527) and plan.mfu_scale_factor == 1.0
    assert "Llama 3.1 70B" in plan.mfu_source
    small = TrainingSpec(params=3e9, tokens=1e11)
    compute = training_compute(small, H100)
    one = plan_on(replace(small, gpus=1), compute,
                  offer("x1", 1, 4.0, fabric="none", link="none", gpu="H100-SXM-80GB"), ASSUMED)
    eight = plan_on(replace(small, gpus=8), compute, offer("x8", 8, 32.0, gpu="H100-SXM-80GB"), ASSUMED)
    many = plan_on(replace(small, gpus=64), compute, offer("x8", 8, 32.0, gpu="H100-SXM-80GB"), ASSUMED)
    assert one.mfu_used == eight.mfu_used == many.mfu_used
    assert eight.gpu_hours == pytest.approx(one.gpu_hours)  # same work, spread over more GPUs
    assert eight.days == pytest.approx(one.days / 8)


def test_extrapolation_beyond_the_measured_size_is_explicit():
    """BLOOM measured 384 A100s: a 3,072-GPU A100 plan gets 41/43 per doubling beyond it, and says so."""
    spec = TrainingSpec(params=176e9, tokens=366e9, gpus=3072)
    plan = plan_on(spec, training_compute(spec, A100), offer("x8", 8, 32.0), ASSUMED)
    factor = 0.9535 ** math.log2(3072 / 384)
    assert plan.mfu_scale_factor == pytest.approx(factor)
    assert plan.mfu_used == pytest.approx(plan.mfu_table * factor)
    assert "extrapolated_mfu" in [w.code for w in plan.warnings]


def test_multi_node_needs_a_known_fabric():
    """Unknown and 'none' fabrics cannot form a cluster; a single node of them still can."""
    spec = TrainingSpec(**LLAMA2_70B, mfu=0.4, gpus=64)
    compute = training_compute(spec, A100)
    for fabric in (None, "none"):
        with pytest.raises(EstimateError) as caught:
            plan_on(spec, compute, offer("x8", 8, 32.0, fabric=fabric), ASSUMED)
        assert caught.value.reason == "needs_fabric" and caught.value.values["nodes"] == 8
    small = TrainingSpec(params=7e9, tokens=1e11, mfu=0.4, gpus=8)
    single = plan_on(small, training_compute(small, A100), offer("x8", 8, 32.0, fabric=None), ASSUMED)
    assert single.nodes == 1


def test_ranked_plans_keep_only_nodes_that_can_cluster_and_drop_fractional_offers():
    """The 405B case: only 8-GPU nodes with a fabric are ranked; 1-GPU VMs and shares are left out."""
    offers = [
        offer("vm-1gpu", 1, 2.0, fabric="none", link="none", gpu="H100-SXM-80GB"),
        offer("share", 0.5, 1.0, fabric="none", link="none", gpu="H100-SXM-80GB"),
        offer("hgx-ib", 8, 24.0, gpu="H100-SXM-80GB"),
        offer("hgx-unknown", 8, 16.0, fabric=None, gpu="H100-SXM-80GB"),
        offer("hgx-efa", 8, 30.0, fabric="efa", provider="test-provider-b", gpu="H100-SXM-80GB"),
    ]
    ranked = rank_plans(TrainingSpec(params=405e9, tokens=15e12), H100, offers, ASSUMED)
    assert [p.instance_type for p in ranked.plans] == ["hgx-ib", "hgx-efa"]
    assert all(p.gpus_per_node == 8 and p.inter_node_fabric in ("infiniband", "efa") for p in ranked.plans)
    assert {item.reason for item in ranked.left_out} == {"needs_fabric", "fractional_gpu"}
    assert [p.total_cost_usd for p in ranked.plans] == sorted(p.total_cost_usd for p in ranked.plans)


def test_same_instance_in_many_regions_is_one_plan():
    offers = [offer("x8", 8, 24.0, region=r) for r in ("us-east", "eu-west", "ap-south")]
    ranked = rank_plans(TrainingSpec(**LLAMA2_70B, mfu=0.4), A100, offers, ASSUMED)
    assert len(ranked.plans) == 1 and ranked.plans[0].region == "ap-south"


def test_warnings_for_long_runs_and_beyond_list_price_capacity():
    spec = TrainingSpec(**LLAMA2_70B, mfu=0.4, gpus=64)
    long_run = plan_on(spec, training_compute(spec, A100), offer("x8", 8, 32.0), ASSUMED)
    assert long_run.days > 180 and "long_run" in [w.code for w in long_run.warnings]
    big = plan_on(replace(spec, gpus=4096), training_compute(spec, A100), offer("x8", 8, 32.0), ASSUMED)
    assert big.gpus > LIST_PRICE_CAPACITY_GPUS and "beyond_list_capacity" in [w.code for w in big.warnings]
    modest = plan_on(replace(spec, gpus=2048), training_compute(spec, A100), offer("x8", 8, 32.0), ASSUMED)
    assert "beyond_list_capacity" not in [w.code for w in modest.warnings]


def test_spot_is_marked_interruptible_and_pays_the_allowance():
    spec = TrainingSpec(**LLAMA2_70B, mfu=0.4, gpus=512, pricing=None)
    compute = training_compute(spec, A100)
    steady = plan_on(spec, compute, offer("x8", 8, 32.0), ASSUMED)
    spot = plan_on(spec, compute, offer("x8", 8, 32.0, pricing="spot"), ASSUMED)
    assert spot.interruptible and not steady.interruptible
    assert spot.days == pytest.approx(steady.days * 1.10)
    assert spot.total_cost_usd == pytest.approx(steady.total_cost_usd * 1.10)
    assert "interruptible" in [w.code for w in spot.warnings]


def test_memory_minimum_error_carries_values_and_no_cli_flag():
    """70B needs 1.12 TB of training state: 18 A100-80GB at 64 GB usable; 16 asked for."""
    spec = TrainingSpec(**LLAMA2_70B, mfu=0.4, gpus=16)
    compute = training_compute(spec, A100)
    assert compute.min_gpus == 18
    with pytest.raises(EstimateError) as caught:
        plan_on(spec, compute, offer("x8", 8, 32.0), ASSUMED)
    assert caught.value.reason == "too_few_gpus_for_memory"
    assert caught.value.values["min_gpus_whole_nodes"] == 24
    assert "--" not in str(caught.value)


def test_deadline_no_cluster_can_meet_says_the_best_days():
    spec = TrainingSpec(params=405e9, tokens=1e15, deadline_days=1.0)
    with pytest.raises(EstimateError) as caught:
        plan_on(spec, training_compute(spec, H100), offer("x8", 8, 32.0, gpu="H100-SXM-80GB"), ASSUMED)
    assert caught.value.reason == "deadline_unreachable"
    assert caught.value.values["best_days"] > 1.0
    assert "--" not in str(caught.value)


@pytest.mark.parametrize("field, value", [("params", 0), ("params", -5), ("tokens", 0), ("mfu", 1.5), ("gpus", 0),
                                          ("deadline_days", -1), ("precision", "int3")])
def test_impossible_inputs_raise_with_the_field(field, value):
    kwargs = dict(params=7e9, tokens=1e12)
    kwargs[field] = value
    with pytest.raises(EstimateError) as caught:
        TrainingSpec(**kwargs)
    assert caught.value.reason == "invalid_input" and caught.value.values["field"] == field
    assert "--" not in str(caught.value)


def test_quoted_price_is_a_node_that_clusters():
    spec = TrainingSpec(**LLAMA2_70B, mfu=0.4, gpus=64)
    plan = plan_on(spec, training_compute(spec, A100), quoted_offer("A100-SXM-80GB", 1.25, "on_demand"), ASSUMED)
    assert plan.nodes == 8 and plan.price_usd_per_gpu_hour == 1.25
    assert plan.total_cost_usd == pytest.approx(64 * 1.25 * plan.days * 24)


def test_moe_uses_active_params_for_flops_and_total_for_memory():
    spec = TrainingSpec(params=46.7e9, active_params=12.9e9, tokens=1e12, mfu=0.4, gpus=64)
    compute = training_compute(spec, H100)
    assert compute.total_flops == pytest.approx(6 * 12.9e9 * 1e12)
    assert compute.state_bytes == pytest.approx(46.7e9 * 16)
    assert compute_gpu_hours(compute, 0.4) == pytest.approx(6 * 12.9e9 * 1e12 / (989.5e12 * 0.4 * 3600))


def test_plans_frame_has_the_booking_columns():
    ranked = rank_plans(TrainingSpec(**LLAMA2_70B, mfu=0.4), A100, [offer("x8", 8, 24.0)], ASSUMED)
    frame = plans_frame(ranked.plans)
    for column in ("provider", "instance_type", "nodes", "gpus_per_node", "gpus", "days", "total_cost_usd",
                   "usd_per_million_tokens", "pricing", "interruptible", "inter_node_fabric"):
        assert column in frame.columns


# -- offers ----------------------------------------------------------------------------------------

def test_the_same_offer_from_three_sources_counts_once_direct_first():
    rows = [offer("gpu_8x_h100", 8, 24.0 + i, provider="lambda", source=s) | {"gpu": "H100-SXM-80GB"}
            for i, s in enumerate(["skypilot", "lambda_cloud", "gpuhunt"])]
    frame = pl.DataFrame(rows)
    assert one_quote_per_offer(frame)["source"].to_list() == ["lambda_cloud"]
    kinds = {"skypilot": "aggregator", "gpuhunt": "aggregator", "lambda_cloud": "direct"}
    assert one_quote_per_offer(frame, kinds)["source"].to_list() == ["lambda_cloud"]
    aggregators_only = frame.filter(pl.col("source") != "lambda_cloud")
    assert one_quote_per_offer(aggregators_only)["source"].to_list() == ["gpuhunt"]


class RoceNode:
    intra_node_link, inter_node_fabric = "nvswitch", "roce"


def only_a_is_known(provider: str, instance: str):
    return RoceNode() if instance == "a" else None


def test_node_facts_come_from_the_instance_tables_and_offers_win():
    frame = pl.DataFrame([{"provider": "p", "instance_type": "a", "gpu_count": 8.0},
                          {"provider": "p", "instance_type": "b", "gpu_count": 8.0},
                          {"provider": "p", "instance_type": "c", "gpu_count": 8.0, "inter_node_fabric": "efa"}])
    filled = with_node_facts(frame, only_a_is_known)
    assert filled.filter(pl.col("instance_type") == "c")["inter_node_fabric"][0] == "efa"
    assert filled.filter(pl.col("instance_type") == "a")["inter_node_fabric"][0] == "roce"
    assert filled.filter(pl.col("instance_type") == "b")["inter_node_fabric"][0] is None


def test_bookable_offers_need_whole_gpus_and_a_price():
    frame = pl.DataFrame([offer("x8", 8, 24.0), offer("half", 0.5, 1.0), offer("free", 8, 0.0),
                          offer("x1.5", 1.5, 3.0)])
    assert bookable_offers(frame, "A100-SXM-80GB", "on_demand")["instance_type"].to_list() == ["x8"]


def test_node_shapes():
    assert shape_of({"gpu_count": 0.25}) is None
    pcie = NodeShape(4, "pcie", None)
    assert pcie.nvlink_domain == 1 and not pcie.can_cluster
    hgx = NodeShape(8, "nvswitch", "infiniband")
    assert hgx.nvlink_domain == 8 and hgx.can_cluster
