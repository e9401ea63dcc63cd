"""Request body size cap, enforced while the body streams in (pure ASGI middleware)."""

import json

from starlette.exceptions import HTTPException


class _TooLarge(HTTPException):
    """Raised from `receive`; the app's HTTP error handler renders it as 413."""

    def __init__(self):
        HTTPException.__init__(self, 413)


class BodySizeLimit(object):
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
        body = json.dumps({"error": {"code": "body_too_large", "message": "请求体超过 %d 字节 / request body larger than %d bytes"
                                     % (self.max_bytes, self.max_bytes)}}, ensure_ascii=False).encode("utf-8")
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
