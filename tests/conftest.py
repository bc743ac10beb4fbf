"""Shared fixtures. The replayed warehouse is built once per test session, the way a newcomer
builds it: `gpu-prices ingest --replay` on the bundled real snapshot, offline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = PROJECT_ROOT / "tests" / "fixtures"
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


def run_cli(*args: str, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run `gpu-prices ARGS` in a fresh interpreter, as a user would."""
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"gpu-prices {' '.join(args)} exited {result.returncode}\n"
            f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
        )
    return result


@pytest.fixture(scope="session")
def replayed_warehouse(tmp_path_factory) -> Path:
    """Path of a warehouse (working file; the published copy sits beside it) holding the
    bundled snapshot, ingested through the real CLI and Dagster job."""
    path = tmp_path_factory.mktemp("replayed") / "gpu_prices.duckdb"
    run_cli("ingest", "--replay", "--warehouse", str(path))
    return path
