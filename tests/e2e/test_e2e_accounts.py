"""End to end: signed uploads -> the real server's account plan -> the real follower
loop (in process, and the exported QMT file under the built-in QMT simulator) ->
the paper account; the account configured with `jq2qmt account` and the admin API.

Complements tests/follower/test_follower_e2e_live.py (pause/dry-run/outage/approval
with the exported file and `jq2qmt follow`): here the account comes from the CLI, the
storage runs on every backend, a follower restarted mid-round sends nothing twice,
a long-polling follower is woken by a change made through another server process,
weight mode, and a rejected hold.
"""

import threading

import pytest
from click.testing import CliRunner
from e2e_helpers import (
    ACCOUNT,
    MORNING,
    STRATEGY,
    Clock,
    Server,
    holdings,
    make_exchange,
    make_follower,
    rounds,
)

from jq2qmt.cli import main
from jq2qmt.clients import export_qmt
from jq2qmt.sim.qmt_builtin import QmtBuiltinSim, SimClock


def cli(instance, *args):
    result = CliRunner().invoke(main, ["account"] + list(args) + ["--instance", str(instance.path)])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def server(live_server):
    """A live server with the account following the strategy x0.5; `.token` is its
    follower token."""
    srv = Server(live_server)
    srv.admin(
        "POST", "/api/v1/accounts", {"account_id": ACCOUNT, "name": "主账户", "mode": "ratio"}
    )
    srv.admin("POST", "/api/v1/accounts/%s/confirm" % ACCOUNT)  # past its preflight: it trades
    srv.admin("PUT", "/api/v1/accounts/%s/follow/%s" % (ACCOUNT, STRATEGY), {"ratio": 0.5})
    srv.token = live_server.instance.token("follow", ACCOUNT)
    return srv


def test_e2e_cli_configured_account_is_traded_paused_and_dry_run(db_url, live_server):
    srv, instance = Server(live_server), live_server.instance
    cli(instance, "add", ACCOUNT, "--name", "主账户")
    cli(instance, "confirm", ACCOUNT)
    cli(instance, "follow", ACCOUNT, STRATEGY, "--ratio", "0.5")
    cli(instance, "set", ACCOUNT, "--min-order-value", "1000", "--ignore", "511880.SH")
    token = cli(instance, "token", ACCOUNT).strip().splitlines()[-1]
    srv.upload({"600000.XSHG": 2000, "000001.XSHE": 1000})
    exchange, clock = make_exchange(cash=300000.0), Clock()
    follower = make_follower(srv, token, exchange, clock)
    rounds(follower, clock, 2)
    assert holdings(exchange) == {"600000.SH": 1000, "000001.SZ": 500}

    srv.upload({"600000.XSHG": 2000, "000001.XSHE": 1000, "600036.XSHG": 400})
    rounds(follower, clock, 2)
    assert holdings(exchange) == {"600000.SH": 1000, "000001.SZ": 500, "600036.SH": 200}

    cli(instance, "pause", ACCOUNT)
    srv.upload({"600000.XSHG": 4000, "000001.XSHE": 1000, "600036.XSHG": 400})
    assert [r["status"] for r in rounds(follower, clock, 2)] == ["paused", "paused"]
    cli(instance, "resume", ACCOUNT)
    cli(instance, "set", ACCOUNT, "--dry-run", "on")
    orders_before = len(exchange.orders())
    dry = rounds(follower, clock, 2)[0]
    assert dry["status"] == "dry_run" and [(p["code"], p["volume"]) for p in dry["placed"]] == [
        ("600000.SH", 1000)
    ]
    assert len(exchange.orders()) == orders_before and holdings(exchange)["600000.SH"] == 1000
    cli(instance, "set", ACCOUNT, "--dry-run", "off")
    rounds(follower, clock, 2)
    assert holdings(exchange) == {"600000.SH": 2000, "000001.SZ": 500, "600036.SH": 200}

    statuses = [r["status"] for r in srv.reports()]
    assert {"ok", "paused", "dry_run"} <= set(statuses)
    listed = srv.admin("GET", "/api/v1/accounts")["accounts"][0]
    assert listed["last_seen"] is not None and listed["follower"]["kind"] == "paper"
    assert "dry_run" in cli(instance, "show", ACCOUNT, "--reports", "10")


def test_e2e_in_process_follower_restarted_mid_round_sends_nothing_twice(server):
    server.upload({"600000.XSHG": 2000, "000001.XSHE": 1000})
    exchange, clock = make_exchange(cash=300000.0, auto_match=False), Clock()
    first = make_follower(server, server.token, exchange, clock)
    assert len(first.run_round()["placed"]) == 2  # placed, not filled yet
    del first  # the process dies; a new one starts with no memory
    second = make_follower(server, server.token, exchange, clock)
    assert all(r["placed"] == [] for r in rounds(second, clock, 3))
    assert len(exchange.orders()) == 2
    exchange.match()
    rounds(second, clock, 2)
    assert holdings(exchange) == {"600000.SH": 1000, "000001.SZ": 500}
    assert len(exchange.orders()) == 2


def test_e2e_exported_qmt_script_restarted_mid_round_sends_nothing_twice(server, tmp_path):
    server.upload({"600000.XSHG": 2000, "000001.XSHE": 1000})
    exchange = make_exchange(cash=300000.0, auto_match=False)
    path = export_qmt.export_qmt(tmp_path, server.url, server.token, ACCOUNT, timeout=2.0)
    clock = SimClock(MORNING)
    first = QmtBuiltinSim(exchange, ACCOUNT, clock)
    first.load(path)
    first.run_for(2, match=False)  # the first tick's plan request is still on its way
    assert len(first.passorder_calls) == 2
    second = QmtBuiltinSim(exchange, ACCOUNT, clock)  # QMT restarted, the same account
    second.load(path)
    second.run_for(3, match=False)
    assert second.passorder_calls == []
    second.run_for(2)  # the exchange fills what is open
    assert holdings(exchange) == {"600000.SH": 1000, "000001.SZ": 500}
    assert second.passorder_calls == [] and len(exchange.orders()) == 2


def _parked(live, thread):
    """Block until the server holds a long-poll (its change watcher exists)."""
    while getattr(live.app.state, "change_watcher", None) is None:
        thread.join(0.02)
        assert thread.is_alive(), "the long-poll returned before waiting"


def test_e2e_long_polling_follower_wakes_on_a_change_through_another_server(server):
    other = type(server.live)(server.instance).start()  # a second server process, same database
    try:
        server.upload({"600000.XSHG": 2000})
        exchange, clock = make_exchange(cash=300000.0), Clock()
        follower = make_follower(server, server.token, exchange, clock)
        rounds(follower, clock, 2)
        assert holdings(exchange) == {"600000.SH": 1000} and follower.settled
        result = {}
        thread = threading.Thread(
            target=lambda: result.update(report=follower.run_round(wait=20)), daemon=True
        )
        thread.start()
        _parked(server.live, thread)
        server.admin(
            "PUT",
            "/api/v1/accounts/%s/follow/%s" % (ACCOUNT, STRATEGY),
            {"ratio": 1},
            url=other.url,
        )
        thread.join(30)
        assert result["report"]["status"] == "ok"
        assert holdings(exchange) == {"600000.SH": 2000}
    finally:
        other.stop()


def test_e2e_weight_mode_scales_by_capital(live_server):
    srv = Server(live_server)
    srv.admin("POST", "/api/v1/accounts", {"account_id": ACCOUNT, "mode": "weight"})
    srv.admin("POST", "/api/v1/accounts/%s/confirm" % ACCOUNT)
    srv.admin("PUT", "/api/v1/accounts/%s/follow/%s" % (ACCOUNT, STRATEGY), {"capital": 200000})
    token = live_server.instance.token("follow", ACCOUNT)
    srv.upload({"600000.XSHG": 20000, "600036.XSHG": 5000}, total_value=1000000.0)  # 20 % and 20 %
    exchange, clock = make_exchange(cash=250000.0), Clock()
    rounds(make_follower(srv, token, exchange, clock), clock, 2)
    assert holdings(exchange) == {"600000.SH": 4000, "600036.SH": 1000}
    detail = srv.account()
    assert dict((r["code"], r["volume"]) for r in detail["merged_target"]) == {
        "600000.SH": 4000,
        "600036.SH": 1000,
    }


def test_e2e_rejected_hold_stays_untraded_until_the_target_changes(server):
    server.admin("PATCH", "/api/v1/accounts/%s" % ACCOUNT, {"max_turnover": 0.2})
    server.upload({"600000.XSHG": 20000})  # x0.5 = 100000 yuan of a 300000 account: 33 %
    exchange, clock = make_exchange(cash=300000.0), Clock()
    follower = make_follower(server, server.token, exchange, clock)
    assert rounds(follower, clock, 1)[0]["status"] == "held"
    held = server.admin("GET", "/api/v1/accounts")["accounts"][0]["held"]
    assert held is not None and "换手率" in held["held_reason"]
    server.admin("POST", "/api/v1/accounts/%s/reject" % ACCOUNT, {})
    assert server.admin("GET", "/api/v1/accounts")["accounts"][0]["held"] is None
    assert all(r["placed"] == [] for r in rounds(follower, clock, 2))
    assert exchange.orders() == []
    assert server.admin("GET", "/api/v1/accounts")["accounts"][0]["held"] is None
    server.upload({"600000.XSHG": 10000})  # 50000 yuan: 17 %, inside the limit
    rounds(follower, clock, 2)
    assert holdings(exchange) == {"600000.SH": 5000}


def test_e2e_server_stopped_mid_run_sends_nothing_then_recovers(server):
    server.upload({"600000.XSHG": 2000})
    exchange, clock = make_exchange(cash=300000.0), Clock()
    follower = make_follower(server, server.token, exchange, clock)
    rounds(follower, clock, 2)
    orders = len(exchange.orders())
    server.live.stop()
    down = rounds(follower, clock, 3)
    assert all(r["status"] == "error" and r["placed"] == [] for r in down)
    assert len(exchange.orders()) == orders
    server.live.start()
    server.upload({"600000.XSHG": 2000, "000001.XSHE": 1000})
    rounds(follower, clock, 2)
    assert holdings(exchange) == {"600000.SH": 1000, "000001.SZ": 500}
    statuses = [r["status"] for r in server.reports()]
    assert "error" in statuses  # the outage is reported once the server is back
