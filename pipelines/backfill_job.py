"""The Dagster side of the backfill: one asset over the daily partitions, one job to run it.

Launch a backfill over a range of days in the UI (or `dagster job backfill -j archive_backfill
--from 2022-02-01 --to 2026-08-31`): with a single-run backfill policy, the whole range is one
run, which reads each archive once and lands every commit day of the range in its own
partition (pipelines.backfill does the work; this module only binds it). Offline by default
(the archives shipped in snapshots/archives, or $GPU_PRICES_ARCHIVES); `offline: false` in the
run config lists the commits through GitHub's API and fetches each raw file.
"""

import os
import warnings
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Optional

import dagster as dg

from connectors import http
from connectors.registry import ARCHIVES
from pipelines.assets import daily_partitions
from pipelines.backfill import refresh_derived, run_backfill
from pipelines.resources import WarehouseResource

BACKFILL_JOB = "archive_backfill"
ARCHIVES_ENV = "GPU_PRICES_ARCHIVES"


def default_archives_root() -> Path:
    """$GPU_PRICES_ARCHIVES, else the archives shipped as package data (looked up by resource
    name: pipelines does not import the snapshots package)."""
    chosen = os.environ.get(ARCHIVES_ENV)
    return Path(chosen) if chosen else Path(str(resources.files("snapshots").joinpath("archives")))


class ArchiveBackfillConfig(dg.Config):
    sources: list[str] = list(ARCHIVES)
    offline: bool = True
    archives_root: Optional[str] = None  # holds one folder per archive, named by source id


def _archive_backfill(context: dg.AssetExecutionContext, config: ArchiveBackfillConfig,
                     warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Offers of the partition's days from public trackers' git archives (cyclenerd,
    becloudready, azure-pricing-radar): each commit in the partition of its commit day,
    observed at its commit time, marked mode = 'backfill'; days the project fetched itself
    are kept, gaps left empty."""
    unknown = [s for s in config.sources if s not in ARCHIVES]
    if unknown:
        raise dg.Failure(f"no archive for {', '.join(unknown)}; archives: {', '.join(ARCHIVES)}")
    window = context.partition_time_window
    since, until = window.start.date(), (window.end - timedelta(days=1)).date()
    root = Path(config.archives_root) if config.archives_root else default_archives_root()
    client = None if config.offline else http.build_client()
    wh = warehouse.get()
    metadata: dict = {"since": str(since), "until": str(until)}
    landed, latest = [], []
    try:
        for source_id in config.sources:
            summary = run_backfill(wh, source_id, root=None if client else root / source_id, client=client,
                                   since=since, until=until, run_id=context.run_id,
                                   progress=context.log.info)
            for line in summary.lines():
                context.log.info(line)
            with_offers = [d.day for d in summary.days if d.status == "ok" and d.offers]
            landed += with_offers
            latest += with_offers[-1:]
            metadata[f"{source_id}/days_landed"] = len(summary.landed)
            metadata[f"{source_id}/days_kept_as_fetched"] = len(summary.skipped_project_days)
            metadata[f"{source_id}/offers"] = summary.total("offers")
            metadata[f"{source_id}/rows_read"] = summary.total("rows_read")
    finally:
        if client is not None:
            client.close()
    refresh_derived(wh, landed, latest)
    wh.publish()
    return dg.MaterializeResult(metadata=metadata)


# A single-run backfill reads each archive once for the whole range instead of once per day.
# Dagster marks the parameter beta; said once here rather than on every import of the defs.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*backfill_policy.*")
    archive_backfill = dg.asset(
        name="archive_backfill",
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name="backfill",
        kinds={"duckdb"},
    )(_archive_backfill)


def build_backfill_job() -> "dg.UnresolvedAssetJobDefinition":
    return dg.define_asset_job(
        name=BACKFILL_JOB,
        selection=dg.AssetSelection.assets(archive_backfill),
        partitions_def=daily_partitions,
        description="Backfill history from public git archives, each commit in its day's partition.",
        tags={"gpu_prices/warehouse": "main"},  # one writer at a time, like the daily job
    )
