"""Account management on the 跟单 page, keyboard and mouse: add and remove accounts,
trading parameters (mode, slippage, order timeout, re-prices, sessions, sell proceeds),
follow/unfollow, a follower token shown once, notification channels with a test send."""

import json
import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or fails in CI) with the reason
    expect = None

ACCOUNT = "8886660057"
HOSTILE = "<img src=x onerror=window.__pwned=1>主账户"


def _api(site, method, path, **kwargs):
    return requests.request(
        method, site.url + path, headers=site.instance.admin_headers(), timeout=10, **kwargs
    )


class Robot:
    """A local webhook that records what the test send delivers."""

    def __init__(self):
        self.got = queue.Queue()
        robot = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                robot.got.put(
                    (self.path, self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                )
                body = json.dumps({"errcode": 0, "errmsg": "ok"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_add_configure_token_and_remove_an_account(site):
    site.post_internal("多策略V1.0", [{"code": "600000.SH", "volume": 1000, "cost": 10.0}])
    page = site.login()
    page.goto(site.url + "/accounts")

    # add: a bad id is refused in the dialog, then the account is created in preflight
    page.get_by_role("button", name="＋ 新增账户").click()
    dialog = page.locator("#add-account-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#aa-id")).to_be_focused()
    page.fill("#aa-id", "坏 账户")
    page.keyboard.press("Enter")
    expect(dialog.locator("#aa-error")).to_contain_text("账户 ID")
    page.fill("#aa-id", ACCOUNT)
    page.fill("#aa-name", HOSTILE)
    page.keyboard.press("Enter")
    card = page.locator("article.account[data-account='%s']" % ACCOUNT)
    expect(card).to_be_visible()
    expect(card.locator("h2")).to_have_text(HOSTILE)  # shown as text, never as markup
    assert page.evaluate("window.__pwned") is None
    assert _api(site, "GET", "/api/v1/accounts/" + ACCOUNT).json()["mode"] == "ratio"

    # follow a strategy through the API, then try to switch the mode: refused, nothing saved
    assert (
        _api(
            site, "PUT", "/api/v1/accounts/%s/follow/多策略V1.0" % ACCOUNT, json={"ratio": 0.5}
        ).status_code
        == 200
    )
    page.wait_for_timeout(100)
    card.get_by_role("button", name=HOSTILE + " 的交易参数").click()
    params = page.locator("#params-dialog")
    expect(params).to_be_visible()
    expect(page.locator("#pm-slippage")).to_have_value("0.2")
    expect(page.locator("#pm-sessions")).to_have_value("09:30-11:30, 13:00-14:57")
    page.select_option("#pm-mode", "weight")
    page.fill("#pm-slippage", "0.5")
    page.click("#pm-save")
    expect(params.locator("#pm-error")).to_contain_text("先在「编辑设置」中取消跟随")
    assert _api(site, "GET", "/api/v1/accounts/" + ACCOUNT).json()["settings"]["slippage"] == 0.002

    # every parameter with its unit; a bad session is refused on the page
    page.select_option("#pm-mode", "ratio")
    page.fill("#pm-sessions", "九点半")
    page.click("#pm-save")
    expect(params.locator("#pm-error")).to_contain_text("交易时段")
    page.fill("#pm-sessions", "09:35-11:20, 13:05-14:50")
    page.fill("#pm-timeout", "20")
    page.fill("#pm-reprices", "2")
    page.check("#pm-proceeds")
    page.click("#pm-save")
    expect(params).not_to_be_visible()
    settings = _api(site, "GET", "/api/v1/accounts/" + ACCOUNT).json()["settings"]
    assert (
        settings["slippage"] == 0.005
        and settings["order_timeout"] == 20
        and settings["max_reprices"] == 2
    )
    assert (
        settings["sessions"] == [["09:35", "11:20"], ["13:05", "14:50"]]
        and settings["use_sell_proceeds"] is True
    )
    # server-side limits come back with a Chinese field name
    card.get_by_role("button", name=HOSTILE + " 的交易参数").click()
    page.fill("#pm-reprices", "1.5")
    page.click("#pm-save")
    expect(params.locator("#pm-error")).to_contain_text("最多重新报价：须为 0–100 的整数")
    page.keyboard.press("Escape")
    expect(params).not_to_be_visible()

    # token: shown once, works, a second one needs the explicit rotation
    card.get_by_role("button", name=HOSTILE + " 的跟单令牌").click()
    token_dialog = page.locator("#token-dialog")
    page.click("#tk-create")
    expect(page.locator("#tk-value")).not_to_have_value("")
    token = page.input_value("#tk-value")
    expect(page.locator("#tk-value")).to_be_focused()
    site.screenshot("account-token-shown-once")
    plan = requests.get(
        site.url + "/api/v1/accounts/%s/plan" % ACCOUNT,
        headers={"Authorization": "Bearer " + token},
        timeout=10,
    )
    assert plan.status_code == 200
    page.click("#tk-close")
    expect(token_dialog).not_to_be_visible()
    card.get_by_role("button", name=HOSTILE + " 的跟单令牌").click()
    expect(page.locator("#tk-value")).to_have_value("")  # never shown again
    page.click("#tk-create")
    expect(page.locator("#tk-error")).to_contain_text("已有跟单令牌")
    page.check("#tk-rotate")
    page.click("#tk-create")
    expect(page.locator("#tk-value")).not_to_have_value("")
    assert page.input_value("#tk-value") != token
    page.keyboard.press("Escape")
    assert (
        requests.get(
            site.url + "/api/v1/accounts/%s/plan" % ACCOUNT,
            headers={"Authorization": "Bearer " + token},
            timeout=10,
        ).status_code
        == 401
    )

    # unfollow in the settings dialog, then the mode can change
    card.get_by_role("button", name=HOSTILE + "：编辑设置").click()
    page.locator("#settings-dialog tr[data-strategy='多策略V1.0'] button").click()
    page.click("#s-save")
    expect(page.locator("#settings-dialog")).not_to_be_visible()
    assert _api(site, "GET", "/api/v1/accounts/" + ACCOUNT).json()["strategies"] == []
    card.get_by_role("button", name=HOSTILE + " 的交易参数").click()
    page.select_option("#pm-mode", "weight")
    page.click("#pm-save")
    expect(params).not_to_be_visible()
    assert _api(site, "GET", "/api/v1/accounts/" + ACCOUNT).json()["mode"] == "weight"

    # remove: the confirmation wants the id typed
    card.get_by_role("button", name="删除账户 " + HOSTILE).click()
    remove = page.locator("#remove-account-dialog")
    expect(remove).to_contain_text("不能撤销")
    page.fill("#ra-confirm", "8886660058")
    page.click("#ra-save")
    expect(remove.locator("#ra-error")).to_contain_text("不一致")
    assert _api(site, "GET", "/api/v1/accounts/" + ACCOUNT).status_code == 200
    page.fill("#ra-confirm", ACCOUNT)
    page.click("#ra-save")
    expect(card).to_have_count(0)
    assert _api(site, "GET", "/api/v1/accounts/" + ACCOUNT).status_code == 404
    expect(page.locator("#add-account")).to_be_focused()
    assert not [e for e in site.console_errors if "status of 4" not in e], site.console_errors


def test_notification_channels_add_test_send_switch_event_and_remove(site):
    robot = Robot()
    try:
        page = site.login()
        page.goto(site.url + "/accounts")
        expect(page.locator("#notify-channels")).to_contain_text("还没有通知渠道")
        page.get_by_role("button", name="＋ 添加渠道").click()
        page.fill("#ch-name", "交易群<b>")
        page.fill("#ch-url", "not-a-url")
        page.click("#ch-save")
        expect(page.locator("#ch-error")).to_contain_text("Webhook 地址")
        page.fill("#ch-url", robot.url + "/robot/send?access_token=secret-tok-987")
        page.fill("#ch-secret", "SECxyz")
        page.click("#ch-save")
        row = page.locator("#notify-channels tr[data-channel='交易群<b>']")
        expect(row).to_contain_text("钉钉")
        expect(row.locator("td").first).to_have_text("交易群<b>")
        assert "secret-tok-987" not in page.content() and "SECxyz" not in page.content()
        expect(row.get_by_role("button", name="向 交易群<b> 发送测试消息")).to_be_focused()

        row.get_by_role("button", name="向 交易群<b> 发送测试消息").click()
        expect(page.locator("#flash")).to_contain_text("交易群<b>：已发送")
        path, _body = robot.got.get(timeout=10)
        assert path.startswith("/robot/send?access_token=secret-tok-987")
        expect(page.locator("#notify-recent")).to_contain_text("已发送")

        # the email form asks for its own fields
        page.get_by_role("button", name="＋ 添加渠道").click()
        page.select_option("#ch-kind", "email")
        expect(page.locator("#ch-host")).to_be_visible()
        expect(page.locator("#ch-url")).to_be_hidden()
        page.fill("#ch-name", "邮件")
        page.fill("#ch-port", "99999")
        page.click("#ch-save")
        expect(page.locator("#ch-error")).to_contain_text("端口")
        page.keyboard.press("Escape")

        held = page.locator("#notify-events tr[data-event='plan_held'] input[type=checkbox]")
        expect(held).to_be_checked()
        held.uncheck()
        expect(page.locator("#flash")).to_contain_text("已关闭")
        events = {e["event"]: e for e in _api(site, "GET", "/api/v1/notify").json()["events"]}
        assert events["plan_held"]["enabled"] is False
        site.screenshot("account-notify-channels")

        page.once("dialog", lambda d: d.accept())
        row.get_by_role("button", name="删除渠道 交易群<b>").click()
        expect(page.locator("#notify-channels")).to_contain_text("还没有通知渠道")
        assert _api(site, "GET", "/api/v1/notify").json()["channels"] == []
    finally:
        robot.close()


NAMELESS_JS = """() => {
  const named = (n) => {
    if ((n.getAttribute('aria-label') || '').trim()) return true;
    if (n.getAttribute('aria-labelledby')) return true;
    if (n.tagName === 'BUTTON' || n.tagName === 'A') return n.textContent.trim() !== '';
    if (n.id && document.querySelector('label[for="' + CSS.escape(n.id) + '"]')) return true;
    return Boolean(n.closest('label'));
  };
  return [...document.querySelectorAll('button, a[href], input:not([type=hidden]), select, textarea')]
    .filter(n => !named(n)).map(n => n.outerHTML.slice(0, 120));
}"""


def test_keyboard_only_skip_link_dialog_focus_trap_and_names(site):
    site.post_internal("多策略V1.0", [{"code": "600000.SH", "volume": 1000, "cost": 10.0}])
    page = site.goto("/login")
    expect(page.locator("#password")).to_be_focused()
    page.keyboard.type(site.password)
    page.keyboard.press("Enter")
    page.wait_for_url(site.url + "/")
    page.goto(site.url + "/accounts")
    expect(page.locator("#notify-channels")).to_contain_text("还没有通知渠道")
    assert not page.evaluate(NAMELESS_JS), page.evaluate(NAMELESS_JS)

    # the first Tab reaches the skip link; Enter moves to the content
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="跳到主要内容")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    # Tab walks to 新增账户 (the refresh state text is not focusable)
    for _ in range(5):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "add-account":
            break
    expect(page.locator("#add-account")).to_be_focused()
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", ""), outline  # a visible focus ring
    page.keyboard.press("Enter")
    dialog = page.locator("#add-account-dialog")
    expect(page.locator("#aa-id")).to_be_focused()

    # Tab and Shift+Tab stay inside the dialog
    for _ in range(8):
        page.keyboard.press("Tab")
        assert (
            page.evaluate(
                "document.activeElement.closest('dialog') && document.activeElement.closest('dialog').id"
            )
            == "add-account-dialog"
        )
    page.locator("#aa-id").focus()
    page.keyboard.press("Shift+Tab")
    expect(page.locator("#aa-save")).to_be_focused()
    # Esc closes and the focus goes back to the opener
    page.keyboard.press("Escape")
    expect(dialog).not_to_be_visible()
    expect(page.locator("#add-account")).to_be_focused()

    # create an account with the keyboard only; the focus lands on the new card
    page.keyboard.press("Enter")
    page.keyboard.type("kbd-001")
    page.keyboard.press("Tab")
    page.keyboard.type("键盘账户")
    page.keyboard.press("Enter")
    card = page.locator("article.account[data-account='kbd-001']")
    expect(card).to_be_visible()
    expect(card.get_by_role("button", name="键盘账户：编辑设置")).to_be_focused()
    assert not page.evaluate(NAMELESS_JS), page.evaluate(NAMELESS_JS)

    # token dialog by keyboard: the token is focused and selected for copying; Esc returns
    card.get_by_role("button", name="键盘账户 的跟单令牌").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#tk-create")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#tk-value")).to_be_focused()
    assert (
        page.evaluate("document.activeElement.selectionEnd - document.activeElement.selectionStart")
        > 20
    )
    page.evaluate("window.jq2qmt.reload()")  # the 15 s refresh replaces the card under the dialog
    page.wait_for_timeout(300)
    page.keyboard.press("Escape")
    expect(card.get_by_role("button", name="键盘账户 的跟单令牌")).to_be_focused()


def test_keyboard_focus_survives_the_auto_refresh_and_a_save(site):
    site.post_internal("ADJUSTMENT_手工", [{"code": "600000.SH", "volume": -200, "cost": 10.5}])
    requests.post(
        site.url + "/api/v1/accounts",
        json={"account_id": "kbd-002", "name": "刷新账户"},
        headers=site.instance.admin_headers(),
        timeout=10,
    ).raise_for_status()
    page = site.login()
    page.goto(site.url + "/accounts")
    button = page.get_by_role("button", name="刷新账户 的交易参数")
    button.focus()
    old = button.element_handle()
    page.evaluate("window.jq2qmt.reload()")  # what the 15 s refresh does: every card is rebuilt
    page.wait_for_function("h => !h.isConnected", arg=old)
    expect(page.get_by_role("button", name="刷新账户 的交易参数")).to_be_focused()

    # 保存 on 持仓调整 disables the button; the next Tab continues after it, not at the top
    page.goto(site.url + "/adjustment?strategy=ADJUSTMENT_%E6%89%8B%E5%B7%A5")
    expect(page.locator("#rows-table")).to_contain_text("600000.SH")
    page.locator("#rows-table tbody button").first.click()
    dialog = page.locator("dialog[open]")
    dialog.locator("input").nth(1).fill("-300")
    page.keyboard.press("Enter")
    expect(dialog).to_have_count(0)
    page.locator("#save").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#save")).to_be_disabled()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('main') !== null"), (
        "Tab after 保存 went to the top"
    )
