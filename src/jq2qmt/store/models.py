"""Tables of the jq2qmt database.

Times are stored as naive UTC (``DateTime`` without time zone, microsecond precision
on MySQL) so the three backends behave the same; conversion to Beijing time happens
only when a response is rendered.

Codes are stored in one canonical form, the QMT form (``600000.SH``), because that is
what the followers trade in.
"""

from datetime import datetime, timezone
from typing import Optional

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Double precision everywhere: a bare FLOAT is single precision on MySQL (migration 0003).
Double = Float().with_variant(mysql.DOUBLE(asdecimal=False), "mysql", "mariadb")
# DATETIME(6) on MySQL keeps microseconds; other backends already do.
Timestamp = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
# BIGINT autoincrement on MySQL/PostgreSQL; SQLite only autoincrements INTEGER.
BigId = BigInteger().with_variant(Integer(), "sqlite")
# Names compare byte-exact on MySQL (its default collation folds case and accents).
Name = String(64).with_variant(mysql.VARCHAR(64, collation="utf8mb4_bin"), "mysql", "mariadb")
# Snapshots can exceed MySQL's 64 KiB TEXT.
LongText = Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


def utcnow():
    """Naive UTC now, the form every timestamp column stores."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Strategy(Base):
    """One strategy's current state; positions live in `Position` rows."""

    __tablename__ = "strategies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Name, unique=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    as_of: Mapped[Optional[datetime]] = mapped_column(Timestamp, nullable=True)
    update_time: Mapped[Optional[datetime]] = mapped_column(Timestamp, nullable=True)
    snapshot_hash: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)
    portfolio_json: Mapped[Optional[str]] = mapped_column(Text, nullable=True)
    removed_at: Mapped[Optional[datetime]] = mapped_column(Timestamp, nullable=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class Position(Base):
    """A row of a strategy's current snapshot (replaced as a whole on each upload)."""

    __tablename__ = "positions"
    __table_args__ = (
        UniqueConstraint("strategy_id", "code", name="uq_positions_strategy_code"),
        # covering index of the total's GROUP BY code (migration 0004)
        Index("ix_positions_code", "code", "strategy_id", "volume", "cost", "name"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    strategy_id: Mapped[int] = mapped_column(ForeignKey("strategies.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(16))
    name: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)
    volume: Mapped[int] = mapped_column(BigInteger)
    cost: Mapped[float] = mapped_column(Double)


class PositionTotal(Base):
    """Per code and scope (0: regular strategies, 1: ``ADJUSTMENT_*`` ones) the running
    sums over the active strategies' positions that the whole-set total needs, kept by
    every write of a strategy's snapshot in its own transaction
    (`jq2qmt.store.position_totals`): a cold total reads one row per code.

    ``value0..value3`` are 40-bit limbs of the exact sum of the long rows' volume x cost
    products scaled by 2**64 (integers add exactly in any order on every backend);
    ``inexact`` counts long rows whose product that form cannot hold."""

    __tablename__ = "position_totals"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    scope: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    holders: Mapped[int] = mapped_column(Integer, default=0)
    volume: Mapped[int] = mapped_column(BigInteger, default=0)
    long_volume: Mapped[int] = mapped_column(BigInteger, default=0)
    long_count: Mapped[int] = mapped_column(Integer, default=0)
    inexact: Mapped[int] = mapped_column(Integer, default=0)
    value0: Mapped[int] = mapped_column(BigInteger, default=0)
    value1: Mapped[int] = mapped_column(BigInteger, default=0)
    value2: Mapped[int] = mapped_column(BigInteger, default=0)
    value3: Mapped[int] = mapped_column(BigInteger, default=0)
    # the first strategy (Python string order) with a name for the code, and that name
    first_strategy: Mapped[Optional[str]] = mapped_column(Name, nullable=True)
    first_name: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)


class StrategyVersion(Base):
    """Append-only history: one row per accepted snapshot of a strategy."""

    __tablename__ = "strategy_versions"
    __table_args__ = (
        UniqueConstraint("strategy_id", "version", name="uq_strategy_versions_version"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    strategy_id: Mapped[int] = mapped_column(ForeignKey("strategies.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16), default="snapshot")  # snapshot|remove|restore
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    as_of: Mapped[Optional[datetime]] = mapped_column(Timestamp, nullable=True)
    source: Mapped[str] = mapped_column(String(80))  # "client:joinquant", "admin"
    remote_addr: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)
    positions_json: Mapped[str] = mapped_column(LongText)
    portfolio_json: Mapped[Optional[str]] = mapped_column(Text, nullable=True)
    snapshot_hash: Mapped[str] = mapped_column(String(64))


class Change(Base):
    """Global, monotonically increasing change counter (one row per accepted write).

    The wake-up source for long-polling across processes: a waiter remembers the
    largest `seq` it has seen and polls for a larger one.
    """

    __tablename__ = "changes"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))  # "strategy", later e.g. "account"
    subject: Mapped[str] = mapped_column(Name)  # strategy name, account id...
    version: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class Client(Base):
    """A registered uploader (JoinQuant): a public key, or a plain upload token."""

    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Name, unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # "rsa" | "ed25519" | "token"
    public_key_pem: Mapped[Optional[str]] = mapped_column(Text, nullable=True)
    token_hash: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    revoked_at: Mapped[Optional[datetime]] = mapped_column(Timestamp, nullable=True)
    last_used_at: Mapped[Optional[datetime]] = mapped_column(Timestamp, nullable=True)


class Nonce(Base):
    """Nonces of signed requests seen inside the timestamp window (replay guard)."""

    __tablename__ = "nonces"
    __table_args__ = (
        UniqueConstraint("client_name", "nonce", name="uq_nonces_client_nonce"),
        Index("ix_nonces_seen_at", "seen_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    client_name: Mapped[str] = mapped_column(Name)
    nonce: Mapped[str] = mapped_column(Name)
    seen_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class ApiToken(Base):
    """Bearer tokens for readers and followers, stored as SHA-256 of the token."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(String(16))  # "read" | "follow"
    account_id: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    revoked_at: Mapped[Optional[datetime]] = mapped_column(Timestamp, nullable=True)
    last_used_at: Mapped[Optional[datetime]] = mapped_column(Timestamp, nullable=True)


class AdminCredential(Base):
    """The admin password (argon2 hash); a single row with id 1."""

    __tablename__ = "admin_credentials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class AuthFailure(Base):
    """Failed admin logins, per remote address, for rate limiting across processes."""

    __tablename__ = "auth_failures"
    __table_args__ = (Index("ix_auth_failures_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(80))
    at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class AdminSession(Base):
    """A web login session. The cookie carries the id, signed; a session is valid only
    while its row exists and is not revoked (logout, `jq2qmt sessions revoke`), so
    every server process sees a revocation at once."""

    __tablename__ = "admin_sessions"
    __table_args__ = (Index("ix_admin_sessions_expires_at", "expires_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(Timestamp)
    revoked_at: Mapped[Optional[datetime]] = mapped_column(Timestamp, nullable=True)
    remote_addr: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[Optional[str]] = mapped_column(String(200), nullable=True)
