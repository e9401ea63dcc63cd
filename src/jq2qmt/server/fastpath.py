"""Versioned reads answered before the framework.

Followers poll their plan with ``If-None-Match``; dashboards and the web pages poll
totals, strategies, their history and the accounts; nearly every such read answers
"unchanged" (304) or returns bytes that are already cached. `FastReads` is a pure
ASGI middleware that answers exactly those reads (the table of
`versioned_reads.READS`) without FastAPI's routing, dependency injection and thread
hops, and passes every other request (and every read it cannot answer for sure) to
the app unchanged, so errors, validation and body building stay in one place: the
routes.

It never answers from a stale view of the database:

- Before answering, a request waits for a read of the recent change numbers
  (`accounts.recent_changes`) that *started after the request arrived* (`FreshReads`).
  Concurrent requests share such reads, so under load one small query serves many
  requests, and a change committed by any server process before a request arrived
  is always seen by it.
- Every write that a versioned read, a token or a login session depends on writes a
  change row in its own transaction (snapshots and removals, account changes,
  reports, approvals, token and session revocations, see `store.changes`). So what a
  read needs from the database (the bearer token's row, the admin session's row, the
  read's key) is memoized per set of recent change numbers and recomputed only after
  a change.
- The answer is the route's own: 304 when the client holds the current ETag, else
  the body the route cached under that ETag, with the route's headers (both from
  `versioned_reads`). Anything else (no token or session, a token of another scope or
  account, an unusual query, a body not cached yet, a database error) goes to the
  route, which answers it in full.
"""

import asyncio
import hashlib
import json
import logging
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import cookie_parser

from jq2qmt.server import caches as app_caches
from jq2qmt.server import fresh_reads, paths, versioned_reads
from jq2qmt.server.sessions import COOKIE_NAME
from jq2qmt.store import credentials
from jq2qmt.store.models import AdminCredential, AdminSession, utcnow

log = logging.getLogger("jq2qmt.server")

MEMO_SIZE = 4096


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
    """The bearer token of the request; None without an Authorization header."""
    header = _header(scope, b"authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _PassOn()  # the route answers 401
    return token


def _query_pairs(scope):
    raw = scope.get("query_string", b"")
    return parse_qsl(raw.decode("latin-1"), keep_blank_values=True) if raw else []


def _response(status, headers, body=b""):
    """(status, ASGI headers, body) from `versioned_reads`' header pairs."""
    return status, [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers], body


class FastReads:
    """The middleware (see the module docstring)."""

    def __init__(self, app, server_app):
        self.app = app
        self.server_app = server_app
        state = server_app.state
        self.db = state.db
        self.fresh = fresh_reads.for_app(server_app)
        self.tokens = Memo()
        self.sessions = Memo()
        self.keys = Memo()
        self._routes = {}

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "GET":
            found = self._read(scope["path"])
            if found is not None:
                try:
                    answer = await self._answer(scope, *found)
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

    @staticmethod
    def _read(path):
        for read in versioned_reads.READS:
            match = read.pattern.match(path)
            if match is not None:
                return read, match
        return None

    def _route(self, path):
        """The app's route object, so request logs and metrics label a fast answer
        exactly like one from the route."""
        if path not in self._routes:
            self._routes[path] = paths.find_route(self.server_app.routes, path, "GET")
        return self._routes[path]

    async def _answer(self, scope, read, match):
        try:
            params = read.params(match, _query_pairs(scope))
        except ValueError:
            raise _PassOn()  # the route validates it
        changes = await self.fresh.get()
        await self._allowed(scope, read, params, changes)
        memo_key = json.dumps([read.name, params], sort_keys=True, ensure_ascii=False)
        key = await _memoized(self.keys, memo_key, changes, _key, self.db, read, params)
        etag = read.etag(params, key)
        scope["route"] = self._route(read.path)
        if versioned_reads.held(etag, _header(scope, b"if-none-match")):
            return _response(304, versioned_reads.not_modified_headers(etag))
        body = app_caches.for_app(self.server_app).bodies.get(etag)
        if body is None:
            raise _PassOn()  # the route builds it (and caches it for the next read)
        return _response(200, versioned_reads.body_headers(read, etag, body), body)

    async def _allowed(self, scope, read, params, changes):
        """Returns when the route would let this caller read; else passes on (the
        route answers 401/403). The routes' order: a bearer token decides when one is
        sent (the admin-only reads ignore it), else the admin's login session."""
        token = None if read.auth == versioned_reads.ADMIN else _bearer(scope)
        if token is not None:
            token_scope, token_account = await self._token(token, changes)
            if token_scope != read.auth:
                raise _PassOn()
            if read.auth == versioned_reads.FOLLOWER and token_account != params["account_id"]:
                raise _PassOn()
            return
        await self._admin_session(scope, changes)

    async def _token(self, token, changes):
        key = hashlib.sha256(token.encode("utf-8")).digest()
        found = await _memoized(self.tokens, key, changes, _token_row, self.db, token)
        if found is None:
            raise _PassOn()  # unknown or revoked: the route answers 401
        return found

    async def _admin_session(self, scope, changes):
        """The web pages' login session (`routes.pages.session_hook`), checked as the
        hook checks it: the signed cookie under the current admin password, and a
        session row that is neither revoked nor expired."""
        from jq2qmt.server.routes import pages

        if pages.session_hook not in self.server_app.state.session_hooks:
            raise _PassOn()
        cookie = cookie_parser(_header(scope, b"cookie") or "").get(COOKIE_NAME)
        if not cookie:
            raise _PassOn()
        password_hash = await _memoized(self.sessions, "password", changes, _password_hash, self.db)
        session = pages.signer_of(self.server_app).verify(cookie, password_hash)
        if session is None:
            raise _PassOn()
        expires = await _memoized(
            self.sessions, session.sid, changes, _session_expiry, self.db, session.sid
        )
        if expires is None or expires <= utcnow():
            raise _PassOn()


# ---- database reads ---------------------------------------------------------------------


# worker threads


def _token_row(db, token):
    """(scope, account_id) of an active token, or None."""
    with db.read() as session:
        row = credentials.find_token(session, token)
        return None if row is None else (row.scope, row.account_id)


def _key(db, read, params):
    """The read's key (its route's 404 ApiError when the subject is missing)."""
    with db.read() as session:
        return read.key(session, params)


def _password_hash(db):
    with db.read() as session:
        row = session.get(AdminCredential, 1)
        return row.password_hash if row is not None else None


def _session_expiry(db, sid):
    """When an active session row expires; None when it is missing or revoked."""
    with db.read() as session:
        row = session.get(AdminSession, sid)
        return None if row is None or row.revoked_at is not None else row.expires_at


def install(app):
    app.add_middleware(FastReads, server_app=app)
