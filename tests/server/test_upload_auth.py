"""Signed uploads: a valid request passes; every tampering gets 401 with a reason."""

import json
import time

import pytest

from jq2qmt import signing
from jq2qmt.instance import generate_key_pair
from jq2qmt.store import credentials

PATH = "/api/v1/positions/update"
BODY = json.dumps(
    {"strategy_name": "s1", "positions": [{"code": "600000.XSHG", "volume": 100, "cost": 10.0}]}
).encode()


def post(client, headers, body=BODY, path=PATH):
    return client.post(
        path, content=body, headers=dict(headers, **{"Content-Type": "application/json"})
    )


def reason(response):
    assert response.status_code == 401, response.text
    return response.json()["error"]["code"]


def test_valid_signed_request_passes(db_url, instance, app_client):
    response = post(app_client, instance.signed_headers("POST", PATH, BODY))
    assert response.status_code == 200, response.text
    assert response.json()["version"] == 1


def test_altered_body_is_refused(instance, app_client):
    headers = instance.signed_headers("POST", PATH, BODY)
    assert reason(post(app_client, headers, BODY.replace(b"100", b"900"))) == "bad_signature"


def test_altered_path_is_refused(instance, app_client):
    headers = instance.signed_headers("POST", "/api/v1/positions/update?x=1", BODY)
    assert reason(post(app_client, headers)) == "bad_signature"


def test_expired_timestamp_is_refused(instance, app_client):
    headers = instance.signed_headers("POST", PATH, BODY, timestamp=int(time.time()) - 360)
    assert reason(post(app_client, headers)) == "timestamp_expired"
    future = instance.signed_headers("POST", PATH, BODY, timestamp=int(time.time()) + 360)
    assert reason(post(app_client, future)) == "timestamp_expired"


def test_reused_nonce_is_refused(db_url, instance, app_client):
    headers = instance.signed_headers("POST", PATH, BODY)
    assert post(app_client, headers).status_code == 200
    assert reason(post(app_client, headers)) == "nonce_reused"


def test_unknown_client_is_refused(instance, app_client):
    headers = instance.signed_headers("POST", PATH, BODY)
    headers[signing.HEADER_CLIENT] = "someone-else"
    assert reason(post(app_client, headers)) == "unknown_client"


def test_revoked_client_is_refused(instance, app_client):
    credentials.revoke_client(instance.db(), instance.jq_client_id)
    assert reason(post(app_client, instance.signed_headers("POST", PATH, BODY))) == "client_revoked"


def test_wrong_key_is_refused(instance, app_client):
    other = signing.load_private_key(generate_key_pair("rsa")[0])
    headers = signing.signed_headers(other, instance.jq_client_id, "POST", PATH, BODY)
    assert reason(post(app_client, headers)) == "bad_signature"


@pytest.mark.parametrize(
    "drop",
    [
        signing.HEADER_CLIENT,
        signing.HEADER_TIMESTAMP,
        signing.HEADER_NONCE,
        signing.HEADER_SIGNATURE,
    ],
)
def test_missing_header_is_refused(instance, app_client, drop):
    headers = instance.signed_headers("POST", PATH, BODY)
    del headers[drop]
    assert reason(post(app_client, headers)) in ("missing_client", "missing_signature")


def test_malformed_headers_are_refused(instance, app_client):
    headers = instance.signed_headers("POST", PATH, BODY)
    assert (
        reason(post(app_client, dict(headers, **{signing.HEADER_SIGNATURE: "***"})))
        == "bad_signature"
    )
    assert (
        reason(post(app_client, dict(headers, **{signing.HEADER_TIMESTAMP: "soon"})))
        == "bad_timestamp"
    )
    bad_nonce = instance.signed_headers("POST", PATH, BODY, nonce="short")
    assert reason(post(app_client, bad_nonce)) == "bad_nonce"


def test_auth_is_checked_before_the_body(instance, app_client):
    assert reason(post(app_client, {}, body=b"not json")) == "missing_client"


def test_ed25519_client(instance, app_client):
    private_pem, public_pem = generate_key_pair("ed25519")
    credentials.add_key_client(instance.db(), "ed", public_pem)
    key = signing.load_private_key(private_pem)
    assert (
        post(app_client, signing.signed_headers(key, "ed", "POST", PATH, BODY)).status_code == 200
    )


def test_upload_token_client_uses_a_header_never_the_query(instance, app_client):
    token = credentials.add_token_client(instance.db(), "plain")
    ok = post(app_client, {signing.HEADER_CLIENT: "plain", "X-JQ2QMT-Upload-Token": token})
    assert ok.status_code == 200, ok.text
    assert (
        reason(
            post(app_client, {signing.HEADER_CLIENT: "plain", "X-JQ2QMT-Upload-Token": token + "x"})
        )
        == "bad_token"
    )
    in_query = post(app_client, {signing.HEADER_CLIENT: "plain"}, path=PATH + "?token=" + token)
    assert reason(in_query) == "secret_in_query"
    assert app_client.get("/api/v1/auth/info").json()["upload"]["token_mode_enabled"] is True


def test_token_mode_is_off_unless_chosen(instance, app_client):
    assert app_client.get("/api/v1/auth/info").json()["upload"]["token_mode_enabled"] is False
    # a signing client cannot fall back to a token
    headers = {signing.HEADER_CLIENT: instance.jq_client_id, "X-JQ2QMT-Upload-Token": "jq2qmt_x"}
    assert reason(post(app_client, headers)) == "missing_signature"


def test_nonces_are_shared_across_server_processes(db_url, instance):
    """Two app instances on one database (two processes behind a proxy): a request
    accepted by one is a replay for the other."""
    from fastapi.testclient import TestClient

    from jq2qmt.server.app import create_app

    headers = instance.signed_headers("POST", PATH, BODY)
    with (
        TestClient(create_app(instance.settings)) as first,
        TestClient(create_app(instance.settings)) as second,
    ):
        assert post(first, headers).status_code == 200
        assert reason(post(second, headers)) == "nonce_reused"


def test_old_nonces_are_pruned(instance):
    from datetime import timedelta

    from sqlalchemy import func, select

    from jq2qmt.store.models import Nonce, utcnow

    db = instance.db()
    credentials.use_nonce(db, "c", "n" * 20, 300)
    db.write(
        lambda s: s.add(
            Nonce(client_name="c", nonce="o" * 20, seen_at=utcnow() - timedelta(seconds=601))
        )
    )
    credentials.prune_nonces(db, 300)
    with db.read() as session:
        assert session.scalars(select(Nonce.nonce)).all() == ["n" * 20]
        assert session.scalar(select(func.count()).select_from(Nonce)) == 1
