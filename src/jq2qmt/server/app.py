"""The ASGI application: `create_app(settings)` builds one FastAPI app per instance."""

import asyncio
import logging

from fastapi import FastAPI

from jq2qmt import __version__
from jq2qmt.server.caches import AppCaches
from jq2qmt.server.errors import install_error_handlers
from jq2qmt.server.limits import BodySizeLimit, InputGuard
from jq2qmt.store.db import Database

log = logging.getLogger("jq2qmt.server")

DESCRIPTION = """jq2qmt 服务器：聚宽策略签名上传持仓，QMT 跟单端读取目标仓位。
JoinQuant strategies upload signed position snapshots; QMT followers read the targets.
认证 / auth: see docs/api.md (签名上传、Bearer 令牌、X-Internal-Password)."""


def create_app(settings, database=None):
    """A FastAPI app serving the instance described by `settings`.

    `database` may be passed to share an existing `Database` (tests); otherwise one
    is created from `settings.database_url` and disposed on shutdown.
    """
    from contextlib import asynccontextmanager

    owns_db = database is None
    db = database or Database(settings.database_url)

    @asynccontextmanager
    async def lifespan(app):
        # background work the parts registered (the notification watchdog of ops)
        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(start()) for start in app.state.background_tasks]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            if owns_db:
                db.dispose()

    # No /docs or /redoc pages: they load Swagger UI / ReDoc scripts from a CDN (a
    # third-party script in an admin context, and unreachable from some networks).
    # The schema itself is at /openapi.json.
    app = FastAPI(
        title="jq2qmt",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.caches = AppCaches()
    app.state.session_hooks = []  # see auth.add_session_hook (web UI login sessions)
    app.state.background_tasks = []  # coroutine factories run while the app runs
    install_error_handlers(app)
    _include_routes(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(InputGuard)  # control characters in the path or query: 404 / 422
    return app


def _include_routes(app):
    """Every part of the server, in order: routers first, then the parts that install
    middleware or hooks, each wrapping the ones installed before it (the fast path runs
    inside the request metrics and logs of ops; secure headers are outermost and see
    every response). A part with `install(app)` installs itself; otherwise its
    `router` is included."""
    from jq2qmt.server import (
        fastpath,
        fastupload,
        fresh_reads,
        openapi_doc,
        secure_headers,
        unavailable,
    )
    from jq2qmt.server.routes import (
        accounts,
        auth_info,
        health,
        internal,
        notify_admin,
        ops,
        pages,
        positions,
        quality,
        strategies,
    )

    parts = (
        health,
        auth_info,
        positions,
        strategies,
        internal,
        accounts,
        quality,
        notify_admin,
        pages,
        fresh_reads,
        fastpath,
        fastupload,
        ops,
        unavailable,
        openapi_doc,
        secure_headers,
    )
    for module in parts:
        if hasattr(module, "install"):
            module.install(app)
        else:
            app.include_router(module.router)
