"""API errors and the handlers that render every error in one JSON shape::

    {"error": {"code": "invalid_field", "field": "positions[2].volume",
               "message": "数量必须是整数 / volume must be an integer"}}

No handler ever puts an exception's text or a stack trace in a response.
"""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from jq2qmt.store.snapshot import SnapshotError

log = logging.getLogger("jq2qmt.server")


class ApiError(Exception):
    """An error response: HTTP status, machine code, bilingual message, optional field."""

    def __init__(self, status, code, message, field=None, headers=None):
        Exception.__init__(self, code)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers

    def response(self):
        body = {"error": {"code": self.code, "message": self.message}}
        if self.field is not None:
            body["error"]["field"] = self.field
        return JSONResponse(body, status_code=self.status, headers=self.headers)


class AuthError(ApiError):
    """401: missing or bad credentials; `code` says which check failed."""

    def __init__(self, code, message, headers=None):
        ApiError.__init__(self, 401, code, message, headers=headers)


def not_found(what, field=None):
    return ApiError(404, "not_found", "%s不存在 / %s not found" % (what[0], what[1]), field)


def from_snapshot_error(exc):
    status = 400 if exc.code == "invalid_body" else 422
    return ApiError(status, exc.code, exc.message, exc.field)


def field_path(loc):
    """'positions[2].volume' from a pydantic location like ('body', 'positions', 2, 'volume')."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += "[%d]" % part
        else:
            text += ("." if text else "") + str(part)
    return text


_STATUS_TEXT = {
    400: ("bad_request", "请求无效 / bad request"),
    401: ("unauthorized", "需要认证 / authentication required"),
    403: ("forbidden", "没有权限 / forbidden"),
    404: ("not_found", "地址不存在 / not found"),
    405: ("method_not_allowed", "不支持该请求方法 / method not allowed"),
    413: ("body_too_large", "请求体过大 / request body too large"),
}


def install_error_handlers(app: FastAPI):
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return exc.response()

    @app.exception_handler(SnapshotError)
    async def _snapshot_error(request: Request, exc: SnapshotError):
        return from_snapshot_error(exc).response()

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        first = errors[0] if errors else {}
        kind = first.get("type", "")
        if kind == "json_invalid":
            return ApiError(
                400, "invalid_json", "请求体不是有效的 JSON / body is not valid JSON", ""
            ).response()
        field = field_path(first.get("loc", ()))
        label = field or "request"
        return ApiError(
            422, "invalid_field", "参数 %s 无效 / invalid value for %s" % (label, label), field
        ).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        code, message = _STATUS_TEXT.get(
            exc.status_code, ("http_%d" % exc.status_code, "请求失败 / request failed")
        )
        return ApiError(
            exc.status_code, code, message, headers=getattr(exc, "headers", None)
        ).response()

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.error(
            "unhandled error on %s %s: %s",
            request.method,
            request.url.path,
            type(exc).__name__,
            exc_info=exc,
        )
        return ApiError(
            500,
            "internal_error",
            "服务器内部错误，请查看服务器日志 / internal server error, see the server log",
        ).response()
