"""From a parser's rows to warehouse rows, with every source row accounted for.

Every source's parsed frame goes through `finalize_offers`, so the rules below hold for all of
them. Each parsed row ends as exactly one of:

* an **offer** (`offers`): a plausible USD list price of an identified GPU;
* **quarantined** (`quarantined_offers`, outcome "quarantined", with the reason): a bad cell,
  a bad price (zero, negative, absurd, non-USD) or an implausible identity (per-GPU memory above
  any known card of the family, a GPU count no instance could have, an unknown count);
* **unmapped** (`quarantined_offers`, outcome "unmapped"): a GPU name no alias or instance
  table maps; the raw name is kept and listed by the `unmapped_gpus` view;
* **excluded** by a named rule (`EXCLUSION_RULES`): not our market (CPU-only, Windows
  licence, not a list price) or a duplicate (another zone's row of an offer kept cheaper).
  One rule keeps what it excludes: a **market-level quote** (an instance-hour price of an
  unstated GPU count and pricing kind) lands in `market_quotes` instead of `offers`.

`FinalizedOffers.accounting()` gives the counts; rows_read = offers + quarantined + unmapped +
excluded always holds (a test and the blocking Dagster check pin it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import polars as pl

from market.identity import MAX_ACCELERATORS_PER_NODE, Evidence, resolve
from market.instances import instance_facts
from market.offer import (
    MARKET_QUOTE_COLUMNS,
    OFFER_COLUMNS,
    OFFER_KEY,
    PARSED_OFFER_SCHEMA,
    PRICING_KINDS,
    QUARANTINE_COLUMNS,
    REQUIRED_PARSED_COLUMNS,
)
from market.providers import PROVIDER_ALIASES

# Bounds on a plausible price. Above them a number is a parsing or unit error (monthly quoted
# as hourly, cents as dollars), not a market price. Per GPU-hour: the dearest list prices we
# know are ~$15 (GB200/B300 on-demand); 150 leaves room for bundles without letting x100 slip.
# Per instance-hour for one node (at most MAX_ACCELERATORS_PER_NODE accelerators): a TPU pod
# slice is many hosts and is bounded per chip only.
MAX_USD_PER_GPU_HOUR = 150.0
MAX_USD_PER_INSTANCE_HOUR = 2_000.0

# Conversion rates we accept, per unit of currency, in USD. Empty on purpose: every source we
# read today quotes USD. A source quoting another currency must add a dated rate with its
# source here; until then its rows are quarantined, never mixed in.
USD_PER_UNIT: dict[str, float] = {"USD": 1.0}

MARKET_LEVEL_QUOTE = "market-level-quote"

# Named reasons a source row is not an offer. Parsers set `excluded_by` to one of these keys;
# "cpu-only" and "duplicate-zone-row" are also applied here.
EXCLUSION_RULES: dict[str, str] = {
    "cpu-only": "no accelerator: a CPU instance listed beside the GPU ones",
    "not-a-gpu": "an accelerator that is not a GPU market we track (FPGA, NP series)",
    "windows-licence": "the price includes a Windows licence; we compare Linux list prices",
    "licensed-software": "the price includes another paid OS or software licence (RHEL, SUSE, SQL Server)",
    "dedicated-tenancy": "single-tenant capacity (a dedicated instance or host); we compare shared-tenancy prices",
    "not-a-list-price": "not a public list price (DevTest, capacity block, a flagged special offer)",
    "untracked-term": "a term or billing unit we do not track (5-year reservation, not per hour)",
    "host-price-only": "a GPU host's price without its GPU (the accelerator is priced on its own row)",
    "duplicate-zone-row": "another zone's row of an offer kept at a lower or equal price",
    "no-price-offered": "the source says the type is not offered this way (a null price field)",
    "market-level-quote": (
        "an instance-hour price of an unstated number of GPUs and pricing kind: kept in "
        "market_quotes (History page), never a per-GPU offer"
    ),
}

# What makes two rows the same offer: the table's key plus what keeps resellers and GPU
# counts apart. An empty region is its own value.
DEDUP_KEY = [*OFFER_KEY, "underlying_provider", "gpu_count"]


class OfferSchemaError(ValueError):
    """A parser returned a frame that is not in the offer schema (a bug in the parser)."""


@dataclass
class FinalizedOffers:
    """One source's parsed rows for one day, split four ways."""

    source: str
    rows_read: int
    offers: pl.DataFrame  # OFFER_COLUMNS
    quarantined: pl.DataFrame  # QUARANTINE_COLUMNS, outcome quarantined | unmapped
    exclusions: pl.DataFrame  # rule, rows
    # MARKET_QUOTE_COLUMNS: the rows excluded as market-level quotes, one per distinct price
    market_quotes: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=MARKET_QUOTE_COLUMNS))

    @property
    def quarantined_count(self) -> int:
        return self.quarantined.filter(pl.col("outcome") == "quarantined").height

    @property
    def unmapped_count(self) -> int:
        return self.quarantined.filter(pl.col("outcome") == "unmapped").height

    @property
    def excluded_count(self) -> int:
        return int(self.exclusions["rows"].sum()) if self.exclusions.height else 0

    def accounting(self) -> dict[str, int]:
        return {
            "rows_read": self.rows_read,
            "offers": self.offers.height,
            "quarantined": self.quarantined_count,
            "unmapped": self.unmapped_count,
            "excluded": self.excluded_count,
        }

    @property
    def unaccounted(self) -> int:
        counts = self.accounting()
        return counts["rows_read"] - counts["offers"] - counts["quarantined"] - counts["unmapped"] - counts["excluded"]


def _check_schema(parsed: pl.DataFrame, source_id: str) -> pl.DataFrame:
    missing = [c for c in REQUIRED_PARSED_COLUMNS if c not in parsed.columns]
    if missing:
        raise OfferSchemaError(f"{source_id}: parser output lacks column(s) {missing}")
    parsed = parsed.with_columns(
        [pl.lit(None, dtype=t).alias(c) for c, t in PARSED_OFFER_SCHEMA.items() if c not in parsed.columns]
    )
    try:
        return parsed.select(
            [pl.col(c).cast(t, strict=True) for c, t in PARSED_OFFER_SCHEMA.items()]
        )
    except Exception as exc:
        raise OfferSchemaError(f"{source_id}: parser output has a column of the wrong type: {exc}") from exc


def _unknown_rules(frame: pl.DataFrame, source_id: str) -> None:
    rules = set(frame["excluded_by"].drop_nulls().unique())
    unknown = sorted(rules - set(EXCLUSION_RULES))
    if unknown:
        raise OfferSchemaError(f"{source_id}: parser excluded rows by unknown rule(s) {unknown}; add them to EXCLUSION_RULES")


_EVIDENCE = ["provider", "gpu_name_raw", "instance_type", "gpu_count", "gpu_memory_gb",
             "memory_is_total", "vendor_gpu_id", "underlying_provider"]
IDENTITY_SCHEMA = {
    "gpu": pl.String, "resolved_count": pl.Float64, "resolved_memory_gb": pl.Float64,
    "identity_basis": pl.String, "identity_note": pl.String, "identity_rejection": pl.String,
    "unmapped": pl.Boolean, "cpu_only": pl.Boolean,
}


def _is_cpu_only(e: Evidence) -> bool:
    """No accelerator evidence: no count, no GPU name, and no instance table row with a GPU.

    A vendor id alone (an upstream instance id such as Verda's "CPU.4V.16G") is no GPU.
    """
    if e.gpu_count is not None and e.gpu_count > 0:
        return False
    if (e.gpu_name_raw or "").strip():
        return False
    for facts in (instance_facts(e.provider, e.instance_type),
                  instance_facts(e.underlying_provider or e.provider, e.vendor_gpu_id)):
        # A table row with accelerators we do not track (AWS dl2q) is not CPU-only either.
        if facts is not None and (facts.gpu is not None or facts.gpu_count):
            return False
    return True


def _identities(frame: pl.DataFrame) -> pl.DataFrame:
    """One resolution per distinct evidence tuple, joined back onto the rows."""
    evidence = frame.select(_EVIDENCE).unique()
    rows = []
    for rec in evidence.iter_rows(named=True):
        e = Evidence(
            provider=rec["provider"], gpu_name_raw=rec["gpu_name_raw"], instance_type=rec["instance_type"],
            gpu_count=rec["gpu_count"], memory_gb=rec["gpu_memory_gb"], memory_is_total=rec["memory_is_total"],
            vendor_gpu_id=rec["vendor_gpu_id"], underlying_provider=rec["underlying_provider"],
        )
        if _is_cpu_only(e):
            rows.append({"gpu": None, "resolved_count": None, "resolved_memory_gb": None, "identity_basis": None,
                         "identity_note": None, "identity_rejection": None, "unmapped": False, "cpu_only": True})
            continue
        ident = resolve(e)
        rows.append({
            "gpu": ident.gpu, "resolved_count": ident.gpu_count, "resolved_memory_gb": ident.gpu_memory_gb,
            "identity_basis": ident.basis, "identity_note": ident.note or None,
            "identity_rejection": ident.rejection, "unmapped": ident.unmapped, "cpu_only": False,
        })
    resolved = pl.concat(
        [evidence, pl.DataFrame(rows, schema=IDENTITY_SCHEMA)], how="horizontal"
    ) if rows else evidence.with_columns([pl.lit(None, dtype=t).alias(c) for c, t in IDENTITY_SCHEMA.items()])
    return frame.join(resolved, on=_EVIDENCE, how="left", nulls_equal=True)


def _reason() -> pl.Expr:
    return (
        pl.when(pl.col("parse_error").is_not_null())
        .then(pl.col("parse_error"))
        .when(pl.col("price").is_null() | pl.col("price").is_nan())
        .then(pl.lit("no price"))
        .when(pl.col("usd_rate").is_null())
        .then(pl.format("currency {} has no recorded USD rate", pl.col("currency")))
        .when(pl.col("price") == 0)
        .then(pl.lit("price of zero"))
        .when(pl.col("price") < 0)
        .then(pl.lit("negative price"))
        .when(pl.col("price").is_infinite())
        .then(pl.lit("infinite price"))
        .when(pl.col("identity_rejection").is_not_null())
        .then(pl.col("identity_rejection"))
        .when(pl.col("price_usd_per_gpu_hour") > MAX_USD_PER_GPU_HOUR)
        .then(pl.format("absurd price: {} USD per GPU-hour", pl.col("price_usd_per_gpu_hour").round(2)))
        .when((pl.col("price_usd_per_hour") > MAX_USD_PER_INSTANCE_HOUR)
              & (pl.col("gpu_count").is_null() | (pl.col("gpu_count") <= MAX_ACCELERATORS_PER_NODE)))
        .then(pl.format("absurd price: {} USD per instance-hour", pl.col("price_usd_per_hour").round(2)))
        .when(~pl.col("pricing").is_in(PRICING_KINDS))
        .then(pl.format("unknown pricing kind {}", pl.col("pricing")))
        .when(pl.col("unmapped"))
        .then(pl.format("no canonical GPU for {}", pl.coalesce("gpu_name_raw", "instance_type")))
        .otherwise(None)
    )


def _market_quote_problem() -> pl.Expr:
    """Why a market-level quote cannot be kept (the price bounds of an instance-hour); None: fine."""
    return (
        pl.when(pl.col("price").is_null() | pl.col("price").is_nan()).then(pl.lit("no price"))
        .when(pl.col("currency") != "USD").then(pl.format("currency {} has no recorded USD rate", pl.col("currency")))
        .when(pl.col("price") <= 0).then(pl.lit("price of zero or below"))
        .when(pl.col("price").is_infinite() | (pl.col("price") > MAX_USD_PER_INSTANCE_HOUR))
        .then(pl.format("absurd price: {} USD per instance-hour", pl.col("price").round(2)))
        .otherwise(None)
    )


def _market_quotes(rows: pl.DataFrame, source_id: str, snapshot_date: date) -> pl.DataFrame:
    """One row per distinct (provider, model, price) of the day, with how many rows quoted it."""
    return (
        rows.group_by("provider", "gpu_name_raw", "price", "source_url", maintain_order=True)
        .agg(pl.len().alias("quotes"), pl.col("observed_at").first(), pl.col("raw_response_id").first())
        .select(
            snapshot_date=pl.lit(snapshot_date, dtype=pl.Date),
            source=pl.lit(source_id),
            provider="provider",
            gpu_model="gpu_name_raw",
            price_usd_per_instance_hour="price",
            quotes="quotes",
            source_url="source_url",
            observed_at="observed_at",
            raw_response_id="raw_response_id",
        )
        .cast(MARKET_QUOTE_COLUMNS)
        .sort("provider", "gpu_model", "price_usd_per_instance_hour")
    )


def _exclusion_counts(rules: pl.Series) -> pl.DataFrame:
    frame = rules.drop_nulls().value_counts(name="rows").rename({rules.name: "rule"})
    return frame.select(pl.col("rule").cast(pl.String), pl.col("rows").cast(pl.Int64)).sort("rule")


def finalize_offers(parsed: pl.DataFrame, source_id: str, snapshot_date: date) -> FinalizedOffers:
    """Split one source's parsed rows for one day into offers, quarantined, unmapped, excluded."""
    frame = _check_schema(parsed, source_id)
    _unknown_rules(frame, source_id)
    rows_read = frame.height
    rates = pl.DataFrame(
        {"currency": list(USD_PER_UNIT), "usd_rate": list(USD_PER_UNIT.values())},
        schema={"currency": pl.String, "usd_rate": pl.Float64},
    )
    frame = frame.with_columns(
        pl.col("currency").fill_null("USD").str.to_uppercase(),
        pl.col("provider").str.to_lowercase().replace(PROVIDER_ALIASES),
        pl.col("underlying_provider").str.to_lowercase().replace(PROVIDER_ALIASES),
        pl.col("region").fill_null(""),
        pl.col("instance_type").fill_null(""),
    )
    # A market-level quote with an implausible price is quarantined like any bad row.
    is_quote = pl.col("excluded_by") == MARKET_LEVEL_QUOTE
    frame = frame.with_columns(_quote_problem=pl.when(is_quote).then(_market_quote_problem())).with_columns(
        parse_error=pl.coalesce("parse_error", "_quote_problem"),
        excluded_by=pl.when(pl.col("_quote_problem").is_null()).then(pl.col("excluded_by")),
    ).drop("_quote_problem")
    market_quotes = _market_quotes(frame.filter(is_quote), source_id, snapshot_date)
    excluded_by_parser = frame.filter(pl.col("excluded_by").is_not_null())
    frame = _identities(frame.filter(pl.col("excluded_by").is_null())).with_columns(
        # A row the parser could not read is quarantined with its reason, whatever it lacks.
        cpu_only=pl.col("cpu_only") & pl.col("parse_error").is_null()
    )
    cpu_only = frame.filter(pl.col("cpu_only")).with_columns(excluded_by=pl.lit("cpu-only"))
    frame = (
        frame.filter(~pl.col("cpu_only"))
        .join(rates, on="currency", how="left")
        .with_columns(
            gpu_count=pl.coalesce("resolved_count", "gpu_count"),
            # The variant's memory for an identified GPU; the row's own figure otherwise (kept
            # so a quarantined "48 GB RTX 4090" still shows what the source said).
            gpu_memory_gb=pl.coalesce("resolved_memory_gb", "gpu_memory_gb"),
            snapshot_date=pl.lit(snapshot_date, dtype=pl.Date),
            source=pl.lit(source_id),
            price_original=pl.col("price"),
            price_usd_per_hour=pl.col("price") * pl.col("usd_rate"),
            spot_is_estimate=pl.col("spot_is_estimate").fill_null(False),
            unmapped=pl.col("unmapped").fill_null(False),
        )
        .with_columns(price_usd_per_gpu_hour=pl.col("price_usd_per_hour") / pl.col("gpu_count"))
        .with_columns(reason=_reason())
        .with_columns(
            outcome=pl.when(pl.col("reason").is_null()).then(None)
            .when(pl.col("unmapped") & (pl.col("reason").str.starts_with("no canonical GPU")))
            .then(pl.lit("unmapped")).otherwise(pl.lit("quarantined"))
        )
    )
    # Catalogs list one row per zone (and sometimes a row twice); an offer is per region and key.
    candidates = (
        frame.filter(pl.col("reason").is_null())
        .sort(["price_usd_per_hour", "row_ref"], nulls_last=True)
        .with_columns(_rank=pl.int_range(pl.len()).over(DEDUP_KEY))
    )
    duplicates = candidates.filter(pl.col("_rank") > 0).with_columns(excluded_by=pl.lit("duplicate-zone-row"))
    kept = candidates.filter(pl.col("_rank") == 0).drop("_rank")
    # Two distinct offers (another GPU count or reseller) cannot share the table's key.
    kept = kept.with_columns(_clash=pl.int_range(pl.len()).over(OFFER_KEY))
    clashes = kept.filter(pl.col("_clash") > 0).with_columns(
        reason=pl.lit("another row of the same offer key (region, instance type, pricing) gives a "
                      "different GPU count or underlying provider; the cheapest is kept"),
        outcome=pl.lit("quarantined"),
    ).drop("_clash")
    offers = kept.filter(pl.col("_clash") == 0).sort(OFFER_KEY).select(list(OFFER_COLUMNS))
    quarantined = pl.concat(
        [frame.filter(pl.col("reason").is_not_null()), clashes], how="diagonal_relaxed"
    ).select(list(QUARANTINE_COLUMNS))
    rules = pl.concat(
        [excluded_by_parser.select("excluded_by"), cpu_only.select("excluded_by"), duplicates.select("excluded_by")]
    )["excluded_by"].rename("excluded_by")
    return FinalizedOffers(
        source=source_id,
        rows_read=rows_read,
        offers=offers,
        quarantined=quarantined,
        exclusions=_exclusion_counts(rules),
        market_quotes=market_quotes,
    )
