"""The web pages in a real browser (Debian's Chromium through Playwright) against a
live server: what a trader does on each page, and a screenshot of each at 1280 px and
390 px (test-artifacts/screenshots/)."""

import re

import requests

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or fails in CI) with the reason
    expect = None

STRATEGY = "多策略V1.0"
SNAPSHOT = [
    {"code": "600000.XSHG", "volume": 1000, "cost": 10.5, "name": "浦发银行"},
    {"code": "000001.XSHE", "volume": 2000, "cost": 12.25, "name": "平安银行"},
    {"code": "300750.XSHE", "volume": 300, "cost": 180.0, "name": "宁德时代"},
    {"code": "688981.XSHG", "volume": 500, "cost": 45.1, "name": "中芯国际"},
]


def test_login_refuses_wrong_password_then_logs_in_and_out(site):
    page = site.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next=%2F"))
    site.screenshot("login")
    page.fill("#password", "not-the-password")
    page.click("#login-submit")
    expect(page.locator("#login-error")).to_have_text("密码错误。")
    site.screenshot("login-error")
    page.fill("#password", site.password)
    page.click("#login-submit")
    page.wait_for_url(site.url + "/")
    cookie = next(c for c in site.context.cookies() if c["name"] == "jq2qmt_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page.click("#logout")
    expect(page.locator(".alert-info")).to_contain_text("已退出登录")
    assert site.goto("/password").url.startswith(site.url + "/login")


def _backdate(site, strategy, days):
    """Make a strategy look as if its last upload was `days` ago (test setup in the DB)."""
    from datetime import timedelta

    from sqlalchemy import update

    from jq2qmt.store.models import Strategy, utcnow

    with site.instance.db().write_once() as session:
        session.execute(
            update(Strategy)
            .where(Strategy.name == strategy)
            .values(update_time=utcnow() - timedelta(days=days))
        )


def test_overview_shows_uploaded_strategy_and_refreshes_by_etag(site):
    site.upload_signed(STRATEGY, SNAPSHOT)
    site.upload_signed(
        "趋势跟踪", [{"code": "510300.XSHG", "volume": 5000, "cost": 3.9, "name": "沪深300ETF"}]
    )
    _backdate(site, "趋势跟踪", 8)
    site.post_internal("ADJUSTMENT_手工", [{"code": "600000.SH", "volume": -200, "cost": 10.5}])
    page = site.login()
    stale = page.locator("details.strategy.stale")
    expect(stale).to_have_count(1)
    expect(stale).to_have_attribute("data-strategy", "趋势跟踪")
    expect(page.locator("#stale-banner")).to_contain_text("趋势跟踪")
    row = page.locator("#total-table tbody tr[data-code='600000.SH']")
    expect(row).to_contain_text("浦发银行")
    expect(row.locator("td").nth(2)).to_have_text("800")  # 1000 - 200 from the adjustment
    strategy = page.locator(f"details.strategy[data-strategy='{STRATEGY}']")
    expect(strategy).to_contain_text("版本 1")
    expect(page.locator("#tile-strategies")).to_have_text("3")
    expect(page.locator("#chart-codes canvas")).to_have_count(1)
    # unchecking 含调整 asks for the total without adjustments
    page.uncheck("#include-adjustments")
    expect(row.locator("td").nth(2)).to_have_text("1,000")
    page.check("#include-adjustments")
    expect(row.locator("td").nth(2)).to_have_text("800")
    # an idle refresh is a 304; a new upload shows up on the next refresh
    with page.expect_response(lambda r: "/positions/total" in r.url) as first:
        page.evaluate("window.jq2qmt.refresh()")
    assert first.value.status == 304
    site.upload_signed(
        STRATEGY,
        SNAPSHOT[:3] + [{"code": "601318.XSHG", "volume": 100, "cost": 50.0, "name": "中国平安"}],
    )
    with page.expect_response(lambda r: "/positions/total" in r.url) as second:
        page.evaluate("window.jq2qmt.refresh()")
    assert second.value.status == 200
    expect(page.locator("#total-table tbody tr[data-code='601318.SH']")).to_be_visible()
    expect(strategy).to_contain_text("版本 2")
    strategy.locator("summary").click()
    # an idle refresh re-applies the stale rule on the client and keeps what is open
    with page.expect_response(lambda r: "/positions/total" in r.url) as third:
        page.evaluate("window.jq2qmt.refresh()")
    assert third.value.status == 304
    expect(strategy).to_have_attribute("open", "")
    site.screenshot("overview")
    assert not site.console_errors, site.console_errors


def test_stale_rule_counts_whole_weekdays(site):
    page = site.login()
    cases = {
        # updated Friday 15:00, now Monday 10:00 (Beijing): no whole weekday missed
        ("2026-11-20T15:00:00+08:00", "2026-11-23T10:00:00+08:00"): False,
        # updated Monday, now Wednesday: Tuesday passed without an upload
        ("2026-11-23T15:00:00+08:00", "2026-11-25T10:00:00+08:00"): True,
        # updated Thursday, now Monday: Friday missed
        ("2026-11-19T15:00:00+08:00", "2026-11-23T09:00:00+08:00"): True,
        # late evening in Beijing is still the same trading day
        ("2026-11-24T23:30:00+08:00", "2026-11-25T14:00:00+08:00"): False,
    }
    for (updated, now), stale in cases.items():
        result = page.evaluate(
            "([u, n]) => window.jq2qmt.isStale('S', u, new Date(n))", [updated, now]
        )
        assert result is stale, (updated, now)
    assert (
        page.evaluate("window.jq2qmt.isStale('ADJUSTMENT_X', '2020-01-01T00:00:00+08:00')") is False
    )


def _open_editor(page, strategy):
    page.select_option("#strategy-select", strategy)
    expect(page.locator("#editor-title")).to_contain_text(strategy)


def _fill_row(page, code, volume, cost, name=""):
    page.fill("#f-code", code)
    page.fill("#f-name", name)
    page.fill("#f-volume", str(volume))
    page.fill("#f-cost", str(cost))
    page.click("#row-ok")


def test_adjustment_add_edit_delete_changes_the_total(site):
    site.upload_signed(STRATEGY, SNAPSHOT)
    page = site.login()
    page.goto(site.url + "/adjustment")
    expect(page.locator("#editor-title")).to_contain_text("ADJUSTMENT_")
    # a new adjustment strategy
    page.click("#new-adjustment")
    page.fill("#f-new-name", "减仓")
    page.click("#new-ok")
    expect(page.locator("#editor-title")).to_contain_text("ADJUSTMENT_减仓")
    # add: page-side validation first
    page.click("#add-row")
    _fill_row(page, "600000", "-3.5", "x")
    expect(page.locator("#e-code")).to_contain_text("代码格式")
    expect(page.locator("#e-volume")).to_contain_text("整数")
    expect(page.locator("#e-cost")).to_contain_text("数字")
    _fill_row(page, "600000.XSHG", -300, 10.5, "浦发银行")
    expect(page.locator("#rows-table tbody tr.dirty")).to_have_count(1)
    page.click("#save")
    merged = page.locator("#rows-table tbody tr[data-code='600000.SH'] td.merged")
    expect(merged).to_have_text("700")
    assert site.total()["600000.SH"]["total_volume"] == 700
    # edit
    page.locator("#rows-table tbody tr[data-code='600000.SH']").get_by_role(
        "button", name="编辑"
    ).click()
    expect(page.locator("#f-volume")).to_have_value("-300")
    page.fill("#f-volume", "-100")
    page.click("#row-ok")
    page.click("#save")
    expect(merged).to_have_text("900")
    assert site.total()["600000.SH"]["total_volume"] == 900
    page.click("#add-row")
    _fill_row(page, "000001.SZ", 100, 12.0)
    page.click("#save")
    expect(page.locator("#rows-table tbody tr[data-code='000001.SZ'] td.merged")).to_have_text(
        "2,100"
    )
    site.screenshot("adjustment")
    # delete
    page.once("dialog", lambda d: d.accept())
    page.locator("#rows-table tbody tr[data-code='600000.SH'] button", has_text="删除").click()
    page.click("#save")
    expect(page.locator("#rows-table tbody tr[data-code='600000.SH']")).to_have_count(0)
    assert site.total()["600000.SH"]["total_volume"] == 1000
    # removing the whole adjustment strategy takes it out of the total
    page.once("dialog", lambda d: d.accept())
    page.click("#remove-strategy")
    expect(page.locator("#strategy-select option[value='ADJUSTMENT_减仓']")).to_have_count(0)
    assert site.total()["000001.SZ"]["total_volume"] == 2000
    assert not site.console_errors, site.console_errors


def test_bad_row_refused_by_server_with_its_message_next_to_it(site):
    site.post_internal("ADJUSTMENT_T", [{"code": "600000.SH", "volume": 100, "cost": 10.0}])
    page = site.login()
    page.goto(site.url + "/adjustment?strategy=ADJUSTMENT_T")
    _open_editor(page, "ADJUSTMENT_T")
    page.click("#add-row")
    # well-formed for the page, but over the server's volume limit (a typo of extra zeros)
    _fill_row(page, "000001.SZ", 1000000000000, 10.0)
    page.click("#save")
    bad = page.locator("#rows-table tbody tr.row-error")
    expect(bad).to_have_count(1)
    expect(bad).to_have_attribute("data-code", "000001.SZ")
    expect(bad.locator(".row-message")).to_contain_text("数量过大")
    expect(page.locator("#save-error")).to_be_visible()
    site.screenshot("adjustment-error")
    assert site.total().keys() == {"600000.SH"}  # nothing was saved


def test_manual_correction_of_a_strategy_is_recorded_and_diffed(site):
    site.upload_signed(STRATEGY, SNAPSHOT)
    page = site.login()
    page.goto(site.url + "/adjustment?strategy=" + STRATEGY)
    expect(page.locator("#editor-title")).to_contain_text("手工修正")
    page.locator("#rows-table tbody tr[data-code='000001.SZ']").get_by_role(
        "button", name="编辑"
    ).click()
    page.fill("#f-volume", "2500")
    page.click("#row-ok")
    page.once("dialog", lambda d: d.accept())
    page.locator("#rows-table tbody tr[data-code='300750.SZ'] button", has_text="删除").click()
    page.click("#add-row")
    _fill_row(page, "601318.XSHG", 100, 50.0, "中国平安")
    page.click("#save")
    expect(page.locator("#editor-meta")).to_contain_text("版本 2")
    # history: the manual edit is version 2; the diff against version 1 is shown
    page.goto(site.url + "/history/" + STRATEGY)
    versions = page.locator("#versions-table tbody tr")
    expect(versions).to_have_count(2)
    expect(versions.first).to_contain_text("手工修改")
    expect(versions.nth(1)).to_contain_text("聚宽上传")
    diff = page.locator("#diff-table tbody")
    expect(diff.locator("tr[data-change='added'][data-code='601318.SH']")).to_be_visible()
    expect(diff.locator("tr[data-change='removed'][data-code='300750.SZ'] td.delta")).to_have_text(
        "-300"
    )
    expect(diff.locator("tr[data-change='changed'][data-code='000001.SZ'] td.delta")).to_have_text(
        "+500"
    )
    expect(page.locator("#diff-summary")).to_have_text("新增 1 · 移除 1 · 变动 1")
    site.screenshot("history")
    # the two versions the other way round
    page.locator("input[name='old'][value='2']").check()
    page.locator("input[name='new'][value='1']").check()
    page.click("#show-diff")
    expect(diff.locator("tr[data-change='removed'][data-code='601318.SH']")).to_be_visible()
    assert not site.console_errors, site.console_errors


def test_password_change_then_login_with_the_new_one(site):
    page = site.login()
    page.goto(site.url + "/password")
    expect(page.locator("#password-status")).to_contain_text("已设置")
    page.fill("#current-password", site.password)
    page.fill("#new-password", "short1")
    expect(page.locator("#strength-text")).to_contain_text("太短")
    page.fill("#new-password", "Sunrise-Harbor-42")
    expect(page.locator("#strength-text")).to_contain_text("强度")
    site.screenshot("password")
    page.fill("#confirm-password", "Sunrise-Harbor-41")
    page.click("#password-submit")
    expect(page.locator("#password-error")).to_contain_text("不一致")
    page.fill("#confirm-password", "Sunrise-Harbor-42")
    page.click("#password-submit")
    page.wait_for_url(re.compile(r"/login\?notice=password_changed"))
    expect(page.locator(".alert-info")).to_contain_text("密码已修改")
    page.fill("#password", site.password)
    page.click("#login-submit")
    expect(page.locator("#login-error")).to_be_visible()
    site.login("Sunrise-Harbor-42")
    expect(page.locator("h1")).to_have_text("总览")


def test_write_without_csrf_token_refused(site):
    page = site.login()
    result = page.evaluate("""async () => {
        const body = JSON.stringify({strategy_name: 'ADJUSTMENT_X', positions: []});
        const plain = await fetch('/api/v1/positions/update/internal',
            {method: 'POST', headers: {'Content-Type': 'application/json'}, body});
        const withToken = await fetch('/api/v1/positions/update/internal',
            {method: 'POST', headers: {'Content-Type': 'application/json',
             'X-CSRF-Token': document.querySelector('meta[name=csrf-token]').content}, body});
        return [plain.status, (await plain.json()).error.code, withToken.status];
    }""")
    assert result == [403, "csrf_failed", 200]
    # a cross-site form post carries no cookie at all (SameSite=Strict) and no token
    resp = requests.post(
        site.url + "/api/v1/positions/update/internal",
        json={"strategy_name": "ADJUSTMENT_Y", "positions": []},
        timeout=10,
        cookies={c["name"]: c["value"] for c in site.context.cookies()},
    )
    assert resp.status_code == 403


def test_names_are_shown_as_text_never_as_markup(site):
    name = "<img src=x onerror=window.__xss=1>"
    site.post_internal(
        name, [{"code": "600000.SH", "volume": 100, "cost": 10.0, "name": "<b>粗体</b>"}]
    )
    page = site.login()
    expect(page.locator(f"details.strategy[data-strategy='{name}'] .strategy-name")).to_have_text(
        name
    )
    expect(page.locator("#total-table tbody tr[data-code='600000.SH']")).to_contain_text(
        "<b>粗体</b>"
    )
    page.goto(site.url + "/history/" + requests.utils.quote(name, safe=""))
    expect(page.locator("h1")).to_have_text("历史 · " + name)
    expect(page.locator("#versions-table tbody tr")).to_have_count(1)
    assert page.evaluate("window.__xss") is None
