"""委托/成交 page against a live server fed by a real follower run (the demo's paper
follower, see test_browser_quality.py's `run_demo`, repeated here), plus one report of
150 skipped codes so the log needs paging. The rows must be the API's, with the status
in Chinese; the filters (account, code, status, day) must change the rows and live in
the URL across a reload and a refresh; the CSV link must download the API's CSV for the
same filters; hostile reasons and strategy names render literally."""

import os
import re
from pathlib import Path

import pytest
import requests

from jq2qmt.demo import ACCOUNT_ID, Demo

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or fails in CI) with the reason
    expect = None

ROOT = Path(__file__).resolve().parents[2]
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}

HOSTILE_STRATEGY = "<img src=x onerror=alert(7) id=inj-o>&\"'策略"
HOSTILE_REASON = "<b id=inj-reason>资金不足</b><svg onload=alert(8)>"
INJECTED = "img[src='x'], [id^='inj-'], [onerror], [onload], svg:not([aria-hidden])"
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHINESE = {
    "filled": "已成",
    "cancelled": "已撤",
    "partial": "部成已撤",
    "rejected": "废单",
    "skipped": "跳过",
}


def _site_class(request):
    """`Site` of tests/browser/conftest.py, from pytest's registered conftest plugins
    (several test folders have a module named conftest, so not imported by name)."""
    here = Path(__file__).resolve().parent / "conftest.py"
    for plugin in request.config.pluginmanager.get_plugins():
        if getattr(plugin, "__file__", None) and Path(plugin.__file__).resolve() == here:
            return plugin.Site
    raise LookupError("tests/browser/conftest.py is not loaded")


class _Instance:
    def __init__(self, demo):
        self.admin_password = demo.admin_password

    def admin_headers(self):
        return {"X-Internal-Password": self.admin_password}


class _Server:
    def __init__(self, demo):
        self.url = demo.url
        self.instance = _Instance(demo)


def _post_report(demo, round_id, at, **rows):
    body = {
        "kind": "round",
        "round_id": round_id,
        "status": "ok",
        "plan_version": "manual",
        "at": at,
        "placed": [],
        "cancelled": [],
        "skipped": [],
        "rejected": [],
        "errors": [],
        "follower": {"kind": "paper", "version": "test"},
    }
    body.update(rows)
    resp = requests.post(
        demo.url + "/api/v1/accounts/%s/reports" % ACCOUNT_ID,
        json=body,
        timeout=10,
        headers={"Authorization": "Bearer " + demo.follower_token},
    )
    assert resp.status_code == 200, resp.text


@pytest.fixture
def clean_site(request, tmp_path, browser):
    """Four cycles of the demo alone (the screenshots of docs/web.md)."""
    demo = Demo(tmp_path, seed=5, echo=lambda text: None)
    site = None
    try:
        demo.start()
        demo.preflight()
        for _ in range(4):
            demo.cycle()
        site = _site_class(request)(_Server(demo), browser)
        yield site, demo
    finally:
        if site is not None:
            site.close()
        demo.stop()


@pytest.fixture
def demo_site(request, tmp_path, browser):
    from jq2qmt.store import accounts

    demo = Demo(tmp_path, seed=5, echo=lambda text: None)
    site = None
    try:
        demo.start()
        demo.preflight()
        for _ in range(2):
            demo.cycle()
        resp = requests.post(
            demo.url + "/api/v1/positions/update/internal",
            timeout=10,
            headers={"X-Internal-Password": demo.admin_password},
            json={
                "strategy_name": HOSTILE_STRATEGY,
                "positions": [{"code": "601318.XSHG", "volume": 1000, "cost": 45.0}],
            },
        )
        assert resp.status_code == 200, resp.text
        accounts.set_follow(demo.db, ACCOUNT_ID, HOSTILE_STRATEGY, ratio=1.0)
        demo.cycle()
        day = demo.day.isoformat()
        _post_report(
            demo,
            "jq%s145900-x001" % demo.day.strftime("%m%d"),
            day + "T14:59:00",
            rejected=[
                {
                    "code": "600036.SH",
                    "side": "buy",
                    "volume": 100,
                    "price": 35.0,
                    "reason": HOSTILE_REASON,
                }
            ],
            skipped=[
                {"code": "%06d.SZ" % (300000 + i), "reason": "no_quote", "detail": "无行情"}
                for i in range(150)
            ],
        )
        site = _site_class(request)(_Server(demo), browser)
        yield site, demo
    finally:
        if site is not None:
            site.close()
        demo.stop()


def _orders(demo, **params):
    params.setdefault("limit", 5000)
    resp = requests.get(
        demo.url + "/api/v1/orders",
        params=params,
        timeout=10,
        headers={"X-Internal-Password": demo.admin_password},
    )
    assert resp.status_code == 200, resp.text
    return resp


def _rows(page):
    return page.locator("#orders-table tbody tr[data-id]")


def _expect_ids(page, ids):
    """Wait until the table lists exactly the orders `ids`, in this order (a filter or
    page change rewrites the URL first and the rows when the API answers)."""
    page.wait_for_function(
        "want => JSON.stringify([...document.querySelectorAll('#orders-table tbody tr[data-id]')]"
        ".map(r => Number(r.dataset.id))) === JSON.stringify(want)",
        arg=list(ids),
    )


def test_orders_page_rows_status_paging_and_csv(demo_site):
    site, demo = demo_site
    log = _orders(demo).json()
    everything = log["orders"]
    assert log["total"] == len(everything) > 160  # the demo's orders and the 150 skipped codes
    assert {"filled", "skipped", "rejected"} <= set(o["status"] for o in everything)

    page = site.login()
    page.click("nav.nav a[href='/orders']")
    page.wait_for_url(site.url + "/orders")
    expect(_rows(page)).to_have_count(100)
    _expect_ids(page, [o["id"] for o in everything[:100]])  # newest first, the API's rows
    expect(page.locator("#o-summary")).to_have_text("共 %d 条，第 1–100 条" % len(everything))
    pages = (len(everything) + 99) // 100
    expect(page.locator("#o-page")).to_have_text("第 1 / %d 页" % pages)
    expect(page.locator("#o-prev")).to_be_disabled()

    # status in Chinese, per the API's state; fills and reference price of a filled order
    for o in everything[:100]:
        word = CHINESE.get(o["status"]) or ("部成" if o["traded_volume"] else "已报")
        expect(page.locator("#orders-table tr[data-id='%d'] .badge" % o["id"])).to_have_text(word)
    filled = [o for o in everything if o["status"] == "filled"]
    page.click("#o-next")
    page.wait_for_url(re.compile(r"page=2"))
    _expect_ids(page, [o["id"] for o in everything[100:200]])
    page.reload()  # the page number survives a reload
    expect(page.locator("#o-page")).to_have_text("第 2 / %d 页" % pages)
    _expect_ids(page, [o["id"] for o in everything[100:200]])

    # status filter: the rejected order, its hostile reason literally
    page.select_option("#o-status", "rejected")
    page.wait_for_url(re.compile(r"status=rejected"))
    _expect_ids(page, [o["id"] for o in everything if o["status"] == "rejected"])
    expect(page.locator("#orders-table tbody")).to_contain_text(HOSTILE_REASON)
    expect(page.locator("#orders-table tbody .badge").first).to_have_text("废单")
    assert "page=" not in page.url  # a new filter starts at the first page

    # code filter (typed), combined with status=filled: that code's filled orders, with fills
    one = filled[0]
    page.select_option("#o-status", "filled")
    page.fill(
        "#o-code", one["code"].lower()
    )  # typed in lower case: the page asks for the stored form
    page.press("#o-code", "Enter")
    page.wait_for_url(re.compile(r"code=%s" % re.escape(one["code"])))
    want = [o for o in everything if o["status"] == "filled" and o["code"] == one["code"]]
    _expect_ids(page, [o["id"] for o in want])
    cell = page.locator("#orders-table tr[data-id='%d'] td.fills" % one["id"])
    expect(cell).to_contain_text(
        "%s / %s" % ("{:,}".format(one["traded_volume"]), "{:,}".format(one["volume"]))
    )
    expect(cell).to_contain_text("{:,.2f}".format(one["fills"][0]["price"]))
    strategies = page.locator("#orders-table tr[data-id='%d'] td.strategies" % one["id"])
    expect(strategies).to_have_text("、".join(one["strategies"]))

    # the URL carries the filters: a reload and a refresh keep them and the rows
    page.reload()
    expect(page.locator("#o-code")).to_have_value(one["code"])
    expect(page.locator("#o-status")).to_have_value("filled")
    expect(_rows(page)).to_have_count(len(want))
    statuses = []
    page.on("response", lambda r: "/api/v1/orders?" in r.url and statuses.append(r.status))
    page.evaluate("window.jq2qmt.ordersRefresh()")  # the periodic refresh: a 304, nothing redrawn
    expect(page.locator("#refresh-state")).to_contain_text("无变化")
    assert statuses == [304]
    expect(page.locator("#o-code")).to_have_value(one["code"])
    _expect_ids(page, [o["id"] for o in want])

    # the CSV link: the API's CSV for the same filters
    with page.expect_download() as info:
        page.click("#o-csv")
    with open(info.value.path(), "rb") as handle:
        body = handle.read()
    assert body == _orders(demo, code=one["code"], status="filled", format="csv").content
    assert body.decode("utf-8-sig").count("\r\n") == len(want) + 1

    # account and day filters: the demo's trading day lists the rows, another day none
    page.click("#o-clear")
    page.wait_for_url(site.url + "/orders")
    page.select_option("#o-account", ACCOUNT_ID)
    page.fill("#o-day", demo.day.isoformat())
    page.dispatch_event("#o-day", "change")
    page.wait_for_url(re.compile(r"account=%s&day=%s" % (ACCOUNT_ID, demo.day.isoformat())))
    expect(_rows(page)).to_have_count(100)
    page.fill("#o-day", "2020-01-02")
    page.dispatch_event("#o-day", "change")
    page.wait_for_url(re.compile(r"day=2020-01-02"))
    expect(page.locator("#orders-table tbody")).to_contain_text("没有符合条件的委托。")
    expect(page.locator("#o-pager")).to_be_hidden()

    # hostile texts: the strategy name and the reason show literally, nothing is injected
    page.goto(site.url + "/orders?status=filled")
    expect(page.locator("#orders-table tbody")).to_contain_text(HOSTILE_STRATEGY)
    assert page.locator(INJECTED).count() == 0
    assert not site.console_errors


def test_orders_page_bad_code_and_phone_layout(clean_site):
    site, demo = clean_site
    total = _orders(demo).json()["total"]
    assert total > 20
    page = site.login()
    page.goto(site.url + "/orders")
    expect(_rows(page)).to_have_count(total)
    page.fill("#o-code", "六〇〇")
    page.press("#o-code", "Enter")
    expect(page.locator("#flash")).to_contain_text("代码只能是 ASCII")
    assert page.url == site.url + "/orders"  # nothing applied
    page.set_viewport_size(PHONE)
    page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    assert page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth") <= 0
    for sel in ("#o-account", "#o-code", "#o-status", "#o-day", "#o-apply", "#o-clear", "#o-csv"):
        box = page.locator(sel).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], sel
    for name in ("账户", "代码", "状态", "交易日"):
        expect(page.get_by_label(name, exact=True)).to_be_visible()
    # the wide table scrolls inside its container
    wrap = page.locator("#orders-table").locator("xpath=..")
    assert wrap.evaluate(
        "w => w.scrollWidth > w.clientWidth && getComputedStyle(w).overflowX === 'auto'"
    )
    page.fill("#o-code", "")
    page.goto(site.url + "/orders?account=%s&status=filled" % ACCOUNT_ID)
    expect(page.locator("#orders-table tbody tr[data-status='filled']").first).to_be_visible()
    page.set_viewport_size(DESKTOP)
    site.screenshot("orders")
    _save_docs(page, "orders")
    assert not site.console_errors


def _save_docs(page, name):
    """The screenshots of docs/web.md (desktop 1280 px, phone 390 px), rewritten only when
    JQ2QMT_DOCS_SCREENSHOTS=1 so that a test run leaves the repository unchanged."""
    if os.environ.get("JQ2QMT_DOCS_SCREENSHOTS") != "1":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate(
        "(() => { const f = document.getElementById('flash'); if (f) f.hidden = true; })()"
    )
    page.set_viewport_size(DESKTOP)
    page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    page.screenshot(path=str(SCREENSHOTS / ("%s.png" % name)), full_page=True)
    page.set_viewport_size(PHONE)
    page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    page.screenshot(path=str(SCREENSHOTS / ("%s-phone.png" % name)), full_page=True)
    page.set_viewport_size(DESKTOP)
