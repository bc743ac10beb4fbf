"""Offers -> comparable numbers, in polars. Pure functions; the assets feed them and store results.

* `build_cost_metrics`: one row per offer and precision: effective TFLOPS (dense peak x
  end-to-end MFU from the assumption table), $ per effective TFLOP-hour, $ per 1e18 useful
  FLOPs and $ per GB of accelerator memory per hour. Formulas live in `costmodel.metrics`.
* `build_price_index`: per GPU, pricing kind and day. Methodology: docs/price-index.md.
* `build_index_links`: the chain step, how the matched offers' prices moved since the previous
  index day; the view `price_index_daily` multiplies these links into `chained_index_usd`.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from costmodel.assumptions import Assumptions
from costmodel.gpus import PRECISION_COLUMNS
from costmodel.metrics import add_cost_metrics, metric_utilisation

MIN_PROVIDERS = 3



def build_cost_metrics(
    offers: pl.DataFrame, specs: pl.DataFrame, assumptions: pl.DataFrame
) -> pl.DataFrame:
    """Offers (with canonical `gpu`) x spec sheet x assumptions -> cost metrics, long by precision.

    Utilisation is the assumption table's end-to-end MFU for the GPU's generation and each
    precision at the reference model size, via the same lookup the run estimates use
    (costmodel.metrics.metric_utilisation); no per-instance communication factor is applied."""
    assumed = Assumptions(assumptions)
    spec_cols = ["gpu", "memory_gb", "architecture", *PRECISION_COLUMNS.values()]
    specs = specs.with_columns(pl.lit(None, dtype=pl.String).alias("architecture")) \
        if "architecture" not in specs.columns else specs
    joined = offers.filter(pl.col("gpu").is_not_null()).join(specs.select(spec_cols), on="gpu", how="inner")
    if joined.is_empty():
        return _empty_metrics()
    long = (
        joined.unpivot(
            index=[c for c in joined.columns if c not in PRECISION_COLUMNS.values()],
            on=list(PRECISION_COLUMNS.values()),
            variable_name="precision_column",
            value_name="dense_tflops",
        )
        .filter(pl.col("dense_tflops").is_not_null() & (pl.col("dense_tflops") > 0))
        .with_columns(
            precision=pl.col("precision_column").replace_strict({v: k for k, v in PRECISION_COLUMNS.items()}),
            generation=pl.col("architecture").fill_null("unknown").str.to_lowercase().str.strip_chars(),
        )
    )
    keys = long.select("generation", "precision", "gpu_count").unique()
    factors = [metric_utilisation(assumed, r["generation"], r["precision"], r["gpu_count"])
               for r in keys.iter_rows(named=True)]
    keys = keys.with_columns(
        pl.Series("utilisation", [f[0] for f in factors], dtype=pl.Float64),
        pl.Series("scaling_efficiency", [f[1] for f in factors], dtype=pl.Float64),
    )
    metrics = (
        long.join(keys, on=["generation", "precision", "gpu_count"], how="left", nulls_equal=True)
        .rename({"memory_gb": "spec_memory_gb"})
        .with_columns(gpu_memory_gb=pl.coalesce("gpu_memory_gb", "spec_memory_gb"))
    )
    metrics = add_cost_metrics(metrics)
    return metrics.select(list(COST_METRIC_COLUMNS)).sort(
        ["snapshot_date", "gpu", "precision", "usd_per_effective_tflop_hour"]
    )


COST_METRIC_COLUMNS = {
    "snapshot_date": pl.Date,
    "source": pl.String,
    "provider": pl.String,
    "region": pl.String,
    "instance_type": pl.String,
    "pricing": pl.String,
    "gpu": pl.String,
    "gpu_count": pl.Float64,
    "precision": pl.String,
    "price_usd_per_hour": pl.Float64,
    "price_usd_per_gpu_hour": pl.Float64,
    "dense_tflops": pl.Float64,
    "utilisation": pl.Float64,
    "scaling_efficiency": pl.Float64,
    "effective_tflops": pl.Float64,
    "usd_per_effective_tflop_hour": pl.Float64,
    "usd_per_exaflop": pl.Float64,
    "usd_per_gb_hour": pl.Float64,
    "source_url": pl.String,
}


def _empty_metrics() -> pl.DataFrame:
    return pl.DataFrame(schema=COST_METRIC_COLUMNS)


PRICE_INDEX_COLUMNS = {
    "snapshot_date": pl.Date,
    "gpu": pl.String,
    "pricing": pl.String,
    "offers": pl.Int32,
    "providers": pl.Int32,
    "min_usd": pl.Float64,
    "p10_usd": pl.Float64,
    "median_usd": pl.Float64,
    "p90_usd": pl.Float64,
    "index_usd": pl.Float64,
    "withheld_reason": pl.String,
    # the chain step (build_index_links); filled by `with_index_links`
    "previous_index_date": pl.Date,
    "matched_offers": pl.Int32,
    "matched_providers": pl.Int32,
    "link_factor": pl.Float64,
    "link_note": pl.String,
}
LINK_COLUMNS = ["previous_index_date", "matched_offers", "matched_providers", "link_factor", "link_note"]
# An offer is the same offer on two days when all of these agree. `source` is part of it: a
# provider's price quoted by a different source is a different outlet (another catalog's
# rounding, date, or mistake), not a price change, so a source taking over an offer starts a
# new match instead of moving the chain.
MATCH_KEY = ["source", "provider", "region", "instance_type", "pricing", "gpu"]
NO_PREVIOUS_DAY = "first index day: nothing to match against"
NO_MATCHED_OFFERS = "no offer matched the previous index day; the level is carried forward"


def build_price_index(market: pl.DataFrame, day: date) -> pl.DataFrame:
    """Per GPU and pricing kind, in USD per GPU-hour; each provider counts once in the index.

    A reseller's offer counts for the cloud behind it (``underlying_provider``): Shadeform's
    resale of Lambda and Lambda's own list are one provider, not two, in `providers` and in the
    median of per-provider medians.
    """
    priced = market.filter(pl.col("gpu").is_not_null())
    if priced.is_empty():
        return pl.DataFrame(schema=PRICE_INDEX_COLUMNS)
    priced = priced.with_columns(index_provider=_index_provider(priced))
    per_provider = priced.group_by(["gpu", "pricing", "index_provider"]).agg(
        provider_median=pl.col("price_usd_per_gpu_hour").median()
    )
    index = per_provider.group_by(["gpu", "pricing"]).agg(
        providers=pl.len().cast(pl.Int32), index_raw=pl.col("provider_median").median()
    )
    spread = priced.group_by(["gpu", "pricing"]).agg(
        offers=pl.len().cast(pl.Int32),
        min_usd=pl.col("price_usd_per_gpu_hour").min(),
        p10_usd=pl.col("price_usd_per_gpu_hour").quantile(0.10, interpolation="linear"),
        median_usd=pl.col("price_usd_per_gpu_hour").median(),
        p90_usd=pl.col("price_usd_per_gpu_hour").quantile(0.90, interpolation="linear"),
    )
    enough = pl.col("providers") >= MIN_PROVIDERS
    return (
        spread.join(index, on=["gpu", "pricing"])
        .with_columns(
            snapshot_date=pl.lit(day, dtype=pl.Date),
            index_usd=pl.when(enough).then(pl.col("index_raw")),
            withheld_reason=pl.when(~enough).then(
                pl.format(
                    "only {} provider(s) quote this GPU and pricing kind; the index needs at least "
                    + str(MIN_PROVIDERS),
                    pl.col("providers"),
                )
            ),
        )
        .with_columns([pl.lit(None, dtype=PRICE_INDEX_COLUMNS[c]).alias(c) for c in LINK_COLUMNS])
        .select(list(PRICE_INDEX_COLUMNS))
        .sort(["gpu", "pricing"])
    )


def _index_provider(market: pl.DataFrame) -> pl.Expr:
    """Who an offer counts for in the index: the cloud behind a reseller, else the provider."""
    underlying = pl.col("underlying_provider") if "underlying_provider" in market.columns else pl.lit(None)
    return pl.coalesce(underlying, pl.col("provider"))


def build_index_links(previous_market: pl.DataFrame | None, market: pl.DataFrame) -> pl.DataFrame:
    """Per GPU and pricing kind: how the prices of the offers in both markets moved.

    Matched offers are those in both markets under MATCH_KEY. Each provider's link is the
    geometric mean (Jevons) of its matched offers' price ratios, per GPU-hour; the GPU's link
    is the geometric mean of the providers' links, so each provider counts once, as in the
    raw index. Offers only in one market (a source entering or leaving, an instance type
    added or retired) are not matched and do not move the link. Columns: gpu, pricing,
    matched_offers, matched_providers, link_factor (NULL when nothing matched)."""
    schema = {"gpu": pl.String, "pricing": pl.String, "matched_offers": pl.Int32,
              "matched_providers": pl.Int32, "link_factor": pl.Float64}
    if previous_market is None or previous_market.is_empty() or market.is_empty():
        return pl.DataFrame(schema=schema)

    def priced(frame: pl.DataFrame, name: str) -> pl.DataFrame:
        return (
            frame.filter(pl.col("gpu").is_not_null() & (pl.col("price_usd_per_gpu_hour") > 0))
            .with_columns(index_provider=_index_provider(frame))
            .select(*MATCH_KEY, "index_provider", pl.col("price_usd_per_gpu_hour").alias(name))
            .unique(subset=MATCH_KEY, keep="first")
        )

    pairs = priced(market, "price").join(
        priced(previous_market, "previous_price").drop("index_provider"), on=MATCH_KEY, how="inner"
    )
    if pairs.is_empty():
        return pl.DataFrame(schema=schema)
    per_provider = (
        pairs.with_columns(log_ratio=(pl.col("price") / pl.col("previous_price")).log())
        .group_by(["gpu", "pricing", "index_provider"])
        .agg(pl.len().alias("n"), pl.col("log_ratio").mean().alias("provider_log_link"))
    )
    return (
        per_provider.group_by(["gpu", "pricing"])
        .agg(
            matched_offers=pl.col("n").sum().cast(pl.Int32),
            matched_providers=pl.len().cast(pl.Int32),
            link_factor=pl.col("provider_log_link").mean().exp(),
        )
        .select(list(schema))
        .sort(["gpu", "pricing"])
    )


def with_index_links(index: pl.DataFrame, links: pl.DataFrame, previous_day: date | None) -> pl.DataFrame:
    """One day's index rows with their chain step: the link to `previous_day` or why there is none."""
    joined = index.drop(LINK_COLUMNS).join(links, on=["gpu", "pricing"], how="left")
    return joined.with_columns(
        previous_index_date=pl.lit(previous_day, dtype=pl.Date),
        matched_offers=pl.col("matched_offers").fill_null(0).cast(pl.Int32),
        matched_providers=pl.col("matched_providers").fill_null(0).cast(pl.Int32),
        link_note=pl.when(pl.col("link_factor").is_null()).then(
            pl.lit(NO_PREVIOUS_DAY if previous_day is None else NO_MATCHED_OFFERS)
        ),
    ).select(list(PRICE_INDEX_COLUMNS)).sort(["gpu", "pricing"])
