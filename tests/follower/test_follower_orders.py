"""Our orders over their life: timeouts and re-pricing, every QMT status, restarts."""

import threading

import pytest

from jq2qmt.brokers import base
from jq2qmt.brokers.paper import PaperBroker
from jq2qmt.follower.client import PlanClient


class Killed(BaseException):
    """The follower process dies here (like a kill -9 between two broker calls)."""


class CrashingBroker(PaperBroker):
    """The real paper broker, killed at the n-th call of one method (before or after)."""

    def __init__(self, exchange, method, nth=1, after=False):
        PaperBroker.__init__(self, exchange)
        self.method, self.nth, self.after, self.calls = method, nth, after, 0

    def _maybe_die(self, name, when_after):
        if name == self.method and when_after == self.after:
            if self.calls == self.nth:
                raise Killed(name)

    def _call(self, name, *args):
        if name == self.method:
            self.calls += 1
        self._maybe_die(name, False)
        result = getattr(PaperBroker, name)(self, *args)
        self._maybe_die(name, True)
        return result

    def positions(self):
        return self._call("positions")

    def asset(self):
        return self._call("asset")

    def orders(self):
        return self._call("orders")

    def quotes(self, codes):
        return self._call("quotes", codes)

    def place(self, code, side, volume, price, remark):
        return self._call("place", code, side, volume, price, remark)

    def cancel(self, order_id):
        return self._call("cancel", order_id)


TARGET = {"600000.SH": 1000, "000001.SZ": 500, "600036.SH": 200}


@pytest.mark.parametrize(
    "method,nth,after",
    [
        ("positions", 1, False),
        ("asset", 1, False),
        ("orders", 1, False),
        ("quotes", 1, False),
        ("place", 1, False),
        ("place", 1, True),
        ("place", 2, True),
        ("orders", 2, False),
        ("cancel", 1, False),
        ("cancel", 1, True),
    ],
)
def test_restart_at_any_step_never_duplicates(fx, plan_server, clock, method, nth, after):
    exchange = fx.make_exchange(auto_match=False)
    exchange.set_position("600036.SH", 200)
    plan_server.set_plan(fx.make_plan(TARGET))
    # an order left over from an earlier round that the engine wants cancelled
    exchange.place_order("600036.SH", "sell", 100, 40.5, remark="jq1125093000-01.0")
    crashing = fx.make_follower(
        exchange, plan_server, clock, broker=CrashingBroker(exchange, method, nth, after)
    )
    with pytest.raises(Killed):
        for _ in range(3):
            crashing.run_round()
            clock.advance(1)
    restarted = fx.make_follower(exchange, plan_server, clock)
    for _ in range(3):
        clock.advance(1)
        restarted.run_round()
    open_buys = {}
    for order in exchange.orders(open_only=True):
        if order["side"] == "buy":
            open_buys[order["code"]] = open_buys.get(order["code"], 0) + order["volume"]
    assert open_buys == {"600000.SH": 1000, "000001.SZ": 500}
    exchange.match()
    clock.advance(1)
    assert restarted.run_round()["placed"] == []
    assert fx.holdings(exchange) == TARGET


def test_unfilled_orders_are_repriced_within_the_limit(fx, plan_server, clock):
    exchange = fx.make_exchange(auto_match=False)
    plan_server.set_plan(
        fx.make_plan({"600000.SH": 1000}, settings={"order_timeout": 30, "max_reprices": 2})
    )
    follower = fx.make_follower(exchange, plan_server, clock)
    assert len(follower.run_round()["placed"]) == 1
    for attempt in range(2):
        clock.advance(10)
        assert follower.run_round()["cancelled"] == []
        clock.advance(25)
        report = follower.run_round()
        assert [c["reason"] for c in report["cancelled"]] == ["timeout"]
        assert report["placed"] == []  # the cancelled order still counts this round
        clock.advance(1)
        assert len(follower.run_round()["placed"]) == 1  # re-placed at the current price
    clock.advance(60)
    report = follower.run_round()
    assert report["cancelled"] == [] and report["placed"] == []
    assert any(s["reason"] == "max_reprices" for s in report["skipped"])
    statuses = [o["status"] for o in exchange.orders()]
    assert statuses == [base.ORDER_CANCELED, base.ORDER_CANCELED, base.ORDER_REPORTED]


class StatusBroker(PaperBroker):
    """Reports our open orders with another QMT status (as a broker build may)."""

    def __init__(self, exchange, status):
        PaperBroker.__init__(self, exchange)
        self.status = status

    def orders(self):
        rows = PaperBroker.orders(self)
        for row in rows:
            if row["status"] == base.ORDER_REPORTED:
                row["status"] = self.status
        return rows


@pytest.mark.parametrize("status", [48, 49, 50, 51, 52, 55, 255, 99])
def test_every_open_status_counts_in_flight(fx, plan_server, clock, status):
    exchange = fx.make_exchange(auto_match=False)
    plan_server.set_plan(fx.make_plan({"600000.SH": 1000}))
    follower = fx.make_follower(exchange, plan_server, clock, broker=StatusBroker(exchange, status))
    assert len(follower.run_round()["placed"]) == 1
    for _ in range(3):
        clock.advance(1)
        report = follower.run_round()
        assert report["status"] in ("idle", "ok") and report["placed"] == []
    clock.advance(40)
    report = follower.run_round()
    cancelling = status in (base.ORDER_REPORTED_CANCEL, base.ORDER_PARTSUCC_CANCEL)
    assert bool(report["cancelled"]) is not cancelling
    assert report["placed"] == [] and report["errors"] == []
    assert len(exchange.orders()) == 1


class StaleQuoteBroker(PaperBroker):
    """Quotes 15 % above the exchange's: every buy is refused (price_limit)."""

    def quotes(self, codes):
        quotes = PaperBroker.quotes(self, codes)
        for quote in quotes.values():
            for key in ("last", "bid1", "ask1", "prev_close"):
                quote[key] = round(quote[key] * 1.15, 2)
            quote.pop("high_limit", None)
            quote.pop("low_limit", None)
        return quotes


def test_rejected_orders_are_reported_and_not_retried_forever(fx, plan_server, exchange, clock):
    plan_server.set_plan(fx.make_plan({"600000.SH": 1000}))
    follower = fx.make_follower(exchange, plan_server, clock, broker=StaleQuoteBroker(exchange))
    rejected, skipped = [], []
    for _ in range(6):
        report = follower.run_round()
        rejected.extend(report["rejected"])
        skipped.extend(s["reason"] for s in report["skipped"])
        clock.advance(1)
    assert len(exchange.orders()) == 3
    assert [r["reason"] for r in rejected] == ["price_limit"] * 3
    assert "rejected" in skipped
    sent = [r for r in plan_server.round_reports() if r["rejected"]]
    assert sum(len(r["rejected"]) for r in sent) == 3
    assert all(o["status"] == base.ORDER_JUNK for o in exchange.orders())


def test_conditional_get_and_long_poll(fx, plan_server):
    plan = fx.make_plan({"600000.SH": 100})
    plan_server.set_plan(plan)
    client = PlanClient(plan_server.url, fx.TOKEN, fx.ACCOUNT, timeout=0.5)
    first = client.fetch_plan()
    assert first.status == 200 and first.etag == '"%s"' % plan["plan_version"]
    assert client.fetch_plan(first.etag).status == 304
    result = {}
    thread = threading.Thread(target=lambda: result.update(r=client.fetch_plan(first.etag, 20)))
    thread.start()
    with plan_server.changed:
        plan_server.changed.wait_for(lambda: len(plan_server.plan_requests) == 3, timeout=5)
    newer = fx.make_plan({"600000.SH": 200})
    plan_server.set_plan(newer)
    thread.join(10)
    assert result["r"].status == 200 and result["r"].plan == newer
    assert "wait=20" in plan_server.plan_requests[-1]


def test_settled_follower_uses_conditional_get(fx, plan_server, exchange, clock):
    plan_server.set_plan(fx.make_plan({"600000.SH": 100}))
    follower = fx.make_follower(exchange, plan_server, clock)
    follower.run_round()
    clock.advance(1)
    follower.run_round()
    clock.advance(1)
    report = follower.run_round()
    assert report["status"] == "idle" and report["account"] is None  # 304: nothing read
    assert plan_server.not_modified == 2


def test_manual_open_orders_are_never_cancelled(fx, plan_server, clock):
    exchange = fx.make_exchange(auto_match=False)
    exchange.set_position("600036.SH", 1000)
    manual = exchange.place_order("600036.SH", "buy", 100, 39.0, remark="手工")
    plan_server.set_plan(fx.make_plan({"600036.SH": 500}))
    follower = fx.make_follower(exchange, plan_server, clock)
    report = follower.run_round()
    assert report["cancelled"] == [] and report["placed"] == []
    assert [s["reason"] for s in report["skipped"]] == ["open_order_not_ours"]
    assert exchange.get_order(manual["order_id"])["status"] == 50


def test_client_works_without_requests(fx, plan_server, exchange, clock):
    from jq2qmt.follower.http_session import HttpSession

    plan = fx.make_plan({"600000.SH": 100})
    plan_server.set_plan(plan)
    client = PlanClient(plan_server.url, fx.TOKEN, fx.ACCOUNT, timeout=0.5, session=HttpSession())
    first = client.fetch_plan()
    assert first.status == 200 and first.plan == plan
    assert client.fetch_plan(first.etag).status == 304
    assert client.send_report({"kind": "heartbeat", "follower": {}}) is True
    plan_server.token = "other"
    with pytest.raises(Exception) as err:
        client.fetch_plan()
    assert getattr(err.value, "status", None) == 401
    plan_server.stop()
    with pytest.raises(Exception) as down:
        client.fetch_plan()
    assert "unreachable" in str(down.value)
