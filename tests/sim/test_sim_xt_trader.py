"""The simulated miniQMT runs the wheel's real xttrader.py over a fake native client.

The fake (`jq2qmt.sim.xtpythonclient`) must offer every native name xttrader.py uses,
answer on its own thread after the call returned, and hand back native objects.
"""

import re
import sys
import threading
import time

import pytest

xtsim = pytest.importorskip("jq2qmt.sim.xtquant")


@pytest.fixture
def installed(fx, xt_event_loop):
    try:
        xtsim.load_xtquant_types()
    except xtsim.XtquantMissing:
        pytest.skip("xtquant is not installed")
    exchange = fx.make_exchange(cash=50000.0)
    sim = xtsim.install(xtsim.XtQuantSim(exchange, fx.ACCOUNT))
    yield sim
    xtsim.uninstall()


def wait_for(predicate, seconds=5.0):
    end = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < end, "push not received"
        time.sleep(0.01)


def test_the_fake_native_module_has_every_name_xttrader_uses(installed):
    import xtquant.xttrader

    from jq2qmt.sim import xtpythonclient

    with open(xtquant.xttrader.__file__, encoding="utf-8") as handle:
        source = handle.read()
    client_names = set(re.findall(r"async_client\.(\w+)", source))
    module_names = set(re.findall(r"_XTQC_\.(\w+)", source))
    assert len(client_names) > 90 and "orderStockWithSeq" in client_names
    binds = sorted(n for n in client_names if n.startswith("bind"))
    assert [n for n in binds if not hasattr(xtpythonclient.XtQuantAsyncClient, n)] == []
    assert [n for n in module_names if not hasattr(xtpythonclient, n)] == []
    used = (
        "init",
        "start",
        "stop",
        "connect",
        "setTimeout",
        "nextSeq",
        "subscribeWithSeq",
        "unsubscribeWithSeq",
        "orderStockWithSeq",
        "cancelOrderStockWithSeq",
        "queryStockAssetWithSeq",
        "queryStockOrdersWithSeq",
        "queryStockTradesWithSeq",
        "queryStockPositionsWithSeq",
        "queryAccountInfosWithSeq",
        "queryAccountStatusWithSeq",
    )
    assert set(used) <= client_names
    assert [n for n in used if not hasattr(xtpythonclient.XtQuantAsyncClient, n)] == []


def test_real_constants_and_the_package_init_never_runs(installed):
    from xtquant import xtconstant

    assert (
        xtconstant.STOCK_BUY,
        xtconstant.STOCK_SELL,
        xtconstant.FIX_PRICE,
        xtconstant.LATEST_PRICE,
    ) == (23, 24, 11, 5)
    assert (xtconstant.OFFSET_FLAG_OPEN, xtconstant.OFFSET_FLAG_CLOSE) == (48, 49)
    assert [
        getattr(xtconstant, n)
        for n in (
            "ORDER_UNREPORTED",
            "ORDER_WAIT_REPORTING",
            "ORDER_REPORTED",
            "ORDER_REPORTED_CANCEL",
            "ORDER_PARTSUCC_CANCEL",
            "ORDER_PART_CANCEL",
            "ORDER_CANCELED",
            "ORDER_PART_SUCC",
            "ORDER_SUCCEEDED",
            "ORDER_JUNK",
            "ORDER_UNKNOWN",
        )
    ] == list(range(48, 58)) + [255]
    package = sys.modules["xtquant"]
    # the shell package: no PyPI version check (the wheel's __init__ defines it)
    assert not hasattr(package, "check_for_update")
    assert package.__version__.startswith("xtquant_")
    from jq2qmt.sim import xtpythonclient

    assert sys.modules["xtquant.xttrader"]._XTQC_ is xtpythonclient


def test_answers_and_pushes_come_from_another_thread_after_the_call(installed, fx):
    from xtquant import xtconstant
    from xtquant.xttrader import XtQuantTrader, XtQuantTraderCallback
    from xtquant.xttype import StockAccount

    events = []
    main = threading.get_ident()

    class Callback(XtQuantTraderCallback):
        def on_stock_order(self, order):
            events.append(
                ("order", order.order_status, order.order_remark, threading.get_ident() != main)
            )

        def on_stock_trade(self, trade):
            events.append(("trade", trade.traded_volume, trade.order_remark))

        def on_order_stock_async_response(self, response):
            events.append(("async", response.seq, response.order_id))

    trader = XtQuantTrader("userdata_mini", 7)
    trader.register_callback(Callback())
    trader.start()
    assert trader.connect() == 0
    account = StockAccount(fx.ACCOUNT)
    assert trader.subscribe(account) == 0
    order_id = trader.order_stock(
        account, "600000.SH", xtconstant.STOCK_BUY, 200, xtconstant.FIX_PRICE, 10.01, "s", "r1"
    )
    assert isinstance(order_id, int) and order_id > 0
    wait_for(lambda: ("trade", 200, "r1") in events)
    wait_for(lambda: ("order", 56, "r1", True) in events)  # pushed on the executor thread
    seq = trader.order_stock_async(
        account, "600000.SH", xtconstant.STOCK_BUY, 100, xtconstant.LATEST_PRICE, 0, "s", "r2"
    )
    wait_for(lambda: any(e[:2] == ("async", seq) for e in events))
    asset = trader.query_stock_asset(account)
    assert type(asset).__name__ == "Native" and asset.cash < 50000.0
    position = trader.query_stock_position(account, "600000.SH")
    assert (position.volume, position.can_use_volume) == (200, 0)  # T+1
    # native positions have more fields than xttype.XtPosition
    assert (
        hasattr(position, "float_profit")
        and hasattr(position, "open_date")
        and hasattr(position, "position_profit")
    )
    # LATEST_PRICE is a limit at the last price (10.00), below the ask: still open
    open_orders = trader.query_stock_orders(account, cancelable_only=True)
    assert [(o.order_remark, o.price, o.order_status) for o in open_orders] == [("r2", 10.0, 50)]
    assert [t.order_remark for t in trader.query_stock_trades(account)] == ["r1"]
    assert trader.query_stock_order(account, order_id).order_status == xtconstant.ORDER_SUCCEEDED
    assert trader.order_stock(StockAccount("nobody"), "600000.SH", 23, 100, 11, 10.0) == -1
    trader.stop()
    assert trader.async_client.stopped


def test_an_order_error_carries_the_request_seq(installed, fx):
    from xtquant.xttrader import XtQuantTrader, XtQuantTraderCallback
    from xtquant.xttype import StockAccount

    errors = []

    class Callback(XtQuantTraderCallback):
        def on_order_error(self, order_error):
            errors.append(order_error)

    installed.async_reject["600000.SH"] = "[COUNTER] 资金可用余额不足"
    trader = XtQuantTrader("userdata_mini", 8)
    trader.register_callback(Callback())
    trader.start()
    trader.connect()
    account = StockAccount(fx.ACCOUNT)
    trader.subscribe(account)
    order_id = trader.order_stock(account, "600000.SH", 23, 100, 11, 10.01, "s", "r1")
    assert order_id > 0  # an id first: the reject comes later
    wait_for(lambda: errors)
    request_seq = [seq for _, kind, seq, _ in installed.requests if kind == "order"][0]
    assert (errors[0].order_id, errors[0].seq, errors[0].error_msg) == (
        order_id,
        request_seq,
        "[COUNTER] 资金可用余额不足",
    )
    assert type(errors[0]).__name__ == "Native"  # not xttype.XtOrderError (it has no seq)
    assert trader.query_stock_order(account, order_id).order_status == 57
    trader.stop()
