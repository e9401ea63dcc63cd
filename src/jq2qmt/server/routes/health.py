"""GET /healthz: liveness and readiness (database reachable, schema current)."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from jq2qmt.store import migrate

router = APIRouter(tags=["ops"])


def _check(db):
    try:
        revision = migrate.current_revision(db.engine)
    except Exception as exc:
        return 503, {
            "status": "error",
            "database": "unreachable",
            "reason": "数据库无法连接 / database unreachable (%s)" % type(exc).__name__,
        }
    head = migrate.head_revision()
    if revision != head:
        return 503, {
            "status": "error",
            "database": "ok",
            "schema": revision,
            "reason": "数据库结构需要升级：jq2qmt db upgrade / schema is behind, run: jq2qmt db upgrade",
        }
    return 200, {"status": "ok", "database": "ok", "schema": revision}


@router.get("/healthz", summary="健康检查 / health check")
async def healthz(request: Request):
    status, body = await run_in_threadpool(_check, request.app.state.db)
    return JSONResponse(body, status_code=status)
