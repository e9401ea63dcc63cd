"""Stored HTML injection: names and texts that arrive through the real API (uploads,
account settings, follower reports, a notification channel) carry markup. Every page
is walked, the overview's pie and bar charts are hovered to open their tooltips, and
nothing may render as markup: no injected element, no navigation away, no dialog, and
the text shows literally."""

import requests

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or fails in CI) with the reason
    expect = None

IMG = "<img src=x onerror=alert(1) id=inj-img>"
META = "<meta http-equiv=refresh content=0;url=http://127.0.0.1:9/>"
BOLD = '"><b id=inj-b>x</b>'
SVG = "<svg onload=alert(2) id=inj-svg>"
STRATEGY = "<img src=x onerror=alert(3) id=inj-strat>"  # no "/": a valid strategy name
ADJUSTMENT = 'ADJUSTMENT_"><b id=inj-adj>x'
ACCOUNT = "8886660057"
PREFLIGHT_ACCOUNT = "8886660099"
# any element the strings above could create, or an attribute they could set
INJECTED = (
    "img[src='x'], meta[http-equiv], [id^='inj-'], [onerror], [onload], svg:not([aria-hidden])"
)


def _admin(site, method, path, body=None):
    resp = requests.request(
        method, site.url + path, json=body, headers=site.instance.admin_headers(), timeout=10
    )
    assert resp.status_code in (200, 201), resp.text
    return resp.json()


def _report(site, account, token, body):
    resp = requests.post(
        site.url + "/api/v1/accounts/%s/reports" % account,
        json=body,
        timeout=10,
        headers={"Authorization": "Bearer " + token},
    )
    assert resp.status_code == 200, resp.text


def _setup(site):
    # the hostile stock dominates the value, so most of the pie ring is its slice
    site.upload_signed(
        STRATEGY,
        [
            {"code": "600000.XSHG", "volume": 90000, "cost": 10.0, "name": META},
            {"code": "000001.XSHE", "volume": 1000, "cost": 12.0, "name": BOLD},
            {"code": "600036.XSHG", "volume": 1000, "cost": 30.0, "name": IMG},
        ],
    )
    site.upload_signed(
        "普通策略", [{"code": "600519.XSHG", "volume": 100, "cost": 1500.0, "name": SVG}]
    )
    site.post_internal(
        ADJUSTMENT, [{"code": "600000.SH", "volume": -100, "cost": 10.0, "name": IMG}]
    )
    _admin(site, "POST", "/api/v1/accounts", {"account_id": ACCOUNT, "name": BOLD, "mode": "ratio"})
    _admin(site, "POST", "/api/v1/accounts/%s/confirm" % ACCOUNT)
    _admin(site, "PUT", "/api/v1/accounts/%s/follow/%s" % (ACCOUNT, STRATEGY), {"ratio": 1})
    token = site.instance.token("follow", account_id=ACCOUNT)
    plan = requests.get(
        site.url + "/api/v1/accounts/%s/plan" % ACCOUNT,
        timeout=10,
        headers={"Authorization": "Bearer " + token},
    ).json()
    _report(
        site,
        ACCOUNT,
        token,
        {
            "kind": "round",
            "round_id": "r20261125-093102-0001",
            "plan_version": plan["plan_version"],
            "status": "ok",
            "follower": {"kind": "miniqmt", "version": IMG},
            "account": {
                "cash": 1000.0,
                "total_asset": 2000.0,
                "positions": [
                    {"code": "601318.SH", "volume": 100, "can_use_volume": 100, "name": META}
                ],
            },
            "placed": [
                {
                    "code": "000001.SZ",
                    "side": "buy",
                    "volume": 100,
                    "price": 12.0,
                    "order_id": "1",
                    "remark": META,
                }
            ],
            "rejected": [
                {"code": "600036.SH", "side": "buy", "volume": 100, "price": 30.0, "reason": IMG}
            ],
            "cancelled": [],
            "skipped": [],
            "errors": [BOLD],
        },
    )
    _admin(
        site,
        "POST",
        "/api/v1/accounts",
        {"account_id": PREFLIGHT_ACCOUNT, "name": IMG, "mode": "ratio"},
    )
    token2 = site.instance.token("follow", account_id=PREFLIGHT_ACCOUNT)
    plan2 = requests.get(
        site.url + "/api/v1/accounts/%s/plan" % PREFLIGHT_ACCOUNT,
        timeout=10,
        headers={"Authorization": "Bearer " + token2},
    ).json()
    _report(
        site,
        PREFLIGHT_ACCOUNT,
        token2,
        {
            "kind": "preflight",
            "plan_version": plan2["plan_version"],
            "follower": {"kind": "builtin", "version": "0.1"},
            "preflight": {
                "at": "2026-11-25T09:31:02",
                "python": "3.6.8",
                "platform": SVG,
                "broker": "builtin",
                "positions": [
                    {
                        "code": "600000.SH",
                        "volume": 100,
                        "can_use_volume": 100,
                        "avg_cost": 10.0,
                        "name": META,
                    }
                ],
                "asset": {"cash": 1.0, "frozen_cash": 0.0, "market_value": 1.0, "total_asset": 2.0},
                "open_orders": [
                    {
                        "order_id": "9",
                        "code": "000001.SZ",
                        "side": "buy",
                        "volume": 100,
                        "traded_volume": 0,
                        "price": 12.0,
                        "status": 50,
                        "remark": BOLD,
                    }
                ],
                "quotes": [],
                "fields": {},
                "checks": {"http": "thread", "journal": META, "journal_error": BOLD},
                "errors": [IMG],
            },
        },
    )
    # a notification channel named like markup (disabled: nothing is sent)
    from jq2qmt.notify.settings import set_channel

    set_channel(
        site.instance.db(),
        IMG,
        "serverchan",
        {"url": "https://sctapi.ftqq.com/SCTxxxx.send"},
        enabled=False,
    )


class Guard:
    """Records main-frame navigations and dialogs of the page."""

    def __init__(self, site):
        self.site = site
        self.navigations = []
        self.dialogs = []
        page = site.page
        page.on(
            "framenavigated",
            lambda frame: frame == page.main_frame and self.navigations.append(frame.url),
        )
        page.on("dialog", self._dialog)

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def check(self, where):
        page = self.site.page
        away = [url for url in self.navigations if not url.startswith(self.site.url)]
        assert away == [], "%s: the tab navigated to %s" % (where, away)
        injected = page.evaluate(
            "(sel) => [...document.querySelectorAll(sel)].map((n) => n.outerHTML.slice(0, 120))",
            INJECTED,
        )
        assert injected == [], "%s: markup from data rendered as elements: %s" % (where, injected)
        away = [url for url in self.navigations if not url.startswith(self.site.url)]
        assert away == [], "%s: the tab navigated to %s" % (where, away)
        assert page.url.startswith(self.site.url)
        assert self.dialogs == [], "%s: dialogs %s" % (where, self.dialogs)


def _hover_until(page, guard, chart_id, needle):
    """Move the mouse over the chart until its tooltip shows `needle`; the tooltip's text.
    Every step is checked: an injected element or a navigation fails at once."""
    box = page.locator("#" + chart_id).bounding_box()
    tip = page.locator("#%s > div:not(:first-child)" % chart_id)
    for fx in (0.5, 0.62, 0.7, 0.38, 0.3, 0.56, 0.44, 0.75, 0.25, 0.8, 0.2):
        for fy in (0.5, 0.3, 0.7, 0.4, 0.6, 0.2, 0.8, 0.15, 0.85, 0.35, 0.65):
            page.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
            page.wait_for_timeout(40)
            guard.check("%s tooltip" % chart_id)
            texts = tip.all_text_contents()
            if any(needle in t for t in texts):
                return next(t for t in texts if needle in t)
    raise AssertionError("no tooltip of %s showed %r" % (chart_id, needle))


def test_hostile_names_render_as_text_on_every_page(site):
    _setup(site)
    guard = Guard(site)
    page = site.login()

    # 总览: tables, the strategy list, and both charts' tooltips
    expect(page.locator("#total-table tbody tr[data-code='600000.SH'] td").nth(1)).to_have_text(
        META
    )
    expect(page.locator("#total-table tbody tr[data-code='000001.SZ'] td").nth(1)).to_have_text(
        BOLD
    )
    expect(
        page.locator("#strategy-list details[data-strategy] .strategy-name").first
    ).to_be_visible()
    assert STRATEGY in page.locator("#strategy-list").inner_text()
    guard.check("总览")
    pie = _hover_until(page, guard, "chart-codes", "600000.SH")
    assert META in pie  # shown literally, not parsed
    guard.check("总览 pie tooltip")
    bar = _hover_until(page, guard, "chart-strategies", "inj-strat")
    assert STRATEGY in bar
    guard.check("总览 bar tooltip")
    site.screenshot("hostile-overview")

    # 持仓调整: the hostile strategy and the hostile adjustment, the row editor
    for name in (STRATEGY, ADJUSTMENT):
        page.goto(site.url + "/adjustment?strategy=" + requests.utils.quote(name, safe=""))
        expect(page.locator("#editor-title")).to_contain_text(name)
        expect(page.locator("#rows-table tbody tr").first).to_be_visible()
        guard.check("持仓调整 " + name)
    assert IMG in page.locator("#rows-table").inner_text()
    page.locator("#rows-table tbody tr").first.get_by_role("button", name="编辑").click()
    expect(page.locator("#f-name")).to_have_value(IMG)
    page.click("#row-cancel")
    guard.check("持仓调整 row editor")

    # 历史: the strategy's versions and a diff
    page.goto(site.url + "/history/" + requests.utils.quote(STRATEGY, safe=""))
    expect(page.locator("#history-strategy")).to_have_value(STRATEGY)
    page.wait_for_load_state("networkidle")
    assert (
        "inj-strat" in page.locator("main").inner_text()
        or STRATEGY in page.locator("#history-strategy").inner_text()
    )
    guard.check("历史")

    # 跟单: account names, compare table, rounds, preflight, the settings dialog
    page.goto(site.url + "/accounts")
    main = page.locator("article.account[data-account='%s']" % ACCOUNT)
    expect(main.locator("h2")).to_have_text(BOLD)
    expect(main.locator("table.compare tr[data-code='601318.SH'] td").nth(1)).to_have_text(META)
    expect(main.locator("table.rounds")).to_contain_text(BOLD)
    expect(main.locator(".follow-row")).to_contain_text(STRATEGY)
    spare = page.locator("article.account[data-account='%s']" % PREFLIGHT_ACCOUNT)
    expect(spare.locator("h2")).to_have_text(IMG)
    expect(spare.locator(".preflight-errors")).to_have_text(IMG)
    expect(spare.locator(".pf-orders")).to_contain_text(BOLD)
    guard.check("跟单")
    main.locator("[data-action='edit']").click()
    expect(page.locator("#s-name")).to_have_value(BOLD)
    expect(page.locator("#s-follows tbody tr").first).to_contain_text(STRATEGY)
    guard.check("跟单 settings dialog")
    page.keyboard.press("Escape")
    site.screenshot("hostile-accounts")

    # 密码管理
    page.goto(site.url + "/password")
    page.wait_for_load_state("networkidle")
    assert IMG not in page.content()  # the channel name is not shown on any page
    guard.check("密码管理")
    assert not site.console_errors or all(
        "Content Security Policy" not in e for e in site.console_errors
    ), site.console_errors
