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


# -- train and serve: tests/test_dashboard_train_serve.py -----------------------------------------


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
