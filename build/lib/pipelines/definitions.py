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

from connectors.base import Source
from connectors.registry import all_sources
from pipelines.assets import build_offers_asset, build_raw_asset, daily_partitions
from pipelines.derived import build_gpu_specs_asset, cost_metrics, price_index, published_warehouse
from pipelines.resources import HttpResource, WarehouseResource, key_envs, secret_resources

DAILY_JOB = "daily_ingest"
# Everything after the raw fetches; the CLI runs these for whichever sources it fetched.
DERIVED_ASSET_KEYS = [dg.AssetKey(name) for name in ("offers", "gpu_specs", "cost_metrics", "price_index", "published_warehouse")]


def build_assets(sources: list[Source]) -> list[dg.AssetsDefinition]:
    """One raw asset per source, then the derived assets over them."""
    return [
        *(build_raw_asset(source) for source in sources),
        build_offers_asset(sources),
        build_gpu_specs_asset(sources),
        cost_metrics,
        price_index,
        published_warehouse,
    ]


def build_daily_job(assets: list[dg.AssetsDefinition]) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        name=DAILY_JOB,
        selection=dg.AssetSelection.assets(*assets),
        partitions_def=daily_partitions,
        description="Fetch every source, archive, parse, compute metrics and the index, publish.",
        # One writer at a time: the warehouse lock serialises writes, and in-process keeps runs
        # light on a small machine; switch to the multiprocess executor to fetch in parallel.
        executor_def=dg.in_process_executor,
    )


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


def build_defs(resources: dict | None = None, sources: list[Source] | None = None) -> dg.Definitions:
    """The definitions with resources bound; the CLI binds its own (replay, --warehouse), and a
    test may pass its own sources (the registry's by default)."""
    sources = all_sources() if sources is None else sources
    assets = build_assets(sources)
    job = build_daily_job(assets)
    # 06:00 UTC: after most providers' overnight price-list refreshes.
    schedule = dg.build_schedule_from_partitioned_job(job, hour_of_day=6, minute_of_hour=0)
    credentials = sorted({name for source in sources for name in key_envs(source)})
    return dg.Definitions(
        assets=assets,
        jobs=[job],
        schedules=[schedule],
        # Credentials not bound by the caller are absent: their sources report "skipped: no key".
        resources={**secret_resources(credentials, bind=False), **(resources or default_resources())},
    )


defs = build_defs()
