"""Why: issue 8, "every source row accounted for" and "failure isolation per row and per file".
A source used to fail whole on one bad cell, and rows vanished without a count. These tests pin,
on the real bundled snapshot: the accounting stored per source and day (rows read = offers +
quarantined + unmapped + excluded, exclusions by rule) and shown by `gpu-prices sources
--format json`; the blocking Dagster check that refuses a day whose rows do not add up; an
`N/A` price that quarantines its row while every other row of every cloud lands; a broken
catalog file that fails only that cloud; the identity columns on every offer
(`canonical_gpu`, `identity_basis`); no per-GPU memory above the family's largest card; and the
price index counting a reseller's offer for the cloud behind it.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from connectors.http import build_client
from connectors.registry import get_source
from connectors.snapshot import ReplayTransport
from market.gpu_names import family_of, variants_of
from pipelines.assets import offer_checks
from pipelines.ingest import fetch_source, parse_source
from warehouse.transforms import build_price_index
from tests.conftest import PROJECT_ROOT, run_cli
from warehouse import read
from warehouse.checks import accounting_problems
from warehouse.store import Warehouse

BUNDLED_DAY = PROJECT_ROOT / "snapshots" / "bundled" / "2026-08-22"
DAY = date(2026, 8, 22)


def _ingest(warehouse: Warehouse, snapshot: Path, source_id: str):
    source = get_source(source_id)
    with build_client(ReplayTransport(snapshot), sleep=lambda s: None) as client:
        fetch_source(warehouse, source, client, DAY, mode="replay")
    return parse_source(warehouse, source, DAY)


def _snapshot_copy(tmp_path: Path, edit=None) -> Path:
    copy = tmp_path / "snap"
    shutil.copytree(BUNDLED_DAY, copy)
    if edit:
        edit(copy)
    return copy


# --- stored accounting and the CLI -----------------------------------------------------------

def test_sources_json_shows_the_accounting_of_every_source(replayed_warehouse):
    out = json.loads(run_cli("sources", "--format", "json", "--warehouse", str(replayed_warehouse)).stdout)
    by_id = {s["id"]: s for s in out}
    ran = [s for s in out if s["last_status"] == "ok" and s["kind"] != "specs"]
    assert {s["id"] for s in ran} == {"azure", "cyclenerd", "oci", "skypilot"}
    for s in ran:
        assert s["unaccounted"] == 0, s
        assert s["rows_read"] == s["offers"] + s["quarantined"] + s["unmapped"] + s["excluded"] > 0
        assert sum(s["exclusions"].values()) == s["excluded"]
    assert by_id["azure"]["exclusions"] == {"windows-licence": 250}
    assert by_id["azure"]["unmapped"] == 3  # NDmr40s v2: on no Microsoft Learn size page
    assert by_id["skypilot"]["exclusions"]["cpu-only"] > 0


def test_identity_is_on_every_offer_and_queryable(replayed_warehouse):
    result = run_cli("sql", "select canonical_gpu, identity_basis, count(*) as n from latest_offers group by all",
                     "--format", "json", "--warehouse", str(replayed_warehouse))
    rows = json.loads(result.stdout)
    assert {r["identity_basis"] for r in rows} == {"instance table", "row evidence", "name default"}
    assert all(r["canonical_gpu"] for r in rows)
    notes = read.query("SELECT count(*) FROM latest_offers WHERE identity_note IS NULL OR identity_basis IS NULL",
                       path=replayed_warehouse).item()
    assert notes == 0


def test_no_offer_has_more_memory_per_gpu_than_its_family(replayed_warehouse):
    offers = read.query("SELECT DISTINCT gpu, gpu_memory_gb FROM offers WHERE gpu_memory_gb IS NOT NULL",
                        path=replayed_warehouse)
    for gpu, memory in offers.iter_rows():
        largest = max(v.memory_gb for v in variants_of(family_of(gpu)) if v.memory_gb)
        assert memory <= largest, (gpu, memory)


def test_unmapped_gpus_view_lists_the_unmapped_rows(replayed_warehouse):
    unmapped = read.query("SELECT * FROM unmapped_gpus", path=replayed_warehouse)
    assert unmapped["gpu_name_raw"].to_list() == ["NDSv2"]  # Azure's NDmr40s v2 product family
    assert unmapped["sources"][0].to_list() == ["azure"]


# --- the blocking check -----------------------------------------------------------------------

def test_the_blocking_check_fails_a_day_whose_rows_do_not_add_up(tmp_path):
    warehouse = Warehouse(tmp_path / "w.duckdb")
    assert _ingest(warehouse, BUNDLED_DAY, "azure").status == "ok"
    with warehouse.writer() as w:
        assert accounting_problems(w.con, DAY) == []
        checks = {c.check_name: c for c in offer_checks(w, DAY)}
        assert checks["rows_accounted_for"].passed
        # A row lost after the fact (here: deleted by hand) is caught.
        w.con.execute("DELETE FROM offer_intervals WHERE interval_id = (SELECT min(interval_id) FROM offer_intervals)")
        problems = accounting_problems(w.con, DAY)
        assert [p["source"] for p in problems] == ["azure"]
        assert not {c.check_name: c for c in offer_checks(w, DAY)}["rows_accounted_for"].passed


def test_the_check_is_declared_blocking():
    from connectors.registry import all_sources
    from pipelines.assets import build_offers_asset

    offers = build_offers_asset(all_sources())
    spec = next(s for s in offers.check_specs if s.name == "rows_accounted_for")
    assert spec.blocking


# --- failure isolation --------------------------------------------------------------------------

def _edit_lambda_price(copy: Path) -> tuple[str, str]:
    """Hand-edited for the test: the first GPU row's Price of the real Lambda catalog -> N/A."""
    path = copy / "responses" / "skypilot" / "lambda__vms.csv"
    lines = path.read_bytes().split(b"\r\n")
    header = lines[0].decode().split(",")
    price_at = header.index("Price")
    for n, line in enumerate(lines[1:], start=1):
        cells = line.decode().split(",")
        if len(cells) > price_at and cells[0].startswith("gpu_") and cells[price_at]:
            cells[price_at] = "N/A"
            lines[n] = ",".join(cells).encode()
            path.write_bytes(b"\r\n".join(lines))
            return cells[0], cells[header.index("Region")]
    raise AssertionError("no GPU row in the lambda catalog")


def test_an_na_price_quarantines_its_row_and_every_other_row_of_every_cloud_lands(tmp_path):
    clean = Warehouse(tmp_path / "clean" / "w.duckdb")
    _ingest(clean, BUNDLED_DAY, "skypilot")
    clean.publish()
    edited = tmp_path / "edited"
    edited.mkdir()
    snapshot = _snapshot_copy(edited)
    instance, region = _edit_lambda_price(snapshot)
    path = edited / "w.duckdb"
    run_cli("ingest", "--replay", str(snapshot), "--sources", "skypilot", "--warehouse", str(path))

    key = ["provider", "region", "instance_type", "pricing"]
    before = read.query("SELECT * FROM offers WHERE source = 'skypilot'", path=clean.path).sort(key)
    after = read.query("SELECT * FROM offers WHERE source = 'skypilot'", path=path).sort(key)
    lost = before.join(after, on=key, how="anti")
    assert lost.select("provider", "instance_type", "region", "pricing").to_dicts() == [
        {"provider": "lambda", "instance_type": instance, "region": region, "pricing": "on_demand"}
    ]
    assert after.height == before.height - 1
    assert set(after["provider"]) == set(before["provider"])  # every cloud still lands
    quarantined = read.query("SELECT instance_type, region, reason FROM quarantined_offers WHERE source = 'skypilot' "
                             "AND reason LIKE '%N/A%'", path=path).to_dicts()
    assert quarantined == [{"instance_type": instance, "region": region,
                            "reason": "column 'Price' is not a number ('N/A')"}]
    status = read.query("SELECT last_status, last_unaccounted FROM (SELECT *, rows_read - offers_written - quarantined "
                        "- unmapped - excluded AS last_unaccounted, status AS last_status FROM ingest_runs "
                        "WHERE source = 'skypilot')", path=path).row(0)
    assert status == ("ok", 0)


def test_a_broken_catalog_file_fails_only_its_cloud(tmp_path):
    def break_nebius(copy: Path) -> None:
        (copy / "responses" / "skypilot" / "nebius__vms.csv").write_bytes(b"<!DOCTYPE html><html>rate limited</html>")

    warehouse = Warehouse(tmp_path / "w.duckdb")
    outcome = _ingest(warehouse, _snapshot_copy(tmp_path, break_nebius), "skypilot")
    assert outcome.status == "ok" and outcome.offers > 1000
    with warehouse.writer() as w:
        message = w.run_state(DAY, "skypilot")["message"]
        providers = {r[0] for r in w.con.sql("SELECT DISTINCT provider FROM offers").fetchall()}
    assert "file failed: nebius" in message and "HTML" in message
    assert "nebius" not in providers and "lambda" in providers


def test_a_source_with_no_readable_file_fails_and_keeps_the_days_earlier_rows(tmp_path):
    warehouse = Warehouse(tmp_path / "w.duckdb")
    assert _ingest(warehouse, BUNDLED_DAY, "azure").status == "ok"
    with warehouse.writer() as w:
        before = w.con.sql("SELECT count(*) FROM offers").fetchall()[0][0]

    def break_every_page(copy: Path) -> None:
        for page in (copy / "responses" / "azure").glob("*.json"):
            page.write_bytes(b"<!DOCTYPE html><html>down</html>")

    outcome = _ingest(warehouse, _snapshot_copy(tmp_path, break_every_page), "azure")
    assert outcome.status == "failed"
    with warehouse.writer() as w:
        assert w.con.sql("SELECT count(*) FROM offers").fetchall()[0][0] == before


# --- resellers in the index ---------------------------------------------------------------------

def test_the_index_counts_a_resellers_offer_for_the_cloud_behind_it():
    rows = [
        {"gpu": "H100-SXM-80GB", "pricing": "on_demand", "provider": "lambda", "underlying_provider": None, "price_usd_per_gpu_hour": 3.0},
        {"gpu": "H100-SXM-80GB", "pricing": "on_demand", "provider": "shadeform", "underlying_provider": "lambda", "price_usd_per_gpu_hour": 3.2},
        {"gpu": "H100-SXM-80GB", "pricing": "on_demand", "provider": "shadeform", "underlying_provider": "crusoe", "price_usd_per_gpu_hour": 2.9},
        {"gpu": "H100-SXM-80GB", "pricing": "on_demand", "provider": "shadeform", "underlying_provider": "massedcompute", "price_usd_per_gpu_hour": 2.7},
    ]
    index = build_price_index(pl.DataFrame(rows), DAY)
    # lambda (its own list and Shadeform's resale), crusoe and massedcompute: three clouds, not
    # "lambda and shadeform"; and with three, the index is published.
    assert index["providers"].to_list() == [3] and index["offers"].to_list() == [4]
    assert index["index_usd"].to_list() == [pytest.approx(2.9)]  # median of 3.1, 2.9, 2.7
