"""Every dashboard page runs on the replayed real warehouse and answers its inputs.

Streamlit's AppTest runs the real entrypoint (dashboards/streamlit_app.py) in process, switches
to each page of the navigation and checks: no exception, the "as of" line, and that changing
the key inputs changes what is shown. Impossible inputs and refused SQL must produce a message
for the user, never a traceback.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from warehouse import read

APP = Path(__file__).resolve().parent.parent / "dashboards" / "streamlit_app.py"
PAGES = ["market", "train", "serve", "history", "specs", "sql", "freshness"]
TITLES = {
    "market": "Market", "train": "Train", "serve": "Serve", "history": "History",
    "specs": "Specs", "sql": "SQL", "freshness": "Freshness",
}
TIMEOUT = 120


@pytest.fixture
def warehouse_env(replayed_warehouse, monkeypatch) -> Path:
    monkeypatch.setenv("GPU_PRICES_WAREHOUSE", str(replayed_warehouse))
    return replayed_warehouse


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    at.switch_page(f"app_pages/{page}.py").run()
    assert_clean(at)
    return at


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def texts(at: AppTest) -> str:
    """All visible text of the run: titles, captions, markdown, alerts, metrics."""
    parts = [t.value for t in at.title] + [c.value for c in at.caption] + [m.value for m in at.markdown]
    for kind in (at.info, at.warning, at.error, at.success, at.subheader):
        parts += [e.value for e in kind]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    return "\n".join(str(p) for p in parts)


def metric(at: AppTest, label: str) -> str:
    for m in at.metric:
        if m.label == label:
            return m.value
    raise AssertionError(f"no metric {label!r}; have {[m.label for m in at.metric]}")


def newest_snapshot(path: Path) -> str:
    return str(read.query("SELECT max(snapshot_date) AS d FROM offers", path=path)["d"][0])


# -- every page ---------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_with_as_of_date(warehouse_env, page):
    at = open_page(page)
    shown = texts(at)
    assert TITLES[page] in " ".join(t.value for t in at.title)
    # The page's own as-of line (ui.as_of, an info box), not a phrase anywhere in its text.
    as_of_lines = [i.value for i in at.info if " as of " in f" {i.value}"]
    assert as_of_lines, f"{page}: no as-of line among the page's info boxes"
    assert any(newest_snapshot(warehouse_env) in line for line in as_of_lines), (
        f"{page}: the as-of line must name the newest snapshot date: {as_of_lines}"
    )
    assert "today's prices" not in shown.replace("not today's prices", "").replace("for today's prices", "")
    assert not at.error, [e.value for e in at.error]


def test_missing_warehouse_says_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("GPU_PRICES_WAREHOUSE", str(tmp_path / "nowhere" / "gpu_prices.duckdb"))
    for page in ("market", "sql"):
        at = open_page(page)
        assert at.error and "No warehouse" in at.error[0].value
        assert any("gpu-prices ingest --replay" in i.value for i in at.info)


# -- market -------------------------------------------------------------------------------------


def offers_table_rows(at: AppTest) -> int:
    return at.dataframe[-1].value.shape[0]  # the offers table is the page's last dataframe


def test_market_filters_change_the_offer_table(warehouse_env):
    at = open_page("market")
    assert len(at.dataframe) >= 2
    all_rows = offers_table_rows(at)
    assert all_rows > 10

    gpus = at.multiselect(key="market_gpu").options
    at.multiselect(key="market_gpu").set_value([gpus[0]]).run()
    assert_clean(at)
    one_gpu = offers_table_rows(at)
    assert 0 < one_gpu < all_rows
    assert set(at.dataframe[-1].value["gpu"]) == {gpus[0]}

    at.multiselect(key="market_gpu").set_value([]).run()
    assert len(at.multiselect(key="market_pricing").options) > 1, "the replayed snapshot has several pricing kinds"
    at.multiselect(key="market_pricing").set_value([]).run()  # every pricing kind
    assert_clean(at)
    assert offers_table_rows(at) > all_rows

    # the link column carries the source URL of each offer
    assert at.dataframe[-1].value["source_url"].str.startswith("http").all()
    assert "$/GPU-h" in texts(at) and "$/effective TFLOP-h" in texts(at)


def test_market_filter_with_no_match_explains(warehouse_env):
    offers = read.query(
        "SELECT gpu, provider FROM latest_offers WHERE gpu IS NOT NULL AND pricing = 'on_demand'",
        path=warehouse_env,
    )
    by_gpu = {g: set(offers.filter(offers["gpu"] == g)["provider"].to_list()) for g in offers["gpu"].unique()}
    providers = set(offers["provider"].to_list())
    gpu, absent = next((g, sorted(providers - p)[0]) for g, p in by_gpu.items() if providers - p)
    at = open_page("market")
    at.multiselect(key="market_gpu").set_value([gpu])
    at.multiselect(key="market_provider").set_value([absent]).run()
    assert_clean(at)
    assert any("No offer matches" in w.value for w in at.warning)


# -- train --------------------------------------------------------------------------------------


def test_train_inputs_change_the_estimate(warehouse_env):
    at = open_page("train")
    hours = metric(at, "GPU-hours")
    flops = metric(at, "Training compute")
    assert "GPU-h" in hours and "FLOPs" in flops
    assert metric(at, "Wall-clock").endswith("days")

    params = at.number_input(key="train_params_b").value
    at.number_input(key="train_params_b").set_value(params * 2).run()
    assert_clean(at)
    assert metric(at, "GPU-hours") != hours
    assert metric(at, "Training compute") != flops

    before = metric(at, "GPU-hours")
    at.checkbox(key="train_mfu_override").check().run()
    at.slider(key="train_mfu").set_value(0.2).run()
    assert_clean(at)
    assert metric(at, "GPU-hours") != before

    cluster = metric(at, "Cluster")
    at.number_input(key="train_gpus").set_value(512).run()
    assert_clean(at)
    assert metric(at, "Cluster") != cluster
    assert "512" in metric(at, "Cluster")


def test_train_ranks_offers_and_charts_cost_against_time(warehouse_env):
    at = open_page("train")
    frames = [d.value for d in at.dataframe]
    ranked = next(f for f in frames if "total_cost_usd" in f.columns)
    assert len(ranked) > 0
    assert list(ranked["total_cost_usd"]) == sorted(ranked["total_cost_usd"])
    assert "Cheapest total" in [m.label for m in at.metric]
    assert at.get("vega_lite_chart"), "the cost-against-time chart is missing"


def test_train_presets_fill_the_model(warehouse_env):
    at = open_page("train")
    at.selectbox(key="train_preset").set_value("llama-3.1-70b").run()
    assert_clean(at)
    assert at.number_input(key="train_params_b").value == pytest.approx(70.0)
    assert at.number_input(key="train_tokens_b").value == pytest.approx(1400.0)


def test_train_can_price_an_older_snapshot(warehouse_env):
    dates = read.query("SELECT DISTINCT snapshot_date AS d FROM offers ORDER BY 1", path=warehouse_env)["d"].to_list()
    if len(dates) < 2:
        pytest.skip("the replayed warehouse holds a single snapshot date")
    at = open_page("train")
    box = at.selectbox(key="train_date")
    assert len(box.options) == len(dates)
    box.set_value(dates[0]).run()
    assert_clean(at)
    assert f"as of {dates[0]:%Y-%m-%d}" in texts(at)


@pytest.mark.parametrize(
    "change, expected",
    [
        (("number_input", "train_params_b", 0.0), "params must be a positive"),
        (("number_input", "train_params_b", -5.0), "params must be a positive"),
        (("number_input", "train_tokens_b", 0.0), "tokens must be positive"),
        (("number_input", "train_gpus", 1), "need"),  # 8B on one GPU: does not fit
    ],
)
def test_train_impossible_inputs_explain_what_would_work(warehouse_env, change, expected):
    at = open_page("train")
    kind, key, value = change
    getattr(at, kind)(key=key).set_value(value).run()
    assert_clean(at)
    errors = " ".join(e.value for e in at.error)
    assert expected in errors, errors


def test_train_model_too_big_for_the_cluster_suggests_a_size(warehouse_env):
    at = open_page("train")
    at.selectbox(key="train_preset").set_value("llama-3.1-405b").run()
    at.number_input(key="train_gpus").set_value(8).run()
    assert_clean(at)
    message = " ".join(e.value for e in at.error)
    assert "Try --gpus" in message or "GPUs" in message


def test_train_deadline_no_cluster_can_meet(warehouse_env):
    at = open_page("train")
    at.radio(key="train_sizing").set_value("Deadline").run()
    assert_clean(at)
    assert not at.error, [e.value for e in at.error]
    cluster_help = next(m.help for m in at.metric if m.label == "Cluster")
    assert "deadline" in cluster_help
    assert float(metric(at, "Wall-clock").split()[0].replace(",", "")) <= at.number_input(key="train_deadline").value
    at.number_input(key="train_params_b").set_value(405.0)
    at.number_input(key="train_tokens_b").set_value(1e6)  # a quadrillion tokens
    at.number_input(key="train_deadline").set_value(0.01).run()
    assert_clean(at)
    errors = " ".join(e.value for e in at.error)
    assert "cannot finish within" in errors and "Try --deadline-days" in errors


# -- serve --------------------------------------------------------------------------------------


def test_serve_load_changes_replicas_and_cost(warehouse_env):
    at = open_page("serve")
    replicas = metric(at, "Replicas for the peak")
    cost = metric(at, "Cheapest per million tokens")
    assert "/M tokens" in cost
    at.number_input(key="serve_avg_rps").set_value(50.0).run()
    assert_clean(at)
    assert metric(at, "Replicas for the peak") != replicas

    before = metric(at, "Cheapest fleet per month")
    at.number_input(key="serve_peak_ratio").set_value(8.0).run()
    assert_clean(at)
    assert metric(at, "Cheapest fleet per month") != before
    assert len(at.get("vega_lite_chart")) >= 2  # by-GPU bars and the peak-ratio curve


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("serve_params_b", 0.0, "params must be a positive"),
        ("serve_avg_rps", 0.0, "average requests/s must be positive"),
        ("serve_peak_ratio", 0.5, "peak / average must be at least 1"),
        ("serve_params_b", 1e6, "no GPU type with offers can serve"),  # a 1-quadrillion-parameter model
    ],
)
def test_serve_impossible_inputs_explain(warehouse_env, key, value, expected):
    at = open_page("serve")
    at.number_input(key=key).set_value(value).run()
    assert_clean(at)
    errors = " ".join(e.value for e in at.error)
    assert expected in errors, errors


# -- history, specs, freshness -----------------------------------------------------------------


def test_history_index_and_offer_pickers(warehouse_env):
    at = open_page("history")
    assert at.get("vega_lite_chart"), "the price index chart is missing"
    chosen = at.multiselect(key="history_gpu")
    assert chosen.value, "the index chart starts with some GPUs picked"
    at.multiselect(key="history_gpu").set_value([]).run()
    assert_clean(at)
    assert any("Pick at least one GPU" in w.value for w in at.warning)

    offer_gpus = at.selectbox(key="history_offer_gpu").options
    at.selectbox(key="history_offer_gpu").set_value(offer_gpus[-1]).run()
    assert_clean(at)


def test_specs_search_filters_the_table(warehouse_env):
    at = open_page("specs")
    rows = at.dataframe[0].value.shape[0]
    assert rows > 5
    at.text_input(key="specs_search").input("H100").run()
    assert_clean(at)
    fewer = at.dataframe[0].value.shape[0]
    assert 0 < fewer < rows
    assert all("h100" in g.lower() or "h100" in n.lower()
               for g, n in zip(at.dataframe[0].value["gpu"], at.dataframe[0].value["name"]))
    at.text_input(key="specs_search").input("no such gpu").run()
    assert_clean(at)
    assert any("No GPU matches" in w.value for w in at.warning)


def test_freshness_flags_old_replayed_data(warehouse_env):
    at = open_page("freshness")
    frame = at.dataframe[0].value
    assert len(frame) >= 1 and "last_success_at" in frame.columns
    shown = texts(at)
    assert re.search(r"\d+ days before today", shown), "replayed (old) prices must be flagged as old"


# -- sql ----------------------------------------------------------------------------------------


def run_sql(at: AppTest, sql: str) -> AppTest:
    at.text_area(key="sql_query").input(sql)
    at.button(key="sql_run").click().run()
    assert_clean(at)
    return at


def test_sql_select_returns_a_table_and_downloads(warehouse_env):
    at = open_page("sql")
    run_sql(at, "SELECT provider, count(*) AS offers FROM latest_offers GROUP BY 1 ORDER BY 2 DESC")
    assert not at.error, [e.value for e in at.error]
    frame = at.dataframe[-1].value
    assert list(frame.columns) == ["provider", "offers"] and len(frame) >= 1
    labels = {b.proto.label for b in at.get("download_button")}
    assert {"Download CSV", "Download Parquet"} <= labels


def test_sql_examples_load_into_the_editor(warehouse_env):
    at = open_page("sql")
    examples = at.selectbox(key="sql_example").options
    at.selectbox(key="sql_example").set_value(examples[-1]).run()
    assert_clean(at)
    assert "FROM" in at.text_area(key="sql_query").value
    at.button(key="sql_run").click().run()
    assert_clean(at)
    assert not at.error


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM offers",
        "COPY offers TO '/tmp/stolen.csv'",
        "ATTACH '/tmp/other.duckdb' AS other",
        "INSTALL httpfs",
        "CREATE TABLE t AS SELECT 1",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT 1; DROP TABLE offers",
    ],
)
def test_sql_refuses_writes_and_file_reads(warehouse_env, sql):
    at = open_page("sql")
    run_sql(at, sql)
    assert at.error, "a refused statement must show an error message"
    message = at.error[0].value
    assert message.startswith(("Refused", "Query failed")), message
    assert "Traceback" not in message
    if "passwd" in sql or "hostname" in sql:
        assert "root:" not in message and "Refused" in message
    # the warehouse is untouched
    assert read.query("SELECT count(*) AS n FROM offers", path=warehouse_env)["n"][0] > 0


def test_sql_bad_query_is_an_error_not_a_traceback(warehouse_env):
    at = open_page("sql")
    run_sql(at, "SELECT no_such_column FROM latest_offers")
    assert at.error and at.error[0].value.startswith("Query failed")


def test_dashboard_never_imports_dagster_or_pipelines():
    """The dashboard reads the warehouse and the cost model only (CONTRIBUTING.md layout)."""
    import ast

    root = APP.parent
    for file in root.rglob("*.py"):
        tree = ast.parse(file.read_text(), filename=str(file))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top not in {"dagster", "pipelines"}, f"{file.relative_to(root.parent)} imports {name}"
