"""Every page at 390x844 (a phone): nothing sticks out of the viewport sideways except
inside a scroll container, the main tables fit their card, dialogs fit, the nav wraps,
tap targets are at least 32 px tall, every control has an accessible name. Screenshots of each page (test-artifacts/screenshots/)."""

from pathlib import Path

import requests

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or fails in CI) with the reason
    expect = None

PHONE = {"width": 390, "height": 844}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

SNAPSHOT = [
    {"code": "600000.XSHG", "volume": 1000, "cost": 10.5, "name": "浦发银行"},
    {"code": "000001.XSHE", "volume": 2000, "cost": 12.25, "name": "平安银行"},
    {"code": "300750.XSHE", "volume": 300, "cost": 180.0, "name": "宁德时代"},
    {"code": "688981.XSHG", "volume": 123456, "cost": 1845.1234, "name": "中芯国际股份有限公司"},
]

# Elements whose right or left edge is outside the viewport and that are not inside a
# horizontally scrolling container (that container itself must then be inside).
OVERFLOW_JS = """() => {
  const vw = document.documentElement.clientWidth;
  const scrolls = (n) => { const s = getComputedStyle(n); return /(auto|scroll|hidden)/.test(s.overflowX); };
  const out = [];
  for (const n of document.body.querySelectorAll('*')) {
    if (n.closest('dialog:not([open])') || n.closest('[hidden]') || n.closest('.enh-off')) continue;
    const r = n.getBoundingClientRect();
    if (!r.width || !r.height) continue;
    if (r.right <= vw + 1 && r.left >= -1) continue;
    let p = n.parentElement, inside = false;
    while (p && p !== document.body) { if (scrolls(p)) { inside = true; break; } p = p.parentElement; }
    if (inside) continue;
    out.push((n.id ? '#' + n.id : n.tagName.toLowerCase() + '.' + [...n.classList].join('.')) + ' ' + Math.round(r.left) + '..' + Math.round(r.right));
  }
  return {scrollWidth: document.documentElement.scrollWidth, vw, out: out.slice(0, 10)};
}"""

# Tables wider than their scroll container (a column or a button would be cut off).
# The tables a trader reads on a phone must fit whole; wider ones (the 8-column diff, the
# order log) scroll inside their container, which shows a shadow at the cut edge.
MUST_FIT = "#total-table, #versions-table, #rows-table, table.compare, .strategy-body table, #notify-channels, #notify-events"
CUT_TABLES_JS = """(sel) => [...document.querySelectorAll(sel)].map(t => t.closest('.table-wrap')).filter(Boolean)
  .filter(w => w.offsetParent && !w.closest('dialog:not([open])'))
  .filter(w => w.scrollWidth > w.clientWidth + 1).map(w => (w.querySelector('table') || w).id || w.className)"""

SMALL_TARGETS_JS = """() => [...document.querySelectorAll('main button, main a.btn, .nav a, main input[type=checkbox]')]
  .filter(n => n.offsetParent && !n.closest('dialog:not([open])') && !n.closest('.enh-off'))
  .map(n => [n.textContent.trim() || n.getAttribute('aria-label') || n.id, n.getBoundingClientRect().height,
             n.type === 'checkbox'])"""


def _small_targets(page):
    """Buttons and links under 32 px tall, checkboxes under 20 px."""
    return [t for t in page.evaluate(SMALL_TARGETS_JS) if t[1] < (19.5 if t[2] else 31.5)]


# Buttons, links and form fields without an accessible name (text, aria-label or a label).
NAMELESS_JS = """() => {
  const named = (n) => {
    if ((n.getAttribute('aria-label') || '').trim() || n.getAttribute('aria-labelledby')) return true;
    if (n.tagName === 'BUTTON' || n.tagName === 'A') return n.textContent.trim() !== '';
    if (n.id && document.querySelector('label[for="' + CSS.escape(n.id) + '"]')) return true;
    return Boolean(n.closest('label'));
  };
  return [...document.querySelectorAll('button, a[href], input:not([type=hidden]), select, textarea')]
    .filter(n => !named(n)).map(n => n.outerHTML.slice(0, 120));
}"""


def _seed(site):
    site.upload_signed("多策略V1.0", SNAPSHOT)
    site.post_internal("ADJUSTMENT_手工", [{"code": "600000.SH", "volume": -200, "cost": 10.5}])
    headers = site.instance.admin_headers()
    requests.post(
        site.url + "/api/v1/accounts",
        json={"account_id": "8886660057", "name": "主账户"},
        headers=headers,
        timeout=10,
    ).raise_for_status()
    requests.put(
        site.url + "/api/v1/accounts/8886660057/follow/多策略V1.0",
        json={"ratio": 0.5},
        headers=headers,
        timeout=10,
    ).raise_for_status()


def _check(page, label):
    page.wait_for_load_state("networkidle")
    result = page.evaluate(OVERFLOW_JS)
    assert result["scrollWidth"] <= result["vw"], (label, result)
    assert not result["out"], (label, result["out"])


def test_every_page_fits_a_phone(site):
    _seed(site)
    site.context.close()
    site.context = site.browser.new_context(
        viewport=PHONE,
        is_mobile=True,
        device_scale_factor=2,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
    )
    site.context.set_default_timeout(15000)
    site.page = page = site.context.new_page()
    page.goto(site.url + "/login")
    _check(page, "login")
    page.fill("#password", site.password)
    page.click("#login-submit")
    page.wait_for_url(site.url + "/")

    hrefs = page.eval_on_selector_all(".nav a", "as => as.map(a => a.getAttribute('href'))")
    assert len(hrefs) >= 5
    # the nav wraps: every entry is inside the viewport without sideways scrolling
    for box in page.eval_on_selector_all(
        ".nav a", "as => as.map(a => a.getBoundingClientRect().toJSON())"
    ):
        assert box["left"] >= 0 and box["right"] <= PHONE["width"], box
    pages = hrefs + [
        "/history/%E5%A4%9A%E7%AD%96%E7%95%A5V1.0",
        "/adjustment?strategy=ADJUSTMENT_%E6%89%8B%E5%B7%A5",
    ]
    for href in pages:
        page.goto(site.url + href)
        _check(page, href)
        cut = page.evaluate(CUT_TABLES_JS, MUST_FIT)
        assert not cut, (href, cut)
        small = _small_targets(page)
        nameless = page.evaluate(NAMELESS_JS)
        assert not nameless, (href, nameless)
        assert not small, (href, small)
        name = "phone-" + (
            href.split("?")[0].strip("/").replace("/", "-").split("%")[0].strip("-") or "overview"
        )
        if "?" in href or "%" in href:
            name += "-detail"
        page.screenshot(path=str(_shots() / (name + ".png")), full_page=True)

    # the dialogs of the 跟单 page fit the screen
    page.goto(site.url + "/accounts")
    card = page.locator("article.account[data-account='8886660057']")
    expect(card).to_be_visible()
    for opener, dialog in (
        ("#add-account", "#add-account-dialog"),
        ("[data-action=params]", "#params-dialog"),
        ("[data-action=token]", "#token-dialog"),
        ("[data-action=edit]", "#settings-dialog"),
        ("#notify-add", "#channel-dialog"),
    ):
        page.locator(opener).first.click()
        expect(page.locator(dialog)).to_be_visible()
        box = page.locator(dialog).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (dialog, box)
        assert box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"], (dialog, box)
        _check(page, dialog)
        page.screenshot(path=str(_shots() / ("phone-dialog-" + dialog[1:] + ".png")))
        page.keyboard.press("Escape")
        expect(page.locator(dialog)).not_to_be_visible()
    assert not [e for e in site.console_errors if "status of 4" not in e], site.console_errors


def _shots():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
