"""Per-offer cost metrics (DESIGN.md "Metrics"), as polars expressions the pipeline applies.

* effective_tflops = dense_tflops x utilisation x scaling_efficiency (per GPU)
* usd_per_effective_tflop_hour = price_usd_per_gpu_hour / effective_tflops
* usd_per_exaflop = price_usd_per_gpu_hour / (effective_tflops x 1e12 x 3600) x 1e18
  (dollars per 10^18 useful FLOPs)
* usd_per_gb_hour = price_usd_per_gpu_hour / gpu_memory_gb

A missing or non-positive input gives a null metric, never inf or a division error, so one
offer without a spec figure does not spoil the frame.
"""

from __future__ import annotations

import polars as pl

METRIC_INPUTS = ("price_usd_per_gpu_hour", "dense_tflops", "utilisation", "scaling_efficiency", "gpu_memory_gb")


def _positive(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr > 0).then(expr)


def effective_tflops(
    dense: str | pl.Expr = "dense_tflops",
    utilisation: str | pl.Expr | float = "utilisation",
    scaling: str | pl.Expr | float = "scaling_efficiency",
) -> pl.Expr:
    def as_expr(x):
        if isinstance(x, pl.Expr):
            return x
        return pl.col(x) if isinstance(x, str) else pl.lit(float(x))

    return (_positive(as_expr(dense)) * _positive(as_expr(utilisation)) * _positive(as_expr(scaling))).alias(
        "effective_tflops"
    )


def usd_per_effective_tflop_hour(price: str = "price_usd_per_gpu_hour", effective: str = "effective_tflops") -> pl.Expr:
    return (pl.col(price) / _positive(pl.col(effective))).alias("usd_per_effective_tflop_hour")


def usd_per_exaflop(price: str = "price_usd_per_gpu_hour", effective: str = "effective_tflops") -> pl.Expr:
    return (pl.col(price) / (_positive(pl.col(effective)) * 1e12 * 3600) * 1e18).alias("usd_per_exaflop")


def usd_per_gb_hour(price: str = "price_usd_per_gpu_hour", memory: str = "gpu_memory_gb") -> pl.Expr:
    return (pl.col(price) / _positive(pl.col(memory))).alias("usd_per_gb_hour")


def add_cost_metrics(
    frame: pl.DataFrame | pl.LazyFrame,
    utilisation: float | None = None,
    scaling_efficiency: float | None = None,
) -> pl.DataFrame | pl.LazyFrame:
    """Add the four metric columns (replacing any present).

    Expects price_usd_per_gpu_hour, dense_tflops, gpu_memory_gb and either the columns
    utilisation and scaling_efficiency or the plain numbers passed here (which fill those
    columns)."""
    extra = []
    if utilisation is not None:
        extra.append(pl.lit(float(utilisation)).alias("utilisation"))
    if scaling_efficiency is not None:
        extra.append(pl.lit(float(scaling_efficiency)).alias("scaling_efficiency"))
    if extra:
        frame = frame.with_columns(extra)
    columns = frame.collect_schema().names() if isinstance(frame, pl.LazyFrame) else frame.columns
    missing = [c for c in METRIC_INPUTS if c not in columns]
    if missing:
        raise KeyError(f"add_cost_metrics needs column(s) {missing}")
    return (
        frame.with_columns(effective_tflops(), usd_per_gb_hour())
        .with_columns(usd_per_effective_tflop_hour(), usd_per_exaflop())
    )
