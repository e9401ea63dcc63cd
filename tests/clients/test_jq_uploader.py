"""The exported uploader, imported from a research folder as JoinQuant does, against a
real local HTTP server that checks every signature (no jq2qmt server needed here)."""

import importlib
import pickle
import subprocess
import sys
import threading

import pytest
from jq_support import closed_port_url, exported_files, set_config

from jq2qmt.sim.joinquant import JoinQuantSim, LimitOrderStyle

PRICES = {"600000.XSHG": 10.0, "000001.XSHE": 12.5, "600519.XSHG": 1500.0}


def _research(tmp_path, url, keypair, **config):
    key_path = keypair.write(tmp_path)
    paths = exported_files(tmp_path, url, key_path)
    research = paths[0].parent
    if config:
        set_config(research, **config)
    return research


def _sim(research, run_type="sim_trade"):
    sim = JoinQuantSim(prices=PRICES, research_dir=research, run_type=run_type)
    sim.current_dt = sim.current_dt.replace(hour=10)
    return sim


def _api(**options):
    return importlib.import_module("jq_qmt_api").JQQMTAPI(**options)


def _errors(sim):
    return sim.log.messages("error")


def test_sync_portfolio_sends_signed_snapshot(tmp_path, keypair, upload_server):
    research = _research(tmp_path, upload_server.url, keypair)
    sim = _sim(research)
    with sim.installed():
        api = _api()
        sim.order_target("600000.XSHG", 1000)
        sim.order_value("000001.XSHE", 10000)
        sim.context.portfolio.positions["600519.XSHG"]  # an empty entry, as JoinQuant makes
        version = api.sync_portfolio(sim.context, "多策略V1.0")
    assert version == 1
    [req] = upload_server.requests
    assert req["valid"] and req["path"] == "/api/v1/positions/update"
    body = req["json"]
    assert body["strategy_name"] == "多策略V1.0"
    assert body["as_of"] == "2026-01-05T10:00:00+08:00"
    assert [(p["code"], p["volume"], p["name"]) for p in body["positions"]] == [
        ("000001.XSHE", 800, "平安银行"),
        ("600000.XSHG", 1000, "浦发银行"),
    ]
    pos = sim.context.portfolio.positions["600000.XSHG"]
    assert body["positions"][1]["cost"] == round(pos.avg_cost, 4)
    assert body["portfolio"] == {
        "total_value": pytest.approx(sim.context.portfolio.total_value),
        "cash": pytest.approx(sim.context.portfolio.available_cash),
    }
    assert any("版本 1" in m for m in sim.log.messages("info"))


def test_original_update_positions_call_still_works(tmp_path, keypair, upload_server):
    research = _research(tmp_path, upload_server.url, keypair)
    sim = _sim(research, run_type="simple_backtest")
    with sim.installed():
        version = _api().update_positions(
            "老策略", [{"code": "000001.XSHE", "volume": 1000, "cost": 12.5}]
        )
    assert version == 1
    assert upload_server.requests[0]["json"] == {
        "strategy_name": "老策略",
        "positions": [{"code": "000001.XSHE", "volume": 1000, "cost": 12.5}],
    }


def test_server_errors_and_429_are_retried_with_fresh_signatures(tmp_path, keypair, upload_server):
    research = _research(tmp_path, upload_server.url, keypair, BACKOFF=0.01)
    upload_server.script = [
        (503, {"error": {"code": "db", "message": "busy"}}),
        (429, {"error": {"code": "rate", "message": "slow down"}}),
        (200, {"version": 7}),
    ]
    sim = _sim(research)
    with sim.installed():
        sim.order_target("600000.XSHG", 500)
        version = _api().sync_portfolio(sim.context, "S")
    assert version == 7
    assert len(upload_server.requests) == 3
    nonces = {r["headers"]["X-JQ2QMT-Nonce"] for r in upload_server.requests}
    assert len(nonces) == 3 and all(r["valid"] for r in upload_server.requests)
    assert len(sim.log.messages("warning")) == 2 and not _errors(sim)


def test_4xx_is_final_and_logged_with_server_reason(tmp_path, keypair, upload_server):
    research = _research(tmp_path, upload_server.url, keypair, BACKOFF=0.01)
    upload_server.script = [
        (
            422,
            {
                "error": {
                    "code": "invalid_volume",
                    "field": "positions[0].volume",
                    "message": "数量必须为非负整数 / volume must be >= 0",
                }
            },
        )
    ]
    sim = _sim(research)
    with sim.installed():
        sim.order_target("600000.XSHG", 500)
        api = _api()
        assert api.sync_portfolio(sim.context, "S") is None
        sim.order_target("000001.XSHE", 100)  # the strategy carries on
    assert len(upload_server.requests) == 1
    [error] = _errors(sim)
    assert "HTTP 422" in error and "positions[0].volume" in error and "数量必须为非负整数" in error
    assert api.last_result["status"] == "failed" and api.last_result["http_status"] == 422


def test_raise_errors_opt_in(tmp_path, keypair, upload_server):
    research = _research(tmp_path, upload_server.url, keypair, RAISE_ERRORS=True)
    upload_server.script = [
        (409, {"error": {"code": "stale", "message": "as_of older than stored"}})
    ]
    sim = _sim(research)
    with sim.installed():
        module = importlib.import_module("jq_qmt_api")
        with pytest.raises(module.UploadError, match="as_of older than stored"):
            module.JQQMTAPI().sync_portfolio(sim.context, "S")


def test_server_down_returns_none_after_bounded_attempts(tmp_path, keypair):
    research = _research(tmp_path, closed_port_url(), keypair, BACKOFF=0.01, MAX_RETRIES=2)
    sim = _sim(research)
    with sim.installed():
        api = _api()
        assert api.sync_portfolio(sim.context, "S") is None
    assert api.last_result["attempts"] == 3
    [error] = _errors(sim)
    assert "无法连接服务器" in error and "3" in error


def test_slow_server_call_returns_within_its_budget(tmp_path, keypair, hanging_server):
    research = _research(
        tmp_path,
        hanging_server.url,
        keypair,
        TIMEOUT=0.2,
        CONNECT_TIMEOUT=0.2,
        TOTAL_TIMEOUT=1.0,
        BACKOFF=0.05,
    )
    sim = _sim(research)
    results = []
    with sim.installed():
        api = _api()
        sim.order_target("600000.XSHG", 300)
        worker = threading.Thread(
            target=lambda: results.append(api.sync_portfolio(sim.context, "S"))
        )
        worker.start()
        worker.join(timeout=60)  # a hang guard only: the budget is 1 s
        assert not worker.is_alive()
    assert results == [None]
    assert hanging_server.accepted
    assert "超时" in _errors(sim)[0]
    assert 1 <= api.last_result["attempts"] <= 4


def test_outside_sim_trade_nothing_is_sent(tmp_path, keypair, upload_server):
    research = _research(tmp_path, upload_server.url, keypair)
    for run_type in ("simple_backtest", "full_backtest"):
        sim = _sim(research, run_type=run_type)
        with sim.installed():
            sim.order_target("600000.XSHG", 500)
            assert _api().sync_portfolio(sim.context, "S") is None
        assert any(run_type in m for m in sim.log.messages("info"))
    assert upload_server.requests == []
    with sim.installed():
        assert _api(allow_backtest=True).sync_portfolio(sim.context, "S") == 1


def test_open_orders_and_unchanged_snapshots_are_skipped(tmp_path, keypair, upload_server):
    research = _research(tmp_path, upload_server.url, keypair)
    sim = _sim(research)
    with sim.installed():
        api = _api()
        sim.order_target("600000.XSHG", 500)
        pending = sim.order(
            "000001.XSHE", 100, LimitOrderStyle(12.0)
        )  # below the price: stays open
        assert api.sync_portfolio(sim.context, "S") is None
        assert upload_server.requests == []
        assert "未完成订单" in sim.log.messages("info")[-1]
        sim.cancel_order(pending)
        assert api.sync_portfolio(sim.context, "S") == 1
        assert api.sync_portfolio(sim.context, "S") is None
        assert "相同" in sim.log.messages("info")[-1]
        sim.order_target("600000.XSHG", 800)
        assert api.sync_portfolio(sim.context, "S") == 2
    assert [len(r["json"]["positions"]) for r in upload_server.requests] == [1, 1]
    assert [r["json"]["positions"][0]["volume"] for r in upload_server.requests] == [500, 800]


def test_uploader_survives_pickling_of_g(tmp_path, keypair, upload_server):
    research = _research(tmp_path, upload_server.url, keypair)
    sim = _sim(research)
    with sim.installed():
        sim.g.jq_qmt_api = _api()
        sim.order_target("600000.XSHG", 500)
        assert sim.g.jq_qmt_api.sync_portfolio(sim.context, "S") == 1
        restored = pickle.loads(pickle.dumps(sim.g.jq_qmt_api))
        assert restored.sync_portfolio(sim.context, "S") is None  # still knows it was sent
        sim.order_target("600000.XSHG", 600)
        assert restored.sync_portfolio(sim.context, "S") == 2
    assert all(r["valid"] for r in upload_server.requests)


def test_key_is_read_with_research_read_file(tmp_path, keypair, upload_server):
    research = _research(tmp_path, upload_server.url, keypair)
    code_dir = tmp_path / "code"
    code_dir.mkdir()
    for name in ("jq_qmt_api.py", "jq_config.py"):
        (research / name).rename(code_dir / name)
    # Only the research root (read_file) has the key now; code and cwd do not.
    sim = _sim(research)
    with sim.installed():
        sys.path.insert(0, str(code_dir))
        sim.order_target("600000.XSHG", 500)
        assert _api().sync_portfolio(sim.context, "S") == 1


def test_key_never_appears_in_logs(tmp_path, keypair, upload_server, capsys):
    research = _research(tmp_path, upload_server.url, keypair, BACKOFF=0.01)
    upload_server.script = [(500, {}), (400, {"error": {"code": "x", "message": "bad"}})]
    sim = _sim(research)
    with sim.installed():
        sim.order_target("600000.XSHG", 500)
        _api().sync_portfolio(sim.context, "S")
    text = "\n".join(m for _, m in sim.log.records) + capsys.readouterr().out
    body_lines = [ln for ln in keypair.private_pem.decode().splitlines() if "-----" not in ln]
    assert "PRIVATE KEY" not in text and not any(ln in text for ln in body_lines)


def test_same_files_run_in_plain_python(tmp_path, keypair, upload_server):
    research = _research(tmp_path, upload_server.url, keypair)
    script = (
        "from jq_qmt_api import JQQMTAPI\n"
        "print(JQQMTAPI().update_positions('plain', [{'code': '600000.XSHG', 'volume': 100, 'cost': 9.5}]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=str(research),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "1"
    assert "[jq2qmt]" in out.stdout  # logged with print outside JoinQuant
    assert upload_server.requests[0]["valid"]


def test_missing_config_is_logged_not_raised(tmp_path):
    sim = _sim(tmp_path)  # an empty research root: no jq_config, no key
    with sim.installed():
        api = importlib.import_module("jq2qmt.clients.jq_api").JQQMTAPI()
        sim.order_target("600000.XSHG", 100)
        assert api.sync_portfolio(sim.context, "S") is None
    assert "jq_config.py" in _errors(sim)[0]


def test_unexpected_errors_are_logged_not_raised(tmp_path, keypair, upload_server):
    research = _research(tmp_path, upload_server.url, keypair)
    sim = _sim(research)
    with sim.installed():
        api = _api(client_id="聚宽客户端")  # not encodable in an HTTP header
        assert (
            api.update_positions("S", [{"code": "600000.XSHG", "volume": 100, "cost": 1.0}]) is None
        )
    assert "上传" in _errors(sim)[0] and upload_server.requests == []


def test_shares_locked_by_an_open_sell_are_uploaded_as_held(tmp_path, keypair, upload_server):
    research = _research(tmp_path, upload_server.url, keypair, SKIP_WHEN_OPEN_ORDERS=False)
    sim = _sim(research)
    with sim.installed():
        api = _api()
        sim.order_target("600000.XSHG", 1000)
        sim.run_day()
        sim.order("600000.XSHG", -400, LimitOrderStyle(11.0))  # above the price: stays open
        pos = sim.context.portfolio.positions["600000.XSHG"]
        assert (pos.total_amount, pos.locked_amount) == (600, 400)
        assert api.sync_portfolio(sim.context, "S") == 1
        sim.set_price("600000.XSHG", 11.0)  # the sell fills: 600 held now
        assert api.sync_portfolio(sim.context, "S") == 2
    assert [r["json"]["positions"][0]["volume"] for r in upload_server.requests] == [1000, 600]


def test_positions_without_locked_amount_count_none_locked(tmp_path, keypair, upload_server):
    research = _research(tmp_path, upload_server.url, keypair)

    class Pos:  # an object from before locked_amount existed
        def __init__(self, security, total_amount, avg_cost):
            self.security, self.total_amount, self.avg_cost = security, total_amount, avg_cost

    class Portfolio:
        positions = {
            "600000.XSHG": Pos("600000.XSHG", 700, 9.5),
            "000001.XSHE": Pos("000001.XSHE", 0, 0.0),
        }
        total_value, available_cash = 100000.0, 93350.0

    class Context:
        class run_params:
            type = "sim_trade"

        portfolio = Portfolio()
        current_dt = None

    sim = _sim(research)
    with sim.installed():
        assert _api().sync_portfolio(Context(), "S") == 1
    assert [(p["code"], p["volume"]) for p in upload_server.requests[0]["json"]["positions"]] == [
        ("600000.XSHG", 700)
    ]
