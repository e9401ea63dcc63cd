"""End to end: files from `jq2qmt export jq`, imported from a research folder inside the
JoinQuant stand-in, upload to a live jq2qmt server; results read back over its API."""

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import requests
from click.testing import CliRunner

from jq2qmt.cli import main
from jq2qmt.clients.export_jq import export_jq
from jq2qmt.sim.joinquant import JoinQuantSim, SubPortfolioConfig

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "joinquant"
PRICES = {"600000.XSHG": 10.0, "000001.XSHE": 12.5, "601318.XSHG": 45.0}


def _research(tmp_path, live_server):
    paths = export_jq(live_server.instance.settings, tmp_path / "research", api_url=live_server.url)
    return paths[0].parent


def _get(live_server, path):
    token = live_server.instance.reader_token()
    response = requests.get(
        live_server.url + path, headers={"Authorization": "Bearer " + token}, timeout=10
    )
    response.raise_for_status()
    return response.json()


def _qmt(code):
    """The server stores codes in QMT form (600000.SH)."""
    return code.replace(".XSHG", ".SH").replace(".XSHE", ".SZ")


def _held(portfolio):
    return {
        _qmt(code): p.total_amount for code, p in portfolio.positions.items() if p.total_amount > 0
    }


def _stored(snapshot):
    return {p["code"]: p["volume"] for p in snapshot["positions"]}


def test_snapshot_stored_with_version_and_history(tmp_path, live_server):
    sim = JoinQuantSim(prices=PRICES, research_dir=_research(tmp_path, live_server))
    with sim.installed():
        api = importlib.import_module("jq_qmt_api").JQQMTAPI()
        sim.order_target("600000.XSHG", 1000)
        sim.order_target("000001.XSHE", 500)
        assert api.sync_portfolio(sim.context, "多策略V1.0") == 1
        sim.run_day()
        sim.order_target("000001.XSHE", 0)
        assert api.sync_portfolio(sim.context, "多策略V1.0") == 2
    current = _get(live_server, "/api/v1/positions/strategy/多策略V1.0")
    assert current["version"] == 2
    [row] = current["positions"]
    assert (row["code"], row["volume"], row["name"]) == ("600000.SH", 1000, "浦发银行")
    history = _get(live_server, "/api/v1/strategies/多策略V1.0/history")
    assert [v["version"] for v in history["versions"]] == [2, 1]
    assert history["versions"][1]["as_of"].startswith("2026-01-05T09:00:00")
    assert history["versions"][0]["portfolio"]["total_value"] == sim.context.portfolio.total_value


def test_subportfolios_become_separate_strategies(tmp_path, live_server):
    sim = JoinQuantSim(prices=PRICES, research_dir=_research(tmp_path, live_server))
    sim.set_subportfolios([SubPortfolioConfig(600000), SubPortfolioConfig(400000)])
    with sim.installed():
        api = importlib.import_module("jq_qmt_api").JQQMTAPI()
        sim.order_target("600000.XSHG", 2000, pindex=0)
        sim.order_target("601318.XSHG", 300, pindex=1)
        sim.order_target("600000.XSHG", 100, pindex=1)
        assert api.sync_portfolio(sim.context, "子组合A", subportfolio=0) == 1
        assert (
            api.sync_portfolio(sim.context, "子组合B", subportfolio=sim.context.subportfolios[1])
            == 1
        )
    a = _get(live_server, "/api/v1/positions/strategy/子组合A")
    b = _get(live_server, "/api/v1/positions/strategy/子组合B")
    assert _stored(a) == {"600000.SH": 2000}
    assert _stored(b) == {"601318.SH": 300, "600000.SH": 100}
    total = _get(live_server, "/api/v1/positions/total?strategies=子组合A,子组合B")
    volumes = {p["code"]: p["total_volume"] for p in total["positions"]}
    assert volumes == {"600000.SH": 2100, "601318.SH": 300}


def test_server_reason_is_logged_and_strategy_keeps_running(tmp_path, live_server):
    sim = JoinQuantSim(prices=PRICES, research_dir=_research(tmp_path, live_server))
    with sim.installed():
        api = importlib.import_module("jq_qmt_api").JQQMTAPI()
        assert (
            api.update_positions("S", [{"code": "600000.XSHG", "volume": -100, "cost": 1}]) is None
        )
        sim.run_day()  # a later day's snapshot is stored, then an older one is refused
        sim.order_target("600000.XSHG", 100)
        assert api.sync_portfolio(sim.context, "S") == 1
        earlier = JoinQuantSim(prices=PRICES, research_dir=sim.research_dir)
        earlier.order_target("600000.XSHG", 200)
        assert api.sync_portfolio(earlier.context, "S") is None
    first, second = sim.log.messages("error")
    assert "HTTP 422" in first and "positions[0].volume" in first and "数量不能为负" in first
    assert "HTTP 409" in second and "as_of" in second
    assert api.last_result["http_status"] == 409
    assert _stored(_get(live_server, "/api/v1/positions/strategy/S")) == {"600000.SH": 100}


def test_server_down_then_back(tmp_path, live_server):
    research = _research(tmp_path, live_server)
    with open(str(research / "jq_config.py"), "a", encoding="utf-8") as fh:
        fh.write("BACKOFF = 0.05\nTOTAL_TIMEOUT = 2\n")
    sim = JoinQuantSim(prices=PRICES, research_dir=research)
    with sim.installed():
        api = importlib.import_module("jq_qmt_api").JQQMTAPI()
        sim.order_target("600000.XSHG", 300)
        live_server.stop()
        assert api.sync_portfolio(sim.context, "S") is None
        assert "无法连接服务器" in sim.log.messages("error")[-1]
        live_server.start()
        assert api.sync_portfolio(sim.context, "S") == 1  # not skipped: it was never accepted
    assert _stored(_get(live_server, "/api/v1/positions/strategy/S")) == {"600000.SH": 300}


def test_example_strategy_uploads_each_day(tmp_path, live_server):
    prices = {
        "600519.XSHG": [1500, 1530, 1490, 1560, 1610, 1580],
        "600036.XSHG": [35, 33.5, 36, 37.2, 35.1, 36.4],
        "000858.XSHE": [150, 158, 149, 144, 151, 160],
        "000333.XSHE": [60, 57, 62, 64.5, 59, 61],
    }
    sim = JoinQuantSim(prices=prices, research_dir=_research(tmp_path, live_server))
    daily = []
    with sim.installed():
        sim.load_strategy(EXAMPLES / "example_strategy.py")
        for _ in range(5):
            day = sim.current_dt.date()
            sim.run_day()
            daily.append((day, _held(sim.context.portfolio)))
    name = "jq2qmt示例-固定权重"
    history = _get(live_server, "/api/v1/strategies/%s/history" % name)
    versions = sorted(history["versions"], key=lambda v: v["version"])
    assert [v["as_of"][:10] for v in versions] == [day.isoformat() for day, _ in daily]
    for version, (day, held) in zip(versions, daily):
        stored = _get(live_server, "/api/v1/strategies/%s/versions/%d" % (name, version["version"]))
        assert _stored(stored) == held
    assert not sim.log.messages("error")


def test_minimal_diff_applies_and_uploads(tmp_path, live_server):
    work = tmp_path / "strategy"
    (work / "examples" / "joinquant").mkdir(parents=True)
    shutil.copy(str(EXAMPLES / "existing_strategy.py"), str(work / "examples" / "joinquant"))
    subprocess.run(["git", "apply", str(EXAMPLES / "minimal_diff.diff")], cwd=str(work), check=True)
    sim = JoinQuantSim(
        prices=PRICES, research_dir=_research(tmp_path, live_server), start_date="2026-01-05"
    )
    with sim.installed():
        sim.load_strategy(work / "examples" / "joinquant" / "existing_strategy.py")
        sim.run_days(2)
    stored = _get(live_server, "/api/v1/positions/strategy/等权周调仓")
    assert stored["version"] == 1 and _stored(stored) == _held(sim.context.portfolio)


def test_readme_flow_export_cli_to_positions_total(tmp_path, live_server):
    out = tmp_path / "for-joinquant"
    result = CliRunner().invoke(
        main,
        [
            "export",
            "jq",
            "--instance",
            str(live_server.instance.path),
            "--out",
            str(out),
            "--url",
            live_server.url,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "三步" in result.output and "/api/v1/positions/total" in result.output
    script = (
        "from jq_qmt_api import JQQMTAPI\n"
        "JQQMTAPI().update_positions('readme', [{'code': '000001.XSHE', 'volume': 1000, 'cost': 12.5}])\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], cwd=str(out), capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0 and "版本 1" in run.stdout, run.stdout + run.stderr
    total = _get(live_server, "/api/v1/positions/total")
    assert [(p["code"], p["total_volume"]) for p in total["positions"]] == [("000001.SZ", 1000)]


def test_token_mode_instance(tmp_path, live_server_factory):
    server = live_server_factory(client_kind="token")
    token = server.instance.upload_token
    out = tmp_path / "jq"
    result = CliRunner().invoke(
        main,
        [
            "export",
            "jq",
            "--instance",
            str(server.instance.path),
            "--out",
            str(out),
            "--url",
            server.url,
            "--upload-token",
            token,
        ],
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["jq_config.py", "jq_qmt_api.py"]
    sim = JoinQuantSim(prices=PRICES, research_dir=out)
    with sim.installed():
        sim.order_target("600000.XSHG", 400)
        api = importlib.import_module("jq_qmt_api").JQQMTAPI()
        assert api.sync_portfolio(sim.context, "令牌策略") == 1
        wrong = importlib.import_module("jq_qmt_api").JQQMTAPI(upload_token="wrong-token")
        assert wrong.update_positions("令牌策略", []) is None
    assert "HTTP 401" in sim.log.messages("error")[0] and token not in "\n".join(sim.log.messages())
    assert _stored(_get(server, "/api/v1/positions/strategy/令牌策略")) == {"600000.SH": 400}
