"""The overview values the merged target at the prices the followers traded on: market
value and unrealised P&L beside cost, each marked with the price's time; a code no
follower has priced shows — instead of a guess."""

import requests

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or fails in CI) with the reason
    expect = None

STRATEGY = "轮动策略"
ACCOUNT = "8886660100"


def _admin(site, method, path, body=None):
    resp = requests.request(
        method, site.url + path, json=body, headers=site.instance.admin_headers(), timeout=10
    )
    assert resp.status_code in (200, 201), resp.text
    return resp


def _round(site, token, round_id, at, prices):
    body = {
        "kind": "round",
        "round_id": round_id,
        "status": "idle",
        "at": at,
        "account": {
            "cash": 50000.0,
            "total_asset": 61000.0,
            "market_value": 11000.0,
            "positions": [{"code": "600000.SH", "volume": 1000, "can_use_volume": 1000}],
        },
        "prices": prices,
        "target": {"600000.SH": 1000, "000001.SZ": 2000},
        "placed": [],
        "cancelled": [],
        "rejected": [],
        "skipped": [],
        "errors": [],
        "follower": {"kind": "paper", "version": "0.1.0"},
    }
    resp = requests.post(
        site.url + "/api/v1/accounts/%s/reports" % ACCOUNT,
        json=body,
        headers={"Authorization": "Bearer " + token},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text


def test_overview_shows_market_value_and_pnl_at_the_followers_prices(site):
    site.upload_signed(
        STRATEGY,
        [
            {"code": "600000.XSHG", "volume": 1000, "cost": 10.5, "name": "浦发银行"},
            {"code": "000001.XSHE", "volume": 2000, "cost": 12.25, "name": "平安银行"},
        ],
    )
    _admin(site, "POST", "/api/v1/accounts", {"account_id": ACCOUNT, "name": "实盘一号"})
    _admin(site, "POST", "/api/v1/accounts/%s/confirm" % ACCOUNT)
    _admin(site, "PUT", "/api/v1/accounts/%s/follow/%s" % (ACCOUNT, STRATEGY), {"ratio": 1})
    token = site.instance.token("follow", account_id=ACCOUNT)
    _round(
        site,
        token,
        "jq1125100000-ab01",
        "2026-11-25T10:00:00",
        {"600000.SH": {"price": 10.8, "time": "2026-11-25T09:59:57"}},
    )
    _round(
        site,
        token,
        "jq1125100100-ab02",
        "2026-11-25T10:01:00",
        {"600000.SH": {"price": 11.0, "time": "2026-11-25T10:00:58"}},
    )
    prices = _admin(site, "GET", "/api/v1/prices").json()["prices"]
    assert prices == {"600000.SH": {"price": 11.0, "time": "2026-11-25T10:00:58"}}  # the newest

    page = site.login()
    row = page.locator("#total-table tbody tr[data-code='600000.SH']")
    expect(row.locator("td.mv")).to_have_text("11,000.00")
    expect(row.locator("td.pnl")).to_have_text("+500.00")  # (11.00 - 10.50) x 1000
    assert "2026-11-25 10:00:58" in row.locator("td.mv").get_attribute("title")
    unpriced = page.locator("#total-table tbody tr[data-code='000001.SZ']")
    expect(unpriced.locator("td.mv")).to_have_text("—")
    expect(page.locator("#tile-mv")).to_have_text("1.10 万 · +500.00")
    expect(page.locator("#tile-mv-note")).to_contain_text("1 只未定价")
    site.screenshot("overview-market-value")
