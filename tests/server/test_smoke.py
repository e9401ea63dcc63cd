"""The fixtures work end to end: signed upload, read back, live server restart."""

import json

import httpx


def _upload(client, instance, payload):
    body = json.dumps(payload).encode("utf-8")
    headers = instance.signed_headers("POST", "/api/v1/positions/update", body)
    headers["Content-Type"] = "application/json"
    return client.post("/api/v1/positions/update", content=body, headers=headers)


def test_signed_upload_then_read(db_url, instance, app_client):
    response = _upload(
        app_client,
        instance,
        {
            "strategy_name": "多策略V1.0",
            "positions": [{"code": "600000.XSHG", "volume": 1000, "cost": 10.5}],
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["version"] == 1
    token = instance.reader_token()
    got = app_client.get(
        "/api/v1/positions/strategy/多策略V1.0", headers={"Authorization": "Bearer " + token}
    )
    assert got.status_code == 200
    assert got.json()["positions"][0]["code"] == "600000.SH"


def test_live_server_restart_keeps_data(live_server):
    instance = live_server.instance
    with httpx.Client(base_url=live_server.url) as client:
        assert _upload(client, instance, {"strategy_name": "s", "positions": []}).status_code == 200
    live_server.stop()
    live_server.start()
    with httpx.Client(base_url=live_server.url) as client:
        got = client.get(
            "/api/v1/positions/strategy/s",
            headers={"Authorization": "Bearer " + instance.reader_token()},
        )
        assert got.json()["version"] == 1
        assert client.get("/healthz").json()["status"] == "ok"
