"""Kill switches, sessions, pre-open, limits and settings of the follower."""

import datetime

import pytest


def test_paused_sends_nothing(fx, plan_server, exchange, clock):
    plan_server.set_plan(fx.make_plan({"600000.SH": 1000}, paused=True))
    report = fx.make_follower(exchange, plan_server, clock).run_round()
    assert report["status"] == "paused"
    assert exchange.orders() == []
    assert plan_server.round_reports()[-1]["status"] == "paused"


def test_dry_run_reports_what_would_be_sent(fx, plan_server, exchange, clock):
    plan_server.set_plan(fx.make_plan({"600000.SH": 1000}, dry_run=True))
    follower = fx.make_follower(exchange, plan_server, clock)
    report = follower.run_round()
    assert report["status"] == "dry_run"
    assert [(p["code"], p["side"], p["volume"]) for p in report["placed"]] == [
        ("600000.SH", "buy", 1000)
    ]
    assert exchange.orders() == []
    sent = plan_server.round_reports()[-1]
    assert sent["status"] == "dry_run" and sent["placed"][0]["order_id"] is None


def test_local_dry_run_switch_overrides_the_plan(fx, plan_server, exchange, clock):
    plan_server.set_plan(fx.make_plan({"600000.SH": 1000}))
    report = fx.make_follower(exchange, plan_server, clock, dry_run=True).run_round()
    assert report["status"] == "dry_run" and report["placed"]
    assert exchange.orders() == []


@pytest.mark.parametrize(
    "when",
    [
        datetime.datetime(2026, 11, 25, 8, 0),  # before the pre-open window
        datetime.datetime(2026, 11, 25, 12, 0),  # lunch break
        datetime.datetime(2026, 11, 25, 14, 58),  # closing auction
        datetime.datetime(2026, 11, 25, 16, 0),  # after the close
        datetime.datetime(2026, 11, 28, 10, 0),  # Saturday
    ],
)
def test_out_of_session_sends_nothing(fx, plan_server, exchange, when):
    plan_server.set_plan(fx.make_plan({"600000.SH": 1000}))
    report = fx.make_follower(exchange, plan_server, fx.Clock(when)).run_round()
    assert report["status"] == "outside_session"
    assert exchange.orders() == []


def test_custom_sessions(fx, plan_server, exchange):
    plan_server.set_plan(
        fx.make_plan({"600000.SH": 1000}, settings={"sessions": [["10:00", "10:30"]]})
    )
    follower = fx.make_follower(
        exchange, plan_server, fx.Clock(datetime.datetime(2026, 11, 25, 9, 45))
    )
    assert follower.run_round()["status"] == "outside_session"
    follower.clock.set(datetime.datetime(2026, 11, 25, 10, 0))
    assert follower.run_round()["status"] == "ok"


def test_plan_seen_before_the_open_is_fired_at_the_open(fx, plan_server, exchange):
    clock = fx.Clock(datetime.datetime(2026, 11, 25, 9, 29))
    plan_server.set_plan(fx.make_plan({"600000.SH": 1000, "000001.SZ": 500}))
    follower = fx.make_follower(exchange, plan_server, clock)
    report = follower.run_round()
    assert report["status"] == "outside_session" and exchange.orders() == []
    assert len(follower.preopen["orders"]) == 2
    clock.set(datetime.datetime(2026, 11, 25, 9, 29, 59))
    assert follower.run_round()["status"] == "idle"  # computed already, nothing to redo
    assert exchange.orders() == []
    clock.set(datetime.datetime(2026, 11, 25, 9, 30, 0))
    report = follower.run_round()
    assert report["status"] == "ok" and len(report["placed"]) == 2
    assert fx.holdings(exchange) == {"600000.SH": 1000, "000001.SZ": 500}
    clock.advance(1)
    assert follower.run_round()["placed"] == []


def test_preopen_plan_not_fired_when_the_plan_changed(fx, plan_server, exchange):
    clock = fx.Clock(datetime.datetime(2026, 11, 25, 9, 20))
    plan_server.set_plan(fx.make_plan({"600000.SH": 1000}))
    follower = fx.make_follower(exchange, plan_server, clock)
    follower.run_round()
    plan_server.set_plan(fx.make_plan({"000001.SZ": 500}))
    clock.set(datetime.datetime(2026, 11, 25, 9, 30, 0))
    follower.run_round()
    assert fx.holdings(exchange) == {"000001.SZ": 500}


def test_turnover_above_limit_is_held_until_approved(fx, plan_server, exchange, clock):
    plan = fx.make_plan({"600000.SH": 20000}, settings={"max_turnover": 0.1})
    plan_server.set_plan(plan)
    follower = fx.make_follower(exchange, plan_server, clock)
    report = follower.run_round()
    assert report["status"] == "held" and "max_turnover" in report["held_reason"]
    assert exchange.orders() == []
    plan_server.set_plan(dict(plan, approved_version=plan["plan_version"], plan_version="v2"))
    clock.advance(1)
    assert follower.run_round()["status"] == "ok"
    assert fx.holdings(exchange) == {"600000.SH": 20000}


def test_turnover_within_limit_trades(fx, plan_server, exchange, clock):
    plan_server.set_plan(fx.make_plan({"600000.SH": 5000}, settings={"max_turnover": 0.1}))
    assert fx.make_follower(exchange, plan_server, clock).run_round()["status"] == "ok"


def test_ignore_list_with_prefix_patterns(fx, plan_server, exchange, clock):
    exchange.set_position("511880.SH", 300)  # held by hand
    exchange.set_position("000001.SZ", 500)
    plan_server.set_plan(
        fx.make_plan({"600000.SH": 1000}, settings={"ignore": ["5118*", "000001"]})
    )
    report = fx.make_follower(exchange, plan_server, clock).run_round()
    assert report["status"] == "ok"
    assert fx.holdings(exchange) == {"511880.SH": 300, "000001.SZ": 500, "600000.SH": 1000}


def test_only_ignored_holdings_do_not_trigger_the_empty_hold(fx, plan_server, exchange, clock):
    exchange.set_position("511880.SH", 300)
    plan_server.set_plan(fx.make_plan(targets=[], settings={"ignore": ["511880.SH"]}))
    report = fx.make_follower(exchange, plan_server, clock).run_round()
    assert report["status"] == "idle"
    assert exchange.orders() == []


def test_min_order_value_and_slices(fx, plan_server, exchange, clock):
    plan_server.set_plan(
        fx.make_plan(
            {"600000.SH": 5000, "000001.SZ": 100},
            settings={"min_order_value": 2000, "slice_value": 20000},
        )
    )
    report = fx.make_follower(exchange, plan_server, clock).run_round()
    volumes = sorted(p["volume"] for p in report["placed"] if p["code"] == "600000.SH")
    assert sum(volumes) == 5000 and max(volumes) * 10.01 <= 20000 * 1.01
    assert len(volumes) >= 3
    assert "000001.SZ" not in fx.holdings(exchange)
    assert any(
        s["code"] == "000001.SZ" and s["reason"] == "below_min_value" for s in report["skipped"]
    )


def test_weight_mode_warns_when_asset_far_from_capital(fx, plan_server, exchange, clock):
    plan_server.set_plan(fx.make_plan({"600000.SH": 10000}, mode="weight", ratio=5000000.0))
    report = fx.make_follower(exchange, plan_server, clock).run_round()
    assert any("warning" in e for e in report["errors"])
    assert report["status"] == "ok"


def test_order_above_max_order_value_is_held_until_approved(fx, plan_server, exchange, clock):
    plan = fx.make_plan({"600000.SH": 5000, "000001.SZ": 100}, settings={"max_order_value": 20000})
    plan_server.set_plan(plan)
    follower = fx.make_follower(exchange, plan_server, clock)
    report = follower.run_round()
    assert report["status"] == "held" and "600000.SH" in report["held_reason"]
    assert exchange.orders() == []
    plan_server.set_plan(dict(plan, approved_version=plan["plan_version"], plan_version="v2"))
    clock.advance(1)
    assert follower.run_round()["status"] == "ok"
    assert fx.holdings(exchange) == {"600000.SH": 5000, "000001.SZ": 100}


def test_max_order_value_with_slices_trades_in_pieces(fx, plan_server, exchange, clock):
    plan_server.set_plan(
        fx.make_plan({"600000.SH": 5000}, settings={"max_order_value": 20000, "slice_value": 30000})
    )
    report = fx.make_follower(exchange, plan_server, clock).run_round()
    assert report["status"] == "ok"
    assert all(p["volume"] * p["price"] <= 20000 for p in report["placed"])
    assert fx.holdings(exchange) == {"600000.SH": 5000}
