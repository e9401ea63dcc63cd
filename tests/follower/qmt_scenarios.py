"""Scenarios of the exported QMT file against the hostile QMT simulator.

Each function runs a pasted file (already exported against a plan server that holds
its plan) in `QmtBuiltinSim` with one of the real client's behaviours switched on, and
returns plain facts (JSON-able) for the caller to assert on. The same functions run in
the test process and, through `qmt36_harness.py`, on a real CPython 3.6 (the Python of
QMT's built-in strategies): keep this module Python 3.6 and free of pytest.
"""

import datetime

from jq2qmt.sim.exchange import PaperExchange
from jq2qmt.sim.qmt_builtin import QmtBuiltinSim, SimClock

ACCOUNT = "8886660057"
START = datetime.datetime(2026, 11, 25, 10, 0, 0)  # a Wednesday, in the morning session
QUOTES = {
    "600000.SH": dict(last=10.0, prev_close=10.0, bid1=9.99, ask1=10.01, name="浦发银行"),
    "000001.SZ": dict(last=12.0, prev_close=12.0, bid1=11.99, ask1=12.01, name="平安银行"),
    "600036.SH": dict(last=40.0, prev_close=40.0, bid1=39.99, ask1=40.01, name="招商银行"),
}
# the targets of the plans these scenarios are run with (see plan_targets)
TARGET = {"600000.SH": 1000, "000001.SZ": 500}
CASH_TARGET = {"600000.SH": 2000, "000001.SZ": 2000}


def plan_targets(name):
    """The target volumes the plan server must hold for scenario `name`."""
    return CASH_TARGET if name == "stale_cash" else TARGET


def make_exchange(cash=1000000.0, auto_match=True):
    exchange = PaperExchange(cash=cash, auto_match=auto_match)
    for code, quote in QUOTES.items():
        exchange.set_quote(code, **quote)
    return exchange


def _sim(exchange, **knobs):
    knobs.setdefault("budget", 0.1)  # QMT's single thread: ~100 ms per callback
    # init runs once at start (~3 ms here); its thread start waits for the OS scheduler,
    # which on a loaded test machine can take longer than a tick may
    knobs.setdefault("init_budget", 0.5)
    return QmtBuiltinSim(exchange, ACCOUNT, SimClock(START), **knobs)


class Watch:
    """Steps a simulator one second at a time and keeps the largest volume that was
    ever outstanding (open at the exchange) per code."""

    def __init__(self, sim, exchange, match=True):
        self.sim, self.exchange, self.match = sim, exchange, match
        self.peak = {}

    def run(self, seconds):
        for _ in range(int(seconds)):
            self.sim.run_for(1, match=self.match)
            self.note()

    def until(self, condition, limit):
        for _ in range(int(limit)):
            if condition():
                return True
            self.run(1)
        return condition()

    def note(self):
        for code, volume in _open_volume(self.exchange).items():
            self.peak[code] = max(self.peak.get(code, 0), volume)


def _open_volume(exchange):
    """Volume still to trade per code: open orders at the exchange."""
    result = {}
    for order in exchange.orders(open_only=True):
        result[order["code"]] = (
            result.get(order["code"], 0) + order["volume"] - order["traded_volume"]
        )
    return result


def _facts(sim, exchange, watch=None):
    orders = exchange.orders()
    return {
        "peak_open": dict(watch.peak) if watch else {},
        "passorder": len(sim.passorder_calls),
        "ordered": _ordered(sim),
        "holdings": dict((p["code"], p["volume"]) for p in exchange.positions()),
        "open": _open_volume(exchange),
        "rejected": [o["status_msg"] for o in orders if o["status"] == 57],
        "orders": len(orders),
        "slowest": max([t for _, t in sim.callback_times] or [0.0]),
        "ticks": len(sim.callback_times),
    }


def _ordered(sim):
    """Volume sent per code through passorder (every call, whatever became of it)."""
    result = {}
    for call in sim.passorder_calls:
        result[call[3]] = result.get(call[3], 0) + int(call[6])
    return result


def rerun_inside_lag(path):
    """QMT re-runs the strategy one second after it placed its orders, while the
    counter's caches (3 s) do not list them yet."""
    exchange = make_exchange()
    # the caches refresh at 0.9 s, 3.9 s, ...: orders sent at 2 s are listed at 3.9 s
    sim = _sim(exchange, cache_lag=3.0, cache_phase=0.9, report_delay=0.5)
    watch = Watch(sim, exchange)
    sim.load(path)
    watch.until(lambda: sim.passorder_calls, 10)
    placed = len(sim.passorder_calls)
    sim.rerun()
    watch.run(30)
    facts = _facts(sim, exchange, watch)
    facts["placed_before_rerun"] = placed
    return facts


def restart_clears_remarks(path):
    """The client restarts with our orders open; it lists them with empty remarks.
    The follower still knows them: it sends nothing twice, and re-prices its own
    order (cancel, then a new one) once the order timeout passes."""
    exchange = make_exchange(auto_match=False)  # orders stay open: nothing is matched
    sim = _sim(exchange, cache_lag=2.0, report_delay=0.5, cancel_delay=1.0)
    watch = Watch(sim, exchange, match=False)
    sim.load(path)
    watch.until(lambda: sim.passorder_calls, 10)
    watch.run(5)
    sim.restart(clear_remarks=True)
    watch.run(20)
    facts = _facts(sim, exchange, watch)
    facts["cancelled"] = len([o for o in exchange.orders() if o["status"] in (53, 54)])
    watch.run(30)  # past the 30 s order timeout: our orders are re-priced
    later = _facts(sim, exchange, watch)
    later["cancelled"] = len([o for o in exchange.orders() if o["status"] in (53, 54)])
    return {"after_restart": facts, "after_timeout": later}


def restart_before_report(path):
    """The client restarts while its orders are still unnumbered (48/49, no 合同编号):
    they come back with neither an id nor a remark."""
    exchange = make_exchange()
    sim = _sim(exchange, cache_lag=0.5, report_delay=3.0)
    watch = Watch(sim, exchange)
    sim.load(path)
    watch.until(lambda: sim.passorder_calls, 10)
    sim.restart(clear_remarks=True)
    watch.run(20)
    return _facts(sim, exchange, watch)


def invisible_for_40s(path):
    """A new order is listed only 40 s after it was sent."""
    exchange = make_exchange(auto_match=False)
    sim = _sim(exchange, visibility_delay=40.0)
    watch = Watch(sim, exchange, match=False)
    sim.load(path)
    watch.until(lambda: sim.passorder_calls, 10)
    watch.run(60)
    return _facts(sim, exchange, watch)


def simulate_mode(path):
    """QMT's 「模拟」 run mode: passorder creates no order at all."""
    exchange = make_exchange()
    sim = _sim(exchange, run_mode="simulate")
    sim.load(path)
    sim.run_for(90)
    return _facts(sim, exchange)


def stale_cash(path):
    """The counter freezes a buy's cash 1 s after passorder and the ACCOUNT cache
    shows it up to 5 s later; the cash is short for both targets."""
    exchange = make_exchange(cash=30000.0, auto_match=False)
    sim = _sim(
        exchange, cache_lag={"ORDER": 1.0, "POSITION": 1.0, "ACCOUNT": 5.0}, report_delay=1.0
    )
    watch = Watch(sim, exchange, match=False)
    sim.load(path)
    watch.run(25)  # inside the 30 s order timeout: the buys stay open
    facts = _facts(sim, exchange, watch)
    facts["cash"] = exchange.asset()["cash"]
    return facts


def hung_server(path):
    """The server accepts connections and never answers (the file was exported
    against such a server): every tick must stay inside QMT's budget."""
    exchange = make_exchange()
    sim = _sim(exchange, budget=0.2, settle_timeout=0.05)
    sim.load(path)
    sim.run_for(15)
    return _facts(sim, exchange)


def whitelist(path, variant):
    """A broker build that refuses imports of modules not on its whitelist."""
    exchange = make_exchange()
    sim = _sim(exchange, whitelist=variant)
    sim.load(path)
    sim.run_for(15)
    return _facts(sim, exchange)


SCENARIOS = {
    "rerun_inside_lag": rerun_inside_lag,
    "restart_clears_remarks": restart_clears_remarks,
    "restart_before_report": restart_before_report,
    "invisible_for_40s": invisible_for_40s,
    "simulate_mode": simulate_mode,
    "stale_cash": stale_cash,
    "hung_server": hung_server,
    "whitelist_meta_path": lambda path: whitelist(path, "meta_path"),
    "whitelist_import_hook": lambda path: whitelist(path, "import_hook"),
}
