"""跟单质量 page against a live server fed by a real follower run: the demo's machinery
(server, simulated JoinQuant strategy, paper follower; the paper exchange fills at the
bid/ask, not at the last price the plan used) runs a few cycles, then a hostile-named
strategy is followed for one more cycle and a round report carries a hostile reject
reason. The page's tiles must show what the API returns and what a hand computation
from the paper exchange's own fills gives; the curves must have points; the CSV link
must download the API's CSV; the URL keeps the account and range across a reload."""

import os
import re
from pathlib import Path

import pytest
import requests

from jq2qmt.demo import ACCOUNT_ID, Demo, qmt_code

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or fails in CI) with the reason
    expect = None

ROOT = Path(__file__).resolve().parents[2]
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}

HOSTILE_STRATEGY = "<img src=x onerror=alert(7) id=inj-q>&\"'策略"
HOSTILE_REASON = "<b id=inj-reason>资金不足</b><svg onload=alert(8)>"
INJECTED = "img[src='x'], [id^='inj-'], [onerror], [onload], svg:not([aria-hidden])"
SCREENSHOTS = ROOT / "docs" / "screenshots"


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


def run_demo(tmp_path, cycles=3, hostile=True):
    """A started demo after its preflight and `cycles` cycles; with `hostile`, one more
    cycle with a hostile-named second strategy and a report with a hostile reject
    reason. Returns
    (demo, {trade_id: (bps, cost)}) computed by hand from the paper exchange's fills
    and the last price of the cycle that placed them."""
    demo = Demo(tmp_path, seed=11, echo=lambda text: None)
    try:
        return _feed(demo, cycles, hostile)
    except BaseException:
        demo.stop()
        raise


def _feed(demo, cycles, hostile):
    from jq2qmt.store import accounts

    expected = {}
    demo.start()
    demo.preflight()
    seen = 0

    def one_cycle():
        nonlocal seen
        demo.cycle()
        last = dict((qmt_code(c), p) for c, p in demo.prices.items())
        trades = demo.exchange.trades()
        for t in trades[seen:]:
            ref = last[t["code"]]
            diff = (t["price"] - ref) if t["side"] == "buy" else (ref - t["price"])
            expected[t["trade_id"]] = (round(diff / ref * 10000, 2), round(diff * t["volume"], 2))
        seen = len(trades)

    for _ in range(cycles):
        one_cycle()
    if not hostile:
        return demo, expected
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
    one_cycle()
    report = {
        "kind": "round",
        "round_id": "jq%s-x001" % demo.day.strftime("%m%d") + "150000",
        "status": "ok",
        "plan_version": "manual",
        "at": demo.day.isoformat() + "T14:59:00",
        "placed": [],
        "cancelled": [],
        "skipped": [],
        "errors": [],
        "rejected": [
            {
                "code": "600036.SH",
                "side": "buy",
                "volume": 100,
                "price": 35.0,
                "reason": HOSTILE_REASON,
            }
        ],
        "follower": {"kind": "paper", "version": "test"},
    }
    resp = requests.post(
        demo.url + "/api/v1/accounts/%s/reports" % ACCOUNT_ID,
        json=report,
        timeout=10,
        headers={"Authorization": "Bearer " + demo.follower_token},
    )
    assert resp.status_code == 200, resp.text
    return demo, expected


def _site(request, tmp_path, browser, **kwargs):
    demo, expected = run_demo(tmp_path, **kwargs)
    site = _site_class(request)(_Server(demo), browser)
    try:
        yield site, demo, expected
    finally:
        site.close()
        demo.stop()


@pytest.fixture
def demo_site(request, tmp_path, browser):
    yield from _site(request, tmp_path, browser)


@pytest.fixture
def clean_site(request, tmp_path, browser):
    """Five cycles of the demo alone (the screenshots of docs/web.md)."""
    yield from _site(request, tmp_path, browser, cycles=5, hostile=False)


def _api(demo, path, **params):
    resp = requests.get(
        demo.url + path,
        params=params,
        timeout=10,
        headers={"X-Internal-Password": demo.admin_password},
    )
    assert resp.status_code == 200, resp.text
    return resp


def _money(x):
    return f"¥{x:,.2f}"


def _seconds(s):
    if s < 60:
        return "%.1f 秒" % s
    if s < 3600:
        return "%.1f 分钟" % (s / 60.0)
    return "%.1f 小时" % (s / 3600.0)


def _wait_rendered(page):
    expect(page.locator("#strategy-table tbody tr[data-strategy]").first).to_be_visible()


def test_quality_page_tiles_charts_tables_and_csv(demo_site):
    site, demo, expected = demo_site
    q = _api(demo, "/api/v1/accounts/%s/quality" % ACCOUNT_ID).json()
    ex = q["execution"]
    # the API against the hand computation from the paper exchange's fills
    assert len(expected) >= 8
    assert (
        dict((f["trade_id"], (f["slippage_bps"], f["slippage_cost"])) for f in q["fills"])
        == expected
    )
    assert ex["slippage_cost"] == round(sum(cost for _, cost in expected.values()), 2) > 0
    assert ex["rejects"] == 1 and ex["reject_reasons"] == [{"reason": HOSTILE_REASON, "count": 1}]

    page = site.login()
    page.click("nav.nav a[href='/quality']")
    page.wait_for_url(re.compile(r"/quality\?account=%s$" % ACCOUNT_ID))
    _wait_rendered(page)
    assert not site.console_errors

    # headline tiles: the API's figures, formatted
    last = q["rounds"][-1]
    expect(page.locator("#tile-dev-value")).to_have_text(_money(last["deviation_value"]))
    expect(page.locator("#tile-dev-pct")).to_contain_text("%.2f%%" % last["deviation_pct"])
    expect(page.locator("#tile-dev-label")).to_contain_text(
        last["day"]
    )  # the demo trades on a past day
    expect(page.locator("#tile-slip-bps")).to_have_text("%.2f bp" % ex["slippage_bps"])
    expect(page.locator("#tile-slip-cost")).to_contain_text(_money(ex["slippage_cost"]))
    expect(page.locator("#tile-slip-cost")).to_contain_text("%d 笔成交" % len(expected))
    expect(page.locator("#tile-fill-rate")).to_have_text("%.2f%%" % (ex["fill_rate"] * 100))
    lat = ex["upload_to_first_order_s"]
    expect(page.locator("#tile-latency-order")).to_have_text(
        "首笔委托 %s / %s" % (_seconds(lat["p50"]), _seconds(lat["p90"]))
    )
    fill_lat = ex["upload_to_last_fill_s"]
    expect(page.locator("#tile-latency-fill")).to_contain_text(
        "%s / %s" % (_seconds(fill_lat["p50"]), _seconds(fill_lat["p90"]))
    )

    # the charts: one point per round, both curves moving, the deviation from >50 % to 0
    assert len(q["rounds"]) >= 6
    option = page.evaluate("""() => {
        const c = echarts.getInstanceByDom(document.getElementById('chart-equity')).getOption();
        const d = echarts.getInstanceByDom(document.getElementById('chart-deviation')).getOption();
        return {x: c.xAxis[0].data.length, strategy: c.series[0].data, account: c.series[1].data,
                dev: d.series[1].data};
    }""")
    assert option["x"] == len(q["rounds"])
    assert option["strategy"] == [round(r["strategy_norm"], 4) for r in q["rounds"]]
    assert len(set(option["account"])) >= 3 and len(set(option["strategy"])) >= 3
    assert option["dev"] == [r["deviation_pct"] for r in q["rounds"]] and option["dev"][0] > 50
    page.click("[data-grain='day']")
    page.wait_for_url(re.compile(r"grain=day"))
    days = page.evaluate(
        "() => echarts.getInstanceByDom(document.getElementById('chart-equity')).getOption().xAxis[0].data"
    )
    assert days == [d["day"] for d in q["days"]]

    # tables: per strategy (the hostile name literally), reasons, daily rows
    names = page.locator("#strategy-table tbody tr[data-strategy] td:first-child").all_inner_texts()
    assert sorted(names) == sorted(s["strategy"] for s in q["by_strategy"])
    assert HOSTILE_STRATEGY in names and "演示策略-轮动" in names
    row = page.locator("#strategy-table tbody tr[data-strategy='演示策略-轮动'] td")
    main = [s for s in q["by_strategy"] if s["strategy"] == "演示策略-轮动"][0]
    expect(row.nth(1)).to_have_text(str(main["orders"]))
    expect(row.nth(5)).to_have_text("{:,.2f}".format(main["slippage_cost"]))
    expect(page.locator("#reject-table tbody")).to_contain_text(HOSTILE_REASON)
    expect(page.locator("#days-table tbody tr")).to_have_count(len(q["days"]))
    assert page.locator(INJECTED).count() == 0

    # an ECharts tooltip with the strategy curve open: no markup from data
    box = page.locator("#chart-equity").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    assert page.locator(INJECTED).count() == 0

    # the CSV link downloads the API's CSV for the range shown
    href = page.get_attribute("#q-csv", "href")
    assert "format=csv" in href
    with page.expect_download() as info:
        page.click("#q-csv")
    with open(info.value.path(), "rb") as handle:
        body = handle.read()
    assert body.decode("utf-8-sig").startswith("day,rounds,total_asset")
    assert body == _api(demo, "/api/v1/accounts/%s/quality" % ACCOUNT_ID, format="csv").content

    # a narrow range chosen by the user survives a reload (URL), and a refresh
    page.fill("#q-from", last["day"])
    page.fill("#q-to", last["day"])
    page.click("#q-apply")
    page.wait_for_url(re.compile(r"from=%s&to=%s" % (last["day"], last["day"])))
    page.reload()
    _wait_rendered(page)
    expect(page.locator("#q-from")).to_have_value(last["day"])
    statuses = []
    page.on("response", lambda r: "/quality?" in r.url and statuses.append(r.status))
    page.evaluate("window.jq2qmt.qualityRefresh()")  # the periodic refresh: a 304, nothing redrawn
    expect(page.locator("#refresh-state")).to_contain_text("无变化")
    assert statuses == [304]
    expect(page.locator("#q-from")).to_have_value(last["day"])
    assert "from=%s" % last["day"] in page.url
    assert not site.console_errors


def test_quality_page_bad_range_and_phone_layout(clean_site):
    site, demo, _ = clean_site
    page = site.login()
    page.goto(site.url + "/quality?account=%s&from=2026-13-01" % ACCOUNT_ID)
    expect(page.locator("#flash")).to_contain_text(
        "日期格式应为 YYYY-MM-DD（from）"
    )  # the server's 422
    site.console_errors.clear()  # the browser logs the 422 itself
    page.goto(site.url + "/quality?account=%s" % ACCOUNT_ID)
    _wait_rendered(page)
    page.set_viewport_size(PHONE)
    page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    # nothing wider than the phone: wide tables scroll inside their own container
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    for sel in ("#q-account", "#q-from", "#q-to", "#q-apply", "#q-csv"):
        box = page.locator(sel).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], sel
    for name in ("账户", "开始日期", "结束日期"):
        expect(page.get_by_label(name, exact=True)).to_be_visible()
    page.set_viewport_size(DESKTOP)
    site.screenshot("quality")
    _save_docs(page, "quality")
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
