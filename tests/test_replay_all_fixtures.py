"""One replay over every source's recorded test fixture, through the real CLI and Dagster job.

Why this exists: each connector test parses its own fixture in isolation; this proves the
fixtures also work end to end as snapshots. A source's recorded fixture is its folder in
tests/fixtures/<source id>/ with a `manifest.json` (the format `gpu-prices ingest --record`
writes), answering the URLs, methods and POST bodies its fetch really sends. All of them are
combined into one snapshot and replayed: every source lands "ok", the offers come from at
least 15 distinct providers, and each offer traces to an archived raw response.

The fixtures mix real, documented-sample and hand-made payloads: this is TEST data, never
market data, so it is replayed only into a throwaway warehouse under tmp_path.
"""

from __future__ import annotations

from datetime import date

import pytest

from connectors.registry import all_sources, price_sources
from connectors.snapshot import MANIFEST, Snapshot, combine_snapshots
from pipelines.resources import key_envs
from tests.conftest import FIXTURES, PROJECT_ROOT, run_cli
from warehouse import read

MIN_PROVIDERS = 15

# Registered price sources whose recorded fixture cannot serve a whole fetch yet, and why.
# When a fixture closes a gap, remove the source here (the test below insists).
NOT_REPLAYABLE = {
    "aws": "no real index.json / region_index.json / region CSV chain is recorded; only opencost's "
    "real us-east-1 JSON excerpt, which the connector does not request",
    "gcp": "the recorded SKU page announces a nextPageToken whose terminal page is only an inline "
    "literal in tests/test_connector_gcp.py, not a recorded response",
}

# Environment variables holding keys: a replay must not depend on them.
KEY_ENVS = sorted({name for s in all_sources() for name in key_envs(s)})


def recorded_fixtures() -> dict[str, Snapshot]:
    """Every source folder under tests/fixtures holding a recorded snapshot, by folder name."""
    return {d.name: Snapshot(d) for d in sorted(FIXTURES.iterdir()) if (d / MANIFEST).is_file()}


def test_every_registered_source_has_a_recorded_fixture_or_a_stated_gap():
    fixtures = recorded_fixtures()
    registered = {s.id for s in all_sources()}
    assert registered - set(fixtures) == set(NOT_REPLAYABLE), sorted(registered - set(fixtures))
    assert set(fixtures) <= registered, f"fixture folders for unregistered sources: {sorted(set(fixtures) - registered)}"
    for name, snapshot in fixtures.items():
        assert snapshot.sources() == {name}, f"{name}/manifest.json records other sources: {snapshot.sources()}"
        for entry in snapshot.entries:
            assert (snapshot.root / entry.file).is_file(), entry.file
            assert (PROJECT_ROOT / entry.extra["fixture"]["provenance"]).is_file(), entry.extra
            assert (entry.method == "POST") == (entry.request_body_sha256 is not None), entry.url


@pytest.fixture(scope="module")
def combined(tmp_path_factory):
    """Every recorded fixture as one snapshot directory."""
    return combine_snapshots(
        [s.root for s in recorded_fixtures().values()],
        tmp_path_factory.mktemp("all_fixtures") / "snapshot",
        date(2026, 1, 1),
        "TEST snapshot combining every source's recorded fixture; NOT market data.",
    )


@pytest.fixture(scope="module")
def replayed(combined, tmp_path_factory):
    """The warehouse path after `gpu-prices ingest --replay <every fixture combined>`."""
    path = tmp_path_factory.mktemp("replay_all") / "w.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        for name in KEY_ENVS:
            mp.delenv(name, raising=False)
        run_cli("ingest", "--replay", str(combined), "--warehouse", str(path))
    return path


def test_every_source_in_the_snapshot_ends_ok(replayed):
    status = {
        row["source"]: row
        for row in read.query(
            "SELECT source, last_status, last_message, last_offers_written FROM ingest_status", path=replayed
        ).to_dicts()
    }
    for source in sorted(recorded_fixtures()):
        assert source in status, f"{source} never ran"
        row = status[source]
        assert row["last_status"] == "ok", f"{source}: {row['last_status']}: {row['last_message']}"
        assert row["last_offers_written"] > 0, f"{source} landed nothing"


def test_offers_from_at_least_15_providers(replayed):
    providers = read.query(
        "SELECT provider, count(*) AS n FROM latest_offers GROUP BY provider ORDER BY provider", path=replayed
    )
    assert providers.height >= MIN_PROVIDERS, f"only {providers.height} providers: {providers.to_dicts()}"


def test_every_offer_traces_to_an_archived_response(replayed):
    total = read.query("SELECT count(*) AS n FROM offers", path=replayed).item()
    assert total > 0
    untraced = read.query(
        """
        SELECT o.source, o.provider, o.instance_type, o.source_url, o.raw_response_id
        FROM offers o
        WHERE coalesce(o.source_url, '') = ''
           OR NOT EXISTS (
               SELECT 1 FROM raw_responses r
               WHERE r.id = o.raw_response_id AND r.snapshot_date = o.snapshot_date
                 AND r.source = o.source AND r.url = o.source_url
           )
        """,
        path=replayed,
    )
    assert untraced.height == 0, untraced.head(10).to_dicts()
