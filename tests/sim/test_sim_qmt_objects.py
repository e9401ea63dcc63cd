"""The QMT built-in simulator's objects carry the fields of docs/platforms.md."""

from jq2qmt.sim.qmt_builtin import QmtBuiltinSim, SimClock

POSITION_FIELDS = [
    "m_strInstrumentID",
    "m_strExchangeID",
    "m_strInstrumentName",
    "m_nVolume",
    "m_nCanUseVolume",
    "m_dOpenPrice",
    "m_dMarketValue",
    "m_nFrozenVolume",
]
ORDER_FIELDS = [
    "m_strOrderSysID",
    "m_strInstrumentID",
    "m_strExchangeID",
    "m_strInstrumentName",
    "m_nOffsetFlag",
    "m_nVolumeTotalOriginal",
    "m_nVolumeTraded",
    "m_dLimitPrice",
    "m_nOrderStatus",
    "m_strRemark",
    "m_strOptName",
    "m_strInsertDate",
    "m_strInsertTime",
    "m_nDirection",
    "m_strCancelInfo",
]
ACCOUNT_FIELDS = ["m_dAvailable", "m_dBalance", "m_dInstrumentValue"]


def test_trade_detail_objects(fx):
    exchange = fx.make_exchange(cash=50000.0)
    exchange.set_position("600036.SH", 500, can_use_volume=300, avg_cost=38.0)
    sim = QmtBuiltinSim(exchange, fx.ACCOUNT, SimClock(fx.MORNING))
    sim.passorder(23, 1101, fx.ACCOUNT, "600000.SH", 11, 10.01, 200, "s", 2, "jq-r", sim.context)
    sim.passorder(24, 1101, fx.ACCOUNT, "600036.SH", 5, 0, 100, "s", 2, "jq-s", sim.context)
    pos = sim.get_trade_detail_data(fx.ACCOUNT, "STOCK", "POSITION")
    assert all(hasattr(p, f) for p in pos for f in POSITION_FIELDS)
    by_code = dict((p.m_strInstrumentID, p) for p in pos)
    # the open sell of 100 is frozen and no longer sellable
    assert (
        by_code["600036"].m_strExchangeID,
        by_code["600036"].m_nVolume,
        by_code["600036"].m_nCanUseVolume,
        by_code["600036"].m_nFrozenVolume,
    ) == ("SH", 500, 200, 100)
    assert by_code["600000"].m_nCanUseVolume == 0  # bought today (T+1)
    orders = sim.get_trade_detail_data(fx.ACCOUNT, "STOCK", "ORDER")
    assert all(hasattr(o, f) for o in orders for f in ORDER_FIELDS)
    assert [
        (o.m_nOffsetFlag, o.m_nOrderStatus, o.m_strRemark, o.m_strInsertTime) for o in orders
    ] == [(48, 56, "jq-r", "100000"), (49, 50, "jq-s", "100000")]
    assert [(o.m_nDirection, o.m_strInsertDate) for o in orders] == [(48, "20261125")] * 2
    assert orders[1].m_dLimitPrice == 40.0  # prType 5: the latest price
    account = sim.get_trade_detail_data(fx.ACCOUNT, "STOCK", "ACCOUNT")[0]
    assert all(hasattr(account, f) for f in ACCOUNT_FIELDS)
    assert account.m_dAvailable < 50000.0 - 2000
    deals = sim.get_trade_detail_data(fx.ACCOUNT, "STOCK", "DEAL")
    assert [(d.m_strInstrumentID, d.m_nVolume) for d in deals] == [("600000", 200)]
    assert sim.get_trade_detail_data("other", "STOCK", "ORDER") == []
    assert sim.cancel(orders[1].m_strOrderSysID, fx.ACCOUNT, "STOCK", sim.context) is True


def test_passorder_ignores_what_qmt_would_refuse(fx):
    exchange = fx.make_exchange()
    sim = QmtBuiltinSim(exchange, fx.ACCOUNT, SimClock(fx.MORNING))
    sim.passorder(23, 1102, fx.ACCOUNT, "600000.SH", 11, 10.01, 200, "s", 2, "x", sim.context)
    sim.passorder(33, 1101, fx.ACCOUNT, "600000.SH", 11, 10.01, 200, "s", 2, "x", sim.context)
    sim.passorder(23, 1101, "other", "600000.SH", 11, 10.01, 200, "s", 2, "x", sim.context)
    assert exchange.orders() == [] and len(sim.passorder_calls) == 3
    assert [info.orderType for info, _ in sim.order_errors] == [1102, 1101, 1101]
    assert [info.opType for info, _ in sim.order_errors] == [23, 33, 23]
    detail = sim.context.get_instrumentdetail("600000.SH")
    assert (
        detail["UpStopPrice"],
        detail["DownStopPrice"],
        detail["PriceTick"],
        detail["InstrumentStatus"],
    ) == (11.0, 9.0, 0.01, 0)
    tick = sim.context.get_full_tick(["600000.SH", "999999.SH"])
    assert list(tick) == ["600000.SH"] and tick["600000.SH"]["askPrice"][0] == 10.01
