"""Reads whose answer is determined by stored versions, declared once.

Each `VersionedRead` names its path, its query parameters, who may read it, a *key*
(a small query whose result changes whenever the answer does, see
`store.read_versions`) and how the body is built. From these come, for the route and
the fast path (`server.fastpath`) alike:

- the strong ETag: a hash of the read's name, its parameters and the key;
- 304 when the client holds that ETag, without building anything;
- the encoded body, cached per ETag (`caches.AppCaches.bodies`), so an unchanged
  answer is built and encoded once;
- the response headers.

The route computes the key and builds the body in one read transaction (one snapshot),
so a cached body always belongs to its ETag; the fast path only reads keys (memoized
per set of recent changes) and answers 304 or a cached body, or leaves the request to
the route.
"""

import hashlib
import json
import re

from fastapi.responses import Response

from jq2qmt.server import caches, paths, plans
from jq2qmt.server.errors import ApiError, not_found
from jq2qmt.store import accounts as account_store
from jq2qmt.store import read_versions, repo
from jq2qmt.store.snapshot import check_strategy_name

# Version numbers are 32-bit integer columns: a larger number in a URL must be a 422,
# not a database error (PostgreSQL refuses the comparison, "integer out of range").
MAX_VERSION = 2**31 - 1
MAX_OFFSET = 2**31 - 1
MAX_HISTORY = 1000
MAX_REPORTS = 500
REPORT_KINDS = ("round", "heartbeat", "preflight", "all")

# who may read: a read token or the admin; the admin only; the account's own
# follower token or the admin
READER, ADMIN, FOLLOWER = "read", "admin", "follow"

REQUIRED = object()  # a query parameter without a default: its absence is the route's 422

_DIGITS = re.compile(r"^[0-9]{1,10}$")
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


# ---- parameters as the fast path reads them (the usual spellings only) ------------------


def integer(low, high):
    """A parser of a decimal integer in [low, high]; anything else raises ValueError
    (and the route answers it)."""

    def parse(text):
        if not _DIGITS.match(text):
            raise ValueError(text)
        value = int(text)
        if not low <= value <= high:
            raise ValueError(text)
        return value

    return parse


def boolean(text):
    value = _BOOLEANS.get(text)
    if value is None:
        raise ValueError(text)
    return value


def one_of(*choices):
    def parse(text):
        if text not in choices:
            raise ValueError(text)
        return text

    return parse


def parse_names(strategies):
    """The `strategies` query value of a total as a list of unique checked names."""
    if strategies is None or not strategies.strip():
        return []
    names = [n.strip() for n in strategies.split(",") if n.strip()]
    for name in names:
        check_strategy_name(name, "strategies")
    return list(dict.fromkeys(names))


def _names(text):
    try:
        return parse_names(text)
    except ApiError:
        raise ValueError(text)


# ---- the table --------------------------------------------------------------------------


class VersionedRead:
    """One read (see the module docstring). `query`: {name: (parse, default)};
    `path_types`: {path parameter: parse} for the non-text ones; `key(session,
    params)` raises the route's 404 (an ApiError) for a missing subject;
    `build(session, params, key, etag)` returns the body (a dict); `etag(params, key)`
    replaces the hashed ETag when the key itself is the client-visible version."""

    def __init__(
        self, name, path, auth, key, build, query=None, path_types=None, etag=None, headers=()
    ):
        self.name = name
        self.path = path
        self.pattern = paths.regex(path)
        self.auth = auth
        self.key = key
        self.build = build
        self.query = dict(query or {})
        self.path_types = dict(path_types or {})
        self._etag = etag
        self.headers = tuple(headers)

    def params(self, path_match, pairs):
        """The parameters of a request, from the path's match and the query's (name,
        value) pairs, when each is of the usual form; else ValueError."""
        params = path_match.groupdict()
        for name, parse in self.path_types.items():
            params[name] = parse(params[name])
        given = {}
        for name, value in pairs:
            if name not in self.query or name in given:
                raise ValueError(name)
            given[name] = value
        for name, (parse, default) in self.query.items():
            if name in given:
                params[name] = parse(given[name])
            elif default is REQUIRED:
                raise ValueError(name)
            else:
                params[name] = default
        return params

    def etag(self, params, key):
        if self._etag is not None:
            return self._etag(params, key)
        text = json.dumps(
            [self.name, params, key], sort_keys=True, ensure_ascii=False, separators=(",", ":")
        )
        return '"%s"' % hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]

    def encode(self, session, params, key, etag):
        return encode(self.build(session, params, key, etag))


def encode(body):
    """JSON bytes exactly as FastAPI's JSONResponse encodes `body`."""
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode(
        "utf-8"
    )


def held(etag, if_none_match):
    """True when the client's ``If-None-Match`` header value names `etag`."""
    return etag in caches.held_etags(if_none_match)


def not_modified_headers(etag):
    return [("etag", etag)]


def body_headers(read, etag, body):
    return [
        ("etag", etag),
        ("content-type", "application/json"),
        ("content-length", str(len(body))),
    ] + list(read.headers)


def respond(request, read, params):
    """The route's answer to `read` with `params` (already validated by the route)."""
    return answer(request.app, read, params, request.headers.get("If-None-Match"))


def answer(app, read, params, if_none_match=None):
    """304 when `if_none_match` names the current ETag, else the body, built once per
    ETag; key and body from one read transaction."""
    with app.state.db.read() as session:
        key = read.key(session, params)
        etag = read.etag(params, key)
        if held(etag, if_none_match):
            return Response(status_code=304, headers=dict(not_modified_headers(etag)))
        body = caches.for_app(app).bodies.get_or_build(
            etag, lambda: read.encode(session, params, key, etag)
        )
    return Response(body, headers=dict(body_headers(read, etag, body)))


# ---- keys and bodies --------------------------------------------------------------------


def with_position_times(snapshot):
    for position in snapshot["positions"]:
        position["update_time"] = snapshot["update_time"]  # the seed put it on each row
    return snapshot


def _found(key, what, field):
    if key is None:
        raise not_found(what, field)
    return key


def _total_key(session, params):
    missing = repo.missing_strategies(session, params["strategies"])
    if missing:
        missing = ", ".join(missing)
        raise ApiError(
            404,
            "unknown_strategy",
            "策略不存在或已删除：%s / unknown or removed strategies: %s" % (missing, missing),
            "strategies",
        )
    return repo.total_fingerprint(session, params["strategies"])


def _total_body(session, params, key, etag):
    total = repo.total_positions(session, params["strategies"], params["include_adjustments"])
    total["etag"] = etag.strip('"')
    return total


def _strategy_key(session, params):
    key = read_versions.strategy_key(session, params["strategy_name"])
    return _found(key, ("策略", "strategy"), "strategy_name")


def _strategy_body(session, params, key, etag):
    return with_position_times(repo.get_strategy(session, params["strategy_name"]))


def _history_key(session, params):
    key = read_versions.history_key(session, params["strategy_name"])
    return _found(key, ("策略", "strategy"), "strategy_name")


def _history_body(session, params, key, etag):
    return repo.history(session, params["strategy_name"], params["limit"], params["offset"])


def _version_key(session, params):
    key = read_versions.versions_key(session, params["strategy_name"], [params["version"]])
    return _found(key, ("策略或版本", "strategy or version"), "version")


def _version_body(session, params, key, etag):
    return repo.get_version(session, params["strategy_name"], params["version"])


def _diff_versions(session, name, from_version, to_version):
    """(old, new, to_version) of a diff, or the route's 404 naming what is missing."""
    if to_version is None:
        try:
            to_version = repo.history(session, name, 1)["version"]
        except repo.NotFoundError:
            raise not_found(("策略", "strategy"), "strategy_name")
    versions = []
    for version, field in ((from_version, "from"), (to_version, "to")):
        try:
            versions.append(repo.get_version(session, name, version))
        except repo.NotFoundError:
            raise not_found(("策略或版本", "strategy or version"), field)
    return versions[0], versions[1], to_version


def _diff_key(session, params):
    key = read_versions.versions_key(
        session, params["strategy_name"], [params["from"], params["to"]]
    )
    if key is None:
        _diff_versions(session, params["strategy_name"], params["from"], params["to"])
        raise not_found(("策略或版本", "strategy or version"), "to")
    return key


def _diff_body(session, params, key, etag):
    name = params["strategy_name"]
    old, new, to_version = _diff_versions(session, name, params["from"], params["to"])
    return {
        "strategy_name": name,
        "from": params["from"],
        "to": to_version,
        "changes": repo.diff_positions(old["positions"], new["positions"]),
    }


def _account_error(exc):
    return ApiError(exc.status, exc.code, exc.message, exc.field)


def _accounts_key(session, params):
    return read_versions.accounts_key(session)


def _accounts_body(session, params, key, etag):
    return {"accounts": account_store.list_accounts(session)}


def _reports_key(session, params):
    key = read_versions.reports_key(session, params["account_id"])
    if key is None:
        raise _account_error(account_store.AccountNotFound(params["account_id"]))
    return key


def _reports_body(session, params, key, etag):
    reports = account_store.list_reports(
        session, params["account_id"], params["limit"], params["kind"]
    )
    return {"account_id": params["account_id"], "reports": reports}


def _account(session, account_id):
    try:
        return account_store.get_account(session, account_id)
    except account_store.AccountError as exc:
        raise _account_error(exc)


def _plan_key(session, params):
    return account_store.plan_version(session, _account(session, params["account_id"]))


def plan_etag(version):
    """A plan's ETag is its plan version (followers compare the two)."""
    return '"%s"' % version


def _plan_body(session, params, key, etag):
    return plans.build_plan(session, _account(session, params["account_id"]))


TOTAL = VersionedRead(
    "total",
    paths.TOTAL,
    READER,
    _total_key,
    _total_body,
    query={"strategies": (_names, []), "include_adjustments": (boolean, True)},
)
STRATEGY = VersionedRead("strategy", paths.STRATEGY, READER, _strategy_key, _strategy_body)
HISTORY = VersionedRead(
    "history",
    paths.HISTORY,
    READER,
    _history_key,
    _history_body,
    query={"limit": (integer(1, MAX_HISTORY), 100), "offset": (integer(0, MAX_OFFSET), 0)},
)
VERSION = VersionedRead(
    "version",
    paths.VERSION,
    READER,
    _version_key,
    _version_body,
    path_types={"version": integer(1, MAX_VERSION)},
)
DIFF = VersionedRead(
    "diff",
    paths.DIFF,
    READER,
    _diff_key,
    _diff_body,
    query={"from": (integer(1, MAX_VERSION), REQUIRED), "to": (integer(1, MAX_VERSION), None)},
)
ACCOUNTS = VersionedRead("accounts", paths.ACCOUNTS, ADMIN, _accounts_key, _accounts_body)
REPORTS = VersionedRead(
    "reports",
    paths.REPORTS,
    ADMIN,
    _reports_key,
    _reports_body,
    query={
        "limit": (integer(1, MAX_REPORTS), 50),
        "kind": (one_of(*REPORT_KINDS), "round"),
    },
)
PLAN = VersionedRead(
    "plan",
    paths.PLAN,
    FOLLOWER,
    _plan_key,
    _plan_body,
    # a long-poll (wait > 0) waits in the route
    query={"wait": (one_of("0"), "0")},
    etag=lambda params, key: plan_etag(key),
    headers=(("cache-control", "no-cache"),),
)

READS = (TOTAL, STRATEGY, HISTORY, VERSION, DIFF, ACCOUNTS, REPORTS, PLAN)
