"""Hostile input never gives a 500 and never bypasses the admin lockout: JSON nested
too deep, out-of-range times, control characters (NUL) in bodies, paths and query
strings, oversized follower reports, X-Forwarded-For from an untrusted peer and over-long
limiter keys. Database-backed checks run on SQLite, MySQL/MariaDB and PostgreSQL."""

import json
import re

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from jq2qmt.server.app import create_app
from jq2qmt.store import accounts

UPLOAD = "/api/v1/positions/update"
ACCOUNT = "ACCA"
DEEP = b'{"x":' + b"[" * 100000 + b"]" * 100000 + b"}"


def error_of(response, status, field=None):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) <= {"code", "field", "message"} and " / " in error["message"]
    if field is not None:
        assert error.get("field") == field, error
    return error


def signed(client, instance, body):
    headers = instance.signed_headers("POST", UPLOAD, body)
    headers["Content-Type"] = "application/json"
    return client.post(UPLOAD, content=body, headers=headers)


def snapshot(name="s1", stock_name="浦发银行", **extra):
    body = {
        "strategy_name": name,
        "positions": [{"code": "600000.XSHG", "volume": 100, "cost": 10.0, "name": stock_name}],
    }
    body.update(extra)
    return body


def encoded(payload):
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


@pytest.fixture
def follower(instance):
    """A confirmed account ACCA and its follower token's headers."""
    db = instance.db()
    accounts.add_account(db, ACCOUNT, "主账户", "ratio", {}, confirmed=True)
    return {"Authorization": "Bearer " + accounts.create_follower_token(db, ACCOUNT, rotate=True)}


def round_report(**extra):
    body = {"kind": "round", "status": "ok", "round_id": "r-1", "plan_version": "v1", "placed": []}
    body.update(extra)
    return body


# ---- JSON nesting ---------------------------------------------------------------------------


def test_deep_json_without_credentials_is_never_a_500(instance, app_client):
    internal = app_client.post(
        UPLOAD + "/internal", content=DEEP, headers={"Content-Type": "application/json"}
    )
    assert error_of(internal, 401)["code"] == "admin_required"
    password = app_client.post(
        "/api/v1/internal/password/set", content=DEEP, headers={"Content-Type": "application/json"}
    )
    assert error_of(password, 400, "")["code"] == "json_too_deep"


def test_deep_json_with_credentials_gets_400_naming_the_body(
    db_url, instance, app_client, follower
):
    admin = dict(instance.admin_headers(), **{"Content-Type": "application/json"})
    moderately = b'{"strategy_name":"s1","positions":' + b"[" * 40 + b"]" * 40 + b"}"
    for body in (DEEP, moderately):
        for response in (
            signed(app_client, instance, body),
            app_client.post(UPLOAD + "/internal", content=body, headers=admin),
            app_client.post(
                "/api/v1/accounts/%s/reports" % ACCOUNT,
                content=body,
                headers=dict(follower, **{"Content-Type": "application/json"}),
            ),
            app_client.patch("/api/v1/accounts/%s" % ACCOUNT, content=body, headers=admin),
        ):
            error = error_of(response, 400, "")
            assert error["code"] == "json_too_deep" and "请求体" in error["message"]
    # brackets inside strings are text, not nesting
    text = snapshot(stock_name="[" * 30 + "{" * 30)
    assert signed(app_client, instance, encoded(text)).status_code == 200


# ---- times ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "as_of", ["0001-01-01T00:00:00", "9999-12-31T23:59:59-14:00", "1899-05-01T09:30:00"]
)
def test_as_of_out_of_range_gets_422_naming_it(db_url, instance, app_client, as_of):
    error = error_of(signed(app_client, instance, encoded(snapshot(as_of=as_of))), 422, "as_of")
    assert "as_of" in error["message"]
    admin = app_client.post(
        UPLOAD + "/internal", json=snapshot(as_of=as_of), headers=instance.admin_headers()
    )
    error_of(admin, 422, "as_of")
    assert (
        app_client.get(
            "/api/v1/positions/strategy/s1", headers=instance.admin_headers()
        ).status_code
        == 404
    )


# ---- control characters -----------------------------------------------------------------------

READ_PATHS = [
    "/api/v1/positions/strategy/a%00b",
    "/api/v1/strategies/a%00b/history",
    "/api/v1/strategies/a%00b/versions",
    "/api/v1/strategies/a%00b/diff",
    "/api/v1/accounts/A%00B",
    "/api/v1/accounts/A%00B/reports",
    "/api/v1/accounts/A%00B/plan",
    "/history/a%00b",
    "/api/v1/positions/strategy/a%01b",
]


def test_control_characters_in_a_path_get_404(db_url, instance, app_client):
    admin = instance.admin_headers()
    for path in READ_PATHS:
        error = error_of(app_client.get(path, headers=admin), 404)
        assert error["code"] == "not_found"
    for path in ("/api/v1/strategies/a%00b", "/api/v1/accounts/A%00B/follow/s%00"):
        error_of(app_client.delete(path, headers=admin), 404)


def test_control_characters_in_a_query_parameter_get_422_naming_it(db_url, instance, app_client):
    response = app_client.get(
        "/api/v1/positions/total?strategies=a%00b", headers=instance.admin_headers()
    )
    error = error_of(response, 422, "strategies")
    assert "strategies" in error["message"]


def test_nul_in_upload_fields_gets_422_naming_the_field(db_url, instance, app_client):
    response = signed(app_client, instance, encoded(snapshot(stock_name="浦发\x00银行")))
    error_of(response, 422, "positions[0].name")
    bad_name = app_client.post(
        UPLOAD + "/internal",
        json=snapshot(name="ADJUSTMENT_\x00x"),
        headers=instance.admin_headers(),
    )
    error_of(bad_name, 422, "strategy_name")
    assert app_client.get("/api/v1/strategies", headers=instance.admin_headers()).json() in (
        [],
        {"strategies": []},
    )


def test_nul_in_report_and_account_fields_gets_422(db_url, instance, app_client, follower):
    path = "/api/v1/accounts/%s/reports" % ACCOUNT
    error_of(
        app_client.post(path, json=round_report(round_id="r\x001"), headers=follower),
        422,
        "round_id",
    )
    error_of(
        app_client.post(
            path, json={"kind": "heartbeat", "follower": {"host": "a\x00"}}, headers=follower
        ),
        422,
        "follower.host",
    )
    nested = round_report(rejected=[{"code": "600000.SH", "reason": "x\x00"}])
    error_of(app_client.post(path, json=nested, headers=follower), 422, "rejected[0].reason")
    # tab and newline in free text are kept (error messages span lines)
    assert (
        app_client.post(
            path, json=round_report(errors=["line 1\n\tline 2"]), headers=follower
        ).status_code
        == 200
    )
    admin = instance.admin_headers()
    error_of(
        app_client.patch(
            "/api/v1/accounts/%s" % ACCOUNT, json={"name": "主\x00账户"}, headers=admin
        ),
        422,
        "name",
    )
    created = app_client.post(
        "/api/v1/accounts",
        json={"account_id": "B\x00", "name": "x", "mode": "ratio"},
        headers=admin,
    )
    error_of(created, 422, "account_id")
    key = app_client.post(
        "/api/v1/accounts",
        content=b'{"account_id": "B1", "n\\u0000": 1}',
        headers=dict(admin, **{"Content-Type": "application/json"}),
    )
    error_of(key, 422, "n\x00")
    with instance.db().read() as session:
        assert accounts.get_account(session, ACCOUNT).name == "主账户"


# ---- follower report size ---------------------------------------------------------------------


def test_a_report_over_256_kb_gets_413_and_is_not_stored(db_url, instance, app_client, follower):
    path = "/api/v1/accounts/%s/reports" % ACCOUNT
    big = round_report(errors=["x" * 1000] * 300)
    error = error_of(app_client.post(path, json=big, headers=follower), 413, "")
    assert error["code"] == "too_large" and "256 KB" in error["message"]
    fits = round_report(errors=["x" * 1000] * 200)
    assert app_client.post(path, json=fits, headers=follower).status_code == 200
    listed = app_client.get(path + "?kind=all", headers=instance.admin_headers()).json()["reports"]
    assert len(listed) == 1


def test_report_history_is_bounded_by_count_and_by_bytes(
    db_url, instance, app_client, follower, monkeypatch
):
    monkeypatch.setattr(accounts, "MAX_REPORTS_KEPT", 5)
    monkeypatch.setattr(accounts, "REPORTS_KEPT_BYTES", 3 * 20000)
    path = "/api/v1/accounts/%s/reports" % ACCOUNT
    for index in range(8):  # ~20 KB each: over REPORT_MAX_BYTES // 16, so each one prunes
        body = round_report(round_id="r-%d" % index, errors=["y" * 20000])
        assert app_client.post(path, json=body, headers=follower).status_code == 200
    kept = app_client.get(path + "?limit=50", headers=instance.admin_headers()).json()["reports"]
    assert [r["round_id"] for r in kept] == [
        "r-7",
        "r-6",
    ]  # a third one would pass 60,000 characters
    for index in range(8, 20):  # small reports: the count bound
        assert (
            app_client.post(
                path, json=round_report(round_id="r-%d" % index), headers=follower
            ).status_code
            == 200
        )
        with instance.db().write_once() as session:
            accounts._prune_reports(session, accounts.get_account(session, ACCOUNT))
    kept = app_client.get(path + "?limit=50", headers=instance.admin_headers()).json()["reports"]
    assert [r["round_id"] for r in kept] == ["r-19", "r-18", "r-17", "r-16", "r-15"]


# ---- the admin lockout ---------------------------------------------------------------------------


def wrong_guesses(client, count, **headers):
    statuses = []
    for index in range(count):
        response = client.get(
            "/api/v1/accounts", headers=dict(headers, **{"X-Internal-Password": "guess-%d" % index})
        )
        statuses.append(response.status_code)
    return statuses


def test_rotating_x_forwarded_for_does_not_escape_the_lockout_by_default(db_url, instance):
    assert instance.settings.trusted_proxies == ""
    with TestClient(create_app(instance.settings), client=("127.0.0.1", 40000)) as client:
        statuses = []
        for index in range(11):
            response = client.get(
                "/api/v1/accounts",
                headers={
                    "X-Internal-Password": "guess-%d" % index,
                    "X-Forwarded-For": "10.77.0.%d" % (index + 1),
                },
            )
            statuses.append(response.status_code)
        assert statuses == [401] * 10 + [429]
        right = client.get(
            "/api/v1/accounts",
            headers=dict(instance.admin_headers(), **{"X-Forwarded-For": "10.1.1.1"}),
        )
        error = error_of(right, 429)
        assert (
            right.headers["Retry-After"] == "300"
            and "5 分钟" in error["message"]
            and "300 seconds" in error["message"]
        )


def test_a_trusted_proxy_forwards_the_client_address_and_only_its_own_entry_counts(
    db_url, instance
):
    from dataclasses import replace

    settings = replace(instance.settings, trusted_proxies="127.0.0.1, 10.9.0.0/16")
    with TestClient(create_app(settings), client=("127.0.0.1", 40000)) as client:
        # the client wrote the left entries itself; the proxy appended the address it saw
        statuses = []
        for index in range(11):
            response = client.get(
                "/api/v1/accounts",
                headers={
                    "X-Internal-Password": "guess-%d" % index,
                    "X-Forwarded-For": "10.77.0.%d, 203.0.113.7, 10.9.0.5" % (index + 1),
                },
            )
            statuses.append(response.status_code)
        assert statuses == [401] * 10 + [429]
        # another client behind the same proxy is not locked out
        other = client.get(
            "/api/v1/accounts",
            headers=dict(instance.admin_headers(), **{"X-Forwarded-For": "203.0.113.8"}),
        )
        assert other.status_code == 200
    with TestClient(create_app(settings), client=("127.0.0.2", 40000)) as untrusted:
        # a peer that is not a trusted proxy: its X-Forwarded-For is ignored
        response = untrusted.get(
            "/api/v1/accounts",
            headers=dict(instance.admin_headers(), **{"X-Forwarded-For": "203.0.113.7"}),
        )
        assert response.status_code == 200


def test_a_long_source_label_is_counted(db_url, instance):
    label = "10.66.0.1" + "x" * 100
    with TestClient(create_app(instance.settings), client=(label, 40000)) as client:
        assert wrong_guesses(client, 11) == [401] * 10 + [429]
        error_of(client.get("/api/v1/accounts", headers=instance.admin_headers()), 429)


def test_the_login_page_says_how_long_to_wait(instance, app_client):
    for index in range(11):
        page = app_client.get("/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        response = app_client.post(
            "/login",
            data={"password": "wrong-%d" % index, "csrf_token": token, "next": "/"},
            follow_redirects=False,
        )
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "300" and "5 分钟后再试" in response.text


def test_trusted_proxies_setting_is_checked(tmp_path, instance):
    from jq2qmt.config import ConfigError, build_settings

    assert build_settings(
        tmp_path, {"trusted_proxies": "127.0.0.1, ::1, 10.0.0.0/8"}
    ).trusted_proxies
    with pytest.raises(ConfigError, match="trusted_proxies"):
        build_settings(tmp_path, {"trusted_proxies": "127.0.0.1, proxy.example"})


def test_serve_leaves_x_forwarded_for_to_the_app(instance, monkeypatch):
    import uvicorn

    from jq2qmt.cli import main

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: seen.update(options))
    result = CliRunner().invoke(
        main, ["serve", "--instance", str(instance.path)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert seen["proxy_headers"] is False


def test_the_password_page_uses_the_server_minimum(instance, app_client):
    from jq2qmt.store.credentials import MIN_PASSWORD_LENGTH

    page = app_client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    app_client.post(
        "/login", data={"password": instance.admin_password, "csrf_token": token, "next": "/"}
    )
    html = app_client.get("/password").text
    assert (
        'data-min-length="%d"' % MIN_PASSWORD_LENGTH in html
        and "至少 %d 个字符" % MIN_PASSWORD_LENGTH in html
    )


def test_the_json_decoder_finds_every_control_character_and_nothing_else():
    from jq2qmt.server.errors import ApiError
    from jq2qmt.server.limits import MAX_JSON_DEPTH, loads_json_object

    for raw, field in (
        (b'{"a": "x\\u0001"}', "a"),
        (b'{"a": ["ok", "x\\u001F"]}', "a[1]"),
        (b'{"a": {"b": "\x7f"}}', "a.b"),
        (b'{"a": "\\u007f"}', "a"),
        (b'{"\\u0000": 1}', "\x00"),
    ):
        with pytest.raises(ApiError) as refused:
            loads_json_object(raw)
        assert (refused.value.status, refused.value.field) == (422, field), raw
    # a backslash followed by "u0000" as text, and tab/LF/CR, are fine
    assert loads_json_object(b'{"a": "\\\\u0000", "b": "1\\t2\\n3\\r\\u0009"}') == {
        "a": "\\u0000",
        "b": "1\t2\n3\r\t",
    }
    deepest = b'{"a":' + b"[" * (MAX_JSON_DEPTH - 1) + b"]" * (MAX_JSON_DEPTH - 1) + b"}"
    assert loads_json_object(deepest)["a"]
    with pytest.raises(ApiError) as refused:
        loads_json_object(b'{"a":' + b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH + b"}")
    assert refused.value.code == "json_too_deep"
