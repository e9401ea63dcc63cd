"""How the miniQMT follower behaves when miniQMT fails, through the wheel's real xttrader.py.

Each knob of the simulated miniQMT (`jq2qmt.sim.xtquant.XtQuantSim`) is one way the
real client fails: a query answered None, no answer at all, a reject or a refused
cancel pushed after the call returned, a disconnect, a refused connect, native result
objects. The adapter and the follower loop run unchanged on top.
"""

import _thread
import datetime
import threading
import time

import pytest

from jq2qmt.brokers import base, miniqmt
from jq2qmt.brokers.miniqmt import MiniQmtBroker, MiniQmtTimeout

xtsim = pytest.importorskip("jq2qmt.sim.xtquant")

SHORT = 0.3  # s: call deadline in the tests where miniQMT never answers
NORMAL = 5.0  # s: elsewhere (a loaded test machine must not turn answers into timeouts)


class Ticker:
    """A monotonic clock the test moves (retry and cancel intervals); real time passes too."""

    def __init__(self):
        self.offset = 0.0

    def __call__(self):
        return time.monotonic() + self.offset

    def advance(self, seconds):
        self.offset += seconds


@pytest.fixture
def sim(fx, xt_event_loop):
    try:
        xtsim.load_xtquant_types()
    except xtsim.XtquantMissing:
        pytest.skip("xtquant is not installed (pip install -e '.[test]')")
    exchange = fx.make_exchange(cash=100000.0, auto_match=False)
    exchange.set_position("600036.SH", 1000, can_use_volume=1000, avg_cost=35.0)
    simulator = xtsim.install(xtsim.XtQuantSim(exchange, fx.ACCOUNT))
    yield simulator
    assert simulator.errors == []
    xtsim.uninstall()


@pytest.fixture
def ticker():
    return Ticker()


@pytest.fixture
def connect(sim, fx, ticker):
    made = []

    def make(**options):
        options.setdefault("call_timeout", NORMAL)
        options.setdefault("connect_timeout", NORMAL)
        options.setdefault("data_timeout", NORMAL)
        messages = []
        adapter = MiniQmtBroker(
            "C:/QMT/userdata_mini",
            fx.ACCOUNT,
            session_id=123,
            log=messages.append,
            monotonic=ticker,
            **options,
        )
        adapter.messages = messages
        made.append(adapter)
        return adapter.connect()

    yield make
    sim.release.set()
    for adapter in made:
        adapter.close()


def wait_for(predicate, seconds=5.0):
    """Pushes reach the adapter on xttrader's executor thread: wait for one (bounded)."""
    end = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < end, "push not received"
        time.sleep(0.01)


def logged(broker, text):
    return [m for m in broker.messages if text in m]


# ---- a query answered None is a failed query ------------------------------------------------
@pytest.mark.parametrize(
    "kind, call, text",
    [
        ("positions", "positions", "查询持仓失败（xtquant 返回 None）"),
        ("orders", "orders", "查询委托失败（xtquant 返回 None）"),
        ("asset", "asset", "查询资产失败（xtquant 返回 None）"),
    ],
)
def test_a_query_answered_none_is_a_broker_error(connect, sim, kind, call, text):
    broker = connect()
    sim.query_none.add(kind)
    with pytest.raises(base.BrokerError) as failed:
        getattr(broker, call)()
    assert text in str(failed.value)
    sim.query_none.clear()
    getattr(broker, call)()  # the same connection answers again


def test_a_failed_positions_query_trades_nothing(connect, sim, fx, plan_server, clock):
    # the account holds 600036.SH already; read as empty, the engine would buy it again
    broker = connect()
    plan_server.set_plan(fx.make_plan({"600000.SH": 1000, "600036.SH": 1000}))
    follower = fx.make_follower(sim.exchange, plan_server, clock, broker=broker)
    sim.query_none.update(["positions", "orders"])
    report = follower.run_round()
    assert report["status"] == "error" and report["placed"] == []
    assert any("查询持仓失败" in e for e in report["errors"])
    assert sim.requests_of("order") == []
    assert [r["status"] for r in plan_server.round_reports()] == ["error"]
    # answered again: only the missing code is bought
    sim.query_none.clear()
    clock.advance(1)
    report = follower.run_round()
    assert [(p["code"], p["volume"]) for p in report["placed"]] == [("600000.SH", 1000)]


def test_an_empty_list_is_an_empty_account(connect, sim, fx):
    sim.exchange.set_position("600036.SH", 0)
    broker = connect()
    assert broker.positions() == [] and broker.orders() == []


# ---- no answer at all --------------------------------------------------------------------
def test_an_unanswered_query_times_out_and_reconnects_with_a_new_session(connect, sim, ticker):
    broker = connect(retry_interval=5.0)
    first = broker.trader.async_client
    sim.hang.add("positions")
    broker.call_timeout = SHORT
    with pytest.raises(MiniQmtTimeout) as failed:
        broker.positions()
    broker.call_timeout = NORMAL
    assert "没有应答" in str(failed.value)
    assert broker.trader is None
    wait_for(lambda: first.stopped)  # the stuck trader is stopped
    sim.hang.clear()
    with pytest.raises(base.BrokerError) as early:  # inside retry_interval: fails at once
        broker.asset()
    assert "重连" in str(early.value) and len(sim.clients) == 1
    ticker.advance(5.0)
    assert broker.positions()[0]["code"] == "600036.SH"
    assert broker.trader.async_client.session == 124 and broker.session_id == 124


def test_an_unanswered_order_is_tracked_by_remark_and_not_sent_twice(
    connect, sim, fx, plan_server, clock, ticker
):
    broker = connect(retry_interval=5.0)
    plan_server.set_plan(fx.make_plan({"600000.SH": 1000, "600036.SH": 1000}))
    follower = fx.make_follower(sim.exchange, plan_server, clock, broker=broker)
    sim.lose_answer.add("order")  # miniQMT places it, the answer never comes
    broker.call_timeout = SHORT  # the queries answer at once, order_stock never
    report = follower.run_round()
    broker.call_timeout = NORMAL
    assert [(p["code"], p["order_id"]) for p in report["placed"]] == [("600000.SH", None)]
    assert logged(broker, "委托可能已发出")
    assert len(sim.exchange.orders()) == 1
    sim.lose_answer.clear()
    ticker.advance(5.0)
    for _ in range(3):
        clock.advance(1)
        report = follower.run_round()
        assert report["placed"] == [] and report["status"] != "error", report
    assert len(sim.exchange.orders()) == 1  # listed by remark after the reconnect: in flight


def test_an_unanswered_connect_is_given_up(sim, connect):
    sim.hang.add("connect")
    with pytest.raises(MiniQmtTimeout):
        connect(connect_timeout=SHORT)
    sim.release.set()
    wait_for(lambda: sim.clients[0].stopped)


def test_ctrl_c_lands_while_miniqmt_does_not_answer(connect, sim):
    # interrupt_main only sets the flag, as Ctrl-C on Windows while a lock wait blocks:
    # it lands when the waiting thread next runs Python code
    broker = connect(call_timeout=30.0)
    sim.hang.add("positions")
    timer = threading.Timer(0.3, _thread.interrupt_main)
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            broker.positions()
    finally:
        timer.cancel()
    assert time.monotonic() - started < 5.0  # well inside the 30 s call deadline


def test_a_stuck_xtdata_call_fails_the_round_and_is_not_stacked(connect, sim):
    broker = connect(data_timeout=SHORT)
    sim.hang.add("full_tick")
    with pytest.raises(MiniQmtTimeout):
        broker.quotes(["600000.SH"])
    with pytest.raises(base.BrokerError) as busy:
        broker.quotes(["600000.SH"])
    assert "仍未返回" in str(busy.value)
    sim.hang.clear()
    sim.release.set()
    wait_for(lambda: not broker._data_busy.is_alive())
    assert broker.quotes(["600000.SH"])["600000.SH"]["last"] == 10.0


# ---- pushes after the call returned ------------------------------------------------------
@pytest.mark.parametrize("lag", [None, "open", "missing"])
def test_an_order_rejected_after_it_got_an_id_is_seen_as_rejected(
    connect, sim, fx, plan_server, clock, lag
):
    broker = connect()
    sim.async_reject["600000.SH"] = "[COUNTER] 资金可用余额不足"
    sim.reject_lag = lag  # "open": miniQMT still lists it as 50; "missing": not listed yet
    plan_server.set_plan(fx.make_plan({"600000.SH": 1000, "600036.SH": 1000}))
    follower = fx.make_follower(sim.exchange, plan_server, clock, broker=broker)
    report = follower.run_round()
    placed = report["placed"]
    assert [p["code"] for p in placed] == ["600000.SH"] and placed[0]["order_id"].isdigit()
    wait_for(lambda: logged(broker, "委托失败"))
    request_seq = [seq for _, kind, seq, _ in sim.requests if kind == "order"][0]
    assert (
        "order_id=%s seq=%s" % (placed[0]["order_id"], request_seq) in logged(broker, "委托失败")[0]
    )
    clock.advance(1)
    report = follower.run_round()
    assert [(r["code"], r["reason"], r["order_id"]) for r in report["rejected"]] == [
        ("600000.SH", "[COUNTER] 资金可用余额不足", placed[0]["order_id"])
    ]
    order = [o for o in broker.orders() if o["code"] == "600000.SH"][0]
    assert (order["status"], order["side"], order["remark"]) == (57, "buy", placed[0]["remark"])


def test_a_cancel_refused_later_is_logged_and_not_resent_at_once(connect, sim, ticker):
    broker = connect()
    order_id = broker.place("600000.SH", "buy", 100, 9.9, "jq1125100000-01.0")
    sim.refuse_cancel = "当前时间不允许撤单"
    assert broker.cancel(order_id) is True  # sent: 0 answered
    wait_for(lambda: logged(broker, "撤单失败"))
    assert "当前时间不允许撤单" in logged(broker, "撤单失败")[0]
    assert broker.orders()[0]["status"] == base.ORDER_REPORTED  # still open
    assert broker.cancel(order_id) is False
    assert len(sim.requests_of("cancel")) == 1  # not sent again
    sim.refuse_cancel = None
    ticker.advance(miniqmt.CANCEL_RETRY_AFTER)
    assert broker.cancel(order_id) is True
    assert broker.orders()[0]["status"] == base.ORDER_CANCELED


def test_a_disconnect_push_reconnects_with_a_new_session(connect, sim):
    broker = connect()
    old = broker.trader.async_client
    sim.disconnect()
    wait_for(lambda: not broker.callback.connected)
    assert logged(broker, "连接断开")
    assert broker.asset()["cash"] == 100000.0
    assert broker.trader.async_client.session == 124 and old.stopped


def test_a_disconnect_ends_the_call_waiting_for_an_answer(connect, sim):
    broker = connect(call_timeout=30.0)
    sim.hang.add("positions")  # the answer would never come: the connection is gone
    timer = threading.Timer(0.2, sim.disconnect)
    timer.start()
    try:
        with pytest.raises(base.BrokerError) as failed:
            broker.positions()
    finally:
        timer.cancel()
    assert not isinstance(failed.value, MiniQmtTimeout)  # released by the push, not the deadline
    assert "连接断开" in str(failed.value)
    sim.hang.clear()
    assert broker.positions()[0]["code"] == "600036.SH"
    assert broker.trader.async_client.session == 124


# ---- connect ---------------------------------------------------------------------------
def test_a_refused_connect_is_a_broker_error_and_the_trader_is_stopped(connect, sim):
    sim.connect_result = -1
    with pytest.raises(base.BrokerError) as failed:
        connect()
    assert "连接 miniQMT 失败（返回 -1）" in str(failed.value)
    wait_for(lambda: sim.clients[0].stopped)


def test_a_session_still_held_cannot_connect_twice(connect, sim, fx):
    connect()
    with pytest.raises(base.BrokerError):
        MiniQmtBroker("C:/QMT/userdata_mini", fx.ACCOUNT, session_id=123).connect()


# ---- native objects and the side of an order -------------------------------------------------
def test_native_objects_are_read_as_they_come(connect, sim):
    broker = connect()
    raw = broker.trader.query_stock_positions(broker.account)
    assert type(raw[0]).__name__ == "Native" and raw[0].float_profit == 5000.0
    assert broker.positions() == [
        {
            "code": "600036.SH",
            "volume": 1000,
            "can_use_volume": 1000,
            "avg_cost": 35.0,
            "name": "招商银行",
        }
    ]
    assert broker.asset()["total_asset"] == 140000.0


@pytest.mark.parametrize("order_type, offset_flag", [(0, None), (None, 0), (255, None)])
def test_the_side_comes_from_offset_flag_then_order_type(connect, sim, order_type, offset_flag):
    broker = connect()
    broker.place("600036.SH", "sell", 200, 40.5, "jq1125100000-01.0")
    broker.place("600000.SH", "buy", 100, 9.9, "jq1125100000-01.1")
    sim.order_type_value, sim.offset_flag_value = order_type, offset_flag
    assert [(o["code"], o["side"]) for o in broker.orders()] == [
        ("600036.SH", "sell"),
        ("600000.SH", "buy"),
    ]


def test_the_side_is_read_from_offset_flag_even_when_order_type_disagrees(connect, sim):
    broker = connect()
    broker.place("600036.SH", "sell", 200, 40.5, "jq1125100000-01.0")
    sim.order_type_value = 23  # order_type says buy; offset_flag 49 says sell
    assert broker.orders()[0]["side"] == "sell"


def test_order_ids_of_yesterday_do_not_reject_orders_of_today(connect, sim):
    days = [datetime.date(2026, 11, 25)]
    broker = connect(today=lambda: days[0])
    sim.async_reject["600000.SH"] = "废单"
    sim.reject_lag = "open"
    order_id = broker.place("600000.SH", "buy", 100, 9.9, "jq1125100000-01.0")
    wait_for(lambda: logged(broker, "委托失败"))
    assert broker.orders()[0]["status"] == 57
    days[0] = datetime.date(2026, 11, 26)
    assert [o["status"] for o in broker.orders() if o["order_id"] == order_id] == [50]


# ---- loading xtquant ------------------------------------------------------------------------
def test_loading_xtquant_skips_its_pypi_version_check(sim):
    # a fresh interpreter: the wheel's __init__ would call requests.get (10 s timeout)
    import subprocess
    import sys

    code = "\n".join(
        [
            "import requests, sys",
            "calls = []",
            "requests.get = lambda *a, **k: calls.append(a) or (_ for _ in ()).throw(OSError())",
            "from jq2qmt.brokers import miniqmt",
            "package = miniqmt.xtquant_package()",
            "import xtquant.xttype, xtquant.xtconstant",
            "assert sys.modules['xtquant'] is package and package.__jq2qmt_shell__",
            "print(calls, package.__version__, hasattr(package, 'check_for_update'))",
        ]
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    calls, version, has_check = out.stdout.split()
    assert (calls, has_check) == ("[]", "False") and version.startswith("xtquant_")


def test_connects_on_a_main_thread_whose_asyncio_loop_was_cleared(connect, fx):
    # XtQuantTrader() saves the main thread's loop; asyncio.run() elsewhere leaves none set
    import asyncio

    asyncio.set_event_loop(None)
    broker = connect()
    assert [p["code"] for p in broker.positions()] == ["600036.SH"]
