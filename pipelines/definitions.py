"""Dagster definitions: `dagster dev` (or `dg dev`) loads this module.

Resources are bound in one place, here. The HTTP mode comes from $GPU_PRICES_HTTP_MODE
(live by default; `replay` with $GPU_PRICES_SNAPSHOT for an offline instance), the warehouse
path from $GPU_PRICES_WAREHOUSE (default data/gpu_prices.duckdb).
"""

from __future__ import annotations

import os

import dagster as dg

from pipelines.assets import daily_partitions, offers, raw_assets
from pipelines.derived import cost_metrics, gpu_specs, price_index, published_warehouse
from pipelines.resources import HttpResource, WarehouseResource

# Everything after the raw fetches; the CLI runs these for whichever sources it fetched.
DERIVED_ASSETS = [offers, gpu_specs, cost_metrics, price_index, published_warehouse]
ALL_ASSETS = [*raw_assets, *DERIVED_ASSETS]

daily_ingest = dg.define_asset_job(
    name="daily_ingest",
    selection=dg.AssetSelection.assets(*ALL_ASSETS),
    partitions_def=daily_partitions,
    description="Fetch every source, archive, parse, compute metrics and the index, publish.",
    # One writer at a time: the warehouse lock serialises writes, and in-process keeps runs
    # light on a small machine; switch to the multiprocess executor to fetch in parallel.
    executor_def=dg.in_process_executor,
)

# 06:00 UTC: after most providers' overnight price-list refreshes.
daily_schedule = dg.build_schedule_from_partitioned_job(daily_ingest, hour_of_day=6, minute_of_hour=0)


def default_resources() -> dict:
    return {
        "http": HttpResource(
            mode=os.environ.get("GPU_PRICES_HTTP_MODE", "live"),
            snapshot_dir=os.environ.get("GPU_PRICES_SNAPSHOT"),
        ),
        "warehouse": WarehouseResource(path=os.environ.get("GPU_PRICES_WAREHOUSE")),
    }


def build_defs(resources: dict | None = None) -> dg.Definitions:
    """The definitions with resources bound; the CLI binds its own (replay, --warehouse)."""
    return dg.Definitions(
        assets=ALL_ASSETS,
        jobs=[daily_ingest],
        schedules=[daily_schedule],
        resources=resources or default_resources(),
    )


defs = build_defs()
