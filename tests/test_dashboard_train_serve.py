"""The Train and Serve pages show a plan a team could book, above the ranked offers.

Why: issue 9 found the pages pricing clusters of single-GPU VMs and speaking in CLI flags. These
run the real pages (Streamlit AppTest, on the replayed real warehouse) and pin: the plan card
(nodes x instance, days or monthly cost, the token prices, warnings) above the offers table; the
30-day default deadline; the model label following edited numbers; inputs changing the plan;
errors worded in the page's own labels, never a `--flag`.

Instance facts (which nodes have an inter-node fabric) normally come from the providers'
instance tables. So that these tests do not depend on how far those tables have got, a test
double stands in: every whole 8-GPU instance is taken to have NVSwitch and InfiniBand, every
smaller one neither. That is test scaffolding, not data; no price is invented.
"""

from __future__ import annotations

import polars as pl
import pytest
import streamlit as st

import costmodel.offers
from tests.test_dashboard_pages import assert_clean, metric, open_page, texts


REAL_WITH_NODE_FACTS = costmodel.offers.with_node_facts


def no_instance_table(provider: str, instance_type: str) -> None:
    return None


def facts_by_gpu_count(offers: pl.DataFrame, lookup=None) -> pl.DataFrame:
    """The test double: whole 8-GPU instances have NVSwitch and InfiniBand; smaller ones neither."""
    eight = pl.col("gpu_count") == 8
    return REAL_WITH_NODE_FACTS(offers, no_instance_table).with_columns(
        intra_node_link=pl.when(eight).then(pl.lit("nvswitch")).otherwise(pl.lit("none")),
        inter_node_fabric=pl.when(eight).then(pl.lit("infiniband")).otherwise(pl.lit("none")),
    )


@pytest.fixture
def pages(replayed_warehouse, monkeypatch):
    monkeypatch.setenv("GPU_PRICES_WAREHOUSE", str(replayed_warehouse))
    monkeypatch.setattr(costmodel.offers, "with_node_facts", facts_by_gpu_count)
    st.cache_data.clear()  # the pages cache the day's offers; earlier runs saw the real tables
    yield replayed_warehouse
    st.cache_data.clear()


def errors(at) -> str:
    return " ".join(e.value for e in at.error)


# -- train ----------------------------------------------------------------------------------------


def test_train_shows_the_plan_card_above_the_ranked_offers(pages):
    at = open_page("train")
    headline = next(m.value for m in at.markdown if m.value.startswith("#### "))
    assert " × " in headline  # "#### N × provider instance"
    for label in ("Wall-clock", "Total cost", "Per 1M training tokens", "GPUs", "MFU"):
        metric(at, label)
    assert float(metric(at, "Wall-clock").split()[0].replace(",", "")) <= 30
    shown = texts(at)
    assert "Deadline 30 days (the default)." in shown
    assert "infiniband between nodes" in shown
    plans = next(d.value for d in at.dataframe if "total_cost_usd" in d.value.columns)
    assert list(plans["total_cost_usd"]) == sorted(plans["total_cost_usd"])
    assert set(plans["gpus_per_node"]) == {8} and (plans["nodes"] > 1).all()
    assert at.get("vega_lite_chart"), "the cost-against-time chart is missing"


def test_train_inputs_change_the_plan(pages):
    at = open_page("train")
    cost = metric(at, "Total cost")
    at.number_input(key="train_params_b").set_value(at.number_input(key="train_params_b").value * 2).run()
    assert_clean(at)
    assert metric(at, "Total cost") != cost

    before = metric(at, "Total cost")
    at.checkbox(key="train_mfu_override").check().run()
    at.slider(key="train_mfu").set_value(0.6).run()
    assert_clean(at)
    assert metric(at, "MFU") == "0.600" and metric(at, "Total cost") != before

    at.radio(key="train_sizing").set_value("Cluster size").run()
    at.number_input(key="train_gpus").set_value(1000).run()
    assert_clean(at)
    assert metric(at, "GPUs") == "1,000"  # 125 whole 8-GPU nodes


def test_train_model_label_follows_the_edited_numbers(pages):
    at = open_page("train")
    at.selectbox(key="train_preset").set_value("llama-3.1-8b").run()
    assert "Planning Llama 3.1 8B." in texts(at)
    assert at.number_input(key="train_params_b").value == pytest.approx(8.0)
    at.number_input(key="train_params_b").set_value(13.0).run()
    assert_clean(at)
    shown = texts(at)
    assert "Planning a custom 13B-parameter model (edited from Llama 3.1 8B)." in shown
    assert "Training a custom 13B-parameter model" in shown


@pytest.mark.parametrize(
    "changes, expected",
    [
        ([("number_input", "train_params_b", 0.0)], "“Parameters (billions)” must be"),
        ([("number_input", "train_tokens_b", 0.0)], "“Training tokens (billions)” must be"),
        ([("selectbox", "train_preset", "llama-3.1-405b"), ("radio", "train_sizing", "Cluster size"),
          ("number_input", "train_gpus", 8)], "Raise “Cluster size (GPUs)” to at least"),
        ([("number_input", "train_tokens_b", 1e9), ("number_input", "train_deadline", 0.01)],
         "Lengthen “Deadline (days)” to at least"),
    ],
)
def test_train_errors_speak_in_the_pages_terms(pages, changes, expected):
    at = open_page("train")
    for kind, key, value in changes:  # one run per change: a widget is enabled by the one before
        getattr(at, kind)(key=key).set_value(value).run()
    assert_clean(at)
    assert expected in errors(at), errors(at)
    assert "--" not in errors(at)


def test_train_can_price_an_older_snapshot(pages):
    at = open_page("train")
    box = at.selectbox(key="train_date")
    dates = sorted(box.options)
    assert len(dates) > 1, "the replayed warehouse holds several snapshot dates"
    box.set_value(box.options[-1]).run()
    assert_clean(at)
    assert f"as of {str(box.options[-1])[:10]}" in texts(at)


# -- serve ----------------------------------------------------------------------------------------


def test_serve_shows_the_fleet_card_and_prices_input_and_output_apart(pages):
    at = open_page("serve")
    for label in ("Fleet per month", "Per 1M input tokens", "Per 1M output tokens", "Time per output token",
                  "Average utilisation"):
        metric(at, label)
    assert any(m.value.startswith("#### ") and " × " in m.value for m in at.markdown)
    fleet = metric(at, "Fleet per month")
    at.number_input(key="serve_avg_rps").set_value(50.0).run()
    assert_clean(at)
    assert metric(at, "Fleet per month") != fleet
    before = metric(at, "Fleet per month")
    at.number_input(key="serve_peak_ratio").set_value(8.0).run()
    assert_clean(at)
    assert metric(at, "Fleet per month") != before
    assert len(at.get("vega_lite_chart")) >= 2  # by-GPU bars and the peak-ratio curve


def test_serve_llama2_70b_shows_the_mlperf_comparison(pages):
    at = open_page("serve")
    at.selectbox(key="serve_preset").set_value("llama-2-70b").run()
    at.selectbox(key="serve_gpu").set_value("H100-SXM-80GB").run()
    assert_clean(at)
    assert "MLPerf Inference v4.1 Llama-2-70B Server" in texts(at)
    at.number_input(key="serve_params_b").set_value(71.0).run()
    assert "MLPerf Inference v4.1 Llama-2-70B Server" not in texts(at)  # an edited model is not the benchmark's
    assert "Serving a custom 71B-parameter model (edited from Llama 2 70B)." in texts(at)


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("serve_params_b", 0.0, "“Parameters (billions)” must be"),
        ("serve_avg_rps", 0.0, "“Average load (requests/s)” must be"),
        ("serve_avg_rps", 1e12, "“Average load (requests/s)” must be positive and at most"),
        ("serve_peak_ratio", 0.5, "“Peak / average” must be at least 1"),
        ("serve_params_b", 1e6, "No GPU type with"),
    ],
)
def test_serve_errors_speak_in_the_pages_terms(pages, key, value, expected):
    at = open_page("serve")
    at.number_input(key=key).set_value(value).run()
    assert_clean(at)
    assert expected in errors(at), errors(at)
    assert "--" not in errors(at)
