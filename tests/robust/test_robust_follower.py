"""Follower faults on the paper exchange (architecture.md §6).

Extends tests/follower (one fault per test) and tests/e2e (restart mid-round at one
point) with systematic schedules, reusing the follower tests' plan server, plan
builder, exchange and clock (tests/followerkit.py):
- the follower process is killed before and after every broker call of a round and
  of the report, then a fresh process takes over: no order is ever sent twice and
  the account converges to the target;
- clock jumps backwards and forwards across sessions and days: orders only in
  session, never twice, convergence;
- partial fills and rejections: no overfill, convergence;
- a schedule of server faults (500, garbage, slow, down, empty plan by mistake)
  between good rounds: no order in any fault round, convergence once recovered.
"""

import datetime

import pytest

import followerkit as fx
from jq2qmt.brokers import base
from jq2qmt.brokers.paper import PaperBroker

pytestmark = pytest.mark.slow


TARGET = {"600000.SH": 2000, "000001.SZ": 1000}
START = {"600036.SH": 1000}  # held, not in the target: sold
MAX_ROUNDS = 40


class Killed(BaseException):
    """The follower process dies here (not an Exception: nothing in the loop catches it)."""


class KillingBroker:
    """A paper broker whose process dies at kill point `kill_at` (before/after calls)."""

    CALLS = ("positions", "asset", "orders", "quotes", "place", "cancel")

    def __init__(self, exchange, kill_at):
        self.inner = PaperBroker(exchange)
        self.kind = self.inner.kind
        self.kill_at = kill_at
        self.points = []

    def _point(self, name):
        self.points.append(name)
        if len(self.points) - 1 == self.kill_at:
            raise Killed(name)

    def __getattr__(self, name):
        if name not in self.CALLS:
            raise AttributeError(name)
        method = getattr(self.inner, name)

        def call(*args, **kwargs):
            self._point("before " + name)
            result = method(*args, **kwargs)
            self._point("after " + name)
            return result

        return call


class KillingClient:
    """The plan client of a process that dies before or after sending its report."""

    def __init__(self, client, broker):
        self.inner = client
        self.broker = broker

    def fetch_plan(self, *args, **kwargs):
        return self.inner.fetch_plan(*args, **kwargs)

    def send_report(self, report):
        self.broker._point("before report")
        result = self.inner.send_report(report)
        self.broker._point("after report")
        return result


def _exchange(**options):
    exchange = fx.make_exchange(cash=200000.0, **options)
    for code, volume in START.items():
        exchange.set_position(code, volume)
    return exchange


def _committed(exchange):
    """Per (code, side): filled volume plus what open orders may still fill."""
    totals = {}
    for order in exchange.orders():
        open_rest = order["volume"] - order["traded_volume"] if order["status"] in (50, 55) else 0
        key = (order["code"], order["side"])
        totals[key] = totals.get(key, 0) + order["traded_volume"] + open_rest
    return totals


def _overcommitted(exchange, target=TARGET, start=START):
    """Orders beyond what the target needs: the sign of a duplicate."""
    problems = []
    for (code, side), volume in _committed(exchange).items():
        need = target.get(code, 0) - start.get(code, 0)
        allowed = need if side == "buy" else -need
        if volume > max(allowed, 0):
            problems.append("%s %s %d > needed %d" % (side, code, volume, max(allowed, 0)))
    return problems


def _converge(follower, exchange, clock, match=False):
    rounds = 0
    for rounds in range(1, MAX_ROUNDS + 1):
        clock.advance(31)  # past order_timeout, so stale orders are re-priced
        follower.run_round()
        if match:
            exchange.match()
        if (
            fx.holdings(exchange) == dict(TARGET, **{c: 0 for c in START if c not in TARGET})
            or {c: v for c, v in fx.holdings(exchange).items() if v} == TARGET
        ):
            return rounds
    return rounds


def _kill_points(auto_match):
    """How many kill points a clean first round (plus its report) has."""
    server = fx.PlanServer()
    try:
        server.set_plan(fx.make_plan(TARGET))
        broker = KillingBroker(_exchange(auto_match=auto_match), kill_at=-1)
        follower = fx.make_follower(None, server, fx.Clock(), broker=broker)
        follower.client = KillingClient(follower.client, broker)
        follower.run_round()
        return list(broker.points)
    finally:
        server.close()


@pytest.mark.parametrize("auto_match", [True, False], ids=["filled", "open-orders"])
def test_robust_follower_killed_at_every_step_sends_nothing_twice(auto_match, figures):
    points = _kill_points(auto_match)
    assert sum(1 for p in points if p == "after place") == 3  # the round places three orders
    problems, cases = [], 0
    for kill_at, where in enumerate(points):
        server = fx.PlanServer()
        try:
            server.set_plan(fx.make_plan(TARGET))
            exchange, clock = _exchange(auto_match=auto_match), fx.Clock()
            broker = KillingBroker(exchange, kill_at)
            first = fx.make_follower(None, server, clock, broker=broker)
            first.client = KillingClient(first.client, broker)
            with pytest.raises(Killed):
                first.run_round()
            second = fx.make_follower(exchange, server, clock)  # a new process, nothing remembered
            for _ in range(3):
                clock.advance(1)
                second.run_round()
                problems += ["kill %s: %s" % (where, p) for p in _overcommitted(exchange)]
            _converge(second, exchange, clock, match=not auto_match)
            cases += 1
            held = {c: v for c, v in fx.holdings(exchange).items() if v}
            if held != TARGET:
                problems.append("kill %s: did not converge, holds %s" % (where, held))
            problems += ["kill %s (final): %s" % (where, p) for p in _overcommitted(exchange)]
        finally:
            server.close()
    figures("follower faults", cases=cases, failures=len(problems), faults=len(points))
    assert not problems, problems[:10]


def test_robust_follower_clock_jumps(figures):
    """Backwards and forwards across sessions and days; orders only in session, never twice."""
    server = fx.PlanServer()
    try:
        server.set_plan(fx.make_plan(TARGET))
        exchange = _exchange(auto_match=False)
        clock = fx.Clock()
        follower = fx.make_follower(exchange, server, clock)
        day = fx.MORNING.date()
        jumps = [
            (10, 0),
            (9, 0),
            (10, 0, 5),
            (12, 0),
            (8, 0),
            (15, 30),
            (10, 1),
            (11, 40),
            (13, 1),
            ("next",),
            (9, 20),
            ("back",),
            (10, 2),
            (14, 58),
            (13, 30),
        ]
        problems, cases = [], 0
        for jump in jumps:
            if jump == ("next",):
                day += datetime.timedelta(days=1)
                exchange.next_day()
                continue
            if jump == ("back",):
                day -= datetime.timedelta(days=1)  # the PC clock is set back a day
                continue
            clock.set(datetime.datetime.combine(day, datetime.time(*jump)))
            before = len(exchange.orders())
            report = follower.run_round()
            cases += 1
            in_session = datetime.time(9, 30) <= clock.current.time() <= datetime.time(
                11, 30
            ) or datetime.time(13, 0) <= clock.current.time() <= datetime.time(14, 57)
            if len(exchange.orders()) > before and not in_session:
                problems.append(
                    "orders sent at %s (outside the session): %s"
                    % (clock.current, report["status"])
                )
            problems += ["at %s: %s" % (clock.current, p) for p in _overcommitted(exchange)]
            if in_session:
                exchange.match()
        clock.set(datetime.datetime.combine(day, datetime.time(10, 30)))
        _converge(follower, exchange, clock, match=True)
        held = {c: v for c, v in fx.holdings(exchange).items() if v}
        if held != TARGET:
            problems.append("did not converge after the jumps: %s" % held)
    finally:
        server.close()
    figures("follower faults", cases=cases, failures=len(problems), faults=len(jumps))
    assert not problems, problems


class RejectingBroker(PaperBroker):
    """The counter refuses the first `count` orders of `code` (废单), then accepts."""

    def __init__(self, exchange, code, count):
        PaperBroker.__init__(self, exchange)
        self.code, self.left = code, count

    def place(self, code, side, volume, price, remark):
        if code == self.code and self.left > 0:
            self.left -= 1
            raise base.BrokerError("柜台拒单 / rejected by the counter")
        return PaperBroker.place(self, code, side, volume, price, remark)


def test_robust_follower_partial_fills_and_rejections(figures):
    server = fx.PlanServer()
    try:
        server.set_plan(fx.make_plan(TARGET))
        exchange = _exchange(auto_match=True, fill_ratio=0.5)
        clock = fx.Clock()
        follower = fx.make_follower(
            exchange, server, clock, broker=RejectingBroker(exchange, "000001.SZ", 2)
        )
        problems, rejected = [], 0
        for _ in range(MAX_ROUNDS):
            clock.advance(31)
            report = follower.run_round()
            rejected += len(report["rejected"])
            exchange.match()
            problems += _overcommitted(exchange)
            if {c: v for c, v in fx.holdings(exchange).items() if v} == TARGET:
                break
        held = {c: v for c, v in fx.holdings(exchange).items() if v}
        if held != TARGET:
            problems.append("did not converge: %s" % held)
        if rejected != 2:
            problems.append("%d rejections reported, expected 2" % rejected)
    finally:
        server.close()
    figures("follower faults", cases=1, failures=len(problems), faults=3)
    assert not problems, problems


def test_robust_follower_server_fault_schedule(figures):
    """ok -> 500 -> garbage -> slow -> down -> empty plan by mistake -> ok: nothing is
    traded in any fault round, the account converges once the server is back."""
    server = fx.PlanServer()
    try:
        good = fx.make_plan(TARGET)
        server.set_plan(fx.make_plan({"600000.SH": 1000}))  # a first, smaller target
        exchange = _exchange(auto_match=True)
        clock = fx.Clock()
        follower = fx.make_follower(exchange, server, clock, timeout=0.3)
        follower.run_round()
        assert fx.holdings(exchange)["600000.SH"] == 1000
        server.set_plan(good)
        problems, faults = [], 0
        for fault in ("500", "garbage", "slow", "down", "empty", "500"):
            before = len(exchange.orders())
            if fault == "down":
                server.stop()
            elif fault == "empty":
                server.mode = "ok"
                server.set_plan(
                    fx.make_plan(targets=[])
                )  # the followed strategy missing by mistake
            else:
                server.mode = fault
            clock.advance(31)
            report = follower.run_round()
            faults += 1
            if len(exchange.orders()) != before:
                problems.append("orders sent during fault %s (%s)" % (fault, report["status"]))
            if fault == "down":
                server.start()
            if fault == "empty" and report["status"] != "held":
                problems.append(
                    "an empty plan for a held account was %s, not held" % report["status"]
                )
        server.mode = "ok"
        server.release.set()
        server.set_plan(good)
        _converge(follower, exchange, clock)
        held = {c: v for c, v in fx.holdings(exchange).items() if v}
        if held != TARGET:
            problems.append("did not converge after recovery: %s" % held)
        problems += _overcommitted(exchange, start=dict(START))
    finally:
        server.close()
    figures("follower faults", cases=faults + 2, failures=len(problems), faults=faults)
    assert not problems, problems
