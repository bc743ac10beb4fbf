"""The asset graph, one daily partition per snapshot date.

    raw/<source> (one per price source) -> offers --> cost_metrics --> published_warehouse
                                                  \-> price_index ---/
    raw/epoch_ai -> gpu_specs ----------------------^ (specs feed cost_metrics)

Raw assets fetch and archive; `offers` parses what was archived, so any day can be re-parsed
without fetching again. A source's failure is recorded in `ingest_runs` and isolated: the
asset reports it (and Dagster retries it live), but the graph goes on with the other sources.
"""


import logging
from datetime import date
from typing import Optional

import dagster as dg

from connectors.base import Source
from market.rules import MAX_USD_PER_GPU_HOUR
from pipelines import ingest
from pipelines.resources import HttpResource, WarehouseResource, key_envs, secret_resource_key
from warehouse.checks import offer_quality

# The bundled snapshot reaches back to mid-2022; live runs start today.
daily_partitions = dg.DailyPartitionsDefinition(start_date="2022-01-01", end_offset=1)

progress_log = logging.getLogger("gpu_prices.progress")


def emit_progress(event: ingest.IngestEvent) -> None:
    """The ingest steps' events: a readable line in Dagster's run log, the event itself attached
    for the CLI's live progress (`extra`), so nobody has to parse the line."""
    progress_log.info("%s\t%s: %s", event.source, event.status, event.message, extra={"ingest_event": event})


RAW_RETRY = dg.RetryPolicy(
    max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)


def _partition_date(context: dg.AssetExecutionContext) -> date:
    return date.fromisoformat(context.partition_key)


def raw_asset_key(source: Source) -> dg.AssetKey:
    return dg.AssetKey(["raw", source.id])


def build_raw_asset(source: Source) -> dg.AssetsDefinition:
    """One asset per source: fetch its endpoint and archive every response."""

    description = (
        f"Raw responses of **{source.name}** ({source.kind}), fetched from {source.url} and "
        f"archived before parsing. {source.description}"
        + (f" Needs `{source.key_env}`; without it the source is skipped." if source.key_env else "")
    )

    @dg.asset(
        key=raw_asset_key(source),
        group_name="raw",
        partitions_def=daily_partitions,
        retry_policy=RAW_RETRY,
        kinds={"python", "httpx"},
        description=description,
        metadata={"source_url": source.url, "providers": ", ".join(source.providers)},
        # Credentials are resources named per variable, so the set depends on the source; that
        # needs the key-set form, which Dagster does not mix with typed resource parameters.
        required_resource_keys={"http", "warehouse", *(secret_resource_key(name) for name in key_envs(source))},
        check_specs=[
            dg.AssetCheckSpec(
                "fetch_succeeded",
                asset=raw_asset_key(source),
                description="The source answered with usable responses (skipped counts as passed).",
            )
        ],
    )
    def _raw(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        http: HttpResource = context.resources.http
        warehouse: WarehouseResource = context.resources.warehouse
        snapshot_date = _partition_date(context)
        keys = {name: getattr(context.resources, secret_resource_key(name)).value for name in key_envs(source)}
        with http.client_for(source.id) as client:
            outcome = ingest.fetch_source(
                warehouse.get(),
                source,
                client,
                snapshot_date,
                mode=http.mode,
                run_id=context.run_id,
                snapshot_sources=http.snapshot_sources(),
                keys=keys,
                progress=emit_progress,
            )
        # Live failures are retried by Dagster; the last attempt reports and lets the graph go on.
        retries_left = context.retry_number < RAW_RETRY.max_retries
        if outcome.status == "failed" and http.mode != "replay" and retries_left:
            raise dg.Failure(description=outcome.message)
        return dg.MaterializeResult(
            metadata={
                "status": outcome.status,
                "message": outcome.message,
                "responses": outcome.responses,
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name="fetch_succeeded",
                    passed=outcome.status != "failed",
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={"message": outcome.message or outcome.status},
                )
            ],
        )

    return _raw


OFFER_CHECKS = {
    "row_count_vs_previous_day": "No source lost more than half its offers since its previous day.",
    "prices_within_bounds": "Every stored price per GPU-hour is positive and below the absurdity bound.",
    "every_offer_has_source_url": "Every offer traces to a source URL and a fetch time.",
    "rows_accounted_for": (
        "BLOCKING. For every source parsed that day, rows read = offers + quarantined + unmapped + "
        "excluded, counted from the stored tables (offers, quarantined_offers, source_exclusions) "
        "and equal to what ingest_runs recorded. Downstream metrics and the index do not build on "
        "a day where a source lost rows."
    ),
}
BLOCKING_CHECKS = {"rows_accounted_for"}


def offer_checks(writer, snapshot_date: date) -> list[dg.AssetCheckResult]:
    """The data-quality checks on a day's offers (run inside the `offers` asset)."""
    quality = offer_quality(writer, snapshot_date, MAX_USD_PER_GPU_HOUR)
    return [
        dg.AssetCheckResult(
            check_name="row_count_vs_previous_day",
            passed=not quality.drops,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"drops": dg.MetadataValue.json([list(map(str, d)) for d in quality.drops])},
        ),
        dg.AssetCheckResult(check_name="prices_within_bounds", passed=quality.out_of_bounds == 0,
                            metadata={"out_of_bounds": quality.out_of_bounds}),
        dg.AssetCheckResult(check_name="every_offer_has_source_url", passed=quality.without_url == 0,
                            metadata={"without_url": quality.without_url}),
        dg.AssetCheckResult(
            check_name="rows_accounted_for",
            passed=not quality.unaccounted,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"sources_not_adding_up": dg.MetadataValue.json(quality.unaccounted)},
        ),
    ]


class OffersConfig(dg.Config):
    # None = every price source of the day; [] = none (a day that only fetched spec sources).
    sources: Optional[list[str]] = None
    reparse: bool = False  # parse the day's latest good fetch again (e.g. after a parser fix)


def build_offers_asset(sources: list[Source]) -> dg.AssetsDefinition:
    """The `offers` asset over these price sources (the registry's, or a test's)."""
    price = [s for s in sources if s.kind != "specs"]
    by_id = {s.id: s for s in price}

    @dg.asset(
        name="offers",
        deps=[raw_asset_key(s) for s in price],
        group_name="warehouse",
        partitions_def=daily_partitions,
        kinds={"polars", "duckdb"},
        check_specs=[
            dg.AssetCheckSpec(name, asset="offers", description=doc, blocking=name in BLOCKING_CHECKS)
            for name, doc in OFFER_CHECKS.items()
        ],
    )
    def offers(context: dg.AssetExecutionContext, config: OffersConfig, warehouse: WarehouseResource) -> dg.MaterializeResult:
        """Every price source's archived responses for the day, parsed into the common offer schema
        (`offers` table: price per instance-hour and per GPU-hour, canonical GPU, source URL and fetch
        time on every row). One transaction per source and day; bad prices go to
        `quarantined_offers` with the reason."""
        snapshot_date = _partition_date(context)
        unknown = sorted(set(config.sources or ()) - set(by_id))
        if unknown:
            raise dg.Failure(description=f"unknown price source(s) {unknown}; known: {sorted(by_id)}")
        selected = price if config.sources is None else [by_id[s] for s in config.sources]
        outcomes = [
            ingest.parse_source(
                warehouse.get(), source, snapshot_date, reparse=config.reparse, progress=emit_progress
            )
            for source in selected
        ]
        with warehouse.get().writer() as w:
            check_results = offer_checks(w, snapshot_date)
        return dg.MaterializeResult(
            check_results=check_results,
            metadata={
                "dagster/row_count": sum(o.offers for o in outcomes),
                "sources": dg.MetadataValue.json(
                    {o.source: {"status": o.status, "rows_read": o.rows_read, "offers": o.offers,
                                "quarantined": o.quarantined, "unmapped": o.unmapped, "excluded": o.excluded,
                                "message": o.message} for o in outcomes}
                ),
            },
        )

    return offers
