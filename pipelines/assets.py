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

import dagster as dg

from connectors.base import Source
from market.rules import MAX_USD_PER_GPU_HOUR
from connectors.registry import all_sources, get_source, price_sources
from pipelines import ingest
from pipelines.resources import HttpResource, WarehouseResource

# The bundled snapshot reaches back to mid-2022; live runs start today.
daily_partitions = dg.DailyPartitionsDefinition(start_date="2022-01-01", end_offset=1)

progress_log = logging.getLogger("gpu_prices.progress")


def emit_progress(source_id: str, message: str) -> None:
    """Progress lines for humans; the CLI shows them live, Dagster shows them in the run log."""
    progress_log.info("%s\t%s", source_id, message)


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
        check_specs=[
            dg.AssetCheckSpec(
                "fetch_succeeded",
                asset=raw_asset_key(source),
                description="The source answered with usable responses (skipped counts as passed).",
            )
        ],
    )
    def _raw(
        context: dg.AssetExecutionContext, http: HttpResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        snapshot_date = _partition_date(context)
        with http.client_for(source.id) as client:
            outcome = ingest.fetch_source(
                warehouse.get(),
                source,
                client,
                snapshot_date,
                mode=http.mode,
                run_id=context.run_id,
                snapshot_sources=http.snapshot_sources(),
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


raw_assets = [build_raw_asset(source) for source in all_sources()]


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


def accounting_problems(con, snapshot_date: date) -> list[dict]:
    """Sources whose parsed rows do not add up that day (empty when every row is accounted for)."""
    rows = con.sql(
        """
        WITH stored AS (
            SELECT r.source, r.rows_read, r.offers_written, r.quarantined, r.unmapped, r.excluded,
                (SELECT count(*) FROM offers o WHERE o.snapshot_date = r.snapshot_date AND o.source = r.source) AS n_offers,
                (SELECT count(*) FROM quarantined_offers q WHERE q.snapshot_date = r.snapshot_date
                   AND q.source = r.source AND coalesce(q.outcome, 'quarantined') = 'quarantined') AS n_quarantined,
                (SELECT count(*) FROM quarantined_offers q WHERE q.snapshot_date = r.snapshot_date
                   AND q.source = r.source AND q.outcome = 'unmapped') AS n_unmapped,
                (SELECT coalesce(sum(e.rows), 0) FROM source_exclusions e WHERE e.snapshot_date = r.snapshot_date
                   AND e.source = r.source) AS n_excluded
            FROM ingest_runs r
            WHERE r.snapshot_date = $d AND r.status = 'ok' AND r.rows_read IS NOT NULL
        )
        SELECT * FROM stored
        WHERE rows_read <> n_offers + n_quarantined + n_unmapped + n_excluded
           OR offers_written <> n_offers OR quarantined <> n_quarantined
           OR unmapped <> n_unmapped OR excluded <> n_excluded
        ORDER BY source
        """,
        params={"d": snapshot_date},
    ).pl()
    return rows.to_dicts()


def offer_checks(con, snapshot_date: date) -> list[dg.AssetCheckResult]:
    """The data-quality checks on a day's offers (run inside the `offers` asset)."""
    drops = con.sql(
        """
        WITH counts AS (
            SELECT source, snapshot_date, count(*) AS n FROM offers GROUP BY ALL
        ), today AS (SELECT * FROM counts WHERE snapshot_date = $d),
        previous AS (
            SELECT c.source, arg_max(c.n, c.snapshot_date) AS n
            FROM counts c WHERE c.snapshot_date < $d GROUP BY c.source
        )
        SELECT p.source, p.n AS previous, coalesce(t.n, 0) AS today
        FROM previous p LEFT JOIN today t USING (source)
        WHERE t.n IS NOT NULL AND t.n < 0.5 * p.n
        """,
        params={"d": snapshot_date},
    ).fetchall()
    bad_prices = con.sql(
        "SELECT count(*) FROM offers WHERE snapshot_date = $d AND NOT "
        "(price_usd_per_gpu_hour > 0 AND price_usd_per_gpu_hour <= $max)",
        params={"d": snapshot_date, "max": MAX_USD_PER_GPU_HOUR},
    ).fetchall()[0][0]
    unaccounted = accounting_problems(con, snapshot_date)
    no_url = con.sql(
        "SELECT count(*) FROM offers WHERE snapshot_date = $d AND "
        "(coalesce(source_url, '') = '' OR observed_at IS NULL)",
        params={"d": snapshot_date},
    ).fetchall()[0][0]
    return [
        dg.AssetCheckResult(
            check_name="row_count_vs_previous_day",
            passed=not drops,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"drops": dg.MetadataValue.json([list(map(str, d)) for d in drops])},
        ),
        dg.AssetCheckResult(check_name="prices_within_bounds", passed=bad_prices == 0,
                            metadata={"out_of_bounds": int(bad_prices)}),
        dg.AssetCheckResult(check_name="every_offer_has_source_url", passed=no_url == 0,
                            metadata={"without_url": int(no_url)}),
        dg.AssetCheckResult(
            check_name="rows_accounted_for",
            passed=not unaccounted,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"sources_not_adding_up": dg.MetadataValue.json(
                [{k: (v if isinstance(v, (int, str)) or v is None else str(v)) for k, v in r.items()} for r in unaccounted]
            )},
        ),
    ]


class OffersConfig(dg.Config):
    sources: list[str] = []  # empty = every price source
    reparse: bool = False  # parse the day's latest good fetch again (e.g. after a parser fix)


@dg.asset(
    deps=[raw_asset_key(s) for s in price_sources()],
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
    selected = [get_source(s) for s in config.sources] if config.sources else price_sources()
    outcomes = [
        ingest.parse_source(
            warehouse.get(), source, snapshot_date, reparse=config.reparse, progress=emit_progress
        )
        for source in selected
    ]
    with warehouse.get().writer() as w:
        check_results = offer_checks(w.con, snapshot_date)
    return dg.MaterializeResult(
        check_results=check_results,
        metadata={
            "dagster/row_count": sum(o.offers for o in outcomes),
            "sources": dg.MetadataValue.json(
                {o.source: {"status": o.status, "rows_read": o.rows_read, "offers": o.offers,
                            "quarantined": o.quarantined, "unmapped": o.unmapped, "excluded": o.excluded,
                            "message": o.message} for o in outcomes}
            ),
        }
    )
