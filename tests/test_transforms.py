"""The metric arithmetic and the price index, on small frames whose answers are worked by hand.

Why: `gpu_cost_metrics` and `price_index_daily` are the numbers people quote. These pin the
definitions in DESIGN.md and docs/price-index.md: effective TFLOPS = dense x the assumption
table's end-to-end MFU, with no per-instance communication factor; each provider counts once in the index; fewer than 3 providers withholds it, with the
reason; a direct source wins over an aggregator quoting the same offer."""

from __future__ import annotations

from datetime import date, datetime, timezone

import polars as pl
import pytest

from market.offer import OFFER_COLUMNS
from market.specs import load_assumptions
from warehouse.transforms import build_cost_metrics, build_price_index

DAY = date(2026, 8, 22)
SEEN = datetime(2026, 8, 22, tzinfo=timezone.utc)


def offer(**kw) -> dict:
    row = {
        "snapshot_date": DAY, "source": "src", "provider": "p", "region": "r", "instance_type": "i",
        "gpu": "H100-SXM-80GB", "gpu_name_raw": "H100", "gpu_count": 8.0, "gpu_memory_gb": 80.0,
        "vcpus": None, "ram_gb": None, "pricing": "on_demand", "price_usd_per_hour": 16.0,
        "price_usd_per_gpu_hour": 2.0, "currency": "USD", "price_original": 16.0,
        "spot_is_estimate": False, "source_url": "https://example.test/prices", "observed_at": SEEN,
        "raw_response_id": "r1",
    }
    row.update(kw)
    return row


def frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=OFFER_COLUMNS)


SPECS = pl.DataFrame(
    [{"gpu": "H100-SXM-80GB", "vendor": "NVIDIA", "name": "H100 SXM", "architecture": "Hopper",
      "memory_gb": 80.0, "interconnect": "nvswitch", "bf16_tflops": 989.0, "fp16_tflops": 989.0,
      "fp8_tflops": 1979.0, "fp4_tflops": None, "tf32_tflops": 495.0, "fp32_tflops": 67.0}]
)
ASSUMPTIONS = load_assumptions()  # the packaged table: the same rows the run estimates use


def test_cost_metrics_worked_example():
    """H100 bf16: 989 dense x Llama 3.1 70B's end-to-end MFU 0.2527 (the reference 70B model) =
    249.9 effective TFLOPS per GPU; no communication factor on top (it is inside the MFU)."""
    metrics = build_cost_metrics(frame([offer()]), SPECS, ASSUMPTIONS)
    bf16 = metrics.filter(pl.col("precision") == "bf16").row(0, named=True)
    effective = 989 * 0.2527
    assert bf16["utilisation"] == pytest.approx(0.2527) and bf16["scaling_efficiency"] == 1.0
    assert bf16["effective_tflops"] == pytest.approx(effective)
    assert bf16["usd_per_effective_tflop_hour"] == pytest.approx(2.0 / effective)
    # $2 per GPU-hour buys effective x 1e12 x 3600 FLOPs; per 1e18 FLOPs:
    assert bf16["usd_per_exaflop"] == pytest.approx(2.0 / (effective * 1e12 * 3600) * 1e18)
    assert bf16["usd_per_gb_hour"] == pytest.approx(2.0 / 80)
    # Precisions without a dense figure (fp4 here) give no row; fp8 borrows bf16's FLOP/s.
    assert set(metrics["precision"]) == {"bf16", "fp16", "fp8", "tf32", "fp32"}
    fp8 = metrics.filter(pl.col("precision") == "fp8").row(0, named=True)
    assert fp8["effective_tflops"] == pytest.approx(effective * 1979 / 989 / 2)


def test_an_8_gpu_instance_is_never_penalised_against_a_1_gpu_vm():
    """Same GPU, same $/GPU-hour: 1 GPU and 8 GPUs per instance get the same $/effective TFLOP."""
    one = build_cost_metrics(frame([offer(gpu_count=1.0, price_usd_per_hour=2.0, instance_type="x1")]), SPECS,
                             ASSUMPTIONS).filter(pl.col("precision") == "bf16").row(0, named=True)
    eight = build_cost_metrics(frame([offer()]), SPECS, ASSUMPTIONS).filter(pl.col("precision") == "bf16").row(
        0, named=True)
    assert one["scaling_efficiency"] == eight["scaling_efficiency"] == 1.0
    assert one["usd_per_effective_tflop_hour"] == pytest.approx(eight["usd_per_effective_tflop_hour"])


def test_offers_without_specs_give_no_metrics():
    metrics = build_cost_metrics(frame([offer(gpu="MYSTERY-1GB")]), SPECS, ASSUMPTIONS)
    assert metrics.is_empty()


def _market(prices_by_provider: dict[str, list[float]], pricing: str = "on_demand") -> pl.DataFrame:
    rows = []
    for provider, prices in prices_by_provider.items():
        for i, price in enumerate(prices):
            rows.append(offer(provider=provider, instance_type=f"i{i}", pricing=pricing,
                              price_usd_per_gpu_hour=price, price_usd_per_hour=price * 8))
    return frame(rows)


def test_index_counts_each_provider_once():
    # Provider a lists 5 cheap offers; without per-provider medians it would drag the index.
    index = build_price_index(_market({"a": [1, 1, 1, 1, 1], "b": [3], "c": [4]}), DAY).row(0, named=True)
    assert index["offers"] == 7 and index["providers"] == 3
    assert index["index_usd"] == 3.0  # median of provider medians 1, 3, 4
    assert index["median_usd"] == 1.0  # the plain median over offers
    assert index["min_usd"] == 1.0 and index["withheld_reason"] is None


def test_index_is_withheld_below_three_providers():
    index = build_price_index(_market({"a": [2.0, 2.5], "b": [3.0]}), DAY).row(0, named=True)
    assert index["index_usd"] is None
    assert "only 2 provider(s)" in index["withheld_reason"]
    assert index["median_usd"] == 2.5  # the spread stays visible


def test_pricing_kinds_are_never_mixed():
    market = pl.concat([_market({"a": [1], "b": [1], "c": [1]}, "spot"), _market({"a": [3], "b": [3], "c": [3]})])
    index = build_price_index(market, DAY)
    assert dict(zip(index["pricing"], index["index_usd"])) == {"on_demand": 3.0, "spot": 1.0}
