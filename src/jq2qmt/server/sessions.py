"""Login sessions for the web pages: a stateless, HMAC-signed cookie.

Why stateless: several server processes may serve one instance behind a proxy, and a
session must be valid on all of them without a table. Everything a process needs to
check a cookie is in the cookie and in the instance folder:

- the cookie value is ``v1.<payload>.<signature>`` where the payload (base64url JSON)
  holds the issue time, the expiry, the CSRF token of this session and a fingerprint
  of the admin password hash, and the signature is HMAC-SHA256 over ``v1.<payload>``
  with a random key kept in ``<instance>/secret_key`` (0600, written by ``init`` or
  created on first use);
- the fingerprint binds the session to the password: changing the admin password
  changes the hash, so every existing session stops verifying (everyone is logged out);
- writes must also carry the session's CSRF token in the ``X-CSRF-Token`` header (or a
  ``csrf_token`` form field), which a cross-site page cannot read.
"""

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import time
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


class Session(object):
    """A verified login session."""

    __slots__ = ("csrf_token", "issued_at", "expires_at")

    def __init__(self, csrf_token: str, issued_at: int, expires_at: int):
        self.csrf_token = csrf_token
        self.issued_at = issued_at
        self.expires_at = expires_at

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


class SessionSigner(object):
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
        session = Session(secrets.token_urlsafe(32), issued, issued + self.max_age)
        payload = {
            "iat": session.issued_at,
            "exp": session.expires_at,
            "csrf": session.csrf_token,
            "pwf": self.password_fingerprint(password_hash),
        }
        body = _b64encode(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8"))
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
            csrf, fingerprint = str(payload["csrf"]), str(payload["pwf"])
        except (ValueError, KeyError, TypeError, UnicodeError, binascii.Error):
            return None
        current = time.time() if now is None else now
        if current >= expires or issued > current + 60:
            return None
        if not hmac.compare_digest(fingerprint, self.password_fingerprint(password_hash)):
            return None
        return Session(csrf, issued, expires)
