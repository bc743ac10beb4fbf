"""The History page tells the index: legends, dated axes with years, the chained line, bounded reads.

Why: issue 10. The page had no legend and no years on its axis, and asked the warehouse for the
whole history on every run. These check the chart specs the page sends (AppTest), that every
history read is bounded and a date range does not change the chained levels (the chain is
multiplied out before the range applies), and draw the page in headless chromium for the
screenshot in artifacts/screenshots/history_index.png.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from warehouse import read

APP = Path(__file__).resolve().parent.parent / "dashboards" / "streamlit_app.py"


@pytest.fixture
def history(replayed_warehouse, monkeypatch) -> AppTest:
    monkeypatch.setenv("GPU_PRICES_WAREHOUSE", str(replayed_warehouse))
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    at.switch_page("app_pages/history.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _layers(chart) -> list[dict]:
    spec = json.loads(chart.proto.spec)
    return spec.get("layer", [spec])


def test_index_chart_has_legends_years_and_the_chained_line(history):
    index_chart = history.get("vega_lite_chart")[0]
    lines = [layer for layer in _layers(index_chart) if layer["mark"]["type"] == "line"]
    assert lines, "no line layer in the index chart"
    encoding = lines[0]["encoding"]
    assert encoding["color"]["legend"] is not None and encoding["color"]["title"] == "GPU"
    assert encoding["strokeDash"]["legend"] is not None
    assert encoding["strokeDash"]["scale"]["domain"] == ["chained index (solid)", "raw index (dashed)",
                                                         "median offer (dotted)"]
    assert encoding["x"]["type"] == "temporal" and "%Y" in encoding["x"]["axis"]["format"]
    assert any(layer["mark"]["type"] == "area" and layer["encoding"]["y2"]["field"] == "p90_usd"
               for layer in _layers(index_chart))
    shown = history.dataframe[0].value  # the index rows behind the chart (the CSV's rows)
    h100 = shown[shown["gpu"] == "H100-SXM-80GB"]
    assert h100["chained_index_usd"].notna().any(), "H100's chained index is not shown"
    published = h100[h100["index_usd"].notna()]
    first = published.sort_values("snapshot_date").iloc[0]
    assert first["chained_index_usd"] == pytest.approx(first["index_usd"])  # anchored on the raw index
    assert len(history.get("vega_lite_chart")) >= 3  # index, providers per day, per provider


def test_market_level_quotes_are_charted_per_instance_hour_never_as_gpu_prices(replayed_warehouse, tmp_path, monkeypatch):
    """becloudready's quotes (a GPU count the source does not state) get their own chart: one line
    per provider, dated axis, log scale in $ per instance-hour, and the rows of market_quotes_daily."""
    import shutil

    from tests.conftest import run_cli

    path = tmp_path / "gpu_prices.duckdb"
    shutil.copy(replayed_warehouse, path)
    run_cli("backfill", "becloudready", "--since", "2024-09-24", "--until", "2024-09-26", "--no-derive",
            "--warehouse", str(path))
    monkeypatch.setenv("GPU_PRICES_WAREHOUSE", str(path))
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    at.switch_page("app_pages/history.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(h.value.startswith("Market-level quotes") for h in at.subheader)
    quote_charts = [c for c in at.get("vega_lite_chart")
                    if any("instance-hour" in json.dumps(layer["encoding"].get("y", {})) for layer in _layers(c))]
    assert len(quote_charts) == 1
    encoding = _layers(quote_charts[0])[0]["encoding"]
    assert encoding["y"]["field"] == "cheapest_usd_per_instance_hour" and encoding["y"]["scale"]["type"] == "log"
    assert encoding["color"]["field"] == "provider" and encoding["color"]["legend"] is not None
    assert encoding["x"]["type"] == "temporal" and "%Y" in encoding["x"]["axis"]["format"]
    model = at.selectbox(key="history_quote_model").value
    shown = read.query(*read.market_quotes_query(model, date(2024, 9, 24), date(2024, 9, 26)), path=path)
    days = read.query("SELECT DISTINCT snapshot_date FROM market_quotes WHERE gpu_model = $m", {"m": model}, path=path)
    assert shown.height > 0 and shown["snapshot_date"].n_unique() == days.height >= 2
    assert set(encoding["color"]["scale"]["domain"]) == set(shown["provider"].to_list())
    # The per-GPU index never saw them.
    assert read.query("SELECT count(*) AS n FROM price_index WHERE snapshot_date BETWEEN '2024-09-24' AND '2024-09-26' "
                      "AND offers > 0 AND gpu LIKE 'MI300X%'", path=path)["n"][0] == 0


def test_every_history_read_is_bounded_and_the_range_keeps_the_chain(replayed_warehouse):
    with pytest.raises(ValueError, match="at most"):
        read.index_history_query([f"g{i}" for i in range(read.HISTORY_MAX_GPUS + 1)], "on_demand",
                                 date(2020, 1, 1), date(2030, 1, 1))
    with pytest.raises(ValueError, match="at least one GPU"):
        read.index_history_query([], "on_demand", date(2020, 1, 1), date(2030, 1, 1))
    gpus = ["H100-SXM-80GB", "A100-SXM-80GB"]
    everything = read.query(*read.index_history_query(gpus, "on_demand", date(2020, 1, 1), date(2030, 1, 1)),
                            path=replayed_warehouse)
    recent = read.query(*read.index_history_query(gpus, "on_demand", date(2026, 8, 1), date(2026, 8, 22)),
                        path=replayed_warehouse)
    assert 0 < recent.height < everything.height
    assert recent["snapshot_date"].min() >= date(2026, 8, 1)
    # the anchor (2026-08-22) is inside the range and the levels before it in the range are the
    # same as in the unbounded read: the chain is built before the range applies
    same = recent.join(everything, on=["snapshot_date", "gpu"], suffix="_all")
    assert same.height == recent.height and same["chained_index_usd"].drop_nulls().len() > 0
    assert (same["chained_index_usd"] - same["chained_index_usd_all"]).abs().max() < 1e-12
    steps = read.query(*read.price_steps_query("T4-16GB", "spot", date(2026, 1, 1), date(2026, 12, 31)),
                       path=replayed_warehouse)
    assert steps.height >= 1 and (steps["change_pct"].abs() > read.PRICE_STEP_PCT).all()
    assert set(steps["provider"]) == {"azure"}  # the real 20% spot cut of 2026-08-01
    # the page's step query is the price_changes rule on one GPU's offers: same changes
    for gpu, pricing in (("A100-SXM-80GB", "on_demand"), ("T4-16GB", "spot")):
        mine = read.query(*read.price_steps_query(gpu, pricing, date(2020, 1, 1), date(2030, 1, 1), min_pct=0.0),
                          path=replayed_warehouse)
        view = read.query("SELECT changed_on, source, region, instance_type, change_pct FROM price_changes "
                          "WHERE gpu = $g AND pricing = $p", {"g": gpu, "p": pricing}, path=replayed_warehouse)
        key = ["snapshot_date", "source", "region", "instance_type", "change_pct"]
        assert mine.height == view.height > 0
        assert mine.select(key).sort(key).equals(view.rename({"changed_on": "snapshot_date"}).select(key).sort(key))


@pytest.mark.browser
@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="/usr/bin/chromium is missing")
def test_history_page_in_browser(app_url, browser):
    from tests.test_dashboard_browser import SCREENSHOTS, screenshot_full, wait_until_done

    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{app_url}/history", wait_until="domcontentloaded", timeout=60_000)
        wait_until_done(page)
        assert page.locator("[data-testid='stException']").count() == 0
        charts = page.locator("[data-testid='stVegaLiteChart']")
        assert charts.count() >= 3
        assert page.get_by_text("Download CSV", exact=False).count() >= 2
        screenshot_full(page, SCREENSHOTS / "history_index.png")
        charts.first.screenshot(path=str(SCREENSHOTS / "history_index_chart.png"))
        assert not errors, errors
    finally:
        context.close()


from tests.test_dashboard_browser import app_url, browser  # noqa: E402,F401  (fixtures)
