"""Why: issue 10, "years of real history from public git archives". A backfill turns every
committed version of a tracker's file into an observation, and it must be trustworthy history:
each version in the partition of its commit day, observed at its commit time, traced to the raw
file at that commit; every version archived before parsing, the day's last one parsed; marked
as backfilled; idempotent; never overwriting a day the project fetched itself; gaps shown, not
filled; every archive row accounted for. The live path (GitHub's commits API + raw files) is
replayed from recorded responses (tests/fixtures/backfill, see its PROVENANCE.md); the offline
path reads the archives shipped in snapshots/archives. Ranges are kept to a few days: the full
archives are the demo's job.
"""

from __future__ import annotations

from collections import Counter

import json
from datetime import date, timezone

import dagster as dg
import pytest

from connectors.archive import Archive, live_versions, read_index, utc
from connectors.http import build_client
from connectors.registry import get_archive, get_source
from connectors.snapshot import ReplayTransport
from pipelines.backfill import backfill_versions, run_backfill
from pipelines.ingest import fetch_source, parse_source
from tests.conftest import PROJECT_ROOT, run_cli
from warehouse.store import Warehouse

ARCHIVES = PROJECT_ROOT / "snapshots" / "archives"
RECORDED = PROJECT_ROOT / "tests" / "fixtures" / "backfill"


def _index_rows(archive_id: str) -> list[dict]:
    """Every index row of an archive (all its files), with the folder it came from."""
    _, spec = get_archive(archive_id)
    rows = []
    for file in spec.files:
        folder = ARCHIVES / archive_id / file.folder if file.folder else ARCHIVES / archive_id
        rows += [{**row, "folder": file.folder, "path": file.path} for row in read_index(folder)]
    return rows


def _sql(warehouse: Warehouse, query: str, params: list | None = None) -> list[tuple]:
    with warehouse.writer() as w:
        return w.con.execute(query, params or []).fetchall()


def _offline(warehouse: Warehouse, archive_id: str, since: date, until: date):
    return run_backfill(warehouse, archive_id, root=ARCHIVES / archive_id, since=since, until=until)


@pytest.fixture
def warehouse(tmp_path) -> Warehouse:
    return Warehouse(tmp_path / "gpu_prices.duckdb")


def test_each_version_lands_on_its_commit_day_at_its_commit_time_with_every_version_archived(warehouse):
    since, until = date(2026, 8, 19), date(2026, 8, 20)
    summary = _offline(warehouse, "azure-pricing-radar", since, until)
    in_range = [r for r in _index_rows("azure-pricing-radar") if since <= utc(r["committed_at"]).date() <= until]
    assert len(in_range) > 2 and summary.versions == len(in_range)

    # Every version's bytes are archived under its commit day, at the raw URL of its commit.
    archived = _sql(warehouse, "SELECT snapshot_date, url, fetched_at FROM raw_responses WHERE source = 'azure-pricing-radar'")
    expected = {(utc(r["committed_at"]).date(),
                 f"https://raw.githubusercontent.com/andy-diericks/azure-pricing-radar/{r['commit']}/{r['path']}",
                 utc(r["committed_at"])) for r in in_range}
    assert {(d, u, t.astimezone(timezone.utc)) for d, u, t in archived} == expected

    # Offers: the day's last version of each region file, observed at that commit's time.
    for day in (since, until):
        last = {}
        for r in sorted((r for r in in_range if utc(r["committed_at"]).date() == day), key=lambda r: utc(r["committed_at"])):
            last[r["path"]] = r
        got = _sql(warehouse, "SELECT DISTINCT source_url, observed_at FROM offers WHERE source = 'azure-pricing-radar' "
                              "AND snapshot_date = ?", [day])
        want = {(f"https://raw.githubusercontent.com/andy-diericks/azure-pricing-radar/{r['commit']}/{r['path']}",
                 utc(r["committed_at"])) for r in last.values() if r["folder"] != "belgium"}  # belgium's file is {}
        assert {(u, t.astimezone(timezone.utc)) for u, t in got} == want

    runs = _sql(warehouse, "SELECT snapshot_date, mode, status FROM ingest_runs WHERE source = 'azure-pricing-radar' ORDER BY 1")
    assert runs == [(since, "backfill", "ok"), (until, "backfill", "ok")]
    flags = _sql(warehouse, "SELECT DISTINCT backfilled FROM offers_history WHERE source = 'azure-pricing-radar'")
    assert flags == [(True,)]


def test_every_archive_row_is_accounted_for(warehouse):
    """rows read = offers + quarantined + unmapped + excluded, and rows read = the records of the
    parsed versions, for a GCP, an Azure and a market-level archive."""
    cases = {
        "cyclenerd": (date(2024, 6, 20), date(2024, 6, 27)),
        "azure-pricing-radar": (date(2026, 8, 3), date(2026, 8, 3)),
        "becloudready": (date(2024, 9, 24), date(2024, 9, 25)),
    }
    for archive_id, (since, until) in cases.items():
        summary = _offline(warehouse, archive_id, since, until)
        assert summary.landed, archive_id
        rows = _sql(warehouse, """
            SELECT r.snapshot_date, r.rows_read, r.offers_written, r.quarantined, r.unmapped, r.excluded,
                   (SELECT count(*) FROM offers o WHERE o.source = r.source AND o.snapshot_date = r.snapshot_date),
                   (SELECT count(*) FROM quarantined_offers q WHERE q.source = r.source AND q.snapshot_date = r.snapshot_date),
                   (SELECT coalesce(sum(e.rows), 0) FROM source_exclusions e WHERE e.source = r.source AND e.snapshot_date = r.snapshot_date)
            FROM ingest_runs r WHERE r.source = ? AND r.status = 'ok'""", [archive_id])
        assert len(rows) == len(summary.landed)
        for day, read, offers, quarantined, unmapped, excluded, n_offers, n_quarantine, n_excluded in rows:
            assert read > 0 and read == offers + quarantined + unmapped + excluded, (archive_id, day)
            assert (n_offers, n_quarantine, n_excluded) == (offers, quarantined + unmapped, excluded)

    # becloudready: every list entry of the parsed version is a market-level quote, checked
    # against a plain json reading of the same bytes with its own provider names.
    day = date(2024, 9, 24)
    row = next(r for r in _index_rows("becloudready") if utc(r["committed_at"]).date() == day)
    entries = json.loads(_version_bytes_in("becloudready", row["file"]))
    our_names = {"lambdalabs": "lambda", "datacrunch": "verda"}
    expected = Counter((our_names.get(e["provider"], e["provider"]), e["gpuModel"], float(e["price"].lstrip("$")))
                       for e in entries)
    stored = _sql(warehouse, "SELECT provider, gpu_model, price_usd_per_instance_hour, quotes FROM market_quotes "
                             "WHERE source = 'becloudready' AND snapshot_date = ?", [day])
    assert {(p, m, price): n for p, m, price, n in stored} == dict(expected)
    assert _sql(warehouse, "SELECT rule, rows FROM source_exclusions WHERE source = 'becloudready' "
                           "AND snapshot_date = ?", [day]) == [("market-level-quote", len(entries))]
    assert _sql(warehouse, "SELECT count(*) FROM offers WHERE source = 'becloudready'") == [(0,)]
    assert _sql(warehouse, "SELECT count(*) FROM quarantined_offers WHERE source = 'becloudready'") == [(0,)]
    # offers_history carries them, marked, with no per-GPU price; the per-GPU index never sees them.
    assert _sql(warehouse, """SELECT DISTINCT price_basis, gpu, gpu_count, price_usd_per_gpu_hour, pricing, backfilled
                              FROM offers_history WHERE source = 'becloudready'""") == [
        ("market-level quote", None, None, None, None, True)]
    assert _sql(warehouse, "SELECT sum(quotes) FROM market_quotes_daily WHERE source = 'becloudready' "
                           "AND snapshot_date = ?", [day]) == [(len(entries),)]


def test_a_rerun_is_idempotent(warehouse):
    since, until = date(2026, 8, 1), date(2026, 8, 3)
    snapshot = ("SELECT * FROM offers ORDER BY ALL", "SELECT id, snapshot_date, url, sha256 FROM raw_responses ORDER BY ALL",
                "SELECT snapshot_date, source, status, mode, rows_read, offers_written, quarantined, unmapped, excluded, "
                "message FROM ingest_runs ORDER BY ALL", "SELECT * FROM source_exclusions ORDER BY ALL",
                "SELECT * EXCLUDE (reason) FROM quarantined_offers ORDER BY ALL")
    _offline(warehouse, "azure-pricing-radar", since, until)
    first = [_sql(warehouse, q) for q in snapshot]
    assert first[0], "the backfill landed no offers"
    _offline(warehouse, "azure-pricing-radar", since, until)
    assert [_sql(warehouse, q) for q in snapshot] == first


def test_a_day_the_project_fetched_itself_is_never_overwritten(warehouse):
    """The bundled snapshot replays cyclenerd's pricing.yml of 2022-06-30; the archive also has a
    commit that day. The backfill lands the week before and keeps the project's own day."""
    day = date(2022, 6, 30)
    source = get_source("cyclenerd")
    snapshot = PROJECT_ROOT / "snapshots" / "bundled" / day.isoformat()
    with build_client(ReplayTransport(snapshot), sleep=lambda s: None) as client:
        fetch_source(warehouse, source, client, day, mode="replay")
    parse_source(warehouse, source, day)
    before = _sql(warehouse, "SELECT * FROM offers WHERE snapshot_date = ? ORDER BY ALL", [day])
    assert before

    summary = _offline(warehouse, "cyclenerd", date(2022, 6, 23), day)
    assert summary.skipped_project_days == [day]
    assert any("kept 1 day(s) the project fetched itself: 2022-06-30" in line for line in summary.lines())
    assert _sql(warehouse, "SELECT * FROM offers WHERE snapshot_date = ? ORDER BY ALL", [day]) == before
    assert _sql(warehouse, "SELECT mode FROM ingest_runs WHERE snapshot_date = ?", [day]) == [("replay",)]
    # The days around it did land from the archive.
    landed = _sql(warehouse, "SELECT snapshot_date FROM ingest_runs WHERE mode = 'backfill' AND status = 'ok' ORDER BY 1")
    assert landed == [(date(2022, 6, 23),)]
    assert _sql(warehouse, "SELECT DISTINCT backfilled FROM offers_history WHERE snapshot_date = ?", [day]) == [(False,)]
    # The project's own day is an observation, not a gap.
    assert _sql(warehouse, "SELECT first_missing_day, last_missing_day FROM backfill_gaps") == [
        (date(2022, 6, 24), date(2022, 6, 29))]


def test_gaps_are_shown_and_never_filled(warehouse):
    """cyclenerd is weekly, and its last three August 2026 commits have no stored bytes."""
    summary = _offline(warehouse, "cyclenerd", date(2026, 7, 20), date(2026, 8, 31))
    assert [d.day for d in summary.days if d.status == "ok"] == [date(2026, 7, 22), date(2026, 7, 23), date(2026, 7, 30)]
    unavailable = {d.day: d.message for d in summary.days if d.status == "skipped"}
    assert set(unavailable) == {date(2026, 8, 6), date(2026, 8, 13), date(2026, 8, 20)}
    assert all("archive gap" in m and "version not available" in m for m in unavailable.values())
    # No offers on a day without a version, nor on a day whose version is unavailable.
    days_with_offers = _sql(warehouse, "SELECT DISTINCT snapshot_date FROM offers WHERE source = 'cyclenerd' ORDER BY 1")
    assert days_with_offers == [(date(2026, 7, 22),), (date(2026, 7, 23),), (date(2026, 7, 30),)]
    gaps = _sql(warehouse, "SELECT first_missing_day, last_missing_day, missing_days FROM backfill_gaps "
                           "WHERE source = 'cyclenerd' ORDER BY 1")
    assert gaps[0] == (date(2026, 7, 24), date(2026, 7, 29), 6)
    assert summary.gaps()[0] == (date(2026, 7, 24), date(2026, 7, 29), 6)
    assert any("gaps (days without an observation, not interpolated)" in line for line in summary.lines())


def _recorded_client(archive_id: str):
    return build_client(ReplayTransport(RECORDED / archive_id), sleep=lambda s: None)


def test_the_live_path_lists_commits_and_fetches_raw_files_like_the_offline_copy(warehouse, tmp_path):
    since, until = date(2024, 9, 24), date(2024, 9, 26)
    with _recorded_client("becloudready") as client:
        live = run_backfill(warehouse, "becloudready", client=client, since=since, until=until)
    offline_wh = Warehouse(tmp_path / "offline" / "gpu_prices.duckdb")
    offline = _offline(offline_wh, "becloudready", since, until)
    assert live.landed == offline.landed == [since, date(2024, 9, 25), until]
    compare = "SELECT * EXCLUDE (raw_response_id) FROM quarantined_offers ORDER BY ALL"
    assert _sql(warehouse, compare) == _sql(offline_wh, compare)
    index = {r["commit"]: utc(r["committed_at"]) for r in _index_rows("becloudready")}
    urls = _sql(warehouse, "SELECT url, fetched_at FROM raw_responses WHERE url LIKE 'https://raw.%'")
    assert len(urls) == 3
    for url, fetched_at in urls:
        commit = url.split("/")[5]
        assert fetched_at.astimezone(timezone.utc) == index[commit]  # observed at the commit, not at download
    listings = _sql(warehouse, "SELECT count(*) FROM raw_responses WHERE url LIKE 'https://api.github.com/%'")
    assert listings == [(2,)]  # both commit pages archived too


def test_a_version_the_host_no_longer_serves_is_a_gap(warehouse):
    with _recorded_client("becloudready") as client:
        summary = run_backfill(warehouse, "becloudready", client=client, since=date(2026, 2, 1), until=date(2026, 2, 28))
    assert [(d.day, d.status) for d in summary.days] == [(date(2026, 2, 5), "skipped")]
    assert "c9846dbb" in summary.days[0].message and "404" in summary.days[0].message
    assert _sql(warehouse, "SELECT count(*) FROM quarantined_offers") == [(0,)]


def test_several_versions_on_one_day_are_all_archived_and_the_last_wins(warehouse):
    source, spec = get_archive("azure-pricing-radar")
    francecentral = Archive(spec.source_id, spec.licence, tuple(f for f in spec.files if f.folder == "francecentral"))
    day = date(2026, 8, 3)
    with _recorded_client("azure-pricing-radar") as client:
        summary = backfill_versions(warehouse, source, live_versions(client, francecentral, day, day))
    rows = [r for r in _index_rows("azure-pricing-radar") if r["folder"] == "francecentral"
            and utc(r["committed_at"]).date() == day]
    assert len(rows) == 3 and summary.versions == 3
    last = max(rows, key=lambda r: utc(r["committed_at"]))
    assert _sql(warehouse, "SELECT count(*) FROM raw_responses WHERE snapshot_date = ?", [day]) == [(3,)]
    got = _sql(warehouse, "SELECT DISTINCT source_url, observed_at FROM offers WHERE snapshot_date = ?", [day])
    assert [(u.split("/")[5], t.astimezone(timezone.utc)) for u, t in got] == [(last["commit"], utc(last["committed_at"]))]
    assert last["commit"][:8] in summary.days[0].message and "3 version(s)" in summary.days[0].message


def test_the_cli_backfills_with_progress_and_a_summary(tmp_path):
    db = tmp_path / "gpu_prices.duckdb"
    result = run_cli("backfill", "azure-pricing-radar", "--since", "2026-08-19", "--until", "2026-08-20",
                     "--offline", "--warehouse", str(db))
    assert "azure-pricing-radar 2026-08-19:" in result.stdout and "azure-pricing-radar 2026-08-20:" in result.stdout
    assert "version(s) on 2 day(s), 2026-08-19 -> 2026-08-20" in result.stdout
    out = run_cli("sql", "select source, count(distinct snapshot_date) as days, bool_and(backfilled) as b "
                         "from offers_history group by 1", "--format", "json", "--warehouse", str(db))
    assert json.loads(out.stdout) == [{"source": "azure-pricing-radar", "days": 2, "b": True}]
    derived = run_cli("sql", "select count(distinct snapshot_date) as index_days from price_index",
                      "--format", "json", "--warehouse", str(db))
    assert json.loads(derived.stdout) == [{"index_days": 2}]  # the market's history, day by day
    bad = run_cli("backfill", "nosuch", "--warehouse", str(db), check=False)
    assert bad.returncode != 0 and "no archive for nosuch" in bad.stderr


def test_the_dagster_backfill_asset_lands_its_partition(tmp_path):
    from pipelines.backfill_job import archive_backfill
    from pipelines.resources import WarehouseResource

    path = tmp_path / "gpu_prices.duckdb"
    result = dg.materialize(
        [archive_backfill], partition_key="2026-08-19",
        resources={"warehouse": WarehouseResource(path=str(path))},
        run_config={"ops": {"archive_backfill": {"config": {"sources": ["azure-pricing-radar"]}}}},
    )
    assert result.success
    runs = _sql(Warehouse(path), "SELECT snapshot_date, source, mode, status FROM ingest_runs")
    assert runs == [(date(2026, 8, 19), "azure-pricing-radar", "backfill", "ok")]


def _raw(source_id: str, body: bytes, url: str = "https://raw.githubusercontent.com/x/y/0000000/f.json"):
    from datetime import datetime

    from connectors.base import RawResponse

    return RawResponse(source=source_id, method="GET", url=url, status=200, headers={"content-type": "application/json"},
                       fetched_at=datetime(2024, 9, 24, 20, 42, 36, tzinfo=timezone.utc), body=body)


def test_becloudready_rows_keep_their_evidence_and_a_bad_price_says_why():
    """Hand-made two-row body (labelled here, never in snapshots/): the real field names."""
    from market.rules import finalize_offers

    source, _ = get_archive("becloudready")
    body = json.dumps([{"gpuModel": "H100", "price": "$23.92", "provider": "lambdalabs"},
                       {"gpuModel": "A100", "price": "call us", "provider": "datacrunch"}]).encode()
    parsed = source.parse([_raw("becloudready", body)])
    assert parsed.select("provider", "region", "instance_type", "price").rows() == [
        ("lambda", "market", "H100", 23.92), ("verda", "market", "A100", None)]
    final = finalize_offers(parsed, "becloudready", date(2024, 9, 24))
    assert final.offers.is_empty()
    assert final.quarantined["reason"].to_list() == ["price is not a dollar amount ('call us')"]
    assert final.market_quotes.select("provider", "gpu_model", "price_usd_per_instance_hour", "quotes").rows() == [
        ("lambda", "H100", 23.92, 1)]
    assert final.exclusions.rows() == [("market-level-quote", 1)]
    assert final.unaccounted == 0


def test_an_implausible_market_quote_is_quarantined_not_kept():
    """Hand-made body (labelled): a market-level quote obeys the instance-hour price bounds."""
    from market.rules import MAX_USD_PER_INSTANCE_HOUR, finalize_offers

    source, _ = get_archive("becloudready")
    body = json.dumps([{"gpuModel": "H100", "price": "$0.00", "provider": "runpod"},
                       {"gpuModel": "H100", "price": f"${MAX_USD_PER_INSTANCE_HOUR * 10:,.2f}", "provider": "gcp"},
                       {"gpuModel": "H100", "price": "$2.99", "provider": "runpod"},
                       {"gpuModel": "H100", "price": "$2.99", "provider": "runpod"}]).encode()
    final = finalize_offers(source.parse([_raw("becloudready", body)]), "becloudready", date(2024, 9, 24))
    assert sorted(final.quarantined["reason"].to_list()) == [
        "absurd price: 20000.0 USD per instance-hour", "price of zero or below"]
    assert final.market_quotes.select("provider", "price_usd_per_instance_hour", "quotes").rows() == [("runpod", 2.99, 2)]
    assert final.accounting() == {"rows_read": 4, "offers": 0, "quarantined": 2, "unmapped": 0, "excluded": 2}


def test_an_unreadable_radar_region_file_fails_alone():
    source, _ = get_archive("azure-pricing-radar")
    day = date(2026, 8, 3)
    rows = [r for r in _index_rows("azure-pricing-radar") if r["folder"] == "francecentral" and r["status"] == "stored"
            and utc(r["committed_at"]).date() == day]
    good = _raw("azure-pricing-radar", _version_bytes_in("azure-pricing-radar/francecentral", rows[0]["file"]),
                url="https://raw.githubusercontent.com/a/b/c/data/latest/vm-francecentral.json")
    cut = _raw("azure-pricing-radar", b'{"DZH318Z08MBL/0001|x|Consumption|": {"armRegionName": "westeu',
               url="https://raw.githubusercontent.com/a/b/c/data/latest/vm-eu-west.json")
    parsed, failures = source.parse_isolated([good, cut])
    assert parsed.height == len(json.loads(good.body)) > 0
    assert len(failures) == 1 and "vm-eu-west.json" in failures[0]
    assert set(parsed["region"]) == {"francecentral"}


def _version_bytes_in(folder: str, name: str) -> bytes:
    """A stored version's bytes, straight from the shipped tarball."""
    import tarfile

    with tarfile.open(ARCHIVES / folder / "versions.tar.xz") as tar:
        return tar.extractfile(name).read()
