"""Login sessions without a browser: the signed cookie, the key file, and the HTTP
rules around them (login, CSRF, logout, password change) through the real app."""

import os
import stat
import sys

import pytest

from jq2qmt.server.sessions import COOKIE_NAME, CSRF_HEADER, SessionSigner, load_or_create_key


@pytest.fixture
def signer(tmp_path):
    return SessionSigner(load_or_create_key(tmp_path / "secret_key"), max_age=3600)


def test_key_file_created_once_private_and_reused(tmp_path):
    path = tmp_path / "secret_key"
    first = load_or_create_key(path)
    assert len(first) == 32
    assert load_or_create_key(path) == first
    if sys.platform != "win32":
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_cookie_round_trip_and_csrf(signer):
    cookie, session = signer.issue("hash-1", now=1000)
    again = signer.verify(cookie, "hash-1", now=1001)
    assert again is not None and again.csrf_token == session.csrf_token
    assert again.csrf_matches(session.csrf_token)
    assert not again.csrf_matches("")
    assert not again.csrf_matches(session.csrf_token + "x")


@pytest.mark.parametrize(
    "case", ["expired", "password_changed", "tampered", "other_key", "garbage", "future"]
)
def test_cookie_refused(signer, tmp_path, case):
    cookie, _ = signer.issue("hash-1", now=1000)
    password_hash, now = "hash-1", 1001
    if case == "expired":
        now = 1000 + 3600
    elif case == "password_changed":
        password_hash = "hash-2"
    elif case == "tampered":
        head, payload, sig = cookie.split(".")
        cookie = "%s.%s.%s" % (head, payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB"), sig)
    elif case == "other_key":
        other = SessionSigner(load_or_create_key(tmp_path / "other_key"))
        cookie, _ = other.issue("hash-1", now=1000)
    elif case == "garbage":
        cookie = "v1.not-base64!.x"
    elif case == "future":
        cookie, _ = signer.issue("hash-1", now=1000 + 7200)
    assert signer.verify(cookie, password_hash, now=now) is None


def _login(client, password):
    page = client.get("/login")
    assert page.status_code == 200
    token = client.cookies.get("jq2qmt_login_csrf")
    return client.post(
        "/login",
        data={"password": password, "csrf_token": token, "next": "/"},
        follow_redirects=False,
    )


def _csrf_of(client):
    html = client.get("/").text
    marker = 'name="csrf-token" content="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def test_login_sets_strict_httponly_cookie(app_client, instance):
    resp = _login(app_client, instance.admin_password)
    assert resp.status_code == 303 and resp.headers["location"] == "/"
    set_cookie = [
        v
        for k, v in resp.headers.multi_items()
        if k.lower() == "set-cookie" and v.startswith(COOKIE_NAME)
    ]
    assert set_cookie, resp.headers
    attrs = set_cookie[0].lower()
    assert (
        "httponly" in attrs and "samesite=strict" in attrs and "secure" not in attrs
    )  # plain http here
    assert app_client.get("/api/v1/positions/all").status_code == 200


def test_pages_redirect_to_login_without_session(app_client):
    for path in ("/", "/adjustment", "/history", "/history/x", "/accounts", "/password"):
        resp = app_client.get(path, follow_redirects=False)
        assert resp.status_code == 303, path
        assert resp.headers["location"].startswith("/login?next=")


def test_wrong_password_refused_and_rate_limited(app_client, instance):
    statuses = [
        _login(app_client, "wrong-password").status_code
        for _ in range(instance.settings.admin_max_failures + 1)
    ]
    assert statuses[0] == 401
    assert statuses[-1] == 429
    # the limiter is the server's: the right password is refused too while it lasts
    assert _login(app_client, instance.admin_password).status_code == 429


def test_login_form_needs_its_csrf_cookie(app_client, instance):
    resp = app_client.post(
        "/login",
        data={"password": instance.admin_password, "csrf_token": "forged"},
        follow_redirects=False,
    )
    assert resp.status_code == 403
    assert COOKIE_NAME not in resp.headers.get("set-cookie", "")


def test_open_redirect_refused(app_client, instance):
    app_client.get("/login")
    token = app_client.cookies.get("jq2qmt_login_csrf")
    resp = app_client.post(
        "/login",
        data={"password": instance.admin_password, "csrf_token": token, "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert resp.headers["location"] == "/"


def test_session_write_needs_csrf_header(app_client, instance):
    _login(app_client, instance.admin_password)
    body = {
        "strategy_name": "S1",
        "positions": [{"code": "600000.SH", "volume": 100, "cost": 10.0}],
    }
    refused = app_client.post("/api/v1/positions/update/internal", json=body)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_failed"
    wrong = app_client.post(
        "/api/v1/positions/update/internal", json=body, headers={CSRF_HEADER: "nope"}
    )
    assert wrong.status_code == 403
    assert app_client.get("/api/v1/positions/all").json()["strategies"] == []
    ok = app_client.post(
        "/api/v1/positions/update/internal", json=body, headers={CSRF_HEADER: _csrf_of(app_client)}
    )
    assert ok.status_code == 200, ok.text
    history = app_client.get("/api/v1/strategies/S1/history").json()
    assert history["versions"][0]["source"] == "admin"


def test_password_change_ends_every_session(app_client, instance):
    _login(app_client, instance.admin_password)
    csrf = _csrf_of(app_client)
    new_password = "Kx7-long-enough-passphrase"
    resp = app_client.post(
        "/api/v1/internal/password/set",
        headers={CSRF_HEADER: csrf},
        json={"current_password": instance.admin_password, "new_password": new_password},
    )
    assert resp.status_code == 200, resp.text
    assert app_client.get("/api/v1/positions/all").status_code == 401
    assert app_client.get("/", follow_redirects=False).status_code == 303
    assert _login(app_client, new_password).status_code == 303


def test_logout_needs_csrf_and_clears_cookie(app_client, instance):
    _login(app_client, instance.admin_password)
    assert (
        app_client.post("/logout", data={"csrf_token": "bad"}, follow_redirects=False).status_code
        == 403
    )
    resp = app_client.post(
        "/logout", data={"csrf_token": _csrf_of(app_client)}, follow_redirects=False
    )
    assert resp.status_code == 303
    assert app_client.get("/api/v1/positions/all").status_code == 401


def test_static_files_served_with_licence(app_client):
    js = app_client.get(
        "/static/vendor/echarts/echarts.common.min.js?v=1", headers={"Accept-Encoding": "gzip"}
    )
    assert js.status_code == 200 and "immutable" in js.headers["cache-control"]
    assert js.headers["content-encoding"] == "gzip"
    assert "Apache License" in js.text[:1000]
    notice = app_client.get("/static/vendor/echarts/NOTICE.txt")
    assert "Apache ECharts" in notice.text


def test_cookie_is_secure_over_https(instance):
    from fastapi.testclient import TestClient

    from jq2qmt.server.app import create_app

    with TestClient(create_app(instance.settings), base_url="https://testserver") as client:
        resp = _login(client, instance.admin_password)
        assert resp.status_code == 303
        set_cookie = [
            v
            for k, v in resp.headers.multi_items()
            if k.lower() == "set-cookie" and v.startswith(COOKIE_NAME)
        ]
        assert "secure" in set_cookie[0].lower()


def test_pages_send_security_headers(app_client, instance):
    _login(app_client, instance.admin_password)
    resp = app_client.get("/")
    assert "script-src 'self'" in resp.headers["content-security-policy"]
    assert resp.headers["x-frame-options"] == "DENY"
    assert resp.headers["cache-control"] == "no-store"


def test_session_valid_on_another_server_process_and_key_created_on_first_use(instance):
    from fastapi.testclient import TestClient

    from jq2qmt.server.app import create_app

    key_path = instance.settings.secret_key_path
    key_path.unlink()  # an instance from before the web UI: the key is made on first use
    with (
        TestClient(create_app(instance.settings)) as first,
        TestClient(create_app(instance.settings)) as second,
    ):
        assert _login(first, instance.admin_password).status_code == 303
        assert key_path.exists()
        if sys.platform != "win32":
            assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
        second.cookies.set(COOKIE_NAME, first.cookies.get(COOKIE_NAME))
        assert second.get("/api/v1/positions/all").status_code == 200
