"""Admin password status and change (the seed's /api/v1/internal/password/*), and the
web login sessions (list, revoke)."""

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from jq2qmt.server import sessions as web_sessions
from jq2qmt.server.auth import Principal, check_admin_password, require_admin
from jq2qmt.server.errors import ApiError
from jq2qmt.server.routes.positions import decode_json
from jq2qmt.store import credentials
from jq2qmt.store.snapshot import format_time

router = APIRouter(tags=["admin"])


@router.get("/api/v1/internal/password/info", summary="密码状态 / password status")
def password_info(request: Request, _: Principal = Depends(require_admin)):
    with request.app.state.db.read() as session:
        info = credentials.admin_password_info(session)
    return {
        "is_default": False,  # there is no default password: init generates one
        "is_set": info is not None,
        "created_at": format_time(info["created_at"]) if info else None,
        "updated_at": format_time(info["updated_at"]) if info else None,
    }


def check_new_password(password, current):
    """Raise a 422 ApiError unless `password` is acceptable as the admin password."""
    problem = credentials.password_problem(password, current)
    if problem:
        raise ApiError(422, "weak_password", problem, "new_password")


@router.post(
    "/api/v1/internal/password/set",
    summary="修改密码 / change password",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["current_password", "new_password"],
                        "properties": {
                            "current_password": {"type": "string"},
                            "new_password": {"type": "string"},
                        },
                    }
                }
            },
        }
    },
)
async def set_password(request: Request):
    payload = decode_json(await request.body())
    current = payload.get("current_password")
    if not isinstance(current, str) or not current:
        raise ApiError(
            401, "admin_required", "需要当前密码 / current_password is required", "current_password"
        )
    await run_in_threadpool(check_admin_password, request, current)
    new = payload.get("new_password")
    check_new_password(new, current)
    await run_in_threadpool(credentials.set_admin_password, request.app.state.db, new)
    return {"success": True, "message": "密码已修改 / password changed"}


# ---- web login sessions ------------------------------------------------------------------


def _session_dict(row):
    return dict(
        row, created_at=format_time(row["created_at"]), expires_at=format_time(row["expires_at"])
    )


@router.get("/api/v1/internal/sessions", summary="登录会话 / active web login sessions")
def list_sessions(request: Request, _: Principal = Depends(require_admin)):
    with request.app.state.db.read() as tx:
        return {"sessions": [_session_dict(r) for r in web_sessions.list_active(tx)]}


@router.delete(
    "/api/v1/internal/sessions/{session_id}",
    summary="吊销一个登录会话 / revoke a web login session",
)
def revoke_session(session_id: str, request: Request, _: Principal = Depends(require_admin)):
    if not web_sessions.SID_PATTERN.match(session_id):
        raise ApiError(404, "not_found", "会话不存在 / session not found", "session_id")
    if web_sessions.revoke(request.app.state.db, session_id) == 0:
        raise ApiError(
            404,
            "not_found",
            "会话不存在或已结束 / session not found or already ended",
            "session_id",
        )
    return {"success": True, "revoked": 1}


@router.delete(
    "/api/v1/internal/sessions", summary="吊销全部登录会话 / revoke every web login session"
)
def revoke_all_sessions(request: Request, _: Principal = Depends(require_admin)):
    return {"success": True, "revoked": web_sessions.revoke(request.app.state.db)}
