"""From a parser's frame to warehouse rows: canonical GPU, USD, per-GPU price, quarantine.

Every source's parsed frame goes through `finalize_offers`, so the rules below hold for all
of them: a bad price never reaches `offers`; it lands in `quarantined_offers` with the reason.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from market.gpu_names import canonical_gpu
from market.offer import OFFER_COLUMNS, OFFER_KEY, PARSED_OFFER_SCHEMA, PRICING_KINDS, QUARANTINE_COLUMNS
from market.providers import PROVIDER_ALIASES

# Bounds on a plausible price. Above them a number is a parsing or unit error (monthly quoted
# as hourly, cents as dollars), not a market price. Per GPU-hour: the dearest list prices we
# know are ~$15 (GB200/B300 on-demand); 150 leaves room for bundles without letting x100 slip.
MAX_USD_PER_GPU_HOUR = 150.0
MAX_USD_PER_INSTANCE_HOUR = 2_000.0

# Conversion rates we accept, per unit of currency, in USD. Empty on purpose: every source we
# read today quotes USD. A source quoting another currency must add a dated rate with its
# source here; until then its rows are quarantined, never mixed in.
USD_PER_UNIT: dict[str, float] = {"USD": 1.0}


class OfferSchemaError(ValueError):
    """A parser returned a frame that is not in the offer schema (a bug in the parser)."""


def _check_schema(parsed: pl.DataFrame, source_id: str) -> pl.DataFrame:
    missing = [c for c in PARSED_OFFER_SCHEMA if c not in parsed.columns]
    if missing:
        raise OfferSchemaError(f"{source_id}: parser output lacks column(s) {missing}")
    try:
        return parsed.select(
            [pl.col(c).cast(t, strict=True) for c, t in PARSED_OFFER_SCHEMA.items()]
        )
    except Exception as exc:
        raise OfferSchemaError(f"{source_id}: parser output has a column of the wrong type: {exc}") from exc


def finalize_offers(
    parsed: pl.DataFrame, source_id: str, snapshot_date: date
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return (offers, quarantined) for one source and day."""
    frame = _check_schema(parsed, source_id)
    # Rows without a GPU are CPU instances that catalogs list alongside; not our market.
    frame = frame.filter(pl.col("gpu_count").is_not_null() & (pl.col("gpu_count") > 0))

    rates = pl.DataFrame(
        {"currency": list(USD_PER_UNIT), "usd_rate": list(USD_PER_UNIT.values())},
        schema={"currency": pl.String, "usd_rate": pl.Float64},
    )
    names = frame.select("gpu_name_raw", "gpu_memory_gb").unique()
    names = names.with_columns(
        pl.struct("gpu_name_raw", "gpu_memory_gb")
        .map_elements(
            lambda r: canonical_gpu(r["gpu_name_raw"], r["gpu_memory_gb"]), return_dtype=pl.String
        )
        .alias("gpu")
    )
    frame = (
        frame.with_columns(
            pl.col("currency").fill_null("USD").str.to_uppercase(),
            pl.col("provider").str.to_lowercase().replace(PROVIDER_ALIASES),
        )
        .join(rates, on="currency", how="left")
        .join(names, on=["gpu_name_raw", "gpu_memory_gb"], how="left", nulls_equal=True)
        .with_columns(
            snapshot_date=pl.lit(snapshot_date, dtype=pl.Date),
            source=pl.lit(source_id),
            price_original=pl.col("price"),
            price_usd_per_hour=pl.col("price") * pl.col("usd_rate"),
            spot_is_estimate=pl.col("spot_is_estimate").fill_null(False),
            region=pl.col("region").fill_null(""),
        )
        .with_columns(price_usd_per_gpu_hour=pl.col("price_usd_per_hour") / pl.col("gpu_count"))
    )
    reason = (
        pl.when(pl.col("price").is_null() | pl.col("price").is_nan())
        .then(pl.lit("no price"))
        .when(pl.col("usd_rate").is_null())
        .then(pl.format("currency {} has no recorded USD rate", pl.col("currency")))
        .when(pl.col("price") == 0)
        .then(pl.lit("price of zero"))
        .when(pl.col("price") < 0)
        .then(pl.lit("negative price"))
        .when(pl.col("price").is_infinite())
        .then(pl.lit("infinite price"))
        .when(pl.col("price_usd_per_gpu_hour") > MAX_USD_PER_GPU_HOUR)
        .then(pl.format("absurd price: {} USD per GPU-hour", pl.col("price_usd_per_gpu_hour").round(2)))
        .when(pl.col("price_usd_per_hour") > MAX_USD_PER_INSTANCE_HOUR)
        .then(pl.format("absurd price: {} USD per instance-hour", pl.col("price_usd_per_hour").round(2)))
        .when(~pl.col("pricing").is_in(PRICING_KINDS))
        .then(pl.format("unknown pricing kind {}", pl.col("pricing")))
        .otherwise(None)
    )
    frame = frame.with_columns(reason=reason)
    quarantined = frame.filter(pl.col("reason").is_not_null()).select(list(QUARANTINE_COLUMNS))
    offers = (
        frame.filter(pl.col("reason").is_null())
        # Catalogs list one row per zone; an offer is per region. Keep the cheapest.
        .sort("price_usd_per_hour")
        .unique(subset=OFFER_KEY, keep="first", maintain_order=True)
        .sort(OFFER_KEY)
        .select(list(OFFER_COLUMNS))
    )
    return offers, quarantined
