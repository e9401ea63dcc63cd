"""The HTTP API contract: auth on every read, validation errors, storage semantics
through HTTP, totals with ETag, history, removal, password endpoints, health."""

import json

import pytest

PATH = "/api/v1/positions/update"


def upload(client, instance, payload, raw=None):
    body = raw if raw is not None else json.dumps(payload, ensure_ascii=False).encode("utf-8")
    headers = instance.signed_headers("POST", PATH, body)
    headers["Content-Type"] = "application/json"
    return client.post(PATH, content=body, headers=headers)


def admin_update(client, instance, payload):
    return client.post(PATH + "/internal", json=payload, headers=instance.admin_headers())


def snapshot(name="s1", *rows, **extra):
    body = {
        "strategy_name": name,
        "positions": [{"code": c, "volume": v, "cost": p} for c, v, p in rows],
    }
    body.update(extra)
    return body


@pytest.fixture
def reader(instance):
    return {"Authorization": "Bearer " + instance.reader_token()}


def error_of(response, status):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) <= {"code", "field", "message"} and " / " in error["message"]
    return error


# ---- validation -----------------------------------------------------------------------


def test_bad_field_gets_422_naming_it_and_changes_nothing(db_url, instance, app_client, reader):
    assert (
        upload(app_client, instance, snapshot("s1", ("600000.XSHG", 100, 10.0))).status_code == 200
    )
    bad = snapshot("s1", ("600000.XSHG", 100, 10.0), ("000001.XSHE", 1.5, 1.0), ("bad", 1, 1.0))
    error = error_of(upload(app_client, instance, bad), 422)
    assert error["field"] == "positions[1].volume"
    current = app_client.get("/api/v1/positions/strategy/s1", headers=reader).json()
    assert current["version"] == 1 and len(current["positions"]) == 1


@pytest.mark.parametrize("code", ["６０００００.XSHG", "60000０.SH", "٦٠٠٠٠٠.SH"])
def test_code_with_non_ascii_digits_gets_422_and_nothing_is_stored(
    instance, app_client, reader, code
):
    # "６０００００.XSHG" would otherwise be stored as a code of its own beside 600000.SH,
    # which the follower ignores while it sells the real holding.
    assert (
        upload(app_client, instance, snapshot("s1", ("600000.XSHG", 100, 10.0))).status_code == 200
    )
    bad = snapshot("s1", ("000001.XSHE", 100, 10.0), (code, 100, 10.0))
    error = error_of(upload(app_client, instance, bad), 422)
    assert error["field"] == "positions[1].code"
    current = app_client.get("/api/v1/positions/strategy/s1", headers=reader).json()
    assert current["version"] == 1 and [p["code"] for p in current["positions"]] == ["600000.SH"]
    assert error_of(admin_update(app_client, instance, bad), 422)["field"] == "positions[1].code"


def test_invalid_json_gets_400(instance, app_client):
    assert (
        error_of(upload(app_client, instance, None, raw=b"{not json"), 400)["code"]
        == "invalid_json"
    )
    assert (
        error_of(upload(app_client, instance, None, raw=b"[1, 2]"), 400)["code"] == "invalid_body"
    )
    assert (
        error_of(upload(app_client, instance, None, raw='{"a": 1}'.encode("utf-16")), 400)["code"]
        == "invalid_json"
    )


def test_body_size_is_capped(instance, app_client):
    big = b'{"strategy_name": "s", "positions": [], "pad": "' + b"x" * (1024 * 1024) + b'"}'
    assert error_of(upload(app_client, instance, None, raw=big), 413)["code"] == "body_too_large"

    def chunks():  # no Content-Length: counted while streaming
        yield b'{"pad": "'
        for _ in range(300):
            yield b"x" * 4096
        yield b'"}'

    response = app_client.post(
        PATH + "/internal", content=chunks(), headers=instance.admin_headers()
    )
    assert error_of(response, 413)["code"] == "body_too_large"


def test_framework_validation_errors_use_the_same_shape(instance, app_client, reader):
    error = error_of(app_client.get("/api/v1/strategies/s1/history?limit=abc", headers=reader), 422)
    assert error["field"] == "limit"
    assert error_of(app_client.get("/api/v1/nowhere"), 404)["code"] == "not_found"


# ---- storage semantics over HTTP ------------------------------------------------------------


def test_versions_idempotence_and_stale_as_of(db_url, instance, app_client, reader):
    first = upload(
        app_client,
        instance,
        snapshot("s1", ("600000.XSHG", 100, 10.0), as_of="2026-11-25T09:31:00"),
    )
    assert first.json()["version"] == 1 and first.json()["created"] is True
    again = upload(
        app_client, instance, snapshot("s1", ("600000.SH", 100, 10.0), as_of="2026-11-25T09:32:00")
    )
    assert (
        again.status_code == 200
        and again.json()["version"] == 1
        and again.json()["created"] is False
    )
    stale = upload(
        app_client, instance, snapshot("s1", ("600000.SH", 900, 10.0), as_of="2026-11-25T09:30:00")
    )
    assert error_of(stale, 409) == {
        "code": "stale_snapshot",
        "field": "as_of",
        "message": stale.json()["error"]["message"],
    }
    current = app_client.get("/api/v1/positions/strategy/s1", headers=reader).json()
    assert current["version"] == 1 and current["positions"][0]["volume"] == 100
    assert current["positions"][0]["code"] == "600000.SH"
    assert (
        current["update_time"].endswith("+08:00")
        and current["positions"][0]["update_time"] == current["update_time"]
    )


def test_admin_update_accepts_header_or_seed_body_fields(instance, app_client, reader):
    assert (
        admin_update(
            app_client, instance, snapshot("ADJUSTMENT_a", ("600000.SH", -100, 0.0))
        ).status_code
        == 200
    )
    for field in ("password", "internal_password"):
        body = snapshot("m_" + field, ("600000.SH", 100, 1.0))
        body[field] = instance.admin_password
        assert app_client.post(PATH + "/internal", json=body).status_code == 200
    history = app_client.get("/api/v1/strategies/m_password/history", headers=reader).json()
    assert history["versions"][0]["source"] == "admin"
    assert (
        error_of(app_client.post(PATH + "/internal", json=snapshot("x")), 401)["code"]
        == "admin_required"
    )
    wrong = app_client.post(
        PATH + "/internal", json=snapshot("x"), headers={"X-Internal-Password": "wrong"}
    )
    assert error_of(wrong, 401)["code"] == "bad_password"
    negative = admin_update(app_client, instance, snapshot("plain", ("600000.SH", -100, 0.0)))
    assert error_of(negative, 422)["field"] == "positions[0].volume"


def test_failed_admin_passwords_are_rate_limited(db_url, instance, app_client):
    wrong = {"X-Internal-Password": "wrong"}
    for _ in range(instance.settings.admin_max_failures):
        assert app_client.get("/api/v1/internal/password/info", headers=wrong).status_code == 401
    limited = app_client.get("/api/v1/internal/password/info", headers=instance.admin_headers())
    assert error_of(limited, 429)["code"] == "too_many_attempts"
    assert limited.headers["Retry-After"]


# ---- reads need auth ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/positions/strategy/s1",
        "/api/v1/positions/total",
        "/api/v1/positions/all",
        "/api/v1/strategies",
        "/api/v1/strategies/s1/history",
        "/api/v1/strategies/s1/versions/1",
        "/api/v1/strategies/s1/diff?from=1",
    ],
)
def test_every_read_needs_a_token_or_admin(instance, app_client, path):
    assert error_of(app_client.get(path), 401)["code"] == "auth_required"
    assert (
        error_of(app_client.get(path, headers={"Authorization": "Bearer jq2qmt_nope"}), 401)["code"]
        == "bad_token"
    )
    assert app_client.get(
        path, headers={"Authorization": "Bearer " + instance.reader_token()}
    ).status_code in (200, 404)
    assert app_client.get(path, headers=instance.admin_headers()).status_code in (200, 404)


def test_token_scope_and_revocation(instance, app_client):
    from jq2qmt.store import credentials

    follow = instance.token("follow", account_id="8886660057")
    refused = app_client.get("/api/v1/positions/all", headers={"Authorization": "Bearer " + follow})
    assert error_of(refused, 403)["code"] == "wrong_scope"
    token = instance.reader_token(name="r")
    credentials.revoke_token(instance.db(), "r")
    assert (
        error_of(
            app_client.get("/api/v1/positions/all", headers={"Authorization": "Bearer " + token}),
            401,
        )["code"]
        == "bad_token"
    )
    in_query = app_client.get("/api/v1/positions/all?token=" + token)
    assert error_of(in_query, 401)["code"] == "secret_in_query"


# ---- totals ----------------------------------------------------------------------------------------


def test_total_merges_selects_and_supports_etag(db_url, instance, app_client, reader):
    upload(app_client, instance, snapshot("a", ("600000.XSHG", 100, 10.0)))
    upload(app_client, instance, snapshot("b", ("600000.SH", 300, 14.0), ("000001.XSHE", 200, 5.0)))
    admin_update(app_client, instance, snapshot("ADJUSTMENT_x", ("600000.SH", -50, 0.0)))
    total = app_client.get("/api/v1/positions/total", headers=reader)
    rows = {p["code"]: p for p in total.json()["positions"]}
    assert rows["600000.SH"]["total_volume"] == 350 and rows["600000.SH"][
        "avg_cost"
    ] == pytest.approx(13.0)
    assert set(rows["600000.SH"]) >= {"code", "name", "total_volume", "avg_cost"}
    only_a = app_client.get(
        "/api/v1/positions/total?strategies=a&include_adjustments=false", headers=reader
    ).json()
    assert [(p["code"], p["total_volume"]) for p in only_a["positions"]] == [("600000.SH", 100)]
    etag = total.headers["ETag"]
    assert (
        app_client.get(
            "/api/v1/positions/total", headers=dict(reader, **{"If-None-Match": etag})
        ).status_code
        == 304
    )
    upload(app_client, instance, snapshot("a", ("600000.SH", 200, 10.0)))
    changed = app_client.get(
        "/api/v1/positions/total", headers=dict(reader, **{"If-None-Match": etag})
    )
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    unknown = app_client.get("/api/v1/positions/total?strategies=a,ghost", headers=reader)
    assert error_of(unknown, 404) == {
        "code": "unknown_strategy",
        "field": "strategies",
        "message": unknown.json()["error"]["message"],
    }
    every = app_client.get("/api/v1/positions/all", headers=reader).json()
    assert [s["strategy_name"] for s in every["strategies"]] == ["ADJUSTMENT_x", "a", "b"]


# ---- history and removal ------------------------------------------------------------------------------


def test_history_version_diff_and_removal(db_url, instance, app_client, reader):
    upload(app_client, instance, snapshot("h", ("600000.SH", 100, 10.0), ("000001.SZ", 100, 1.0)))
    upload(app_client, instance, snapshot("h", ("600000.SH", 300, 10.0), ("300750.SZ", 100, 200.0)))
    history = app_client.get("/api/v1/strategies/h/history", headers=reader).json()
    assert [v["version"] for v in history["versions"]] == [2, 1]
    assert history["versions"][0]["source"] == "client:" + instance.jq_client_id
    one = app_client.get("/api/v1/strategies/h/versions/1", headers=reader).json()
    assert [p["code"] for p in one["positions"]] == ["000001.SZ", "600000.SH"]
    diff = app_client.get("/api/v1/strategies/h/diff?from=1&to=2", headers=reader).json()
    assert {c["code"]: c["delta"] for c in diff["changes"]} == {
        "000001.SZ": -100,
        "600000.SH": 200,
        "300750.SZ": 100,
    }
    assert (
        error_of(app_client.get("/api/v1/strategies/h/versions/9", headers=reader), 404)["field"]
        == "version"
    )

    assert (
        error_of(app_client.delete("/api/v1/strategies/h", headers=reader), 401)["code"]
        == "admin_required"
    )
    removed = app_client.delete("/api/v1/strategies/h", headers=instance.admin_headers())
    assert removed.status_code == 200 and removed.json()["version"] == 3
    assert app_client.get("/api/v1/positions/strategy/h", headers=reader).status_code == 404
    assert app_client.get("/api/v1/positions/total", headers=reader).json()["positions"] == []
    kept = app_client.get("/api/v1/strategies/h/history", headers=reader).json()
    assert kept["removed"] is True and len(kept["versions"]) == 3
    assert (
        app_client.delete("/api/v1/strategies/h", headers=instance.admin_headers()).status_code
        == 404
    )


# ---- password, health, docs ---------------------------------------------------------------------------


def test_password_info_and_change(instance, app_client):
    info = app_client.get("/api/v1/internal/password/info", headers=instance.admin_headers()).json()
    assert info["is_default"] is False and info["created_at"]
    weak = app_client.post(
        "/api/v1/internal/password/set",
        json={"current_password": instance.admin_password, "new_password": "short"},
    )
    assert error_of(weak, 422)["field"] == "new_password"
    wrong = app_client.post(
        "/api/v1/internal/password/set", json={"current_password": "nope", "new_password": "x" * 20}
    )
    assert error_of(wrong, 401)["code"] == "bad_password"
    ok = app_client.post(
        "/api/v1/internal/password/set",
        json={"current_password": instance.admin_password, "new_password": "a-much-better-pass"},
    )
    assert ok.status_code == 200
    assert (
        app_client.get(
            "/api/v1/internal/password/info", headers=instance.admin_headers()
        ).status_code
        == 401
    )
    assert (
        app_client.get(
            "/api/v1/internal/password/info", headers={"X-Internal-Password": "a-much-better-pass"}
        ).status_code
        == 200
    )


def test_health_reports_the_database(db_url, instance, app_client):
    from jq2qmt.store.migrate import head_revision

    assert app_client.get("/healthz").json() == {
        "status": "ok",
        "database": "ok",
        "schema": head_revision(),
    }


def test_health_is_503_when_the_database_is_down(tmp_path, instance):
    from dataclasses import replace

    from fastapi.testclient import TestClient

    from jq2qmt.server.app import create_app

    gone = replace(
        instance.settings, database_url="sqlite:///" + (tmp_path / "missing" / "x.db").as_posix()
    )
    with TestClient(create_app(gone)) as client:
        response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["database"] == "unreachable"


def test_unexpected_errors_never_leak_details(instance, app_client, reader):
    from dataclasses import replace

    from fastapi.testclient import TestClient

    from jq2qmt.server.app import create_app

    app = create_app(replace(instance.settings))

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret detail /etc/passwd")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    assert response.status_code == 500
    assert "secret" not in response.text and response.json()["error"]["code"] == "internal_error"


def test_openapi_schema_is_served(app_client):
    paths = app_client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/positions/update", "/api/v1/positions/total", "/healthz"} <= set(paths)


def test_concurrent_http_uploads_to_one_strategy_all_succeed(db_url, live_server):
    """Parallel signed uploads through a real server: no 5xx, one version each."""
    import threading

    import httpx

    instance, statuses = live_server.instance, []

    def send(worker):
        body = json.dumps(snapshot("busy", ("600000.SH", 100 * (worker + 1), 1.0))).encode()
        headers = dict(
            instance.signed_headers("POST", PATH, body), **{"Content-Type": "application/json"}
        )
        statuses.append(
            httpx.post(live_server.url + PATH, content=body, headers=headers, timeout=60)
        )

    threads = [threading.Thread(target=send, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in statuses) == [200] * 6
    assert sorted(r.json()["version"] for r in statuses) == [1, 2, 3, 4, 5, 6]
