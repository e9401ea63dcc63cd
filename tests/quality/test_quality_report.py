"""What a follower adds to its round reports for the quality figures: fills of our
orders once each, status changes of our orders, the prices and targets the plan used,
each order's reference price, a held plan's orders; and the adapters' `trades()`."""

import copy
import gc
import time
import warnings

import pytest

from jq2qmt.brokers import base
from jq2qmt.brokers.paper import PaperBroker
from jq2qmt.brokers.qmt_builtin import BuiltinBroker
from jq2qmt.follower.client import PlanResponse
from jq2qmt.follower.loop import Follower
from jq2qmt.sim.exchange import PaperExchange
from jq2qmt.sim.qmt_builtin import QmtBuiltinSim, SimClock
from testkit import MORNING, QUOTES, Clock

ACCOUNT = "8886660057"
STRATEGY = "多策略V1.0"


def make_plan(positions, **settings):
    base_settings = {
        "ignore": [],
        "min_order_value": 0,
        "max_order_value": None,
        "max_turnover": None,
        "slice_value": None,
        "use_sell_proceeds": False,
        "slippage": 0.002,
        "order_timeout": 30,
        "max_reprices": 3,
        "sessions": [["09:30", "11:30"], ["13:00", "14:57"]],
    }
    base_settings.update(settings)
    return {
        "account_id": ACCOUNT,
        "name": "主账户",
        "paused": False,
        "dry_run": False,
        "approved_version": None,
        "plan_version": "v1",
        "preflight": False,
        "targets": [
            {
                "strategy": STRATEGY,
                "version": 7,
                "update_time": "2026-11-25T09:31:02+08:00",
                "positions": [
                    {"code": c, "volume": v, "cost": 10.0} for c, v in sorted(positions.items())
                ],
                "portfolio_value": 1000000.0,
            }
        ],
        "follow": {"mode": "ratio", "strategies": {STRATEGY: {"ratio": 1.0}}},
        "settings": base_settings,
    }


class MemoryClient:
    """The follower's client without a network: one plan, the reports it was sent."""

    def __init__(self, plan):
        self.plan = plan
        self.reports = []

    def fetch_plan(self, etag=None, wait=0):
        if etag == '"%s"' % self.plan["plan_version"]:
            return PlanResponse(304, None, etag)
        return PlanResponse(200, copy.deepcopy(self.plan), '"%s"' % self.plan["plan_version"])

    def send_report(self, report):
        self.reports.append(copy.deepcopy(report))

    def rounds(self):
        return [r for r in self.reports if r["kind"] == "round"]


def paper_exchange():
    exchange = PaperExchange(cash=1000000.0)
    for code, quote in QUOTES.items():
        exchange.set_quote(code, **quote)
    return exchange


def test_report_carries_prices_targets_reference_prices_and_each_fill_once():
    client = MemoryClient(make_plan({"600000.SH": 1000, "000001.SZ": 500}))
    clock = Clock()
    follower = Follower(PaperBroker(paper_exchange()), client, clock)
    first = follower.run_round()
    assert first["at"] == "2026-11-25T10:00:00"
    assert first["target"] == {"000001.SZ": 500, "600000.SH": 1000}
    assert first["prices"] == {
        "000001.SZ": {"price": 12.0, "time": None},
        "600000.SH": {"price": 10.0, "time": None},
    }
    assert first["account"]["market_value"] == 0.0
    assert sorted((p["code"], p["ref_price"]) for p in first["placed"]) == [
        ("000001.SZ", 12.0),
        ("600000.SH", 10.0),
    ]
    assert "fills" not in first
    clock.advance(1)
    second = follower.run_round()
    # the paper exchange filled the buys at the ask, not at the last price the plan used
    assert sorted(
        (f["code"], f["side"], f["volume"], f["price"], f["time"]) for f in second["fills"]
    ) == [
        ("000001.SZ", "buy", 500, 12.01, "2026-11-25T10:00:01"),
        ("600000.SH", "buy", 1000, 10.01, "2026-11-25T10:00:01"),
    ]
    assert all(f["remark"].startswith(first["round_id"]) and f["trade_id"] for f in second["fills"])
    assert sorted((o["code"], o["status"], o["traded_volume"]) for o in second["orders"]) == [
        ("000001.SZ", base.ORDER_SUCCEEDED, 500),
        ("600000.SH", base.ORDER_SUCCEEDED, 1000),
    ]
    assert {p["code"]: p["avg_cost"] for p in second["account"]["positions"]} == {
        "000001.SZ": 12.01,
        "600000.SH": 10.01,
    }
    sent = [r for r in client.rounds() if r["round_id"] == second["round_id"]]
    assert sent and len(sent[0]["fills"]) == 2  # a round with fills is always delivered
    clock.advance(120)
    client.plan = dict(client.plan, plan_version="v2")  # a full round again
    third = follower.run_round()
    assert "fills" not in third and "orders" not in third


def test_a_failed_trades_query_is_reported_and_trading_goes_on():
    class NoTrades(PaperBroker):
        def trades(self):
            raise base.BrokerError("query_stock_trades returned None")

    exchange = paper_exchange()
    follower = Follower(NoTrades(exchange), MemoryClient(make_plan({"600000.SH": 1000})), Clock())
    report = follower.run_round()
    assert report["status"] == "ok" and [p["code"] for p in report["placed"]] == ["600000.SH"]
    assert any("query_stock_trades returned None" in e for e in report["errors"])


def test_held_round_lists_the_orders_it_would_send():
    client = MemoryClient(make_plan({"600000.SH": 1000}, max_turnover=0.001))
    follower = Follower(PaperBroker(paper_exchange()), client, Clock())
    report = follower.run_round()
    assert report["status"] == "held"
    assert report["strategy_versions"] == {STRATEGY: 7}
    (order,) = report["would_place"]
    assert (order["code"], order["side"], order["volume"], order["ref_price"]) == (
        "600000.SH",
        "buy",
        1000,
        10.0,
    )
    assert order["order_id"] is None and order["price"] >= 10.0


def test_builtin_trades_from_the_deal_table():
    exchange = PaperExchange(cash=100000.0)
    for code, quote in QUOTES.items():
        exchange.set_quote(code, **quote)
    sim = QmtBuiltinSim(exchange, ACCOUNT, SimClock(MORNING))
    broker = BuiltinBroker(
        sim.context, sim.account_id, sim.passorder, sim.get_trade_detail_data, sim.cancel
    )
    broker.place("600000.SH", "buy", 300, 10.05, "jq1125100000-ab01.0")
    (order,) = broker.orders()
    (trade,) = broker.trades()
    assert trade == {
        "trade_id": trade["trade_id"],
        "order_id": order["order_id"],
        "code": "600000.SH",
        "side": "buy",
        "volume": 300,
        "price": 10.01,
        "time": trade["time"],
        "remark": trade["remark"],
    }
    assert trade["trade_id"] and order["order_id"]


def test_trade_time_parsing():
    assert base.trade_time("20261125", "93005") == "2026-11-25T09:30:05"
    assert base.trade_time("2026-11-25", "09:30:05") == "2026-11-25T09:30:05"
    assert base.trade_time("20261125", "") is None
    assert base.trade_time(None, "093005") is None
    assert base.trade_time("20261125", "256161") is None


def test_miniqmt_trades_and_failed_query():
    xtsim = pytest.importorskip("jq2qmt.sim.xtquant")
    try:
        xtsim.load_xtquant_types()
    except xtsim.XtquantMissing:
        pytest.skip("xtquant is not installed (pip install -e '.[test]')")
    from jq2qmt.brokers.miniqmt import MiniQmtBroker

    exchange = PaperExchange(cash=100000.0)
    for code, quote in QUOTES.items():
        exchange.set_quote(code, **quote)
    simulator = xtsim.install(xtsim.XtQuantSim(exchange, ACCOUNT))
    try:
        broker = MiniQmtBroker(
            "C:/QMT/userdata_mini", ACCOUNT, session_id=123, log=lambda m: None
        ).connect()
        try:
            order_id = broker.place("600000.SH", "buy", 200, 10.05, "jq1125100000-ab01.0")
            trades = []
            for _ in range(100):
                trades = broker.trades()
                if trades:
                    break
                time.sleep(0.02)
            (trade,) = trades
            assert (
                trade["order_id"],
                trade["code"],
                trade["side"],
                trade["volume"],
                trade["price"],
            ) == (str(order_id), "600000.SH", "buy", 200, 10.01)
            assert trade["remark"] == "jq1125100000-ab01.0" and len(trade["time"]) == 19
            simulator.query_none.add("trades")
            with pytest.raises(base.BrokerError):
                broker.trades()
        finally:
            broker.close()
    finally:
        xtsim.uninstall()
    # xttrader leaves its own asyncio loop's self-pipe to the garbage collector: collect
    # it here, where its ResourceWarning is expected, not during a later test
    del broker
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
