"""The ASGI application: `create_app(settings)` builds one FastAPI app per instance."""

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
认证 / auth: see README (签名上传、Bearer 令牌、X-Internal-Password)."""


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
        yield
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
    install_error_handlers(app)
    _include_routes(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(InputGuard)  # control characters in the path or query: 404 / 422
    return app


# Route modules added by later parts (web pages, accounts API). Each is included when
# it exists; a module with `install(app)` installs itself, otherwise its `router` is
# included. Add a name here instead of editing `_include_routes`.
OPTIONAL_ROUTE_MODULES = (
    "jq2qmt.server.routes.accounts",
    "jq2qmt.server.routes.quality",
    "jq2qmt.server.routes.notify_admin",
    "jq2qmt.server.routes.pages",
    "jq2qmt.server.fastpath",  # before ops: its middleware then runs inside the request metrics/logs
    "jq2qmt.server.routes.ops",
    "jq2qmt.server.unavailable",
    "jq2qmt.server.openapi_doc",
    "jq2qmt.server.secure_headers",  # last: outermost, sees every route's response
)


def _include_routes(app):
    import importlib

    from jq2qmt.server.routes import auth_info, health, internal, positions, strategies

    for module in (health, auth_info, positions, strategies, internal):
        app.include_router(module.router)
    for name in OPTIONAL_ROUTE_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise  # the module exists but one of its imports is missing
            continue
        if hasattr(module, "install"):
            module.install(app)
        else:
            app.include_router(module.router)
