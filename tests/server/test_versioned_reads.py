"""Versioned reads (server/versioned_reads.py) answered by the fast path
(server/fastpath.py) and by their routes: the same strong ETag, the same body and
headers, 304 for a held ETag from either, never a stale answer after a write through
another server process, and the routes' own 401/403/404/422 for anything the fast
path cannot vouch for. All three backends."""

import json
import logging

import pytest
from fastapi.testclient import TestClient

from jq2qmt.server import paths, versioned_reads
from jq2qmt.server.app import create_app
from jq2qmt.server.routes import pages
from jq2qmt.server.sessions import COOKIE_NAME
from jq2qmt.server.sessions import record as record_session
from jq2qmt.server.sessions import revoke as revoke_session
from jq2qmt.store import accounts, credentials
from jq2qmt.store.models import AdminCredential

UPLOAD = "/api/v1/positions/update"
ACCOUNT = "8886660057"
STRATEGY = "多策略V1.0"
ADJUSTMENT = "ADJUSTMENT_manual"

STRATEGY_PATH = "/api/v1/positions/strategy/" + STRATEGY
HISTORY_PATH = "/api/v1/strategies/%s/history" % STRATEGY
VERSION_PATH = "/api/v1/strategies/%s/versions/1" % STRATEGY
DIFF_PATH = "/api/v1/strategies/%s/diff?from=1" % STRATEGY
TOTAL_PATH = "/api/v1/positions/total"
ACCOUNTS_PATH = "/api/v1/accounts"
REPORTS_PATH = "/api/v1/accounts/%s/reports" % ACCOUNT
PLAN_PATH = "/api/v1/accounts/%s/plan" % ACCOUNT

# (path, who reads it: "reader" | "admin" | "follower")
READS = [
    (STRATEGY_PATH, "reader"),
    (HISTORY_PATH, "reader"),
    (HISTORY_PATH + "?limit=1&offset=1", "reader"),
    (VERSION_PATH, "reader"),
    (DIFF_PATH, "reader"),
    (DIFF_PATH + "&to=2", "reader"),
    (TOTAL_PATH, "reader"),
    (TOTAL_PATH + "?include_adjustments=false", "reader"),
    (STRATEGY_PATH, "admin"),
    (ACCOUNTS_PATH, "admin"),
    (REPORTS_PATH, "admin"),
    (REPORTS_PATH + "?kind=all&limit=5", "admin"),
    (PLAN_PATH, "follower"),
    (PLAN_PATH, "admin"),
]


def upload(client, instance, name=STRATEGY, positions=None, **extra):
    body = {
        "strategy_name": name,
        "positions": [
            {"code": c, "volume": v, "cost": 10.0, "name": c}
            for c, v in sorted((positions or {}).items())
        ],
        "portfolio": {"total_value": 1e6, "cash": 0.0},
    }
    body.update(extra)
    raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
    headers = instance.signed_headers("POST", UPLOAD, raw)
    headers["Content-Type"] = "application/json"
    response = client.post(UPLOAD, content=raw, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def heartbeat(client, token, kind="paper"):
    response = client.post(
        "/api/v1/accounts/%s/reports" % ACCOUNT,
        json={"kind": "heartbeat", "follower": {"kind": kind}},
        headers={"Authorization": "Bearer " + token},
    )
    assert response.status_code == 200, response.text


def admin_cookie(app, db):
    """The Cookie header of a fresh admin login session."""
    with db.read() as session:
        password_hash = session.get(AdminCredential, 1).password_hash
    cookie, web_session = pages.signer_of(app).issue(password_hash)
    record_session(db, web_session)
    return {"Cookie": "%s=%s" % (COOKIE_NAME, cookie)}, web_session.sid


class World:
    """One instance with two versions of a strategy, an adjustment, a confirmed
    account following the strategy with a follower token and a heartbeat, a reader
    token and an admin login session."""

    def __init__(self, instance, client):
        self.instance = instance
        db = instance.db()
        upload(client, instance, positions={"600000.XSHG": 1000})
        upload(client, instance, positions={"600000.XSHG": 1500, "000001.XSHE": 300})
        upload(client, instance, name=ADJUSTMENT, positions={"600000.XSHG": 100})
        accounts.add_account(db, ACCOUNT, "主账户", "ratio", {}, confirmed=True)
        accounts.set_follow(db, ACCOUNT, STRATEGY, ratio=0.5)
        self.follower_token = accounts.create_follower_token(db, ACCOUNT)
        heartbeat(client, self.follower_token)
        self.reader_token = instance.reader_token()
        cookie, self.sid = admin_cookie(client.app, db)
        self.headers = {
            "reader": {"Authorization": "Bearer " + self.reader_token},
            "admin": cookie,
            "follower": {"Authorization": "Bearer " + self.follower_token},
        }


def get(client, path, headers, etag=None):
    headers = dict(headers)
    if etag is not None:
        headers["If-None-Match"] = etag
    return client.get(path, headers=headers)


class RouteCalls:
    """Counts the routes' answers (`versioned_reads.answer`)."""

    def __init__(self, monkeypatch):
        self.calls = 0
        original = versioned_reads.answer

        def counted(*args, **kwargs):
            self.calls += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(versioned_reads, "answer", counted)


def test_every_versioned_read_is_answered_by_the_fast_path_exactly_like_its_route(
    db_url, instance, app_client, monkeypatch
):
    world = World(instance, app_client)
    for path, who in READS:
        headers = world.headers[who]
        first = get(app_client, path, headers)  # the route builds and caches the body
        assert first.status_code == 200, (path, first.text)
        etag = first.headers["ETag"]
        assert etag.startswith('"') and etag.endswith('"')
        routes = RouteCalls(monkeypatch)
        again = get(app_client, path, headers)
        assert again.status_code == 200 and again.content == first.content, path
        assert again.headers["ETag"] == etag
        for name in ("content-type", "content-length", "cache-control"):
            assert again.headers.get(name) == first.headers.get(name), (path, name)
        unchanged = get(app_client, path, headers, etag)
        assert unchanged.status_code == 304 and unchanged.content == b"", path
        assert unchanged.headers["ETag"] == etag
        assert routes.calls == 0, path  # both answered before the framework
        monkeypatch.undo()


def test_fast_answers_are_logged_and_counted_under_their_route(
    db_url, instance, app_client, monkeypatch, caplog
):
    world = World(instance, app_client)
    templates = {read.path for read in versioned_reads.READS}
    assert templates <= {getattr(paths, name) for name in dir(paths) if name.isupper()}
    for path, who in READS:
        headers = world.headers[who]
        etag = get(app_client, path, headers).headers["ETag"]
        routes = RouteCalls(monkeypatch)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="jq2qmt.access"):
            assert get(app_client, path, headers, etag).status_code == 304
        assert routes.calls == 0, path
        template = next(
            r.path for r in versioned_reads.READS if r.pattern.match(path.split("?")[0])
        )
        assert any(
            "method=GET route=%s status=304" % template in record.getMessage()
            for record in caplog.records
        ), (path, [record.getMessage() for record in caplog.records])
        monkeypatch.undo()


def test_the_routes_answer_a_held_etag_with_304_and_the_same_etag(
    db_url, instance, app_client, monkeypatch
):
    world = World(instance, app_client)
    # the admin password header is left to the routes by the fast path
    password = instance.admin_headers()
    for path, who in READS:
        if who == "follower":
            continue
        fast = get(app_client, path, world.headers[who])
        routes = RouteCalls(monkeypatch)
        route = get(app_client, path, password)
        assert route.status_code == 200 and route.content == fast.content, path
        assert route.headers["ETag"] == fast.headers["ETag"]
        held = get(app_client, path, password, 'W/"other", ' + fast.headers["ETag"])
        assert held.status_code == 304 and held.headers["ETag"] == fast.headers["ETag"], path
        assert routes.calls == 2, path
        monkeypatch.undo()


def _warm(client, world):
    """{(path, who): ETag}, each read answered 304 by `client`'s fast path."""
    etags = {}
    for path, who in READS:
        response = get(client, path, world.headers[who])
        assert response.status_code == 200, (path, response.text)
        etags[(path, who)] = response.headers["ETag"]
        assert get(client, path, world.headers[who], etags[(path, who)]).status_code == 304
    return etags


def _changed(client, world, etags):
    """The reads whose answer changed in `client` since `etags`, checking that each
    changed answer equals a fresh one from the route (another app, its caches empty)."""
    changed = set()
    with TestClient(create_app(world.instance.settings)) as fresh:
        for (path, who), etag in etags.items():
            response = get(client, path, world.headers[who], etag)
            if response.status_code == 304:
                continue
            changed.add((path, who))
            reference = get(fresh, path, world.headers[who])
            assert response.status_code == reference.status_code, path
            assert response.content == reference.content, path
            assert response.headers.get("ETag") == reference.headers.get("ETag"), path
    return changed


def _paths(changed):
    return set(path for path, _who in changed)


WRITES = ["upload", "as_of", "adjustment", "removal", "report"]


@pytest.mark.parametrize("write", WRITES)
def test_a_write_through_another_server_process_is_seen_by_the_next_read(db_url, instance, write):
    with (
        TestClient(create_app(instance.settings)) as one,
        TestClient(create_app(instance.settings)) as two,
    ):
        world = World(instance, one)
        etags = _warm(two, world)
        assert _changed(two, world, etags) == set()
        if write == "upload":
            upload(one, instance, positions={"600000.XSHG": 2000})
            expected = {STRATEGY_PATH, HISTORY_PATH, TOTAL_PATH, ACCOUNTS_PATH, PLAN_PATH}
            expected |= {DIFF_PATH, TOTAL_PATH + "?include_adjustments=false"}
            expected |= {HISTORY_PATH + "?limit=1&offset=1"}
        elif write == "as_of":
            # the stored positions again, with a clock: no new version, a later as_of
            upload(
                one,
                instance,
                positions={"600000.XSHG": 1500, "000001.XSHE": 300},
                as_of="2026-11-30T10:00:00",
            )
            expected = {STRATEGY_PATH}
            body = get(two, STRATEGY_PATH, world.headers["reader"]).json()
            assert body["version"] == 2 and body["as_of"] is not None
        elif write == "adjustment":
            upload(one, instance, name=ADJUSTMENT, positions={"600000.XSHG": -50})
            expected = {TOTAL_PATH, ACCOUNTS_PATH}
        elif write == "removal":
            removed = one.delete("/api/v1/strategies/" + STRATEGY, headers=instance.admin_headers())
            assert removed.status_code == 200, removed.text
            expected = {STRATEGY_PATH, HISTORY_PATH, DIFF_PATH, TOTAL_PATH}
            expected |= {TOTAL_PATH + "?include_adjustments=false", ACCOUNTS_PATH, PLAN_PATH}
            expected |= {HISTORY_PATH + "?limit=1&offset=1"}
            gone = get(two, STRATEGY_PATH, world.headers["reader"])
            assert gone.status_code == 404
        elif write == "report":
            heartbeat(one, world.follower_token, kind="qmt")
            expected = {ACCOUNTS_PATH, REPORTS_PATH + "?kind=all&limit=5"}
        assert _paths(_changed(two, world, etags)) >= expected


def test_a_dismissed_hold_is_seen_by_another_process(db_url, instance):
    with (
        TestClient(create_app(instance.settings)) as one,
        TestClient(create_app(instance.settings)) as two,
    ):
        world = World(instance, one)
        with instance.db().read() as session:
            version = accounts.plan_version(session, accounts.get_account(session, ACCOUNT))
        admin = world.headers["admin"]
        one.post(
            REPORTS_PATH,
            json={
                "kind": "round",
                "round_id": "r1",
                "plan_version": version,
                "status": "held",
                "held_reason": "big",
                "account": {"cash": 1.0, "total_asset": 2.0, "positions": []},
                "placed": [],
                "cancelled": [],
                "rejected": [],
                "skipped": [],
                "errors": [],
            },
            headers=world.headers["follower"],
        )
        before = get(two, ACCOUNTS_PATH, admin)
        assert before.json()["accounts"][0]["held"]["plan_version"] == version
        assert get(two, ACCOUNTS_PATH, admin, before.headers["ETag"]).status_code == 304
        one.post(
            "/api/v1/accounts/%s/reject" % ACCOUNT,
            json={"plan_version": version},
            headers=instance.admin_headers(),
        )
        after = get(two, ACCOUNTS_PATH, admin, before.headers["ETag"])
        assert after.status_code == 200 and after.json()["accounts"][0]["held"] is None


def test_revoked_tokens_and_sessions_are_refused_at_once_by_every_process(db_url, instance):
    with (
        TestClient(create_app(instance.settings)) as one,
        TestClient(create_app(instance.settings)) as two,
    ):
        world = World(instance, one)
        etags = _warm(two, world)
        credentials.revoke_token(instance.db(), "follower:%s" % ACCOUNT)
        _revoke_readers(instance)
        revoke_session(instance.db(), world.sid)
        for (path, who), etag in etags.items():
            refused = get(two, path, world.headers[who], etag)
            assert refused.status_code == 401, (path, who, refused.status_code)


def _revoke_readers(instance):
    with instance.db().read() as session:
        rows = [
            t
            for t in credentials.list_tokens(session)
            if t.scope == "read" and t.revoked_at is None
        ]
    for name in set(row.name for row in rows):
        credentials.revoke_token(instance.db(), name)


def test_a_password_change_ends_fast_admin_reads_in_every_process(db_url, instance):
    with (
        TestClient(create_app(instance.settings)) as one,
        TestClient(create_app(instance.settings)) as two,
    ):
        world = World(instance, one)
        admin = world.headers["admin"]
        etag = get(two, ACCOUNTS_PATH, admin).headers["ETag"]
        assert get(two, ACCOUNTS_PATH, admin, etag).status_code == 304
        credentials.set_admin_password(instance.db(), "another-long-password-1")
        assert get(two, ACCOUNTS_PATH, admin, etag).status_code == 401


def _error(response):
    return response.status_code, response.json()["error"]["code"]


def test_callers_the_fast_path_cannot_vouch_for_get_the_routes_answer(db_url, instance, app_client):
    world = World(instance, app_client)
    for path, who in READS:
        etag = get(app_client, path, world.headers[who]).headers["ETag"]
        unknown = get(app_client, path, {"Authorization": "Bearer jq2qmt_nonsense"}, etag)
        if who == "admin" and path != STRATEGY_PATH and path != PLAN_PATH:
            assert _error(unknown) == (401, "admin_required"), path  # bearer ignored
        else:
            assert _error(unknown) == (401, "bad_token"), path
        nobody = get(app_client, path, {}, etag)
        assert nobody.status_code == 401, path
        assert (
            get(app_client, path, {"Cookie": COOKIE_NAME + "=v1.forged.x"}, etag).status_code == 401
        )
    reader, follower = world.headers["reader"], world.headers["follower"]
    for path in (STRATEGY_PATH, HISTORY_PATH, VERSION_PATH, DIFF_PATH, TOTAL_PATH):
        assert _error(get(app_client, path, follower)) == (403, "wrong_scope"), path
    for path in (ACCOUNTS_PATH, REPORTS_PATH):
        assert _error(get(app_client, path, reader)) == (401, "admin_required"), path
    assert _error(get(app_client, PLAN_PATH, reader)) == (403, "wrong_scope")
    other = {"Authorization": "Bearer " + instance.token("follow", account_id="8886660099")}
    assert _error(get(app_client, PLAN_PATH, other)) == (403, "wrong_account")
    # unusual queries and missing subjects: the routes' 404/422
    assert get(app_client, STRATEGY_PATH + "x", reader).status_code == 404
    assert _error(get(app_client, VERSION_PATH[:-1] + "9", reader))[0] == 404
    assert get(app_client, VERSION_PATH[:-1] + "0", reader).status_code == 422
    assert get(app_client, DIFF_PATH.split("?")[0], reader).status_code == 422
    assert get(app_client, DIFF_PATH + "&to=99", reader).json()["error"]["field"] == "to"
    assert get(app_client, HISTORY_PATH + "?limit=0", reader).status_code == 422
    assert get(app_client, REPORTS_PATH + "?kind=nope", world.headers["admin"]).status_code == 422
    assert _error(get(app_client, STRATEGY_PATH + "?token=x", reader)) == (401, "secret_in_query")
    missing = get(app_client, "/api/v1/accounts/nobody/reports", world.headers["admin"])
    assert missing.status_code == 404
    # a spelling only the route parses gets the same ETag and body as the usual one
    usual = get(app_client, HISTORY_PATH + "?limit=5", reader)
    spelled = get(app_client, HISTORY_PATH + "?limit=%2B5", reader)
    assert spelled.status_code == 200 and spelled.headers["ETag"] == usual.headers["ETag"]
    assert spelled.content == usual.content
