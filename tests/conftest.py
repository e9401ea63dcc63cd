"""Shared fixtures: real databases, real instances, a real server.

Backends
    ``db_url`` is parametrized over "sqlite", "mysql", "postgres". SQLite uses a
    fresh file per test. MySQL/MariaDB and PostgreSQL use the databases named by
    ``JQ2QMT_TEST_MYSQL_URL`` / ``JQ2QMT_TEST_POSTGRES_URL`` (e.g.
    ``mysql+pymysql://root@127.0.0.1:3306/jq2qmt_test``,
    ``postgresql+psycopg://postgres@127.0.0.1:5432/jq2qmt_test``); without the
    variable the test is skipped with the reason, unless
    ``JQ2QMT_TEST_REQUIRE_ALL_BACKENDS=1`` (CI), where it fails. Every test gets a
    clean database already migrated to the newest schema (all rows deleted; if a
    test left the schema behind, it is rebuilt). Test ids end in ``[sqlite]``,
    ``[mysql]``, ``[postgres]``.

Fixtures
    ``db_url`` -> str: database URL (see above).
    ``instance`` -> `TestInstance`: an initialised instance folder (`init_instance`)
        on SQLite, or on ``db_url`` when the test also requests ``db_url`` (so
        ``def test_x(db_url, instance)`` runs on all three backends). Attributes:
        ``.path``, ``.settings``, ``.admin_password``, ``.database_url``,
        ``.jq_client_id``, ``.jq_private_key_path``, ``.upload_token`` (only for
        ``client_kind="token"`` instances); methods:
        ``.reader_token(name=None)`` -> new read token,
        ``.token(scope="read", account_id=None, name=None)`` -> new token,
        ``.admin_headers()`` -> {"X-Internal-Password": ...},
        ``.signed_headers(method, path_and_query, body)`` -> upload headers signed
        with the instance's JoinQuant key, ``.db()`` -> `Database` (closed at teardown).
    ``app_client`` -> `fastapi.testclient.TestClient` over `create_app(instance.settings)`
        (lifespan run; ``app_client.app`` is the app).
    ``live_server`` -> `LiveServer`: uvicorn serving ``instance`` on 127.0.0.1 at a free
        port in a background thread. ``.url`` ("http://127.0.0.1:PORT"), ``.port``,
        ``.instance``, ``.stop()``, ``.start()`` (a fresh app on the same port and
        database, as after a process restart), ``.app`` (the current app).
    ``live_server_factory(db_url=None, **init_kwargs)`` -> a started `LiveServer` on a
        new instance (SQLite unless ``db_url``); all stopped at teardown.
    ``rsa_private_pem`` (session) -> bytes: one RSA key reused by instances (key
        generation is slow); pass ``jq_private_key_pem=None`` in init_kwargs to
        generate a fresh one.
    ``plan_server``, ``hung_server``, ``clock``, ``exchange``, ``fx``: the follower's
        world (a plan server over HTTP, a paper account, a clock), see tests/followerkit.py.
"""

import asyncio
import logging
import os
import shutil
import socket
import threading

import pytest
from sqlalchemy import MetaData, delete

import followerkit
from jq2qmt.instance import generate_key_pair, init_instance
from jq2qmt.store import credentials, migrate
from jq2qmt.store.db import Database
from testkit import Clock, HungServer, backend_url

# ---- databases -------------------------------------------------------------------------


class _ServerDatabase:
    """A MySQL/PostgreSQL test database kept migrated and emptied between tests."""

    def __init__(self, url):
        self.url = url
        self.db = Database(url)
        self._tables = None

    def reset(self):
        if migrate.current_revision(self.db.engine) != migrate.head_revision():
            self._rebuild()
        if self._tables is None:
            metadata = MetaData()
            metadata.reflect(self.db.engine)
            self._tables = [
                t for t in reversed(metadata.sorted_tables) if t.name != "alembic_version"
            ]
        with self.db.engine.begin() as conn:
            for table in self._tables:
                conn.execute(delete(table))

    def _rebuild(self):
        metadata = MetaData()
        metadata.reflect(self.db.engine)
        metadata.drop_all(self.db.engine)
        migrate.upgrade(self.db.engine)
        self._tables = None


_server_dbs = {}


def _server_database(backend):
    url = backend_url(backend)
    if backend not in _server_dbs:
        _server_dbs[backend] = _ServerDatabase(url)
    return _server_dbs[backend]


@pytest.fixture(autouse=True)
def _own_journal_folder(monkeypatch, tmp_path_factory):
    """Exported QMT files keep their in-flight journal in JQ2QMT_JOURNAL_DIR when their
    JOURNAL_DIR is empty: each test gets its own folder, never the user's ~/jq2qmt."""
    monkeypatch.setenv("JQ2QMT_JOURNAL_DIR", str(tmp_path_factory.mktemp("journal")))


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    db = Database("sqlite:///" + path.as_posix())
    migrate.upgrade(db.engine)
    db.dispose()
    return path


@pytest.fixture(params=["sqlite", "mysql", "postgres"])
def db_url(request, tmp_path, _sqlite_template):
    """URL of a clean, migrated database on each backend (see module docstring)."""
    if request.param == "sqlite":
        path = tmp_path / "test.sqlite3"
        shutil.copyfile(_sqlite_template, path)
        return "sqlite:///" + path.as_posix()
    server_db = _server_database(request.param)
    server_db.reset()
    return server_db.url


def pytest_sessionfinish(session, exitstatus):
    for server_db in _server_dbs.values():
        server_db.db.dispose()


# ---- instances -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def rsa_private_pem():
    return generate_key_pair("rsa")[0]


class TestInstance:
    """An initialised instance folder plus helpers for tests (see module docstring)."""

    __test__ = False  # not a test class

    def __init__(self, result):
        settings = result.settings
        self.path = settings.instance_dir
        self.settings = settings
        self.admin_password = result.admin_password
        self.database_url = settings.database_url
        self.jq_client_id = settings.jq_client_id
        self.jq_private_key_path = settings.jq_private_key_path
        self.upload_token = result.upload_token
        self._db = None

    def db(self):
        if self._db is None:
            self._db = Database(self.database_url)
        return self._db

    def token(self, scope="read", account_id=None, name=None):
        name = name or "test-%s-%s" % (scope, os.urandom(4).hex())
        return credentials.create_token(self.db(), name, scope, account_id)

    def reader_token(self, name=None):
        return self.token("read", name=name)

    def admin_headers(self):
        return {"X-Internal-Password": self.admin_password}

    def signed_headers(self, method, path_and_query, body, **kwargs):
        from jq2qmt import signing

        key = signing.load_private_key(self.jq_private_key_path.read_bytes())
        return signing.signed_headers(
            key, self.jq_client_id, method, path_and_query, body, **kwargs
        )

    def close(self):
        if self._db is not None:
            self._db.dispose()
            self._db = None


def make_instance(path, rsa_private_pem, **kwargs):
    kwargs.setdefault("jq_private_key_pem", rsa_private_pem)
    kwargs.setdefault("public_url", "http://127.0.0.1:5366")
    return TestInstance(init_instance(path, **kwargs))


@pytest.fixture
def instance(request, tmp_path, rsa_private_pem):
    url = request.getfixturevalue("db_url") if "db_url" in request.fixturenames else None
    inst = make_instance(tmp_path / "instance", rsa_private_pem, database_url=url)
    yield inst
    inst.close()


@pytest.fixture
def app_client(instance):
    from fastapi.testclient import TestClient

    from jq2qmt.server.app import create_app

    with TestClient(create_app(instance.settings)) as client:
        yield client


# ---- live server ----------------------------------------------------------------------------


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """uvicorn serving an instance in a background thread; restartable on the same port."""

    def __init__(self, instance, port=None):
        self.instance = instance
        self.port = port or free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.app = None
        self._server = None
        self._thread = None

    def start(self):
        import uvicorn

        from jq2qmt.server.app import create_app

        if self._thread is not None:
            raise RuntimeError("already running")
        self.app = create_app(self.instance.settings)
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, name="live-server-%d" % self.port, daemon=True
        )
        self._thread.start()
        while not self._server.started:
            self._thread.join(0.02)
            if not self._thread.is_alive():
                self._thread = None
                raise RuntimeError("uvicorn did not start on port %d" % self.port)
        return self

    def stop(self):
        if self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(15)
        self._thread = None
        self._server = None


@pytest.fixture
def live_server(instance):
    server = LiveServer(instance).start()
    yield server
    server.stop()


@pytest.fixture
def live_server_factory(tmp_path, rsa_private_pem):
    servers, instances = [], []

    def factory(db_url=None, **init_kwargs):
        path = tmp_path / ("instance-%d" % len(instances))
        inst = make_instance(path, rsa_private_pem, database_url=db_url, **init_kwargs)
        instances.append(inst)
        server = LiveServer(inst).start()
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()
    for inst in instances:
        inst.close()


# ---- the follower's world: a plan server, a paper account, a clock (tests/followerkit.py) ----


@pytest.fixture
def plan_server():
    """`followerkit.PlanServer`: the follower side of the plan API on 127.0.0.1."""
    server = followerkit.PlanServer()
    yield server
    server.close()


@pytest.fixture
def hung_server():
    """A server on 127.0.0.1 that accepts connections and never answers."""
    server = HungServer()
    yield server
    server.close()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def exchange():
    """A paper exchange with 1,000,000 cash and the quotes of `testkit.QUOTES`."""
    return followerkit.make_exchange()


@pytest.fixture
def fx():
    """The follower helpers (`followerkit`: make_plan, make_exchange, make_follower,
    holdings, ACCOUNT...) for tests that build their own."""
    return followerkit


@pytest.fixture
def xt_event_loop():
    """An event loop set for the main thread while the test runs: xtquant's
    XtQuantTrader() takes `asyncio.get_event_loop()` in its constructor, which raises
    once an earlier test's asyncio.run() has left the main thread without one (a real
    miniQMT follower process never runs asyncio.run before it)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.set_event_loop(None)
    loop.close()


@pytest.fixture(autouse=True)
def _propagating_project_logger():
    """The project's log records reach caplog: `setup_logging` (run by the serve and
    instance tests) stops the "jq2qmt" logger's propagation for the process, which
    would hide them from every later test that reads records."""
    logger = logging.getLogger("jq2qmt")
    saved = logger.propagate
    logger.propagate = True
    yield
    logger.propagate = saved
