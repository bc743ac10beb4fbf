"""The spine end to end: the Dagster definitions load, the bundled real snapshot replays through
the same job the schedule runs, re-running a day changes nothing, and the SQL surface answers
reads and refuses writes. These are the promises the README makes to a newcomer."""

from __future__ import annotations

import json
import shutil

import dagster as dg

from tests.conftest import run_cli
from warehouse import read

TABLES = ["raw_responses", "ingest_runs", "offers", "quarantined_offers", "cost_metrics", "price_index"]


def test_definitions_load():
    from pipelines.definitions import daily_ingest, daily_schedule, defs

    assert isinstance(defs, dg.Definitions)
    job = defs.resolve_job_def(daily_ingest.name)
    assert job.partitions_def is not None
    assert daily_schedule.cron_schedule.startswith("0 6")
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"offers", "gpu_specs", "cost_metrics", "price_index", "published_warehouse"} <= keys
    assert any(k.startswith("raw/") for k in keys)


def test_replayed_snapshot_lands_many_providers(replayed_warehouse):
    providers = read.query("SELECT count(DISTINCT provider) AS n FROM latest_offers", path=replayed_warehouse)
    assert providers["n"][0] >= 8
    runs = read.query("SELECT source, last_status FROM ingest_status", path=replayed_warehouse)
    assert set(runs["last_status"]) == {"ok"}, runs


def test_every_offer_traces_to_archived_bytes(replayed_warehouse):
    orphans = read.query(
        """
        SELECT count(*) AS n FROM offers o
        LEFT JOIN raw_responses r ON r.id = o.raw_response_id AND r.snapshot_date = o.snapshot_date
        WHERE r.id IS NULL OR o.source_url IS NULL OR o.observed_at IS NULL
        """,
        path=replayed_warehouse,
    )
    assert orphans["n"][0] == 0


def test_rerunning_a_day_leaves_every_row_count_unchanged(replayed_warehouse, tmp_path):
    copy = tmp_path / "gpu_prices.duckdb"
    shutil.copy(replayed_warehouse, copy)
    shutil.copytree(replayed_warehouse.parent / "raw", tmp_path / "raw")
    before = {t: read.query(f"SELECT count(*) AS n FROM {t}", path=replayed_warehouse)["n"][0] for t in TABLES}
    run_cli("ingest", "--replay", "--warehouse", str(copy))
    after = {t: read.query(f"SELECT count(*) AS n FROM {t}", path=copy)["n"][0] for t in TABLES}
    assert after == before


def test_sql_command_prints_the_provider_table(replayed_warehouse):
    result = run_cli("sql", "select provider, count(*) as n from latest_offers group by 1 order by 1",
                     "--format", "json", "--warehouse", str(replayed_warehouse))
    rows = json.loads(result.stdout)
    assert len(rows) >= 8 and all(r["n"] > 0 for r in rows)


def test_sql_command_refuses_writes_with_a_clear_message(replayed_warehouse):
    for statement in ("delete from offers", "COPY offers TO 'x.csv'", "ATTACH 'other.duckdb'",
                      "INSTALL httpfs", "CREATE TABLE t (a INT)"):
        result = run_cli("sql", statement, "--warehouse", str(replayed_warehouse), check=False)
        assert result.returncode != 0
        assert "refused" in result.stderr and "read-only" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    result = run_cli("sql", "select * from read_csv('/etc/passwd')", "--warehouse", str(replayed_warehouse), check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr


def test_sources_command_lists_every_source(replayed_warehouse):
    from connectors.registry import all_sources

    result = run_cli("sources", "--warehouse", str(replayed_warehouse))
    for source in all_sources():
        assert source.id in result.stdout
