"""Operations plumbing for the app: /metrics, request metrics and latency, the
notifications raised by requests (refused uploads, follower reports), and the
periodic watchdog. Installed by the app factory through `install(app)`.

One ASGI middleware observes requests from the outside, so the routes themselves
stay free of metrics and notification code.
"""

import asyncio
import json
import logging
import time

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from jq2qmt.metrics import Metrics
from jq2qmt.notify.dispatcher import Notifier
from jq2qmt.notify.events import report_events
from jq2qmt.notify.watchdog import watch
from jq2qmt.server import paths
from jq2qmt.server.auth import require_scope

log = logging.getLogger("jq2qmt.server")
access_log = logging.getLogger("jq2qmt.access")

router = APIRouter(tags=["ops"])

_UPLOADS = (paths.regex(paths.UPLOAD), paths.regex(paths.UPLOAD_INTERNAL))
_REPORT = paths.regex(paths.REPORTS)
_PLAN = paths.regex(paths.PLAN)
_READS = (
    ("plan", _PLAN),
    ("total", paths.regex(paths.TOTAL)),
    ("strategy", paths.regex(paths.STRATEGY)),
    ("all", paths.regex(paths.ALL_POSITIONS)),
    ("history", paths.regex(paths.HISTORY)),
    ("version", paths.regex(paths.VERSION)),
    ("diff", paths.regex(paths.DIFF)),
    ("accounts", paths.regex(paths.ACCOUNTS)),
    ("reports", _REPORT),
)
_MAX_CAPTURE = 4 * 1024 * 1024


@router.get("/metrics", summary="Prometheus 指标 / Prometheus metrics", include_in_schema=True)
def metrics(request: Request, _principal=Depends(require_scope("read"))):
    state = request.app.state.ops_metrics
    return Response(state.render(), media_type=state.content_type)


def install(app):
    app.state.ops_metrics = Metrics()
    app.state.notifier = Notifier(app.state.db, server_name=app.state.settings.public_url)
    app.include_router(router)
    app.add_middleware(OpsMiddleware, ops_app=app)
    # the watchdog runs while the app runs (one task per process)
    app.state.background_tasks.append(lambda: watch(app.state.notifier))


def _read_endpoint(path):
    for name, pattern in _READS:
        if pattern.match(path):
            return name
    return None


class OpsMiddleware:
    def __init__(self, app, ops_app):
        self.app = app
        self.ops_app = ops_app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        metrics = self.ops_app.state.ops_metrics
        path, method = scope["path"], scope["method"]
        capture = [] if (method == "POST" and _REPORT.match(path)) else None
        waiting = (
            method == "GET" and _PLAN.match(path) and b"wait=" in scope.get("query_string", b"")
        )
        status = {"code": 500}

        async def receive_wrapper():
            message = await receive()
            if message["type"] == "http.request":
                if sum(len(c) for c in capture) < _MAX_CAPTURE:
                    capture.append(message.get("body", b""))
            return message

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        started = time.perf_counter()
        if waiting:
            metrics.longpolls.inc()
        try:
            await self.app(scope, receive if capture is None else receive_wrapper, send_wrapper)
        finally:
            if waiting:
                metrics.longpolls.dec()
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            metrics.latency.labels(method=method, route=route).observe(elapsed)
            access_log.info(
                "event=request method=%s route=%s status=%d ms=%.1f",
                method,
                route,
                status["code"],
                elapsed * 1000,
            )
            try:
                self._observe(scope, path, method, status["code"], capture)
            except Exception as exc:  # observing must never break a request
                log.warning("event=ops_observe_error error=%s", type(exc).__name__)

    def _observe(self, scope, path, method, code, capture):
        metrics = self.ops_app.state.ops_metrics
        if method == "POST" and any(p.match(path) for p in _UPLOADS):
            metrics.uploads.labels(result="accepted" if code < 300 else str(code)).inc()
            if code in (401, 403):
                client = (scope.get("client") or ("?",))[0]
                self._notify(
                    "upload_auth_refused",
                    client,
                    "上传被拒绝（认证失败） / upload refused",
                    "来自 %s 的持仓上传认证失败（HTTP %d）。若不是你的策略，可能有人在尝试上传；若是，"
                    "请检查密钥和服务器时间。" % (client, code),
                )
        elif method == "GET":
            endpoint = _read_endpoint(path)
            if endpoint:
                metrics.reads.labels(endpoint=endpoint).inc()
                if code == 304:
                    metrics.not_modified.labels(endpoint=endpoint).inc()
        if capture is not None and code < 300:
            self._report(_REPORT.match(path).group("account_id"), b"".join(capture))

    def _report(self, account_id, body):
        try:
            report = json.loads(body.decode("utf-8"))
        except ValueError:
            return
        self.ops_app.state.ops_metrics.count_report(report)
        for event, title, text in report_events(report):
            self._notify(event, account_id, "%s（账户 %s）" % (title, account_id), text)

    def _notify(self, event, subject, title, text):
        """Send in a worker thread; the request never waits for a webhook."""
        notifier = self.ops_app.state.notifier
        metrics = self.ops_app.state.ops_metrics

        def run():
            try:
                status = notifier.notify(event, subject, title, text)
            except Exception as exc:
                log.warning(
                    "event=notify_error notify_event=%s error=%s", event, type(exc).__name__
                )
                status = "error"
            metrics.notifications.labels(event=event, status=status).inc()

        asyncio.get_running_loop().run_in_executor(None, run)
