"""Engine creation and transactions, with the per-backend settings in one place.

- SQLite: WAL, busy_timeout, foreign keys; writers queue on `writer_lock` and start with
  ``BEGIN IMMEDIATE`` so concurrent writers queue instead of failing on upgrade.
- MySQL/MariaDB: utf8mb4, pre-ping, recycle; write transactions at READ COMMITTED.
- PostgreSQL: pre-ping.

Writers use ``SELECT ... FOR UPDATE`` on the row they change (a no-op on SQLite,
which is serialized by BEGIN IMMEDIATE) and `Database.write` retries a transaction
that the backend aborted because of a deadlock or a concurrent insert.
"""

import logging
import time
from contextlib import contextmanager, nullcontext

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from jq2qmt.store import writer_lock
from jq2qmt.store.writer_lock import WriterLock

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30000
# Connections kept open per process for MySQL/PostgreSQL. Request threads (up to 40,
# the server's thread pool) each hold one while they read or write; with
# SQLAlchemy's default of 5 kept + 10 overflow, every connection beyond 5 was closed
# on return and opened again for the next request, and a new PyMySQL connection
# costs ~10 ms CPU (it builds a TLS context for its "preferred" TLS). 20 + 20 keeps
# 2 workers x 40 below PostgreSQL's default max_connections of 100.
SERVER_POOL_SIZE = 20
SERVER_MAX_OVERFLOW = 20
_IMMEDIATE = "jq2qmt_sqlite_immediate"


def backend_name(url):
    """'sqlite', 'mysql' or 'postgresql' for a database URL."""
    name = make_url(url).get_backend_name()
    return "mysql" if name == "mariadb" else name


def make_engine(url, **kwargs):
    """An Engine with the project's settings for the URL's backend."""
    url = make_url(url)
    backend = backend_name(url)
    if backend == "sqlite":
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            **kwargs,
        )
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_size", SERVER_POOL_SIZE)
    kwargs.setdefault("max_overflow", SERVER_MAX_OVERFLOW)
    if backend == "mysql":
        if "charset" not in url.query:
            url = url.update_query_dict({"charset": "utf8mb4"})
        return create_engine(url, pool_pre_ping=True, pool_recycle=3600, **kwargs)
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _configure_sqlite(engine):
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own
        # transaction handling would start it too late for BEGIN IMMEDIATE).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=%d" % SQLITE_BUSY_TIMEOUT_MS)
        cursor.execute("PRAGMA foreign_keys=ON")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        immediate = conn.get_execution_options().get(_IMMEDIATE)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _sqlite_writer(url):
    database = url.database
    if database in (None, "", ":memory:") or database.startswith("file:"):
        return WriterLock()
    return writer_lock.for_database(database)


def is_retryable(exc):
    """True for errors a retried transaction can succeed after (deadlock, race)."""
    if isinstance(exc, IntegrityError):
        return True
    if not isinstance(exc, (OperationalError, DBAPIError)):
        return False
    orig = getattr(exc, "orig", None)
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate in ("40001", "40P01", "55P03"):
        return True
    args = getattr(orig, "args", ())
    if args and args[0] in (1205, 1213):  # MySQL lock wait timeout, deadlock
        return True
    return "database is locked" in str(orig)


class Database:
    """Owns the engine; hands out read sessions and retried write transactions."""

    def __init__(self, url, **engine_kwargs):
        self.url = url if isinstance(url, str) else url.render_as_string(hide_password=False)
        self.engine = make_engine(url, **engine_kwargs)
        self.backend = backend_name(url)
        self._compiled = {}  # Core statement -> SQL text for `fetch_column`
        # SQLite has one writer at a time: writers of this process and of the other
        # processes on the same file queue here and get the lock handed over at once,
        # instead of polling for it in SQLite's busy handler (which sleeps up to
        # 100 ms between tries); see `writer_lock`.
        self._writer = (
            _sqlite_writer(self.engine.url) if self.backend == "sqlite" else nullcontext()
        )

    @contextmanager
    def read(self):
        """A session for reads; its transaction ends when the block ends.

        Every query of the block sees one snapshot of the database, so a reader
        never sees half of a write (a strategy's version from one upload and its
        positions from the next). SQLite (WAL) and MySQL (REPEATABLE READ) do that by
        default; PostgreSQL's READ COMMITTED takes a new snapshot per statement, so
        its read transactions run at REPEATABLE READ (never a serialization error
        for a transaction that only reads).
        """
        with Session(self.engine, expire_on_commit=False) as session:
            with session.begin():
                if self.backend == "postgresql":
                    session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
                yield session

    @contextmanager
    def write_once(self, mysql_isolation="READ COMMITTED"):
        """One write transaction (BEGIN IMMEDIATE on SQLite), no retry.
        `mysql_isolation`: the level on MySQL/MariaDB (see below)."""
        with self._writer, Session(self.engine, expire_on_commit=False) as session:
            # Acquiring the connection with the option starts the transaction.
            connection = session.connection(execution_options={_IMMEDIATE: True})
            if self.backend == "mysql":
                # Writes run at READ COMMITTED, PostgreSQL's default: InnoDB's
                # REPEATABLE READ locks the gaps next to every row a write reads or
                # deletes, so writers of unrelated strategies deadlocked on the
                # positions' indexes, and its reads would show the snapshot of the
                # transaction's first read instead of what the rows it locked hold.
                connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL %s" % mysql_isolation)
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def write(self, fn, attempts=6):
        """Run ``fn(session)`` in a write transaction, retrying deadlocks/races."""
        for attempt in range(attempts):
            try:
                with self.write_once() as session:
                    return fn(session)
            except (OperationalError, IntegrityError, DBAPIError) as exc:
                if attempt + 1 >= attempts or not is_retryable(exc):
                    raise
                log.info("retrying write after %s", type(exc).__name__)
                time.sleep(0.01 * (2**attempt))

    def fetch_column(self, statement, connection=None):
        """The first column of a small read-only Core `statement`, run on a bare
        DBAPI cursor: one statement is one consistent snapshot on every backend,
        and returning the connection to the pool ends its transaction. With
        `connection` (see `private_connection`) that one is used and kept."""
        sql = self.sql_text(statement)
        pooled = connection is None
        if pooled:
            connection = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(sql)
                return [row[0] for row in cursor.fetchall()]
            finally:
                cursor.close()
        finally:
            if pooled:
                connection.close()

    def sql_text(self, statement):
        """The SQL of a Core `statement` with its values inlined, in this backend's
        dialect: what `fetch_column` runs, for a driver outside SQLAlchemy too."""
        sql = self._compiled.get(statement)
        if sql is None:
            sql = self._compiled[statement] = str(
                statement.compile(
                    dialect=self.engine.dialect, compile_kwargs={"literal_binds": True}
                )
            )
        return sql

    def private_connection(self):
        """A DBAPI connection outside the pool, for a caller that must never wait for
        a pooled one (the event loop). SQLite only: in autocommit, so each statement
        reads the newest commit; the caller closes it."""
        if self.backend != "sqlite":
            raise ValueError("private connections are for SQLite only")
        connection = self.engine.raw_connection()
        connection.detach()
        return connection

    def ping(self):
        """Raise if the database cannot answer a trivial query."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self):
        self.engine.dispose()
        if isinstance(self._writer, WriterLock):
            self._writer.close()  # the lock file, not the lock: other Databases share it
