"""持仓调整 and 跟单 in a real browser: a stale correction is refused and explained, a
correction keeps the portfolio weight-mode followers need, a negative merged target is
warned about, the settings dialog saves all or nothing, and ignored codes are the ones
the server (with the follower's rule) says."""

import json

import requests

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or fails in CI) with the reason
    expect = None

STRATEGY = "多策略V1.0"
ACCOUNT = "8886660057"


def _admin(site, method, path, body=None):
    resp = requests.request(
        method, site.url + path, json=body, headers=site.instance.admin_headers(), timeout=10
    )
    assert resp.status_code in (200, 201), resp.text
    return resp.json()


def _upload(site, name, volume, as_of, total_value=1000000.0):
    """A signed JoinQuant upload with portfolio and as_of (what the real client sends)."""
    path = "/api/v1/positions/update"
    body = json.dumps(
        {
            "strategy_name": name,
            "as_of": as_of,
            "portfolio": {"total_value": total_value, "cash": 1000.0},
            "positions": [
                {"code": "600000.XSHG", "volume": volume, "cost": 10.0, "name": "浦发银行"},
                {"code": "000001.XSHE", "volume": 2000, "cost": 12.0, "name": "平安银行"},
            ],
        },
        ensure_ascii=False,
    ).encode("utf-8")
    headers = site.instance.signed_headers("POST", path, body)
    headers["Content-Type"] = "application/json"
    resp = requests.post(site.url + path, data=body, headers=headers, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _snapshot(site, name):
    return _admin(site, "GET", "/api/v1/positions/strategy/" + requests.utils.quote(name, safe=""))


def _edit_volume(page, code, volume):
    page.locator("#rows-table tr[data-code='%s']" % code).get_by_role("button", name="编辑").click()
    page.fill("#f-volume", str(volume))
    page.click("#row-ok")


def test_stale_correction_is_refused_and_reload_shows_the_new_version(site):
    _upload(site, STRATEGY, 1000, "2026-11-30T14:50:00")
    page = site.login()
    page.goto(site.url + "/adjustment?strategy=" + requests.utils.quote(STRATEGY))
    expect(page.locator("#editor-meta")).to_contain_text("版本 1")
    # JoinQuant moves on twice while the page is open
    _upload(site, STRATEGY, 1100, "2026-11-30T14:51:00")
    _upload(site, STRATEGY, 1200, "2026-11-30T14:52:00")
    _edit_volume(page, "600000.SH", 100)
    page.click("#save")
    error = page.locator("#save-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("已更新到 v3")
    expect(error).to_contain_text("client:joinquant")
    expect(error).to_contain_text("你编辑的是 v1")
    site.screenshot("correction-conflict")
    stored = _snapshot(site, STRATEGY)
    assert (
        stored["version"] == 3 and stored["positions"][1]["volume"] == 1200
    )  # nothing overwritten
    page.click("#conflict-reload")
    expect(page.locator("#editor-meta")).to_contain_text("版本 3")
    expect(page.locator("#rows-table tr[data-code='600000.SH'] td").nth(2)).to_have_text("1,200")
    # a correction from the current version goes through and keeps portfolio / as_of
    _edit_volume(page, "600000.SH", 1300)
    page.click("#save")
    expect(page.locator("#editor-meta")).to_contain_text("版本 4")
    stored = _snapshot(site, STRATEGY)
    assert stored["positions"][1]["volume"] == 1300
    assert stored["portfolio"] == {"total_value": 1000000.0, "cash": 1000.0}
    assert stored["as_of"] is not None and stored["as_of"].startswith("2026-11-30T14:52:00")


def test_weight_account_keeps_its_target_after_a_web_correction_and_shows_when_it_cannot(site):
    _upload(site, STRATEGY, 1000, "2026-11-30T14:50:00")
    _admin(
        site,
        "POST",
        "/api/v1/accounts",
        {"account_id": ACCOUNT, "name": "权重账户", "mode": "weight"},
    )
    _admin(site, "PUT", "/api/v1/accounts/%s/follow/%s" % (ACCOUNT, STRATEGY), {"capital": 500000})
    page = site.login()
    page.goto(site.url + "/adjustment?strategy=" + requests.utils.quote(STRATEGY))
    _edit_volume(page, "600000.SH", 1100)
    page.click("#save")
    expect(page.locator("#editor-meta")).to_contain_text("版本 2")
    detail = _admin(site, "GET", "/api/v1/accounts/" + ACCOUNT)
    assert detail["merged_target_error"] is None
    assert {t["code"]: t["volume"] for t in detail["merged_target"]}["600000.SH"] == 550
    page.goto(site.url + "/accounts")
    card = page.locator("article.account[data-account='%s']" % ACCOUNT)
    expect(card.locator("h2")).to_have_text("权重账户")
    expect(card.locator(".target-error")).to_have_count(0)
    # a snapshot without portfolio (an old client): the card says why there is no target
    site.post_internal(STRATEGY + "-旧", [{"code": "600000.SH", "volume": 100, "cost": 10}])
    _admin(
        site,
        "PUT",
        "/api/v1/accounts/%s/follow/%s" % (ACCOUNT, STRATEGY + "-旧"),
        {"capital": 1000},
    )
    page.reload()
    problem = card.locator(".target-error")
    expect(problem).to_contain_text("目标无法计算")
    expect(problem).to_contain_text(STRATEGY + "-旧")
    expect(problem).to_contain_text("portfolio.total_value")
    site.screenshot("accounts-target-error")


def test_negative_merged_target_is_warned_on_save(site):
    _upload(site, STRATEGY, 1000, "2026-11-30T14:50:00")
    page = site.login()
    page.goto(site.url + "/adjustment")
    page.click("#new-adjustment")
    page.fill("#f-new-name", "测试负仓")
    page.click("#new-form button[type=submit]")
    page.click("#add-row")
    page.fill("#f-code", "000001.SZ")
    page.fill("#f-volume", "-100000")
    page.fill("#f-cost", "11")
    page.click("#row-ok")
    page.click("#save")
    warning = page.locator("#save-warning")
    expect(warning).to_be_visible()
    expect(warning.locator("[data-code='000001.SZ']")).to_contain_text("合并目标 -98,000 股")
    expect(warning).to_contain_text("按 0 处理")
    expect(page.locator("#rows-table tr[data-code='000001.SZ'] .negative-target")).to_have_text(
        "按 0 处理（清仓）"
    )
    site.screenshot("adjustment-negative-warning")
    page.goto(site.url + "/")
    row = page.locator("#total-table tr[data-code='000001.SZ']")
    expect(row.locator(".negative-target")).to_be_visible()
    expect(row.locator("td").nth(5)).to_have_text("—")  # no share of the total for a negative row


def test_settings_dialog_saves_all_or_nothing_and_ignored_codes_come_from_the_server(site):
    _upload(site, STRATEGY, 1000, "2026-11-30T14:50:00")
    site.upload_signed(
        "另一个", [{"code": "600036.XSHG", "volume": 500, "cost": 30.0, "name": "招商银行"}]
    )
    _admin(
        site, "POST", "/api/v1/accounts", {"account_id": ACCOUNT, "name": "主账户", "mode": "ratio"}
    )
    _admin(site, "POST", "/api/v1/accounts/%s/confirm" % ACCOUNT)
    _admin(site, "PUT", "/api/v1/accounts/%s/follow/%s" % (ACCOUNT, STRATEGY), {"ratio": 1})
    _admin(site, "PUT", "/api/v1/accounts/%s/follow/%s" % (ACCOUNT, "另一个"), {"ratio": 1})
    token = site.instance.token("follow", account_id=ACCOUNT)
    plan = requests.get(
        site.url + "/api/v1/accounts/%s/plan" % ACCOUNT,
        timeout=10,
        headers={"Authorization": "Bearer " + token},
    ).json()
    resp = requests.post(
        site.url + "/api/v1/accounts/%s/reports" % ACCOUNT,
        timeout=10,
        headers={"Authorization": "Bearer " + token},
        json={
            "kind": "round",
            "round_id": "r20261125-093102-0001",
            "status": "ok",
            "plan_version": plan["plan_version"],
            "follower": {"kind": "miniqmt"},
            "account": {
                "cash": 1.0,
                "total_asset": 2.0,
                "positions": [{"code": "600036.SH", "volume": 1600, "can_use_volume": 1600}],
            },
            "placed": [],
            "rejected": [],
            "cancelled": [],
            "skipped": [],
            "errors": [],
        },
    )
    assert resp.status_code == 200, resp.text
    page = site.login()
    page.goto(site.url + "/accounts")
    card = page.locator("article.account[data-account='%s']" % ACCOUNT)
    # a ratio over the limit: refused, and nothing else of the dialog is stored
    card.locator("[data-action='edit']").click()
    page.fill("#s-min", "777")
    page.fill("#s-ignore", "000001, 6000??.SH")
    page.locator("#s-follows tr[data-strategy='%s'] input" % STRATEGY).fill("100000")
    page.click("#s-save")
    expect(page.locator("#s-error")).to_contain_text("1000")
    account = _admin(site, "GET", "/api/v1/accounts/" + ACCOUNT)
    assert account["settings"]["min_order_value"] == 0 and account["settings"]["ignore"] == []
    assert account["follow"]["strategies"][STRATEGY] == {"ratio": 1}
    # a valid change saves settings and follows together
    page.locator("#s-follows tr[data-strategy='%s'] input" % STRATEGY).fill("2")
    page.click("#s-save")
    expect(page.locator("#settings-dialog")).not_to_be_visible()
    account = _admin(site, "GET", "/api/v1/accounts/" + ACCOUNT)
    assert account["settings"]["min_order_value"] == 777
    assert account["settings"]["ignore"] == ["000001", "6000??.SH"]
    assert account["follow"]["strategies"][STRATEGY] == {"ratio": 2}
    assert account["ignored_codes"] == ["000001.SZ", "600000.SH", "600036.SH"]
    # the compare table marks exactly what the follower ignores: a bare number on either
    # exchange and '?' patterns, not only exact codes and a trailing '*'
    for code in ("000001.SZ", "600000.SH", "600036.SH"):
        expect(card.locator("table.compare tr[data-code='%s'] td" % code).nth(5)).to_have_text(
            "忽略"
        )
    site.screenshot("accounts-ignore-patterns")
