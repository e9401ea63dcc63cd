"""The QMT built-in simulator's hostile knobs: local cache lag, delayed report / reject /
cancel, 「模拟」 mode, quickTrade, orderError_callback, re-runs and restarts, the module
whitelist, the callback budget, background settle, stale quotes and API names."""

import builtins
import datetime
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import pytest

from jq2qmt.sim.exchange import PaperExchange
from jq2qmt.sim.qmt_builtin import CallbackTooSlow, QmtBuiltinSim, SimClock
from testkit import MORNING, QUOTES, py36_python

ACCOUNT = "8886660099"
SRC = Path(__file__).resolve().parents[2] / "src"


def make_sim(cash=1000000.0, exchange_options=None, **knobs):
    exchange = PaperExchange(cash=cash, **(exchange_options or {}))
    for code, quote in QUOTES.items():
        exchange.set_quote(code, **quote)
    return QmtBuiltinSim(exchange, ACCOUNT, SimClock(MORNING), **knobs)


def buy(sim, volume=1000, price=10.0, code="600000.SH", remark="jq-r", quick=2, pr_type=11):
    sim.passorder(
        23, 1101, ACCOUNT, code, pr_type, price, volume, "jq2qmt", quick, remark, sim.context
    )


def rows(sim, table="ORDER"):
    return sim.get_trade_detail_data(ACCOUNT, "STOCK", table)


def states(sim):
    return [(r.m_nOrderStatus, r.m_strOrderSysID) for r in rows(sim)]


def cash_row(sim):
    return rows(sim, "ACCOUNT")[0].m_dAvailable


def strategy(tmp_path, body, name="strategy.py"):
    """A strategy file as a user pastes it (GBK, `# coding: gbk`)."""
    path = tmp_path / name
    path.write_bytes(("# coding: gbk\n" + textwrap.dedent(body)).encode("gbk"))
    return path


# ---- local cache ------------------------------------------------------------------------


def test_order_cache_lists_a_new_order_only_after_its_refresh(tmp_path):
    sim = make_sim(cache_lag={"ORDER": 1.0}, exchange_options={"auto_match": False})
    assert rows(sim) == []  # the first query fills the cache (tick 0)
    sim.run_for(0.2)
    buy(sim)
    assert sim.exchange.orders() != []  # the counter has it ...
    sim.run_for(0.7)
    assert rows(sim) == []  # ... the client's cache does not, until its tick
    sim.run_for(0.1)
    assert states(sim) == [(50, "1")]
    assert rows(sim, "ACCOUNT")[0].m_dAvailable < 1000000.0 - 9000  # ACCOUNT is live


def test_each_table_refreshes_on_its_own_tick_with_a_phase():
    sim = make_sim(
        cache_lag={"ORDER": 2.0, "POSITION": 2.0}, cache_phase={"ORDER": 0.5, "POSITION": 1.5}
    )
    assert rows(sim) == [] and rows(sim, "POSITION") == []
    buy(sim, volume=100, price=10.01)  # marketable: filled at once
    sim.run_for(0.5)
    assert [r.m_nOrderStatus for r in rows(sim)] == [56]
    assert rows(sim, "POSITION") == []
    sim.run_for(1.0)
    assert [(p.m_strInstrumentID, p.m_nVolume) for p in rows(sim, "POSITION")] == [("600000", 100)]


def test_cache_lag_combines_with_the_visibility_delay():
    sim = make_sim(cache_lag=1.0, visibility_delay=1.5, exchange_options={"auto_match": False})
    rows(sim)
    buy(sim)
    sim.run_for(1.0)
    assert rows(sim) == []  # refreshed at 1.0, but the order is 1.0 s old
    sim.run_for(0.9)
    assert rows(sim) == []  # old enough at 1.5, the next refresh is at 2.0
    sim.run_for(0.1)
    assert len(rows(sim)) == 1


# ---- report, reject, cancel ---------------------------------------------------------------


def test_unreported_order_has_no_sysid_and_freezes_no_cash_until_report_and_refresh():
    sim = make_sim(
        report_delay=1.0, cache_lag={"ACCOUNT": 2.0}, exchange_options={"auto_match": False}
    )
    assert cash_row(sim) == 1000000.0
    buy(sim)
    assert states(sim) == [(48, "")]
    assert sim.exchange.orders() == [] and sim.exchange.cash == 1000000.0
    sim.run_for(0.5)
    assert states(sim) == [(49, "")]
    sim.run_for(0.5)
    assert states(sim) == [(50, "1")]
    assert sim.exchange.cash < 1000000.0 - 10000  # frozen at the counter now
    assert cash_row(sim) == 1000000.0  # the ACCOUNT cache is older
    sim.run_for(1.0)
    assert cash_row(sim) == sim.exchange.cash
    assert sim.cancel("", ACCOUNT, "STOCK", sim.context) is False


def test_stale_cash_reproduces_the_counter_reject_of_a_second_buy():
    sim = make_sim(
        cash=15000.0,
        report_delay=0.5,
        reject_delay=2.0,
        cache_lag={"ACCOUNT": 3.0},
        exchange_options={"auto_match": False},
    )
    buy(sim, remark="jq-a")
    sim.run_for(1.0)
    assert cash_row(sim) == 15000.0  # what a script sees: the order looks unfunded
    buy(sim, remark="jq-b")
    sim.run_for(0.5)
    by_remark = dict((r.m_strRemark, r) for r in rows(sim))
    assert by_remark["jq-b"].m_nOrderStatus == 50 and by_remark["jq-b"].m_strCancelInfo == ""
    assert by_remark["jq-b"].m_strOrderSysID == "2"
    sim.run_for(2.0)
    junk = dict((r.m_strRemark, r) for r in rows(sim))["jq-b"]
    assert (junk.m_nOrderStatus, junk.m_strCancelInfo) == (57, "insufficient_cash")
    assert [o["status"] for o in sim.exchange.orders()] == [50, 57]


def test_reject_shows_reported_first():
    sim = make_sim(reject_delay=1.0)
    buy(sim, volume=150)  # not a whole lot
    assert states(sim) == [(50, "1")]
    assert sim.cancel("1", ACCOUNT, "STOCK", sim.context) is True  # looks open to the client
    sim.run_for(1.0)
    row = rows(sim)[0]
    assert (row.m_nOrderStatus, row.m_strCancelInfo) == (57, "lot")
    assert sim.cancel("1", ACCOUNT, "STOCK", sim.context) is False


def test_cancel_is_a_request_answered_after_the_cancel_delay():
    sim = make_sim(cancel_delay=1.0, exchange_options={"auto_match": False})
    buy(sim, price=9.9)
    assert sim.cancel("1", ACCOUNT, "STOCK", sim.context) is True
    assert states(sim) == [(51, "1")]
    assert sim.cancel("1", ACCOUNT, "STOCK", sim.context) is True  # sent again, no change
    sim.run_for(0.9)
    assert states(sim) == [(51, "1")] and sim.exchange.orders()[0]["status"] == 50
    sim.run_for(0.1)
    assert states(sim) == [(54, "1")]
    assert sim.cancel("1", ACCOUNT, "STOCK", sim.context) is False  # final
    assert sim.cancel("99", ACCOUNT, "STOCK", sim.context) is False  # unknown


def test_cancel_of_a_partly_filled_order_shows_52_then_53():
    sim = make_sim(cancel_delay=2.0, exchange_options={"fill_ratio": 0.5})
    buy(sim, price=10.01)
    assert states(sim) == [(55, "1")]
    assert sim.cancel("1", ACCOUNT, "STOCK", sim.context) is True
    assert states(sim) == [(52, "1")]
    sim.run_for(2.0)
    row = rows(sim)[0]
    assert (row.m_nOrderStatus, row.m_nVolumeTraded) == (53, 500)


def test_status_86_passes_by_before_50():
    sim = make_sim(report_delay=0.4, status_86=1.0, exchange_options={"auto_match": False})
    buy(sim)
    sim.run_for(0.4)
    assert states(sim) == [(86, "1")]
    assert sim.cancel("1", ACCOUNT, "STOCK", sim.context) is True
    sim.run_for(1.0)
    assert states(sim) == [(54, "1")]


def test_counter_events_run_between_timer_firings_in_time_order():
    sim = make_sim(
        report_delay=1.0,
        cache_lag={"ORDER": 0.5},
        visibility_delay=0.0,
        exchange_options={"auto_match": False},
    )
    seen = []
    sim.namespace = {"tick": lambda ctx: seen.append((sim.clock.now(), states(sim)))}
    sim.context.run_time("tick", "5nSecond", "2020-01-01 00:00:00")
    buy(sim)
    sim.run_for(5)
    assert seen == [(MORNING + datetime.timedelta(seconds=5), [(50, "1")])]
    # the clock moved from outside: the report is processed at the next call
    sim2 = make_sim(report_delay=1.0, cache_lag={"ORDER": 1.0})
    buy(sim2, price=9.9)
    sim2.clock.advance(1.5)
    sim2.sync()  # the 1.0 s snapshot is taken before the fill below
    sim2.exchange.match()
    sim2.exchange.set_quote("600000.SH", 9.9, prev_close=10.0, bid1=9.89, ask1=9.9)
    sim2.exchange.match()
    assert states(sim2) == [(50, "1")]
    sim2.clock.advance(0.5)
    assert [r.m_nOrderStatus for r in rows(sim2)] == [56]


# ---- passorder semantics ----------------------------------------------------------------


def test_simulate_run_mode_only_logs_a_signal():
    sim = make_sim(run_mode="simulate")
    buy(sim)
    assert sim.exchange.orders() == [] and rows(sim) == []
    assert len(sim.signals) == 1 and sim.signals[0][9] == "jq-r"
    assert sim.cancel("1", ACCOUNT, "STOCK", sim.context) is False


def test_quick_trade_0_or_1_from_a_timer_places_nothing():
    sim = make_sim()
    sim.namespace = {"tick": lambda ctx: [buy(sim, remark="q%d" % q, quick=q) for q in (0, 1, 2)]}
    sim.context.run_time("tick", "1nSecond", "2020-01-01 00:00:00")
    sim.run_for(1)
    assert [o["remark"] for o in sim.exchange.orders()] == ["q2"]
    assert [i["call"][9] for i in sim.ignored_orders] == ["q0", "q1"]
    assert "quickTrade=0" in sim.ignored_orders[0]["reason"]


def test_price_argument_is_used_only_for_pr_type_11_and_49():
    sim = make_sim(exchange_options={"auto_match": False})
    buy(sim, price=99.0, pr_type=14, remark="opp")
    buy(sim, price=99.0, pr_type=12, remark="limit")
    buy(sim, price=99.0, pr_type=6, remark="bid1")
    buy(sim, price=9.95, pr_type=11, remark="fix")
    assert [(r.m_strRemark, r.m_dLimitPrice) for r in rows(sim)] == [
        ("opp", 10.01),
        ("limit", 11.0),
        ("bid1", 9.99),
        ("fix", 9.95),
    ]


ERROR_STRATEGY = """
ERRORS = []
STATE = {"in_timer": False}

def init(ContextInfo):
    ContextInfo.set_account(account)
    ContextInfo.run_time("tick", "1nSecond", "2020-01-01 00:00:00")

def tick(ContextInfo):
    STATE["in_timer"] = True
    passorder(23, 1101, account, "600000.SH", 11, 0, 100, "jq2qmt", 2, "jq-zero", ContextInfo)
    STATE["in_timer"] = False

def orderError_callback(ContextInfo, orderArgs, errMsg):
    ERRORS.append((orderArgs, errMsg, STATE["in_timer"]))
"""


def test_order_error_callback_gets_the_refused_order_after_the_timer_returned(tmp_path):
    sim = make_sim()
    namespace = sim.load(strategy(tmp_path, ERROR_STRATEGY))
    sim.run_for(1)
    assert sim.exchange.orders() == []
    [(info, message, in_timer)] = namespace["ERRORS"]
    assert in_timer is False
    assert (
        info.orderCode,
        info.opType,
        info.orderType,
        info.prType,
        info.modelPrice,
        info.modelVolume,
        info.accountID,
    ) == ("SH600000", 23, 1101, 11, 0.0, 100.0, ACCOUNT)
    assert info.strategyName == "jq2qmt_&&&_jq-zero"
    assert "指定价 无效" in message and "passorder" in message
    assert [name for name, _ in sim.callback_times] == ["init", "tick", "orderError_callback"]
    assert sim.order_errors == [(info, message)]


@pytest.mark.parametrize(
    "args",
    [
        (23, 1101, "other", "600000.SH", 11, 10.0, 100),
        (23, 1101, ACCOUNT, "600000.SH", 11, 10.0, 0),
        (23, 1101, ACCOUNT, "600000.SH", 11, 10.0, 100.5),
        (23, 1101, ACCOUNT, "600000.SH", 11, -1, 100),
        (33, 1101, ACCOUNT, "600000.SH", 11, 10.0, 100),
        (23, 1102, ACCOUNT, "600000.SH", 11, 10.0, 100),
        (23, 1101, ACCOUNT, "600000", 11, 10.0, 100),
        (23, 1101, ACCOUNT, "600000.XSHG", 11, 10.0, 100),
    ],
)
def test_local_rejects_create_no_order_and_reach_the_callback(args):
    sim = make_sim()
    got = []
    sim.namespace = {"orderError_callback": lambda ctx, info, msg: got.append(info)}
    sim.passorder(*(args + ("s", 2, "jq-x", sim.context)))
    assert sim.exchange.orders() == [] and rows(sim) == []
    assert len(sim.order_errors) == 1 and got == [sim.order_errors[0][0]]


def test_order_error_callback_needs_set_account_when_required():
    sim = make_sim(require_set_account=True)
    got = []
    sim.namespace = {"orderError_callback": lambda ctx, info, msg: got.append(info)}
    buy(sim, price=0)
    assert got == [] and len(sim.order_errors) == 1
    sim.context.set_account(ACCOUNT)
    buy(sim, price=0)
    assert len(got) == 1


# ---- re-runs and restarts ------------------------------------------------------------------

RERUN_STRATEGY = """
import sys
RUNS = []
sys.modules.setdefault("_jq2qmt_probe", type(sys)("_jq2qmt_probe"))

def init(ContextInfo):
    RUNS.append("init")
    ContextInfo.run_time("tick", "1nSecond", "2020-01-01 00:00:00")

def tick(ContextInfo):
    RUNS.append("tick")
    if RUNS.count("tick") == 1:
        passorder(23, 1101, account, "600000.SH", 11, 9.9, 100, "jq2qmt", 2, "jq-once",
                  ContextInfo)
"""


@pytest.fixture
def probe_module():
    yield
    sys.modules.pop("_jq2qmt_probe", None)


def test_rerun_runs_the_file_in_fresh_globals_and_keeps_the_counter(tmp_path, probe_module):
    sim = make_sim(report_delay=2.0)
    first = sim.load(strategy(tmp_path, RERUN_STRATEGY))
    sim.run_for(1)
    assert states(sim) == [(48, "")]
    second = sim.rerun()
    assert second is not first and second["RUNS"] == ["init"]
    assert len(sim.context.timers) == 1
    assert "_jq2qmt_probe" in sys.modules
    sim.run_for(2)
    assert second["RUNS"] == ["init", "tick", "tick"] and first["RUNS"] == ["init", "tick"]
    # the counter reported the first run's order meanwhile, remark kept; the fresh
    # globals forgot it had been sent, so the re-run sent it again (not reported yet)
    assert [(r.m_nOrderStatus, r.m_strRemark) for r in rows(sim)] == [
        (50, "jq-once"),
        (49, "jq-once"),
    ]


def test_restart_drops_bundle_modules_and_the_remarks_of_existing_orders(tmp_path, probe_module):
    sim = make_sim(exchange_options={"auto_match": False})
    sim.load(strategy(tmp_path, RERUN_STRATEGY))
    sim.run_for(1)
    probe = sys.modules["_jq2qmt_probe"]
    sim.restart()
    assert sys.modules["_jq2qmt_probe"] is not probe  # dropped, then the file made it again
    assert [r.m_strRemark for r in rows(sim)] == [""]
    sim.run_for(1)
    assert [r.m_strRemark for r in rows(sim)] == ["", "jq-once"]
    sim.restart(clear_remarks=False)
    assert [r.m_strRemark for r in rows(sim)] == ["", "jq-once"]


# ---- module whitelist ---------------------------------------------------------------------

WHITELIST_STRATEGY = """
import json
import collections.abc
RESULTS = {}

def _try(name):
    try:
        __import__(name)
        RESULTS[name] = "ok"
    except ImportError as exc:
        RESULTS[name] = str(exc)

def init(ContextInfo):
    _try("jq2qmt_test_unlisted")
    _try("jq2qmt_test_registered")
    _try("decimal")
    ContextInfo.run_time("tick", "1nSecond", "2020-01-01 00:00:00")

def tick(ContextInfo):
    raise RuntimeError("a broken tick")
"""


@pytest.fixture
def import_world(tmp_path, monkeypatch):
    """An importable module nobody whitelisted, and one already in sys.modules."""
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "jq2qmt_test_unlisted.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setitem(sys.modules, "jq2qmt_test_registered", types.ModuleType("x"))
    yield
    sys.modules.pop("jq2qmt_test_unlisted", None)


@pytest.mark.parametrize("mode", ["meta_path", "import_hook"])
def test_whitelist_refuses_unknown_modules_only_while_the_file_runs(tmp_path, import_world, mode):
    meta_path, real_import = list(sys.meta_path), builtins.__import__
    sim = make_sim(whitelist=mode)
    namespace = sim.load(strategy(tmp_path, WHITELIST_STRATEGY))
    assert namespace["RESULTS"] == {
        "jq2qmt_test_unlisted": "Forbidden: Module<jq2qmt_test_unlisted> not in whitelist!",
        "jq2qmt_test_registered": "ok",
        "decimal": "ok",
    }
    assert sys.meta_path == meta_path and builtins.__import__ is real_import
    with pytest.raises(RuntimeError):
        sim.run_for(1)
    assert sys.meta_path == meta_path and builtins.__import__ is real_import
    import jq2qmt_test_unlisted  # noqa: F401  (importable again outside the file's code)

    assert sim.guard.refused == ["jq2qmt_test_unlisted"]


def test_whitelist_extra_names_and_no_guard_by_default(tmp_path, import_world):
    sim = make_sim(whitelist="import_hook", whitelist_extra=["jq2qmt_test_unlisted"])
    assert (
        sim.load(strategy(tmp_path, WHITELIST_STRATEGY))["RESULTS"]["jq2qmt_test_unlisted"] == "ok"
    )
    sys.modules.pop("jq2qmt_test_unlisted")
    assert (
        make_sim().load(strategy(tmp_path, WHITELIST_STRATEGY))["RESULTS"]["jq2qmt_test_unlisted"]
        == "ok"
    )


OWN_STRATEGY = """
import sys
sys.modules["jq2qmt_test_own"] = type(sys)("jq2qmt_test_own")
RESULTS = []

def _try(name):
    try:
        __import__(name)
        RESULTS.append((name, "ok"))
    except ImportError as exc:
        RESULTS.append((name, str(exc)))

def init(ContextInfo):
    _try("jq2qmt_test_own")
    _try("jq2qmt_test_registered")
    ContextInfo.run_time("tick", "1nSecond", "2020-01-01 00:00:00")

def tick(ContextInfo):
    _try("jq2qmt_test_own")
"""


def test_whitelist_can_ignore_modules_the_test_process_imported(tmp_path, import_world):
    sim = make_sim(whitelist="import_hook", whitelist_registered="own")
    try:
        namespace = sim.load(strategy(tmp_path, OWN_STRATEGY))
        sim.run_for(1)
    finally:
        sys.modules.pop("jq2qmt_test_own", None)
    assert namespace["RESULTS"] == [
        ("jq2qmt_test_own", "ok"),
        ("jq2qmt_test_registered", "Forbidden: Module<jq2qmt_test_registered> not in whitelist!"),
        ("jq2qmt_test_own", "ok"),
    ]


# ---- callback budget and background settle --------------------------------------------------


def test_budget_fails_a_slow_callback_after_it_returned():
    sim = make_sim(budget=0.01)
    done = []
    sim.namespace = {"tick": lambda ctx: (time.sleep(0.05), done.append(1))}
    sim.context.run_time("tick", "1nSecond", "2020-01-01 00:00:00")
    with pytest.raises(CallbackTooSlow) as caught:
        sim.run_for(1)
    assert isinstance(caught.value, AssertionError) and "tick" in str(caught.value)
    assert done == [1] and sim.callback_times[0][0] == "tick"
    assert sim.callback_times[0][1] >= 0.05


def test_settle_runs_after_each_timer_outside_the_budget():
    sim = make_sim(budget=30.0, settle_timeout=0.05)
    calls = []
    sim.namespace = {
        "tick": lambda ctx: calls.append("tick"),
        "jq2qmt_settle": lambda timeout: calls.append(("settle", timeout)),
    }
    sim.context.run_time("tick", "1nSecond", "2020-01-01 00:00:00")
    sim.run_for(2)
    assert calls == ["tick", ("settle", 0.05), "tick", ("settle", 0.05)]
    assert [name for name, _ in sim.callback_times] == ["tick", "tick"]


# ---- quotes, API names, periods ----------------------------------------------------------------


def test_quote_age_and_detail_names():
    sim = make_sim(quote_age=90, detail_names="new")
    tick = sim.context.get_full_tick(["600000.SH"])["600000.SH"]
    assert tick["timetag"] == "20261125 09:58:30"
    assert sim.context.get_instrument_detail("600000.SH", iscomplete=False)["UpStopPrice"] == 11.0
    assert not hasattr(sim.context, "get_instrumentdetail")
    old = make_sim(detail_names="old").context
    assert hasattr(old, "get_instrumentdetail") and not hasattr(old, "get_instrument_detail")
    both = make_sim().context
    assert hasattr(both, "get_instrumentdetail") and hasattr(both, "get_instrument_detail")


@pytest.mark.parametrize(
    "period, ok",
    [("1nDay", True), ("250nMilliSecond", True), ("1nMinute", False), ("1nHour", False)],
)
def test_run_time_takes_only_the_documented_units(period, ok):
    sim = make_sim()
    if ok:
        sim.context.run_time("tick", period, "2020-01-01 00:00:00")
        assert len(sim.context.timers) == 1
    else:
        with pytest.raises(ValueError):
            sim.context.run_time("tick", period, "2020-01-01 00:00:00")


def test_bad_knobs_are_refused():
    for knobs in (
        {"run_mode": "paper"},
        {"detail_names": "x"},
        {"budget": 0},
        {"cache_lag": {"TRADES": 1}},
        {"report_delay": -1},
        {"whitelist": "x"},
        {"whitelist": "import_hook", "whitelist_registered": "all"},
    ):
        with pytest.raises(ValueError):
            make_sim(**knobs)


# ---- CPython 3.6 --------------------------------------------------------------------------------

PY36_SCRIPT = """
import datetime
from jq2qmt.sim.exchange import PaperExchange
from jq2qmt.sim.qmt_builtin import QmtBuiltinSim, SimClock
ex = PaperExchange(cash=15000.0, auto_match=False)
ex.set_quote("600000.SH", 10.0, prev_close=10.0, bid1=9.99, ask1=10.01)
sim = QmtBuiltinSim(ex, "1", SimClock(datetime.datetime(2026, 11, 25, 10)), report_delay=0.5,
                    reject_delay=1, cancel_delay=1, cache_lag={"ACCOUNT": 3},
                    whitelist="meta_path", status_86=True, budget=60)
sim.namespace = {"tick": lambda ctx: sim.passorder(23, 1101, "1", "600000.SH", 11, 10.0, 1000,
                                                 "s", 2, "jq", ctx)}
sim.context.run_time("tick", "1nSecond", "2020-01-01 00:00:00")
sim.run_for(4)
print(sorted(o["status"] for o in ex.orders()))
"""


def test_the_simulator_runs_on_cpython_36():
    python = py36_python()
    out = subprocess.run(
        [python, "-c", PY36_SCRIPT],
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONPATH": str(SRC)},
    )
    assert out.returncode == 0, out.stderr
    # ticks at 1..4 s; reports 0.5 s later: one funded buy, two bought with stale cash
    assert out.stdout.strip() == "[50, 57, 57]"
