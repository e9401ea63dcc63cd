"""Conditional and cached reads answered before the framework.

Followers poll their plan with ``If-None-Match`` and dashboards poll totals; nearly
every such read answers "unchanged" (304) or returns bytes that are already cached.
`FastReads` is a pure ASGI middleware that answers exactly those reads without
FastAPI's routing, dependency injection and thread hops, and passes every other
request (and every read it cannot answer for sure) to the app unchanged, so errors,
validation and body building stay in one place: the routes.

It never answers from a stale view of the database:

- Before answering, a request waits for a read of the recent change numbers
  (`accounts.recent_changes`) that *started after the request arrived* (`FreshReads`).
  Concurrent requests share such reads, so under load one small query serves many
  requests, and a change committed by any server process before a request arrived
  is always seen by it.
- Every write that a plan, a total or a token depends on writes a change row in its
  own transaction (snapshots and removals, account changes, token revocations). So
  what a read needs from the database (the bearer token's row, the account's plan
  version, the total's ETag) is memoized per set of recent change numbers and
  recomputed only after a change.
- The answer is the route's own: 304 when the client holds the current ETag, else
  the body the route cached under that ETag. Anything else (no token, a token of
  another scope or account, an unusual query, a body not cached yet, a database
  error) goes to the route, which answers it in full.
"""

import asyncio
import hashlib
import logging
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool

from jq2qmt.server import caches as app_caches
from jq2qmt.server import fresh_reads
from jq2qmt.server.errors import ApiError
from jq2qmt.server.routes.positions import parse_names, total_etag
from jq2qmt.store import accounts as account_store
from jq2qmt.store import credentials, repo

log = logging.getLogger("jq2qmt.server")

PLAN_PREFIX = "/api/v1/accounts/"
PLAN_SUFFIX = "/plan"
PLAN_ROUTE = "/api/v1/accounts/{account_id}/plan"
TOTAL_PATH = "/api/v1/positions/total"
MEMO_SIZE = 4096
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


class Memo:
    """Values computed from the database (as futures, see `_memoized`), valid while
    the recent changes stay the same set. Bounded: cleared when full (misses only
    cost a recomputation)."""

    _MISSING = object()

    def __init__(self, size=MEMO_SIZE):
        self.size = size
        self._items = {}

    def get(self, key, changes):
        item = self._items.get(key)
        if item is None or not (item[0] is changes or item[0] == changes):
            return self._MISSING
        return item[1]

    def put(self, key, changes, value):
        if len(self._items) >= self.size:
            self._items.clear()
        self._items[key] = (changes, value)

    def missing(self, value):
        return value is self._MISSING

    def forget(self, key, value):
        """Drop `key` if it still holds `value` (a failed read is not remembered)."""
        item = self._items.get(key)
        if item is not None and item[1] is value:
            del self._items[key]


async def _memoized(memo, key, changes, read, *args):
    """`read(*args)` in a worker thread, once per key and change set: requests that
    miss together (every poller right after an upload) share one read."""
    value = memo.get(key, changes)
    if memo.missing(value):
        value = asyncio.ensure_future(run_in_threadpool(read, *args))
        memo.put(key, changes, value)

        def forget_failure(done):
            if done.cancelled() or done.exception() is not None:
                memo.forget(key, done)

        value.add_done_callback(forget_failure)
    return await asyncio.shield(value)


class _PassOn(Exception):
    """This read is for the route to answer."""


def _header(scope, name):
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def _bearer(scope):
    header = _header(scope, b"authorization")
    if not header:
        raise _PassOn()
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _PassOn()
    return token


def _query(scope, allowed):
    """The query parameters when each is in `allowed` and given once; else pass on."""
    raw = scope.get("query_string", b"")
    if not raw:
        return {}
    params = {}
    for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
        if name not in allowed or name in params:
            raise _PassOn()
        params[name] = value
    return params


def _response(status, etag, body=b"", content_headers=()):
    """(status, ASGI headers, body) of a fast answer: a bodiless 304, or 200 with
    the cached JSON bytes, headers as the route sends them."""
    headers = [(b"etag", etag.encode("latin-1"))]
    if status == 200:
        headers += [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode("latin-1")),
        ]
        headers += list(content_headers)
    return status, headers, body


class FastReads:
    """The middleware (see the module docstring)."""

    def __init__(self, app, server_app):
        self.app = app
        self.server_app = server_app
        state = server_app.state
        self.db = state.db
        self.fresh = fresh_reads.for_app(server_app)
        self.tokens = Memo()
        self.plan_versions = Memo()
        self.total_fingerprints = Memo()
        self._routes = None

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "GET":
            handler = self._handler(scope["path"])
            if handler is not None:
                try:
                    answer = await handler(scope)
                except _PassOn:
                    answer = None
                except (
                    Exception
                ) as exc:  # the route answers it (e.g. 503 while the database is down)
                    log.debug("event=fast_read_pass error=%s", type(exc).__name__)
                    answer = None
                if answer is not None:
                    status, headers, body = answer
                    await send(
                        {"type": "http.response.start", "status": status, "headers": headers}
                    )
                    await send({"type": "http.response.body", "body": body})
                    return
        await self.app(scope, receive, send)

    def _handler(self, path):
        if path == TOTAL_PATH:
            return self._total
        if path.startswith(PLAN_PREFIX) and path.endswith(PLAN_SUFFIX):
            return self._plan
        return None

    def _route(self, path):
        """The app's route object, so request logs and metrics label a fast answer
        exactly like one from the route."""
        if self._routes is None:
            self._routes = dict((getattr(r, "path", None), r) for r in self.server_app.routes)
        return self._routes.get(path)

    async def _principal(self, token, changes):
        key = hashlib.sha256(token.encode("utf-8")).digest()
        found = await _memoized(self.tokens, key, changes, _token_row, self.db, token)
        if found is None:
            raise _PassOn()  # unknown or revoked: the route answers 401
        return found

    async def _plan(self, scope):
        account_id = scope["path"][len(PLAN_PREFIX) : -len(PLAN_SUFFIX)]
        if not account_id or "/" in account_id:
            raise _PassOn()
        if _query(scope, ("wait",)).get("wait", "0") != "0":
            raise _PassOn()  # a long-poll: the route waits
        token = _bearer(scope)
        changes = await self.fresh.get()
        token_scope, token_account = await self._principal(token, changes)
        if token_scope != "follow" or token_account != account_id:
            raise _PassOn()  # the route answers 403
        version = await _memoized(
            self.plan_versions, account_id, changes, _plan_version, self.db, account_id
        )
        if version is None:
            raise _PassOn()  # no such account: the route answers 404
        scope["route"] = self._route(PLAN_ROUTE)
        etag = '"%s"' % version
        if etag in app_caches.held_etags(_header(scope, b"if-none-match")):
            return _response(304, etag)
        body = app_caches.for_app(self.server_app).plan_bytes.get(version)
        if body is None:
            raise _PassOn()
        return _response(200, etag, body, ((b"cache-control", b"no-cache"),))

    async def _total(self, scope):
        params = _query(scope, ("strategies", "include_adjustments"))
        include = _BOOLEANS.get(params.get("include_adjustments", "true"))
        if include is None:
            raise _PassOn()
        try:
            names = parse_names(params.get("strategies"))
        except ApiError:
            raise _PassOn()  # the route answers 400/422
        token = _bearer(scope)
        changes = await self.fresh.get()
        token_scope, _account = await self._principal(token, changes)
        if token_scope != "read":
            raise _PassOn()
        fingerprint = await _memoized(
            self.total_fingerprints, tuple(names), changes, _total_fingerprint, self.db, names
        )
        etag = None if fingerprint is None else total_etag(names, include, fingerprint)
        if etag is None:
            raise _PassOn()  # a strategy is missing: the route answers 404
        scope["route"] = self._route(TOTAL_PATH)
        if etag in app_caches.held_etags(_header(scope, b"if-none-match")):
            return _response(304, etag)
        body = app_caches.for_app(self.server_app).totals.get(etag)
        if body is None:
            raise _PassOn()
        return _response(200, etag, body)


# ---- database reads ---------------------------------------------------------------------


# worker threads


def _token_row(db, token):
    """(scope, account_id) of an active token, or None."""
    with db.read() as session:
        row = credentials.find_token(session, token)
        return None if row is None else (row.scope, row.account_id)


def _plan_version(db, account_id):
    with db.read() as session:
        try:
            account = account_store.get_account(session, account_id)
        except account_store.AccountNotFound:
            return None
        return account_store.plan_version(session, account)


def _total_fingerprint(db, names):
    """The total's fingerprint, or None when a named strategy is missing."""
    with db.read() as session:
        if repo.missing_strategies(session, names):
            return None
        return repo.total_fingerprint(session, names)


def install(app):
    app.add_middleware(FastReads, server_app=app)
