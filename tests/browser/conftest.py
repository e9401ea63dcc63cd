"""Playwright harness: Debian's Chromium (/usr/bin/chromium, headless) against `live_server`.

Fixtures
    ``browser`` (session) -> playwright Browser. Skipped with the reason when playwright
        or Chromium is missing, unless ``JQ2QMT_TEST_REQUIRE_ALL_BACKENDS=1`` (CI): then
        the test fails instead. Override the binary with ``JQ2QMT_TEST_CHROMIUM``.
    ``site`` -> `Site`: a live server plus helpers to open pages, log in, upload
        snapshots and take screenshots (written to ``test-artifacts/screenshots/``).
"""

import json
import os
import shutil
from pathlib import Path

import pytest
import requests

REQUIRE_ALL = os.environ.get("JQ2QMT_TEST_REQUIRE_ALL_BACKENDS") == "1"
CHROMIUM = os.environ.get("JQ2QMT_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 15000


def _unavailable(reason):
    if REQUIRE_ALL:
        pytest.fail(
            reason + " but JQ2QMT_TEST_REQUIRE_ALL_BACKENDS=1 (CI installs Debian's chromium)"
        )
    pytest.skip(reason)


# Module scope, not session: Playwright's sync API keeps an event loop marked as running
# in the main thread while it is started, so tests after tests/browser that call
# asyncio.run() would fail if it outlived the browser tests (a directory without
# __init__.py is no package for pytest, so package scope would be the session).
@pytest.fixture(scope="module")
def _playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install '.[test]')")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        _unavailable(
            "Chromium not found at %s (apt-get install chromium fonts-noto-cjk)" % CHROMIUM
        )
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(_playwright):
    browser = _playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


class Site:
    """One live server and one browser context (cookies) logged in or not."""

    def __init__(self, server, browser, viewport=DESKTOP):
        self.server = server
        self.url = server.url
        self.instance = server.instance
        self.password = server.instance.admin_password
        self.browser = browser
        self.context = browser.new_context(
            viewport=viewport, locale="zh-CN", timezone_id="Asia/Shanghai"
        )
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page = self.context.new_page()
        self.console_errors = []
        self.page.on(
            "console", lambda msg: msg.type == "error" and self.console_errors.append(msg.text)
        )
        self.page.on("pageerror", lambda exc: self.console_errors.append(str(exc)))

    def close(self):
        self.context.close()

    def goto(self, path):
        self.page.goto(self.url + path)
        return self.page

    def login(self, password=None):
        page = self.goto("/login")
        page.fill("#password", password or self.password)
        page.click("#login-submit")
        page.wait_for_url(self.url + "/")
        return page

    # -- data through the real API (admin password header), as a test's setup -----
    def post_internal(self, strategy, positions):
        resp = requests.post(
            self.url + "/api/v1/positions/update/internal",
            headers=self.instance.admin_headers(),
            json={"strategy_name": strategy, "positions": positions},
            timeout=10,
        )
        assert resp.status_code == 200, resp.text
        return resp.json()

    def upload_signed(self, strategy, positions):
        """A JoinQuant-style signed upload (client:joinquant in the history)."""
        path = "/api/v1/positions/update"
        body = json.dumps(
            {"strategy_name": strategy, "positions": positions}, ensure_ascii=False
        ).encode("utf-8")
        headers = self.instance.signed_headers("POST", path, body)
        headers["Content-Type"] = "application/json"
        resp = requests.post(self.url + path, data=body, headers=headers, timeout=10)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def total(self, include_adjustments=True):
        resp = requests.get(
            self.url + "/api/v1/positions/total",
            params={"include_adjustments": "true" if include_adjustments else "false"},
            headers=self.instance.admin_headers(),
            timeout=10,
        )
        assert resp.status_code == 200, resp.text
        return {p["code"]: p for p in resp.json()["positions"]}

    def screenshot(self, name):
        """Full-page screenshots of the current page at desktop and phone width."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page = self.page
        original = page.viewport_size
        page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar belongs at the top
        page.evaluate(
            "(() => { const f = document.getElementById('flash'); if (f) f.hidden = true; })()"
        )
        for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(size)
            # the page re-lays out its charts on resize; wait two frames for the paint
            page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
            page.screenshot(path=str(SCREENSHOTS / ("%s-%s.png" % (name, label))), full_page=True)
        page.set_viewport_size(original)


@pytest.fixture
def site(live_server, browser):
    s = Site(live_server, browser)
    yield s
    s.close()
