"""Per-offer cost metrics (DESIGN.md "Metrics"), as polars expressions the pipeline applies.

* effective_tflops = dense_tflops x utilisation x scaling_efficiency (per GPU), where
  utilisation is the assumption table's end-to-end training MFU for the GPU's generation and
  the precision at `REFERENCE_MODEL_PARAMS` (a 70B-parameter dense model: the size most
  published runs and buyers' questions sit near), the same lookup the run estimates use, and
  scaling_efficiency is the table's extrapolation factor at the instance's GPU count. That
  factor is 1 for every instance (no published run measured fewer than 8 GPUs), so an 8-GPU
  instance is never penalised against a 1-GPU VM, and communication is not counted twice:
  the published MFUs already include it.
* usd_per_effective_tflop_hour = price_usd_per_gpu_hour / effective_tflops
* usd_per_exaflop = price_usd_per_gpu_hour / (effective_tflops x 1e12 x 3600) x 1e18
  (dollars per 10^18 useful FLOPs)
* usd_per_gb_hour = price_usd_per_gpu_hour / gpu_memory_gb

A missing or non-positive input gives a null metric, never inf or a division error, so one
offer without a spec figure does not spoil the frame.
"""

from __future__ import annotations

import polars as pl

from costmodel.assumptions import Assumptions
from costmodel.errors import EstimateError

REFERENCE_MODEL_PARAMS = 70e9
METRIC_INPUTS = ("price_usd_per_gpu_hour", "dense_tflops", "utilisation", "scaling_efficiency", "gpu_memory_gb")


def _positive(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr > 0).then(expr)


def effective_tflops() -> pl.Expr:
    return (
        _positive(pl.col("dense_tflops")) * _positive(pl.col("utilisation")) * _positive(pl.col("scaling_efficiency"))
    ).alias("effective_tflops")


def usd_per_effective_tflop_hour() -> pl.Expr:
    return (pl.col("price_usd_per_gpu_hour") / _positive(pl.col("effective_tflops"))).alias("usd_per_effective_tflop_hour")


def usd_per_exaflop() -> pl.Expr:
    return (pl.col("price_usd_per_gpu_hour") / (_positive(pl.col("effective_tflops")) * 1e12 * 3600) * 1e18).alias(
        "usd_per_exaflop"
    )


def usd_per_gb_hour() -> pl.Expr:
    return (pl.col("price_usd_per_gpu_hour") / _positive(pl.col("gpu_memory_gb"))).alias("usd_per_gb_hour")


def metric_utilisation(assumptions: Assumptions, generation: str, precision: str, gpu_count: float | None) -> tuple[
        float | None, float]:
    """(utilisation, scaling_efficiency) of one (generation, precision, instance size) for the
    market metrics: the reference model's MFU and the extrapolation factor at the instance size."""
    try:
        mfu = assumptions.training_mfu(generation, precision, REFERENCE_MODEL_PARAMS)
    except EstimateError:
        return None, 1.0
    scale = assumptions.scale_factor(max(1.0, gpu_count or 1.0), mfu.measured_gpus)
    return mfu.value, scale.value


def add_cost_metrics(frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame | pl.LazyFrame:
    """Add the four metric columns (replacing any present); needs METRIC_INPUTS."""
    columns = frame.collect_schema().names() if isinstance(frame, pl.LazyFrame) else frame.columns
    missing = [c for c in METRIC_INPUTS if c not in columns]
    if missing:
        raise KeyError(f"add_cost_metrics needs column(s) {missing}")
    return frame.with_columns(effective_tflops(), usd_per_gb_hour()).with_columns(
        usd_per_effective_tflop_hour(), usd_per_exaflop()
    )
