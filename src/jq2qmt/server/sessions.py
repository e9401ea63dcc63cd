"""Login sessions for the web pages: an HMAC-signed cookie naming a session row.

Several server processes may serve one instance behind a proxy, and a session must be
valid on all of them and end on all of them at once. So:

- the cookie value is ``v1.<payload>.<signature>`` where the payload (base64url JSON)
  holds the session id, the issue time, the expiry, the CSRF token of this session and
  a fingerprint of the admin password hash, and the signature is HMAC-SHA256 over
  ``v1.<payload>`` with a random key kept in ``<instance>/secret_key`` (0600, written by
  ``init`` or created on first use);
- the session id names a row of ``admin_sessions`` in the database: a cookie is
  accepted only while that row exists, is unexpired and not revoked. Logout revokes
  the row (a copy of the cookie is then refused too), and the admin can list and
  revoke sessions (``jq2qmt sessions``, ``/api/v1/internal/sessions``);
- the fingerprint binds the session to the password: changing the admin password
  changes the hash, so every existing session stops verifying (everyone is logged
  out), and the change also revokes every row;
- writes must also carry the session's CSRF token in the ``X-CSRF-Token`` header (or a
  ``csrf_token`` form field), which a cross-site page cannot read.
"""

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Optional, Tuple

COOKIE_NAME = "jq2qmt_session"
LOGIN_CSRF_COOKIE = "jq2qmt_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
KEY_FILE_NAME = "secret_key"  # the same file `jq2qmt init` writes
DEFAULT_MAX_AGE = 12 * 3600  # a trading day plus the evening, then log in again
_VERSION = "v1"
_KEY_BYTES = 32


class Session:
    """A verified login session."""

    __slots__ = ("csrf_token", "issued_at", "expires_at", "sid")

    def __init__(self, csrf_token: str, issued_at: int, expires_at: int, sid: str = ""):
        self.csrf_token = csrf_token
        self.issued_at = issued_at
        self.expires_at = expires_at
        self.sid = sid

    def csrf_matches(self, presented: Optional[str]) -> bool:
        """True when ``presented`` is this session's CSRF token (constant time)."""
        if not presented:
            return False
        return hmac.compare_digest(presented.encode("utf-8"), self.csrf_token.encode("utf-8"))


def load_or_create_key(path: Path) -> bytes:
    """Read the session key, creating it (random, mode 0600) if it does not exist.

    Creation uses O_EXCL so two processes starting together agree on one key: the
    loser of the race reads the winner's file.
    """
    path = Path(path)
    try:
        fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key(path)
    try:
        os.write(fd, secrets.token_hex(_KEY_BYTES).encode("ascii") + b"\n")
    finally:
        os.close(fd)
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    # Another process may have created the file an instant ago and not written it yet.
    for _ in range(50):
        text = path.read_text(encoding="ascii").strip()
        if len(text) >= 2 * _KEY_BYTES:
            try:
                return binascii.unhexlify(text)
            except (binascii.Error, ValueError):
                break
        time.sleep(0.02)
    raise RuntimeError("会话密钥文件损坏 / session key file is unreadable: %s" % path)


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    """Issues and verifies session cookies with the instance's key."""

    def __init__(self, key: bytes, max_age: int = DEFAULT_MAX_AGE):
        if len(key) < 16:
            raise ValueError("session key too short")
        self._key = key
        self.max_age = int(max_age)

    @classmethod
    def for_instance(cls, instance_dir: Path, max_age: int = DEFAULT_MAX_AGE) -> "SessionSigner":
        """The signer of an instance folder (its key file is created on first use)."""
        return cls(load_or_create_key(Path(instance_dir) / KEY_FILE_NAME), max_age)

    def password_fingerprint(self, password_hash: str) -> str:
        mac = hmac.new(self._key, b"pw:" + password_hash.encode("utf-8"), hashlib.sha256)
        return mac.hexdigest()[:32]

    def _sign(self, message: str) -> str:
        return _b64encode(hmac.new(self._key, message.encode("ascii"), hashlib.sha256).digest())

    def issue(self, password_hash: str, now: Optional[float] = None) -> Tuple[str, Session]:
        """A new session for the current admin password: (cookie value, session)."""
        issued = int(time.time() if now is None else now)
        session = Session(
            secrets.token_urlsafe(32), issued, issued + self.max_age, secrets.token_hex(16)
        )
        payload = {
            "sid": session.sid,
            "iat": session.issued_at,
            "exp": session.expires_at,
            "csrf": session.csrf_token,
            "pwf": self.password_fingerprint(password_hash),
        }
        body = _b64encode(
            json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8")
        )
        message = "%s.%s" % (_VERSION, body)
        return "%s.%s" % (message, self._sign(message)), session

    def verify(
        self, cookie_value: Optional[str], password_hash: Optional[str], now: Optional[float] = None
    ) -> Optional[Session]:
        """The session in ``cookie_value`` if it is authentic, unexpired and was issued
        under ``password_hash``; None otherwise (never raises on bad input)."""
        if not cookie_value or not password_hash or len(cookie_value) > 4096:
            return None
        parts = cookie_value.split(".")
        if len(parts) != 3 or parts[0] != _VERSION:
            return None
        message = "%s.%s" % (parts[0], parts[1])
        try:
            if not hmac.compare_digest(self._sign(message), parts[2]):
                return None
            payload = json.loads(_b64decode(parts[1]).decode("utf-8"))
            issued, expires = int(payload["iat"]), int(payload["exp"])
            csrf, fingerprint, sid = str(payload["csrf"]), str(payload["pwf"]), str(payload["sid"])
        except (ValueError, KeyError, TypeError, UnicodeError, binascii.Error):
            return None
        current = time.time() if now is None else now
        if current >= expires or issued > current + 60:
            return None
        if not hmac.compare_digest(fingerprint, self.password_fingerprint(password_hash)):
            return None
        if not _SID.match(sid):
            return None
        return Session(csrf, issued, expires, sid)


# ---- the session rows ----------------------------------------------------------------

SID_PATTERN = _SID = re.compile(r"^[0-9a-f]{32}$")


def _utc(timestamp):
    return datetime.fromtimestamp(timestamp, timezone.utc).replace(tzinfo=None)


def record(
    db, session: Session, remote_addr: Optional[str] = None, user_agent: Optional[str] = None
):
    """Store a freshly issued session (and forget sessions that ended a day ago)."""
    from sqlalchemy import delete, or_

    from jq2qmt.store.models import AdminSession, utcnow

    def write(tx):
        cutoff = utcnow() - timedelta(days=1)
        tx.execute(
            delete(AdminSession).where(
                or_(AdminSession.expires_at < cutoff, AdminSession.revoked_at < cutoff)
            )
        )
        tx.add(
            AdminSession(
                id=session.sid,
                created_at=_utc(session.issued_at),
                expires_at=_utc(session.expires_at),
                remote_addr=(remote_addr or None) and remote_addr[:64],
                user_agent=(user_agent or None) and _printable(user_agent)[:200],
            )
        )

    db.write(write)


def _printable(text):
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def is_active(tx, sid: str) -> bool:
    """True while the session row `sid` exists, is unexpired and not revoked."""
    from jq2qmt.store.models import AdminSession, utcnow

    row = tx.get(AdminSession, sid)
    return row is not None and row.revoked_at is None and row.expires_at > utcnow()


def list_active(tx):
    """The unexpired, unrevoked sessions, newest first, as dicts (no secrets)."""
    from sqlalchemy import select

    from jq2qmt.store.models import AdminSession, utcnow

    rows = tx.scalars(
        select(AdminSession)
        .where(AdminSession.revoked_at.is_(None), AdminSession.expires_at > utcnow())
        .order_by(AdminSession.created_at.desc())
    ).all()
    return [
        {
            "id": r.id,
            "created_at": r.created_at,
            "expires_at": r.expires_at,
            "remote_addr": r.remote_addr,
            "user_agent": r.user_agent,
        }
        for r in rows
    ]


class AmbiguousSession(ValueError):
    """A session id prefix that matches more than one active session."""


def revoke(db, sid: Optional[str] = None) -> int:
    """Revoke session `sid` (its id, or a prefix of at least 8 characters matching
    one active session), or every session when `sid` is None; returns how many were
    revoked (0: no such active session). `AmbiguousSession` for a shared prefix."""
    from sqlalchemy import select, update

    from jq2qmt.store import changes
    from jq2qmt.store.models import AdminSession, utcnow

    def write(tx):
        query = update(AdminSession).where(AdminSession.revoked_at.is_(None))
        if sid is not None:
            if len(sid) < 8:
                return 0
            ids = tx.scalars(
                select(AdminSession.id).where(
                    AdminSession.id.startswith(sid, autoescape=True),
                    AdminSession.revoked_at.is_(None),
                )
            ).all()
            if not ids:
                return 0
            if len(ids) > 1:
                raise AmbiguousSession(sid)
            query = query.where(AdminSession.id == ids[0])
        revoked = tx.execute(query.values(revoked_at=utcnow())).rowcount or 0
        if revoked:
            # the fast path memoizes session rows per set of recent changes
            changes.note(tx, "session", sid or "*")
        return revoked

    return db.write(write, attempts=1)
