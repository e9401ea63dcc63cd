"""The OpenAPI document as the server really behaves (checked by tests/robust).

FastAPI documents only what it can infer: a 200 and its own validation error shape
``{"detail": [...]}``, which this server never sends. `install(app)` post-processes
the generated document once:

- every error response is declared with the one shape of `errors.py`
  (``{"error": {"code", "message", "field"?}}``), for the statuses the operation can
  really answer (auth, validation, not found, conflict, size cap, rate limit, database
  unavailable);
- the auth schemes (bearer token, admin password header, signed upload headers, login
  session cookie) are declared and attached to the operations that need them;
- request bodies read by hand from the raw body (accounts API) are declared;
- conditional GETs declare 304, /healthz its 503 body, /metrics its text body.
"""

import copy

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {
                    "type": "string",
                    "minLength": 1,
                    "description": "机器可读的原因 / machine-readable reason",
                },
                "message": {"type": "string", "minLength": 1, "description": "中文 / English"},
                "field": {"type": "string", "description": "出错的字段 / the offending field"},
            },
        }
    },
}

_REASONS = {
    "400": "请求体不是 JSON 对象 / body is not a JSON object",
    "401": "缺少或错误的凭据 / missing or wrong credentials",
    "403": "凭据不允许此操作（范围、账户或 CSRF） / credentials do not allow this",
    "404": "对象不存在 / not found",
    "409": "与已保存的数据冲突 / conflicts with stored data",
    "413": "请求体过大 / body too large",
    "422": "字段无效，field 指出是哪个 / invalid field, named in `field`",
    "429": "密码错误次数过多 / too many failed passwords",
    "503": "数据库暂时不可用 / database unavailable",
}

SECURITY_SCHEMES = {
    "bearerToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "jq2qmt token 生成的读取/跟单令牌 / read or follow token",
    },
    "adminPassword": {"type": "apiKey", "in": "header", "name": "X-Internal-Password"},
    "sessionCookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": "jq2qmt_session",
        "description": "网页登录会话；写操作还需 X-CSRF-Token / web session; writes also need X-CSRF-Token",
    },
    "signedUpload": {
        "type": "apiKey",
        "in": "header",
        "name": "X-JQ2QMT-Signature",
        "description": "签名上传（X-JQ2QMT-Client/-Timestamp/-Nonce/-Signature），见 docs/api.md / signed upload",
    },
    "uploadToken": {"type": "apiKey", "in": "header", "name": "X-JQ2QMT-Upload-Token"},
}

_ADMIN = [{"adminPassword": []}, {"sessionCookie": []}]
_READER = [{"bearerToken": []}] + _ADMIN
_JSON_OBJECT = {"type": "object"}

# (method, path) -> (security, extra error statuses, request body schema or None)
_OPERATIONS = {
    ("get", "/healthz"): ([], [], None),
    ("get", "/api/v1/auth/info"): ([], [], None),
    ("post", "/api/v1/positions/update"): (
        [{"signedUpload": []}, {"uploadToken": []}],
        ["400", "409", "413"],
        None,
    ),
    ("post", "/api/v1/positions/update/internal"): (_ADMIN, ["400", "409", "413"], None),
    ("get", "/api/v1/positions/strategy/{strategy_name}"): (_READER, ["404"], None),
    ("get", "/api/v1/positions/all"): (_READER, [], None),
    ("get", "/api/v1/positions/total"): (_READER, ["404"], None),
    ("get", "/api/v1/strategies"): (_READER, [], None),
    ("get", "/api/v1/strategies/{strategy_name}/history"): (_READER, ["404"], None),
    ("get", "/api/v1/strategies/{strategy_name}/versions/{version}"): (_READER, ["404"], None),
    ("get", "/api/v1/strategies/{strategy_name}/diff"): (_READER, ["404"], None),
    ("delete", "/api/v1/strategies/{strategy_name}"): (_ADMIN, ["404"], None),
    ("get", "/api/v1/internal/password/info"): (_ADMIN, [], None),
    ("post", "/api/v1/internal/password/set"): ([], ["400", "413"], None),
    ("get", "/api/v1/accounts/{account_id}/plan"): ([{"bearerToken": []}] + _ADMIN, ["404"], None),
    ("post", "/api/v1/accounts/{account_id}/reports"): (
        [{"bearerToken": []}],
        ["400", "404", "413"],
        {
            "type": "object",
            "required": ["kind"],
            # null where the follower sends null (a round that failed before the plan or the
            # account was read; no hold)
            "properties": {
                "kind": {"type": "string", "enum": ["round", "heartbeat", "preflight"]},
                "round_id": {"type": ["string", "null"], "maxLength": 64},
                "plan_version": {"type": ["string", "null"], "maxLength": 64},
                "status": {
                    "enum": [
                        "ok",
                        "held",
                        "dry_run",
                        "paused",
                        "outside_session",
                        "error",
                        "idle",
                        "preflight",
                        None,
                    ]
                },
                "account": {"type": ["object", "null"]},
                "placed": {"type": "array"},
                "cancelled": {"type": "array"},
                "rejected": {"type": "array"},
                "skipped": {"type": "array"},
                "errors": {"type": "array"},
                "held_reason": {"type": ["string", "null"]},
                "follower": {"type": ["object", "null"]},
                # kind "preflight" only: what the follower sees before the account is confirmed
                "preflight": {"type": "object"},
            },
        },
    ),
    ("get", "/api/v1/accounts/{account_id}/reports"): (_ADMIN, ["404"], None),
    ("get", "/api/v1/accounts"): (_ADMIN, [], None),
    ("post", "/api/v1/accounts"): (
        _ADMIN,
        ["400", "409", "413"],
        {
            "type": "object",
            "required": ["account_id"],
            "properties": {
                "account_id": {"type": "string"},
                "name": {"type": "string"},
                "mode": {"type": "string", "enum": ["ratio", "weight"]},
                "settings": _JSON_OBJECT,
            },
        },
    ),
    ("get", "/api/v1/accounts/{account_id}"): (_ADMIN, ["404"], None),
    ("patch", "/api/v1/accounts/{account_id}"): (_ADMIN, ["400", "404", "413"], _JSON_OBJECT),
    ("delete", "/api/v1/accounts/{account_id}"): (_ADMIN, ["404"], None),
    ("put", "/api/v1/accounts/{account_id}/follow/{strategy}"): (
        _ADMIN,
        ["400", "404", "413"],
        {
            "type": "object",
            "properties": {"ratio": {"type": "number"}, "capital": {"type": "number"}},
        },
    ),
    ("delete", "/api/v1/accounts/{account_id}/follow/{strategy}"): (_ADMIN, ["404"], None),
    ("post", "/api/v1/accounts/{account_id}/pause"): (_ADMIN, ["404"], None),
    ("post", "/api/v1/accounts/{account_id}/resume"): (_ADMIN, ["404"], None),
    ("post", "/api/v1/accounts/{account_id}/confirm"): (_ADMIN, ["404"], None),
    ("post", "/api/v1/accounts/{account_id}/approve"): (
        _ADMIN,
        ["400", "404", "409", "413"],
        {
            "type": "object",
            "required": ["plan_version"],
            "properties": {"plan_version": {"type": "string"}},
        },
    ),
    ("post", "/api/v1/accounts/{account_id}/reject"): (
        _ADMIN,
        ["400", "404", "409", "413"],
        {"type": "object", "properties": {"plan_version": {"type": "string"}}},
    ),
    ("get", "/metrics"): ([{"bearerToken": []}] + _ADMIN, [], None),
}

_NOT_MODIFIED = {
    "description": "未变化（If-None-Match 命中） / not modified",
    "headers": {"ETag": {"schema": {"type": "string"}}},
}
_CONDITIONAL = {
    ("get", "/api/v1/positions/total"),
    ("get", "/api/v1/accounts/{account_id}/plan"),
    ("get", "/api/v1/accounts/{account_id}/quality"),
    ("get", "/api/v1/prices"),
    ("get", "/api/v1/orders"),
}


def _error_response(status):
    return {
        "description": _REASONS[status],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _statuses(security, extra, method, path):
    statuses = set(extra) | {"503"}
    if security:
        statuses |= {"401", "403", "429"}
    if "password" in path:
        statuses |= {"401", "422", "429"}
    # path, query or body validation; any query value holding a control character is
    # refused before the route (server/limits.py InputGuard), so every operation may 422
    statuses.add("422")
    if "{" in path:
        statuses.add("404")
    return sorted(statuses)


def _fix_operation(method, path, operation):
    # an operation added later and not listed here is documented as admin-only
    security, extra, body = _OPERATIONS.get(
        (method, path), (_ADMIN, ["400", "404", "409", "413"], None)
    )
    responses = operation.setdefault("responses", {})
    responses.pop("422", None)  # FastAPI's {"detail": [...]} shape is never sent
    for status in _statuses(security, extra, method, path):
        responses[status] = _error_response(status)
    operation["security"] = copy.deepcopy(security)
    if body is not None and "requestBody" not in operation:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
    if (method, path) in _CONDITIONAL:
        responses["304"] = copy.deepcopy(_NOT_MODIFIED)
    if path == "/healthz":
        responses["503"] = {
            "description": "数据库不可用或结构落后 / database unreachable or behind",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["status", "reason"],
                        "properties": {"status": {"type": "string"}, "reason": {"type": "string"}},
                    }
                }
            },
        }
    if path == "/metrics":
        responses["200"] = {
            "description": "Prometheus text format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }


def build_document(generated):
    """The generated document with errors, auth and bodies declared (see module docstring)."""
    document = copy.deepcopy(generated)
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas["Error"] = copy.deepcopy(ERROR_SCHEMA)
    components["securitySchemes"] = copy.deepcopy(SECURITY_SCHEMES)
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if isinstance(operation, dict) and method in ("get", "post", "put", "patch", "delete"):
                _fix_operation(method, path, operation)
    if not schemas:
        components.pop("schemas")
    return document


def install(app):
    """Serve the corrected document at /openapi.json (built once, on first request)."""
    generate = app.openapi

    def openapi():
        if app.openapi_schema is None:
            app.openapi_schema = build_document(generate())
        return app.openapi_schema

    app.openapi = openapi
