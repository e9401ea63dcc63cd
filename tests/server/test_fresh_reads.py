"""Fresh reads of the recent change numbers (server/fresh_reads.py, store/loop_connections.py).

A read must start after the call (a change committed by any process before a request
arrived is seen by it), callers that arrive together share one read, and on MariaDB and
PostgreSQL the read runs on the event loop through an async driver on a connection of
its own: it survives that connection being killed, and whenever the async driver cannot
serve (an option it cannot take, a failed connect, a loop it cannot run on) the
worker-thread read answers instead. Real databases where the database matters."""

import asyncio
import socket
import threading

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from jq2qmt.server import fresh_reads, plans
from jq2qmt.server.app import create_app
from jq2qmt.store import accounts as account_store
from jq2qmt.store import loop_connections
from jq2qmt.store.db import Database
from jq2qmt.store.models import Change, utcnow

SERVERS = pytest.mark.parametrize("db_url", ["mysql", "postgres"], indirect=True)


@pytest.fixture
def db(db_url):
    database = Database(db_url)
    yield database
    database.dispose()


def _commit_change(db):
    """Commit a change row through `db`'s own pool; its sequence number."""

    def add(session):
        row = Change(kind="test", subject="fresh", version=None, created_at=utcnow())
        session.add(row)
        session.flush()
        return row.seq

    return db.write(add)


class Counted:
    """Counts the calls of a driver's coroutine method."""

    def __init__(self, monkeypatch, driver, name):
        self.calls = 0
        original = getattr(driver, name)

        async def counted(*args):
            self.calls += 1
            return await original(*args)

        monkeypatch.setattr(driver, name, counted)


def _no_thread_reads(monkeypatch):
    """Fail the test if a read goes to the worker thread."""

    def thread_read(db, connection=None):
        raise AssertionError("read in a worker thread")

    monkeypatch.setattr(account_store, "recent_changes_of", thread_read)


def _kill_other_connections(db):
    """End every other session on the test database, as a restart of the server would
    (the pool's connections come back through its pre-ping)."""
    with db.engine.connect() as conn:
        if db.backend == "mysql":
            ids = conn.execute(
                text(
                    "SELECT id FROM information_schema.processlist "
                    "WHERE db = DATABASE() AND id <> CONNECTION_ID()"
                )
            ).scalars()
            for session_id in list(ids):
                conn.execute(text("KILL %d" % session_id))
        else:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )


# ---- FreshReads: when a read starts and who shares it ---------------------------------------


def test_fresh_reads_start_after_the_caller_and_are_shared():
    """A caller that arrives while a read runs must not get that read's value (it may
    predate a write the caller already saw); it waits for the next read, which all
    callers arriving meanwhile share."""
    started, release = [], threading.Event()

    def read():
        started.append(len(started) + 1)
        if len(started) == 1:
            release.wait(5)
        return len(started)

    async def scenario():
        fresh = fresh_reads.FreshReads(read)
        first = asyncio.ensure_future(fresh.get())
        while not started:
            await asyncio.sleep(0.001)
        later = [asyncio.ensure_future(fresh.get()) for _ in range(10)]
        await asyncio.sleep(0.01)
        release.set()
        return await first, await asyncio.gather(*later)

    first, later = asyncio.run(scenario())
    assert first == 1
    assert later == [2] * 10  # one shared read, begun after they all arrived
    assert len(started) == 2


def test_async_fresh_reads_start_after_the_caller_and_are_shared():
    started, release = [], None

    async def read():
        started.append(len(started) + 1)
        if len(started) == 1:
            await release.wait()
        return len(started)

    async def scenario():
        nonlocal release
        release = asyncio.Event()
        fresh = fresh_reads.FreshReads(read, fresh_reads.ASYNC)
        first = asyncio.ensure_future(fresh.get())
        while not started:
            await asyncio.sleep(0)
        later = [asyncio.ensure_future(fresh.get()) for _ in range(10)]
        await asyncio.sleep(0.01)
        release.set()
        return await first, await asyncio.gather(*later)

    first, later = asyncio.run(scenario())
    assert first == 1 and later == [2] * 10 and len(started) == 2


def test_a_failed_fresh_read_reaches_every_waiter_and_the_next_call_reads_again():
    calls = []

    def read():
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("SELECT", {}, Exception("down"))
        return "ok"

    async def scenario():
        fresh = fresh_reads.FreshReads(read)
        with pytest.raises(OperationalError):
            await fresh.get()
        return await fresh.get()

    assert asyncio.run(scenario()) == "ok" and len(calls) == 2


def test_inline_fresh_reads_are_shared_by_the_callers_of_one_loop_step_only():
    """SQLite mode: the read runs on the event loop at its next step; callers that
    arrived before that step share it, a caller after it gets a new read."""
    calls = []

    def read():
        calls.append(1)
        return len(calls)

    async def scenario():
        fresh = fresh_reads.FreshReads(read, fresh_reads.INLINE)
        together = await asyncio.gather(*[fresh.get() for _ in range(5)])
        after = await fresh.get()
        return together, after

    together, after = asyncio.run(scenario())
    assert together == [1] * 5 and after == 2 and len(calls) == 2


# ---- which read each backend gets ---------------------------------------------------------


def test_each_backend_gets_its_read(tmp_path):
    on_file = fresh_reads.fresh_reads_for(Database("sqlite:///" + (tmp_path / "a.db").as_posix()))
    assert on_file.mode == fresh_reads.INLINE
    assert fresh_reads.fresh_reads_for(Database("sqlite://")).mode == fresh_reads.THREAD
    mysql = fresh_reads.fresh_reads_for(Database("mysql+pymysql://u@127.0.0.1/db"))
    assert mysql.mode == fresh_reads.ASYNC
    assert isinstance(mysql.read.driver, loop_connections.MysqlDriver)
    postgres = fresh_reads.fresh_reads_for(Database("postgresql+psycopg://u@127.0.0.1/db"))
    assert postgres.mode == fresh_reads.ASYNC
    assert isinstance(postgres.read.driver, loop_connections.PostgresDriver)
    # options the async drivers cannot take as they are: the worker-thread read
    for url in (
        "mysql+pymysql://u@127.0.0.1/db?ssl_disabled=true",
        "mysql+pymysql://u@127.0.0.1/db?read_default_file=/etc/my.cnf",
        "postgresql+psycopg://u@127.0.0.1/db?not_a_libpq_option=1",
    ):
        assert fresh_reads.fresh_reads_for(Database(url)).mode == fresh_reads.THREAD, url


def test_mysql_urls_become_asyncmy_arguments():
    driver = loop_connections.loop_driver(
        Database(
            "mysql+pymysql://jq:p%40ss%3Aw@db.example:3307/jq2qmt"
            "?unix_socket=/run/mysqld/mysqld.sock&ssl_ca=/etc/ca.pem"
            "&ssl_cert=/etc/c.pem&ssl_key=/etc/k.pem&ssl_check_hostname=false&connect_timeout=3"
        )
    )
    params = dict(driver.params)
    assert params.pop("client_flag") & 2  # FOUND_ROWS, as SQLAlchemy's own connections
    assert params == {
        "host": "db.example",
        "port": 3307,
        "user": "jq",
        "password": "p@ss:w",
        "database": "jq2qmt",
        "unix_socket": "/run/mysqld/mysqld.sock",
        "charset": "utf8mb4",
        "connect_timeout": 3,
        "ssl": {
            "ca": "/etc/ca.pem",
            "cert": "/etc/c.pem",
            "key": "/etc/k.pem",
            "check_hostname": False,
        },
    }
    plain = loop_connections.loop_driver(Database("mysql+pymysql://root@localhost/jq2qmt"))
    assert plain.params["connect_timeout"] == loop_connections.CONNECT_TIMEOUT
    assert "password" not in plain.params and "ssl" not in plain.params


def test_postgres_urls_become_libpq_connection_strings():
    from psycopg.conninfo import conninfo_to_dict

    driver = loop_connections.loop_driver(
        Database(
            "postgresql+psycopg://jq:p%20w%27@db.example:5433/jq2qmt"
            "?sslmode=verify-full&sslrootcert=/etc/ca.pem&application_name=jq2qmt"
        )
    )
    assert conninfo_to_dict(driver.conninfo) == {
        "host": "db.example",
        "port": "5433",
        "user": "jq",
        "password": "p w'",
        "dbname": "jq2qmt",
        "sslmode": "verify-full",
        "sslrootcert": "/etc/ca.pem",
        "application_name": "jq2qmt",
        "connect_timeout": str(loop_connections.CONNECT_TIMEOUT),
    }
    socket = loop_connections.loop_driver(
        Database("postgresql+psycopg://jq@/jq2qmt?host=/var/run/postgresql")
    )
    assert conninfo_to_dict(socket.conninfo)["host"] == "/var/run/postgresql"


# ---- on the real databases ------------------------------------------------------------------


def test_a_change_committed_elsewhere_before_the_call_is_seen(db_url, db, monkeypatch):
    """On every backend: a change committed through another connection between two
    calls is in the second answer; on MariaDB/PostgreSQL without a worker thread."""
    other = Database(db_url)
    fresh = fresh_reads.fresh_reads_for(db)
    if db.backend != "sqlite":
        assert fresh.mode == fresh_reads.ASYNC
        _no_thread_reads(monkeypatch)

    async def scenario():
        try:
            before = await fresh.get()
            seq = _commit_change(other)
            after = await fresh.get()
            return before, seq, after
        finally:
            await fresh.close()

    try:
        before, seq, after = asyncio.run(scenario())
    finally:
        other.dispose()
    assert seq not in before and seq in after


@SERVERS
def test_callers_that_arrive_together_share_one_database_read(db, monkeypatch):
    fresh = fresh_reads.fresh_reads_for(db)
    fetches = Counted(monkeypatch, fresh.read.driver, "fetch_column")
    seq = _commit_change(db)

    async def scenario():
        try:
            return await asyncio.gather(*[fresh.get() for _ in range(50)])
        finally:
            await fresh.close()

    answers = asyncio.run(scenario())
    assert all(seq in answer for answer in answers)
    # the first caller's read, and one more for all who came while it ran
    assert fetches.calls == 2


@SERVERS
def test_a_killed_connection_is_replaced_and_the_read_stays_fresh(db, monkeypatch):
    fresh = fresh_reads.fresh_reads_for(db)
    connects = Counted(monkeypatch, fresh.read.driver, "connect")
    _no_thread_reads(monkeypatch)

    async def scenario():
        try:
            await fresh.get()
            _kill_other_connections(db)
            seq = _commit_change(db)
            return seq, await fresh.get(), await fresh.get()
        finally:
            await fresh.close()

    seq, after_kill, again = asyncio.run(scenario())
    assert seq in after_kill and again == after_kill
    assert connects.calls == 2  # the killed one, then one new connection


@SERVERS
def test_when_the_async_driver_cannot_connect_the_thread_read_answers(db, monkeypatch):
    reader = fresh_reads.fresh_reads_for(db).read
    driver = reader.driver
    if db.backend == "mysql":
        driver.params = dict(driver.params, port=1, host="127.0.0.1")
    else:
        driver.conninfo += " port=1 host=127.0.0.1"
    connects = Counted(monkeypatch, driver, "connect")
    fresh = fresh_reads.FreshReads(reader, fresh_reads.ASYNC)
    seq = _commit_change(db)

    async def scenario():
        first, second = await fresh.get(), await fresh.get()
        monkeypatch.setattr(fresh_reads, "RETRY_AFTER", 0.0)
        await fresh.get()  # the next read past the wait tries to connect again
        third = await fresh.get()
        return first, second, third

    first, second, third = asyncio.run(scenario())
    assert seq in first and first == second == third
    assert connects.calls == 3  # not once per read while the database seems unreachable


class SilentRelay:
    """A TCP relay to the database whose kept connections can go silent: still open,
    passing no byte either way, as when a NAT or a firewall dropped an idle
    connection. Connections opened after that pass bytes as usual."""

    def __init__(self, host, port):
        self.upstream = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets = []
        self.silenced = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def silence(self):
        with self._lock:
            self.silenced.update(self.sockets)

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
                upstream = socket.create_connection(self.upstream)
            except OSError:
                return
            with self._lock:
                self.sockets += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source, target):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    return
                if source not in self.silenced:
                    target.sendall(data)
        except OSError:
            return

    def close(self):
        self.listener.close()
        with self._lock:
            for sock in self.sockets:
                sock.close()


@SERVERS
def test_a_silent_kept_connection_does_not_hold_the_reads(db, monkeypatch):
    """The kept connection's peer goes silent (no error, no answer: TCP would wait
    many minutes): the read is abandoned after READ_TIMEOUT, the worker-thread read
    answers with the fresh numbers, and the next async read connects anew."""
    url = db.engine.url
    relay = SilentRelay(
        url.host or "127.0.0.1", url.port or (3306 if db.backend == "mysql" else 5432)
    )
    reader = fresh_reads.fresh_reads_for(db).read
    driver = reader.driver
    if db.backend == "mysql":
        params = dict(driver.params, host="127.0.0.1", port=relay.port)
        params.pop("unix_socket", None)
        driver.params = params
    else:
        driver.conninfo += " host=127.0.0.1 port=%d" % relay.port
    connects = Counted(monkeypatch, driver, "connect")
    monkeypatch.setattr(fresh_reads, "READ_TIMEOUT", 0.5)
    fresh = fresh_reads.FreshReads(reader, fresh_reads.ASYNC)

    async def scenario():
        try:
            await fresh.get()
            relay.silence()
            seq = _commit_change(db)
            answer = await asyncio.wait_for(fresh.get(), 60)
            monkeypatch.setattr(fresh_reads, "RETRY_AFTER", 0.0)
            again = await asyncio.wait_for(fresh.get(), 60)
            return seq, answer, again
        finally:
            await fresh.close()

    try:
        seq, answer, again = asyncio.run(scenario())
    finally:
        relay.close()
    assert seq in answer and seq in again
    assert connects.calls == 2  # the silent connection, then a new one through the relay


@SERVERS
def test_a_loop_the_driver_cannot_run_on_gets_the_thread_read(db, monkeypatch):
    """psycopg's async mode cannot run on Windows' ProactorEventLoop: there the read
    stays in the worker thread."""
    reader = fresh_reads.fresh_reads_for(db).read
    monkeypatch.setattr(reader.driver, "works_on", lambda loop: False)
    connects = Counted(monkeypatch, reader.driver, "connect")
    seq = _commit_change(db)
    answer = asyncio.run(fresh_reads.FreshReads(reader, fresh_reads.ASYNC).get())
    assert seq in answer and connects.calls == 0


@SERVERS
def test_the_long_poll_wakes_through_the_same_reads(db):
    fresh = fresh_reads.fresh_reads_for(db)
    watcher = plans.ChangeWatcher(fresh, interval=0.02)

    async def scenario():
        try:
            loop = asyncio.get_running_loop()
            seen = await watcher.latest()
            waiting = asyncio.ensure_future(watcher.wait_past(seen, loop.time() + 10))
            await asyncio.sleep(0.05)
            assert not waiting.done()
            seq = await loop.run_in_executor(None, _commit_change, db)
            return seq, await waiting
        finally:
            await fresh.close()

    seq, recent = asyncio.run(scenario())
    assert recent is not None and seq in recent


@SERVERS
def test_the_app_reads_on_its_loop_connection_and_closes_it_at_shutdown(
    db_url, instance, monkeypatch
):
    app = create_app(instance.settings)
    fresh = app.state.fresh_reads
    assert fresh.mode == fresh_reads.ASYNC
    fetches = Counted(monkeypatch, fresh.read.driver, "fetch_column")
    _no_thread_reads(monkeypatch)
    headers = {"Authorization": "Bearer " + instance.reader_token()}
    with TestClient(app) as client:
        first = client.get("/api/v1/positions/total", headers=headers)
        assert first.status_code == 200
        unchanged = client.get(
            "/api/v1/positions/total",
            headers=dict(headers, **{"If-None-Match": first.headers["ETag"]}),
        )
        assert unchanged.status_code == 304
        assert fetches.calls >= 1 and fresh.read._connection is not None
    assert fresh.read._connection is None
