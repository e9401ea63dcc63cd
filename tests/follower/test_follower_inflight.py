"""What is in flight survives: a journal across re-runs and restarts, orders that are
listed late or never, cash and holdings that lag behind the orders, refusals that
arrive after `place` returned, stale quotes, and the read-only preflight."""

import datetime
import json

from jq2qmt.brokers.paper import PaperBroker
from jq2qmt.follower.journal import Journal, default_path


class LaggingBroker(PaperBroker):
    """The paper account seen through a client cache, as built-in QMT shows it: new
    orders are listed `hide` seconds after they were placed, their remarks can be
    lost (a restarted client), and the cash can be frozen at an older value."""

    account_lag = 10.0

    def __init__(self, exchange, clock, hide=0.0):
        PaperBroker.__init__(self, exchange)
        self.clock, self.hide = clock, hide
        self.placed_at = {}
        self.frozen_cash = None  # a stale cash figure the cache keeps showing
        self.lose_remarks = False
        self.places = []

    def place(self, code, side, volume, price, remark):
        self.places.append((code, side, volume, price, remark))
        order_id = PaperBroker.place(self, code, side, volume, price, remark)
        self.placed_at[str(order_id)] = self.clock()
        return None  # like passorder: the id shows up later, with the listing

    def orders(self):
        now = self.clock()
        listed = []
        for order in PaperBroker.orders(self):
            placed = self.placed_at.get(str(order["order_id"]), now)
            if (now - placed).total_seconds() < self.hide:
                continue
            if self.lose_remarks:
                order = dict(order, remark="")
            listed.append(order)
        return listed

    def asset(self):
        asset = PaperBroker.asset(self)
        if self.frozen_cash is not None:
            asset["cash"] = self.frozen_cash
        return asset


def _follower(fx, plan_server, broker, clock, journal=None, **kwargs):
    return fx.make_follower(None, plan_server, clock, broker=broker, journal=journal, **kwargs)


def _journal(tmp_path, memory=None):
    return Journal(default_path(tmp_path, "8886660057"), "8886660057", memory=memory)


def test_journal_keeps_one_trading_day_of_one_account(tmp_path):
    journal = _journal(tmp_path)
    assert journal.save("2026-11-25", {"pending": {"jq1": {"code": "600000.SH"}}})
    fresh = _journal(tmp_path)  # a restarted client: memory gone, the file stays
    assert fresh.load("2026-11-25")["pending"] == {"jq1": {"code": "600000.SH"}}
    assert fresh.load("2026-11-26") == {}  # A-share orders are day orders
    other = Journal(default_path(tmp_path, "8886660057"), "999")
    assert other.load("2026-11-25") == {}


def test_journal_unreadable_or_unwritable_falls_back_to_memory(tmp_path):
    path = default_path(tmp_path, "8886660057")
    with open(path, "w") as handle:
        handle.write("{not json")
    logged = []
    assert Journal(path, "8886660057", log=logged.append).load("2026-11-25") == {}
    assert "journal unreadable" in logged[0]
    memory = {}
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("x")
    journal = Journal(str(blocked / "j.json"), "8886660057", memory=memory)
    assert journal.save("2026-11-25", {"pending": {}}) is False and journal.error
    # a re-run in the same interpreter still finds the state
    rerun = Journal(str(blocked / "j.json"), "8886660057", memory=memory)
    assert rerun.load("2026-11-25") == {
        "account": "8886660057",
        "day": "2026-11-25",
        "format": 1,
        "pending": {},
    }


def test_unlisted_order_stays_in_flight_and_is_reported_once(fx, plan_server, exchange, clock):
    plan_server.set_plan(fx.make_plan({"600000.SH": 1000}))
    broker = LaggingBroker(exchange, clock, hide=120)
    follower = _follower(fx, plan_server, broker, clock)
    errors = []
    for _ in range(90):
        errors += follower.run_round()["errors"]
        clock.advance(1)
    assert len(broker.places) == 1  # before: forgotten after 30 s and sent again
    assert len([e for e in errors if "未出现在委托列表" in e]) == 1


def test_rerun_and_restart_find_the_orders_of_the_earlier_run(
    tmp_path, fx, plan_server, exchange, clock
):
    plan_server.set_plan(fx.make_plan({"600000.SH": 1000, "000001.SZ": 500}))
    broker = LaggingBroker(exchange, clock, hide=5)
    memory = {}
    first = _follower(fx, plan_server, broker, clock, journal=_journal(tmp_path, memory))
    first.run_round()
    assert len(broker.places) == 2
    clock.advance(1)
    rerun = _follower(fx, plan_server, broker, clock, journal=_journal(tmp_path, memory))
    rerun.run_round()
    assert len(broker.places) == 2
    clock.advance(1)
    restarted = _follower(fx, plan_server, broker, clock, journal=_journal(tmp_path))
    for _ in range(20):
        restarted.run_round()
        clock.advance(1)
    assert len(broker.places) == 2
    assert fx.holdings(exchange) == {"600000.SH": 1000, "000001.SZ": 500}


def test_restarted_client_with_empty_remarks_still_knows_our_orders(
    tmp_path, fx, plan_server, clock
):
    exchange = fx.make_exchange(auto_match=False)
    plan_server.set_plan(fx.make_plan({"600000.SH": 1000}))
    broker = LaggingBroker(exchange, clock)
    follower = _follower(fx, plan_server, broker, clock, journal=_journal(tmp_path))
    follower.run_round()
    clock.advance(1)
    follower.run_round()  # listed: the journal learns the broker's order id
    broker.lose_remarks = True
    restarted = _follower(fx, plan_server, broker, clock, journal=_journal(tmp_path))
    clock.advance(40)  # past the order timeout: our order is re-priced, not left stuck
    report = restarted.run_round()
    assert [c["reason"] for c in report["cancelled"]] == ["timeout"]
    assert not [s for s in report["skipped"] if s["reason"] == "open_order_not_ours"]
    assert len(broker.places) == 1


def test_cash_not_yet_frozen_is_not_spent_twice(fx, plan_server, clock):
    exchange = fx.make_exchange(cash=30000.0, auto_match=False)
    plan_server.set_plan(fx.make_plan({"600000.SH": 2000, "000001.SZ": 2000}))
    broker = LaggingBroker(exchange, clock)
    broker.frozen_cash = 30000.0  # the cache shows the cash before our buys froze it
    follower = _follower(fx, plan_server, broker, clock)
    for _ in range(8):
        follower.run_round()
        clock.advance(1)
    assert [o for o in exchange.orders() if o["status"] == 57] == []
    spent = sum(o["volume"] * o["price"] for o in exchange.orders())
    assert spent <= 30000.0
    broker.frozen_cash = None  # the cache catches up: what is left is really left
    clock.advance(10)
    follower.run_round()
    assert [o for o in exchange.orders() if o["status"] == 57] == []


def test_a_code_that_just_traded_waits_for_the_holdings(fx, plan_server, exchange, clock):
    plan_server.set_plan(fx.make_plan({"600000.SH": 1000}))
    broker = LaggingBroker(exchange, clock)
    follower = _follower(fx, plan_server, broker, clock)
    follower.run_round()
    stale = [{"code": "600000.SH", "volume": 0, "can_use_volume": 0, "avg_cost": 0.0, "name": ""}]
    broker.positions = lambda: [p for p in stale if p["volume"]]  # holdings not updated yet
    clock.advance(1)
    report = follower.run_round()
    assert len(broker.places) == 1
    assert [s["reason"] for s in report["skipped"]] == ["settling"]


def test_refusal_after_place_leaves_flight_and_counts(fx, plan_server, clock):
    exchange = fx.make_exchange(auto_match=False)
    plan_server.set_plan(fx.make_plan({"600000.SH": 1000}))
    broker = LaggingBroker(exchange, clock, hide=600)
    follower = _follower(fx, plan_server, broker, clock)
    follower.run_round()
    remark = broker.places[0][4]
    exchange.cancel_order(exchange.orders()[0]["order_id"])  # it never became an order
    assert follower.order_error(remark, "价格超出涨跌停 / price out of range") is True
    assert follower.order_error("jq-unknown", "x") is False
    clock.advance(1)
    report = follower.run_round()
    assert report["rejected"][0]["reason"].startswith("价格超出涨跌停")
    assert len(broker.places) == 2  # the next round may send it again, counted


def test_stale_quote_skips_its_code_in_session(fx, plan_server, exchange, clock):
    plan_server.set_plan(fx.make_plan({"600000.SH": 1000, "000001.SZ": 500}))
    broker = PaperBroker(exchange)
    fresh = clock() - datetime.timedelta(seconds=3)
    old = clock() - datetime.timedelta(seconds=600)
    quotes = broker.quotes
    broker.quotes = lambda codes: dict(
        (c, dict(q, timetag=(old if c == "600000.SH" else fresh).strftime("%Y%m%d %H:%M:%S")))
        for c, q in quotes(codes).items()
    )
    report = _follower(fx, plan_server, broker, clock).run_round()
    assert [p["code"] for p in report["placed"]] == ["000001.SZ"]
    assert [(s["code"], s["reason"]) for s in report["skipped"]] == [("600000.SH", "stale_quote")]


def test_preflight_reads_and_reports_but_never_trades(fx, plan_server, exchange, clock):
    exchange.set_position("600036.SH", 300)
    exchange.place_order("600036.SH", "sell", 100, 41.0, remark="manual")
    plan = fx.make_plan({"600000.SH": 1000})
    plan["preflight"] = True
    plan_server.set_plan(plan)
    follower = _follower(fx, plan_server, PaperBroker(exchange), clock)
    for _ in range(3):
        report = follower.run_round()
        clock.advance(1)
    assert report["status"] == "preflight" and report["placed"] == []
    assert len(exchange.orders()) == 1
    sent = [r for r in plan_server.reports if r.get("kind") == "preflight"]
    assert len(sent) == 1  # once per plan version (and every 5 minutes)
    seen = sent[0]["preflight"]
    assert seen["positions"][0]["code"] == "600036.SH" and seen["asset"]["cash"] > 0
    assert [o["code"] for o in seen["open_orders"]] == ["600036.SH"]
    assert {q["code"] for q in seen["quotes"]} == {"600036.SH", "600000.SH"}
    assert seen["broker"] == "paper" and seen["python"] and seen["round_ms"] >= 0
    assert set(seen["checks"]) >= {"http", "threads", "requests", "journal"}
    json.dumps(seen)
    clock.advance(301)
    follower.run_round()
    assert len([r for r in plan_server.reports if r.get("kind") == "preflight"]) == 2


def test_unnumbered_manual_orders_do_not_break_the_round(fx, plan_server, exchange, clock):
    # orders typed by hand in QMT have no 合同编号 until the counter reports them
    plan_server.set_plan(fx.make_plan({"600000.SH": 1000}))
    broker = PaperBroker(exchange)
    manual = [
        {
            "order_id": None,
            "code": c,
            "side": "buy",
            "volume": 100,
            "traded_volume": 0,
            "price": 9.0,
            "status": 49,
            "status_msg": "",
            "remark": "",
        }
        for c in ("600036.SH", "000001.SZ")
    ]
    broker.orders = lambda: [dict(o) for o in manual]
    report = _follower(fx, plan_server, broker, clock).run_round()
    assert report["errors"] == [] and [p["code"] for p in report["placed"]] == ["600000.SH"]


def test_broker_unavailable_while_placing_is_not_a_rejection(fx, plan_server, exchange, clock):
    from jq2qmt.brokers import base

    plan_server.set_plan(fx.make_plan({"600000.SH": 1000}))
    broker = PaperBroker(exchange)
    place = broker.place

    def unavailable(*args):
        raise base.BrokerUnavailable("reconnecting")

    broker.place = unavailable
    follower = _follower(fx, plan_server, broker, clock)
    for _ in range(4):  # more than the daily reject limit
        report = follower.run_round()
        assert report["rejected"] == [] and "broker unavailable" in report["errors"][0]
        clock.advance(1)
    broker.place = place
    assert [p["code"] for p in follower.run_round()["placed"]] == ["600000.SH"]
