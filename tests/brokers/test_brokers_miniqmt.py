"""The miniQMT adapter against the wheel's real xttrader.py over the simulated miniQMT."""

import time

import pytest

from jq2qmt.brokers import base
from jq2qmt.brokers.miniqmt import MiniQmtBroker

xtsim = pytest.importorskip("jq2qmt.sim.xtquant")


@pytest.fixture
def sim(fx):
    try:
        xtsim.load_xtquant_types()
    except xtsim.XtquantMissing:
        pytest.skip("xtquant is not installed (pip install -e '.[test]')")
    exchange = fx.make_exchange(cash=100000.0, auto_match=False)
    exchange.set_position("600036.SH", 1000, can_use_volume=600, avg_cost=35.0)
    simulator = xtsim.install(xtsim.XtQuantSim(exchange, fx.ACCOUNT))
    yield simulator
    xtsim.uninstall()


@pytest.fixture
def broker(sim, fx):
    messages = []
    adapter = MiniQmtBroker(
        "C:/QMT/userdata_mini", fx.ACCOUNT, session_id=123, log=messages.append
    ).connect()
    adapter.messages = messages
    yield adapter
    adapter.close()


def wait_for(predicate, seconds=5.0):
    """Pushes reach the callback on xttrader's executor thread: wait for one (bounded)."""
    end = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < end, "push not received"
        time.sleep(0.01)


def test_connect_uses_the_real_trader_api(broker, sim):
    import xtquant.xttrader

    assert type(broker.trader) is xtquant.xttrader.XtQuantTrader
    assert xtquant.xttrader.__file__.endswith("site-packages/xtquant/xttrader.py")
    client = broker.trader.async_client
    assert (client.path, client.name, client.session) == ("C:/QMT/userdata_mini", "xtquant", 123)
    assert client.started and client.connected
    assert client.timeout == 10000  # set_timeout: the call deadline in milliseconds
    assert sim.requests_of("subscribe") == [
        {"m_nAccountType": 2, "m_strAccountID": broker.account_id}
    ]
    from xtquant.xttype import StockAccount

    assert isinstance(broker.account, StockAccount)


def test_connect_failure_is_a_broker_error(sim, fx):
    sim.connect_result = -1
    with pytest.raises(base.BrokerError):
        MiniQmtBroker("C:/QMT/userdata_mini", fx.ACCOUNT).connect()


def test_wrong_account_cannot_subscribe(sim):
    with pytest.raises(base.BrokerError):
        MiniQmtBroker("C:/QMT/userdata_mini", "someone-else").connect()


def test_positions_asset_orders(broker, sim):
    assert broker.positions() == [
        {
            "code": "600036.SH",
            "volume": 1000,
            "can_use_volume": 600,
            "avg_cost": 35.0,
            "name": "招商银行",
        }
    ]
    assert broker.asset()["cash"] == 100000.0
    order_id = broker.place("600000.SH", "buy", 300, 10.01, "jq1125100000-01.0")
    assert order_id.isdigit()
    broker.place("600036.SH", "sell", 200, 39.99, "jq1125100000-01.1")
    orders = broker.orders()
    assert [(o["order_id"], o["code"], o["side"], o["status"], o["remark"]) for o in orders][0] == (
        order_id,
        "600000.SH",
        "buy",
        50,
        "jq1125100000-01.0",
    )
    assert orders[1]["side"] == "sell"
    raw = broker.trader.query_stock_orders(broker.account, False)
    # native objects pass through xttrader unchanged: not xttype instances
    assert type(raw[0]).__module__ == "jq2qmt.sim.xtpythonclient" and raw[0].order_type == 23


def test_cancel_returns_zero_on_success(broker):
    order_id = broker.place("600000.SH", "buy", 300, 9.9, "jq1125100000-01.0")
    assert broker.cancel(order_id) is True
    assert broker.orders()[0]["status"] == base.ORDER_CANCELED
    assert broker.cancel(order_id) is False
    wait_for(lambda: any("撤单失败" in m for m in broker.messages))


def test_rejected_order_reaches_the_error_callback(broker):
    order_id = broker.place("600000.SH", "buy", 150, 10.01, "jq1125100000-01.0")
    assert broker.orders()[0]["status"] == base.ORDER_JUNK
    wait_for(lambda: any("委托失败" in m for m in broker.messages))
    line = [m for m in broker.messages if "委托失败" in m][0]
    assert "order_id=%s" % order_id in line and "seq=" in line and "lot" in line


def test_quotes_through_xtdata(broker):
    quote = broker.quotes(["600000.SH"])["600000.SH"]
    assert (quote["last"], quote["high_limit"], quote["low_limit"]) == (10.0, 11.0, 9.0)


def test_disconnect_reconnects_or_fails_cleanly(broker, sim):
    sim.disconnect()
    wait_for(lambda: not broker.callback.connected)
    assert broker.positions()[0]["code"] == "600036.SH"  # reconnected
    assert broker.session_id == 124 and broker.trader.async_client.session == 124
    sim.disconnect()
    wait_for(lambda: not broker.callback.connected)
    sim.connect_result = -1
    with pytest.raises(base.BrokerError):
        broker.positions()
    sim.connect_result = 0  # miniQMT is back: the next round reconnects
    assert broker.asset()["cash"] == 100000.0
    assert broker.trader.async_client.session == 126


def test_follower_round_over_miniqmt(fx, plan_server, clock, broker, sim):
    sim.exchange.auto_match = True
    plan_server.set_plan(fx.make_plan({"600000.SH": 1000, "600036.SH": 1000}))
    follower = fx.make_follower(sim.exchange, plan_server, clock, broker=broker)
    report = follower.run_round()
    assert report["status"] == "ok" and report["follower"]["kind"] == "miniqmt"
    assert fx.holdings(sim.exchange) == {"600000.SH": 1000, "600036.SH": 1000}
