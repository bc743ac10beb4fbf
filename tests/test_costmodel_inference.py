"""Serving fleets that fit the hardware, and what their tokens cost.

Why: the old model built replicas of 3, 6, 7, 11, 13 and 21 GPUs and overstated MI300X several
times. These pin the issue-9 rules: tensor parallelism is 1, 2, 4 or 8 inside one NVLink domain
(one GPU on a PCIe node); pipeline stages appear only when the model does not fit otherwise and
span nodes only on a known fabric; memory is the weights plus the KV cache of every sequence at
its context; decode at batch 1 is bound by memory bandwidth; replicas are bought for the peak and
paid for at the average; input and output tokens are priced separately; absurd loads are
refused with the field named.

GPU figures are dense datasheet values (reference/gpu-math.md §3); offers are made up.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from costmodel.assumptions import Assumptions
from costmodel.errors import EstimateError
from costmodel.gpus import GpuSpec
from costmodel.inference import (
    TP_DEGREES,
    ServingSpec,
    best_fleet,
    decode_step,
    efficiencies_for,
    plan_on,
    rank_plans,
    replica_layouts,
    replica_rates,
)
from costmodel.nodes import NodeShape
from costmodel.presets import PRESETS

H100 = GpuSpec("H100-SXM-80GB", 80, 3.35, {"bf16": 989.5, "fp16": 989.5, "fp8": 1979}, architecture="Hopper")
L40S = GpuSpec("L40S-48GB", 48, 0.864, {"bf16": 362, "fp16": 362, "fp8": 733}, architecture="Ada Lovelace")
ASSUMED = Assumptions()
LLAMA70 = ServingSpec.from_preset(PRESETS["llama-3.1-70b"], avg_rps=2.0, peak_rps=6.0)


def offer(instance, gpus, usd_per_hour, link="nvswitch", fabric="infiniband", gpu="H100-SXM-80GB", pricing="on_demand"):
    return dict(provider="test-provider-a", region="r1", instance_type=instance, pricing=pricing, gpu=gpu,
                gpu_count=float(gpus), price_usd_per_hour=usd_per_hour, intra_node_link=link, inter_node_fabric=fabric,
                source="test-src", source_url="https://example.test/o")


def test_replicas_use_tp_1_2_4_8_inside_the_nvlink_domain():
    sizes = set()
    for rps in (0.5, 3, 17, 120):
        for shape in (NodeShape(8, "nvswitch", "infiniband"), NodeShape(4, "nvswitch", None)):
            fleet = best_fleet(replace(LLAMA70, avg_rps=rps, peak_rps=rps * 2), H100, shape, ASSUMED)
            sizes.add(fleet.replica.gpus)
            assert fleet.replica.tp in TP_DEGREES and fleet.replica.tp <= shape.nvlink_domain
    assert sizes <= {1, 2, 4, 8}


def test_a_pcie_node_has_no_tensor_parallelism_and_pipelines_only_when_needed():
    """70B fp16 (140 GB) does not fit one 48 GB L40S: 4 pipeline stages of one GPU each on a PCIe node."""
    shape = NodeShape(8, "pcie", None)
    layouts = replica_layouts(LLAMA70, L40S, shape)
    assert {tp for tp, _ in layouts} == {1}
    fleet = best_fleet(LLAMA70, L40S, shape, ASSUMED)
    assert fleet.replica.tp == 1 and fleet.replica.pp >= 4
    small = ServingSpec.from_preset(PRESETS["llama-3.1-8b"])
    assert replica_layouts(small, L40S, shape) == [(1, 1)]  # fits one GPU: no tensor split, no stages
    assert {tp for tp, _ in replica_layouts(small, H100, NodeShape(8, "nvswitch", None))} == {1, 2, 4, 8}


def test_pipeline_stages_span_nodes_only_on_a_known_fabric():
    big = ServingSpec.from_preset(PRESETS["llama-3.1-405b"])  # 810 GB of fp16 weights > one 8 x 80 GB node
    with pytest.raises(EstimateError) as caught:
        best_fleet(big, H100, NodeShape(8, "nvswitch", None), ASSUMED)
    assert caught.value.reason == "model_does_not_fit"
    fleet = best_fleet(big, H100, NodeShape(8, "nvswitch", "infiniband"), ASSUMED)
    assert fleet.replica.gpus % 8 == 0 and fleet.replica.gpus > 8 and fleet.replica.tp == 8


def test_memory_is_weights_plus_kv_for_context_times_batch():
    spec = replace(LLAMA70, prompt_tokens=1000, output_tokens=1000)
    fleet = best_fleet(spec, H100, NodeShape(8, "nvswitch", "infiniband"), ASSUMED)
    kv_per_sequence = 80 * 2 * 8 * 128 * 2 * 2000  # layers x (K, V) x kv heads x head dim x bytes x context
    room = fleet.replica.gpus * 80e9 * 0.9 - 140e9
    assert fleet.replica.batch <= room // kv_per_sequence
    longer = replace(spec, context_length=16000)
    assert best_fleet(longer, H100, NodeShape(8, "nvswitch", "infiniband"), ASSUMED).replica.batch < fleet.replica.batch


def test_decode_at_batch_one_is_memory_bound_and_batching_buys_throughput():
    eff = efficiencies_for(LLAMA70, H100, ASSUMED)
    rates = replica_rates(H100, "bf16", eff, 2, 1)
    step, bound = decode_step(LLAMA70, rates, 1)
    assert bound == "memory bandwidth"
    assert step >= 140e9 / rates.bandwidth
    big_step, _ = decode_step(LLAMA70, rates, 64)
    assert 64 / big_step > 10 / step


def test_replicas_for_the_peak_cost_at_the_average():
    shape_offer = offer("x8", 8, 32.0)
    flat = plan_on(replace(LLAMA70, peak_rps=2.0), H100, shape_offer, ASSUMED)
    spiky = plan_on(LLAMA70, H100, shape_offer, ASSUMED)
    assert spiky.replicas >= flat.replicas and spiky.usd_per_month >= flat.usd_per_month
    assert spiky.average_utilisation < flat.average_utilisation
    assert spiky.usd_per_month == pytest.approx(spiky.nodes * 32.0 * 730)
    assert spiky.peak_premium_usd_per_month == pytest.approx(spiky.usd_per_month - spiky.baseline_usd_per_month)


def test_input_and_output_tokens_are_priced_separately_and_add_up():
    plan = plan_on(LLAMA70, H100, offer("x8", 8, 32.0), ASSUMED)
    input_per_hour = LLAMA70.avg_rps * LLAMA70.prompt_tokens * 3600
    output_per_hour = LLAMA70.avg_rps * LLAMA70.output_tokens * 3600
    total = (plan.usd_per_million_input_tokens * input_per_hour + plan.usd_per_million_output_tokens * output_per_hour) / 1e6
    assert total == pytest.approx(plan.usd_per_hour)
    assert plan.usd_per_million_output_tokens > plan.usd_per_million_input_tokens  # decode dominates


def test_the_bill_is_whole_instances_at_the_instance_price():
    small = ServingSpec.from_preset(PRESETS["llama-3.1-8b"], avg_rps=2.0, peak_rps=6.0)
    one = plan_on(small, H100, offer("x1", 1, 4.0, link="none", fabric="none"), ASSUMED)
    assert one.gpus_per_node == 1 and one.tp == 1 and one.usd_per_hour == pytest.approx(one.nodes * 4.0)


def test_fractional_and_unclusterable_offers_are_left_out_with_reasons():
    big = ServingSpec.from_preset(PRESETS["llama-3.1-405b"])
    ranked = rank_plans(big, H100, [offer("share", 0.5, 1.0, link="none", fabric="none"),
                                    offer("hgx-no-fabric", 8, 32.0, fabric=None),
                                    offer("hgx-ib", 8, 40.0)], ASSUMED)
    assert [p.instance_type for p in ranked.plans] == ["hgx-ib"]
    assert {i.reason for i in ranked.left_out} == {"fractional_gpu", "model_does_not_fit"}


@pytest.mark.parametrize("field, kwargs", [
    ("average requests/s", dict(avg_rps=1e12)),
    ("average requests/s", dict(avg_rps=0.0)),
    ("peak requests/s", dict(avg_rps=5.0, peak_rps=1.0)),
    ("params", dict(params=-1.0)),
    ("prompt/output tokens", dict(output_tokens=0)),
])
def test_absurd_inputs_are_refused_naming_the_field(field, kwargs):
    with pytest.raises(EstimateError) as caught:
        replace(LLAMA70, **kwargs)
    assert caught.value.reason == "invalid_input" and caught.value.values["field"] == field
    assert "--" not in str(caught.value)


def test_a_fleet_beyond_the_priced_maximum_is_refused_with_values():
    with pytest.raises(EstimateError) as caught:
        best_fleet(replace(LLAMA70, avg_rps=200_000.0, peak_rps=200_000.0), H100, NodeShape(8, "nvswitch", "infiniband"),
                   ASSUMED)
    assert caught.value.reason == "fleet_too_large" and caught.value.values["gpus"] > 100_000


def test_a_latency_target_limits_the_batch():
    free = best_fleet(LLAMA70, H100, NodeShape(8, "nvswitch", "infiniband"), ASSUMED)
    tight = best_fleet(replace(LLAMA70, max_ms_per_output_token=free.replica.seconds_per_output_token * 1e3 / 2), H100,
                       NodeShape(8, "nvswitch", "infiniband"), ASSUMED)
    assert tight.replica.seconds_per_output_token * 1e3 <= free.replica.seconds_per_output_token * 1e3 / 2 + 1e-9
    with pytest.raises(EstimateError) as caught:
        best_fleet(replace(LLAMA70, max_ms_per_output_token=0.01), H100, NodeShape(8, "nvswitch", "infiniband"), ASSUMED)
    assert caught.value.reason == "latency_unreachable"


def test_mla_and_moe_presets_size_their_kv_cache_and_flops():
    deepseek = ServingSpec.from_preset(PRESETS["deepseek-v3"])
    assert deepseek.kv_bytes_per_token == 61 * 576 * 2
    assert deepseek.n_active == 37e9 and deepseek.weight_bytes == pytest.approx(671e9 * 2)
    assert math.isclose(LLAMA70.kv_bytes_per_token, 80 * 2 * 8 * 128 * 2)
