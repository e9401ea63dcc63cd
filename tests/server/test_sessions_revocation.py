"""Web login sessions live in the database: logout ends a session on the server (a
copied cookie stops working), the admin lists and revokes sessions (CLI and API), and
a password change ends every session. All three backends."""

import base64
import json
import re

from click.testing import CliRunner
from fastapi.testclient import TestClient

from jq2qmt.cli import main
from jq2qmt.server.app import create_app

SESSIONS = "/api/v1/internal/sessions"


def login(client, password):
    """(cookie headers, session cookie value) of a fresh web login."""
    page = client.get("/login").text
    login_csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post(
        "/login",
        data={"password": password, "csrf_token": login_csrf, "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    cookie = response.cookies["jq2qmt_session"]
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").text).group(1)
    client.cookies.clear()
    return {"Cookie": "jq2qmt_session=%s" % cookie, "X-CSRF-Token": csrf}


def cli(instance, *args):
    return CliRunner().invoke(
        main, list(args) + ["--instance", str(instance.path)], catch_exceptions=False
    )


def test_a_cookie_copied_before_logout_is_refused_after_it(db_url, instance, app_client):
    copied = login(app_client, instance.admin_password)
    assert app_client.get("/api/v1/accounts", headers=copied).status_code == 200
    logout = app_client.post(
        "/logout",
        data={"csrf_token": copied["X-CSRF-Token"]},
        headers={"Cookie": copied["Cookie"]},
        follow_redirects=False,
    )
    assert logout.status_code == 303
    # the same cookie and CSRF token, sent again after the logout
    assert app_client.get("/api/v1/accounts", headers=copied).status_code == 401
    pause = app_client.post("/api/v1/accounts/ACCB/pause", headers=copied)
    assert pause.status_code == 401, pause.text
    page = app_client.get("/", headers={"Cookie": copied["Cookie"]}, follow_redirects=False)
    assert page.status_code in (302, 303, 307) and "/login" in page.headers["location"]


def test_logout_is_seen_by_another_server_process(db_url, instance, app_client):
    copied = login(app_client, instance.admin_password)
    # a second app over the same database stands for a second worker process
    with TestClient(create_app(instance.settings)) as other:
        assert other.get("/api/v1/accounts", headers=copied).status_code == 200
        app_client.post(
            "/logout",
            data={"csrf_token": copied["X-CSRF-Token"]},
            headers={"Cookie": copied["Cookie"]},
        )
        assert other.get("/api/v1/accounts", headers=copied).status_code == 401


def session_id(headers):
    """The session id carried (signed) in a session cookie's payload."""
    payload = headers["Cookie"].split("=", 1)[1].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sid"]


def test_admin_lists_and_revokes_sessions_through_the_api(db_url, instance, app_client):
    first = login(app_client, instance.admin_password)
    second = login(app_client, instance.admin_password)
    admin = instance.admin_headers()
    listed = app_client.get(SESSIONS, headers=admin)
    assert listed.status_code == 200
    rows = listed.json()["sessions"]
    assert sorted(r["id"] for r in rows) == sorted([session_id(first), session_id(second)])
    assert {r["remote_addr"] for r in rows} == {"testclient"}
    assert (
        first["X-CSRF-Token"] not in listed.text
        and first["Cookie"].split("=", 1)[1] not in listed.text
    )
    # a session write without its CSRF token revokes nothing
    refused = app_client.delete(
        SESSIONS + "/" + session_id(second), headers={"Cookie": first["Cookie"]}
    )
    assert refused.status_code == 403
    assert app_client.get("/api/v1/accounts", headers=second).status_code == 200
    # revoked from the first session: the second one ends, the first one goes on
    revoked = app_client.delete(SESSIONS + "/" + session_id(second), headers=first)
    assert revoked.status_code == 200 and revoked.json()["revoked"] == 1
    assert app_client.get("/api/v1/accounts", headers=second).status_code == 401
    assert app_client.get("/api/v1/accounts", headers=first).status_code == 200
    assert [r["id"] for r in app_client.get(SESSIONS, headers=admin).json()["sessions"]] == [
        session_id(first)
    ]
    for missing in (session_id(second), "0" * 32, "not-an-id"):
        assert app_client.delete(SESSIONS + "/" + missing, headers=admin).status_code == 404
    everything = app_client.delete(SESSIONS, headers=admin)
    assert everything.status_code == 200 and everything.json()["revoked"] == 1
    assert app_client.get("/api/v1/accounts", headers=first).status_code == 401
    assert app_client.get(SESSIONS, headers=admin).json()["sessions"] == []
    assert app_client.get(SESSIONS).status_code == 401


def test_cli_lists_and_revokes_sessions(db_url, instance, app_client):
    session = login(app_client, instance.admin_password)
    listed = cli(instance, "sessions", "list")
    assert listed.exit_code == 0, listed.output
    sid = re.search(r"^([0-9a-f]{32})\s", listed.output, re.M).group(1)
    assert "testclient" in listed.output
    short = cli(instance, "sessions", "revoke", "abc")
    assert short.exit_code != 0 and "no active session" in short.output
    assert cli(instance, "sessions", "revoke").exit_code != 0  # neither an id nor --all
    revoked = cli(instance, "sessions", "revoke", sid[:10])
    assert revoked.exit_code == 0 and "revoked 1" in revoked.output, revoked.output
    assert app_client.get("/api/v1/accounts", headers=session).status_code == 401
    again = cli(instance, "sessions", "revoke", sid)
    assert again.exit_code != 0
    other = login(app_client, instance.admin_password)
    assert cli(instance, "sessions", "revoke", "--all").exit_code == 0
    assert app_client.get("/api/v1/accounts", headers=other).status_code == 401
    assert "no active session" in cli(instance, "sessions", "list").output


def test_a_password_change_ends_every_session(db_url, instance, app_client):
    keeping = login(app_client, instance.admin_password)
    changing = login(app_client, instance.admin_password)
    new_password = "Another-Pass-2026!"
    changed = app_client.post(
        "/api/v1/internal/password/set",
        headers=changing,
        json={"current_password": instance.admin_password, "new_password": new_password},
    )
    assert changed.status_code == 200, changed.text
    assert app_client.get("/api/v1/accounts", headers=keeping).status_code == 401
    assert app_client.get("/api/v1/accounts", headers=changing).status_code == 401
    assert (
        app_client.get(SESSIONS, headers={"X-Internal-Password": new_password}).json()["sessions"]
        == []
    )
