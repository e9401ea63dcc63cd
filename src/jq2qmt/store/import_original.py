"""Import the original jq2qmt's strategies (its `strategy_positions` table).

The original (Flask-SQLAlchemy, MySQL or SQLite) kept one row per strategy:
``strategy_name`` (unique), ``positions`` (a JSON list of {code, name, volume,
cost}) and ``update_time`` (server local time, i.e. Beijing time, no zone). Each
row becomes version 1 of a strategy here, with the original update time as its
``as_of``. The source is only read (a read-only transaction where the backend has
one); the original's ``internal_passwords`` holds an unsalted SHA-256 that cannot
become an argon2 hash, so the admin password is not imported.

Every row is validated before anything is written; a strategy that already exists
here is left alone.
"""

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import List

from sqlalchemy import MetaData, Table, create_engine, select
from sqlalchemy.engine import make_url

from jq2qmt.store import repo
from jq2qmt.store.models import Strategy
from jq2qmt.store.snapshot import SnapshotError, parse_snapshot

SOURCE_TABLE = "strategy_positions"
PASSWORD_TABLE = "internal_passwords"
IMPORT_SOURCE = "import:original"
BEIJING_OFFSET = timedelta(hours=8)


class SourceError(Exception):
    """The source cannot be read or has no original tables; one line for the user."""


@dataclass
class Candidate:
    strategy_name: str
    positions: int
    update_time: object  # naive Beijing time from the source, or None
    snapshot: object = None  # parsed Snapshot when valid
    problem: str = ""
    status: str = ""  # "import" | "exists" | "invalid" | "imported"


@dataclass
class ImportPlan:
    candidates: List[Candidate] = field(default_factory=list)
    has_password: bool = False

    def count(self, status):
        return sum(1 for c in self.candidates if c.status == status)


def source_engine(url):
    """An engine on the original database (``mysql://`` means PyMySQL)."""
    try:
        parsed = make_url(url)
    except Exception:
        raise SourceError("数据库地址无效 / invalid database URL")
    if parsed.drivername in ("mysql", "mariadb"):
        parsed = parsed.set(drivername="mysql+pymysql")
    if parsed.get_backend_name() in ("mysql", "mariadb") and "charset" not in parsed.query:
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    try:
        return create_engine(parsed)
    except Exception as exc:
        raise SourceError("数据库地址无效 / invalid database URL (%s)" % type(exc).__name__)


def read_source(engine):
    """([(strategy_name, positions, update_time)], has_password) from the original tables."""
    try:
        with engine.connect() as conn:
            rows, has_password = _read(engine, conn)
            conn.rollback()  # nothing was written; end the read-only transaction
    except SourceError:
        raise
    except Exception as exc:
        reason = (
            str(getattr(exc, "orig", exc)).splitlines()[0][:200] if str(exc) else type(exc).__name__
        )
        raise SourceError("无法读取源数据库 / cannot read the source database: %s" % reason)
    return [tuple(r) for r in rows], has_password


def _read(engine, conn):
    dialect = conn.dialect.name
    if dialect in ("mysql", "mariadb"):
        conn.exec_driver_sql("SET SESSION TRANSACTION READ ONLY")
        conn.commit()
    elif dialect == "postgresql":
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
    if not engine.dialect.has_table(conn, SOURCE_TABLE):
        raise SourceError(
            "源数据库没有 %s 表，不是原 jq2qmt 数据库？ / the source has no %s table"
            % (SOURCE_TABLE, SOURCE_TABLE)
        )
    metadata = MetaData()
    table = Table(SOURCE_TABLE, metadata, autoload_with=conn)
    rows = conn.execute(
        select(table.c.strategy_name, table.c.positions, table.c.update_time).order_by(
            table.c.strategy_name
        )
    ).all()
    has_password = False
    if engine.dialect.has_table(conn, PASSWORD_TABLE):
        passwords = Table(PASSWORD_TABLE, metadata, autoload_with=conn)
        has_password = conn.execute(select(passwords.c.id).limit(1)).first() is not None
    return rows, has_password


def _positions(raw):
    if isinstance(raw, (bytes, bytearray)):
        raw = raw.decode("utf-8")
    if isinstance(raw, str):
        raw = json.loads(raw)
    return raw


def plan_import(db, rows, has_password=False, max_positions=5000):
    """Validate each source row and decide what happens to it (nothing is written)."""
    plan = ImportPlan(has_password=has_password)
    with db.read() as session:
        existing = set(session.scalars(select(Strategy.name).where(Strategy.version > 0)))
    for name, raw_positions, update_time in rows:
        try:
            positions = _positions(raw_positions)
        except ValueError:
            positions = None
        candidate = Candidate(
            str(name), len(positions) if isinstance(positions, list) else 0, update_time
        )
        try:
            candidate.snapshot = parse_snapshot(
                {"strategy_name": name, "positions": positions}, max_positions=max_positions
            )
            if update_time is not None:
                candidate.snapshot.as_of = update_time - BEIJING_OFFSET  # stored as naive UTC
            candidate.status = "exists" if name in existing else "import"
        except SnapshotError as exc:
            candidate.status, candidate.problem = (
                "invalid",
                "%s: %s" % (exc.field or "body", exc.message),
            )
        plan.candidates.append(candidate)
    return plan


def apply_import(db, plan):
    """Write every "import" candidate as version 1 of its strategy."""
    for candidate in plan.candidates:
        if candidate.status != "import":
            continue
        result = repo.save_snapshot(db, candidate.snapshot, IMPORT_SOURCE)
        candidate.status = "imported" if result.created else "exists"
    return plan
