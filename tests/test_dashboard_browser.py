"""The real dashboard, served by `streamlit run`, renders every page in a real browser.

AppTest (test_dashboard_pages.py) runs the scripts but not the frontend: a chart spec Vega
cannot draw, a column config the table rejects, or a page that never finishes loading only
shows in a browser. This drives headless Debian chromium through Playwright over every page,
checks the title and the "as of" line are visible and no exception box is shown, and keeps a
full-page screenshot of each in artifacts/screenshots/ for a human to look at.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
APP = PROJECT_ROOT / "dashboards" / "streamlit_app.py"
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = PROJECT_ROOT / "artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
# page -> (url path, text the page's title carries). The default page lives at "/".
PAGES = {
    "market": "Market",
    "train": "Train",
    "serve": "Serve",
    "history": "History",
    "specs": "Specs",
    "sql": "SQL",
    "freshness": "Freshness",
}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (apt-get install -y chromium)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(replayed_warehouse, tmp_path_factory):
    port = _free_port()
    log = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    env = {**os.environ, "GPU_PRICES_WAREHOUSE": str(replayed_warehouse)}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true",
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
            cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"streamlit did not come up on {url}:\n{log.read_text()}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


URL_PATHS = {"market": ""}  # st.navigation serves the default page at the root


def screenshot_full(page, target: Path) -> None:
    """Streamlit scrolls inside its main container, so Playwright's full_page sees only the
    viewport: grow the viewport to the content's height first."""
    height = page.evaluate(
        """() => Math.max(...[
            document.querySelector("[data-testid='stMain']"),
            document.querySelector("[data-testid='stAppViewContainer']"),
            document.scrollingElement,
        ].filter(Boolean).map(e => e.scrollHeight))"""
    )
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": min(int(height) + 40, 16000)})
    page.wait_for_timeout(1500)  # charts re-layout on resize
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target), full_page=True)
    page.set_viewport_size(size)


def wait_until_done(page, timeout_ms: int = 90_000) -> None:
    """Until the script run has finished and nothing is still loading."""
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout_ms)
    page.wait_for_function(
        """() => {
            const app = document.querySelector("[data-testid='stApp']");
            if (!app || app.getAttribute("data-test-script-state") !== "notRunning") return false;
            if (document.querySelector("[data-testid='stSkeleton']")) return false;
            if (document.querySelector("[data-testid='stSpinner']")) return false;
            return !!document.querySelector("[data-testid='stMainBlockContainer'] h1");
        }""",
        timeout=timeout_ms,
    )
    page.wait_for_timeout(1500)  # let Vega finish drawing the charts before the screenshot


@pytest.mark.parametrize("path", list(PAGES))
def test_page_in_browser(app_url, browser, path):
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{app_url}/{URL_PATHS.get(path, path)}", wait_until="domcontentloaded", timeout=60_000)
        wait_until_done(page)
        assert page.get_by_text("Page not found").count() == 0, f"/{path} is not a page"
        main = page.locator("[data-testid='stMainBlockContainer']")
        assert PAGES[path] in main.locator("h1").first.inner_text()
        assert main.get_by_text("as of", exact=False).first.is_visible()
        exceptions = page.locator("[data-testid='stException']")
        assert exceptions.count() == 0, exceptions.first.inner_text()
        if path in ("market", "history", "train", "serve", "specs"):
            charts = page.locator("[data-testid='stVegaLiteChart'] canvas, [data-testid='stVegaLiteChart'] svg")
            assert charts.count() >= 1, f"no chart drawn on {path}"
        if path in ("market", "specs", "freshness"):
            assert page.locator("[data-testid='stDataFrame']").count() >= 1
        screenshot_full(page, SCREENSHOTS / f"{path}.png")
        assert not errors, errors
    finally:
        context.close()


def test_sql_console_in_browser(app_url, browser):
    """Type a refused statement into the console: a clear message, not a traceback."""
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    page = context.new_page()
    try:
        page.goto(f"{app_url}/sql", wait_until="domcontentloaded", timeout=60_000)
        wait_until_done(page)
        area = page.locator("textarea").first
        area.fill("SELECT * FROM read_csv('/etc/passwd')")
        area.press("Control+Enter")  # commit the text area
        page.get_by_role("button", name="Run query").click()
        page.wait_for_timeout(500)
        wait_until_done(page)
        alert = page.locator("[data-testid='stAlert']").filter(has_text="Refused")
        alert.first.wait_for(timeout=30_000)
        assert page.locator("[data-testid='stException']").count() == 0
        assert "root:" not in page.content()
        screenshot_full(page, SCREENSHOTS / "sql_refused.png")
    finally:
        context.close()
