"""跟单 page, preflight of a new account in a real browser: the follower's preflight
report (posted with the account's follower token) is shown on the card as text, and
the confirm button asks first, then confirms the account."""

import requests

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or fails in CI) with the reason
    expect = None

STRATEGY = "多策略V1.0"
ACCOUNT = "8886660057"
HOSTILE = '<img src=x onerror="window.__pwned=1">'


def _admin(site, method, path, body=None):
    resp = requests.request(
        method, site.url + path, json=body, headers=site.instance.admin_headers(), timeout=10
    )
    assert resp.status_code in (200, 201), resp.text
    return resp.json()


PREFLIGHT = {
    "at": "2026-11-25T09:31:02",
    "python": "3.6.8",
    "platform": "Windows-10-10.0.19045-SP0",
    "broker": "builtin",
    "positions": [
        {
            "code": "600000.SH",
            "volume": 1000,
            "can_use_volume": 800,
            "avg_cost": 10.52,
            "name": "浦发银行",
        },
        {
            "code": "000001.SZ",
            "volume": 300,
            "can_use_volume": 300,
            "avg_cost": 12.1,
            "name": HOSTILE,
        },
    ],
    "asset": {
        "cash": 50000.0,
        "frozen_cash": 1230.0,
        "market_value": 10500.0,
        "total_asset": 61730.0,
    },
    "open_orders": [
        {
            "order_id": "1001",
            "code": "000001.SZ",
            "side": "buy",
            "volume": 100,
            "traded_volume": 0,
            "price": 12.3,
            "status": 50,
            "remark": "手工单",
        }
    ],
    "quotes": [
        {"code": "600000.SH", "last": 10.6, "bid1": 10.59, "ask1": 10.61, "age_seconds": 1.5},
        {"code": "000001.SZ", "last": 12.3, "bid1": None, "ask1": None, "age_seconds": None},
    ],
    "fields": {
        "POSITION": ["m_strInstrumentID", "m_nVolume"],
        "ORDER": ["m_strOrderSysID"],
        "ACCOUNT": ["m_dAvailable", "m_dBalance", "m_dStockValue"],
    },
    "checks": {
        "http": "thread",
        "threads": True,
        "requests": False,
        "journal": "C:/qmt/jq2qmt-journal.json",
        "journal_error": "PermissionError: <denied>",
    },
    "round_ms": 12.3,
    "errors": ["委托查询超时 <b>2 s</b>"],
}


def _setup(site):
    site.upload_signed(
        STRATEGY, [{"code": "600000.XSHG", "volume": 1000, "cost": 10.5, "name": "浦发银行"}]
    )
    _admin(
        site, "POST", "/api/v1/accounts", {"account_id": ACCOUNT, "name": "新开户", "mode": "ratio"}
    )
    _admin(site, "PUT", "/api/v1/accounts/%s/follow/%s" % (ACCOUNT, STRATEGY), {"ratio": 1})
    token = site.instance.token("follow", account_id=ACCOUNT)
    headers = {"Authorization": "Bearer " + token}
    plan = requests.get(
        site.url + "/api/v1/accounts/%s/plan" % ACCOUNT, headers=headers, timeout=10
    ).json()
    assert plan["preflight"] is True
    follower = {"kind": "builtin", "version": "0.1.0"}
    for body in (
        {
            "kind": "preflight",
            "follower": follower,
            "preflight": PREFLIGHT,
            "plan_version": plan["plan_version"],
        },
        {
            "kind": "round",
            "round_id": "r20261125-093102-0001",
            "plan_version": plan["plan_version"],
            "status": "preflight",
            "follower": follower,
            "placed": [],
            "cancelled": [],
            "rejected": [],
            "skipped": [],
            "errors": [],
        },
    ):
        resp = requests.post(
            site.url + "/api/v1/accounts/%s/reports" % ACCOUNT,
            json=body,
            headers=headers,
            timeout=10,
        )
        assert resp.status_code == 200, resp.text
    return plan


def test_preflight_is_shown_and_the_button_confirms_the_account(site):
    plan = _setup(site)
    page = site.login()
    page.goto(site.url + "/accounts")
    card = page.locator("article.account[data-account='%s']" % ACCOUNT)
    expect(card).to_have_class("account preflight")
    expect(card.locator(".account-head [data-state='preflight']")).to_have_text("预检中：尚未下单")
    box = card.locator(".preflight-box")
    expect(box).to_contain_text("交易所时间 2026-11-25 09:31:02")
    expect(box).to_contain_text("QMT 内置 · Python 3.6.8 · Windows-10-10.0.19045-SP0")
    expect(box).to_contain_text(
        "现金 50,000.00 · 冻结 1,230.00 · 市值 10,500.00 · 总资产 61,730.00"
    )
    expect(box).to_contain_text("HTTP 后台线程 · 线程 可用 · requests 不可用 · 一轮 12.30 毫秒")
    expect(box).to_contain_text("POSITION 2 个 · ORDER 1 个 · ACCOUNT 3 个")
    expect(box).to_contain_text("C:/qmt/jq2qmt-journal.json（写入失败：PermissionError: <denied>）")
    expect(box.locator(".pf-positions h4")).to_have_text("持仓 2 个")
    expect(box.locator(".pf-positions tbody tr")).to_have_count(2)
    expect(box.locator(".pf-positions tbody tr").nth(0)).to_contain_text("浦发银行")
    expect(box.locator(".pf-orders tbody tr")).to_contain_text("手工单")
    expect(box.locator(".pf-quotes tbody tr").nth(0).locator("td").nth(4)).to_have_text("1.50 秒前")
    expect(box.locator(".pf-quotes tbody tr").nth(1).locator("td").nth(4)).to_have_text("无时间")
    # uploaded text is shown as text, never parsed as HTML
    expect(box.locator(".pf-positions tbody tr").nth(1).locator("td").nth(1)).to_have_text(HOSTILE)
    expect(box.locator(".preflight-errors")).to_have_text("委托查询超时 <b>2 s</b>")
    assert card.locator("img, b").count() == 0
    assert page.evaluate("window.__pwned") is None
    expect(card.locator("table.rounds tbody tr").nth(0)).to_contain_text("预检（不下单）")
    # before any trading round, the positions the preflight saw stand in for the account
    expect(card).to_contain_text("预检看到的持仓")
    expect(card.locator("table.compare tr[data-code='600000.SH'] td").nth(5)).to_have_text("一致")
    expect(card.locator("table.compare tr[data-code='000001.SZ'] td").nth(5)).to_have_text(
        "-300 清仓"
    )
    site.screenshot("preflight")

    # the dialog says real orders follow; dismissing it changes nothing
    messages = []

    def answer(accept):
        def handler(dialog):
            messages.append(dialog.message)
            dialog.accept() if accept else dialog.dismiss()

        return handler

    page.once("dialog", answer(False))
    card.locator("button[data-action='confirm']").click()
    assert messages and "真实委托" in messages[0] and "新开户" in messages[0]
    assert _admin(site, "GET", "/api/v1/accounts/%s" % ACCOUNT)["confirmed"] is False

    page.once("dialog", answer(True))
    card.locator("button[data-action='confirm']").click()
    expect(card.locator(".preflight-box")).to_have_count(0)
    expect(card).to_have_class("account")
    expect(card.locator(".account-head")).to_contain_text("跟单中")
    detail = _admin(site, "GET", "/api/v1/accounts/%s" % ACCOUNT)
    assert detail["confirmed"] is True and detail["plan_version"] != plan["plan_version"]
    token = site.instance.token("follow", account_id=ACCOUNT)
    new_plan = requests.get(
        site.url + "/api/v1/accounts/%s/plan" % ACCOUNT,
        timeout=10,
        headers={"Authorization": "Bearer " + token},
    ).json()
    assert new_plan["preflight"] is False
    assert not site.console_errors, site.console_errors


def test_an_account_without_a_preflight_report_says_so(site):
    _admin(
        site, "POST", "/api/v1/accounts", {"account_id": ACCOUNT, "name": "新开户", "mode": "ratio"}
    )
    page = site.login()
    page.goto(site.url + "/accounts")
    card = page.locator("article.account[data-account='%s']" % ACCOUNT)
    expect(card.locator("[data-preflight='none']")).to_have_text(
        "尚未收到预检报告。跟单端连接服务器后的第一轮会发送。"
    )
    expect(card.locator("button[data-action='confirm']")).to_be_visible()
    assert not site.console_errors, site.console_errors
