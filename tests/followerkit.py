"""Helpers of the follower and broker tests: a real plan server over HTTP, a paper
account, a clock (the root conftest hands them out as fixtures: `plan_server`,
`hung_server`, `clock`, `exchange`, and `fx`, this module itself).

`PlanServer` implements the follower side of docs/api.md (GET plan with
a strong ETag, If-None-Match -> 304, ?wait= long-poll; POST reports) on 127.0.0.1
with a real socket, and can be told to fail: "500", "garbage" (invalid JSON), "slow"
(answers only after the client gave up), or be stopped and started again.
"""

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from jq2qmt.brokers.paper import PaperBroker
from jq2qmt.follower.client import PlanClient
from jq2qmt.follower.loop import Follower
from jq2qmt.rules.settings import full_settings
from jq2qmt.sim.exchange import PaperExchange
from testkit import MORNING, QUOTES, Clock

__all__ = [
    "ACCOUNT",
    "MORNING",
    "QUOTES",
    "STRATEGY",
    "TOKEN",
    "Clock",
    "PlanServer",
    "holdings",
    "make_exchange",
    "make_follower",
    "make_plan",
]

ACCOUNT = "8886660057"
TOKEN = "follower-token-8886"
STRATEGY = "多策略V1.0"


def make_plan(
    positions=None,
    ratio=1.0,
    strategies=None,
    paused=False,
    dry_run=False,
    settings=None,
    approved_version=None,
    targets=None,
    mode="ratio",
    portfolio_value=1000000.0,
):
    """A plan body as the server sends it; plan_version hashes its content."""
    if targets is None:
        positions = positions if positions is not None else {}
        targets = [
            {
                "strategy": STRATEGY,
                "version": 1,
                "update_time": "2026-11-25T09:31:02+08:00",
                "positions": [
                    {"code": c, "volume": v, "cost": 10.0, "name": c}
                    for c, v in sorted(positions.items())
                ],
                "portfolio_value": portfolio_value,
            }
        ]
    if strategies is None:
        key = "ratio" if mode == "ratio" else "capital"
        strategies = {STRATEGY: {key: ratio}}
    plan = {
        "account_id": ACCOUNT,
        "name": "主账户",
        "paused": paused,
        "dry_run": dry_run,
        "approved_version": approved_version,
        "targets": targets,
        "follow": {"mode": mode, "strategies": strategies},
        "settings": full_settings(settings),  # as the server fills them in
    }
    digest = hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()[:16]
    plan["plan_version"] = digest
    return plan


class PlanServer:
    def __init__(self, account=ACCOUNT, token=TOKEN):
        self.account = account
        self.token = token
        self.plan = None
        self.mode = "ok"
        self.raw_body = None
        self.reports = []
        self.plan_requests = []
        self.not_modified = 0
        self.changed = threading.Condition()
        self.release = threading.Event()  # lets "slow" answers go at teardown
        self.httpd = None
        self.port = 0
        self.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server._get(self)

            def do_POST(self):
                server._post(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.httpd.daemon_threads = True
        # a client that gave up (timeouts in the fault tests) is not an error here
        self.httpd.handle_error = lambda request, client_address: None
        self.port = self.httpd.server_address[1]
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def close(self):
        self.release.set()
        self.stop()

    def set_plan(self, plan):
        with self.changed:
            self.plan = plan
            self.changed.notify_all()

    # ---- handlers -------------------------------------------------------------------------
    def _send(self, handler, status, body=None, headers=None):
        data = (
            b""
            if body is None
            else (body if isinstance(body, bytes) else json.dumps(body).encode("utf-8"))
        )
        handler.send_response(status)
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        if status != 304:
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if status != 304:
            handler.wfile.write(data)

    def _authorised(self, handler, tail):
        if handler.headers.get("Authorization") != "Bearer %s" % self.token:
            self._send(handler, 401, {"detail": "需要令牌 / token required"})
            return False
        if handler.path.split("?")[0] != "/api/v1/accounts/%s/%s" % (self.account, tail):
            self._send(handler, 404, {"detail": "not found"})
            return False
        return True

    def _get(self, handler):
        if not self._authorised(handler, "plan"):
            return
        with self.changed:
            self.plan_requests.append(handler.path)
            self.changed.notify_all()
        if self.mode == "500":
            return self._send(handler, 500, {"detail": "internal"})
        if self.mode == "slow":
            self.release.wait(10)
            return self._send(handler, 200, self.plan)
        if self.mode == "garbage":
            return self._send(handler, 200, b'{"plan_version": "x", "targets": [')
        if self.mode == "raw":
            return self._send(handler, 200, self.raw_body)
        wait = 0
        if "wait=" in handler.path:
            wait = min(int(handler.path.split("wait=")[1].split("&")[0]), 30)
        etag = handler.headers.get("If-None-Match")
        with self.changed:
            current = self.plan
            if current is not None and etag == '"%s"' % current["plan_version"] and wait:
                self.changed.wait_for(lambda: self.plan is not current, timeout=wait)
            plan = self.plan
        if plan is None:
            return self._send(handler, 404, {"detail": "no plan"})
        tag = '"%s"' % plan["plan_version"]
        if etag == tag:
            self.not_modified += 1
            return self._send(handler, 304, headers={"ETag": tag})
        self._send(handler, 200, plan, {"ETag": tag})

    def _post(self, handler):
        if not self._authorised(handler, "reports"):
            return
        length = int(handler.headers.get("Content-Length") or 0)
        body = json.loads(handler.rfile.read(length).decode("utf-8"))
        if self.mode == "500":
            return self._send(handler, 500, {"detail": "internal"})
        self.reports.append(body)
        self._send(handler, 200, {"ok": True, "id": len(self.reports)})

    def round_reports(self):
        return [r for r in self.reports if r.get("kind") == "round"]


def make_exchange(cash=1000000.0, **options):
    exchange = PaperExchange(cash=cash, **options)
    for code, quote in QUOTES.items():
        exchange.set_quote(code, **quote)
    return exchange


def make_follower(exchange, plan_server, clock, broker=None, timeout=0.5, **kwargs):
    client = PlanClient(plan_server.url, plan_server.token, plan_server.account, timeout=timeout)
    return Follower(broker or PaperBroker(exchange), client, clock, **kwargs)


def holdings(exchange):
    return dict((p["code"], p["volume"]) for p in exchange.positions())
