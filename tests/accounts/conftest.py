"""Helpers of the account tests, handed out as the `acc` fixture (test modules must
not import a conftest by name: several folders have one)."""

import json
import re

import pytest

ACCOUNT = "8886660057"
OTHER = "8886660099"
STRATEGY = "多策略V1.0"
UPLOAD = "/api/v1/positions/update"


def snapshot(name=STRATEGY, positions=None, total_value=None):
    body = {
        "strategy_name": name,
        "positions": [
            {"code": c, "volume": v, "cost": 10.0, "name": c}
            for c, v in sorted((positions or {}).items())
        ],
    }
    if total_value is not None:
        body["portfolio"] = {"total_value": total_value, "cash": 0.0}
    return body


def upload(client, instance, name=STRATEGY, positions=None, total_value=None):
    """A signed JoinQuant upload through a TestClient."""
    body = json.dumps(snapshot(name, positions, total_value), ensure_ascii=False).encode("utf-8")
    headers = instance.signed_headers("POST", UPLOAD, body)
    headers["Content-Type"] = "application/json"
    response = client.post(UPLOAD, content=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def upload_http(base_url, instance, name=STRATEGY, positions=None, total_value=None):
    """The same upload over real HTTP to a live server."""
    import requests

    body = json.dumps(snapshot(name, positions, total_value), ensure_ascii=False).encode("utf-8")
    headers = instance.signed_headers("POST", UPLOAD, body)
    headers["Content-Type"] = "application/json"
    response = requests.post(base_url + UPLOAD, data=body, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def error_of(response, status, field=None):
    """The error object of a response, checked for the API's error shape."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) <= {"code", "field", "message"} and " / " in error["message"]
    if field is not None:
        assert error.get("field") == field, error
    return error


def bearer(token):
    return {"Authorization": "Bearer " + token}


class Helpers:
    ACCOUNT = ACCOUNT
    OTHER = OTHER
    STRATEGY = STRATEGY
    snapshot = staticmethod(snapshot)
    upload = staticmethod(upload)
    upload_http = staticmethod(upload_http)
    error_of = staticmethod(error_of)
    bearer = staticmethod(bearer)

    @staticmethod
    def add_account(client, headers, account_id=ACCOUNT, mode="ratio", **settings):
        body = {"account_id": account_id, "name": "主账户", "mode": mode}
        if settings:
            body["settings"] = settings
        response = client.post("/api/v1/accounts", json=body, headers=headers)
        assert response.status_code == 201, response.text
        return response.json()

    @staticmethod
    def follow(client, headers, account_id=ACCOUNT, strategy=STRATEGY, **how):
        response = client.put(
            "/api/v1/accounts/%s/follow/%s" % (account_id, strategy), json=how, headers=headers
        )
        assert response.status_code == 200, response.text
        return response.json()

    @staticmethod
    def store_account(
        instance, account_id=ACCOUNT, mode="ratio", follow=None, confirmed=True, **settings
    ):
        """Create an account (and follows, {strategy: ratio|capital}) straight in the store;
        confirmed (past its preflight, so it trades) unless `confirmed=False`."""
        from jq2qmt.store import accounts

        db = instance.db()
        accounts.add_account(db, account_id, "主账户", mode, settings, confirmed=confirmed)
        for strategy, value in (follow or {}).items():
            if mode == "ratio":
                accounts.set_follow(db, account_id, strategy, ratio=value)
            else:
                accounts.set_follow(db, account_id, strategy, capital=value)

    @staticmethod
    def revision(instance, account_id=ACCOUNT):
        from jq2qmt.store import accounts

        with instance.db().read() as session:
            row = accounts.get_account(session, account_id)
            return row.revision, row.settings_json, row.paused, row.dry_run, row.name, row.mode

    @classmethod
    def followed_account(cls, instance, client):
        """The account following the strategy x0.5 after one upload; its follower token."""
        cls.store_account(instance, follow={STRATEGY: 0.5})
        upload(
            client, instance, positions={"600000.XSHG": 1000, "000001.XSHE": 300}, total_value=1e6
        )
        return cls.follower_token(instance)

    @staticmethod
    def follower_token(instance, account_id=ACCOUNT):
        from jq2qmt.store import accounts

        return accounts.create_follower_token(instance.db(), account_id, rotate=True)


@pytest.fixture
def acc():
    return Helpers()


@pytest.fixture
def admin(app_client, instance):
    """Admin headers of a web login session (cookie + CSRF token): one password check
    per test instead of one argon2 verification per request. The client's cookie jar
    is emptied again, so requests without these headers stay anonymous."""
    page = app_client.get("/login").text
    login_csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = app_client.post(
        "/login",
        data={"password": instance.admin_password, "csrf_token": login_csrf, "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    cookie = response.cookies["jq2qmt_session"]
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', app_client.get("/").text).group(1)
    app_client.cookies.clear()
    return {"Cookie": "jq2qmt_session=%s" % cookie, "X-CSRF-Token": csrf}
