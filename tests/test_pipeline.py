"""The spine end to end: the Dagster definitions load, the bundled real snapshot replays through
the same job the schedule runs, re-running a day changes nothing, and the SQL surface answers
reads and refuses writes. These are the promises the README makes to a newcomer."""

from __future__ import annotations

import json
import shutil

import dagster as dg

from tests.conftest import run_cli
from warehouse import read

TABLES = [
    "raw_responses", "ingest_runs", "offers", "quarantined_offers", "cost_metrics", "price_index",
    "gpu_specs", "gpu_aliases", "external_specs", "assumptions",
]


def test_definitions_load():
    from pipelines.definitions import DAILY_JOB, defs

    assert isinstance(defs, dg.Definitions)
    job = defs.resolve_job_def(DAILY_JOB)
    assert job.partitions_def is not None
    (schedule,) = defs.schedules
    assert schedule.cron_schedule.startswith("0 6")
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


def test_replayed_materialisation_through_dagster(tmp_path):
    """The daily job itself, materialised in process on one bundled day, with its asset checks."""
    from pipelines.definitions import DAILY_JOB, build_defs
    from pipelines.resources import HttpResource, WarehouseResource
    from tests.conftest import PROJECT_ROOT

    snapshot = PROJECT_ROOT / "snapshots" / "bundled" / "2024-01-19"
    defs = build_defs({
        "http": HttpResource(mode="replay", snapshot_dir=str(snapshot)),
        "warehouse": WarehouseResource(path=str(tmp_path / "gpu_prices.duckdb")),
    })
    keys = [dg.AssetKey(["raw", "oci"])] + [
        dg.AssetKey(name) for name in ("offers", "gpu_specs", "cost_metrics", "price_index", "published_warehouse")
    ]
    result = defs.resolve_job_def(DAILY_JOB).execute_in_process(
        partition_key="2024-01-19",
        asset_selection=keys,
        run_config={"ops": {"offers": {"config": {"sources": ["oci"]}}}},
    )
    assert result.success
    materialised = {
        e.event_specific_data.materialization.asset_key.to_user_string()
        for e in result.get_asset_materialization_events()
    }
    assert {"raw/oci", "offers", "cost_metrics", "price_index", "published_warehouse"} <= materialised
    checks = result.get_asset_check_evaluations()
    assert {c.check_name for c in checks} == {
        "fetch_succeeded", "row_count_vs_previous_day", "prices_within_bounds", "every_offer_has_source_url",
        "rows_accounted_for",
    }
    assert all(c.passed for c in checks)
    offers = read.query("SELECT count(*) AS n, count(DISTINCT gpu) AS gpus FROM offers", path=tmp_path / "gpu_prices.duckdb")
    assert offers["n"][0] > 0


def test_an_assumption_override_changes_the_metrics_and_survives_reset(replayed_warehouse, tmp_path):
    copy = tmp_path / "gpu_prices.duckdb"
    shutil.copy(replayed_warehouse, copy)
    query = ("SELECT round(avg(utilisation), 4) AS u FROM gpu_cost_metrics "
             "WHERE gpu = 'H100-SXM-80GB' AND precision = 'bf16'")
    # The market metrics use the reference 70B model's MFU: override Hopper's 70B row.
    run_cli("assumptions", "set", "--kind", "training_mfu", "--generation", "hopper", "--precision", "bf16",
            "--model-params", "70e9", "--measured-gpus", "1024", "--value", "0.5", "--warehouse", str(copy))
    assert read.query(query, path=copy)["u"][0] == 0.5
    run_cli("assumptions", "reset", "--warehouse", str(copy))
    assert read.query(query, path=copy)["u"][0] == 0.2527


def test_source_disagreements_pairs_quotes_more_than_five_percent_apart(tmp_path):
    """Two sources quoting the same offer on the same day: 4% apart is agreement, 20% is not."""
    from datetime import date, datetime, timezone

    import polars as pl

    from market.rules import FinalizedOffers
    from market.offer import OFFER_COLUMNS, QUARANTINE_COLUMNS
    from warehouse.store import Warehouse

    def row(source, instance_type, price):
        return {
            "snapshot_date": date(2026, 8, 22), "source": source, "provider": "lambda", "region": "us-east-1",
            "instance_type": instance_type, "gpu": "H100-SXM-80GB", "gpu_name_raw": "H100", "gpu_count": 1.0,
            "gpu_memory_gb": 80.0, "vcpus": None, "ram_gb": None, "pricing": "on_demand",
            "price_usd_per_hour": price, "price_usd_per_gpu_hour": price, "currency": "USD",
            "price_original": price, "spot_is_estimate": False, "source_url": f"https://example.test/{source}",
            "observed_at": datetime(2026, 8, 22, tzinfo=timezone.utc), "raw_response_id": "x",
        }

    warehouse = Warehouse(tmp_path / "w.duckdb")

    def finalized(source, rows):
        return FinalizedOffers(source, len(rows), pl.DataFrame(rows, schema=OFFER_COLUMNS),
                               pl.DataFrame(schema=QUARANTINE_COLUMNS),
                               pl.DataFrame(schema={"rule": pl.String, "rows": pl.Int64}))

    with warehouse.writer() as w:
        w.replace_offers(date(2026, 8, 22), "direct_a",
                         finalized("direct_a", [row("direct_a", "close", 2.00), row("direct_a", "far", 2.00)]))
        w.replace_offers(date(2026, 8, 22), "catalog_b",
                         finalized("catalog_b", [row("catalog_b", "close", 2.08), row("catalog_b", "far", 2.40)]))
    warehouse.publish()
    pairs = read.query("SELECT instance_type, diff_pct FROM source_disagreements", path=warehouse.path)
    assert pairs.to_dicts() == [{"instance_type": "far", "diff_pct": 20.0}]
