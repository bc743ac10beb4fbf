"""Run one live day of the daily Dagster job, in whichever version of the code is on PYTHONPATH.

Started by benchmarks/live_day.py as `python -m bench_day DATE SOURCES EXECUTOR` with the code
under test and this folder on PYTHONPATH; the resources come from the environment
(GPU_PRICES_HTTP_MODE=live, GPU_PRICES_WAREHOUSE, the sources' keys) exactly as `dagster dev`
binds them, and `sitecustomize` sends the network requests to the local replay server.
Prints one JSON line: when the run started and ended (time.monotonic, comparable with the
server's log) and whether it succeeded.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

import dagster as dg

EXECUTOR_ENV = "GPU_PRICES_BENCH_EXECUTOR"
MAX_CONCURRENT_ENV = "GPU_PRICES_BENCH_MAX_CONCURRENT"


def bench_daily_job() -> dg.JobDefinition:
    """The code's own daily job, with its executor swapped for the one under test (the job of
    older versions names in-process; each step process rebuilds this from the environment)."""
    from pipelines.definitions import DAILY_JOB, build_defs

    job = build_defs().resolve_job_def(DAILY_JOB)
    if os.environ.get(EXECUTOR_ENV) == "multiprocess":
        return job.with_executor_def(dg.multiprocess_executor)
    return job.with_executor_def(dg.in_process_executor)


def step_seconds(instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
    """How long each step of the run took, by Dagster's own step stats."""
    return {
        stat.step_key: round(stat.end_time - stat.start_time, 2)
        for stat in instance.get_run_step_stats(run_id)
        if stat.start_time and stat.end_time
    }


def main() -> None:
    from pipelines.definitions import DERIVED_ASSET_KEYS

    day, sources, executor = sys.argv[1], sys.argv[2].split(","), sys.argv[3]
    os.environ[EXECUTOR_ENV] = executor
    from connectors.registry import get_source

    price_ids = [s for s in sources if get_source(s).kind != "specs"]
    selection = [dg.AssetKey(["raw", s]) for s in sources] + list(DERIVED_ASSET_KEYS)
    run_config = {
        "ops": {"offers": {"config": {"sources": price_ids}}},
        "loggers": {"console": {"config": {"log_level": "ERROR"}}},
    }
    with tempfile.TemporaryDirectory(prefix="bench-dagster-home-") as home:
        if executor == "multiprocess":
            run_config["execution"] = {"config": {"max_concurrent": int(os.environ.get(MAX_CONCURRENT_ENV, "16"))}}
            with dg.DagsterInstance.local_temp(home) as instance:
                started = time.monotonic()
                result = dg.execute_job(
                    dg.reconstructable(bench_daily_job), instance=instance, run_config=run_config,
                    tags={"dagster/partition": day}, asset_selection=selection,
                )
                ended = time.monotonic()
                steps = step_seconds(instance, result.run_id)
        else:
            job = bench_daily_job()
            with dg.DagsterInstance.ephemeral() as instance:
                started = time.monotonic()
                result = job.execute_in_process(
                    partition_key=day, run_config=run_config, asset_selection=selection, raise_on_error=False,
                    instance=instance,
                )
                ended = time.monotonic()
                steps = step_seconds(instance, result.run_id)
        failures = [
            f"{e.step_key}: {e.event_specific_data.error.message.strip()[:300]}"
            for e in result.all_events if e.is_step_failure
        ]
    print(json.dumps({"started": started, "ended": ended, "success": result.success, "step_failures": failures,
                      "steps": steps}))


if __name__ == "__main__":
    main()
