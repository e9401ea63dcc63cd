"""A database that cannot be reached is a 503 with a clear reason, never a 500.

While MariaDB/PostgreSQL restarts (or a SQLite file stays locked past the busy
timeout) every query fails with a driver `OperationalError`; the pool re-connects
by itself (pre-ping) once the database is back, so the server recovers without a
restart. Until then each request gets::

    503 {"error": {"code": "database_unavailable", "message": "..."}}  Retry-After: 5

Installed by the app factory through `install(app)`. Errors that are bugs
(integrity, programming errors) stay 500.
"""

import logging

from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from jq2qmt.server.errors import ApiError

log = logging.getLogger("jq2qmt.server")

RETRY_AFTER_SECONDS = 5
# InterfaceError: PyMySQL/psycopg report a connection the server closed under them this way
UNAVAILABLE = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout)


def unavailable_error():
    return ApiError(
        503,
        "database_unavailable",
        "数据库暂时不可用，请稍后重试 / database unavailable, retry later",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def install(app):
    async def _unavailable(request, exc):
        log.warning(
            "event=database_unavailable method=%s path=%s error=%s",
            request.method,
            request.url.path,
            type(exc).__name__,
        )
        return unavailable_error().response()

    for kind in UNAVAILABLE:
        app.add_exception_handler(kind, _unavailable)
