"""The asset graph, one daily partition per snapshot date.

    raw/<source> (one per price source) -> offers --> cost_metrics --> published_warehouse
                                                  \-> price_index ---/
    raw/epoch_ai -> gpu_specs ----------------------^ (specs feed cost_metrics)

Raw assets fetch and archive, all in one step with a thread per source (`raw_sources`), so a
live day lasts about as long as its slowest source; `offers` parses what was archived, so any
day can be re-parsed without fetching again. A source's failure is recorded in `ingest_runs`
and isolated: its asset reports it (and a live source is retried on its own), but the graph
goes on with the other sources.
"""


import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import date
from typing import Optional

import dagster as dg

from connectors.base import Source
from market.rules import MAX_USD_PER_GPU_HOUR
from pipelines import ingest
from pipelines.resources import HttpResource, WarehouseResource, key_envs, secret_resource_key
from warehouse.checks import offer_quality
from warehouse.store import Warehouse

# The bundled snapshot reaches back to mid-2022; live runs start today.
daily_partitions = dg.DailyPartitionsDefinition(start_date="2022-01-01", end_offset=1)

progress_log = logging.getLogger("gpu_prices.progress")
log = logging.getLogger("gpu_prices.assets")


def emit_progress(event: ingest.IngestEvent) -> None:
    """The ingest steps' events: a readable line in Dagster's run log, the event itself attached
    for the CLI's live progress (`extra`), so nobody has to parse the line."""
    progress_log.info("%s\t%s: %s", event.source, event.status, event.message, extra={"ingest_event": event})


class RawFetchConfig(dg.Config):
    """How the day's sources are fetched: at once, each host held to its own limit
    (`connectors.http.HttpPolicy.per_host_concurrency`, shared by every source and thread)."""

    max_parallel_sources: int = 16
    # A live source that failed is fetched again, on its own, while the others go on: after
    # 30 s, then 60 s (x2 each time, +/- the delay as jitter). Replays are never retried.
    retries: int = 2
    retry_delay_s: float = 30.0


def _retry_delay(config: RawFetchConfig, attempt: int) -> float:
    base = config.retry_delay_s * 2**attempt
    return max(0.0, base + random.uniform(-1.0, 1.0) * config.retry_delay_s)


def _partition_date(context: dg.AssetExecutionContext) -> date:
    return date.fromisoformat(context.partition_key)


def raw_asset_key(source: Source) -> dg.AssetKey:
    return dg.AssetKey(["raw", source.id])


def _raw_spec(source: Source) -> dg.AssetSpec:
    description = (
        f"Raw responses of **{source.name}** ({source.kind}), fetched from {source.url} and "
        f"archived before parsing. {source.description}"
        + (f" Needs `{source.key_env}`; without it the source is skipped." if source.key_env else "")
    )
    return dg.AssetSpec(
        raw_asset_key(source),
        group_name="raw",
        kinds={"python", "httpx"},
        description=description,
        metadata={"source_url": source.url, "providers": ", ".join(source.providers)},
    )


# Executors that run every step of a run in one process, one after another.
IN_PROCESS_EXECUTORS = {"in_process", "execute_in_process_executor"}
OFFERS_KEY = dg.AssetKey("offers")

# Parse results handed from the raw step to the `offers` step of the same run, in this process.
_parsed_ahead: dict[tuple[str, str], ingest.Outcome] = {}
_parsed_ahead_guard = threading.Lock()


def _parse_ahead_plan(context: dg.AssetExecutionContext, sources: list[Source]) -> tuple[set[str], bool]:
    """The price sources this run's `offers` step will parse, when it runs later in this same
    process, and its `reparse` flag. Those are parsed the moment their own fetch ends, in the
    fetch's thread, while slower sources are still downloading; `offers` then only collects the
    outcomes. With an executor of several processes nothing is parsed ahead."""
    if context.job_def.executor_def.name not in IN_PROCESS_EXECUTORS:
        return set(), False
    selection = context.run.asset_selection
    if selection and OFFERS_KEY not in selection:
        return set(), False
    config = ((context.run.run_config or {}).get("ops", {}).get("offers") or {}).get("config") or {}
    chosen = config.get("sources")  # OffersConfig: None = every price source, [] = none
    ids = {s.id for s in sources if s.kind != "specs" and (chosen is None or s.id in chosen)}
    return ids, bool(config.get("reparse", False))


def _take_parsed_ahead(run_id: str, source_id: str) -> ingest.Outcome | None:
    with _parsed_ahead_guard:
        return _parsed_ahead.pop((run_id, source_id), None)


@dataclass(frozen=True)
class _Fetched:
    outcome: ingest.Outcome
    attempts: int
    seconds: float


def _fetch_with_retries(
    source: Source,
    http: HttpResource,
    warehouse: Warehouse,
    snapshot_date: date,
    *,
    run_id: str,
    snapshot_sources: set[str] | None,
    keys: dict[str, str | None],
    config: RawFetchConfig,
    parse_ahead: bool = False,
    reparse: bool = False,
) -> _Fetched:
    """Fetch and archive one source (in a worker thread), retrying a live failure on its own;
    then, with `parse_ahead`, parse what was archived for this run's `offers` step."""
    started = time.perf_counter()
    attempt = 0
    while True:
        with http.client_for(source.id) as client:
            outcome = ingest.fetch_source(
                warehouse, source, client, snapshot_date, mode=http.mode, run_id=run_id,
                snapshot_sources=snapshot_sources, keys=keys, progress=emit_progress,
            )
        if outcome.status != "failed" or http.mode == "replay" or attempt >= config.retries:
            fetched = _Fetched(outcome, attempt + 1, time.perf_counter() - started)
            if parse_ahead and outcome.status == "fetched":
                try:
                    parsed = ingest.parse_source(warehouse, source, snapshot_date, reparse=reparse, progress=emit_progress)
                except Exception:  # noqa: BLE001 - left to the offers step, which reports it
                    log.exception("%s: parsing ahead failed; the offers step parses it", source.id)
                else:
                    with _parsed_ahead_guard:
                        _parsed_ahead[(run_id, source.id)] = parsed
            return fetched
        delay = _retry_delay(config, attempt)
        emit_progress(ingest.IngestEvent(
            source.id, "progress", f"retrying in {delay:.0f}s (attempt {attempt + 2} of {config.retries + 1})"
        ))
        time.sleep(delay)
        attempt += 1


def _raw_result(source: Source, fetched: _Fetched) -> dg.MaterializeResult:
    outcome = fetched.outcome
    key = raw_asset_key(source)
    return dg.MaterializeResult(
        asset_key=key,
        metadata={
            "status": outcome.status,
            "message": outcome.message,
            "responses": outcome.responses,
            "attempts": fetched.attempts,
            "fetch_seconds": round(fetched.seconds, 3),
        },
        check_results=[
            dg.AssetCheckResult(
                asset_key=key,
                check_name="fetch_succeeded",
                passed=outcome.status != "failed",
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"message": outcome.message or outcome.status},
            )
        ],
    )


def build_raw_assets(sources: list[Source]) -> dg.AssetsDefinition:
    """One asset per source (`raw/<id>`), materialised by one step that fetches the selected
    sources in threads, so a day takes about as long as its slowest source, not the sum.

    Each source is fetched and archived on its own (`ingest.fetch_source`: every response
    archived the moment it arrives, a failure recorded with its reason) and reported as soon
    as it is done; one failing source never stops or delays the others. When this run's
    `offers` step follows in the same process, a source is also parsed as soon as its fetch
    is archived (`_parse_ahead_plan`), so parsing overlaps the slower downloads."""
    by_key = {raw_asset_key(s): s for s in sources}
    secret_keys = {secret_resource_key(name) for s in sources for name in key_envs(s)}

    @dg.multi_asset(
        name="raw_sources",
        specs=[_raw_spec(s) for s in sources],
        check_specs=[
            dg.AssetCheckSpec(
                "fetch_succeeded",
                asset=raw_asset_key(s),
                description="The source answered with usable responses (skipped counts as passed).",
            )
            for s in sources
        ],
        can_subset=True,
        partitions_def=daily_partitions,
        # Credentials are resources named per variable, so the set depends on the sources; that
        # needs the key-set form, which Dagster does not mix with typed resource parameters.
        required_resource_keys={"http", "warehouse", *secret_keys},
    )
    def raw_sources(context: dg.AssetExecutionContext, config: RawFetchConfig):
        http: HttpResource = context.resources.http
        warehouse: Warehouse = context.resources.warehouse.get()
        snapshot_date = _partition_date(context)
        snapshot_sources = http.snapshot_sources()
        selected = [source for key, source in by_key.items() if key in context.selected_asset_keys]
        parse_ahead, reparse = _parse_ahead_plan(context, selected)
        failures: list[str] = []
        with ThreadPoolExecutor(
            max_workers=max(1, min(config.max_parallel_sources, len(selected))), thread_name_prefix="fetch"
        ) as pool:
            futures = {
                pool.submit(
                    _fetch_with_retries, source, http, warehouse, snapshot_date,
                    run_id=context.run_id, snapshot_sources=snapshot_sources,
                    keys={name: getattr(context.resources, secret_resource_key(name)).value for name in key_envs(source)},
                    config=config, parse_ahead=source.id in parse_ahead, reparse=reparse,
                ): source
                for source in selected
            }
            for future in as_completed(futures):
                source = futures[future]
                try:
                    fetched = future.result()
                except Exception as exc:  # a bug of ours, not the source's: fail the step, after the others
                    context.log.error(f"{source.id}: fetching crashed: {type(exc).__name__}: {exc}")
                    failures.append(f"{source.id}: {type(exc).__name__}: {exc}")
                    continue
                yield _raw_result(source, fetched)
        if failures:
            raise dg.Failure(description="fetching crashed for " + "; ".join(failures))

    return raw_sources


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
        # A source the raw step already parsed in this run (see _parse_ahead_plan) is collected.
        outcomes = [
            _take_parsed_ahead(context.run_id, source.id)
            or ingest.parse_source(warehouse.get(), source, snapshot_date, reparse=config.reparse, progress=emit_progress)
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
