"""`jq2qmt follow` with the paper broker against the local plan server."""

import json

from click.testing import CliRunner

from jq2qmt.brokers.paper import PaperAccountFile
from jq2qmt.cli import main
from jq2qmt.follower import daemon


def _paper_file(tmp_path, fx, positions=()):
    path = tmp_path / "paper_account.json"
    state = {
        "day": "2026-11-25",
        "cash": 200000.0,
        "positions": [
            {"code": c, "volume": v, "can_use_volume": v, "avg_cost": 10.0} for c, v in positions
        ],
        "quotes": fx.QUOTES,
        "open_orders": [],
    }
    path.write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")
    return path


def _follow(plan_server, fx, paper, *extra):
    args = [
        "follow",
        "--server",
        plan_server.url,
        "--token",
        fx.TOKEN,
        "--account",
        fx.ACCOUNT,
        "--broker",
        "paper",
        "--paper-file",
        str(paper),
        "--once",
        "--at",
        "2026-11-25 10:00:00",
    ] + list(extra)
    return CliRunner().invoke(main, args)


def test_follow_once_trades_and_keeps_the_paper_account(tmp_path, plan_server, fx):
    paper = _paper_file(tmp_path, fx, [("600036.SH", 1000)])
    plan_server.set_plan(fx.make_plan({"600000.SH": 1000, "600036.SH": 400}))
    result = _follow(plan_server, fx, paper)
    assert result.exit_code == 0, result.output
    assert "status=ok" in result.output and "placed=2" in result.output
    state = json.loads(paper.read_text(encoding="utf-8"))
    assert {p["code"]: p["volume"] for p in state["positions"]} == {
        "600000.SH": 1000,
        "600036.SH": 400,
    }
    assert state["cash"] < 200000.0 - 10000 + 24000
    # a restart reads the same account: nothing more to do
    again = _follow(plan_server, fx, paper)
    assert again.exit_code == 0 and "status=idle" in again.output
    assert [r["status"] for r in plan_server.round_reports()] == ["ok", "idle"]


def test_follow_dry_run_and_error_exit(tmp_path, plan_server, fx):
    paper = _paper_file(tmp_path, fx)
    plan_server.set_plan(fx.make_plan({"600000.SH": 1000}))
    result = _follow(plan_server, fx, paper, "--dry-run")
    assert result.exit_code == 0 and "status=dry_run" in result.output
    assert json.loads(paper.read_text(encoding="utf-8"))["positions"] == []
    plan_server.mode = "500"
    failed = _follow(plan_server, fx, paper)
    assert failed.exit_code == 1 and "500" in failed.output


def test_follow_needs_a_token_and_a_server(tmp_path, fx):
    result = CliRunner().invoke(
        main,
        [
            "follow",
            "--account",
            fx.ACCOUNT,
            "--broker",
            "paper",
            "--paper-file",
            str(tmp_path / "p.json"),
        ],
        env={"JQ2QMT_FOLLOWER_TOKEN": ""},
    )
    assert result.exit_code != 0
    result = CliRunner().invoke(
        main,
        [
            "follow",
            "--server",
            "http://127.0.0.1:9",
            "--account",
            fx.ACCOUNT,
            "--broker",
            "miniqmt",
            "--token",
            "t",
        ],
    )
    assert result.exit_code != 0 and "--qmt-path" in result.output


def test_paper_file_keeps_open_orders_and_applies_t_plus_one(tmp_path, fx):
    import datetime

    store = PaperAccountFile(tmp_path / "paper.json")
    exchange = fx.make_exchange(cash=100000.0, auto_match=False)
    exchange.set_position("600036.SH", 1000, can_use_volume=1000)
    exchange.place_order("600036.SH", "sell", 300, 40.5, remark="jq1125100000-01.0")
    exchange.place_order("600000.SH", "buy", 500, 9.5, remark="jq1125100000-01.1")
    day = datetime.date(2026, 11, 25)
    store.save(exchange, today=day)
    same_day = store.load(today=day, auto_match=False)
    assert same_day.asset() == exchange.asset()
    assert same_day.positions() == exchange.positions()
    assert [o["remark"] for o in same_day.orders(open_only=True)] == [
        "jq1125100000-01.0",
        "jq1125100000-01.1",
    ]
    next_day = store.load(today=datetime.date(2026, 11, 26))
    assert next_day.orders(open_only=True) == []
    assert next_day.positions()[0]["can_use_volume"] == 1000


def test_daemon_runs_until_ctrl_c(fx, plan_server, exchange, clock):
    plan_server.set_plan(fx.make_plan({"600000.SH": 1000}))
    follower = fx.make_follower(exchange, plan_server, clock)
    lines, rounds = [], []

    def after_round(report):
        rounds.append(report["status"])
        clock.advance(1)
        if len(rounds) == 2:
            # settled now: the next fetch long-polls and returns on this new upload
            plan_server.set_plan(fx.make_plan({"600000.SH": 1000, "000001.SZ": 100}))
        if len(rounds) == 3:
            raise KeyboardInterrupt

    report = daemon.run(
        follower, echo=lines.append, after_round=after_round, sleep=lambda seconds: None
    )
    assert rounds == ["ok", "idle", "ok"]
    assert "wait=" in plan_server.plan_requests[-1]
    assert lines[-1].startswith("已停止") and "status=ok" in lines[0]
    assert report["status"] == "ok"
    assert fx.holdings(exchange) == {"600000.SH": 1000, "000001.SZ": 100}


def test_long_poll_only_when_settled_and_never_past_a_session_edge(fx, plan_server, exchange):
    import datetime

    clock = fx.Clock(datetime.datetime(2026, 11, 25, 11, 29, 50))
    plan_server.set_plan(fx.make_plan({"600000.SH": 100}))
    follower = fx.make_follower(exchange, plan_server, clock)
    assert daemon.poll_wait(follower, clock()) == 0
    follower.run_round()
    follower.run_round()
    assert follower.settled
    assert daemon.poll_wait(follower, clock()) == 10
    clock.set(datetime.datetime(2026, 11, 25, 10, 0))
    assert daemon.poll_wait(follower, clock()) == daemon.LONG_POLL
    # on a holiday of the plan's calendar no session edge cuts the long-poll short
    follower.settings["holidays"] = frozenset([datetime.date(2026, 11, 25)])
    clock.set(datetime.datetime(2026, 11, 25, 11, 29, 50))
    assert daemon.poll_wait(follower, clock()) == daemon.LONG_POLL


# ---- --broker miniqmt: the real xttrader.py over the simulated miniQMT ---------------------
def _miniqmt_sim(fx, monkeypatch, **options):
    import pytest

    xtsim = pytest.importorskip("jq2qmt.sim.xtquant")
    try:
        xtsim.load_xtquant_types()
    except xtsim.XtquantMissing:
        pytest.skip("xtquant is not installed")
    from jq2qmt.follower import scheduler

    exchange = fx.make_exchange(cash=200000.0, auto_match=False)
    sim = xtsim.XtQuantSim(exchange, fx.ACCOUNT, **options)
    # inside the morning session, whatever the time of the test run
    monkeypatch.setattr(scheduler, "beijing_now", lambda: fx.MORNING)
    return xtsim, xtsim.install(sim)


def _follow_miniqmt(plan_server, fx, *extra):
    args = [
        "follow",
        "--server",
        plan_server.url,
        "--token",
        fx.TOKEN,
        "--account",
        fx.ACCOUNT,
        "--broker",
        "miniqmt",
        "--qmt-path",
        "D:\\国金QMT交易端\\userdata_mini",
        "--session-id",
        "4242",
    ] + list(extra)
    return CliRunner().invoke(main, args)


def test_follow_miniqmt_connects_and_places_through_xttrader(plan_server, fx, monkeypatch):
    xtsim, sim = _miniqmt_sim(fx, monkeypatch)
    try:
        plan_server.set_plan(fx.make_plan({"600000.SH": 1000}))
        result = _follow_miniqmt(plan_server, fx, "--once")
    finally:
        xtsim.uninstall()
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("正在加载 xtquant")
    assert lines[1].startswith("正在连接 miniQMT（D:\\国金QMT交易端\\userdata_mini，会话 4242）")
    assert lines[2].startswith("已连接，订阅账户 %s" % fx.ACCOUNT)
    assert "status=ok" in result.output and "placed=1" in result.output
    client = sim.clients[0]
    assert (client.path, client.session, client.timeout) == (
        "D:\\国金QMT交易端\\userdata_mini",
        4242,
        10000,
    )
    [order] = sim.requests_of("order")
    assert (
        order["m_strAccountID"],
        order["m_strStockCode"],
        order["m_nOrderType"],
        order["m_nOrderVolume"],
        order["m_nPriceType"],
        order["m_strStrategyName"],
    ) == (fx.ACCOUNT, "600000.SH", 23, 1000, 11, "jq2qmt")
    assert 10.01 <= order["m_dPrice"] <= 10.03 and order["m_strOrderRemark"].startswith("jq1125")
    assert [o["remark"] for o in sim.exchange.orders()] == [order["m_strOrderRemark"]]
    assert client.stopped  # the trader is stopped when the daemon exits
    [report] = plan_server.round_reports()
    assert report["follower"]["kind"] == "miniqmt" and report["placed"][0]["order_id"]


def test_follow_miniqmt_failed_query_places_nothing_and_exits_1(plan_server, fx, monkeypatch):
    xtsim, sim = _miniqmt_sim(fx, monkeypatch)
    sim.query_none.add("positions")
    try:
        plan_server.set_plan(fx.make_plan({"600000.SH": 1000}))
        result = _follow_miniqmt(plan_server, fx, "--once")
    finally:
        xtsim.uninstall()
    assert result.exit_code == 1 and "查询持仓失败" in result.output
    assert sim.requests_of("order") == []


def test_follow_miniqmt_says_what_to_do_when_miniqmt_refuses(plan_server, fx, monkeypatch):
    xtsim, _ = _miniqmt_sim(fx, monkeypatch, connect_result=-1)
    try:
        result = _follow_miniqmt(plan_server, fx, "--once")
    finally:
        xtsim.uninstall()
    assert result.exit_code == 1
    assert "连接 miniQMT 失败（返回 -1）" in result.output and "极简模式" in result.output
    assert "--qmt-path" in result.output


def test_follow_miniqmt_without_xtquant_says_why(plan_server, fx, monkeypatch):
    from jq2qmt.brokers import miniqmt

    def missing():
        raise ImportError("cannot import name 'xtpythonclient'")

    monkeypatch.setattr(miniqmt, "import_xtquant", missing)
    result = _follow_miniqmt(plan_server, fx, "--once")
    assert result.exit_code == 1
    assert "无法加载 xtquant（cannot import name 'xtpythonclient'）" in result.output
    assert miniqmt.python_hint() in result.output


def test_the_python_hint_names_the_versions_xtquant_supports():
    from jq2qmt.brokers import miniqmt

    assert "Windows" in miniqmt.python_hint("linux", (3, 11))
    assert "3.6–3.13，当前是 3.14" in miniqmt.python_hint("win32", (3, 14, 0))
    assert miniqmt.python_hint("win32", (3, 13, 1)) == ""
