"""The conditional-read fast path (server/fastpath.py): plan and total reads answered
before the framework must be exactly the route's answers, never stale (a change
written by another server process, a token revoked elsewhere), and must leave every
read it cannot answer for sure to the route. Storage on all three backends where the
database matters."""

import asyncio
import threading

from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from jq2qmt.server import fastpath, fresh_reads, versioned_reads
from jq2qmt.server.app import create_app
from jq2qmt.store import credentials

PLAN = "/api/v1/accounts/%s/plan"
TOTAL = "/api/v1/positions/total"


def _setup(instance, app_client, acc):
    return acc.followed_account(instance, app_client)


class Counter:
    """Wraps a function and counts its calls."""

    def __init__(self, monkeypatch, owner, name):
        self.calls = 0
        original = getattr(owner, name)

        def counted(*args, **kwargs):
            self.calls += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, counted)


def _plan(client, token, account, etag=None, query=""):
    headers = {"Authorization": "Bearer " + token}
    if etag:
        headers["If-None-Match"] = etag
    return client.get(PLAN % account + query, headers=headers)


def test_unchanged_plan_reads_are_answered_without_the_route_or_recomputing(
    db_url, instance, app_client, acc, monkeypatch
):
    token = _setup(instance, app_client, acc)
    first = _plan(app_client, token, acc.ACCOUNT)
    assert first.status_code == 200
    etag = first.headers["ETag"]
    route_reads = Counter(monkeypatch, versioned_reads, "answer")
    versions = Counter(monkeypatch, fastpath, "_key")
    tokens = Counter(monkeypatch, fastpath, "_token_row")
    for _ in range(20):
        again = _plan(app_client, token, acc.ACCOUNT, etag)
        assert again.status_code == 304 and again.headers["ETag"] == etag and again.content == b""
    cached = _plan(app_client, token, acc.ACCOUNT)  # no If-None-Match: the cached bytes
    assert cached.status_code == 200 and cached.content == first.content
    assert cached.headers["ETag"] == etag and cached.headers["Cache-Control"] == "no-cache"
    assert cached.headers["Content-Type"] == "application/json"
    assert route_reads.calls == 0
    assert versions.calls <= 1 and tokens.calls <= 1  # memoized while nothing changes


def test_a_change_written_by_another_server_process_is_seen_by_the_next_read(db_url, instance, acc):
    with (
        TestClient(create_app(instance.settings)) as one,
        TestClient(create_app(instance.settings)) as two,
    ):
        token = _setup(instance, one, acc)
        reader = instance.reader_token()
        old_plan = _plan(two, token, acc.ACCOUNT).headers["ETag"]
        total_headers = {"Authorization": "Bearer " + reader}
        old_total = two.get(TOTAL, headers=total_headers)
        assert (
            _plan(two, token, acc.ACCOUNT, old_plan).status_code == 304
        )  # warm: memoized in `two`

        acc.upload(one, instance, positions={"600000.XSHG": 2000}, total_value=1e6)

        fresh = _plan(two, token, acc.ACCOUNT, old_plan)
        assert fresh.status_code == 200 and fresh.headers["ETag"] != old_plan
        assert fresh.json()["targets"][0]["positions"] == [
            {"code": "600000.SH", "volume": 2000, "cost": 10.0, "name": "600000.XSHG"}
        ]
        total = two.get(
            TOTAL, headers=dict(total_headers, **{"If-None-Match": old_total.headers["ETag"]})
        )
        assert total.status_code == 200 and total.headers["ETag"] != old_total.headers["ETag"]
        assert [(p["code"], p["total_volume"]) for p in total.json()["positions"]] == [
            ("600000.SH", 2000)
        ]


def test_a_token_revoked_elsewhere_is_refused_at_once(db_url, instance, app_client, acc):
    token = _setup(instance, app_client, acc)
    etag = _plan(app_client, token, acc.ACCOUNT).headers["ETag"]
    assert _plan(app_client, token, acc.ACCOUNT, etag).status_code == 304
    credentials.revoke_token(instance.db(), "follower:%s" % acc.ACCOUNT)
    refused = _plan(app_client, token, acc.ACCOUNT, etag)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "bad_token"


def test_reads_the_fast_path_cannot_vouch_for_get_the_routes_answer(instance, app_client, acc):
    token = _setup(instance, app_client, acc)
    etag = _plan(app_client, token, acc.ACCOUNT).headers["ETag"]
    reader = instance.reader_token()
    other = instance.token("follow", account_id=acc.OTHER)
    assert _plan(app_client, other, acc.ACCOUNT, etag).json()["error"]["code"] == "wrong_account"
    assert _plan(app_client, reader, acc.ACCOUNT, etag).json()["error"]["code"] == "wrong_scope"
    assert _plan(app_client, "jq2qmt_nonsense", acc.ACCOUNT, etag).status_code == 401
    assert _plan(app_client, token, "nobody", etag).status_code in (403, 404)
    assert _plan(app_client, token, acc.ACCOUNT, etag, "?wait=abc").status_code == 422
    assert (
        _plan(app_client, token, acc.ACCOUNT, etag, "?token=x").json()["error"]["code"]
        == "secret_in_query"
    )
    follow_total = app_client.get(TOTAL, headers={"Authorization": "Bearer " + token})
    assert follow_total.json()["error"]["code"] == "wrong_scope"
    headers = {"Authorization": "Bearer " + reader}
    assert app_client.get(TOTAL + "?strategies=nope", headers=headers).status_code == 404
    assert app_client.get(TOTAL + "?include_adjustments=maybe", headers=headers).status_code == 422
    plain = app_client.get(TOTAL, headers=headers)
    # a spelling only the route parses still gets the same body and ETag
    spelled = app_client.get(TOTAL + "?include_adjustments=yes", headers=headers)
    assert spelled.status_code == 200 and spelled.headers["ETag"] == plain.headers["ETag"]
    assert spelled.content == plain.content


def test_total_reads_from_the_fast_path_equal_the_routes(
    db_url, instance, app_client, acc, monkeypatch
):
    _setup(instance, app_client, acc)
    acc.upload(app_client, instance, name="ADJUSTMENT_manual", positions={"600000.XSHG": 100})
    headers = {"Authorization": "Bearer " + instance.reader_token()}
    for query in ("", "?include_adjustments=false", "?strategies=%s" % acc.STRATEGY):
        first = app_client.get(TOTAL + query, headers=headers)  # the route builds and caches it
        assert first.status_code == 200
        fingerprints = Counter(monkeypatch, fastpath, "_key")
        again = app_client.get(TOTAL + query, headers=headers)
        assert again.content == first.content and again.headers["ETag"] == first.headers["ETag"]
        unchanged = app_client.get(
            TOTAL + query, headers=dict(headers, **{"If-None-Match": first.headers["ETag"]})
        )
        assert unchanged.status_code == 304 and unchanged.headers["ETag"] == first.headers["ETag"]
        assert fingerprints.calls <= 1
        monkeypatch.undo()


def test_a_database_error_in_the_fast_path_leaves_the_read_to_the_route(
    instance, app_client, acc, monkeypatch
):
    token = _setup(instance, app_client, acc)
    etag = _plan(app_client, token, acc.ACCOUNT).headers["ETag"]

    def down(db, connection=None):
        raise OperationalError("SELECT", {}, Exception("server has gone away"))

    monkeypatch.setattr(fresh_reads.account_store, "recent_changes_of", down)
    route_reads = Counter(monkeypatch, versioned_reads, "answer")
    response = _plan(app_client, token, acc.ACCOUNT, etag)
    assert response.status_code == 304 and route_reads.calls == 1


def test_reads_that_miss_together_share_one_database_read():
    """Every poller right after an upload misses the memo at once: one read serves
    them all; a failed read is not remembered."""
    calls, release = [], threading.Event()

    def read(value):
        calls.append(value)
        release.wait(5)
        if value == "bad":
            raise OperationalError("SELECT", {}, Exception("down"))
        return value

    async def scenario():
        memo, changes = fastpath.Memo(), frozenset([1])
        waiting = [
            asyncio.ensure_future(fastpath._memoized(memo, "k", changes, read, "v1"))
            for _ in range(10)
        ]
        await asyncio.sleep(0.05)
        release.set()
        shared = await asyncio.gather(*waiting)
        failed = await asyncio.gather(
            fastpath._memoized(memo, "b", changes, read, "bad"), return_exceptions=True
        )
        retried = await asyncio.gather(
            fastpath._memoized(memo, "b", changes, read, "bad"), return_exceptions=True
        )
        return shared, failed, retried

    shared, failed, retried = asyncio.run(scenario())
    assert shared == ["v1"] * 10
    assert isinstance(failed[0], OperationalError) and isinstance(retried[0], OperationalError)
    assert calls == ["v1", "bad", "bad"]
