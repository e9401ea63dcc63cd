"""Connections owned by an event loop, for one small read-only statement that runs many
times a second (the change numbers behind the conditional reads) without a hand-off
to a worker thread: asyncmy on MySQL/MariaDB, psycopg's async mode on PostgreSQL.

`loop_driver(db)` builds the driver from the connect arguments that the engine's own
dialect makes of the database URL (user, password, host, port, database, unix socket,
TLS and libpq options), so both connections reach the same server the same way. It
returns None when the URL names another driver or an option that cannot be carried
over unchanged; the caller then keeps reading in a worker thread. The connections are
in autocommit: each statement reads the newest commits.
"""

import asyncio

CONNECT_TIMEOUT = 5  # seconds, unless the URL sets its own

# The connect arguments of SQLAlchemy's PyMySQL dialect that asyncmy takes with the same
# meaning ("ssl" is the dict of ca/capath/cert/key/cipher/check_hostname the dialect
# makes of the ssl_* query options). Any other option (ssl_disabled, ssl_verify_cert,
# a read_default_file, ...) keeps the read in a worker thread rather than connect
# differently.
_MYSQL_ARGS = frozenset(
    (
        "host",
        "port",
        "user",
        "password",
        "database",
        "unix_socket",
        "charset",
        "connect_timeout",
        "read_timeout",
        "client_flag",
        "init_command",
        "sql_mode",
        "local_infile",
        "program_name",
        "ssl",
    )
)
_SSL_KEYS = frozenset(("ca", "capath", "cert", "key", "cipher", "check_hostname"))


class MysqlDriver:
    """asyncmy connections with PyMySQL's connect arguments."""

    def __init__(self, params):
        self.params = params

    def works_on(self, loop):
        return True

    async def connect(self):
        import asyncmy

        return await asyncmy.connect(autocommit=True, **self.params)

    async def fetch_column(self, connection, sql):
        async with connection.cursor() as cursor:
            await cursor.execute(sql)
            return [row[0] for row in await cursor.fetchall()]

    async def close(self, connection):
        connection.close()


class PostgresDriver:
    """psycopg `AsyncConnection`s on a libpq connection string."""

    def __init__(self, conninfo):
        self.conninfo = conninfo

    def works_on(self, loop):
        # psycopg's async mode waits on sockets with add_reader, which Windows'
        # ProactorEventLoop lacks (uvicorn's default loop there)
        proactor = getattr(asyncio, "ProactorEventLoop", None)
        return proactor is None or not isinstance(loop, proactor)

    async def connect(self):
        import psycopg

        return await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)

    async def fetch_column(self, connection, sql):
        cursor = await connection.execute(sql)
        return [row[0] for row in await cursor.fetchall()]

    async def close(self, connection):
        await connection.close()


def mysql_params(connect_args):
    """asyncmy's connect arguments for PyMySQL's `connect_args` (a dict), or None
    when one of them has no identical asyncmy counterpart."""
    params = dict(connect_args)
    if not set(params) <= _MYSQL_ARGS or not set(params.get("ssl") or ()) <= _SSL_KEYS:
        return None
    params.setdefault("connect_timeout", CONNECT_TIMEOUT)
    return params


def postgres_conninfo(args, connect_args):
    """The libpq connection string for psycopg's connect `args`/`connect_args`, or
    None when an option is not a libpq parameter."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    if len(args) > 1:
        return None
    params = dict(connect_args)
    params.pop("context", None)  # SQLAlchemy's type adapters: a SELECT of integers needs none
    params.setdefault("connect_timeout", CONNECT_TIMEOUT)
    try:
        return make_conninfo(args[0] if args else "", **params)
    except psycopg.ProgrammingError:  # not a libpq parameter
        return None


def loop_driver(db):
    """The driver for `db` (a `Database`), or None (see the module docstring)."""
    url = db.engine.url
    driver = url.get_driver_name()
    if db.backend == "mysql" and driver == "pymysql":
        args, connect_args = db.engine.dialect.create_connect_args(url)
        params = None if args else mysql_params(connect_args)
        return None if params is None else MysqlDriver(params)
    if db.backend == "postgresql" and driver in ("psycopg", "psycopg2"):
        args, connect_args = db.engine.dialect.create_connect_args(url)
        conninfo = postgres_conninfo(args, connect_args)
        return None if conninfo is None else PostgresDriver(conninfo)
    return None
