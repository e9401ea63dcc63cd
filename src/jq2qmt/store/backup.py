"""Portable backups: every table of a jq2qmt database as JSON lines, and back.

File format (UTF-8, one JSON object per line)::

    {"format": "jq2qmt-dump", "format_version": 1, "schema": "0003", "backend": "sqlite",
     "created_at": "...", "tables": ["admin_credentials", ...]}
    {"table": "strategies", "columns": ["id", "name", ...]}
    {"table": "strategies", "row": [1, "alpha", ...]}
    ...
    {"end": true, "rows": 1234}

Values keep their type exactly: integers and floats are JSON numbers (Python writes
the shortest repr that reads back to the same double), strings are strings, times
are ``{"$dt": "2026-11-25T13:00:00.123456"}`` (naive UTC, as stored), bytes are
``{"$b64": ...}`` and decimals ``{"$dec": "1.23"}``. The trailing ``end`` line lets a
restore tell a complete file from a truncated one.

A dump can be restored into any backend (SQLite, MySQL/MariaDB, PostgreSQL): the
target is migrated to the dump's schema revision, the rows are inserted in foreign-key
order in one transaction, the kept totals are computed from the restored positions,
sequences are moved past the restored ids (PostgreSQL), and
the schema is then upgraded to the newest revision the code knows.
"""

import base64
import json
import os
from datetime import date, datetime, timezone
from datetime import time as dtime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import MetaData, delete, func, inspect, select, text
from sqlalchemy import types as satypes

from jq2qmt.config import open_private
from jq2qmt.store import migrate, position_totals

FORMAT = "jq2qmt-dump"
FORMAT_VERSION = 1
BATCH = 500
# position_totals is derived from the positions: a restore computes it from the rows
# it loaded instead of trusting a copy.
DERIVED_TABLES = {"position_totals"}
SKIP_TABLES = {"alembic_version"} | DERIVED_TABLES


class BackupError(Exception):
    """A dump or restore that cannot be done; the message is one line for the user."""


# ---- value encoding ------------------------------------------------------------------------


def encode_value(value):
    """A JSON-safe form of a column value that `decode_value` turns back exactly."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return {"$float": repr(value)}
        return value
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, dtime):
        return {"$time": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$dec": str(value)}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$b64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, (dict, list)):
        return {"$json": value}
    raise BackupError("无法导出的值类型 / cannot dump a value of type %s" % type(value).__name__)


_DECODERS = {
    "$dt": datetime.fromisoformat,
    "$date": date.fromisoformat,
    "$time": dtime.fromisoformat,
    "$dec": Decimal,
    "$b64": base64.b64decode,
    "$float": float,
    "$json": lambda v: v,
}


def decode_value(value):
    if isinstance(value, dict) and len(value) == 1:
        ((tag, raw),) = value.items()
        if tag in _DECODERS:
            return _DECODERS[tag](raw)
    return value


def _coerce(value, column):
    """Fit a decoded value to the target column (e.g. MySQL's 0/1 booleans)."""
    if value is None:
        return None
    if isinstance(column.type, satypes.Boolean) and isinstance(value, int):
        return bool(value)
    return value


# ---- tables ------------------------------------------------------------------------------------


def _model_metadata():
    """Our declared models (typed columns) for the tables they describe."""
    import importlib

    from jq2qmt.store.models import Base

    for name in ("jq2qmt.store.accounts", "jq2qmt.store.notifications", "jq2qmt.store.quality"):
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    return Base.metadata


def database_tables(engine):
    """The data tables of the database, parents before children (FK order).

    A table our models declare is used with the model's column types (booleans
    stay booleans on MySQL); any other table is used as reflected.
    """
    reflected = MetaData()
    reflected.reflect(engine)
    models = _model_metadata()
    tables = []
    for table in reflected.sorted_tables:
        if table.name in SKIP_TABLES:
            continue
        model = models.tables.get(table.name)
        if model is not None and {c.name for c in model.columns} == {c.name for c in table.columns}:
            tables.append(model)
        else:
            tables.append(table)
    return tables


def _order_by(table):
    keys = list(table.primary_key.columns) or list(table.columns)
    return keys


# ---- dump ------------------------------------------------------------------------------------------


def dump(db, path):
    """Write every table of `db` to `path` (JSON lines); returns {table: row count}.

    The file is written to a temporary name and renamed at the end, so a failed
    dump leaves nothing behind; it is readable by its owner only (0600). The rows
    are read in one transaction (a consistent snapshot on MySQL/PostgreSQL).
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    counts = {}
    try:
        revision = migrate.current_revision(db.engine)
        if revision is None:
            raise BackupError("数据库是空的（没有表结构） / the database has no jq2qmt schema")
        tables = database_tables(db.engine)
        # owner-only (0600): a dump holds webhook secrets, password and token hashes
        with (
            open_private(tmp, "w", encoding="utf-8", newline="\n") as out,
            _snapshot_connection(db) as conn,
        ):
            _write(
                out,
                {
                    "format": FORMAT,
                    "format_version": FORMAT_VERSION,
                    "schema": revision,
                    "backend": db.backend,
                    "tables": [t.name for t in tables],
                    "created_at": datetime.now(timezone.utc).replace(tzinfo=None).isoformat(),
                },
            )
            total = 0
            for table in tables:
                counts[table.name] = _dump_table(conn, table, out)
                total += counts[table.name]
            _write(out, {"end": True, "rows": total})
        os.replace(str(tmp), str(path))
    finally:
        if tmp.exists():
            tmp.unlink()
    return counts


class _snapshot_connection:
    """A connection whose reads all see one snapshot of the database."""

    def __init__(self, db):
        self.db = db

    def __enter__(self):
        conn = self.db.engine.connect()
        if self.db.backend in ("mysql", "postgresql"):
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        self.conn = conn
        self.tx = conn.begin()
        return conn

    def __exit__(self, *exc):
        self.tx.rollback()
        self.conn.close()


def _dump_table(conn, table, out):
    names = [c.name for c in table.columns]
    _write(out, {"table": table.name, "columns": names})
    count = 0
    result = conn.execution_options(stream_results=True).execute(
        select(table).order_by(*_order_by(table))
    )
    for row in result:
        _write(out, {"table": table.name, "row": [encode_value(v) for v in row]})
        count += 1
    return count


def _write(out, obj):
    out.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False))
    out.write("\n")


# ---- restore --------------------------------------------------------------------------------------


def read_header(path):
    """The first line of a dump file, checked."""
    try:
        with open(path, encoding="utf-8") as handle:
            first = handle.readline()
    except OSError as exc:
        raise BackupError("无法读取备份文件 / cannot read the dump file: %s" % exc.strerror)
    try:
        header = json.loads(first)
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise BackupError("不是 jq2qmt 备份文件 / not a jq2qmt dump file: %s" % path)
    if header.get("format_version") != FORMAT_VERSION:
        raise BackupError(
            "备份格式版本不支持 / unsupported dump format version %r" % header.get("format_version")
        )
    return header


def read_rows(path):
    """{table: (columns, [decoded rows])} of a complete dump file (checks the end line)."""
    tables, ended, total = {}, False, 0
    with open(path, encoding="utf-8") as handle:
        handle.readline()
        for number, line in enumerate(handle, start=2):
            if ended:
                raise BackupError(
                    "备份文件在结束标记后还有内容 / data after the end of the dump (line %d)"
                    % number
                )
            try:
                obj = json.loads(line)
            except ValueError:
                raise BackupError(
                    "备份文件第 %d 行不是 JSON / line %d of the dump is not JSON" % (number, number)
                )
            if obj.get("end"):
                ended = True
                if obj.get("rows") != total:
                    raise BackupError(
                        "备份文件行数不符 / the dump's row count does not match its end line"
                    )
            elif "columns" in obj:
                tables[obj["table"]] = (obj["columns"], [])
            elif "row" in obj and obj.get("table") in tables:
                tables[obj["table"]][1].append([decode_value(v) for v in obj["row"]])
                total += 1
            else:
                raise BackupError(
                    "备份文件第 %d 行无法识别 / unrecognised line %d in the dump" % (number, number)
                )
    if not ended:
        raise BackupError("备份文件不完整（缺少结束标记） / the dump is incomplete (no end line)")
    return tables


def row_count(db, tables=None):
    """Total number of rows in the data tables."""
    tables = tables if tables is not None else database_tables(db.engine)
    with db.engine.connect() as conn:
        return sum(conn.execute(select(func.count()).select_from(t)).scalar() for t in tables)


def restore(db, path, force=False):
    """Load a dump into `db`; returns {table: rows restored}.

    Refuses (BackupError) a database that holds rows unless `force`, a dump whose
    schema this code does not know, and a database at a different schema revision.
    Everything happens in one transaction: on any error the target is unchanged.
    """
    header = read_header(path)
    data = read_rows(path)
    revision = header.get("schema")
    known = _known_revisions()
    if revision not in known:
        raise BackupError(
            "备份的数据库结构 %s 比本程序新，请先升级 jq2qmt / the dump's schema %s is newer than "
            "this jq2qmt, upgrade it first" % (revision, revision)
        )
    current = migrate.current_revision(db.engine)
    if current is None:
        migrate.upgrade(db.engine, revision)
    elif current != revision:
        raise BackupError(
            "目标数据库结构 %s 与备份 %s 不同；请恢复到空数据库 / the target schema %s differs from the "
            "dump's %s; restore into an empty database" % (current, revision, current, revision)
        )
    tables = database_tables(db.engine)
    by_name = {t.name: t for t in tables}
    missing = sorted(set(data) - set(by_name))
    if missing:
        raise BackupError(
            "目标数据库缺少表 / the target database lacks tables: %s" % ", ".join(missing)
        )
    if row_count(db, tables) and not force:
        raise BackupError(
            "目标数据库已有数据，确认覆盖请加 --force / the target database is not empty; "
            "add --force to replace its contents"
        )
    counts = _load(db, tables, data)
    migrate.upgrade(db.engine)
    return counts


def _known_revisions():
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config())
    return {rev.revision for rev in script.walk_revisions()}


def _load(db, tables, data):
    counts = {}
    with db.engine.begin() as conn:
        for table in reversed(tables):
            conn.execute(delete(table))
        for table in tables:
            columns, rows = data.get(table.name, ([], []))
            counts[table.name] = len(rows)
            _insert(conn, table, columns, rows)
        if inspect(conn).has_table(position_totals.PositionTotal.__tablename__):
            # (older revisions lack the table: the upgrade after the load fills it)
            position_totals.rebuild(conn)
        if db.backend == "postgresql":
            _reset_sequences(conn, tables)
    return counts


def _insert(conn, table, columns, rows):
    unknown = [c for c in columns if c not in table.columns]
    if unknown:
        raise BackupError(
            "表 %s 没有列 / table %s has no column: %s"
            % (table.name, table.name, ", ".join(unknown))
        )
    targets = [table.columns[c] for c in columns]
    for start in range(0, len(rows), BATCH):
        batch = [
            {col.name: _coerce(value, col) for col, value in zip(targets, row)}
            for row in rows[start : start + BATCH]
        ]
        conn.execute(table.insert(), batch)


def _reset_sequences(conn, tables):
    """Move each serial/identity sequence past the largest restored id."""
    for table in tables:
        for column in table.primary_key.columns:
            if not isinstance(column.type, satypes.Integer):
                continue
            sequence = conn.execute(
                text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": column.name}
            ).scalar()
            if not sequence:
                continue
            largest = conn.execute(select(func.max(column))).scalar()
            if largest is None:
                conn.execute(text("SELECT setval(:s, 1, false)"), {"s": sequence})
            else:
                conn.execute(text("SELECT setval(:s, :v, true)"), {"s": sequence, "v": largest})
