"""Nothing is traded on a bad, missing or unreachable plan; errors reach the server later."""

import pytest


def _held_account(fx, exchange):
    exchange.set_position("600036.SH", 1000)
    exchange.set_position("000001.SZ", 500)


@pytest.mark.parametrize("mode", ["500", "garbage", "slow"])
def test_server_fault_sends_nothing(fx, plan_server, exchange, clock, mode):
    _held_account(fx, exchange)
    plan_server.set_plan(fx.make_plan({"600000.SH": 1000}))
    plan_server.mode = mode
    follower = fx.make_follower(exchange, plan_server, clock, timeout=0.3)
    report = follower.run_round()
    assert report["status"] == "error" and report["errors"]
    assert exchange.orders() == []
    plan_server.release.set()


def test_fault_after_a_good_plan_does_not_trade_on_the_cached_one(fx, plan_server, clock):
    exchange = fx.make_exchange(auto_match=False)
    plan_server.set_plan(fx.make_plan({"600000.SH": 1000}))
    follower = fx.make_follower(exchange, plan_server, clock)
    follower.run_round()
    exchange.cancel_order(exchange.orders()[0]["order_id"])
    plan_server.mode = "500"
    clock.advance(1)
    report = follower.run_round()
    assert report["status"] == "error"
    assert len(exchange.orders()) == 1


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b'{"plan_version": "v1"}',
        b'{"plan_version": "v1", "paused": false, "dry_run": false, "targets": "600000.SH",'
        b' "follow": {"mode": "ratio", "strategies": {}}}',
        b"null",
    ],
)
def test_malformed_plan_sends_nothing(fx, plan_server, exchange, clock, body):
    _held_account(fx, exchange)
    plan_server.mode = "raw"
    plan_server.raw_body = body
    follower = fx.make_follower(exchange, plan_server, clock)
    report = follower.run_round()
    assert report["status"] == "error"
    assert "malformed" in report["errors"][0] or "JSON" in report["errors"][0]
    assert exchange.orders() == []
    # the server is reachable: the error is reported at once
    assert plan_server.round_reports()[-1]["status"] == "error"


def test_wrong_token_sends_nothing(fx, plan_server, exchange, clock):
    _held_account(fx, exchange)
    plan_server.set_plan(fx.make_plan({}))
    follower = fx.make_follower(exchange, plan_server, clock)
    plan_server.token = "another"  # the server no longer takes the follower's token
    report = follower.run_round()
    assert report["status"] == "error" and "401" in report["errors"][0]
    assert exchange.orders() == []


def test_server_down_then_back(fx, plan_server, exchange, clock):
    _held_account(fx, exchange)
    plan_server.set_plan(fx.make_plan({"600036.SH": 1000, "000001.SZ": 500, "600000.SH": 100}))
    plan_server.stop()
    follower = fx.make_follower(exchange, plan_server, clock, timeout=0.3)
    for _ in range(3):
        report = follower.run_round()
        assert report["status"] == "error" and "unreachable" in report["errors"][0]
        clock.advance(1)
    assert exchange.orders() == []
    assert len(follower.queue) == 1  # the same error is queued once, not every second
    plan_server.start()
    report = follower.run_round()
    assert report["status"] == "ok"
    assert fx.holdings(exchange)["600000.SH"] == 100
    statuses = [r["status"] for r in plan_server.round_reports()]
    assert statuses == ["error", "ok"]
    assert not follower.queue


def test_report_queue_is_bounded(fx, plan_server, exchange, clock):
    plan_server.set_plan(fx.make_plan({}))
    plan_server.stop()
    follower = fx.make_follower(exchange, plan_server, clock, timeout=0.2, max_queued_reports=3)
    for i in range(6):
        # a different error each time, so each one is queued
        follower.etag = None
        follower.client.server = "http://127.0.0.1:%d" % plan_server.port
        follower.run_round()
        follower.last_report_key = ("distinct", i)
        clock.advance(1)
    assert len(follower.queue) == 3


def test_empty_plan_by_mistake_is_held(fx, plan_server, exchange, clock):
    _held_account(fx, exchange)
    # the followed strategy is missing from the plan (never uploaded, or lost)
    plan_server.set_plan(fx.make_plan(targets=[]))
    follower = fx.make_follower(exchange, plan_server, clock)
    report = follower.run_round()
    assert report["status"] == "held" and report["held_reason"]
    assert exchange.orders() == []
    assert plan_server.round_reports()[-1]["status"] == "held"


def test_really_empty_snapshot_sells_everything(fx, plan_server, exchange, clock):
    _held_account(fx, exchange)
    plan_server.set_plan(fx.make_plan({}))  # the strategy uploaded an empty snapshot
    report = fx.make_follower(exchange, plan_server, clock).run_round()
    assert report["status"] == "ok"
    assert fx.holdings(exchange) == {}


def test_empty_plan_hold_can_be_approved(fx, plan_server, exchange, clock):
    _held_account(fx, exchange)
    plan = fx.make_plan(targets=[])
    plan_server.set_plan(plan)
    follower = fx.make_follower(exchange, plan_server, clock)
    assert follower.run_round()["status"] == "held"
    # approving changes the plan's version; the new plan names the approved one
    approved = dict(plan, approved_version=plan["plan_version"], plan_version="v-approved")
    plan_server.set_plan(approved)
    clock.advance(1)
    assert follower.run_round()["status"] == "ok"
    assert fx.holdings(exchange) == {}


def test_approval_of_an_old_plan_does_not_cover_new_targets(fx, plan_server, exchange, clock):
    _held_account(fx, exchange)
    plan = fx.make_plan(targets=[])
    plan_server.set_plan(plan)
    follower = fx.make_follower(exchange, plan_server, clock)
    assert follower.run_round()["status"] == "held"
    other = fx.make_plan(targets=[{"strategy": "other", "positions": [], "version": 1}])
    plan_server.set_plan(dict(other, approved_version=plan["plan_version"]))
    clock.advance(1)
    assert follower.run_round()["status"] == "held"
    assert exchange.orders() == []


def test_queued_reports_drain_a_few_per_round(fx, plan_server, exchange, clock):
    plan_server.set_plan(fx.make_plan({}))
    follower = fx.make_follower(exchange, plan_server, clock)
    for i in range(12):
        follower.queue.append(
            {
                "kind": "round",
                "round_id": "old-%d" % i,
                "status": "error",
                "plan_version": None,
                "errors": ["x"],
            }
        )
    follower.run_round()
    assert len(follower.queue) == 12 + 1 - 5
    clock.advance(1)
    follower.run_round()
    clock.advance(1)
    follower.run_round()
    assert not follower.queue
    sent = [r["round_id"] for r in plan_server.round_reports()]
    assert sent[:12] == ["old-%d" % i for i in range(12)]  # oldest first
