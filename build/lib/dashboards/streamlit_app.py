"""The gpu-prices dashboard: `gpu-prices dashboard` (or `streamlit run dashboards/streamlit_app.py`).

Reads the published warehouse named by GPU_PRICES_WAREHOUSE, read-only, through
`dashboards.data`; never imports Dagster or `pipelines`.
"""

from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run` puts dashboards/ on sys.path, not the project root; the pages import
# `dashboards.*`, `warehouse.*` and `costmodel.*` from there.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

st.set_page_config(
    page_title="GPU prices",
    page_icon=":material/payments:",
    layout="wide",
    initial_sidebar_state="collapsed",
)

HERE = Path(__file__).resolve().parent
PAGES = [
    st.Page(HERE / "app_pages" / "market.py", title="Market", icon=":material/storefront:", url_path="market", default=True),
    st.Page(HERE / "app_pages" / "train.py", title="Train", icon=":material/model_training:", url_path="train"),
    st.Page(HERE / "app_pages" / "serve.py", title="Serve", icon=":material/forum:", url_path="serve"),
    st.Page(HERE / "app_pages" / "history.py", title="History", icon=":material/show_chart:", url_path="history"),
    st.Page(HERE / "app_pages" / "specs.py", title="Specs", icon=":material/memory:", url_path="specs"),
    st.Page(HERE / "app_pages" / "sql.py", title="SQL", icon=":material/terminal:", url_path="sql"),
    st.Page(HERE / "app_pages" / "freshness.py", title="Freshness", icon=":material/monitor_heart:", url_path="freshness"),
]

page = st.navigation(PAGES, position="top")
page.run()
