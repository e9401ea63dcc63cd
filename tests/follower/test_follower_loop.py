"""The sync round on the paper broker against a real HTTP plan server."""

from jq2qmt.follower import scheduler


def test_converges_to_target_and_then_idles(fx, plan_server, exchange, clock):
    plan_server.set_plan(fx.make_plan({"600000.SH": 1000, "000001.SZ": 500}))
    follower = fx.make_follower(exchange, plan_server, clock)
    report = follower.run_round()
    assert report["status"] == "ok", report
    assert fx.holdings(exchange) == {"600000.SH": 1000, "000001.SZ": 500}
    assert all(scheduler.is_our_remark(o["remark"]) for o in exchange.orders())
    clock.advance(1)
    again = follower.run_round()
    assert again["placed"] == [] and again["status"] == "idle"
    assert len(exchange.orders()) == 2
    sent = plan_server.round_reports()
    assert sent[0]["status"] == "ok" and len(sent[0]["placed"]) == 2
    assert sent[0]["follower"]["kind"] == "paper"


def test_scaled_by_ratio_and_sells_down(fx, plan_server, exchange, clock):
    exchange.set_position("600036.SH", 1000)
    plan_server.set_plan(fx.make_plan({"600000.SH": 2000, "600036.SH": 400}, ratio=0.5))
    follower = fx.make_follower(exchange, plan_server, clock)
    report = follower.run_round()
    assert fx.holdings(exchange) == {"600000.SH": 1000, "600036.SH": 200}
    sides = [p["side"] for p in report["placed"]]
    assert sides == sorted(sides, key=lambda s: s != "sell")  # sells first


def test_in_flight_orders_are_not_doubled(fx, plan_server, clock):
    exchange = fx.make_exchange(auto_match=False)
    plan_server.set_plan(fx.make_plan({"600000.SH": 1000}))
    follower = fx.make_follower(exchange, plan_server, clock)
    first = follower.run_round()
    assert len(first["placed"]) == 1
    for _ in range(3):
        clock.advance(1)
        assert follower.run_round()["placed"] == []
    assert len(exchange.orders()) == 1
    exchange.match()
    clock.advance(1)
    assert follower.run_round()["placed"] == []
    assert fx.holdings(exchange) == {"600000.SH": 1000}


def test_second_plan_version_is_traded(fx, plan_server, exchange, clock):
    plan_server.set_plan(fx.make_plan({"600000.SH": 1000}))
    follower = fx.make_follower(exchange, plan_server, clock)
    follower.run_round()
    plan_server.set_plan(fx.make_plan({"600000.SH": 300, "000001.SZ": 200}))
    clock.advance(1)
    report = follower.run_round()
    assert report["status"] == "ok"
    # bought today: T+1, nothing of it can be sold before tomorrow
    assert fx.holdings(exchange) == {"600000.SH": 1000, "000001.SZ": 200}
    assert [s["reason"] for s in report["skipped"]] == ["not_sellable"]
    exchange.next_day()
    clock.advance(24 * 3600)
    follower.run_round()
    assert fx.holdings(exchange) == {"600000.SH": 300, "000001.SZ": 200}


def test_open_sells_are_not_subtracted_twice(fx, plan_server, clock):
    """Brokers report can_use_volume net of open sells (QMT freezes them); the engine
    subtracts open sells itself, so the follower hands it the gross sellable volume."""
    exchange = fx.make_exchange(auto_match=False)
    exchange.set_position("600000.SH", 1000, can_use_volume=1000, avg_cost=10.0)
    quote = exchange.quote("600000.SH")
    # our own earlier sell of 300, priced far above the market so it stays open
    exchange.place_order("600000.SH", "sell", 300, quote["high_limit"], remark="manual-high")
    assert exchange.positions()[0]["can_use_volume"] == 700
    plan_server.set_plan(fx.make_plan({"600000.SH": 100}))
    follower = fx.make_follower(exchange, plan_server, clock)
    report = follower.run_round()
    sold = sum(p["volume"] for p in report["placed"] if p["side"] == "sell")
    assert sold == 600, report  # 1000 held - 100 target - 300 already selling
    assert report["skipped"] == []
