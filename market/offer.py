"""The offer record: what a parser hands over per source row, and what the warehouse stores.

* `PARSED_OFFER_SCHEMA`: one row per offer as a connector's `parse` returns it. Prices are per
  *instance* hour in the source's currency; `market.rules.finalize_offers` converts and
  derives the rest.
* `OFFER_COLUMNS`: the `offers` table (one row per snapshot date, source, provider, region,
  instance type and pricing kind: `OFFER_KEY`); `QUARANTINE_COLUMNS` adds the reason, the
  outcome (quarantined | unmapped) and the row's reference.

A parser hands *evidence*, never a guessed identity: the GPU name, count and memory exactly as
the source gives them (and whether that memory is per GPU or the instance total), vendor ids,
the reseller's underlying cloud. `market.identity.resolve` decides what the GPU is. A row the
parser does not turn into an offer is still handed over, with `excluded_by` naming the rule
(`market.rules.EXCLUSION_RULES`), so every source row is accounted for.
"""

from __future__ import annotations

import polars as pl

# Pricing kinds we store. Sources map their own words onto these.
PRICING_KINDS = (
    "on_demand",
    "spot",
    "low_priority",
    "reserved_1y",
    "reserved_3y",
    "savings_plan_1y",
    "savings_plan_3y",
    "marketplace",
    "interruptible",
    "community",
)

# What a parser returns: one row per offer. Prices are per *instance* hour in the original
# currency; `market.rules.finalize_offers` converts and derives the rest.
PARSED_OFFER_SCHEMA: dict[str, pl.DataType] = {
    "provider": pl.String,  # the real cloud, even when the source is an aggregator
    "region": pl.String,
    "instance_type": pl.String,
    "gpu_name_raw": pl.String,  # the GPU name exactly as the source spells it
    "gpu_count": pl.Float64,  # fractional for shared GPUs (e.g. Azure NVadsA10 v5 1/6)
    "gpu_memory_gb": pl.Float64,  # per GPU; null when the source does not say
    "vcpus": pl.Float64,
    "ram_gb": pl.Float64,
    "pricing": pl.String,  # one of PRICING_KINDS
    "price": pl.Float64,  # per instance-hour, in `currency`
    "currency": pl.String,
    "spot_is_estimate": pl.Boolean,  # true when spot is derived (e.g. OD x savings %), not quoted
    "source_url": pl.String,  # the URL of the raw response the row came from
    "observed_at": pl.Datetime("us", "UTC"),  # when that response was fetched (or recorded)
    "raw_response_id": pl.String,  # RawResponse.id, to trace every number to its bytes
    # -- evidence (see the module docstring) ----------------------------------------------
    "memory_is_total": pl.Boolean,  # gpu_memory_gb is the instance total (True), per GPU (False), unknown (null)
    "vendor_gpu_id": pl.String,  # a vendor's own id for the accelerator or upstream instance (UpstreamCloudId)
    "underlying_provider": pl.String,  # resellers: the cloud behind the offer (Shadeform's prefix); else null
    "excluded_by": pl.String,  # a rule of market.rules.EXCLUSION_RULES when the row is not an offer
    "parse_error": pl.String,  # a cell the parser could not read: the row is quarantined with this reason
    "row_ref": pl.String,  # where in the response: "line 12", "items[3]", "data['gpu_1x_a10']"
}

# The columns a parser must fill; the evidence columns above may be left out (null).
REQUIRED_PARSED_COLUMNS = tuple(PARSED_OFFER_SCHEMA)[: list(PARSED_OFFER_SCHEMA).index("memory_is_total")]

IDENTITY_BASES = ("instance table", "row evidence", "name default")
OUTCOMES = ("quarantined", "unmapped")

OFFER_KEY = ["snapshot_date", "source", "provider", "region", "instance_type", "pricing"]

OFFER_COLUMNS: dict[str, pl.DataType] = {
    "snapshot_date": pl.Date,
    "source": pl.String,
    "provider": pl.String,
    "region": pl.String,
    "instance_type": pl.String,
    "gpu": pl.String,
    "gpu_name_raw": pl.String,
    "gpu_count": pl.Float64,
    "gpu_memory_gb": pl.Float64,
    "vcpus": pl.Float64,
    "ram_gb": pl.Float64,
    "pricing": pl.String,
    "price_usd_per_hour": pl.Float64,
    "price_usd_per_gpu_hour": pl.Float64,
    "currency": pl.String,
    "price_original": pl.Float64,
    "spot_is_estimate": pl.Boolean,
    "source_url": pl.String,
    "observed_at": pl.Datetime("us", "UTC"),
    "raw_response_id": pl.String,
    "identity_basis": pl.String,  # one of IDENTITY_BASES (market.identity)
    "identity_note": pl.String,  # how we know which GPU this is, and what was corrected
    "underlying_provider": pl.String,  # resellers: the real cloud behind the offer; null for direct clouds
}

QUARANTINE_COLUMNS: dict[str, pl.DataType] = {
    **OFFER_COLUMNS,
    "reason": pl.String,
    "outcome": pl.String,  # one of OUTCOMES
    "row_ref": pl.String,
}

# A market-level quote: a provider's price per *instance*-hour for a GPU model, from a source
# that states neither the GPU count, the region, the instance nor the pricing kind (becloudready's
# gpuhunt dump). It is not an offer (no per-GPU price can be claimed) and never feeds the index;
# it is kept so the market's daily quotes stay visible (`market_quotes`, `offers_history`).
# One row per distinct price a provider quoted for a model that day; `quotes` counts the rows.
MARKET_QUOTE_COLUMNS: dict[str, pl.DataType] = {
    "snapshot_date": pl.Date,
    "source": pl.String,
    "provider": pl.String,
    "gpu_model": pl.String,  # the model exactly as the source names it ("H100", "MI300X")
    "price_usd_per_instance_hour": pl.Float64,
    "quotes": pl.Int64,
    "source_url": pl.String,
    "observed_at": pl.Datetime("us", "UTC"),
    "raw_response_id": pl.String,
}
