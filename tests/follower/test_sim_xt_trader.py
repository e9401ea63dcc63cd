"""The xtquant simulator keeps the real xtquant names, types, codes and callbacks."""

import sys

import pytest

xtsim = pytest.importorskip("jq2qmt.sim.xtquant")


@pytest.fixture
def installed(fx):
    try:
        xtsim.load_xtquant_types()
    except xtsim.XtquantMissing:
        pytest.skip("xtquant is not installed")
    exchange = fx.make_exchange(cash=50000.0)
    sim = xtsim.install(xtsim.XtQuantSim(exchange, fx.ACCOUNT))
    yield sim
    xtsim.uninstall()


def test_real_constants_and_types_without_the_package_init(installed):
    from xtquant import xtconstant
    assert (xtconstant.STOCK_BUY, xtconstant.STOCK_SELL, xtconstant.FIX_PRICE,
            xtconstant.LATEST_PRICE) == (23, 24, 11, 5)
    assert [getattr(xtconstant, n) for n in (
        "ORDER_UNREPORTED", "ORDER_WAIT_REPORTING", "ORDER_REPORTED", "ORDER_REPORTED_CANCEL",
        "ORDER_PARTSUCC_CANCEL", "ORDER_PART_CANCEL", "ORDER_CANCELED", "ORDER_PART_SUCC",
        "ORDER_SUCCEEDED", "ORDER_JUNK", "ORDER_UNKNOWN")] == list(range(48, 58)) + [255]
    assert sys.modules["xtquant.xttrader"].XtQuantTrader is xtsim.XtQuantTrader


def test_trader_lifecycle_order_and_callbacks(installed, fx):
    from xtquant import xtconstant
    from xtquant.xttrader import XtQuantTrader, XtQuantTraderCallback
    from xtquant.xttype import StockAccount

    events = []

    class Callback(XtQuantTraderCallback):
        def on_stock_order(self, order):
            events.append(("order", order.order_status, order.order_remark))

        def on_stock_trade(self, trade):
            events.append(("trade", trade.traded_volume, trade.order_remark))

        def on_order_stock_async_response(self, response):
            events.append(("async", response.seq, response.order_id))

    trader = XtQuantTrader("userdata_mini", 7)
    trader.register_callback(Callback())
    assert trader.connect() == -1  # not started yet
    trader.start()
    assert trader.connect() == 0
    account = StockAccount(fx.ACCOUNT)
    assert trader.subscribe(account) == 0
    order_id = trader.order_stock(account, "600000.SH", xtconstant.STOCK_BUY, 200,
                                  xtconstant.FIX_PRICE, 10.01, "s", "r1")
    assert isinstance(order_id, int) and order_id > 0
    assert ("trade", 200, "r1") in events and ("order", 56, "r1") in events
    seq = trader.order_stock_async(account, "600000.SH", xtconstant.STOCK_BUY, 100,
                                   xtconstant.LATEST_PRICE, 0, "s", "r2")
    assert events[-1][:2] == ("async", seq)
    asset = trader.query_stock_asset(account)
    assert type(asset).__name__ == "XtAsset" and asset.cash < 50000.0
    position = trader.query_stock_position(account, "600000.SH")
    assert (position.volume, position.can_use_volume) == (200, 0)  # T+1
    # LATEST_PRICE is a limit at the last price (10.00), below the ask: still open
    open_orders = trader.query_stock_orders(account, cancelable_only=True)
    assert [(o.order_remark, o.price, o.order_status) for o in open_orders] == [("r2", 10.0, 50)]
    assert [t.order_remark for t in trader.query_stock_trades(account)] == ["r1"]
    assert trader.query_stock_order(account, order_id).order_status == xtconstant.ORDER_SUCCEEDED
    assert trader.order_stock(StockAccount("nobody"), "600000.SH", 23, 100, 11, 10.0) == -1
    trader.stop()
