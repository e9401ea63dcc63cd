"""The upload fast path answers exactly like the route, on every backend.

Each request is sent twice: to the app as served (the fast path in front) and to the
same app without the fast path (the route alone), on the same database; both
answers must be the same (status, headers, body), and a spy on the upload function
shows who ran it.
"""

import json
import logging

import pytest
from fastapi.testclient import TestClient

from jq2qmt import signing
from jq2qmt.server import fastupload
from jq2qmt.server.app import create_app
from jq2qmt.server.routes import positions

PATH = "/api/v1/positions/update"


def snapshot_body(name, volume=100):
    return json.dumps(
        {
            "strategy_name": name,
            "positions": [
                {"code": "600000.XSHG", "volume": volume, "cost": 10.5},
                {"code": "000001.XSHE", "volume": 2 * volume, "cost": 12.0},
            ],
        }
    ).encode("utf-8")


@pytest.fixture
def clients(instance):
    """(fast, route): clients of the served app and of the app without the fast path,
    sharing one database."""
    db = instance.db()
    fast_app = create_app(instance.settings, database=db)
    route_app = create_app(instance.settings, database=db)
    route_app.user_middleware = [
        m for m in route_app.user_middleware if m.cls is not fastupload.FastUploads
    ]
    with TestClient(fast_app) as fast, TestClient(route_app) as route:
        yield fast, route


@pytest.fixture
def runs(monkeypatch):
    """Who ran `signed_save`: "fast" (the middleware) or "route", in order."""
    seen = []
    original = positions.signed_save

    def spy(who):
        def run(request, body):
            seen.append(who)
            return original(request, body)

        return run

    monkeypatch.setattr(fastupload, "signed_save", spy("fast"))
    monkeypatch.setattr(positions, "signed_save", spy("route"))
    return seen


def post(client, instance, body, content_type="application/json", **signing_kwargs):
    headers = instance.signed_headers("POST", PATH, body, **signing_kwargs)
    headers["Content-Type"] = content_type
    return client.post(PATH, content=body, headers=headers)


def answer(response):
    return response.status_code, sorted(response.headers.items()), response.content


def test_a_signed_upload_is_answered_by_the_fast_path_like_the_route(
    db_url, instance, clients, runs, caplog
):
    fast, route = clients
    by_route = post(route, instance, snapshot_body("r1"))
    with caplog.at_level(logging.INFO, logger="jq2qmt.access"):
        by_fast = post(fast, instance, snapshot_body("f1"))
    assert runs == ["route", "fast"]
    assert by_fast.status_code == by_route.status_code == 200, by_fast.text
    assert sorted(by_fast.headers.items()) == sorted(by_route.headers.items())
    fast_body, route_body = by_fast.json(), by_route.json()
    assert fast_body["strategy_name"] == "f1" and route_body["strategy_name"] == "r1"
    for body in (fast_body, route_body):
        del body["strategy_name"], body["update_time"]
    assert (
        fast_body
        == route_body
        == {
            "success": True,
            "message": "持仓已更新 / positions updated",
            "version": 1,
            "created": True,
        }
    )
    # the request log names the route, as for an answer of the route itself
    assert any(
        "method=POST route=%s status=200" % PATH in record.getMessage() for record in caplog.records
    )
    # an identical upload is "unchanged" through either path
    again_fast, again_route = (
        post(fast, instance, snapshot_body("f1")),
        post(route, instance, snapshot_body("r1")),
    )
    assert again_fast.json()["created"] is again_route.json()["created"] is False
    assert again_fast.json()["message"] == again_route.json()["message"]


def test_a_fast_upload_is_seen_by_the_strategy_and_total_reads(db_url, instance, clients, runs):
    fast, _route = clients
    assert post(fast, instance, snapshot_body("s1", volume=300)).status_code == 200
    assert post(fast, instance, snapshot_body("s1", volume=400)).json()["version"] == 2
    assert runs == ["fast", "fast"]
    reader = {"Authorization": "Bearer " + instance.reader_token()}
    strategy = fast.get("/api/v1/positions/strategy/s1", headers=reader).json()
    assert {p["code"]: p["volume"] for p in strategy["positions"]} == {
        "000001.SZ": 800,
        "600000.SH": 400,
    }
    total = fast.get("/api/v1/positions/total", headers=reader).json()
    assert {p["code"]: p["total_volume"] for p in total["positions"]} == {
        "000001.SZ": 800,
        "600000.SH": 400,
    }


def test_a_body_sent_in_chunks_is_read_whole(db_url, instance, clients, runs):
    fast, _route = clients
    body = snapshot_body("chunked")
    headers = instance.signed_headers("POST", PATH, body)
    headers["Content-Type"] = "application/json"

    def chunks():
        for start in range(0, len(body), 7):
            yield body[start : start + 7]

    response = fast.post(PATH, content=chunks(), headers=headers)
    assert response.status_code == 200, response.text
    assert runs == ["fast"]


def _same_answer(clients, send):
    fast, route = clients
    by_fast, by_route = send(fast), send(route)
    assert answer(by_fast) == answer(by_route)
    return by_fast


def _code(response, status):
    assert response.status_code == status, response.text
    return response.json()["error"]["code"]


def test_a_bad_signature_is_answered_by_the_route(db_url, instance, clients, runs):
    def send(client):
        body = snapshot_body("s1")
        headers = instance.signed_headers("POST", PATH, body)
        headers["Content-Type"] = "application/json"
        return client.post(PATH, content=body.replace(b"100", b"900"), headers=headers)

    assert _code(_same_answer(clients, send), 401) == "bad_signature"
    # the fast path tried it once; the route answered with that failure, not a rerun
    assert runs == ["fast", "route"]


def test_an_unknown_client_is_answered_by_the_route(db_url, instance, clients, runs):
    def send(client):
        body = snapshot_body("s1")
        headers = instance.signed_headers("POST", PATH, body)
        headers[signing.HEADER_CLIENT] = "someone-else"
        headers["Content-Type"] = "application/json"
        return client.post(PATH, content=body, headers=headers)

    assert _code(_same_answer(clients, send), 401) == "unknown_client"
    assert runs == ["fast", "route"]


def test_a_replayed_upload_is_refused_by_both(db_url, instance, clients, runs):
    fast, route = clients
    body = snapshot_body("s1")
    headers = instance.signed_headers("POST", PATH, body)
    headers["Content-Type"] = "application/json"
    assert fast.post(PATH, content=body, headers=headers).status_code == 200
    replay_fast = fast.post(PATH, content=body, headers=headers)
    replay_route = route.post(PATH, content=body, headers=headers)
    assert answer(replay_fast) == answer(replay_route)
    assert _code(replay_fast, 401) == "nonce_reused"
    assert runs == ["fast", "fast", "route"]


@pytest.mark.parametrize(
    "body, status, code",
    [
        (b'{"strategy_name": "s1", "positions": [', 400, "invalid_json"),
        (b"[1, 2]", 400, "invalid_body"),
        (
            b'{"strategy_name": "s1", "positions": [{"code": "bad", "volume": 1, "cost": 1}]}',
            422,
            "invalid_field",
        ),
    ],
)
def test_a_bad_body_is_answered_by_the_route_and_spends_its_nonce(
    db_url, instance, clients, runs, body, status, code
):
    fast, route = clients
    signed = instance.signed_headers("POST", PATH, body)
    signed["Content-Type"] = "application/json"
    by_fast = fast.post(PATH, content=body, headers=signed)
    assert _code(by_fast, status) == code
    assert answer(by_fast) == answer(post(route, instance, body))
    # refused, yet the nonce is spent: the same signed request never applies later
    assert _code(fast.post(PATH, content=body, headers=signed), 401) == "nonce_reused"


def test_a_stale_snapshot_is_answered_by_the_route(db_url, instance, clients, runs):
    def stale(name):
        return json.dumps(
            {"strategy_name": name, "positions": [], "as_of": "2024-01-02T09:30:00"}
        ).encode()

    def newer(name):
        return json.dumps(
            {"strategy_name": name, "positions": [], "as_of": "2024-01-03T09:30:00"}
        ).encode()

    fast, route = clients
    assert post(fast, instance, newer("a")).status_code == 200
    assert post(route, instance, newer("b")).status_code == 200
    by_fast, by_route = post(fast, instance, stale("a")), post(route, instance, stale("b"))
    assert _code(by_fast, 409) == "stale_snapshot"
    assert answer(by_fast) == answer(by_route)


def test_an_oversized_body_gets_the_routes_413(db_url, instance, clients, runs):
    pad = b"x" * (instance.settings.max_body_bytes + 1)
    body = b'{"strategy_name": "s1", "positions": [], "pad": "' + pad + b'"}'

    def declared(client):
        return post(client, instance, body)

    assert _code(_same_answer(clients, declared), 413) == "body_too_large"

    def streamed(client):  # no Content-Length: counted while the body streams in
        headers = instance.signed_headers("POST", PATH, body)
        headers["Content-Type"] = "application/json"
        return client.post(
            PATH,
            content=(body[i : i + 65536] for i in range(0, len(body), 65536)),
            headers=headers,
        )

    assert _code(_same_answer(clients, streamed), 413) == "body_too_large"
    assert runs == []


def test_another_content_type_goes_to_the_route(db_url, instance, clients, runs):
    fast, route = clients
    for client in (fast, route):
        response = post(client, instance, snapshot_body("s1"), content_type="text/plain")
        assert response.status_code == 200, response.text
    assert runs == ["route", "route"]


def test_a_json_content_type_with_parameters_takes_the_fast_path(instance, clients, runs):
    fast, _route = clients
    response = post(fast, instance, snapshot_body("s1"), "Application/JSON; charset=utf-8")
    assert response.status_code == 200, response.text
    assert runs == ["fast"]
