"""What a reference run cost over time: the pricing rules and the `--over` command line.

Why: the History chart and `gpu-prices estimate ... --over` turn "training is getting cheaper"
into a line from real prices, so these pin that a period's point is exactly the cheapest plan
the ordinary plan rules find on that period's market, that a generation without a bookable
offer is absent (never a zero), that --mfu is used exactly, that spot plans say they are
interruptible, and that the CLI writes one row per period and generation as table, CSV or JSON.

The offers are nine real rows of the bundled snapshot (tests/fixtures/reference_runs/
PROVENANCE.md), arranged here into the markets of chosen days; specs are the curated sheet.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from cli.estimate import estimate
from costmodel import reference_runs as rr
from costmodel import inference, training
from costmodel.assumptions import Assumptions
from costmodel.gpus import GpuSpec
from costmodel.offers import bookable_offers
from market.specs import load_curated_specs
from warehouse.specs import load_reference_tables
from warehouse.store import Warehouse

FIXTURE = Path(__file__).parent / "fixtures" / "reference_runs" / "offers.csv"
OFFERS = pl.read_csv(FIXTURE, schema_overrides={"snapshot_date": pl.Date, "observed_at": pl.String}).with_columns(
    pl.col("observed_at").str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_zone="UTC"),
)
CATALOG = {r["gpu"]: GpuSpec.from_row(r) for r in load_curated_specs().iter_rows(named=True)}
ASSUMED = Assumptions()
GPT3 = rr.REFERENCE_RUNS["gpt3-175b"]
EARLY_DAY, LATE_DAY = date(2024, 1, 21), date(2026, 8, 23)
EARLY = OFFERS.filter(pl.col("snapshot_date") == date(2024, 1, 19))  # OCI's A100 and H100 nodes
LATE = OFFERS.filter(pl.col("snapshot_date") >= date(2026, 7, 30))  # GCP, Nebius (via SkyPilot), Azure
SPANS = [(date(2024, 1, 15), EARLY_DAY), (date(2026, 8, 17), LATE_DAY)]
MARKETS = {EARLY_DAY: EARLY, LATE_DAY: LATE}


def priced(run=GPT3, spans=SPANS, markets=MARKETS) -> pl.DataFrame:
    return rr.price_over(run, spans, lambda day: markets.get(day, OFFERS.clear()), CATALOG, ASSUMED)


def row(frame: pl.DataFrame, period: date, generation: str) -> dict:
    rows = frame.filter((pl.col("period") == period) & (pl.col("generation") == generation)).to_dicts()
    assert len(rows) == 1, rows
    return rows[0]


# -- the reference runs are the published shapes ---------------------------------------------------

def test_reference_runs_carry_the_published_shapes_and_cite_them():
    gpt3, llama, serve = (rr.REFERENCE_RUNS[k] for k in ("gpt3-175b", "llama2-70b", "serve-llama2-70b"))
    assert (gpt3.spec.params, gpt3.spec.tokens) == (175e9, 300e9) and "2005.14165" in gpt3.source
    assert (llama.spec.params, llama.spec.tokens) == (70e9, 2e12) and "2307.09288" in llama.source
    assert serve.spec.avg_rps * serve.spec.output_tokens == rr.SERVE_OUTPUT_TOKENS_PER_SECOND == 1_000
    assert serve.spec.peak == 2 * serve.spec.avg_rps and serve.spec.context == 4_096


# -- one period = the ordinary plan on that period's market -----------------------------------------

def test_a_run_priced_on_two_days_gives_each_markets_cheapest_plan():
    frame = priced()
    for (period, day) in SPANS:
        market = MARKETS[day]
        for generation_row in frame.filter(pl.col("period") == period).to_dicts():
            gpu = generation_row["gpu"]
            expected = training.rank_plans(GPT3.spec, CATALOG[gpu], bookable_offers(market, gpu, "on_demand"),
                                           ASSUMED).best
            assert generation_row["total_cost_usd"] == pytest.approx(expected.total_cost_usd, rel=1e-12)
            assert (generation_row["provider"], generation_row["instance_type"], generation_row["nodes"]) == \
                (expected.provider, expected.instance_type, expected.nodes)
    early, late = row(frame, SPANS[0][0], "Hopper"), row(frame, SPANS[1][0], "Hopper")
    assert (early["provider"], early["instance_type"], early["snapshot_date"]) == ("oci", "BM.GPU.H100.8",
                                                                                  date(2024, 1, 19))
    assert (late["provider"], late["price_usd_per_hour"]) == ("nebius", 23.6)  # cheaper than GCP's a3 at $88.49
    assert late["total_cost_usd"] < early["total_cost_usd"]
    # same node shape and MFU on both days, so the two costs differ exactly by the node price
    assert late["total_cost_usd"] / early["total_cost_usd"] == pytest.approx(23.6 / 80.0, rel=1e-9)


def test_a_generation_without_a_bookable_offer_is_absent_not_zero():
    frame = priced(spans=[(date(2023, 1, 2), date(2023, 1, 8)), *SPANS])
    assert frame.filter(pl.col("period") == date(2023, 1, 2)).is_empty()  # no market yet: no rows at all
    early = set(frame.filter(pl.col("period") == SPANS[0][0])["generation"])
    late = set(frame.filter(pl.col("period") == SPANS[1][0])["generation"])
    assert early == {"Ampere", "Hopper"}
    # GCP's a2-highgpu-8g (A100) has no inter-node fabric, so the late market has no A100 plan
    assert late == {"Hopper", "Blackwell", "CDNA 3"}
    assert frame["total_cost_usd"].min() > 0 and frame["total_cost_usd"].null_count() == 0


def test_mfu_passes_through_exactly():
    run = GPT3.with_options(mfu=0.37)
    frame = priced(run)
    assert frame.height > 0 and set(frame["mfu_used"]) == {0.37}
    hopper = row(frame, SPANS[1][0], "Hopper")
    gpu_hours = 6 * 175e9 * 300e9 / (CATALOG[hopper["gpu"]].dense_tflops("bf16") * 1e12 * 0.37 * 3600)
    assert hopper["gpus"] * hopper["days"] * 24 == pytest.approx(gpu_hours, rel=1e-12)
    assert hopper["total_cost_usd"] == pytest.approx(hopper["nodes"] * 23.6 * hopper["days"] * 24, rel=1e-12)


def test_spot_plans_are_marked_interruptible_and_carry_the_allowance():
    spot = priced(GPT3.with_options("spot"))
    hopper = row(spot, SPANS[1][0], "Hopper")
    assert (hopper["provider"], hopper["pricing"], hopper["interruptible"]) == ("gcp", "spot", True)
    assert "interruptible" in hopper["warnings"]
    assert spot.filter(pl.col("period") == SPANS[0][0]).is_empty()  # OCI quoted no spot nodes
    any_kind = priced(GPT3.with_options(None))
    assert row(any_kind, SPANS[1][0], "Hopper")["pricing"] == "spot"  # $9.07 beats $23.60 an hour
    assert row(any_kind, SPANS[1][0], "CDNA 3")["interruptible"] is True


def test_serving_reference_prices_a_monthly_fleet_per_generation():
    frame = priced(rr.REFERENCE_RUNS["serve-llama2-70b"])
    late = frame.filter(pl.col("period") == SPANS[1][0])
    assert {"Hopper", "Blackwell", "CDNA 3"} <= set(late["generation"])
    assert late["total_cost_usd"].null_count() == late.height and late["usd_per_month"].min() > 0
    hopper = row(frame, SPANS[1][0], "Hopper")
    expected = inference.rank_plans(rr.REFERENCE_RUNS["serve-llama2-70b"].spec, CATALOG[hopper["gpu"]],
                                    bookable_offers(LATE, hopper["gpu"], "on_demand"), ASSUMED).best
    assert hopper["usd_per_month"] == pytest.approx(expected.usd_per_month, rel=1e-12)


def test_periods_with_the_same_market_are_planned_once(monkeypatch):
    calls = []
    real = rr.cheapest_by_generation
    monkeypatch.setattr(rr, "cheapest_by_generation", lambda *a, **k: calls.append(1) or real(*a, **k))
    weeks = rr.periods(date(2026, 8, 3), date(2026, 8, 30))
    frame = rr.price_over(GPT3, weeks, lambda day: LATE, CATALOG, ASSUMED)
    assert len(weeks) == 4 and len(calls) == 1
    assert frame.height == 4 * 3  # still one row per week and generation


# -- periods ------------------------------------------------------------------------------------------

def test_weeks_run_monday_to_sunday_and_cover_the_span_exactly():
    weeks = rr.periods(date(2022, 1, 1), date(2026, 8, 31), "week")
    assert weeks[0] == (date(2022, 1, 1), date(2022, 1, 2))  # Saturday start: the partial first week
    assert weeks[1] == (date(2022, 1, 3), date(2022, 1, 9))
    assert weeks[-1] == (date(2026, 8, 31), date(2026, 8, 31))
    assert all(b[0] == a[1] + timedelta(days=1) for a, b in zip(weeks, weeks[1:]))
    assert all(start.weekday() == 0 for start, _ in weeks[1:]) and len(weeks) == 245
    months = rr.periods(date(2024, 1, 1), date(2024, 3, 31), "month")
    assert months == [(date(2024, 1, 1), date(2024, 1, 31)), (date(2024, 2, 1), date(2024, 2, 29)),
                      (date(2024, 3, 1), date(2024, 3, 31))]


# -- the command line ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def wh(tmp_path_factory) -> str:
    """A warehouse holding the fixture's real offers, the curated specs and assumptions."""
    path = tmp_path_factory.mktemp("refrun") / "w.duckdb"
    warehouse = Warehouse(path)
    with warehouse.writer() as w:
        load_reference_tables(w)
        # offers are stored as intervals (schema migration 5): write through the one writer
        from market.offer import OFFER_COLUMNS, QUARANTINE_COLUMNS
        from market.rules import FinalizedOffers

        by_day: dict = {}
        for r in OFFERS.to_dicts():
            by_day.setdefault((r["snapshot_date"], r["source"]), []).append({
                **{k: r[k] for k in ("snapshot_date", "source", "provider", "region", "instance_type", "gpu",
                                      "gpu_count", "pricing", "price_usd_per_hour", "price_usd_per_gpu_hour",
                                      "source_url", "observed_at")},
                "gpu_name_raw": r["gpu"], "currency": "USD", "price_original": r["price_usd_per_hour"],
                "spot_is_estimate": False, "raw_response_id": "fixture",
            })
        for (day, source), rows in by_day.items():
            w.replace_offers(day, source, FinalizedOffers(
                source, len(rows), pl.DataFrame(rows, schema=OFFER_COLUMNS, strict=False),
                pl.DataFrame(schema=QUARANTINE_COLUMNS), pl.DataFrame(schema={"rule": pl.String, "rows": pl.Int64})))
    warehouse.publish()
    return str(path)


def run(*args):
    return CliRunner().invoke(estimate, [str(a) for a in args])


def ok(result):
    assert result.exit_code == 0, result.output
    return result


GPT3_ARGS = ("train", "--params", "175B", "--tokens", "300B")


def test_train_over_json_has_one_row_per_week_and_generation(wh):
    result = ok(run(*GPT3_ARGS, "--over", "2022-01:2026-08", "--format", "json", "--warehouse", wh))
    rows = json.loads(result.stdout)
    # The span stops at the newest snapshot held (2026-08-22): a later week has no market.
    assert "the span is cut there (asked: to 2026-08-31)" in result.stderr
    assert "pricing train: week 243/243" in result.stderr  # progress goes to stderr, data to stdout
    keys = [(r["period"], r["generation"]) for r in rows]
    assert len(keys) == len(set(keys))
    assert min(r["period"] for r in rows) == "2024-01-15"  # the week OCI's 2024-01-19 list appears
    # OCI's daily list of 2024-01-19 is current only within its cadence (3 days): it prices that
    # week and no later one, so 2024 prices never pass as 2026's market.
    oci = sorted({r["period"] for r in rows if r["source"] == "oci"})
    assert oci == ["2024-01-15"], oci
    last = {r["generation"]: r for r in rows if r["period"] == "2026-08-17"}
    assert last and all(r["snapshot_date"] >= "2026-08-20" for r in last.values()), last
    assert last["Hopper"]["provider"] == "nebius"
    assert all(r["total_cost_usd"] > 0 and "usd_per_month" not in r for r in rows)


def test_train_over_csv_matches_json_and_mfu_is_exact(wh):
    args = (*GPT3_ARGS, "--over", "2026-07:2026-08", "--step", "month", "--mfu", "0.4", "--warehouse", wh)
    rows = list(csv.DictReader(io.StringIO(ok(run(*args, "--format", "csv")).stdout)))
    as_json = json.loads(ok(run(*args, "--format", "json")).stdout)
    assert [(r["period"], r["generation"]) for r in rows] == [(r["period"], r["generation"]) for r in as_json]
    assert {r["mfu_used"] for r in rows} == {"0.4"} and {r["mfu_used"] for r in as_json} == {0.4}
    # July is priced on 2026-07-31: GCP's weekly list (2026-07-30) is current, OCI's 2024 list is not.
    assert {r["generation"] for r in rows if r["period"] == "2026-07-01"} == {"Hopper"}
    assert {r["generation"] for r in rows if r["period"] == "2026-08-01"} == {"Hopper", "Blackwell", "CDNA 3"}


def test_train_over_table_marks_spot_plans_interruptible(wh):
    result = ok(run(*GPT3_ARGS, "--over", "2026-08", "--step", "month", "--pricing", "any", "--warehouse", wh))
    assert "[interruptible]" in result.stdout and "Hopper" in result.stdout and "row(s)" in result.stdout


def test_serve_over_and_the_reference_command(wh):
    serve = json.loads(ok(run("serve", "--preset", "llama-2-70b", "--over", "2026-08", "--step", "month",
                              "--format", "json", "--warehouse", wh)).stdout)
    assert serve and all(r["usd_per_month"] > 0 and "total_cost_usd" not in r for r in serve)
    reference = ok(run("reference", "--over", "2024-01:2026-08", "--step", "month", "--format", "csv",
                       "--warehouse", wh)).stdout
    runs = {r["run"] for r in csv.DictReader(io.StringIO(reference))}
    assert runs == {"gpt3-175b", "llama2-70b", "serve-llama2-70b"}


@pytest.mark.parametrize("args, fragment", [
    ((*GPT3_ARGS, "--over", "2022-01:2026-08", "--as-of", "2024-01-01"), "drop --as-of"),
    ((*GPT3_ARGS, "--over", "2026-13:2026-14"), "is not a span"),
    ((*GPT3_ARGS, "--over", "2026-08:2022-01"), "ends before it starts"),
    ((*GPT3_ARGS,), "give --gpu"),
    ((*GPT3_ARGS, "--gpu", "H100", "--format", "csv"), "--format csv needs --over"),
    ((*GPT3_ARGS, "--over", "2022-01:2023-12"), "no period in the span"),
])
def test_over_mistakes_end_with_a_clear_message(wh, args, fragment):
    result = run(*args, "--warehouse", wh)
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert fragment in result.output, result.output


# -- the History page ---------------------------------------------------------------------------------

def test_history_page_charts_each_reference_run(replayed_warehouse, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("GPU_PRICES_WAREHOUSE", str(replayed_warehouse))
    app = Path(__file__).resolve().parent.parent / "dashboards" / "streamlit_app.py"
    at = AppTest.from_file(str(app), default_timeout=240).run()
    at.switch_page("app_pages/history.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "What a reference run cost" in [s.value for s in at.subheader]
    names = [m.value for m in at.markdown]
    assert all(f"**{r.name}**" in names for r in rr.REFERENCE_RUNS.values())
    assert len(at.get("vega_lite_chart")) >= 1 + len(rr.REFERENCE_RUNS)  # the index chart, then one per run
    assert at.get("download_button"), "the CSV download is missing"
    at.radio(key="reference_pricing").set_value("spot (interruptible)").run()
    assert not at.exception, [e.value for e in at.exception]


def test_train_over_with_a_gpu_prices_only_that_gpu(wh):
    rows = json.loads(ok(run(*GPT3_ARGS, "--gpu", "H100", "--over", "2024-01:2026-08", "--step", "month",
                             "--format", "json", "--warehouse", wh)).stdout)
    assert rows and {r["gpu"] for r in rows} == {"H100-SXM-80GB"}
    assert len({r["period"] for r in rows}) == len(rows)  # one generation: one row per month


def test_history_chart_line_breaks_where_a_generation_had_no_plan():
    from dashboards.reference_runs import with_segments

    weeks = [start for start, _ in rr.periods(date(2024, 1, 1), date(2024, 1, 31))]
    rows = pl.DataFrame({"period": [weeks[0], weeks[1], weeks[3], weeks[1]], "generation": ["Ampere"] * 3 + ["Hopper"]})
    segments = with_segments(rows, weeks)
    ampere = segments.filter(pl.col("generation") == "Ampere")["segment"].to_list()
    assert ampere[0] == ampere[1] != ampere[2]  # week 3 is missing: the line stops, no bridge across it
    assert segments.filter(pl.col("generation") == "Hopper")["segment"].n_unique() == 1
