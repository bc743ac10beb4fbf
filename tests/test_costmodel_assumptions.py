"""The assumption table: keyed by GPU generation, precision and model size, each row citing its run.

Why: every default MFU and serving efficiency the CLI, the dashboard and the market metrics use
comes from this table through one lookup (`costmodel.assumptions`). These pin its shape (each
measured row names its run, size and GPU count; every row has a source), the lookup rule
(measured rows, then borrowing rows, generation before wildcard), interpolation in model size,
operator overrides, and the extrapolation factor, which never penalises 8 GPUs against one.
"""

from __future__ import annotations

import math

import polars as pl
import pytest

from costmodel.assumptions import Assumptions
from costmodel.errors import EstimateError
from market.specs import ASSUMPTION_KINDS, ASSUMPTION_SCHEMA, check_assumptions, load_assumptions


@pytest.fixture(scope="module")
def table() -> pl.DataFrame:
    return load_assumptions()


def row(**kw) -> dict:
    base = {c: None for c in ASSUMPTION_SCHEMA} | {"precision": "bf16", "source_url": "https://example.test/run",
                                                  "overridden": False}
    return base | kw


def test_the_packaged_table_has_its_shape(table):
    assert table.schema == pl.Schema(ASSUMPTION_SCHEMA)
    assert set(table["kind"]) <= set(ASSUMPTION_KINDS)
    keys = table.select("kind", "generation", "precision", "model_params")
    assert keys.is_unique().all()
    measured = table.filter((pl.col("kind") == "training_mfu") & pl.col("same_as_generation").is_null()
                            & pl.col("same_as_precision").is_null())
    assert set(measured["source_run"]) == {"Llama 3.1 8B", "Llama 3.1 70B", "Llama 3.1 405B", "BLOOM-176B", "PaLM 540B"}
    assert measured["measured_gpus"].min() >= 8
    assert all(u.startswith("https://") for u in table["source_url"])


@pytest.mark.parametrize("bad, problem", [
    (row(kind="training_mfu", generation="x", model_params=7e9, measured_gpus=4, value=0.3, source_run="r"),
     "measured_gpus must be >= 8"),
    (row(kind="training_mfu", generation="x", value=0.3, measured_gpus=64), "names its run and model size"),
    (row(kind="training_mfu", generation="x", model_params=7e9, measured_gpus=64, value=1.3, source_run="r"),
     "value must be in (0, 1]"),
    (row(kind="serve_tp_efficiency", generation="x", value=0.7, source_url="example.test"), "no https source_url"),
    (row(kind="utilisation", generation="x", value=0.4), "unknown kind"),
])
def test_a_bad_row_is_refused_with_the_reason(bad, problem):
    with pytest.raises(ValueError, match=problem.replace("(", r"\(").replace(")", r"\)").replace("]", r"\]")):
        check_assumptions(pl.DataFrame([bad], schema=ASSUMPTION_SCHEMA))


def test_lookup_interpolates_between_runs_in_log_model_size():
    a = Assumptions()
    eight, seventy = 0.1384, 0.2527
    assert a.training_mfu("hopper", "bf16", 8e9).value == pytest.approx(eight)
    assert a.training_mfu("hopper", "bf16", 70e9).value == pytest.approx(seventy)
    share = math.log(37 / 8) / math.log(70 / 8)
    assert a.training_mfu("hopper", "bf16", 37e9).value == pytest.approx(eight + share * (seventy - eight))
    assert a.training_mfu("hopper", "bf16", 1e9).value == pytest.approx(eight)  # nearest run outside
    assert a.training_mfu("hopper", "bf16", 2e12).value == pytest.approx(0.3451)


def test_generations_without_a_run_borrow_and_say_so():
    a = Assumptions()
    blackwell = a.training_mfu("blackwell", "bf16", 70e9)
    assert blackwell.value == pytest.approx(0.2527) and "borrows hopper" in blackwell.source
    fp8 = a.training_mfu("hopper", "fp8", 70e9)
    assert fp8.value == pytest.approx(0.2527 * 0.5)
    assert a.training_mfu("volta", "fp16", 175e9).value == pytest.approx(0.3182)  # -> ampere (BLOOM)
    assert a.training_mfu("tpu v5p", "bf16", 70e9).value == pytest.approx(0.3039)  # -> PaLM
    assert a.serve_compute_efficiency("cdna 4").value == a.serve_compute_efficiency("cdna 3").value
    assert a.serve_compute_efficiency("blackwell").value == a.serve_compute_efficiency("hopper").value


def test_an_override_beats_the_curated_row(table):
    override = pl.DataFrame([row(kind="training_mfu", generation="hopper", precision="bf16", model_params=70e9,
                                 measured_gpus=1024, value=0.45, source_run="our run", overridden=True)],
                            schema=ASSUMPTION_SCHEMA)
    a = Assumptions(pl.concat([table, override]))
    assert a.training_mfu("hopper", "bf16", 70e9).value == pytest.approx(0.45)
    assert "our run" in a.training_mfu("hopper", "bf16", 70e9).source
    assert a.training_mfu("hopper", "bf16", 8e9).value == pytest.approx(0.1384)


def test_extrapolation_only_beyond_the_measured_size_and_never_below_a_node():
    a = Assumptions()
    assert a.scale_factor(1, 384).value == 1.0
    assert a.scale_factor(8, 384).value == 1.0
    assert a.scale_factor(384, 384).value == 1.0
    assert a.scale_factor(768, 384).value == pytest.approx(0.9535)
    assert a.scale_factor(32768, 16384).value == pytest.approx(41 / 43, abs=1e-4)
    assert a.scale_factor(8, 2).value == 1.0  # a row claiming fewer than 8 GPUs still never penalises a node


def test_an_empty_or_old_table_falls_back_to_the_packaged_defaults():
    old_shape = pl.DataFrame({"kind": ["utilisation"], "gpu_class": ["*"], "value": [0.4]})
    for frame in (None, old_shape, pl.DataFrame()):
        a = Assumptions(frame)
        assert a.from_package
        assert a.training_mfu("hopper", "bf16", 70e9).value == pytest.approx(0.2527)


def test_nothing_to_borrow_is_an_error_with_values():
    a = Assumptions([row(kind="training_mfu", generation="hopper", model_params=7e9, measured_gpus=64, value=0.3,
                         source_run="r")])
    with pytest.raises(EstimateError) as caught:
        a.training_mfu("ampere", "bf16", 7e9)
    assert caught.value.reason == "no_assumption" and caught.value.values["generation"] == "ampere"


def test_every_gpu_on_the_spec_sheet_has_defaults():
    """Whatever generation the spec sheet adds, a plan on it has an MFU and serving efficiencies."""
    from costmodel.gpus import PRECISION_COLUMNS, GpuSpec
    from market.specs import load_curated_specs

    a = Assumptions()
    for spec_row in load_curated_specs().iter_rows(named=True):
        gpu = GpuSpec.from_row(spec_row)
        for precision, column in PRECISION_COLUMNS.items():
            if spec_row.get(column):
                assert 0 < a.training_mfu(gpu.generation, precision, 70e9).value <= 1, (gpu.gpu, precision)
        assert 0 < a.serve_compute_efficiency(gpu.generation).value <= 1, gpu.gpu
        assert 0 < a.serve_tp_efficiency(gpu.generation).value <= 1, gpu.gpu
