"""Selecting the offers a run can book; shared by the training and serving plans.

* `one_quote_per_offer`: the same offer (provider, region, instance type, pricing kind) quoted
  by several sources counts once: a provider's own (direct) quote beats an aggregator's copy.
  This is the stop-gap until the warehouse's shared as-of market read does the same for every
  reader; `pipelines.transforms.offers_as_of` (the price index) calls it too, so there is one
  rule today and one place to replace it.
* `with_node_facts`: each offer's intra-node link and inter-node fabric, from the providers'
  instance tables (`market.instances.instance_facts`); NULL (unknown) where no table knows it.
* `bookable_offers`: priced offers of one GPU type with whole GPUs per instance.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import polars as pl

from costmodel.nodes import NODE_COLUMNS
from market.providers import canonical_provider

OFFER_KEY = ["provider", "region", "instance_type", "pricing"]
OPTIONAL_OFFER_COLUMNS = {
    "source": pl.String, "source_url": pl.String, "snapshot_date": pl.Date,
    "observed_at": pl.Datetime("us", "UTC"), "region": pl.String, "instance_type": pl.String,
    "intra_node_link": pl.String, "inter_node_fabric": pl.String,
}
DIRECT = "direct"


def quotes_itself(source: str | None, provider: str | None) -> bool:
    """A source whose id names the provider it quotes (azure -> azure, lambda_cloud -> lambda) is
    that provider's own list; an aggregator (skypilot, gpuhunt, ...) never names the provider."""
    return bool(source and provider) and canonical_provider(source) == canonical_provider(provider)


def quote_rank(source: str | None, provider: str | None, source_kinds: Mapping[str, str]) -> int:
    """0 for a provider's own quote, 1 for a copy: the registry's kind where it knows the source,
    else whether the source's id names the provider."""
    kind = source_kinds.get(source or "")
    if kind is not None:
        return 0 if kind == DIRECT else 1
    return 0 if quotes_itself(source, provider) else 1


def one_quote_per_offer(offers: pl.DataFrame, source_kinds: Mapping[str, str] | None = None) -> pl.DataFrame:
    """Each (provider, region, instance type, pricing) once: a direct quote first, then by source id.

    `source_kinds` (source id -> direct | aggregator, from the source registry) decides what is
    direct; a source it does not know counts as direct when its id names the provider it quotes."""
    if offers.is_empty() or "source" not in offers.columns:
        return offers
    kinds = dict(source_kinds or {})
    pairs = offers.select("source", "provider").unique().to_dicts()
    ranks = pl.DataFrame(
        [{**p, "_quote_rank": quote_rank(p["source"], p["provider"], kinds)} for p in pairs],
        schema={"source": pl.String, "provider": pl.String, "_quote_rank": pl.Int8},
    )
    return (
        offers.join(ranks, on=["source", "provider"], how="left", nulls_equal=True)
        .sort(["_quote_rank", "source"])
        .unique(subset=OFFER_KEY, keep="first", maintain_order=True)
        .drop("_quote_rank")
    )


def _default_lookup() -> Callable[[str, str], Any] | None:
    try:
        from market.instances import instance_facts  # the providers' instance tables
    except ImportError:  # before the instance tables exist every fact is unknown
        return None
    return instance_facts


def with_node_facts(offers: pl.DataFrame, lookup: Callable[[str, str], Any] | None = None) -> pl.DataFrame:
    """Offers with `intra_node_link` and `inter_node_fabric` from the instance tables.

    `lookup(provider, instance_type)` returns a row with those two attributes, or None when
    the tables do not know the instance (default: `market.instances.instance_facts`). Values
    already on the offer win; an unknown instance keeps NULL (unknown)."""
    frame = offers
    for column in NODE_COLUMNS:
        if column not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(column))
    lookup = lookup or _default_lookup()
    if lookup is None or frame.is_empty():
        return frame
    pairs = frame.select("provider", "instance_type").unique().to_dicts()
    facts = []
    for pair in pairs:
        row = lookup(pair["provider"], pair["instance_type"])
        facts.append({**pair, **{f"_{c}": getattr(row, c, None) if row is not None else None for c in NODE_COLUMNS}})
    known = pl.DataFrame(facts, schema={"provider": pl.String, "instance_type": pl.String,
                                        **{f"_{c}": pl.String for c in NODE_COLUMNS}})
    joined = frame.join(known, on=["provider", "instance_type"], how="left", nulls_equal=True)
    return joined.with_columns(
        [pl.coalesce(pl.col(c), pl.col(f"_{c}")).alias(c) for c in NODE_COLUMNS]
    ).drop([f"_{c}" for c in NODE_COLUMNS])


def offer_order(offer: Mapping[str, Any]) -> tuple[str, str]:
    """Offers are planned region by region (then source), so collapsed plans keep the first region."""
    return str(offer.get("region") or ""), str(offer.get("source") or "")


BOOKING_KEY = ["provider", "instance_type", "pricing", "price_usd_per_hour", "source", "gpu_count"]


def first_region_per_booking(offers: pl.DataFrame) -> pl.DataFrame:
    """Each booking (an instance at one price, from one source) once, at its first region in
    `offer_order`: the offer whose plan `training.rank_plans` keeps when regions collapse. For
    callers that need only the cheapest plans, not every offer left out."""
    if offers.is_empty():
        return offers
    return (offers.sort(["region", "source"], nulls_last=False)
            .unique(subset=[c for c in BOOKING_KEY if c in offers.columns], keep="first", maintain_order=True))


def bookable_offers(offers: pl.DataFrame, gpu: str, pricing: str | None) -> pl.DataFrame:
    """Priced offers of `gpu` with a whole number (>= 1) of GPUs per instance, of one pricing
    kind (None = every kind). Columns the plans show but a caller's frame lacks are added."""
    frame = offers
    if "price_usd_per_hour" not in frame.columns:
        frame = frame.with_columns(price_usd_per_hour=pl.col("price_usd_per_gpu_hour") * pl.col("gpu_count"))
    frame = frame.filter(
        (pl.col("gpu") == gpu)
        & pl.col("price_usd_per_hour").is_not_null()
        & (pl.col("price_usd_per_hour") > 0)
        & pl.col("gpu_count").is_not_null()
        & (pl.col("gpu_count") >= 1)
        & ((pl.col("gpu_count") - pl.col("gpu_count").round()).abs() < 1e-9)
    )
    if pricing is not None:
        frame = frame.filter(pl.col("pricing") == pricing)
    missing = [c for c in OPTIONAL_OFFER_COLUMNS if c not in frame.columns]
    return frame.with_columns([pl.lit(None, dtype=OPTIONAL_OFFER_COLUMNS[c]).alias(c) for c in missing])
