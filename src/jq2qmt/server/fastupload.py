"""Signed uploads answered before the framework.

Every JoinQuant strategy uploads its snapshot with a signed
``POST /api/v1/positions/update``. Besides the upload's own work (authenticate,
parse, save in one write transaction), a request through FastAPI pays for routing,
the framework's request, exception and response layers and the endpoint's
serialization. `FastUploads` is a pure ASGI middleware that runs the route's own
function (`positions.signed_save`) in one worker thread and sends the route's own
response (`JSONResponse` of the result, as FastAPI renders a route's dict), so there
is one definition of what an upload does and answers: the route's.

- Only a POST to exactly the upload path with a JSON content type is taken; every
  other request goes to the app untouched.
- The body is read through the outer middlewares' ``receive``, so the body size
  limit counts it as for the route. When the fast path does not answer, the app
  gets a ``receive`` that replays what was read (and then whatever failed: a body
  over the limit, a client that went away), so the route sees the request as sent.
- A refused or failed upload (401, 400/409/422, 503, an unexpected error) is
  answered by the route, with the exception the fast path got: the route raises it
  instead of running the upload a second time (its nonce may be spent). The app's
  exception handlers, request log and metrics see it as before.
- A successful answer labels the request with the route (``scope["route"]``), so
  request logs and metrics count it as the route's.
"""

from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from jq2qmt.server import paths
from jq2qmt.server.routes import positions
from jq2qmt.server.routes.positions import UPLOAD_FAILURE, signed_save

UPLOAD_PATH = paths.UPLOAD


def _json_content(scope):
    for name, value in scope["headers"]:
        if name == b"content-type":
            media_type = value.split(b";", 1)[0].strip().lower()
            return media_type == b"application/json"
    return False


async def _read_body(receive):
    """(messages received, the exception that ended reading or None)."""
    messages = []
    try:
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request" or not message.get("more_body", False):
                return messages, None
    except Exception as exc:  # re-raised to the route by the replay
        return messages, exc


def _replay(messages, failure, receive):
    """A ``receive`` that returns `messages`, then raises `failure` (if any), then
    reads from `receive`."""
    pending = list(messages)

    async def replay():
        if pending:
            return pending.pop(0)
        if failure is not None:
            raise failure
        return await receive()

    return replay


def _complete_body(messages, failure):
    """The body bytes when the whole body arrived, else None."""
    if failure is not None or not messages:
        return None
    if any(message["type"] != "http.request" for message in messages):
        return None
    return b"".join(message.get("body", b"") for message in messages)


class FastUploads:
    """The middleware (see the module docstring)."""

    def __init__(self, app):
        self.app = app
        self._upload_route = None

    async def __call__(self, scope, receive, send):
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] != UPLOAD_PATH
            or not _json_content(scope)
        ):
            await self.app(scope, receive, send)
            return
        messages, failure = await _read_body(receive)
        replay = _replay(messages, failure, receive)
        body = _complete_body(messages, failure)
        if body is not None:
            request = Request(scope, replay)
            try:
                result = await run_in_threadpool(signed_save, request, body)
            except Exception as exc:
                scope[UPLOAD_FAILURE] = exc
            else:
                scope["route"] = self._route()
                await JSONResponse(result)(scope, replay, send)
                return
        await self.app(scope, replay, send)

    def _route(self):
        """The upload route, so request logs and metrics label a fast answer exactly
        like one from the route."""
        if self._upload_route is None:
            self._upload_route = paths.find_route(positions.router.routes, UPLOAD_PATH, "POST")
        return self._upload_route


def install(app):
    app.add_middleware(FastUploads)
