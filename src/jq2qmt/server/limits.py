"""Input limits: the request body size cap (enforced while the body streams in), the
one JSON body decoder with its nesting and control-character checks, and the guard
against control characters in the request target (pure ASGI middleware)."""

import json
import re

from starlette.exceptions import HTTPException


class _TooLarge(HTTPException):
    """Raised from `receive`; the app's HTTP error handler renders it as 413."""

    def __init__(self):
        HTTPException.__init__(self, 413)


class BodySizeLimit:
    """Answer 413 for a body over `max_bytes`, by Content-Length or by counting."""

    def __init__(self, app, max_bytes):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is None and b"transfer-encoding" not in headers:
            return await self.app(scope, receive, send)  # no body (HTTP/1.1): nothing to count
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._reject(send)
        received = 0
        started = False

        async def counting_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge()
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._reject(send)

    async def _reject(self, send):
        body = json.dumps(
            {
                "error": {
                    "code": "body_too_large",
                    "message": "请求体超过 %d 字节 / request body larger than %d bytes"
                    % (self.max_bytes, self.max_bytes),
                }
            },
            ensure_ascii=False,
        ).encode("utf-8")
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


# ---- JSON bodies and text inputs ----------------------------------------------------

# Deepest nesting accepted in a JSON body. Real bodies (snapshots, follower reports,
# settings) are at most ~5 levels deep; a limit far below the interpreter's recursion
# limit means no later step (encoding, storing, rendering) can recurse too deep either.
MAX_JSON_DEPTH = 32

# C0 control characters and DEL. Tab, line feed and carriage return are allowed in
# JSON strings (free text such as error messages); NUL is refused everywhere because
# PostgreSQL cannot store it in a text column.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_STRICT = re.compile("[\x00-\x1f\x7f]")


def has_control_chars(text, allow_whitespace=False):
    """True when `text` holds a control character (tab/LF/CR allowed on request)."""
    pattern = _CONTROL if allow_whitespace else _CONTROL_STRICT
    return bool(pattern.search(text))


def loads_json_object(body, required=True):
    """The JSON object of a request body, or an `ApiError`:

    - 400 ``invalid_json`` (field ""): not UTF-8 JSON;
    - 400 ``json_too_deep`` (field ""): nested deeper than `MAX_JSON_DEPTH`;
    - 400 ``invalid_body`` (field ""): not an object (an empty body gives ``{}``
      when not `required`);
    - 422 ``invalid_field`` naming the field: a string (or key) holding a control
      character other than tab, line feed or carriage return.

    Every route that reads a JSON body goes through here.
    """
    from jq2qmt.server.errors import ApiError

    if not body or not body.strip():
        if required:
            raise ApiError(
                400, "invalid_body", "请求体必须是 JSON 对象 / body must be a JSON object", ""
            )
        return {}
    if _max_bracket_depth(body) > MAX_JSON_DEPTH:
        raise _too_deep()
    try:
        payload = json.loads(body.decode("utf-8"))
    except RecursionError:
        raise _too_deep()
    except (UnicodeDecodeError, ValueError):
        raise ApiError(
            400, "invalid_json", "请求体不是有效的 UTF-8 JSON / body is not valid UTF-8 JSON", ""
        )
    if not isinstance(payload, dict):
        raise ApiError(
            400, "invalid_body", "请求体必须是 JSON 对象 / body must be a JSON object", ""
        )
    field = _field_with_control_chars(payload) if _ESCAPED_CONTROL.search(body) else None
    if field is not None:
        raise ApiError(
            422,
            "invalid_field",
            "%s 含控制字符 / %s contains a control character" % (field, field),
            field,
        )
    return payload


def _too_deep():
    from jq2qmt.server.errors import ApiError

    return ApiError(
        400,
        "json_too_deep",
        "请求体 JSON 嵌套超过 %d 层 / request body JSON is nested deeper than %d levels"
        % (MAX_JSON_DEPTH, MAX_JSON_DEPTH),
        "",
    )


_STRINGS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPENING = (ord("["), ord("{"))
# A control character can only reach a decoded JSON string as a \u escape (a raw one is
# invalid JSON), except DEL, which JSON allows raw.
_ESCAPED_CONTROL = re.compile(rb"\\u00[01][0-9a-fA-F]|\\u007[fF]|\x7f")


def _max_bracket_depth(body):
    """Deepest [ / { nesting of raw JSON bytes (brackets inside strings ignored), or a
    number past MAX_JSON_DEPTH as soon as it is reached. Runs before parsing so a
    hostile body never reaches the (recursive) decoder."""
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return 0
    depth = deepest = 0
    for byte in _STRINGS.sub(b"", body).translate(None, _NOT_BRACKETS):
        if byte in _OPENING:
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_JSON_DEPTH:
                    break
        else:
            depth -= 1
    return deepest


def _field_with_control_chars(payload):
    """The path (``positions[2].name``) of the first string or key holding a control
    character other than tab/LF/CR, or None. Iterative: depth is already bounded."""
    stack = [("", payload)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if _CONTROL.search(value):
                return path or "body"
        elif isinstance(value, dict):
            for key, item in value.items():
                child = "%s.%s" % (path, key) if path else str(key)
                if _CONTROL.search(key):
                    return child
                stack.append((child, item))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                stack.append(("%s[%d]" % (path, index), item))
    return None


class InputGuard:
    """Refuse control characters in the request target before any route runs:
    404 for the path (no route has such a name), 422 naming the query parameter.
    Percent-encoded bytes are decoded first (``%00`` is a NUL)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            problem = _target_problem(scope)
            if problem is not None:
                status, code, message, field = problem
                error = {"code": code, "message": message}
                if field is not None:
                    error["field"] = field
                body = json.dumps({"error": error}, ensure_ascii=False).encode("utf-8")
                await send(
                    {
                        "type": "http.response.start",
                        "status": status,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        return await self.app(scope, receive, send)


def _target_problem(scope):
    from urllib.parse import parse_qsl, unquote

    path = scope.get("path") or ""
    raw = scope.get("raw_path")
    candidates = [path]
    if raw:
        candidates.append(unquote(raw.decode("latin-1")))
    if any(_CONTROL_STRICT.search(text) for text in candidates):
        return 404, "not_found", "地址不存在 / not found", None
    query = scope.get("query_string") or b""
    if query:
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if _CONTROL_STRICT.search(name) or _CONTROL_STRICT.search(value):
                field = _CONTROL_STRICT.sub("", name) or "query"
                return (
                    422,
                    "invalid_field",
                    "查询参数 %s 含控制字符 / query parameter %s contains a control character"
                    % (field, field),
                    field,
                )
    return None
