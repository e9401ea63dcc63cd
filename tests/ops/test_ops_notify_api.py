"""The admin API behind the web UI's notification section and follower tokens."""

from jq2qmt.store import accounts


def _error(response, status, field):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error.get("field") == field, error
    return error


def test_channel_set_list_test_send_and_remove(app_client, instance, receiver):
    admin = instance.admin_headers()
    url = receiver.url + "/robot/send?access_token=tok-secret-123"
    body = {"kind": "dingtalk", "config": {"url": url, "secret": "SECabc"}}
    r = app_client.put("/api/v1/notify/channels/钉钉群", json=body, headers=admin)
    assert r.status_code == 200, r.text

    listing = app_client.get("/api/v1/notify", headers=admin).json()
    assert [c["name"] for c in listing["channels"]] == ["钉钉群"]
    text = app_client.get("/api/v1/notify", headers=admin).text
    assert "tok-secret-123" not in text and "SECabc" not in text  # secrets are never read back
    assert {e["event"] for e in listing["events"]} >= {"plan_held", "follower_silent"}

    r = app_client.post("/api/v1/notify/test", json={"channel": "钉钉群"}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["results"] == [{"channel": "钉钉群", "ok": True, "error": None}]
    assert receiver.next()["path"].startswith("/robot/send")
    assert any(
        row["status"] == "sent"
        for row in app_client.get("/api/v1/notify", headers=admin).json()["recent"]
    )

    assert app_client.delete("/api/v1/notify/channels/钉钉群", headers=admin).status_code == 200
    assert app_client.get("/api/v1/notify", headers=admin).json()["channels"] == []
    _error(app_client.delete("/api/v1/notify/channels/钉钉群", headers=admin), 404, "name")
    _error(app_client.post("/api/v1/notify/test", json={}, headers=admin), 404, "channel")


def test_channel_and_event_input_errors_name_the_field(app_client, instance):
    admin = instance.admin_headers()
    put = lambda name, body: app_client.put(
        "/api/v1/notify/channels/" + name, json=body, headers=admin
    )
    _error(put("a", {"kind": "qq", "config": {}}), 422, "kind")
    _error(put("a", {"kind": "dingtalk", "config": {"url": "ftp://x"}}), 422, "config")
    _error(put("a", {"kind": "dingtalk", "config": {"host": "x"}}), 422, "config.host")
    _error(
        put(
            "a",
            {
                "kind": "email",
                "config": {"host": "h", "port": 70000, "to": ["a@b"], "sender": "c@d"},
            },
        ),
        422,
        "config.port",
    )
    _error(
        put("a", {"kind": "wecom", "config": {"url": "https://x"}, "enabled": "yes"}),
        422,
        "enabled",
    )
    _error(put("a", {"kind": "wecom", "config": {"url": "https://x"}, "extra": 1}), 422, "extra")
    _error(put("%20a", {"kind": "wecom", "config": {"url": "https://x"}}), 422, "name")
    assert app_client.get("/api/v1/notify", headers=admin).json()["channels"] == []

    patch = lambda event, body: app_client.patch(
        "/api/v1/notify/events/" + event, json=body, headers=admin
    )
    _error(patch("nope", {"enabled": False}), 404, "event")
    _error(patch("plan_held", {"interval_minutes": -1}), 422, "interval_minutes")
    _error(patch("plan_held", {"enabled": "off"}), 422, "enabled")
    assert patch("plan_held", {"enabled": False, "interval_minutes": 7}).status_code == 200
    held = [
        e
        for e in app_client.get("/api/v1/notify", headers=admin).json()["events"]
        if e["event"] == "plan_held"
    ]
    assert held[0]["enabled"] is False and held[0]["interval_seconds"] == 420


def test_notify_api_needs_the_admin(app_client, instance):
    assert app_client.get("/api/v1/notify").status_code == 401
    reader = {"Authorization": "Bearer " + instance.reader_token()}
    assert app_client.get("/api/v1/notify", headers=reader).status_code in (401, 403)
    assert app_client.post("/api/v1/accounts/x/token", json={}, headers=reader).status_code in (
        401,
        403,
    )


def test_follower_token_is_returned_once_and_rotation_is_explicit(app_client, instance):
    admin = instance.admin_headers()

    def plan_status(token):
        headers = {"Authorization": "Bearer " + token}
        return app_client.get("/api/v1/accounts/8886660057/plan", headers=headers).status_code

    accounts.add_account(instance.db(), "8886660057", "主账户", "ratio", {})
    r = app_client.post("/api/v1/accounts/8886660057/token", json={}, headers=admin)
    assert r.status_code == 200, r.text
    first = r.json()["token"]
    assert plan_status(first) == 200
    assert first not in app_client.get("/api/v1/accounts/8886660057", headers=admin).text
    _error(
        app_client.post("/api/v1/accounts/8886660057/token", json={}, headers=admin),
        409,
        "account_id",
    )
    _error(
        app_client.post("/api/v1/accounts/8886660057/token", json={"rotate": "y"}, headers=admin),
        422,
        "rotate",
    )
    second = app_client.post(
        "/api/v1/accounts/8886660057/token", json={"rotate": True}, headers=admin
    ).json()["token"]
    assert second != first
    assert plan_status(first) == 401 and plan_status(second) == 200
    assert app_client.post("/api/v1/accounts/none/token", json={}, headers=admin).status_code == 404
