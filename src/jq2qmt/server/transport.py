"""HTTP/1.1 connection limits enforced by the server itself (uvicorn + httptools).

uvicorn with httptools bounds neither the size nor the number of request header
fields, nor the time a client may take to send its headers or its body: a client
can hold a connection (and its buffered header bytes) for as long as it likes.
`jq2qmt serve` often faces clients directly (the quick start binds 0.0.0.0 with no
proxy), so `GuardedHttpToolsProtocol` adds, per connection:

- request line longer than ``max_request_line`` bytes -> 414, then close;
- header fields over ``max_header_bytes`` bytes in total, or more than
  ``max_header_fields`` of them -> 431, then close (raw bytes of an unfinished
  head are counted too, so a never-ending header line is cut off the same way);
- headers not complete ``header_timeout`` seconds after the connection opened or
  the request began -> 408 (or a plain close when nothing was sent), then close;
- a request body that receives no byte for ``body_timeout`` seconds -> 408, close
  (not while the server itself has paused reading);
- idle keep-alive connections are closed after ``keep_alive_timeout`` seconds
  (uvicorn's own timer);
- more than ``max_connections`` open connections in this process -> the new one
  gets 503 at once and is closed.

A request whose headers and body have arrived is never timed out here: a long-poll
(``GET …/plan?wait=30``) may take as long as the application needs.

Only asyncio timers and transport calls are used, so this works the same on Windows
and with ``--workers N`` (each worker process enforces the limits on its own
connections). `uvicorn_http_option(limits)` gives the value for uvicorn's ``http=``
option; it pickles, as multi-worker uvicorn requires.
"""

import functools
import json
import logging
import time
from dataclasses import dataclass, fields

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

log = logging.getLogger("jq2qmt.server.transport")

# Slack for the request line's method/version and each field's ": " and CRLF when
# raw bytes of an unfinished head are compared with the parsed limits.
_HEAD_SLACK = 1024
_WARN_EVERY = 60.0


@dataclass(frozen=True)
class TransportLimits:
    """Per-connection limits (see the module docstring); all must be >= 1."""

    max_header_bytes: int = 16 * 1024
    max_header_fields: int = 100
    max_request_line: int = 8 * 1024
    header_timeout: float = 10
    body_timeout: float = 30
    keep_alive_timeout: float = 5
    max_connections: int = 500

    def __post_init__(self):
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 1:
                raise ValueError("[limits] %s must be a number >= 1, got %r" % (field.name, value))

    @classmethod
    def from_settings(cls, settings):
        return cls(**{field.name: getattr(settings, field.name) for field in fields(cls)})


def uvicorn_http_option(limits):
    """The ``http=`` value for `uvicorn.Config`/`uvicorn.run` enforcing `limits`."""
    return functools.partial(GuardedHttpToolsProtocol, limits=limits)


def uvicorn_options(limits):
    """uvicorn keyword options for `limits` (the protocol plus its keep-alive timer)."""
    return {"http": uvicorn_http_option(limits), "timeout_keep_alive": limits.keep_alive_timeout}


_REASONS = {
    408: ("request_timeout", "请求未在限定时间内发完 / request not received in time"),
    414: ("request_line_too_long", "请求行过长 / request line too long"),
    431: (
        "headers_too_large",
        "请求头过大或字段过多 / request header fields too large or too many",
    ),
    503: (
        "too_many_connections",
        "连接数已满，请稍后重试 / too many open connections, retry later",
    ),
}

_last_warning = {}


def _warn(kind, message, *args):
    """Log a refusal at most once a minute per kind (an attack must not flood the log)."""
    now = time.monotonic()
    if now - _last_warning.get(kind, -_WARN_EVERY) >= _WARN_EVERY:
        _last_warning[kind] = now
        log.warning(message, *args)


class _Refused(Exception):
    pass


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits of `TransportLimits`."""

    def __init__(self, config, server_state, app_state, _loop=None, limits=None):
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits or TransportLimits()
        self._phase = (
            "head"  # head: waiting for a request head; body: reading its body; done: handled
        )
        self._head_raw = 0
        self._header_bytes = 0
        self._header_fields = 0
        self._sent_any = False
        self._last_data = 0.0
        self._head_timer = None
        self._body_timer = None
        self._refusal = None

    # -- connection ---------------------------------------------------------------------

    def connection_made(self, transport):
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            _warn(
                "connections",
                "event=connection_refused reason=too_many_connections limit=%d",
                self.limits.max_connections,
            )
            self._refuse(503)
            return
        self._arm_head_timer()

    def connection_lost(self, exc):
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data):
        self._last_data = self.loop.time()
        if self._phase == "head":
            self._head_raw += len(data)
            self._sent_any = True
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError:
            if self._refusal is not None:
                self._refuse(self._refusal)
                return
            self.logger.warning("Invalid HTTP request received.")
            self.send_400_response("Invalid HTTP request received.")
            return
        if self.transport.is_closing():
            return
        if self._phase == "head":
            limit = self.limits.max_request_line + self.limits.max_header_bytes + _HEAD_SLACK
            if self._head_raw > limit:
                _warn(
                    "headers",
                    "event=request_refused reason=headers_too_large bytes=%d",
                    self._head_raw,
                )
                self._refuse(431)
                return
            # Bytes that start no message (blank lines between requests) cancelled the
            # keep-alive timer above: the head timer bounds the connection instead.
            self._arm_head_timer()
        elif self._phase == "body" and self._body_timer is None:
            self._body_timer = self.loop.call_later(self.limits.body_timeout, self._body_timeout)

    # -- parser callbacks ---------------------------------------------------------------

    def on_message_begin(self):
        super().on_message_begin()
        self._phase = "head"
        self._header_bytes = 0
        self._header_fields = 0
        self._arm_head_timer()

    def on_url(self, url):
        super().on_url(url)
        if len(self.url) > self.limits.max_request_line:
            _warn(
                "url", "event=request_refused reason=request_line_too_long bytes=%d", len(self.url)
            )
            self._refusal = 414
            raise _Refused()

    def on_header(self, name, value):
        self._header_fields += 1
        self._header_bytes += len(name) + len(value) + 4
        if (
            self._header_fields > self.limits.max_header_fields
            or self._header_bytes > self.limits.max_header_bytes
        ):
            _warn(
                "headers",
                "event=request_refused reason=headers_too_large fields=%d bytes=%d",
                self._header_fields,
                self._header_bytes,
            )
            self._refusal = 431
            raise _Refused()
        super().on_header(name, value)

    def on_headers_complete(self):
        self._cancel_head_timer()
        self._phase = "body"
        self._head_raw = 0
        self._sent_any = False
        super().on_headers_complete()

    def on_message_complete(self):
        self._phase = "done"
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        super().on_message_complete()

    def on_response_complete(self):
        super().on_response_complete()
        if self._phase == "done":
            # Back to waiting for the next request: the keep-alive timer covers an
            # idle connection, the head timer starts with the next request's first byte.
            self._phase = "head"

    # -- timers -------------------------------------------------------------------------

    def _arm_head_timer(self):
        if self._head_timer is None and not self.transport.is_closing():
            self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_timeout)

    def _cancel_head_timer(self):
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _cancel_timers(self):
        self._cancel_head_timer()
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _head_timeout(self):
        self._head_timer = None
        if self.transport.is_closing() or self._phase != "head":
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined head behind a request still being handled: time it once
            # that request is answered.
            self._arm_head_timer()
            return
        _warn(
            "head_timeout",
            "event=connection_closed reason=header_timeout seconds=%s",
            self.limits.header_timeout,
        )
        if self._sent_any:
            self._refuse(408)
        else:
            self.transport.close()

    def _body_timeout(self):
        self._body_timer = None
        if self.transport.is_closing() or self._phase != "body":
            return
        idle = self.loop.time() - self._last_data
        if self.flow.read_paused or idle < self.limits.body_timeout:
            # The server stopped reading (the app has not consumed the body yet), or
            # bytes arrived since the timer was armed: wait again.
            wait = (
                self.limits.body_timeout
                if self.flow.read_paused
                else self.limits.body_timeout - idle
            )
            self._body_timer = self.loop.call_later(wait, self._body_timeout)
            return
        _warn(
            "body_timeout",
            "event=connection_closed reason=body_timeout seconds=%s",
            self.limits.body_timeout,
        )
        if self.cycle is not None and not self.cycle.response_started:
            self._refuse(408)
        else:
            self.transport.close()

    # -- responses ----------------------------------------------------------------------

    def _refuse(self, status):
        """Answer `status` with the project's JSON error shape and close the connection."""
        self._refusal = None
        self._cancel_timers()
        if self.transport.is_closing():
            return
        code, message = _REASONS[status]
        body = json.dumps({"error": {"code": code, "message": message}}, ensure_ascii=False).encode(
            "utf-8"
        )
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head.extend([name, b": ", value, b"\r\n"])
        head.append(
            b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n"
            % len(body)
        )
        if status == 503:
            head.append(b"retry-after: 5\r\n")
        head.append(b"\r\n")
        self.transport.write(b"".join(head) + body)
        self.transport.close()
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True
            self.cycle.message_event.set()
