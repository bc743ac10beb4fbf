"""Dagster definitions: `dagster dev` (or `dg dev`) loads this module.

Resources are bound in one place, here, from environment variables through `dg.EnvVar`
(read when a run launches, never shown in the UI): the HTTP mode from $GPU_PRICES_HTTP_MODE
(live by default; `replay` with $GPU_PRICES_SNAPSHOT for an offline instance), the warehouse
path from $GPU_PRICES_WAREHOUSE (default data/gpu_prices.duckdb in the working folder), and
each keyed source's credentials from the variables it names (`gpu-prices sources`).

The executor is configuration too, from $GPU_PRICES_EXECUTOR: `in_process` (default: one
process; the raw step fetches every source in its own thread), `multiprocess` (each step in
its own process; the derived steps of a day then overlap), or `k8s` / `celery` for a cluster
(needs `dagster-k8s` / `dagster-celery` installed and storage every pod can reach; see
docs/scale.md). The asset graph is the same whichever runs it.
"""

from __future__ import annotations

import os

import dagster as dg

from connectors.base import Source
from connectors.registry import all_sources
from pipelines.assets import build_offers_asset, build_raw_assets, daily_partitions
from pipelines.backfill_job import archive_backfill, build_backfill_job
from pipelines.derived import build_gpu_specs_asset, cost_metrics, price_index, published_warehouse, reference_runs
from pipelines.resources import HttpResource, WarehouseResource, key_envs, secret_resources

DAILY_JOB = "daily_ingest"
# Everything after the raw fetches; the CLI runs these for whichever sources it fetched.
DERIVED_ASSET_KEYS = [dg.AssetKey(name) for name in ("offers", "gpu_specs", "cost_metrics", "price_index", "reference_runs", "published_warehouse")]


def build_assets(sources: list[Source]) -> list[dg.AssetsDefinition]:
    """One raw asset per source, then the derived assets over them."""
    return [
        build_raw_assets(sources),
        build_offers_asset(sources),
        build_gpu_specs_asset(sources),
        cost_metrics,
        price_index,
        reference_runs,
        published_warehouse,
    ]


EXECUTOR_ENV = "GPU_PRICES_EXECUTOR"
WAREHOUSE_TAG = "gpu_prices/warehouse"
EXECUTORS = ("in_process", "multiprocess", "k8s", "celery")


def executor_named(name: str) -> dg.ExecutorDefinition:
    """The executor for a name in EXECUTORS. The cluster ones come from their own packages,
    installed only where a cluster runs the job."""
    if name == "in_process":
        return dg.in_process_executor
    if name == "multiprocess":
        return dg.multiprocess_executor
    package = {"k8s": "dagster_k8s", "celery": "dagster_celery"}.get(name)
    if package is None:
        raise ValueError(f"${EXECUTOR_ENV} must be one of {', '.join(EXECUTORS)}, not {name!r}")
    try:
        module = __import__(package)
    except ImportError as exc:
        raise ValueError(
            f"${EXECUTOR_ENV}={name} needs the {package.replace('_', '-')} package (the release "
            f"matching dagster {dg.__version__}); see docs/scale.md"
        ) from exc
    return module.k8s_job_executor if name == "k8s" else module.celery_executor


def build_daily_job(assets: list[dg.AssetsDefinition], executor: dg.ExecutorDefinition | None = None) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        name=DAILY_JOB,
        selection=dg.AssetSelection.assets(*assets),
        partitions_def=daily_partitions,
        description="Fetch every source, archive, parse, compute metrics and the index, publish.",
        # One run at a time holds the warehouse: a run queue limits this tag to 1 (docs/scale.md).
        tags={WAREHOUSE_TAG: "main"},
        # In-process by default: the raw step already fetches every source at once in threads,
        # and one process keeps one writer for the whole run (benchmarks/live_day.py measures
        # the multiprocess executor against it).
        executor_def=executor or executor_named(os.environ.get(EXECUTOR_ENV, "in_process")),
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


def build_defs(
    resources: dict | None = None,
    sources: list[Source] | None = None,
    executor: dg.ExecutorDefinition | None = None,
) -> dg.Definitions:
    """The definitions with resources bound; the CLI binds its own (replay, --warehouse), and a
    test may pass its own sources (the registry's by default) or executor ($GPU_PRICES_EXECUTOR's
    by default)."""
    sources = all_sources() if sources is None else sources
    assets = build_assets(sources)
    job = build_daily_job(assets, executor)
    # 06:00 UTC: after most providers' overnight price-list refreshes.
    schedule = dg.build_schedule_from_partitioned_job(job, hour_of_day=6, minute_of_hour=0)
    credentials = sorted({name for source in sources for name in key_envs(source)})
    return dg.Definitions(
        assets=[*assets, archive_backfill],
        jobs=[job, build_backfill_job()],
        schedules=[schedule],
        # Credentials not bound by the caller are absent: their sources report "skipped: no key".
        resources={**secret_resources(credentials, bind=False), **(resources or default_resources())},
    )


def daily_job() -> dg.JobDefinition:
    """The daily job as this module defines it from the environment. Running it with the
    multiprocess executor from Python needs `dg.reconstructable(daily_job)`: each step process
    imports this module and rebuilds the job."""
    return build_defs().resolve_job_def(DAILY_JOB)


defs = build_defs()
