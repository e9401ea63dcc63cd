"""Clients (upload keys/tokens), replay nonces, API tokens, the admin password and
failed-login records. Secrets are stored only as hashes: argon2 for the password,
SHA-256 for high-entropy random tokens.
"""

import hashlib
import hmac
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from jq2qmt.store import changes
from jq2qmt.store.models import (
    AdminCredential,
    AdminSession,
    ApiToken,
    AuthFailure,
    Change,
    Client,
    Nonce,
    utcnow,
)

TOKEN_PREFIX = "jq2qmt_"
SCOPES = ("read", "follow")
_hasher = PasswordHasher()


class CredentialError(ValueError):
    """A credential command cannot be done (duplicate name, unknown name...)."""


def new_token():
    """A random bearer token (256 bits), shown to the user once."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token):
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# ---- admin password ----------------------------------------------------------

MIN_PASSWORD_LENGTH = 10


def password_problem(password, current=None):
    """A bilingual reason why `password` is not acceptable, or None when it is."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        return "密码至少 %d 个字符 / password must have at least %d characters" % (
            MIN_PASSWORD_LENGTH,
            MIN_PASSWORD_LENGTH,
        )
    if len(set(password)) < 4:
        return "密码过于简单 / password is too simple"
    if current is not None and password == current:
        return "新密码与当前密码相同 / new password equals the current one"
    return None


def hash_password(password):
    return _hasher.hash(password)


def set_admin_password(db, password):
    """Store the admin password (argon2); creates or replaces the single row."""
    digest = hash_password(password)

    def write(session):
        row = session.get(AdminCredential, 1)
        now = utcnow()
        if row is None:
            session.add(AdminCredential(id=1, password_hash=digest, created_at=now, updated_at=now))
        else:
            row.password_hash = digest
            row.updated_at = now
        # every web login session ends with the old password (see server/sessions.py)
        session.execute(
            update(AdminSession).where(AdminSession.revoked_at.is_(None)).values(revoked_at=now)
        )
        changes.note(session, "admin", "password", now=now)

    db.write(write)


def admin_password_info(session):
    row = session.get(AdminCredential, 1)
    if row is None:
        return None
    return {"created_at": row.created_at, "updated_at": row.updated_at}


def check_admin_password(session, password):
    """True when `password` matches the stored admin password."""
    row = session.get(AdminCredential, 1)
    if row is None or not isinstance(password, str) or not password:
        return False
    try:
        return _hasher.verify(row.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


_FAILURE_KEY_MAX = 80  # the auth_failures.key column; counting and recording use the same cut


def recent_failures(session, key, window_seconds):
    since = utcnow() - timedelta(seconds=window_seconds)
    return (
        session.scalar(
            select(func.count())
            .select_from(AuthFailure)
            .where(AuthFailure.key == key[:_FAILURE_KEY_MAX], AuthFailure.at >= since)
        )
        or 0
    )


def record_failure(db, key, window_seconds):
    """Remember one failed login for `key`; forget ones older than the window."""

    def write(session):
        session.add(AuthFailure(key=key[:_FAILURE_KEY_MAX], at=utcnow()))
        cutoff = utcnow() - timedelta(seconds=window_seconds)
        session.execute(
            delete(AuthFailure).where(
                AuthFailure.key == key[:_FAILURE_KEY_MAX], AuthFailure.at < cutoff
            )
        )

    db.write(write)


# ---- upload clients ------------------------------------------------------------


def _key_kind(public_key_pem):
    from jq2qmt import signing

    key = signing.load_public_key(public_key_pem)
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise CredentialError(
                "RSA 公钥至少 2048 位 / RSA public key must be at least 2048 bits"
            )
        return "rsa"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519"
    raise CredentialError(
        "只支持 RSA 或 Ed25519 公钥 / only RSA or Ed25519 public keys are supported"
    )


def add_key_client(db, name, public_key_pem):
    """Register (or re-key a revoked) client with a PEM public key."""
    try:
        if isinstance(public_key_pem, bytes):
            public_key_pem = public_key_pem.decode("ascii")  # UnicodeDecodeError is a ValueError
        kind = _key_kind(public_key_pem)
    except (ValueError, TypeError):
        raise CredentialError(
            "无法读取公钥（需要 PEM 格式） / cannot read the public key (PEM expected)"
        )
    _add_client(db, name, kind, public_key_pem=public_key_pem)
    return kind


def add_token_client(db, name):
    """Register a client that uploads with a plain token (less safe); returns the token."""
    token = new_token()
    _add_client(db, name, "token", token_hash=token_hash(token))
    return token


def _add_client(db, name, kind, public_key_pem=None, token_hash=None):
    def write(session):
        row = session.scalars(select(Client).where(Client.name == name)).first()
        if row is not None and row.revoked_at is None:
            raise CredentialError(
                "客户端 %s 已存在（先 keys revoke） / client %s already exists (revoke it first)"
                % (name, name)
            )
        if row is None:
            row = Client(name=name)
            session.add(row)
        row.kind, row.public_key_pem, row.token_hash = kind, public_key_pem, token_hash
        row.revoked_at, row.created_at = None, utcnow()

    try:
        db.write(write, attempts=1)
    except IntegrityError:
        raise CredentialError("客户端 %s 已存在 / client %s already exists" % (name, name))


def get_client(session, name):
    return session.scalars(select(Client).where(Client.name == name)).first()


_CLIENTS = Client.__table__
_UPLOAD_CLIENT = select(
    _CLIENTS.c.name,
    _CLIENTS.c.kind,
    _CLIENTS.c.public_key_pem,
    _CLIENTS.c.token_hash,
    _CLIENTS.c.revoked_at,
).where(_CLIENTS.c.name == bindparam("name"))


def upload_client(session, name):
    """The columns an upload is checked against (a plain row, attribute access like
    `get_client`'s object), or None; one prebuilt Core query per upload."""
    return session.connection().execute(_UPLOAD_CLIENT, {"name": name}).first()


def list_clients(session):
    return session.scalars(select(Client).order_by(Client.name)).all()


def revoke_client(db, name):
    def write(session):
        row = session.scalars(select(Client).where(Client.name == name)).first()
        if row is None or row.revoked_at is not None:
            raise CredentialError("没有有效的客户端 %s / no active client %s" % (name, name))
        row.revoked_at = utcnow()

    db.write(write, attempts=1)


def token_matches(client, token):
    return client.token_hash is not None and hmac.compare_digest(
        client.token_hash, token_hash(token)
    )


_NONCES = Nonce.__table__
_NONCE_SEEN = select(_NONCES.c.id).where(
    _NONCES.c.client_name == bindparam("client"), _NONCES.c.nonce == bindparam("nonce")
)
_INSERT_NONCE = insert(_NONCES)


def record_nonce(session, client_name, nonce):
    """Record a nonce in the caller's write transaction; False when it was already
    used (a replay). Two transactions inserting the same nonce at once: the unique
    constraint fails the later one, and `Database.write` retries it, which then sees
    the nonce and answers False."""
    conn = session.connection()
    if conn.execute(_NONCE_SEEN, {"client": client_name, "nonce": nonce}).first() is not None:
        return False
    conn.execute(_INSERT_NONCE, {"client_name": client_name, "nonce": nonce, "seen_at": utcnow()})
    return True


def use_nonce(db, client_name, nonce, window_seconds=None):
    """Record a nonce in a transaction of its own; False when it was already used."""
    return db.write(lambda session: record_nonce(session, client_name, nonce))


def prune_nonces(db, window_seconds):
    """Forget nonces older than twice the window (their timestamps are refused anyway)."""
    cutoff = utcnow() - timedelta(seconds=2 * window_seconds)
    db.write(lambda session: session.execute(delete(Nonce).where(Nonce.seen_at < cutoff)))


# ---- API tokens ------------------------------------------------------------------


def create_token(db, name, scope, account_id=None):
    """Create a bearer token; returns the token text (only its hash is stored)."""
    if scope not in SCOPES:
        raise CredentialError(
            "scope 只能是 %s / scope must be one of %s" % (", ".join(SCOPES), ", ".join(SCOPES))
        )
    if scope == "follow" and not account_id:
        # the accounts API accepts a follow token only for its own account: one without
        # an account would be refused everywhere, so do not hand it out
        raise CredentialError(
            "follow 令牌需要绑定账户（--account ID） / a follow token needs an account (--account ID)"
        )
    token = new_token()

    def write(session):
        exists = session.scalars(
            select(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None))
        ).first()
        if exists is not None:
            raise CredentialError(
                "令牌 %s 已存在（先 token revoke） / token %s already exists (revoke it first)"
                % (name, name)
            )
        session.add(
            ApiToken(name=name, token_hash=token_hash(token), scope=scope, account_id=account_id)
        )

    db.write(write, attempts=1)
    return token


def find_token(session, token):
    """The active `ApiToken` row for a presented token, or None."""
    if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX):
        return None
    row = session.scalars(select(ApiToken).where(ApiToken.token_hash == token_hash(token))).first()
    if row is None or row.revoked_at is not None:
        return None
    return row


def revoke_tokens(session, rows):
    """Mark token rows revoked and write a change row in the same transaction: the
    server's conditional-read fast path caches token lookups per change counter, so
    a revocation must move the counter to take effect at once in every process."""
    now = utcnow()
    for row in rows:
        row.revoked_at = now
        session.add(Change(kind="token", subject=row.name, version=None, created_at=now))


def list_tokens(session):
    return session.scalars(select(ApiToken).order_by(ApiToken.name, ApiToken.id)).all()


def revoke_token(db, name):
    def write(session):
        rows = session.scalars(
            select(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None))
        ).all()
        if not rows:
            raise CredentialError("没有有效的令牌 %s / no active token %s" % (name, name))
        revoke_tokens(session, rows)
        return len(rows)

    return db.write(write, attempts=1)
