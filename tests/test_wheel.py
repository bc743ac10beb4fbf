"""The package works from a wheel, in any folder, not only from a checkout.

Why: `pip install .` used to give a package whose `gpu-prices ingest --replay` said "holds no
snapshot", because the bundled snapshot and data files lived beside the code, not in it. This
builds the wheel, checks what it carries, installs it (without dependencies, which the test's
environment already has) into a folder of its own, and runs the offline demo's two steps from
another folder: the replay lands offers and the dashboard answers its health check.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # Built from a copy: setuptools writes build/ into the tree it builds, and reuses what it finds there.
    source = tmp_path_factory.mktemp("source") / "gpu-prices"
    top_level_only = {".git", ".venv", "data", "build", "artifacts", "tests"}  # market/data must stay

    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = {n for n in names if n.endswith(".egg-info") or n in ("__pycache__", ".pytest_cache")}
        return skipped | (top_level_only & set(names) if Path(folder) == PROJECT_ROOT else set())

    shutil.copytree(PROJECT_ROOT, source, ignore=ignore)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(out), str(source)],
        check=True, capture_output=True, text=True, timeout=300,
    )
    (built,) = out.glob("gpu_prices-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
        check=True, capture_output=True, text=True, timeout=300,
    )
    return target


def test_the_wheel_carries_the_data_the_demo_needs(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("market/data/gpu_specs.csv", "warehouse/views.sql", "dashboards/streamlit_app.py",
                   "snapshots/bundled/2026-08-22/manifest.json", "snapshots/bundled/README.md",
                   "snapshots/archives/cyclenerd/versions.tar.xz", "snapshots/archives/becloudready/index.csv",
                   "snapshots/archives/azure-pricing-radar/eu-west/versions.tar.xz"):
        assert needed in names, f"the wheel lacks {needed}"
    assert not any(n.startswith("tests/") for n in names)


def run_installed(installed: Path, cwd: Path, *args: str, **kwargs) -> subprocess.CompletedProcess | subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(installed)}
    env.pop("GPU_PRICES_WAREHOUSE", None)
    command = [sys.executable, "-c", "from cli.main import main; main()", *args]
    if kwargs.pop("background", False):
        return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900, **kwargs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_replay_and_dashboard_from_another_folder(installed, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run_installed(installed, elsewhere, "ingest", "--replay", "--date", "2024-01-19")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (elsewhere / "data" / "gpu_prices.published.duckdb").is_file(), "the warehouse goes to ./data"

    check = subprocess.run(
        [sys.executable, "-c", "import market, snapshots; print(market.__file__); print(snapshots.bundled_root())"],
        cwd=elsewhere, env={**os.environ, "PYTHONPATH": str(installed)}, capture_output=True, text=True,
    )
    assert all(line.startswith(str(installed)) for line in check.stdout.split()), check.stdout

    port = free_port()
    server = run_installed(installed, elsewhere, "dashboard", "--port", str(port), background=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                    assert response.read().strip() == b"ok"
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("the installed dashboard never answered its health check")
    finally:
        server.terminate()
        server.wait(timeout=20)
