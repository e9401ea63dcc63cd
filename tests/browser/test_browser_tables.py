"""Big tables and charts in a real browser: search, column sort and paging on the
merged target (320+ codes), the strategy list (106 strategies), the version list
(120 versions) and an account's target comparison (320 codes); the by-strategy chart
scrolls instead of squeezing 106 bars."""

import requests

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or fails in CI) with the reason
    expect = None

BIG = "大策略"


def _save(db, name, positions, source="admin"):
    from jq2qmt.store import repo
    from jq2qmt.store.snapshot import parse_snapshot

    repo.save_snapshot(db, parse_snapshot({"strategy_name": name, "positions": positions}), source)


def seed_many(site, strategies=105, big_codes=320):
    """`strategies` small strategies and one with `big_codes` codes, straight into the store."""
    db = site.instance.db()
    _save(
        db,
        BIG,
        [
            {
                "code": "%06d.XSHG" % (600000 + i),
                "volume": 100 * (i + 1),
                "cost": 10.0,
                "name": "股票%03d" % i,
            }
            for i in range(big_codes)
        ],
    )
    for n in range(strategies):
        _save(
            db,
            "压测策略%03d" % n,
            [
                {
                    "code": "000%03d.XSHE" % (n % 50 + 1),
                    "volume": 100 * (n + 1),
                    "cost": 5.0 + n,
                    "name": "深股%02d" % (n % 50),
                }
            ],
        )


def visible_rows(page, selector):
    return page.locator(selector + " > tr:not(.enh-off):not(.enh-none)")


def test_overview_total_table_searches_sorts_and_pages_320_codes(site):
    seed_many(site)
    page = site.login()
    bar = page.locator(".enh-bar").first
    expect(bar.locator(".enh-count")).to_have_text("共 370 个代码")
    rows = visible_rows(page, "#total-table tbody")
    expect(rows).to_have_count(50)
    expect(bar.locator(".enh-page")).to_have_text("第 1 / 8 页")

    bar.get_by_role("button", name="下一页").click()
    expect(bar.locator(".enh-page")).to_have_text("第 2 / 8 页")
    expect(rows).to_have_count(50)

    # search by code and by name; the result survives the page's own re-render
    search = bar.get_by_role("searchbox", name="搜索代码或名称")
    search.fill("600123")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("600123.SH")
    page.evaluate("window.jq2qmt.refresh(true)")
    page.wait_for_timeout(300)
    expect(rows).to_have_count(1)
    search.fill("股票31")
    expect(rows).to_have_count(10)  # 股票310 … 股票319
    expect(bar.locator(".enh-count")).to_have_text("找到 10 / 共 370 个代码")
    search.fill("没有这个")
    expect(page.locator("#total-table tbody tr.enh-none")).to_have_text("没有匹配的结果。")
    search.fill("")

    # sort by 数量: numbers, largest first, then smallest first
    sort = page.locator("#total-table thead").get_by_role("button", name="数量", exact=True)
    sort.click()
    expect(rows.first).to_contain_text("600319.SH")  # 32,000 shares
    expect(page.locator("#total-table thead th").nth(2)).to_have_attribute(
        "aria-sort", "descending"
    )
    sort.click()
    expect(page.locator("#total-table thead th").nth(2)).to_have_attribute("aria-sort", "ascending")
    first = rows.first.locator("td").nth(2).inner_text()
    assert first.replace(",", "") == "100", first
    site.screenshot("tables-overview-370-codes")
    assert not site.console_errors, site.console_errors


def test_overview_strategy_list_pages_and_chart_scrolls_with_106_strategies(site):
    seed_many(site)
    page = site.login()
    bar = page.locator("#strategy-list").locator(
        "xpath=preceding-sibling::div[contains(@class,'enh-bar')]"
    )
    expect(bar.locator(".enh-count")).to_have_text("共 106 个策略")
    expect(page.locator("#strategy-list > details:not(.enh-off)")).to_have_count(30)
    bar.get_by_role("searchbox").fill("压测策略07")
    expect(page.locator("#strategy-list > details:not(.enh-off)")).to_have_count(10)

    # B15: 15 bars in view, the rest behind a scrolling dataZoom; 其他 has its own grey
    option = page.evaluate("""(() => {
      const o = echarts.getInstanceByDom(document.getElementById('chart-strategies')).getOption();
      const p = echarts.getInstanceByDom(document.getElementById('chart-codes')).getOption();
      return {zoom: o.dataZoom.map(z => [z.type, z.startValue, z.endValue]), bars: o.yAxis[0].data.length,
              pie: p.series[0].data.map(d => d.name), colors: p.color.slice(0, 10),
              other: p.series[0].data.filter(d => d.name === '其他').map(d => d.itemStyle.color)};
    })()""")
    assert option["bars"] == 106
    assert ["inside", 91, 105] in option["zoom"] and ["slider", 91, 105] in option["zoom"], option[
        "zoom"
    ]
    assert len(set(option["colors"])) == 10 and option["other"] == ["#b8c2cc"]
    assert "#b8c2cc" not in option["colors"]
    page.locator("#chart-strategies").scroll_into_view_if_needed()
    site.screenshot("tables-overview-106-strategies")


def test_history_versions_page_sort_and_search(site):
    db = site.instance.db()
    for v in range(120):
        _save(
            db,
            "多版本",
            [{"code": "600000.XSHG", "volume": 100 * (v + 1), "cost": 10.0, "name": "浦发银行"}],
        )
    site.login()
    page = site.goto("/history/%E5%A4%9A%E7%89%88%E6%9C%AC")
    bar = page.locator(".enh-bar").first
    expect(bar.locator(".enh-count")).to_contain_text("个版本")
    rows = visible_rows(page, "#versions-table tbody")
    expect(rows).to_have_count(50)
    page.locator("#versions-table thead").get_by_role("button", name="版本", exact=True).click()
    order = page.locator("#versions-table thead th").nth(2).get_attribute("aria-sort")
    assert order == "ascending"
    top = rows.first.locator("td").nth(2).inner_text()
    assert top.strip().lstrip("v").isdigit()
    assert not site.console_errors, site.console_errors


def test_account_compare_table_pages_and_keeps_its_search_across_refreshes(site):
    seed_many(site, strategies=0, big_codes=320)
    headers = site.instance.admin_headers()
    requests.post(
        site.url + "/api/v1/accounts",
        json={"account_id": "8886660057", "name": "主账户"},
        headers=headers,
        timeout=10,
    ).raise_for_status()
    requests.post(
        site.url + "/api/v1/accounts/8886660057/confirm", headers=headers, timeout=10
    ).raise_for_status()
    requests.put(
        site.url + "/api/v1/accounts/8886660057/follow/" + BIG,
        json={"ratio": 1},
        headers=headers,
        timeout=10,
    ).raise_for_status()
    token = site.instance.token("follow", account_id="8886660057")
    plan = requests.get(
        site.url + "/api/v1/accounts/8886660057/plan",
        timeout=10,
        headers={"Authorization": "Bearer " + token},
    ).json()
    account = {
        "cash": 1000.0,
        "total_asset": 2000.0,
        "positions": [{"code": "600005.SH", "volume": 600, "can_use_volume": 600}],
    }
    requests.post(
        site.url + "/api/v1/accounts/8886660057/reports",
        timeout=10,
        headers={"Authorization": "Bearer " + token},
        json={
            "kind": "round",
            "round_id": "r20261125-093102-0001",
            "plan_version": plan["plan_version"],
            "status": "ok",
            "account": account,
            "follower": {"kind": "paper", "version": "0.1.0"},
            "placed": [],
            "rejected": [],
            "cancelled": [],
            "skipped": [],
            "errors": [],
        },
    ).raise_for_status()
    page = site.login()
    page.goto(site.url + "/accounts")
    card = page.locator("article.account[data-account='8886660057']")
    bar = card.locator(".enh-bar")
    expect(bar.locator(".enh-count")).to_have_text("共 320 个代码")
    rows = visible_rows(page, "article.account table.compare tbody")
    expect(rows).to_have_count(50)
    bar.get_by_role("searchbox").fill("600005")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("600")  # target 600, held 600
    page.evaluate("window.jq2qmt.reload()")  # the 15 s refresh rebuilds the card
    page.wait_for_timeout(500)
    expect(card.locator(".enh-bar").get_by_role("searchbox")).to_have_value("600005")
    expect(rows).to_have_count(1)
