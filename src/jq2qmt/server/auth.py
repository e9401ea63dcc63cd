"""Who is calling: admin, reader/follower tokens, and signed JoinQuant uploads.

Dependencies for routes (FastAPI `Depends`):

- `require_admin`: an admin session (see `add_session_hook`) or the admin password in
  the ``X-Internal-Password`` header. Failed passwords are counted per remote address
  in the database and refused with 429 once `admin_max_failures` is reached within
  `admin_failure_window` seconds (holds across server processes). The address is
  the socket peer unless the peer is a configured trusted proxy (`client_ip`).
- `require_reader`: ``Authorization: Bearer <token>`` with scope "read", or admin.
- `require_scope("follow")`: a token with one of the given scopes (the accounts API
  checks `principal.account_id` against the path).
- `authenticate_upload`: a signed request (see `jq2qmt.signing`), or, for a client
  registered in token mode, the ``X-JQ2QMT-Upload-Token`` header (called by the
  upload route itself, which records the nonce in the upload's write transaction).

Tokens are never accepted in a query string.
"""

import base64
import binascii
import functools
import hashlib
import ipaddress
import logging
import threading
import time
from dataclasses import dataclass
from typing import Optional

from fastapi import Request

from jq2qmt import signing
from jq2qmt.server.errors import ApiError, AuthError
from jq2qmt.store import credentials

log = logging.getLogger("jq2qmt.server.auth")

HEADER_ADMIN_PASSWORD = "X-Internal-Password"
HEADER_UPLOAD_TOKEN = "X-JQ2QMT-Upload-Token"
_QUERY_SECRETS = ("token", "api_key", "apikey", "upload_token", "password", "access_token")


@dataclass
class Principal:
    kind: str  # "admin" | "token" | "client"
    name: str
    scope: Optional[str] = None  # token scope ("read", "follow"); "admin" for admins
    account_id: Optional[str] = None


ADMIN = Principal(kind="admin", name="admin", scope="admin")


def get_db(request: Request):
    return request.app.state.db


def get_settings(request: Request):
    return request.app.state.settings


def client_ip(request):
    """The caller's address: the socket peer, or, when the peer is one of the
    ``[server] trusted_proxies``, the right-most ``X-Forwarded-For`` entry that is not
    a trusted proxy itself (entries left of it were written by the client and are
    not believed). Always a normalised IP address when one is known."""
    peer = request.client.host if request.client else "unknown"
    trusted = _trusted_networks(getattr(get_settings(request), "trusted_proxies", ""))
    if not trusted or not _in_networks(peer, trusted):
        return peer
    hops = [
        hop.strip()
        for value in request.headers.getlist("X-Forwarded-For")
        for hop in value.split(",")
    ]
    for hop in reversed(hops):
        address = _ip(hop)
        if address is None:
            return peer  # a proxy we trust wrote something that is not an address
        if not _in_networks(address, trusted):
            return address
    return peer


@functools.lru_cache(maxsize=8)
def _trusted_networks(text):
    if not text:
        return ()
    from jq2qmt.config import parse_trusted_proxies

    return parse_trusted_proxies(text)


def _ip(text):
    """Normalised IP address text, or None."""
    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        return None


def _in_networks(address, networks):
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


_LIMITER_KEY_MAX = 80  # the auth_failures.key column


def limiter_key(address):
    """The rate-limiter key of a caller address: the same text for counting and for
    looking up, never longer than the column (a long label is hashed)."""
    key = "admin:%s" % address
    if len(key) > _LIMITER_KEY_MAX:
        key = "admin:#" + hashlib.sha256(address.encode("utf-8", "replace")).hexdigest()[:40]
    return key


# ---- admin ---------------------------------------------------------------------


def add_session_hook(app, hook):
    """Register ``hook(request) -> Principal | None``, tried before the password
    header by `require_admin`/`require_reader` (the web UI's login session)."""
    app.state.session_hooks.append(hook)


def _session_principal(request):
    for hook in getattr(request.app.state, "session_hooks", []):
        principal = hook(request)
        if principal is not None:
            return principal
    return None


def check_admin_password(request, password):
    """ADMIN if `password` is right; otherwise 401 (or 429 when rate-limited)."""
    db, settings = get_db(request), get_settings(request)
    address = client_ip(request)
    key = limiter_key(address)
    with db.read() as session:
        failures = credentials.recent_failures(session, key, settings.admin_failure_window)
        if failures >= settings.admin_max_failures:
            wait = settings.admin_failure_window
            raise ApiError(
                429,
                "too_many_attempts",
                "密码错误次数过多，请 %s后再试 / too many failed attempts, try again "
                "in %d seconds" % (wait_text(wait), wait),
                headers={"Retry-After": str(wait)},
            )
        ok = credentials.check_admin_password(session, password)
    if not ok:
        credentials.record_failure(db, key, settings.admin_failure_window)
        log.warning("admin password rejected from %s", address)
        raise AuthError("bad_password", "管理员密码错误 / wrong admin password")
    return ADMIN


def wait_text(seconds):
    """'5 分钟' / '30 秒': how long a locked-out caller waits, in words."""
    seconds = int(seconds)
    if seconds >= 60 and seconds % 60 == 0:
        return "%d 分钟" % (seconds // 60)
    return "%d 秒" % seconds


def _refuse_query_secrets(request):
    if any(name in request.query_params for name in _QUERY_SECRETS):
        raise AuthError(
            "secret_in_query",
            "凭据不能放在 URL 查询参数中，请使用请求头 / credentials are not accepted "
            "in the query string, send them in a header",
        )


def optional_admin(request):
    """ADMIN from a session hook or the password header; None if neither is present."""
    principal = _session_principal(request)
    if principal is not None:
        return principal
    password = request.headers.get(HEADER_ADMIN_PASSWORD)
    if password is not None:
        return check_admin_password(request, password)
    return None


def require_admin(request: Request) -> Principal:
    _refuse_query_secrets(request)
    principal = optional_admin(request)
    if principal is None:
        raise AuthError(
            "admin_required",
            "需要管理员认证（%s 请求头或登录） / admin authentication required "
            "(%s header or login)" % (HEADER_ADMIN_PASSWORD, HEADER_ADMIN_PASSWORD),
        )
    return principal


# ---- bearer tokens -----------------------------------------------------------------


def bearer_principal(request):
    """Principal for an ``Authorization: Bearer`` token; None if no such header."""
    header = request.headers.get("Authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError(
            "bad_authorization",
            "Authorization 请求头应为 Bearer <token> / Authorization must be Bearer <token>",
        )
    with get_db(request).read() as session:
        row = credentials.find_token(session, token.strip())
        if row is None:
            raise AuthError("bad_token", "令牌无效或已吊销 / token is invalid or revoked")
        return Principal(kind="token", name=row.name, scope=row.scope, account_id=row.account_id)


def require_scope(*scopes, allow_admin=True):
    """Dependency: a bearer token with one of `scopes` (or admin, if allowed)."""

    def dependency(request: Request) -> Principal:
        _refuse_query_secrets(request)
        principal = bearer_principal(request)
        if principal is not None:
            if principal.scope not in scopes:
                raise ApiError(403, "wrong_scope", "令牌权限不足 / token scope does not allow this")
            return principal
        if allow_admin:
            principal = optional_admin(request)
            if principal is not None:
                return principal
        raise AuthError(
            "auth_required",
            "需要认证：Authorization: Bearer <token> / authentication required: "
            "Authorization: Bearer <token>",
            headers={"WWW-Authenticate": "Bearer"},
        )

    return dependency


require_reader = require_scope("read")


# ---- signed uploads ------------------------------------------------------------------


class _NoncePruner:
    """Deletes expired nonces at most once a minute per process."""

    def __init__(self):
        self._lock = threading.Lock()
        self._last = 0.0

    def maybe_prune(self, db, window):
        now = time.monotonic()
        with self._lock:
            if now - self._last < 60:
                return
            self._last = now
        try:
            credentials.prune_nonces(db, window)
        except Exception:  # pruning is housekeeping; never fail an upload for it
            log.warning("nonce pruning failed", exc_info=True)


_pruner = _NoncePruner()


def path_and_query(request):
    """The request target exactly as sent: raw path plus '?' and raw query, if any."""
    raw = request.scope.get("raw_path") or request.scope["path"].encode("utf-8")
    target = raw.decode("latin-1")
    query = request.scope.get("query_string", b"")
    if query:
        target += "?" + query.decode("latin-1")
    return target


def authenticate_upload(request, body):
    """(principal, nonce guard) of an upload, or raise `AuthError` naming the failed
    check. Reads the client row and checks its upload token or the signature; writes
    nothing. For a signed request the guard is ``guard(session)``, to run in the
    upload's write transaction: it records the nonce there, or raises ``nonce_reused``
    (the transaction then writes nothing). A token client has no nonce: guard None."""
    _refuse_query_secrets(request)
    db, settings = get_db(request), get_settings(request)
    client_name = request.headers.get(signing.HEADER_CLIENT)
    if not client_name:
        raise AuthError(
            "missing_client",
            "缺少 %s 请求头 / missing %s header" % (signing.HEADER_CLIENT, signing.HEADER_CLIENT),
        )
    with db.read() as session:
        client = credentials.upload_client(session, client_name)
    if client is None:
        raise AuthError("unknown_client", "未注册的客户端 / unknown client")
    if client.revoked_at is not None:
        raise AuthError("client_revoked", "客户端已被吊销 / client has been revoked")
    if client.kind == "token":
        return _verify_token_client(request, client), None
    _verify_signature(request, body, client, settings)
    _pruner.maybe_prune(db, settings.signature_window)
    return Principal(kind="client", name=client.name), _nonce_guard(
        client.name, request.headers[signing.HEADER_NONCE]
    )


def _nonce_guard(client_name, nonce):
    def guard(session):
        if not credentials.record_nonce(session, client_name, nonce):
            raise AuthError(
                "nonce_reused",
                "nonce 已使用过（重放请求） / nonce was already used (replayed request)",
            )

    return guard


def _verify_token_client(request, client):
    token = request.headers.get(HEADER_UPLOAD_TOKEN)
    if not token:
        raise AuthError(
            "missing_token",
            "缺少 %s 请求头 / missing %s header" % (HEADER_UPLOAD_TOKEN, HEADER_UPLOAD_TOKEN),
        )
    if not credentials.token_matches(client, token):
        raise AuthError("bad_token", "上传令牌错误 / wrong upload token")
    return Principal(kind="client", name=client.name)


def _verify_signature(request, body, client, settings):
    headers = request.headers
    for name in (signing.HEADER_TIMESTAMP, signing.HEADER_NONCE, signing.HEADER_SIGNATURE):
        if not headers.get(name):
            raise AuthError(
                "missing_signature", "缺少 %s 请求头 / missing %s header" % (name, name)
            )
    try:
        timestamp = int(headers[signing.HEADER_TIMESTAMP])
    except ValueError:
        raise AuthError(
            "bad_timestamp", "时间戳必须是整数秒 / timestamp must be whole Unix seconds"
        )
    if abs(time.time() - timestamp) > settings.signature_window:
        raise AuthError(
            "timestamp_expired",
            "时间戳超出允许窗口（%d 秒），检查时钟 / timestamp outside the %d s window, "
            "check the clock" % (settings.signature_window, settings.signature_window),
        )
    nonce = headers[signing.HEADER_NONCE]
    if not signing.NONCE_PATTERN.match(nonce):
        raise AuthError(
            "bad_nonce",
            "nonce 应为 16-64 个 [A-Za-z0-9_-] 字符 / nonce must be 16-64 characters of [A-Za-z0-9_-]",
        )
    try:
        signature = base64.b64decode(headers[signing.HEADER_SIGNATURE], validate=True)
    except (binascii.Error, ValueError):
        raise AuthError("bad_signature", "签名不是有效的 base64 / signature is not valid base64")
    message = signing.canonical_string(
        request.method, path_and_query(request), timestamp, nonce, body
    )
    try:
        public_key = _public_key(client)
    except (ValueError, TypeError):
        log.error("stored public key of client %s cannot be loaded", client.name)
        raise AuthError("bad_signature", "签名验证失败 / signature verification failed")
    if not signing.verify_message(public_key, message, signature):
        raise AuthError(
            "bad_signature",
            "签名验证失败（请求体、路径或密钥不符） / signature verification failed "
            "(body, path or key does not match)",
        )


_keys = {}
_keys_lock = threading.Lock()


def _public_key(client):
    """The client's parsed public key, remembered by client name and the SHA-256 of
    its PEM (a re-keyed client gets a new entry; the key is still read from the
    database on every request, only the parsing is saved)."""
    pem = client.public_key_pem
    cache_key = (client.name, hashlib.sha256((pem or "").encode("utf-8")).hexdigest())
    with _keys_lock:
        key = _keys.get(cache_key)
    if key is None:
        key = signing.load_public_key(pem)
        with _keys_lock:
            if len(_keys) >= 1024:
                _keys.clear()
            _keys[cache_key] = key
    return key
