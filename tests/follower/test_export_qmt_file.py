"""The exported QMT file: GBK, Python 3.6, and it trades when run exactly as pasted."""

import datetime
import subprocess
import sys

import pytest
from click.testing import CliRunner

from jq2qmt.cli import main
from jq2qmt.clients import bundle, export_qmt
from jq2qmt.sim.qmt_builtin import QmtBuiltinSim, SimClock


@pytest.fixture
def exported(tmp_path, plan_server, fx):
    return export_qmt.export_qmt(
        tmp_path / "out",
        plan_server.url,
        fx.TOKEN,
        fx.ACCOUNT,
        timeout=0.5,
        journal_dir=str(tmp_path / "journal"),
    )


# The friendly client, and one as hostile as the real QMT: lagging query caches, orders
# unnumbered for a while, status 86, delayed cancels and QMT's per-callback budget.
PROFILES = {
    "friendly": {},
    "hostile": {
        "cache_lag": 1.0,
        "report_delay": 0.5,
        "status_86": True,
        "cancel_delay": 1.0,
        "reject_delay": 0.5,
        "budget": 0.1,
        "init_budget": 0.5,
    },
}


@pytest.fixture(params=sorted(PROFILES))
def qmt_sim(request):
    def make(exchange, account, clock, **knobs):
        return QmtBuiltinSim(exchange, account, clock, **dict(PROFILES[request.param], **knobs))

    return make


def test_file_is_gbk_python36_and_filled_in(exported, plan_server, fx):
    data = exported.read_bytes()
    text = data.decode("gbk")
    assert text.splitlines()[0] == "# coding: gbk"
    assert "策略编辑器" in text and "实盘" in text
    assert "SERVER_URL = %r" % plan_server.url in text
    assert "TOKEN = %r" % fx.TOKEN in text and "ACCOUNT_ID = %r" % fx.ACCOUNT in text
    assert "TIMER_PERIOD = '1nSecond'" in text and "HTTP_TIMEOUT = 0.5" in text
    assert bundle.py36_violations_of_bundle(exported, exported.parent / "extracted") == ""
    for module in (
        "_jq2qmt.follower.loop",
        "_jq2qmt.engine.plan",
        "_jq2qmt.rules.lots",
        "_jq2qmt.brokers.qmt_builtin",
    ):
        assert repr(module) in text
    assert "import jq2qmt" not in text and "from jq2qmt" not in text


def test_python36_check_reads_inside_the_bundled_strings(exported, tmp_path):
    # vermin alone passes a file whose bundled module needs 3.8: the check extracts it
    text = exported.read_bytes().decode("gbk")
    newer = text.replace("import collections\n", "import collections\nif (n := 3):\n    pass\n", 1)
    assert newer != text
    path = tmp_path / "newer.py"
    path.write_bytes(newer.encode("gbk"))
    assert bundle.py36_violations([path]) == ""
    assert "3.8" in bundle.py36_violations_of_bundle(path, tmp_path / "x")
    assert set(bundle.extract_sources(exported)) >= {
        "_jq2qmt.follower.loop",
        "_jq2qmt.follower.journal",
        "_jq2qmt.follower.background",
    }


def test_file_imports_standalone_without_the_package(exported):
    # -I: isolated, the installed jq2qmt is still importable, so also hide it
    code = (
        "import sys; sys.modules['jq2qmt'] = None\n"
        "ns = {'__name__': 'qmt'}\n"
        "exec(compile(open(%r, 'rb').read().decode('gbk'), 'f', 'exec'), ns)\n"
        "import _jq2qmt.engine.plan, _jq2qmt.follower.loop\n"
        "print(sorted(k for k in ('init', 'handlebar', 'jq2qmt_tick') if k in ns))\n"
        % str(exported)
    )
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['handlebar', 'init', 'jq2qmt_tick']"


def test_pasted_file_trades_the_paper_account_to_target(exported, plan_server, fx, qmt_sim):
    exchange = fx.make_exchange(cash=200000.0)
    exchange.set_position("600036.SH", 1000)
    plan_server.set_plan(
        fx.make_plan({"600000.SH": 2000, "000001.SZ": 1000, "600036.SH": 600}, ratio=0.5)
    )
    sim = qmt_sim(exchange, fx.ACCOUNT, SimClock(datetime.datetime(2026, 11, 25, 9, 29, 50)))
    namespace = sim.load(exported)
    assert sim.context.timers[0][:2] == ["jq2qmt_tick", 1]
    sim.run_for(5)
    assert exchange.orders() == []  # before 09:30: computed, not sent
    sim.run_for(10)
    assert fx.holdings(exchange) == {"600000.SH": 1000, "000001.SZ": 500, "600036.SH": 300}
    assert all(call[9].startswith("jq") for call in sim.passorder_calls)
    sim.handlebar()  # harmless
    sim.run_for(5)
    assert len(exchange.orders()) == 3
    ok = [r for r in plan_server.round_reports() if r["status"] == "ok"]
    assert len(ok) == 1 and len(ok[0]["placed"]) == 3
    assert ok[0]["follower"]["kind"] == "builtin"
    assert namespace["_jq2qmt_state"]["follower"].broker.account_id == fx.ACCOUNT


def test_slow_visibility_of_new_orders_does_not_double_them(exported, plan_server, fx):
    exchange = fx.make_exchange(auto_match=False)
    plan_server.set_plan(fx.make_plan({"600000.SH": 1000}))
    sim = QmtBuiltinSim(exchange, fx.ACCOUNT, SimClock(fx.MORNING), visibility_delay=4)
    sim.load(exported)
    sim.run_for(10, match=False)
    assert len(exchange.orders()) == 1


def test_pasted_file_sends_nothing_while_the_server_is_down(exported, plan_server, fx, qmt_sim):
    exchange = fx.make_exchange()
    exchange.set_position("600036.SH", 1000)
    plan_server.set_plan(fx.make_plan({}))
    plan_server.stop()
    sim = qmt_sim(exchange, fx.ACCOUNT, SimClock(fx.MORNING))
    sim.load(exported)
    sim.run_for(3)
    assert exchange.orders() == []
    plan_server.start()
    sim.run_for(6)  # backoff, the plan, the order and a counter that answers late
    assert fx.holdings(exchange) == {}  # the strategy really uploaded an empty snapshot
    assert [r["status"] for r in plan_server.round_reports()][:2] == ["error", "ok"]


def test_export_cli(tmp_path, fx):
    result = CliRunner().invoke(
        main,
        [
            "export",
            "qmt",
            "--server",
            "https://qmt.example.com/",
            "--account",
            fx.ACCOUNT,
            "--token",
            "t0k",
            "--out",
            str(tmp_path),
            "--period",
            "500nMilliSecond",
        ],
    )
    assert result.exit_code == 0, result.output
    path = tmp_path / ("jq2qmt_qmt_%s.py" % fx.ACCOUNT)
    text = path.read_bytes().decode("gbk")
    assert "SERVER_URL = 'https://qmt.example.com'" in text
    assert "TIMER_PERIOD = '500nMilliSecond'" in text
    assert "策略编辑器" in result.output


def test_export_cli_reads_the_instance_url(tmp_path, fx):
    from jq2qmt.config import CONFIG_FILE

    instance = tmp_path / "inst"
    instance.mkdir()
    (instance / CONFIG_FILE).write_text("[server]\npublic_url = http://10.0.0.5:5366\n")
    result = CliRunner().invoke(
        main,
        [
            "export",
            "qmt",
            "--instance",
            str(instance),
            "--account",
            fx.ACCOUNT,
            "--token",
            "t0k",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert result.exit_code == 0, result.output
    text = (tmp_path / "o" / ("jq2qmt_qmt_%s.py" % fx.ACCOUNT)).read_bytes().decode("gbk")
    assert "SERVER_URL = 'http://10.0.0.5:5366'" in text


@pytest.mark.parametrize(
    "args,message",
    [
        (["--server", "ftp://x", "--token", "t"], "http"),
        (["--server", "http://x", "--token", "t", "--period", "1nMinute"], "1nSecond"),
        (["--server", "http://x"], "--token"),
    ],
)
def test_export_cli_refuses_bad_options(tmp_path, fx, args, message):
    result = CliRunner().invoke(
        main, ["export", "qmt", "--account", fx.ACCOUNT, "--out", str(tmp_path)] + args
    )
    assert result.exit_code != 0 and message in result.output


def test_export_cli_makes_the_token_from_the_instance(instance, fx, tmp_path):
    from jq2qmt.store import accounts

    accounts.add_account(instance.db(), fx.ACCOUNT, "主账户", "ratio", {})
    args = [
        "export",
        "qmt",
        "--instance",
        str(instance.path),
        "--account",
        fx.ACCOUNT,
        "--out",
        str(tmp_path),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    text = (tmp_path / ("jq2qmt_qmt_%s.py" % fx.ACCOUNT)).read_bytes().decode("gbk")
    token = text.split("TOKEN = '")[1].split("'")[0]
    assert len(token) > 20 and "SERVER_URL = 'http://127.0.0.1:5366'" in text
    again = CliRunner().invoke(main, args)
    assert again.exit_code != 0 and "--rotate-token" in again.output
    rotated = CliRunner().invoke(main, args + ["--rotate-token"])
    assert rotated.exit_code == 0, rotated.output


def test_a_second_paste_runs_its_own_code(exported, plan_server, fx, tmp_path, qmt_sim):
    import sys

    exchange = fx.make_exchange()
    plan_server.set_plan(fx.make_plan({"600000.SH": 100}))
    qmt_sim(exchange, fx.ACCOUNT, SimClock(fx.MORNING)).load(exported)
    first = sys.modules["_jq2qmt.follower.loop"]
    newer = export_qmt.export_qmt(
        tmp_path / "newer",
        plan_server.url,
        fx.TOKEN,
        fx.ACCOUNT,
        journal_dir=str(tmp_path / "journal2"),
    )
    sim = qmt_sim(exchange, fx.ACCOUNT, SimClock(fx.MORNING))
    sim.load(newer)
    assert sys.modules["_jq2qmt.follower.loop"] is not first
    sim.run_for(4)
    assert fx.holdings(exchange) == {"600000.SH": 100}


def test_order_refused_by_qmt_after_passorder_leaves_flight(exported, plan_server, fx):
    # QMT calls orderError_callback for an order it refused after passorder returned;
    # the remark travels inside strategyName ("jq2qmt_&&&_<remark>")
    from jq2qmt.sim.qmt_builtin import PassOrderInfo

    exchange = fx.make_exchange(auto_match=False)
    plan_server.set_plan(fx.make_plan({"600000.SH": 1000}))
    sim = QmtBuiltinSim(exchange, fx.ACCOUNT, SimClock(fx.MORNING), visibility_delay=600)
    namespace = sim.load(exported)
    sim.run_for(3, match=False)
    call = sim.passorder_calls[0]
    exchange.cancel_order(exchange.orders()[0]["order_id"])  # it never became an order
    namespace["orderError_callback"](
        sim.context, PassOrderInfo(*(call[:8] + (call[9],))), "[函数交易] 无法下单!"
    )
    sim.run_for(2, match=False)
    rejected = [x for r in plan_server.round_reports() for x in r["rejected"]]
    assert [(x["remark"], x["reason"]) for x in rejected] == [(call[9], "[函数交易] 无法下单!")]
    assert len(sim.passorder_calls) == 2  # out of flight: the next round may send again
