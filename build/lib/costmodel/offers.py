"""Selecting the offers a run can use; shared by the training and inference pricing."""

from __future__ import annotations

import polars as pl

OPTIONAL_OFFER_COLUMNS = ("source", "source_url", "snapshot_date", "observed_at", "region", "instance_type")


def whole_gpu_offers(offers: pl.DataFrame, gpu: str, pricing: str | None) -> pl.DataFrame:
    """Priced offers of `gpu` with at least one whole GPU (a share cannot join a cluster or a
    replica sized on whole GPUs), of one pricing kind (None = every kind). Columns the ranking
    shows but a caller's frame lacks are added as nulls."""
    frame = offers.filter(
        (pl.col("gpu") == gpu)
        & pl.col("price_usd_per_gpu_hour").is_not_null()
        & (pl.col("price_usd_per_gpu_hour") > 0)
        & pl.col("gpu_count").is_not_null()
        & (pl.col("gpu_count") >= 1)
    )
    if pricing is not None:
        frame = frame.filter(pl.col("pricing") == pricing)
    missing = [c for c in OPTIONAL_OFFER_COLUMNS if c not in frame.columns]
    return frame.with_columns([pl.lit(None).alias(c) for c in missing]) if missing else frame
