"""Pages that must never mislead a trader, in a real browser: the account table keeps
the last real account snapshot, skipped orders show, a held plan shows its orders and
a stale approval says so, confirmations sit on the actions that turn real orders on,
settings errors speak the dialog's words, the overview does not redraw on a 304, and
history reaches every version and every strategy (removed or missing)."""

import requests

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or fails in CI) with the reason
    expect = None

STRATEGY = "轮动策略"
OTHER = "白马策略"
ACCOUNT = "8886660100"


def _admin(site, method, path, body=None, status=(200, 201)):
    resp = requests.request(
        method, site.url + path, json=body, headers=site.instance.admin_headers(), timeout=10
    )
    assert resp.status_code in status, resp.text
    return resp.json()


def _report(site, token, body):
    resp = requests.post(
        site.url + "/api/v1/accounts/%s/reports" % ACCOUNT,
        json=body,
        timeout=10,
        headers={"Authorization": "Bearer " + token},
    )
    assert resp.status_code == 200, resp.text


def _account(site):
    site.upload_signed(
        STRATEGY,
        [
            {"code": "600000.XSHG", "volume": 1000, "cost": 10.5, "name": "浦发银行"},
            {"code": "000001.XSHE", "volume": 2000, "cost": 12.25, "name": "平安银行"},
        ],
    )
    # a strategy the account does not follow names 600519.SH, which the account holds
    site.upload_signed(
        OTHER, [{"code": "600519.XSHG", "volume": 100, "cost": 1500, "name": "贵州茅台"}]
    )
    _admin(
        site,
        "POST",
        "/api/v1/accounts",
        {"account_id": ACCOUNT, "name": "实盘一号", "mode": "ratio"},
    )
    _admin(site, "POST", "/api/v1/accounts/%s/confirm" % ACCOUNT)
    _admin(site, "PUT", "/api/v1/accounts/%s/follow/%s" % (ACCOUNT, STRATEGY), {"ratio": 1})
    token = site.instance.token("follow", account_id=ACCOUNT)
    plan = requests.get(
        site.url + "/api/v1/accounts/%s/plan" % ACCOUNT,
        timeout=10,
        headers={"Authorization": "Bearer " + token},
    ).json()
    return token, plan["plan_version"]


ACCOUNT_SNAPSHOT = {
    "cash": 80000.0,
    "total_asset": 103500.0,
    "positions": [
        {"code": "600000.SH", "volume": 1000, "can_use_volume": 1000},
        {"code": "600519.SH", "volume": 5600, "can_use_volume": 5600},
    ],
}


def _card(site):
    page = site.login()
    page.goto(site.url + "/accounts")
    return page, page.locator("article.account[data-account='%s']" % ACCOUNT)


def test_paused_round_keeps_the_last_account_snapshot_and_skips_show(site):
    token, version = _account(site)
    _report(
        site,
        token,
        {
            "kind": "round",
            "round_id": "r20261201-100000-0001",
            "plan_version": version,
            "status": "ok",
            "account": ACCOUNT_SNAPSHOT,
            "follower": {"kind": "miniqmt", "version": "0.1.0"},
            "placed": [
                {"code": "000001.SZ", "side": "buy", "volume": 1000, "price": 12.3, "order_id": "1"}
            ],
            "skipped": [
                {
                    "code": "000001.SZ",
                    "reason": "insufficient_cash",
                    "detail": "资金不足：需 24600.00 元，可用 12300.00 元，少买 1000 股 / not enough cash",
                },
                {"code": "511880.SH", "reason": "ignored", "detail": "忽略列表 / ignored"},
            ],
            "rejected": [],
            "cancelled": [],
            "errors": [],
        },
    )
    # evening: the follower is paused (or outside its session) and reads no account
    _report(
        site,
        token,
        {
            "kind": "round",
            "round_id": "r20261201-200000-0002",
            "plan_version": version,
            "status": "paused",
            "placed": [],
            "rejected": [],
            "errors": [],
        },
    )
    page, card = _card(site)
    compare = card.locator("table.compare")
    # the holdings are the 10:00 round's, not "held 0" from the paused round
    expect(compare.locator("tr[data-code='600000.SH'] td").nth(3)).to_have_text("1,000")
    expect(compare.locator("tr[data-code='600000.SH'] td").nth(5)).to_have_text("一致")
    expect(compare.locator("tr[data-code='000001.SZ'] td").nth(5)).to_have_text("+2,000")
    expect(card).to_contain_text("账户快照 2026")
    expect(card).to_contain_text("未读取账户")
    assert "还没有账户快照" not in card.inner_text()
    # a held code outside the target: its name (from any strategy) and the sale
    other = compare.locator("tr[data-code='600519.SH'] td")
    expect(other.nth(1)).to_have_text("贵州茅台")
    expect(other.nth(5)).to_have_text("-5,600 清仓")
    # the round that left an order out is 部分完成 with the reason in Chinese
    first = card.locator("table.rounds tr[data-round='r20261201-100000-0001']")
    expect(first.locator("[data-outcome]")).to_have_text("部分完成")
    expect(first).to_contain_text("000001.SZ 资金不足：需 24600.00 元")
    expect(first).to_contain_text("511880.SH 忽略")
    assert page.evaluate("window.jq2qmt.reload !== undefined")
    site.screenshot("misleading-accounts-paused")
    assert not site.console_errors, site.console_errors


def test_round_outcome_rule(site):
    page = site.login()
    page.goto(site.url + "/accounts")
    page.wait_for_function("window.jq2qmt && window.jq2qmt.reload")
    got = page.evaluate("""async () => {
      const m = await import(document.querySelector('script[src*="accounts"]').src);
      return [
        m.roundOutcome({ status: 'ok', skipped: [{ reason: 'limit_up' }] }).label,
        m.roundOutcome({ status: 'ok', rejected: [{ code: 'x' }] }).label,
        m.roundOutcome({ status: 'ok', skipped: [{ reason: 'ignored' }] }).label,
        m.roundOutcome({ status: 'dry_run', skipped: [{ reason: 'below_lot' }] }).label,
        m.skipReason('suspended'), m.skipReason('max_reprices'), m.skipReason('open_order_not_ours'),
        m.settingsError('settings.max_turnover', '不能大于 10 / must be at most 10'),
        m.settingsError('follow.趋势.ratio', '不能大于 1000 / must be at most 1000'),
        m.settingsError('settings.min_order_value', '不能大于 1e+13 / must be at most 1e+13'),
        m.settingsError('settings.ignore[0]', '无法识别的证券代码 / unknown code form'),
      ];
    }""")
    assert got == [
        "部分完成",
        "部分完成",
        "完成",
        "模拟运行 · 部分完成",
        "停牌",
        "改价次数用完",
        "有手工委托",
        "换手上限：不能大于 1000%",
        "趋势 的比例：不能大于 1000",
        "最小下单金额：不能大于 10,000,000,000,000.00 元",
        "忽略的代码第 1 项：无法识别的证券代码",
    ]


def test_held_plan_shows_its_orders_and_a_stale_approval_says_so(site):
    token, version = _account(site)
    _report(
        site,
        token,
        {
            "kind": "round",
            "round_id": "r20261201-100000-0001",
            "plan_version": version,
            "status": "held",
            "account": ACCOUNT_SNAPSHOT,
            "held_reason": "换手率 76.3% 超过上限 1.0%",
            "strategy_versions": {STRATEGY: 1},
            "would_place": [
                {"code": "600519.SH", "side": "sell", "volume": 5600, "price": 1500.0},
                {"code": "000001.SZ", "side": "buy", "volume": 2000, "price": 12.3},
            ],
            "placed": [],
            "rejected": [],
            "errors": [],
        },
    )
    page, card = _card(site)
    held = card.locator(".held")
    expect(held).to_contain_text("换手率 76.3% 超过上限 1.0%")
    orders = held.locator(".held-orders tbody tr")
    expect(orders).to_have_count(2)
    expect(orders.nth(0).locator("td")).to_have_text(
        ["600519.SH", "卖出", "5,600", "1,500.00", "8,400,000.00"]
    )
    expect(orders.nth(1).locator("td")).to_have_text(
        ["000001.SZ", "买入", "2,000", "12.30", "24,600.00"]
    )
    expect(held).to_contain_text("买入 24,600.00 元 · 卖出 8,400,000.00 元")
    site.screenshot("misleading-held-plan")
    page.once("dialog", lambda d: d.accept())
    held.locator("button[data-action='approve']").click()
    expect(card.locator(".approval-pending")).to_contain_text("下一轮执行一次")
    # the strategy re-uploads after the approval: the approved plan is no longer the plan
    site.upload_signed(
        STRATEGY, [{"code": "600000.XSHG", "volume": 3000, "cost": 10.5, "name": "浦发银行"}]
    )
    page.evaluate("window.jq2qmt.reload()")
    stale = card.locator(".approval-stale")
    expect(stale).to_contain_text("批准已失效")
    expect(stale).to_contain_text(STRATEGY)
    expect(card.locator(".approval-pending")).to_have_count(0)
    assert not site.console_errors, site.console_errors


def test_confirmations_guard_real_orders_not_pausing(site):
    _account(site)
    page, card = _card(site)
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    card.locator("button[data-action='pause']").click()  # the safe action: no question
    expect(card.locator("button[data-action='resume']")).to_be_visible()
    assert dialogs == []
    card.locator("button[data-action='resume']").click()  # dismissed: stays paused
    page.wait_for_timeout(300)
    assert len(dialogs) == 1 and "真实委托" in dialogs[0]
    assert _admin(site, "GET", "/api/v1/accounts/%s" % ACCOUNT)["paused"] is True
    _admin(site, "PATCH", "/api/v1/accounts/%s" % ACCOUNT, {"dry_run": True})
    page.evaluate("window.jq2qmt.reload()")
    expect(card.locator("input.dry-run")).to_be_checked()
    card.locator("input.dry-run").click()  # leaving dry run, dismissed: stays in dry run
    expect(card.locator("input.dry-run")).to_be_checked()
    assert len(dialogs) == 2 and "真实委托" in dialogs[1]
    assert _admin(site, "GET", "/api/v1/accounts/%s" % ACCOUNT)["dry_run"] is True


def test_settings_dialog_esc_blank_name_and_units(site):
    _account(site)
    page, card = _card(site)
    card.locator("button[data-action='edit']").click()
    dialog = page.locator("#settings-dialog")
    expect(dialog).to_be_visible()
    # Esc closes the dialog and auto-refresh starts again at once
    with page.expect_request(lambda r: r.url.endswith("/api/v1/accounts") and r.method == "GET"):
        page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    # a blank name is refused, never turned into the account id
    card.locator("button[data-action='edit']").click()
    page.fill("#s-name", "   ")
    page.click("#s-save")
    expect(page.locator("#s-error")).to_contain_text("名称不能为空")
    assert _admin(site, "GET", "/api/v1/accounts/%s" % ACCOUNT)["name"] == "实盘一号"
    # the server's limit in the unit typed (%), with the dialog's field name
    page.fill("#s-name", "实盘一号")
    page.fill("#s-turnover", "5000")
    page.click("#s-save")
    expect(page.locator("#s-error")).to_have_text("换手上限：不能大于 1000%（未保存任何修改）")
    site.screenshot("misleading-settings-error")
    assert _admin(site, "GET", "/api/v1/accounts/%s" % ACCOUNT)["settings"].get("max_turnover") in (
        None,
        0,
    )


def test_overview_304_keeps_the_page_and_adjustments_leave_tiles(site):
    site.upload_signed(
        STRATEGY, [{"code": "600000.XSHG", "volume": 1000, "cost": 10.5, "name": "浦发银行"}]
    )
    site.post_internal("ADJUSTMENT_手工", [{"code": "600000.XSHG", "volume": -100, "cost": 10.5}])
    page = site.login()
    expect(page.locator("#tile-strategies")).to_have_text("2")
    node = page.locator("details.strategy[data-strategy='%s']" % STRATEGY)
    node.locator("summary").click()
    page.evaluate(
        """(name) => { const node = [...document.querySelectorAll("details.strategy")]
        .find((d) => d.dataset.strategy === name);
      node.dataset.marker = 'kept';
      const cell = node.querySelector("td");
      const range = document.createRange(); range.selectNodeContents(cell);
      getSelection().removeAllRanges(); getSelection().addRange(range); }""",
        STRATEGY,
    )
    with page.expect_response(lambda r: "/positions/total" in r.url) as resp:
        page.evaluate("window.jq2qmt.refresh()")
    assert resp.value.status == 304
    expect(page.locator("#refresh-state")).to_contain_text("无变化")
    assert node.get_attribute("data-marker") == "kept"
    assert page.evaluate("getSelection().toString()") == "600000.SH"
    expect(node).to_have_attribute("open", "")
    # 含调整 unticked: the tiles and the by-strategy chart count only the real strategy
    page.uncheck("#include-adjustments")
    expect(page.locator("#total-note")).to_have_text("未计入调整策略")
    expect(page.locator("#tile-strategies")).to_have_text("1")
    names = page.evaluate(
        "echarts.getInstanceByDom(document.getElementById('chart-strategies'))"
        ".getOption().yAxis[0].data"
    )
    assert names == [STRATEGY]
    page.check("#include-adjustments")
    expect(page.locator("#tile-strategies")).to_have_text("2")
    site.screenshot("misleading-overview")


def test_history_missing_removed_and_beyond_100_versions(site):
    page = site.login()
    # a strategy that never existed: a clear end state, not a spinner
    page.goto(site.url + "/history/" + "不存在的策略")
    expect(page.locator("#versions-table td[data-state='missing']")).to_contain_text(
        "没有名为「不存在的策略」的策略"
    )
    expect(page.locator("#show-diff")).to_be_disabled()
    # a removed strategy stays in the picker, marked
    site.post_internal("ADJUSTMENT_旧调整", [{"code": "600000.XSHG", "volume": 100, "cost": 10}])
    _admin(site, "DELETE", "/api/v1/strategies/ADJUSTMENT_旧调整")
    # 105 versions, written through the page's own session
    page.goto(site.url + "/history")
    page.evaluate(
        """async (name) => {
      const token = document.querySelector('meta[name="csrf-token"]').content;
      for (let i = 1; i <= 105; i++) {
        const r = await fetch('/api/v1/positions/update/internal', { method: 'POST',
          headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': token },
          body: JSON.stringify({ strategy_name: name, positions: [{ code: '600000.SH', volume: 100 * i, cost: 10 }] }) });
        if (!r.ok) throw new Error(await r.text());
      }
    }""",
        STRATEGY,
    )
    page.reload()
    option = page.locator("#history-strategy option[data-removed='true']")
    expect(option).to_have_text("ADJUSTMENT_旧调整（已删除）")
    page.select_option("#history-strategy", "ADJUSTMENT_旧调整")
    page.wait_for_url("**/history/ADJUSTMENT_*")
    expect(page.locator("#removed-note")).to_be_visible()
    expect(page.locator("#versions-table tbody tr")).to_have_count(2)
    page.goto(site.url + "/history/" + STRATEGY)
    rows = page.locator("#versions-table tbody tr")
    expect(rows).to_have_count(100)
    more = page.locator("#more-versions")
    expect(more).to_have_text("加载更早的版本（还有 5 个）")
    more.click()
    expect(rows).to_have_count(105)
    expect(more).to_be_hidden()
    expect(rows.last).to_have_attribute("data-version", "1")
    # an old version can be compared with the newest
    page.evaluate("document.querySelector(\"input[name='old'][value='1']\").checked = true")
    page.click("#show-diff")
    expect(page.locator("#diff-title")).to_have_text("差异 v1 → v105")
    site.screenshot("misleading-history")
    assert not [e for e in site.console_errors if "404" not in e], site.console_errors


def test_adjustment_names_lots_and_names_after_save(site):
    site.upload_signed(
        STRATEGY, [{"code": "600519.XSHG", "volume": 100, "cost": 1500, "name": "贵州茅台"}]
    )
    page = site.login()
    page.goto(site.url + "/adjustment")
    # a name with / is refused in the dialog, before any row is typed
    page.click("#new-adjustment")
    page.fill("#f-new-name", "多/空")
    page.click("#new-ok")
    expect(page.locator("#e-new-name")).to_contain_text("不能含 /")
    expect(page.locator("#new-dialog")).to_be_visible()
    page.fill("#f-new-name", "多空")
    page.click("#new-ok")
    expect(page.locator("#editor-title")).to_have_text("调整策略 ADJUSTMENT_多空")
    # a non-lot volume warns first; a second 确定 keeps it
    page.click("#add-row")
    page.fill("#f-code", "600519.XSHG")
    page.fill("#f-volume", "-150")
    page.fill("#f-cost", "1500")
    page.click("#row-ok")
    expect(page.locator("#e-volume")).to_contain_text("不是整手")
    expect(page.locator("#row-dialog")).to_be_visible()
    page.click("#row-ok")
    expect(page.locator("#row-dialog")).to_be_hidden()
    row = page.locator("#rows-table tr[data-code='600519.SH']")
    expect(row.locator(".lot-badge")).to_have_text("非整手")
    expect(row.locator("td").nth(1)).to_have_text("贵州茅台")
    # the strategy that named the code moves on; the saved row keeps its name
    site.upload_signed(
        STRATEGY, [{"code": "600000.XSHG", "volume": 100, "cost": 10, "name": "浦发银行"}]
    )
    page.click("#save")
    expect(page.locator("#editor-meta")).to_contain_text("版本 1")
    expect(row.locator("td").nth(1)).to_have_text("贵州茅台")
    assert site.total()["600519.SH"]["name"] == "贵州茅台"
    site.screenshot("misleading-adjustment")
