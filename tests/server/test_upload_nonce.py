"""A signed upload records its nonce in the same write transaction as the snapshot;
a refused upload (400, 409, 422) still spends the nonce, so no replay is applied."""

import json
import threading

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from jq2qmt.server.app import create_app
from jq2qmt.store.models import Nonce, StrategyVersion

PATH = "/api/v1/positions/update"


def body(as_of=None, volume=100):
    payload = {
        "strategy_name": "s1",
        "positions": [{"code": "600000.XSHG", "volume": volume, "cost": 10.0}],
    }
    if as_of:
        payload["as_of"] = as_of
    return json.dumps(payload).encode()


def post(client, headers, data):
    return client.post(
        PATH, content=data, headers=dict(headers, **{"Content-Type": "application/json"})
    )


def counts(instance):
    with instance.db().read() as session:
        return (
            session.scalar(select(func.count()).select_from(Nonce)),
            session.scalar(select(func.count()).select_from(StrategyVersion)),
        )


def test_refused_uploads_spend_their_nonce(db_url, instance, app_client):
    assert (
        post(
            app_client,
            instance.signed_headers("POST", PATH, body("2026-11-25T10:00:00")),
            body("2026-11-25T10:00:00"),
        ).status_code
        == 200
    )
    refused = [
        (body("2026-11-25T09:00:00", 200), 409, "stale_snapshot"),
        (
            json.dumps(
                {"strategy_name": "s1", "positions": [{"code": "bad", "volume": 1, "cost": 1}]}
            ).encode(),
            422,
            "invalid_field",
        ),
        (b"not json", 400, "invalid_json"),
    ]
    for data, status, code in refused:
        headers = instance.signed_headers("POST", PATH, data)
        first = post(app_client, headers, data)
        assert (first.status_code, first.json()["error"]["code"]) == (status, code)
        replay = post(app_client, headers, data)
        assert (replay.status_code, replay.json()["error"]["code"]) == (401, "nonce_reused")
    assert counts(instance) == (4, 1)


def test_concurrent_copies_of_one_signed_upload_apply_once(db_url, instance):
    data = body(volume=300)
    headers = instance.signed_headers("POST", PATH, data)
    statuses = []
    with (
        TestClient(create_app(instance.settings)) as first,
        TestClient(create_app(instance.settings)) as second,
    ):

        def send(client):
            response = post(client, headers, data)
            statuses.append((response.status_code, response.json().get("error", {}).get("code")))

        # FastAPI analyses its routes on an app's first request; two threads doing that
        # at once make pydantic warn (an error here): the apps answer one request each first
        for client in (first, second):
            assert client.get("/healthz").status_code == 200
        threads = [threading.Thread(target=send, args=(c,)) for c in (first, second, first, second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(statuses, key=str) == [(200, None)] + [(401, "nonce_reused")] * 3
    assert counts(instance) == (1, 1)
