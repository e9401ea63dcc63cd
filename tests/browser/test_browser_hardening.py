"""In a real browser: the password page applies the server's minimum length (a
10-character password the CLI accepts is accepted here too), a logged-out session's
copied cookie no longer opens the pages, and the lockout page says how long to wait."""

import re

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or fails in CI) with the reason
    expect = None


def test_password_page_takes_the_server_minimum_length(site):
    from jq2qmt.store.credentials import MIN_PASSWORD_LENGTH

    page = site.login()
    page.goto(site.url + "/password")
    expect(page.locator("#strength-text")).to_contain_text("至少 %d 个字符" % MIN_PASSWORD_LENGTH)
    page.fill("#new-password", "Abcdef12!")  # one short
    expect(page.locator("#strength-text")).to_contain_text("还差 1 个字符")
    page.fill(
        "#new-password", "Abcdef123!"
    )  # exactly the minimum: accepted by the server and the CLI
    expect(page.locator("#strength-text")).not_to_contain_text("太短")


def test_a_copied_cookie_stops_working_after_logout(site):
    page = site.login()
    copied = [dict(c) for c in site.context.cookies() if c["name"] == "jq2qmt_session"]
    page.click("#logout")
    expect(page.locator(".alert-info")).to_contain_text("已退出登录")
    site.context.add_cookies(copied)  # the cookie as it was before the logout
    page.goto(site.url + "/accounts")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    site.screenshot("logged-out-cookie-refused")


def test_lockout_page_says_how_long_to_wait(site):
    page = site.goto("/login")
    for index in range(11):
        page.fill("#password", "wrong-%d" % index)
        page.click("#login-submit")
        page.wait_for_load_state()
    expect(page.locator("#login-error")).to_contain_text("5 分钟后再试")
    site.screenshot("login-locked-out")
