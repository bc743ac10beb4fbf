"""Adding a provider is one connector, one recorded fixture and one registration line.

Why: CONTRIBUTING promises exactly that, and every extra place a newcomer must edit is a place
they will miss. This test builds a provider here, in the test: a `Source` subclass (the
connector), a recorded snapshot of its endpoint (the fixture: real bytes, Nebius's public
SkyPilot catalog, re-served as if it were the provider's own price list) and one registration
(appended to the registry's list, as the one line in connectors/registry.py would). The real
daily job, built from the registry, then fetches, archives and parses it like any other source.
"""

from __future__ import annotations

import csv
import io
import shutil
from datetime import date
from typing import Iterator

import dagster as dg
import httpx
import polars as pl

from connectors import http, registry
from connectors.base import FetchContext, RawResponse, Source, offers_frame, provenance
from connectors.snapshot import SnapshotEntry, add_entry
from tests.conftest import FIXTURES
from warehouse import read

DAY = date(2026, 8, 22)
URL = "https://prices.example-gpu-cloud.test/v1/price-list.csv"
REAL_BYTES = FIXTURES / "skypilot" / "v8" / "nebius" / "vms@0082b043.csv"


class ExampleCloud(Source):
    id = "example_cloud"
    name = "Example GPU cloud (built in a test)"
    kind = "direct"
    providers = ("example_cloud",)
    url = URL
    description = "A provider that exists only in tests/test_adding_a_provider.py."

    def fetch(self, client: httpx.Client, ctx: FetchContext) -> Iterator[RawResponse]:
        yield http.get(client, self.id, URL)

    def parse(self, responses: list[RawResponse]) -> pl.DataFrame:
        rows = []
        for raw in responses:
            for rec in csv.DictReader(io.StringIO(raw.read().decode())):
                if not rec["AcceleratorName"]:
                    continue
                rows.append({
                    "provider": "example_cloud", "region": rec["Region"], "instance_type": rec["InstanceType"],
                    "gpu_name_raw": rec["AcceleratorName"], "gpu_count": float(rec["AcceleratorCount"]),
                    "pricing": "on_demand", "price": float(rec["Price"]) if rec["Price"] else None,
                    "currency": "USD", **provenance(raw),
                })
        return offers_frame(rows, self.id)


def recorded_fixture(root) -> None:
    """The one recorded fixture: a snapshot directory, as `gpu-prices ingest --record` writes."""
    body = root / "responses" / "example_cloud" / "price-list.csv"
    body.parent.mkdir(parents=True)
    shutil.copy(REAL_BYTES, body)
    add_entry(root, SnapshotEntry(
        source="example_cloud", method="GET", url=URL, status=200, file="responses/example_cloud/price-list.csv",
        fetched_at=f"{DAY}T00:00:00+00:00", headers={"content-type": "text/csv"},
        extra={"origin": f"real bytes of {REAL_BYTES.relative_to(FIXTURES.parent.parent)} re-served for this test"},
    ), snapshot_date=DAY)


def test_a_provider_built_here_lands_through_the_daily_job(tmp_path, monkeypatch):
    from pipelines.definitions import DAILY_JOB, DERIVED_ASSET_KEYS, build_defs
    from pipelines.resources import HttpResource, WarehouseResource

    monkeypatch.setattr(registry, "SOURCES", [*registry.SOURCES, ExampleCloud()])  # the registration line
    snapshot = tmp_path / "snapshot"
    recorded_fixture(snapshot)
    warehouse = tmp_path / "gpu_prices.duckdb"

    defs = build_defs({
        "http": HttpResource(mode="replay", snapshot_dir=str(snapshot)),
        "warehouse": WarehouseResource(path=str(warehouse)),
    })
    result = defs.resolve_job_def(DAILY_JOB).execute_in_process(
        partition_key=DAY.isoformat(),
        asset_selection=[dg.AssetKey(["raw", "example_cloud"]), *DERIVED_ASSET_KEYS],
        run_config={"ops": {"offers": {"config": {"sources": ["example_cloud"]}}}},
    )
    assert result.success

    status = read.query("SELECT * FROM ingest_status WHERE source = 'example_cloud'", path=warehouse).to_dicts()
    assert status and status[0]["last_status"] == "ok", status
    landed = read.query(
        "SELECT instance_type, gpu, gpu_count, price_usd_per_hour, source_url FROM latest_offers "
        "WHERE provider = 'example_cloud' ORDER BY instance_type",
        path=warehouse,
    )
    expected = [r for r in csv.DictReader(REAL_BYTES.open()) if r["AcceleratorName"] and r["Price"]]
    assert landed.height == len(expected) > 0
    assert set(landed["source_url"]) == {URL}
    assert landed.filter(pl.col("gpu").is_null()).is_empty(), landed.filter(pl.col("gpu").is_null())
