"""`gpu-prices ingest --replay` never uses the caller's keys.

A replay serves recorded responses only. With Verda's client credentials set, replay used to
try the OAuth token exchange, which is never recorded (its body holds the secret), so the source
failed depending on the caller's environment. Here the real CLI replays a recorded Verda day
with both credentials set: the source lands, no token request is attempted, and the secret
reaches neither the archive nor the warehouse.
"""

from __future__ import annotations

import os
import subprocess
import sys

from connectors import http
from connectors.snapshot import SnapshotEntry, add_entry
from connectors.verda import AVAILABILITY_URL, CLIENT_ID_ENV, TYPES_URL, VerdaCloud
from tests.conftest import PROJECT_ROOT
from tests.connector_checks import DAY, FIXTURES, RECORDED_AT
from warehouse import read

SECRET = "verda-secret-that-must-not-be-used-0123"
CLIENT_ID = "verda-client-id-that-must-not-be-used"


def _recorded_verda_day(root):
    """The two GETs a keyless Verda fetch makes, recorded (real gpuhunt fixture bodies)."""
    for index, (url, name) in enumerate([
        (TYPES_URL, "instance_types.json"), (AVAILABILITY_URL + "?is_spot=false", "instance_availability.json"),
    ]):
        relative = f"responses/verda/{index:03d}.json"
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes((FIXTURES / "verda" / name).read_bytes())
        add_entry(root, SnapshotEntry(source="verda", method="GET", url=http.redact_url(url), status=200,
                                      file=relative, fetched_at=RECORDED_AT.isoformat(),
                                      headers={"content-type": "application/json"}), snapshot_date=DAY)


def test_replay_with_verda_keys_set_makes_no_token_exchange(tmp_path):
    snapshot = tmp_path / "snapshot"
    _recorded_verda_day(snapshot)
    warehouse = tmp_path / "wh" / "gpu_prices.duckdb"
    env = {**os.environ, VerdaCloud.key_env: SECRET, CLIENT_ID_ENV: CLIENT_ID}
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "ingest", "--replay", str(snapshot), "--sources", "verda",
         "--warehouse", str(warehouse)],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    status = read.query("SELECT status, message, offers_written FROM ingest_runs WHERE source = 'verda'",
                        path=warehouse).to_dicts()
    assert status == [{"status": "ok", "message": "", "offers_written": 6}], status
    archived = read.query("SELECT method, url FROM raw_responses", path=warehouse).to_dicts()
    assert {r["method"] for r in archived} == {"GET"}
    assert not any("oauth2" in r["url"] for r in archived), archived
    assert "token" not in (result.stdout + result.stderr).lower()
    for path in warehouse.parent.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert SECRET.encode() not in data and CLIENT_ID.encode() not in data, path
