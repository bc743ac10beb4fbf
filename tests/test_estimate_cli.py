"""`gpu-prices estimate train|serve` end to end on a small temporary warehouse.

The CLI is how most people meet the cost model, so these pin what a script or a person relies
on: the JSON fields of a plan (gpu_hours, total_cost_usd, nodes, gpus_per_node, days, mfu_used,
warnings), that --mfu is used exactly, that multi-node plans come only from instances with a
known fabric, the 30-day default deadline and its warnings, the same offer counted once, GPU
aliases, the as-of day, `infer` as an alias of `serve`, and that impossible inputs end with
advice in this command line's flags and no traceback.

The warehouse is built here with `warehouse.store.Warehouse(...).writer()`. GPU spec figures are
the dense datasheet values of reference/gpu-math.md §3. The offers, their providers
("test-provider-*") and their instance facts are made up for the tests: NOT market prices.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timezone

import polars as pl
import pytest
from click.testing import CliRunner

import costmodel.offers
from cli.estimate import COUNT, estimate
from market.gpu_names import canonical_gpu
from warehouse.store import Warehouse

A100 = canonical_gpu("A100-80GB", 80) or "A100-SXM-80GB"
H100 = canonical_gpu("H100-SXM-80GB", 80) or "H100-SXM-80GB"
A10 = canonical_gpu("A10-24GB", 24) or "A10-24GB"

SPECS = [
    # gpu, name, architecture, memory GB, BW TB/s, fp32, tf32, bf16, fp16, fp8, interconnect
    (A100, "A100 80GB SXM", "Ampere", 80, 2.039, 19.5, 156, 312, 312, None, "nvswitch"),
    (H100, "H100 SXM", "Hopper", 80, 3.35, 67, 495, 989.5, 989.5, 1979, "nvswitch"),
    (A10, "A10", "Ampere", 24, 0.6, 31.2, 62.5, 125, 125, None, "pcie"),
]
# snapshot, source, provider, instance, gpu, gpus per instance, pricing, $/GPU-hour (FAKE).
# A provider's own list is a source named after it; "test-aggregator" copies another's offer.
OFFERS = [
    (date(2026, 7, 1), "test-provider-a", "test-provider-a", "a100x8-ib", A100, 8, "on_demand", 3.0),
    (date(2026, 8, 1), "test-provider-a", "test-provider-a", "a100x8-ib", A100, 8, "on_demand", 2.0),
    (date(2026, 8, 1), "test-provider-b", "test-provider-b", "a100x8", A100, 8, "on_demand", 1.5),
    (date(2026, 8, 1), "test-provider-b", "test-provider-b", "a100x1", A100, 1, "on_demand", 1.2),
    (date(2026, 8, 1), "test-provider-c", "test-provider-c", "a100x8-spot", A100, 8, "spot", 1.0),
    (date(2026, 8, 1), "test-provider-a", "test-provider-a", "h100x8-ib", H100, 8, "on_demand", 4.0),
    (date(2026, 8, 1), "test-provider-b", "test-provider-b", "h100x1", H100, 1, "on_demand", 2.5),
    (date(2026, 8, 1), "test-provider-b", "test-provider-b", "a10x1", A10, 1, "on_demand", 0.6),
    # the same H100 node quoted again by an aggregator (sorts first by name): it must count once, direct
    (date(2026, 8, 1), "test-aggregator", "test-provider-a", "h100x8-ib", H100, 8, "on_demand", 4.4),
]


@dataclass(frozen=True)
class Facts:
    intra_node_link: str
    inter_node_fabric: str | None


INSTANCE_FACTS = {
    "a100x8-ib": Facts("nvswitch", "infiniband"), "a100x8": Facts("nvswitch", None),
    "a100x8-spot": Facts("nvswitch", "roce"), "a100x1": Facts("none", "none"),
    "h100x8-ib": Facts("nvswitch", "infiniband"), "h100x1": Facts("none", "none"), "a10x1": Facts("none", "none"),
}


def fake_instance_facts(provider: str, instance_type: str):
    return INSTANCE_FACTS.get(instance_type)


def fake_instance_tables():
    return fake_instance_facts


@pytest.fixture(autouse=True)
def instance_tables(monkeypatch):
    """The test instances' links and fabrics stand in for market/data/instances/*.csv."""
    monkeypatch.setattr(costmodel.offers, "_default_lookup", fake_instance_tables)


def build_warehouse(path) -> str:
    from market.offer import OFFER_COLUMNS, QUARANTINE_COLUMNS
    from market.rules import FinalizedOffers

    warehouse = Warehouse(path)
    with warehouse.writer() as w:
        for gpu, name, arch, mem, bw, fp32, tf32, bf16, fp16, fp8, link in SPECS:
            w.con.execute(
                "INSERT INTO gpu_specs (gpu, vendor, name, architecture, memory_gb, memory_bandwidth_tbs, fp32_tflops, "
                "tf32_tflops, bf16_tflops, fp16_tflops, fp8_tflops, interconnect, source_url) "
                "VALUES (?, 'NVIDIA', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'https://example.test/specs')",
                [gpu, name, arch, mem, bw, fp32, tf32, bf16, fp16, fp8, link],
            )
        by_day: dict = {}
        for day, source, provider, instance, gpu, n, pricing, price in OFFERS:
            by_day.setdefault((day, source), []).append({
                "snapshot_date": day, "source": source, "provider": provider, "region": "test-region",
                "instance_type": instance, "gpu": gpu, "gpu_name_raw": gpu, "gpu_count": n, "pricing": pricing,
                "price_usd_per_hour": price * n, "price_usd_per_gpu_hour": price, "currency": "USD",
                "price_original": price * n, "spot_is_estimate": False, "source_url": "https://example.test/offers",
                "observed_at": datetime(2026, 8, 1, tzinfo=timezone.utc), "raw_response_id": "test-raw",
            })
        for (day, source), rows in by_day.items():
            w.replace_offers(day, source, FinalizedOffers(
                source, len(rows), pl.DataFrame(rows, schema=OFFER_COLUMNS),
                pl.DataFrame(schema=QUARANTINE_COLUMNS), pl.DataFrame(schema={"rule": pl.String, "rows": pl.Int64})))
    warehouse.publish()
    return str(path)


@pytest.fixture()
def wh(tmp_path):
    return build_warehouse(tmp_path / "w.duckdb")


def run(*args):
    return CliRunner().invoke(estimate, [str(a) for a in args])


def run_json(*args):
    result = run(*args, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def assert_clean_failure(result, *fragments):
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    for fragment in fragments:
        assert fragment in result.output, result.output


# -- train -----------------------------------------------------------------------------------------

def test_train_with_the_published_mfu_gives_the_published_gpu_hours(wh):
    """Issue 9: --mfu 0.4347 on A100-80GB gives Llama 2 70B's 1,720,320 GPU-hours (within 0.5 %)."""
    out = run_json("train", "--params", "70e9", "--tokens", "2e12", "--gpu", "A100-80GB", "--mfu", "0.4347",
                   "--warehouse", wh)
    assert out["gpu_hours"] == pytest.approx(1_720_320, rel=0.005)
    assert out["mfu_used"] == 0.4347
    for key in ("gpu_hours", "total_cost_usd", "nodes", "gpus_per_node", "days", "mfu_used", "warnings"):
        assert key in out, key
    assert out["nodes"] * out["gpus_per_node"] == out["gpus"]
    assert out["days"] <= 30 and out["deadline_days"] == 30 and out["deadline_is_default"]
    assert out["instance_type"] == "a100x8-ib" and out["inter_node_fabric"] == "infiniband"
    assert out["total_cost_usd"] == pytest.approx(out["nodes"] * 16.0 * out["days"] * 24)
    assert [w["code"] for w in out["warnings"]] == ["beyond_list_capacity"]  # 2,392 GPUs


def test_train_multi_node_plans_only_on_instances_with_a_fabric(wh):
    """405B on H100: only the 8-GPU node with InfiniBand is ranked; the 1-GPU VM is left out."""
    out = run_json("train", "--params", "405e9", "--tokens", "15e12", "--gpu", "H100", "--warehouse", wh)
    assert out["plans"] and all(p["gpus_per_node"] == 8 and p["inter_node_fabric"] == "infiniband"
                                for p in out["plans"])
    assert out["left_out"]["by_reason"] == {"needs_fabric": 1}
    assert out["plans_matched"] == 1  # the aggregator's copy of the same node counts once
    assert out["plans"][0]["source"] == "test-provider-a"


def test_train_default_deadline_shown_and_changed(wh):
    table = run("train", "--params", "70e9", "--tokens", "2e12", "--gpu", "A100-80GB", "--warehouse", wh)
    assert table.exit_code == 0, table.output
    assert "30 days (the default; --deadline-days to change)" in table.output
    assert "prices as of" in table.output and "2026-08-01" in table.output
    slow = run_json("train", "--params", "70e9", "--tokens", "2e12", "--gpu", "A100-80GB", "--deadline-days", "90",
                    "--warehouse", wh)
    fast = run_json("train", "--params", "70e9", "--tokens", "2e12", "--gpu", "A100-80GB", "--warehouse", wh)
    assert slow["days"] <= 90 and slow["nodes"] < fast["nodes"]


def test_train_gpus_round_up_to_whole_nodes_and_long_runs_warn(wh):
    out = run_json("train", "--params", "70e9", "--tokens", "2e12", "--gpu", "A100-80GB", "--gpus", "20",
                   "--warehouse", wh)
    assert (out["nodes"], out["gpus_per_node"], out["gpus"]) == (3, 8, 24)
    assert "long_run" in [w["code"] for w in out["warnings"]]
    table = run("train", "--params", "70e9", "--tokens", "2e12", "--gpu", "A100-80GB", "--gpus", "20", "--warehouse", wh)
    assert "WARNING: runs" in table.output


def test_train_mfu_changes_hours_exactly(wh):
    args = ["train", "--params", "70e9", "--tokens", "2e12", "--gpu", "A100-80GB", "--gpus", "64", "--warehouse", wh]
    fast = run_json(*args, "--mfu", "0.4")
    slow = run_json(*args, "--mfu", "0.2")
    assert slow["gpu_hours"] == pytest.approx(2 * fast["gpu_hours"])
    assert fast["mfu_scale_factor"] == 1.0 and fast["mfu_table"] is None


def test_train_default_mfu_comes_from_the_assumption_table(wh):
    out = run_json("train", "--params", "70e9", "--tokens", "2e12", "--gpu", "H100", "--gpus", "64", "--warehouse", wh)
    assert out["mfu_used"] == pytest.approx(0.2527) and "Llama 3.1 70B" in out["mfu_source"]
    assert "packaged assumption table" in out["assumptions"]  # this test warehouse has no rows


def test_train_any_pricing_ranks_spot_with_its_allowance(wh):
    out = run_json("train", "--params", "70B", "--tokens", "2T", "--gpu", "A100-80GB", "--gpus", "64",
                   "--pricing", "any", "--warehouse", wh)
    spot = next(p for p in out["plans"] if p["pricing"] == "spot")
    steady = next(p for p in out["plans"] if p["instance_type"] == "a100x8-ib")
    assert spot["interruptible"] and spot["days"] == pytest.approx(steady["days"] * 1.10)
    assert COUNT.convert("1.5M", None, None) == 1.5e6


def test_train_quoted_price(wh):
    out = run_json("train", "--params", "70e9", "--tokens", "2e12", "--gpu", "A100-80GB", "--gpus", "32",
                   "--price-per-gpu-hour", "1.25", "--warehouse", wh)
    assert out["provider"] == "quoted" and out["prices_as_of"] is None
    assert out["total_cost_usd"] == pytest.approx(32 * 1.25 * out["days"] * 24)


def test_train_as_of_uses_that_days_prices(wh):
    out = run_json("train", "--params", "70e9", "--tokens", "2e12", "--gpu", "A100-80GB", "--gpus", "64",
                   "--as-of", "2026-07-03", "--warehouse", wh)
    assert out["prices_as_of"] == "2026-07-01"
    assert [p["price_usd_per_gpu_hour"] for p in out["plans"]] == [3.0]


def test_train_as_of_never_uses_a_stale_source(wh):
    """A daily source's 2026-07-01 list is not the market of 2026-07-15 (offers_as_of's cadence rule)."""
    result = run("train", "--params", "70e9", "--tokens", "2e12", "--gpu", "A100-80GB", "--gpus", "64",
                 "--as-of", "2026-07-15", "--warehouse", wh)
    assert result.exit_code != 0
    assert "as of 2026-07-15" in result.output and "counts as current only for its cadence" in result.output


def test_train_gpu_alias_resolves(wh):
    """Any alias resolves through market.gpu_names to the spec-sheet id."""
    for alias in ("NVIDIA A100-SXM4-80GB", "a100-sxm-80gb", "A100 80GB"):
        out = run_json("train", "--params", "7e9", "--tokens", "1e12", "--gpu", alias, "--gpus", "8", "--warehouse", wh)
        assert out["gpu"] == A100


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--params", "0", "--gpu", "A100-80GB"], ["params must be", "check --params"]),
        (["--params", "70e9", "--tokens", "-1", "--gpu", "A100-80GB"], ["tokens must be", "check --tokens"]),
        (["--params", "seventy", "--gpu", "A100-80GB"], ["not a count"]),
        (["--params", "70e9", "--tokens", "2e12", "--gpu", "A100-80GB", "--gpus", "8"], ["at least 18 GPUs", "--gpus 24"]),
        (["--params", "405e9", "--tokens", "1e16", "--gpu", "H100", "--deadline-days", "1"],
         ["cannot finish within 1 days", "--deadline-days"]),
        (["--params", "70e9", "--gpu", "B999"], ["unknown GPU", A100]),
        (["--params", "70e9", "--gpu", "A100-80GB", "--precision", "fp8"], ["no published dense fp8", "--precision bf16"]),
        (["--params", "70e9", "--gpu", "A100-80GB", "--gpus", "8", "--deadline-days", "3"], ["not both"]),
        (["--params", "70e9", "--gpu", "A10-24GB", "--gpus", "64"], ["none of the 1 offers of A10-24GB can run this plan", "known inter-node fabric"]),
    ],
)
def test_train_impossible_inputs_fail_cleanly(wh, args, fragments):
    assert_clean_failure(run("train", *args, "--warehouse", wh), *fragments)


def test_missing_warehouse_says_how_to_build_one(tmp_path):
    result = run("train", "--params", "7e9", "--gpu", "A100-80GB", "--warehouse", tmp_path / "none.duckdb")
    assert_clean_failure(result, "ingest --replay")


# -- serve -----------------------------------------------------------------------------------------

def test_serve_one_gpu_json(wh):
    out = run_json("serve", "--preset", "llama-3.1-70b", "--gpu", "H100", "--avg-rps", "2", "--peak-rps", "6",
                   "--warehouse", wh)
    assert out["weight_bytes"] == pytest.approx(140e9)
    assert out["tp"] in (1, 2, 4, 8) and out["gpus_per_replica"] == out["tp"] * out["pp"]
    for key in ("usd_per_million_input_tokens", "usd_per_million_output_tokens", "usd_per_month", "replicas",
                "nodes", "gpus_per_node", "warnings", "average_utilisation"):
        assert key in out, key
    months = [p["usd_per_month"] for p in out["plans"]]
    assert months == sorted(months) and out["prices_as_of"] == "2026-08-01"


def test_infer_is_an_alias_of_serve(wh):
    args = ["--preset", "mistral-7b", "--gpu", "A10-24GB", "--warehouse", wh]
    assert run_json("infer", *args) == run_json("serve", *args)


def test_serve_llama2_70b_prints_the_mlperf_comparison(wh):
    out = run_json("serve", "--preset", "llama-2-70b", "--gpu", "H100", "--weight-precision", "fp8", "--kv-bytes", "1",
                   "--warehouse", wh)
    [line] = out["mlperf_comparison"]
    assert line["published_tokens_per_second_per_gpu"] == pytest.approx(2700, rel=0.01)
    assert abs(line["error"]) < 0.01 and line["source_url"].startswith("https://github.com/mlcommons/")


def test_serve_ranks_gpu_types(wh):
    out = run_json("serve", "--preset", "llama-3.1-8b", "--warehouse", wh)
    months = [t["usd_per_month"] for t in out["gpu_types"]]
    assert {t["gpu"] for t in out["gpu_types"]} == {A100, H100, A10} and months == sorted(months)
    table = run("serve", "--preset", "llama-3.1-8b", "--warehouse", wh)
    assert table.exit_code == 0 and "prices as of" in table.output


@pytest.mark.parametrize("args, fragments", [
    (["--params", "70e9"], ["--preset"]),
    (["--preset", "llama-3.1-70b", "--gpu", "A10-24GB"], ["one replica needs", "--weight-precision"]),
    (["--preset", "mistral-7b", "--avg-rps", "5", "--peak-rps", "1"], ["peak requests/s must be", "--peak-rps"]),
    (["--preset", "mistral-7b", "--avg-rps", "1e12"], ["average requests/s must be", "--avg-rps"]),
    (["--preset", "no-such-model"], ["known presets"]),
    (["--preset", "mistral-7b", "--price-per-gpu-hour", "1"], ["--gpu"]),
])
def test_serve_impossible_inputs_fail_cleanly(wh, args, fragments):
    assert_clean_failure(run("serve", *args, "--warehouse", wh), *fragments)


def test_calibration_command_prints_both_tables(wh):
    out = run_json("calibration", "--warehouse", wh)
    assert {r["role"] for r in out["training"]} == {"calibration", "check"}
    assert any(r["gpu"] == "MI300X-192GB" for r in out["serving"])
