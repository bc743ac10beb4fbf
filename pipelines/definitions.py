"""Dagster definitions: `dagster dev` (or `dg dev`) loads this module.

Resources are bound in one place, here, from environment variables through `dg.EnvVar`
(read when a run launches, never shown in the UI): the HTTP mode from $GPU_PRICES_HTTP_MODE
(live by default; `replay` with $GPU_PRICES_SNAPSHOT for an offline instance), the warehouse
path from $GPU_PRICES_WAREHOUSE (default data/gpu_prices.duckdb in the working folder), and
each keyed source's credentials from the variables it names (`gpu-prices sources`).
"""

from __future__ import annotations

import os

import dagster as dg

from pipelines.assets import daily_partitions, offers, raw_assets
from pipelines.derived import cost_metrics, gpu_specs, price_index, published_warehouse
from connectors.registry import all_sources
from pipelines.resources import HttpResource, WarehouseResource, key_envs, secret_resources

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


def env_or(name: str, default: str | None) -> str | dg.EnvVar | None:
    """An EnvVar when the variable is set, else the default (Dagster fails a run on an unset EnvVar)."""
    return dg.EnvVar(name) if name in os.environ else default


def credential_envs() -> list[str]:
    """Every credential variable a registered source reads."""
    return sorted({name for source in all_sources() for name in key_envs(source)})


def default_resources() -> dict:
    mode = os.environ.get("GPU_PRICES_HTTP_MODE", "live")
    return {
        "http": HttpResource(mode=env_or("GPU_PRICES_HTTP_MODE", "live"), snapshot_dir=env_or("GPU_PRICES_SNAPSHOT", None)),
        "warehouse": WarehouseResource(path=env_or("GPU_PRICES_WAREHOUSE", None)),
        **secret_resources(credential_envs(), bind=mode != "replay"),
    }


def build_defs(resources: dict | None = None) -> dg.Definitions:
    """The definitions with resources bound; the CLI binds its own (replay, --warehouse)."""
    return dg.Definitions(
        assets=ALL_ASSETS,
        jobs=[daily_ingest],
        schedules=[daily_schedule],
        # Credentials not bound by the caller are absent: their sources report "skipped: no key".
        resources={**secret_resources(credential_envs(), bind=False), **(resources or default_resources())},
    )


defs = build_defs()
