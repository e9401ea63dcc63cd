"""The built-in QMT adapter against the QMT built-in simulator (docs/platforms.md)."""

import datetime

import pytest

from jq2qmt.brokers import base
from jq2qmt.brokers.qmt_builtin import BuiltinBroker
from jq2qmt.sim.qmt_builtin import QmtBuiltinSim, SimClock


@pytest.fixture
def sim(fx):
    exchange = fx.make_exchange(cash=100000.0, auto_match=False)
    exchange.set_position("600036.SH", 1000, can_use_volume=600, avg_cost=35.0)
    exchange.set_quote("000002.SZ", last=8.0, prev_close=8.0, suspended=True)
    return QmtBuiltinSim(exchange, fx.ACCOUNT, SimClock(fx.MORNING))


@pytest.fixture
def broker(sim):
    return BuiltinBroker(
        sim.context, sim.account_id, sim.passorder, sim.get_trade_detail_data, sim.cancel
    )


def test_positions_and_asset(broker):
    assert broker.positions() == [
        {
            "code": "600036.SH",
            "volume": 1000,
            "can_use_volume": 600,
            "avg_cost": 35.0,
            "name": "招商银行",
        }
    ]
    asset = broker.asset()
    assert asset["cash"] == 100000.0 and asset["total_asset"] == 100000.0 + 40000.0


def test_place_sends_passorder_with_remark(sim, broker):
    assert broker.place("600000.SH", "buy", 300, 10.01, "jq1125100000-01.0") is None
    op, order_type, account, code, pr_type, price, volume, name, quick, remark = (
        sim.passorder_calls[0]
    )
    assert (op, order_type, account, code, pr_type, price, volume, quick, remark) == (
        23,
        1101,
        sim.account_id,
        "600000.SH",
        11,
        10.01,
        300,
        2,
        "jq1125100000-01.0",
    )
    broker.place("600036.SH", "sell", 200, 39.99, "jq1125100000-01.1")
    orders = broker.orders()
    assert [(o["code"], o["side"], o["volume"], o["status"], o["remark"]) for o in orders] == [
        ("600000.SH", "buy", 300, base.ORDER_REPORTED, "jq1125100000-01.0"),
        ("600036.SH", "sell", 200, base.ORDER_REPORTED, "jq1125100000-01.1"),
    ]
    raw = sim.get_trade_detail_data(sim.account_id, "stock", "order")
    assert [r.m_nOffsetFlag for r in raw] == [48, 49]
    assert broker.asset()["cash"] < 100000.0 - 3000  # the buy froze cash


def test_cancel_by_order_sys_id(sim, broker):
    broker.place("600000.SH", "buy", 300, 9.9, "jq1125100000-01.0")
    order_id = broker.orders()[0]["order_id"]
    assert broker.cancel(order_id) is True
    assert broker.orders()[0]["status"] == base.ORDER_CANCELED
    assert broker.cancel(order_id) is False
    assert broker.cancel(None) is False


def test_rejection_shows_as_junk_with_reason(broker):
    broker.place("600000.SH", "buy", 150, 10.01, "jq1125100000-01.0")  # not a whole lot
    order = broker.orders()[0]
    assert order["status"] == base.ORDER_JUNK and order["status_msg"] == "lot"


def test_quotes_with_limits_and_suspension(broker):
    quotes = broker.quotes(["600000.SH", "000002.SZ", "600519.SH"])
    assert set(quotes) == {"600000.SH", "000002.SZ"}
    q = quotes["600000.SH"]
    assert (q["last"], q["bid1"], q["ask1"], q["high_limit"], q["low_limit"]) == (
        10.0,
        9.99,
        10.01,
        11.0,
        9.0,
    )
    assert q["suspended"] is False and quotes["000002.SZ"]["suspended"] is True


def test_other_accounts_see_nothing(sim):
    other = BuiltinBroker(
        sim.context, "other", sim.passorder, sim.get_trade_detail_data, sim.cancel
    )
    assert other.positions() == [] and other.orders() == []
    with pytest.raises(base.BrokerError):
        other.asset()


def test_quote_from_tick_treats_zero_as_empty():
    tick = {
        "lastPrice": 0,
        "lastClose": 5.0,
        "askPrice": [0, 0, 0, 0, 0],
        "bidPrice": [4.99, 0, 0, 0, 0],
    }
    quote = base.quote_from_tick(
        tick, {"UpStopPrice": 5.5, "DownStopPrice": 0, "InstrumentStatus": 0}
    )
    assert quote == {
        "last": 5.0,
        "prev_close": 5.0,
        "bid1": 4.99,
        "high_limit": 5.5,
        "suspended": False,
    }
    assert base.quote_from_tick({}, {}) is None


def test_status_table():
    assert [s for s in sorted(base.STATUS_NAMES) if base.is_open(s)] == [
        48,
        49,
        50,
        51,
        52,
        55,
        255,
    ]
    assert [s for s in sorted(base.STATUS_NAMES) if base.is_cancellable(s)] == [48, 49, 50, 55, 255]
    assert base.is_open(123) and base.status_name(57) == "废单"


def test_timers_fire_on_the_simulated_clock(sim):
    calls = []
    sim.namespace = {"tick": lambda ctx: calls.append(sim.clock.now())}
    sim.context.run_time("tick", "500nMilliSecond", "2020-01-01 00:00:00")
    sim.run_for(2)
    start = datetime.datetime(2026, 11, 25, 10, 0)
    assert calls == [start + datetime.timedelta(milliseconds=500 * i) for i in range(1, 5)]
    with pytest.raises(ValueError):
        sim.context.run_time("tick", "1s", "2020-01-01 00:00:00")
