"""跟单 page in a real browser: accounts set up and reported on through the real API
(admin password for settings, the account's follower token for reports)."""

import requests

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or fails in CI) with the reason
    expect = None

STRATEGY = "多策略V1.0"
MAIN = "8886660057"
SPARE = "8886660099"


def _admin(site, method, path, body=None):
    resp = requests.request(
        method, site.url + path, json=body, headers=site.instance.admin_headers(), timeout=10
    )
    assert resp.status_code in (200, 201), resp.text
    return resp.json()


def _report(site, token, body):
    resp = requests.post(
        site.url + "/api/v1/accounts/%s/reports" % MAIN,
        json=body,
        timeout=10,
        headers={"Authorization": "Bearer " + token},
    )
    assert resp.status_code == 200, resp.text


def _setup(site):
    site.upload_signed(
        STRATEGY,
        [
            {"code": "600000.XSHG", "volume": 1000, "cost": 10.5, "name": "浦发银行"},
            {"code": "000001.XSHE", "volume": 2000, "cost": 12.25, "name": "平安银行"},
        ],
    )
    _admin(
        site,
        "POST",
        "/api/v1/accounts",
        {
            "account_id": MAIN,
            "name": "主账户",
            "mode": "ratio",
            "settings": {"ignore": ["511880.SH"], "max_turnover": 0.5},
        },
    )
    _admin(site, "POST", "/api/v1/accounts/%s/confirm" % MAIN)  # past its preflight: it trades
    _admin(site, "PUT", "/api/v1/accounts/%s/follow/%s" % (MAIN, STRATEGY), {"ratio": 0.5})
    _admin(
        site, "POST", "/api/v1/accounts", {"account_id": SPARE, "name": "备用账户", "mode": "ratio"}
    )
    token = site.instance.token("follow", account_id=MAIN)
    plan = requests.get(
        site.url + "/api/v1/accounts/%s/plan" % MAIN,
        timeout=10,
        headers={"Authorization": "Bearer " + token},
    ).json()
    follower = {"kind": "miniqmt", "version": "0.1.0"}
    account = {
        "cash": 50000.0,
        "total_asset": 60500.0,
        "positions": [
            {"code": "600000.SH", "volume": 500, "can_use_volume": 500},
            {"code": "511880.SH", "volume": 100, "can_use_volume": 100},
        ],
    }
    _report(
        site,
        token,
        {
            "kind": "round",
            "round_id": "r20261125-093102-0001",
            "plan_version": plan["plan_version"],
            "status": "ok",
            "account": account,
            "follower": follower,
            "placed": [
                {
                    "code": "000001.SZ",
                    "side": "buy",
                    "volume": 1000,
                    "price": 12.3,
                    "order_id": "1001",
                    "remark": "jq2qmt r0001",
                }
            ],
            "rejected": [
                {
                    "code": "000001.SZ",
                    "side": "buy",
                    "volume": 100,
                    "price": 12.3,
                    "reason": "资金不足",
                }
            ],
            "cancelled": [],
            "skipped": [],
            "errors": [],
        },
    )
    _report(
        site,
        token,
        {
            "kind": "round",
            "round_id": "r20261125-093202-0002",
            "plan_version": plan["plan_version"],
            "status": "held",
            "account": account,
            "follower": follower,
            "held_reason": "换手 62% 超过上限 50%，等待确认",
            "placed": [],
            "rejected": [],
            "errors": [],
        },
    )
    return token


def test_accounts_page_shows_followers_and_switches_work(site):
    _setup(site)
    page = site.login()
    page.goto(site.url + "/accounts")
    main = page.locator("article.account[data-account='%s']" % MAIN)
    spare = page.locator("article.account[data-account='%s']" % SPARE)
    expect(main).to_contain_text("主账户")
    # the follower that never reported stands out
    expect(spare).to_have_class("account silent preflight")  # never reported, never confirmed
    expect(spare).to_contain_text("从未连接")
    expect(spare).to_contain_text("跟单端还没有报告过")
    # settings, heartbeat, snapshot vs the scaled target, last rounds
    expect(main.locator(".follow-row[data-strategy='%s']" % STRATEGY)).to_contain_text("× 0.5")
    expect(main).to_contain_text("511880.SH")
    expect(main).to_contain_text("miniQMT 0.1.0")
    row = main.locator("table.compare tr[data-code='000001.SZ']")
    expect(row.locator("td").nth(2)).to_have_text("1,000")  # 2000 x 0.5
    expect(row.locator("td").nth(5)).to_have_text("+1,000")
    expect(main.locator("table.compare tr[data-code='600000.SH'] td").nth(5)).to_have_text("一致")
    expect(main.locator("table.compare tr[data-code='511880.SH'] td").nth(5)).to_have_text("忽略")
    rounds = main.locator("table.rounds tbody tr")
    expect(rounds).to_have_count(2)
    expect(rounds.nth(1)).to_contain_text("买 000001.SZ 1,000 @ 12.30")
    expect(rounds.nth(1)).to_contain_text("资金不足")
    # the held plan is shown with its reason; approving clears it
    expect(main.locator(".held")).to_contain_text("换手 62% 超过上限 50%")
    site.screenshot("accounts")
    page.once("dialog", lambda d: d.accept())
    main.locator("button[data-action='approve']").click()
    expect(main.locator(".held")).to_have_count(0)
    detail = _admin(site, "GET", "/api/v1/accounts/%s" % MAIN)
    assert detail["approved_version"] and detail["held"] is None
    # pause (no confirmation: the safe action) and resume (confirmed: real orders again)
    main.locator("button[data-action='pause']").click()
    expect(main.locator("button[data-action='resume']")).to_be_visible()
    expect(main).to_contain_text("已暂停")
    assert _admin(site, "GET", "/api/v1/accounts/%s" % MAIN)["paused"] is True
    page.once("dialog", lambda d: d.accept())
    main.locator("button[data-action='resume']").click()
    expect(main.locator("button[data-action='pause']")).to_be_visible()
    assert _admin(site, "GET", "/api/v1/accounts/%s" % MAIN)["paused"] is False
    # dry-run switch
    main.locator("input.dry-run").check()
    expect(main).to_contain_text("模拟运行（不下单）")
    assert _admin(site, "GET", "/api/v1/accounts/%s" % MAIN)["dry_run"] is True
    page.once("dialog", lambda d: d.accept())  # leaving dry run turns real orders back on
    main.locator("input.dry-run").uncheck()
    expect(main.locator(".badge", has_text="模拟运行（不下单）")).to_have_count(0)
    assert _admin(site, "GET", "/api/v1/accounts/%s" % MAIN)["dry_run"] is False
    assert not site.console_errors, site.console_errors


def test_rejecting_a_held_plan(site):
    _setup(site)
    page = site.login()
    page.goto(site.url + "/accounts")
    main = page.locator("article.account[data-account='%s']" % MAIN)
    page.once("dialog", lambda d: d.accept())
    main.locator("button[data-action='reject']").click()
    expect(main.locator(".held")).to_have_count(0)
    detail = _admin(site, "GET", "/api/v1/accounts/%s" % MAIN)
    assert detail["held"] is None and not detail["approved_version"]


def test_silent_rule(site):
    page = site.login()
    page.goto(site.url + "/accounts")
    expect(page.locator("#accounts")).to_contain_text("还没有跟单账户")
    cases = [
        # (last seen, now, status) — Wednesday 10:00 Beijing is inside trading hours
        ("2026-11-25T09:59:00+08:00", "2026-11-25T10:00:00+08:00", "online"),
        ("2026-11-25T09:55:00+08:00", "2026-11-25T10:00:00+08:00", "silent"),
        ("2026-11-25T15:00:00+08:00", "2026-11-25T20:00:00+08:00", "offline"),
        (None, "2026-11-25T10:00:00+08:00", "never"),
    ]
    for seen, now, expected in cases:
        got = page.evaluate(
            "([s, n]) => window.jq2qmt.followerStatus(s, new Date(n)).key", [seen, now]
        )
        assert got == expected, (seen, now)


def test_edit_settings_and_follows(site):
    _setup(site)
    site.upload_signed(
        "趋势跟踪", [{"code": "510300.XSHG", "volume": 5000, "cost": 3.9, "name": "沪深300ETF"}]
    )
    page = site.login()
    page.goto(site.url + "/accounts")
    main = page.locator("article.account[data-account='%s']" % MAIN)
    main.locator("button[data-action='edit']").click()
    dialog = page.locator("#settings-dialog")
    expect(dialog.locator("#s-ignore")).to_have_value("511880.SH")
    expect(dialog.locator("#s-turnover")).to_have_value("50")
    # page-side check first
    dialog.locator("tr[data-strategy='%s'] input" % STRATEGY).fill("-1")
    page.click("#s-save")
    expect(page.locator("#s-error")).to_contain_text("大于 0")
    dialog.locator("tr[data-strategy='%s'] input" % STRATEGY).fill("0.3")
    page.select_option("#s-add-strategy", "趋势跟踪")
    page.click("#s-add")
    dialog.locator("tr[data-strategy='趋势跟踪'] input").fill("0.2")
    page.fill("#s-max", "20000")
    page.fill("#s-ignore", "511880.SH, 1318*")
    site.screenshot("accounts-settings")
    page.click("#s-save")
    expect(dialog).not_to_be_visible()
    expect(main.locator(".follow-row[data-strategy='%s']" % STRATEGY)).to_contain_text("× 0.3")
    expect(main.locator("table.compare tr[data-code='000001.SZ'] td").nth(2)).to_have_text("600")
    expect(main.locator("table.compare tr[data-code='510300.SH'] td").nth(2)).to_have_text("1,000")
    detail = _admin(site, "GET", "/api/v1/accounts/%s" % MAIN)
    assert detail["follow"]["strategies"] == {STRATEGY: {"ratio": 0.3}, "趋势跟踪": {"ratio": 0.2}}
    assert detail["settings"]["max_order_value"] == 20000
    assert detail["settings"]["ignore"] == ["511880.SH", "1318*"]
    # unfollow again
    main.locator("button[data-action='edit']").click()
    dialog.locator("tr[data-strategy='趋势跟踪'] button").click()
    page.click("#s-save")
    expect(main.locator(".follow-row[data-strategy='趋势跟踪']")).to_have_count(0)
    assert (
        "趋势跟踪" not in _admin(site, "GET", "/api/v1/accounts/%s" % MAIN)["follow"]["strategies"]
    )
    assert not site.console_errors, site.console_errors
