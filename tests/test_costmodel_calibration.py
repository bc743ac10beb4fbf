"""The defaults are what the published runs say, and the calibration document says so today.

Why: the assumption table's measured values are not opinions; each is the end-to-end MFU (or
the MLPerf serving efficiency) one named run implies. These recompute every calibrated value
from its run and the current spec sheet and compare it with the table, check the held-back
runs stay within the documented spread, pin the serving model to MLPerf's H100 figure (about
2,700 output tokens/s per GPU) and its checks (H200, 8-GPU MI300X), and fail when
docs/run-pricing-calibration.md no longer matches what scripts/build_calibration_doc.py writes.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import polars as pl
import pytest

from costmodel.assumptions import Assumptions
from costmodel.calibration import (
    CALIBRATION,
    CHECK,
    MLPERF_LLAMA2_70B_SERVER,
    TRAINING_RUNS,
    fitted_serving_values,
    implied_mfu,
    serving_table,
    training_table,
)
from costmodel.gpus import GpuSpec
from market.specs import load_assumptions, load_curated_specs

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def catalog() -> dict[str, GpuSpec]:
    return {r["gpu"]: GpuSpec.from_row(r) for r in load_curated_specs().iter_rows(named=True)}


def test_every_measured_row_is_its_runs_implied_mfu(catalog):
    table = load_assumptions().filter((pl.col("kind") == "training_mfu") & pl.col("source_run").is_not_null())
    runs = {r.name: r for r in TRAINING_RUNS if r.role == CALIBRATION}
    assert set(table["source_run"]) == set(runs)
    for row in table.iter_rows(named=True):
        run = runs[row["source_run"]]
        assert row["value"] == pytest.approx(implied_mfu(run, catalog[run.gpu]), abs=5e-4), run.name
        assert row["model_params"] == pytest.approx(run.active_params)
        assert catalog[run.gpu].generation == row["generation"]


def test_the_llama2_70b_card_implies_the_mfu_the_issue_quotes(catalog):
    run = next(r for r in TRAINING_RUNS if r.name == "Llama 2 70B")
    assert implied_mfu(run, catalog[run.gpu]) == pytest.approx(0.4347, abs=1e-4)


def test_calibration_runs_come_back_and_check_runs_stay_within_the_documented_spread(catalog):
    frame = training_table(catalog, Assumptions())
    calibration = frame.filter(pl.col("role") == CALIBRATION)
    assert calibration.height == 5
    assert calibration["error"].abs().max() < 0.005
    checks = frame.filter(pl.col("role") == CHECK)
    assert checks.height >= 8
    assert checks["error"].abs().max() < 1.0  # no check run is off by 2x either way
    assert checks["error"].abs().median() < 0.35


def test_serving_efficiencies_in_the_table_are_the_fitted_ones(catalog):
    a = Assumptions()
    fitted = fitted_serving_values(catalog, a.serve_memory_efficiency("hopper").value)
    assert a.serve_compute_efficiency("hopper").value == pytest.approx(fitted["hopper_compute"], abs=5e-4)
    assert a.serve_tp_efficiency("hopper").value == pytest.approx(fitted["hopper_tp"], abs=5e-4)
    assert a.serve_compute_efficiency("cdna 3").value == pytest.approx(fitted["cdna3_compute"], abs=5e-4)


def test_the_model_gives_mlperfs_h100_figure_and_passes_its_checks(catalog):
    frame = serving_table(catalog, Assumptions())
    by_gpu = {(r["gpu"], r["gpus"]): r for r in frame.iter_rows(named=True)}
    h100 = by_gpu[("H100-SXM-80GB", 8)]
    assert h100["published_tokens_per_second_per_gpu"] == pytest.approx(2700, rel=0.01)
    assert h100["model_tokens_per_second_per_gpu"] == pytest.approx(h100["published_tokens_per_second_per_gpu"],
                                                                    rel=0.01)
    for check in frame.filter(pl.col("role") == CHECK).iter_rows(named=True):
        assert abs(check["error"]) < 0.10, check["system"]
    assert {b.gpu for b in MLPERF_LLAMA2_70B_SERVER if b.role == CHECK} >= {"H200-SXM-141GB", "MI300X-192GB"}


def test_the_calibration_document_is_up_to_date():
    spec = importlib.util.spec_from_file_location("build_calibration_doc", ROOT / "scripts" / "build_calibration_doc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.DOC.read_text() == module.render(), "run: python scripts/build_calibration_doc.py"
