"""The release report in a real browser: Debian's chromium, headless, driven by Playwright, reading
the report from a local server on 127.0.0.1. Screenshots go to tests/artifacts/report/."""
from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest

from core.manifest import read_manifest
from outputs.report import HEATMAP_ID, REPORT
from report_helpers import published_release

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts" / "report"
#: headless, and nothing in the background that would reach past 127.0.0.1
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/run installs it)")


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the test's output is the browser's, not the server's
        pass


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    with published_release(tmp_path_factory.mktemp("browser") / "var") as folder:
        yield folder


@pytest.fixture(scope="module")
def server(release):
    """The release folder over HTTP on 127.0.0.1 (report/ links ../data_docs and the release files)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(release)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/{REPORT}/"
    httpd.shutdown()
    thread.join()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A page that records console errors, page errors and every request leaving 127.0.0.1 (aborted)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.problems = []
    page.on("console", lambda m: m.type == "error" and page.problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: page.problems.append(f"pageerror: {e}"))

    def local_only(route):
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            return route.continue_()
        page.problems.append(f"off-machine request: {route.request.url}")
        return route.abort()

    page.route("**/*", local_only)
    yield page
    context.close()


def test_index_renders_the_heatmap_offline_with_no_console_errors(page, server, release):
    page.goto(server + "index.html", wait_until="networkidle")
    heatmap = page.locator(f"#{HEATMAP_ID}")
    heatmap.locator(".main-svg").first.wait_for()
    trace = page.evaluate(f"() => {{ const d = document.getElementById('{HEATMAP_ID}'); "
                          "return {type: d.data[0].type, rows: d.data[0].y.length, cols: d.data[0].x.length}; }")
    coverage = pd.read_parquet(release / "coverage.parquet")
    assert trace == {"type": "heatmap", "rows": coverage["country_iso3"].nunique(),
                     "cols": len(coverage[["convention", "report_cycle"]].drop_duplicates())}
    assert heatmap.locator("g.hm image").count() == 1  # plotly draws the heatmap cells as one image
    assert page.locator("#release-summary tr").count() > 10
    assert page.locator("#gbf-targets tr").count() > 1
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    heatmap.screenshot(path=str(ARTIFACTS / "heatmap.png"))
    page.screenshot(path=str(ARTIFACTS / "index.png"), full_page=True)
    assert page.problems == []


def test_a_country_page_renders_with_submissions_and_linked_values(page, server, release):
    observations = pd.read_parquet(release / "observations.parquet")
    iso3 = observations.groupby("country_iso3")["convention"].nunique().sort_values(ascending=False).index[0]
    page.goto(server + "index.html", wait_until="networkidle")
    page.click(f"a[href='countries/{iso3}.html']")
    page.wait_for_load_state("networkidle")
    assert page.title().endswith(f"({iso3}) · MEA reporting")
    values = page.locator("#country-values tr")
    assert values.count() - 1 == observations[observations["country_iso3"] == iso3]["indicator_code"].nunique()
    assert page.locator("#country-submissions tr").count() > 1
    links = page.locator("#country-values a").evaluate_all("links => links.map(a => a.href)")
    assert links and all(link.startswith(("http://", "https://")) for link in links)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"country-{iso3}.png"), full_page=True)
    assert page.problems == []


def test_each_table_links_its_data_docs_validation_page(page, server, release):
    page.goto(server + "index.html", wait_until="networkidle")
    assert page.locator("#data-docs").get_attribute("href") == "../data_docs/index.html"
    assert page.locator("#audit-results a.validation").count() >= len(read_manifest(release)["tables"])
    page.click("#audit-results tr:has(td:text-is('observations')) a.validation")
    page.wait_for_load_state("networkidle")
    assert "/data_docs/validations/" in page.url and page.url.endswith("-observations.html")
    assert page.get_by_text("Evaluated Expectations").count() > 0
    assert page.get_by_text("values must never be null").count() > 0
    # GX's own Data Docs templates load Bootstrap, jQuery, Vega and Font Awesome from CDNs: the
    # route aborted those (nothing left 127.0.0.1), their inline scripts then miss jQuery's $, and
    # the page still reads; nothing else went wrong
    expected = ("off-machine request: https://", "console: Failed to load resource", "pageerror: $ is not defined")
    assert [p for p in page.problems if not p.startswith(expected)] == []
