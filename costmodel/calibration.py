"""Published runs the defaults are calibrated on, and the runs kept back to check them.

Training: each run's authors published its GPU-hours, parameters and tokens, so its end-to-end
MFU is 6 x N x D / (GPU-hours x 3600 x dense peak). The *calibration* runs (Meta's Llama 3.1
model card, BLOOM, PaLM) set the `training_mfu` rows of market/data/assumptions.csv; the
*check* runs were not used for any value and show how far the defaults are from other teams'
runs. `training_table` recomputes both with the default parameters, and
scripts/build_calibration_doc.py writes docs/run-pricing-calibration.md from it.

Serving: MLPerf Inference v4.1 Datacenter, closed division, Llama-2-70B (99 % or 99.9 % accuracy
target) Server scenario, the completed tokens/s of each system's official log. One-GPU GH200 and the
8-GPU H100 calibrate the Hopper efficiencies; the single MI300X calibrates CDNA 3; H200 and
the 8-GPU MI300X systems are checks. The workload is MLPerf's: OpenOrca prompts of 222 tokens on
average (the official 24,576-sample dataset), 294 output tokens (the reference implementation's
"tokens per sample"), FP8 weights and KV cache as the submitters ran, and the Server latency
limits (2 s to first token, 200 ms per output token).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl

from costmodel.assumptions import Assumptions
from costmodel.gpus import GpuSpec
from costmodel.inference import ServingSpec, node_throughput
from costmodel.nodes import NodeShape
from costmodel.presets import PRESETS

CALIBRATION = "calibration"
CHECK = "check"

L31_CARD = "https://github.com/meta-llama/llama-models/blob/main/models/llama3_1/MODEL_CARD.md"
L3_PAPER = "https://arxiv.org/abs/2407.21783"
L3_CARD = "https://github.com/meta-llama/llama3/blob/main/MODEL_CARD.md"
L2_CARD = "https://github.com/meta-llama/llama/blob/main/MODEL_CARD.md"
BLOOM = "https://arxiv.org/abs/2211.05100"
PALM = "https://arxiv.org/abs/2204.02311"
FALCON_180B = "https://huggingface.co/blog/falcon-180b"
MPT_7B = "https://huggingface.co/mosaicml/mpt-7b"
SMOLLM3 = "https://huggingface.co/blog/smollm3"
DEEPSEEK_V3 = "https://arxiv.org/abs/2412.19437"
GPT3_CARBON = "https://arxiv.org/abs/2104.10350"
MLPERF_41 = "https://github.com/mlcommons/inference_results_v4.1/tree/main/closed"
MLPERF_DATASET = (
    "https://github.com/openshift-psap/performance-dashboard/blob/7cd1065d1e2c53ee745cbda08e2a8f13a42c93bb/"
    "mlperf-data/summaries/llama2-70b-99.csv"
)
MLPERF_REFERENCE = "https://github.com/mlcommons/inference/blob/master/language/llama2-70b/README.md"


@dataclass(frozen=True)
class PublishedRun:
    name: str
    gpu: str  # canonical spec-sheet id
    precision: str
    active_params: float
    tokens: float
    gpu_hours: float
    gpus: int | None  # GPUs the run used, where published
    role: str  # calibration | check
    source_url: str
    note: str = ""
    total_params: float | None = None


TRAINING_RUNS: tuple[PublishedRun, ...] = (
    PublishedRun("Llama 3.1 8B", "H100-SXM-80GB", "bf16", 8e9, 15e12, 1.46e6, None, CALIBRATION, L31_CARD,
                 "model card: 1.46M H100-80GB hours, ~15T tokens; cluster size unpublished (the paper's is 16,384)"),
    PublishedRun("Llama 3.1 70B", "H100-SXM-80GB", "bf16", 70e9, 15e12, 7.0e6, None, CALIBRATION, L31_CARD,
                 "model card: 7.0M H100-80GB hours, ~15T tokens"),
    PublishedRun("Llama 3.1 405B", "H100-SXM-80GB", "bf16", 405e9, 15.6e12, 30.84e6, 16384, CALIBRATION, L31_CARD,
                 "model card 30.84M hours; 15.6T tokens and up to 16,384 H100s from the paper (arXiv 2407.21783)"),
    PublishedRun("BLOOM-176B", "A100-SXM-80GB", "bf16", 176.247e9, 366e9, 1_082_990, 384, CALIBRATION, BLOOM,
                 "1,082,990 compute hours on 384 A100 80GB (48 nodes), 366B tokens"),
    PublishedRun("PaLM 540B", "TPU-V4", "bf16", 540.35e9, 780e9, 8_404_992, 6144, CALIBRATION, PALM,
                 "6,144 TPU v4 chips for 1,200 h + 3,072 for 336 h incl. downtime; 780B tokens; 46.2 % step MFU"),
    PublishedRun("Llama 2 7B", "A100-SXM-80GB", "bf16", 7e9, 2e12, 184_320, None, CHECK, L2_CARD,
                 "model card: 184,320 A100-80GB hours, 2.0T tokens"),
    PublishedRun("Llama 2 13B", "A100-SXM-80GB", "bf16", 13e9, 2e12, 368_640, None, CHECK, L2_CARD,
                 "model card: 368,640 A100-80GB hours, 2.0T tokens"),
    PublishedRun("Llama 2 70B", "A100-SXM-80GB", "bf16", 70e9, 2e12, 1_720_320, None, CHECK, L2_CARD,
                 "model card: 1,720,320 A100-80GB hours, 2.0T tokens"),
    PublishedRun("Llama 3 8B", "H100-SXM-80GB", "bf16", 8e9, 15e12, 1.3e6, None, CHECK, L3_CARD,
                 "model card: 1.3M H100-80GB hours, 15T+ tokens (same team as the calibration runs)"),
    PublishedRun("Llama 3 70B", "H100-SXM-80GB", "bf16", 70e9, 15e12, 6.4e6, None, CHECK, L3_CARD,
                 "model card: 6.4M H100-80GB hours, 15T+ tokens (same team as the calibration runs)"),
    PublishedRun("Falcon-180B", "A100-SXM-40GB", "bf16", 180e9, 3.5e12, 7.0e6, 4096, CHECK, FALCON_180B,
                 "~7,000,000 GPU hours on up to 4,096 A100 40GB (AWS), 3.5T tokens"),
    PublishedRun("MPT-7B", "A100-SXM-40GB", "bf16", 6.7e9, 1e12, 440 * 9.5 * 24, 440, CHECK, MPT_7B,
                 "440 A100-40GB for about 9.5 days = 100,320 GPU-hours, 1T tokens"),
    PublishedRun("SmolLM3-3B", "H100-SXM-80GB", "bf16", 3e9, 11.2e12, 384 * 24 * 24, 384, CHECK, SMOLLM3,
                 "384 H100 for 24 days = 221,184 GPU-hours, 11.2T tokens"),
    PublishedRun("DeepSeek-V3", "H800-SXM-80GB", "fp8", 37e9, 14.8e12, 2.664e6, 2048, CHECK, DEEPSEEK_V3,
                 "pre-training 2,664K H800 hours (Table 1), 14.8T tokens, 2,048 GPUs, FP8 GEMMs; MoE 671B total",
                 total_params=671e9),
    PublishedRun("GPT-3 175B", "V100-SXM-32GB", "fp16", 175e9, 300e9, 10_000 * 14.8 * 24, 10000, CHECK, GPT3_CARBON,
                 "Patterson et al. Table 4: 10,000 V100 for 14.8 days, 300B tokens"),
)


def implied_mfu(run: PublishedRun, gpu: GpuSpec) -> float:
    """End-to-end MFU the run's published GPU-hours imply: 6 N D / (hours x 3600 x peak)."""
    return 6 * run.active_params * run.tokens / (run.gpu_hours * 3600 * gpu.dense_tflops(run.precision) * 1e12)


def default_mfu(run: PublishedRun, gpu: GpuSpec, assumptions: Assumptions) -> tuple[float, str]:
    """The MFU the defaults give this run: table value x extrapolation at the run's GPU count."""
    table = assumptions.training_mfu(gpu.generation, run.precision, run.active_params)
    scale = assumptions.scale_factor(run.gpus, table.measured_gpus) if run.gpus else None
    factor = scale.value if scale else 1.0
    return table.value * factor, table.source


def training_table(catalog: dict[str, GpuSpec], assumptions: Assumptions | None = None) -> pl.DataFrame:
    """One row per published run: published and default-estimated GPU-hours and the error."""
    assumptions = assumptions or Assumptions()
    rows = []
    for run in TRAINING_RUNS:
        gpu = catalog[run.gpu]
        mfu, source = default_mfu(run, gpu, assumptions)
        estimate = 6 * run.active_params * run.tokens / (gpu.dense_tflops(run.precision) * 1e12 * mfu * 3600)
        rows.append({
            "run": run.name, "role": run.role, "gpu": run.gpu, "generation": gpu.generation,
            "precision": run.precision, "active_params": run.active_params, "tokens": run.tokens,
            "gpus": run.gpus, "published_gpu_hours": run.gpu_hours, "published_mfu": implied_mfu(run, gpu),
            "default_mfu": mfu, "estimated_gpu_hours": estimate, "error": estimate / run.gpu_hours - 1,
            "default_from": source, "source_url": run.source_url, "note": run.note,
        })
    return pl.DataFrame(rows, infer_schema_length=None)


@dataclass(frozen=True)
class ServingBenchmark:
    name: str
    gpu: str
    gpus: int
    intra_node_link: str | None
    tokens_per_second: float  # the whole system, completed output tokens/s
    role: str
    source_url: str
    note: str = ""

    @property
    def per_gpu(self) -> float:
        return self.tokens_per_second / self.gpus


MLPERF_LLAMA2_70B_SERVER: tuple[ServingBenchmark, ...] = (
    ServingBenchmark("GH200-144GB x1 (NVIDIA, TensorRT-LLM)", "GH200-144GB", 1, None, 3883.67, CALIBRATION,
                     f"{MLPERF_41}/NVIDIA/results/GH200-GraceHopper-Superchip_GH200-144GB_aarch64x1_TRT/llama2-70b-99/Server",
                     "sets the Hopper compute efficiency (one GPU: no tensor parallelism)"),
    ServingBenchmark("H100-SXM-80GB x8 (NVIDIA DGX H100, TensorRT-LLM)", "H100-SXM-80GB", 8, "nvswitch", 21605.79,
                     CALIBRATION, f"{MLPERF_41}/NVIDIA/results/DGX-H100_H100-SXM-80GBx8_TRT/llama2-70b-99.9/Server",
                     "about 2,700 tokens/s per GPU; sets the Hopper tensor-parallel factor (80 GB needs TP2)"),
    ServingBenchmark("MI300X x1 (AMD, vLLM)", "MI300X-192GB", 1, None, 2520.27, CALIBRATION,
                     f"{MLPERF_41}/AMD/results/1xMI300X_2xEPYC-9374F/llama2-70b-99.9/Server",
                     "sets the CDNA 3 compute efficiency"),
    ServingBenchmark("H200-SXM-141GB x8 (NVIDIA, TensorRT-LLM)", "H200-SXM-141GB", 8, "nvswitch", 29228.22, CHECK,
                     f"{MLPERF_41}/NVIDIA/results/H200-SXM-141GBx8_TRT/llama2-70b-99/Server"),
    ServingBenchmark("MI300X x8 with EPYC 9374F (AMD, vLLM)", "MI300X-192GB", 8, "infinity-fabric", 21028.23, CHECK,
                     f"{MLPERF_41}/AMD/results/8xMI300X_2xEPYC-9374F/llama2-70b-99/Server"),
    ServingBenchmark("MI300X x8 with EPYC Turin (AMD, vLLM)", "MI300X-192GB", 8, "infinity-fabric", 22020.92, CHECK,
                     f"{MLPERF_41}/AMD/results/8xMI300X_2xEPYC-TURIN/llama2-70b-99/Server"),
)
MLPERF_PROMPT_TOKENS = 222  # mean of the 24,576 OpenOrca prompts (MLPERF_DATASET)
MLPERF_OUTPUT_TOKENS = 294  # "tokens per sample: 294.45" (MLPERF_REFERENCE)


def mlperf_workload(avg_rps: float = 1.0) -> ServingSpec:
    """MLPerf's Llama-2-70B Server workload in the serving model's terms."""
    return ServingSpec.from_preset(
        PRESETS["llama-2-70b"], weight_precision="fp8", kv_bytes=1.0, prompt_tokens=MLPERF_PROMPT_TOKENS,
        output_tokens=MLPERF_OUTPUT_TOKENS, max_ms_per_output_token=200.0, max_seconds_to_first_token=2.0,
        avg_rps=avg_rps,
    )


def benchmark_shape(bench: ServingBenchmark) -> NodeShape:
    return NodeShape(bench.gpus, bench.intra_node_link, None)


def serving_table(catalog: dict[str, GpuSpec], assumptions: Assumptions | None = None) -> pl.DataFrame:
    """One row per MLPerf system: the model's tokens/s per GPU beside the published figure."""
    assumptions = assumptions or Assumptions()
    spec = mlperf_workload()
    rows = []
    for bench in MLPERF_LLAMA2_70B_SERVER:
        modelled = node_throughput(spec, catalog[bench.gpu], benchmark_shape(bench), assumptions)
        rows.append({
            "system": bench.name, "role": bench.role, "gpu": bench.gpu, "gpus": bench.gpus,
            "published_tokens_per_second_per_gpu": bench.per_gpu, "model_tokens_per_second_per_gpu": modelled,
            "error": modelled / bench.per_gpu - 1, "source_url": bench.source_url, "note": bench.note,
        })
    return pl.DataFrame(rows, infer_schema_length=None)


def solve(target: float, evaluate, low: float = 0.01, high: float = 1.0, tolerance: float = 1e-5, **fixed) -> float:
    """The x in [low, high] where the increasing `evaluate(x, **fixed)` reaches `target` (bisection)."""
    if evaluate(high, **fixed) < target:
        return high
    while high - low > tolerance:
        middle = (low + high) / 2
        if evaluate(middle, **fixed) < target:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def serving_rows(generation: str, compute: float, tp: float, memory: float) -> list[dict]:
    """Assumption rows for one generation's serving efficiencies (used while fitting them)."""
    return [
        {"kind": "serve_compute_efficiency", "generation": generation, "value": compute},
        {"kind": "serve_memory_efficiency", "generation": "*", "value": memory},
        {"kind": "serve_tp_efficiency", "generation": generation, "value": tp},
    ]


def modelled_per_gpu(bench: ServingBenchmark, catalog: dict[str, GpuSpec], compute: float, tp: float,
                     memory: float) -> float:
    gpu = catalog[bench.gpu]
    return node_throughput(mlperf_workload(), gpu, benchmark_shape(bench),
                           Assumptions(serving_rows(gpu.generation, compute, tp, memory)))


def _at_compute(x: float, bench: ServingBenchmark, catalog: dict, tp: float, memory: float) -> float:
    return modelled_per_gpu(bench, catalog, x, tp, memory)


def _at_tp(x: float, bench: ServingBenchmark, catalog: dict, compute: float, memory: float) -> float:
    return modelled_per_gpu(bench, catalog, compute, x, memory)


def fitted_serving_values(catalog: dict[str, GpuSpec], memory_efficiency: float) -> dict[str, float]:
    """The serving efficiencies the calibration systems imply (what assumptions.csv should hold):
    GH200 x1 -> Hopper compute efficiency; H100 x8 -> Hopper tensor-parallel factor; MI300X x1 ->
    CDNA 3 compute efficiency (with Hopper's tensor-parallel factor)."""
    by_key = {(b.gpu, b.gpus): b for b in MLPERF_LLAMA2_70B_SERVER if b.role == CALIBRATION}
    gh200, h100, mi300x = by_key[("GH200-144GB", 1)], by_key[("H100-SXM-80GB", 8)], by_key[("MI300X-192GB", 1)]
    hopper = solve(gh200.per_gpu, _at_compute, bench=gh200, catalog=catalog, tp=1.0, memory=memory_efficiency)
    hopper_tp = solve(h100.per_gpu, _at_tp, bench=h100, catalog=catalog, compute=hopper, memory=memory_efficiency)
    cdna3 = solve(mi300x.per_gpu, _at_compute, bench=mi300x, catalog=catalog, tp=hopper_tp, memory=memory_efficiency)
    return {"hopper_compute": hopper, "hopper_tp": hopper_tp, "cdna3_compute": cdna3}


def within(value: float, expected: float, relative: float) -> bool:
    return math.isclose(value, expected, rel_tol=relative)
