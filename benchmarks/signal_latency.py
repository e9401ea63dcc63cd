#!/usr/bin/env python3
"""Signal-to-order latency: from a JoinQuant upload's 200 to the first order on the
paper exchange.

  follow    the `jq2qmt follow` loop (daemon.run + Follower + PaperBroker, long-poll)
            in this process, talking to the server over real HTTP
  builtin   the exported built-in QMT script (`jq2qmt export qmt`) run by
            jq2qmt.sim.qmt_builtin, its 1 s timer fired in real time

The server is a child process (`python -m jq2qmt serve`, temp SQLite unless
--database-url). Each upload raises the target of one stock by 100 shares, so every
upload makes exactly one buy order. In follow mode the next upload is sent once the
follower is back in its long-poll; in builtin mode at a random phase of the timer.

  python benchmarks/signal_latency.py                 # 200 uploads per mode
  python benchmarks/signal_latency.py --quick         # 20 uploads per mode
  python benchmarks/signal_latency.py --modes follow --uploads 50 --workers 2

Prints a table and writes JSON (--out, default benchmarks/results/).
"""

import argparse
import contextlib
import datetime
import io
import json
import os
import random
import sys
import tempfile
import threading
import time

import _bench

ACCOUNT = "8886660057"
STRATEGY = "bench-signal"
CODE_JQ, CODE = "600000.XSHG", "600000.SH"
UPLOAD = "/api/v1/positions/update"
START = datetime.datetime(2026, 11, 25, 9, 35, 0)  # a Wednesday, in session


class Uploader:
    """Signed uploads of the strategy, one more lot each time."""

    def __init__(self, server):
        import requests

        self.server = server
        self.session = requests.Session()
        self.volume = 0

    def upload(self):
        self.volume += 100
        body = json.dumps(
            {
                "strategy_name": STRATEGY,
                "positions": [{"code": CODE_JQ, "volume": self.volume, "cost": 10.0}],
                "portfolio": {"total_value": 1e7, "cash": 0.0},
            }
        ).encode("utf-8")
        headers = self.server.instance.signed_headers(UPLOAD, body)
        headers["Content-Type"] = "application/json"
        resp = self.session.post(self.server.url + UPLOAD, data=body, headers=headers, timeout=10)
        done = time.perf_counter()
        if resp.status_code != 200:
            raise SystemExit("upload answered %d: %s" % (resp.status_code, resp.text[:200]))
        return done


class OrderWatch:
    """The time of the first order placed on the exchange after `arm()`."""

    def __init__(self, exchange):
        self._event = threading.Event()
        self._at = None
        exchange.subscribe(self._on_event)

    def arm(self):
        self._at = None
        self._event.clear()

    def _on_event(self, kind, payload):
        if kind == "order" and self._at is None and payload.get("status") == 50:
            self._at = time.perf_counter()
            self._event.set()

    def wait(self, timeout):
        if not self._event.wait(timeout):
            return None
        return self._at


def make_exchange():
    from jq2qmt.sim.exchange import PaperExchange

    exchange = PaperExchange(cash=1e9)
    exchange.set_quote(CODE, 10.0, prev_close=10.0, bid1=9.99, ask1=10.01)
    return exchange


def real_time_clock():
    origin = time.monotonic()
    return lambda: START + datetime.timedelta(seconds=time.monotonic() - origin)


def run_follow(server, token, uploads, uploader):
    """`jq2qmt follow --broker paper` in a thread; uploads when it is long-polling."""
    from jq2qmt.brokers.paper import PaperBroker
    from jq2qmt.follower import daemon
    from jq2qmt.follower.client import PlanClient
    from jq2qmt.follower.loop import Follower

    polling = threading.Event()
    stop = threading.Event()

    class ObservedClient(PlanClient):
        def fetch_plan(self, etag=None, wait=0):
            if etag and wait:
                polling.set()
            try:
                return PlanClient.fetch_plan(self, etag, wait)
            finally:
                polling.clear()

    exchange = make_exchange()
    watch = OrderWatch(exchange)
    client = ObservedClient(server.url, token, ACCOUNT, timeout=3.0)
    follower = Follower(PaperBroker(exchange), client, real_time_clock())

    def sleep(seconds):
        if stop.wait(seconds):
            raise KeyboardInterrupt

    thread = threading.Thread(
        target=daemon.run,
        args=(follower,),
        daemon=True,
        kwargs={"echo": lambda line: None, "sleep": sleep},
    )
    thread.start()
    latencies = []
    try:
        for i in range(uploads + 1):
            if not polling.wait(30):
                raise SystemExit("the follower did not return to its long-poll")
            time.sleep(0.05 + random.random() * 0.05)  # the GET is surely waiting at the server
            watch.arm()
            sent = uploader.upload()
            placed = watch.wait(15)
            if placed is None:
                raise SystemExit("no order within 15 s of upload %d" % i)
            if i:  # the first upload warms up (first plan fetch, connections)
                latencies.append((placed - sent) * 1000.0)
    finally:
        stop.set()
        thread.join(20)
    return latencies


def run_builtin(server, token, uploads, uploader, period=1.0):
    """The exported QMT file under the simulator, its timer fired every `period` s."""
    from jq2qmt.clients import export_qmt
    from jq2qmt.sim.qmt_builtin import QmtBuiltinSim, SimClock

    exchange = make_exchange()
    watch = OrderWatch(exchange)
    clock = SimClock(START)
    real = real_time_clock()
    with tempfile.TemporaryDirectory(prefix="jq2qmt-bench-qmt-") as folder:
        path = export_qmt.export_qmt(folder, server.url, token, ACCOUNT, timeout=2.0)
        sim = QmtBuiltinSim(exchange, ACCOUNT, clock)
        namespace = sim.load(path)
    timer = namespace[sim.context.timers[0][0]]
    stop = threading.Event()

    def fire():
        due = time.monotonic()
        while not stop.is_set():
            due += period
            if stop.wait(max(0.0, due - time.monotonic())):
                return
            clock.set(real())
            with contextlib.redirect_stdout(io.StringIO()):  # the script's log lines
                timer(sim.context)

    thread = threading.Thread(target=fire, daemon=True)
    thread.start()
    latencies = []
    try:
        for i in range(uploads + 1):
            time.sleep(0.2 + random.random() * period)  # a random phase of the timer
            watch.arm()
            sent = uploader.upload()
            placed = watch.wait(15)
            if placed is None:
                raise SystemExit("no order within 15 s of upload %d" % i)
            if i:
                latencies.append((placed - sent) * 1000.0)
    finally:
        stop.set()
        thread.join(20)
    return latencies


def prepare(server):
    from jq2qmt.store import accounts

    db = server.instance.db()
    try:
        accounts.add_account(db, ACCOUNT, "bench", "ratio", {}, confirmed=True)
    except accounts.AccountError:  # --database-url: the previous mode made it
        pass
    accounts.set_follow(db, ACCOUNT, STRATEGY, ratio=1.0)
    return accounts.create_follower_token(db, ACCOUNT, rotate=True)


def row(mode, latencies, target_p50, target_p99):
    values = sorted(latencies)
    p50, p99 = _bench.percentile(values, 0.5), _bench.percentile(values, 0.99)
    return {
        "mode": mode,
        "uploads": len(values),
        "p50_ms": round(p50, 1),
        "p90_ms": round(_bench.percentile(values, 0.9), 1),
        "p99_ms": round(p99, 1),
        "max_ms": round(values[-1], 1),
        "min_ms": round(values[0], 1),
        "target_p50_ms": target_p50,
        "target_p99_ms": target_p99,
        "met": (target_p50 is None or p50 <= target_p50) and p99 <= target_p99,
    }


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--modes", default="follow,builtin", help="follow, builtin (default both)")
    p.add_argument(
        "--uploads", type=int, default=200, help="measured uploads per mode (default 200)"
    )
    p.add_argument("--quick", action="store_true", help="20 uploads per mode")
    p.add_argument(
        "--database-url", help="use this (empty, throw-away) database instead of a temp SQLite"
    )
    p.add_argument("--workers", type=int, default=1, help="server worker processes (default 1)")
    p.add_argument(
        "--out", help="JSON output path (default benchmarks/results/signal_latency-<time>.json)"
    )
    args = p.parse_args(argv)
    uploads = 20 if args.quick else args.uploads
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    info = _bench.machine_info()
    rows = []
    for mode in modes:
        # a fresh server, account and in-flight journal per mode, so one mode's state
        # (or an earlier run's journal of the same simulated day) cannot change another
        with (
            _bench.SpawnedServer(args.database_url, workers=args.workers) as server,
            tempfile.TemporaryDirectory(prefix="jq2qmt-bench-journal-") as journal,
        ):
            os.environ["JQ2QMT_JOURNAL_DIR"] = journal
            token = prepare(server)
            uploader = Uploader(server)
            if mode == "follow":
                latencies = run_follow(server, token, uploads, uploader)
                rows.append(row("follow (long-poll)", latencies, 100, 300))
            elif mode == "builtin":
                latencies = run_builtin(server, token, uploads, uploader)
                rows.append(row("builtin QMT (1 s timer)", latencies, None, 1300))
            else:
                raise SystemExit("unknown mode %r" % mode)
            rows[-1]["latencies_ms"] = [round(x, 2) for x in latencies]
            print(
                "  %s: p50 %.1f ms  p99 %.1f ms"
                % (rows[-1]["mode"], rows[-1]["p50_ms"], rows[-1]["p99_ms"]),
                flush=True,
            )
    _bench.print_table(
        rows,
        [
            "mode",
            "uploads",
            "p50_ms",
            "p90_ms",
            "p99_ms",
            "max_ms",
            "target_p50_ms",
            "target_p99_ms",
            "met",
        ],
    )
    _bench.write_json(
        args.out or _bench.default_out("signal_latency"),
        {
            "benchmark": "signal_latency",
            "machine": _bench.finish_machine_info(info),
            "server": {
                "workers": args.workers,
                "database": (args.database_url or "sqlite").split("://")[0].split("+")[0],
            },
            "results": rows,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
