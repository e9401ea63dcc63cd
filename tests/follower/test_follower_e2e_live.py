"""End to end through the real server: signed uploads -> account plan -> followers -> reports.

The exported QMT file runs under the built-in QMT simulator and `jq2qmt follow --broker
paper` runs as a command; both trade a paper account over the real HTTP path
(`live_server` from tests/conftest.py).
"""

import json

import pytest
import requests
from click.testing import CliRunner

from jq2qmt import __version__
from jq2qmt.cli import main
from jq2qmt.clients import export_qmt
from jq2qmt.sim.qmt_builtin import QmtBuiltinSim, SimClock

ACCOUNT = "8886660057"
STRATEGY = "多策略V1.0"
UPLOAD = "/api/v1/positions/update"


class Server:
    """Admin and JoinQuant sides of the live server, through plain HTTP."""

    def __init__(self, live):
        self.live = live
        self.url = live.url
        self.instance = live.instance

    def admin(self, method, path, payload=None):
        resp = requests.request(
            method, self.url + path, json=payload, timeout=10, headers=self.instance.admin_headers()
        )
        assert resp.status_code // 100 == 2, resp.text
        return resp.json()

    def upload(self, positions, name=STRATEGY):
        body = json.dumps(
            {
                "strategy_name": name,
                "positions": [
                    {"code": c, "volume": v, "cost": 10.0} for c, v in sorted(positions.items())
                ],
                "portfolio": {"total_value": 1000000.0, "cash": 0.0},
            }
        ).encode("utf-8")
        headers = self.instance.signed_headers("POST", UPLOAD, body)
        headers["Content-Type"] = "application/json"
        resp = requests.post(self.url + UPLOAD, data=body, headers=headers, timeout=10)
        assert resp.status_code // 100 == 2, resp.text

    def reports(self):
        return self.admin("GET", "/api/v1/accounts/%s/reports?limit=500" % ACCOUNT)["reports"]


@pytest.fixture
def server(live_server):
    srv = Server(live_server)
    srv.admin(
        "POST", "/api/v1/accounts", {"account_id": ACCOUNT, "name": "主账户", "mode": "ratio"}
    )
    srv.admin("POST", "/api/v1/accounts/%s/confirm" % ACCOUNT)  # past its preflight: it trades
    srv.admin("PUT", "/api/v1/accounts/%s/follow/%s" % (ACCOUNT, STRATEGY), {"ratio": 0.5})
    srv.token = live_server.instance.token("follow", ACCOUNT)
    return srv


def _statuses(reports):
    return [r.get("status") for r in reports]


def test_qmt_script_follows_uploads_pause_and_dry_run(server, fx, tmp_path):
    server.upload({"600000.XSHG": 2000, "000001.XSHE": 1000})
    exchange = fx.make_exchange(cash=300000.0)
    path = export_qmt.export_qmt(
        tmp_path,
        server.url,
        server.token,
        ACCOUNT,
        timeout=2.0,
        journal_dir=str(tmp_path / "journal"),
    )
    sim = QmtBuiltinSim(exchange, ACCOUNT, SimClock(fx.MORNING))
    sim.load(path)
    sim.run_for(3)
    assert fx.holdings(exchange) == {"600000.SH": 1000, "000001.SZ": 500}

    server.upload({"600000.XSHG": 2000, "000001.XSHE": 1000, "600036.XSHG": 400})
    sim.run_for(3)
    assert fx.holdings(exchange)["600036.SH"] == 200

    server.admin("POST", "/api/v1/accounts/%s/pause" % ACCOUNT)
    server.upload({"600000.XSHG": 4000, "000001.XSHE": 1000, "600036.XSHG": 400})
    sim.run_for(3)
    assert fx.holdings(exchange)["600000.SH"] == 1000
    server.admin("PATCH", "/api/v1/accounts/%s" % ACCOUNT, {"paused": False, "dry_run": True})
    sim.run_for(3)
    assert fx.holdings(exchange)["600000.SH"] == 1000
    server.admin("PATCH", "/api/v1/accounts/%s" % ACCOUNT, {"dry_run": False})
    sim.run_for(3)
    assert fx.holdings(exchange) == {"600000.SH": 2000, "000001.SZ": 500, "600036.SH": 200}

    reports = server.reports()
    statuses = _statuses(reports)
    assert {"ok", "paused", "dry_run"} <= set(statuses)
    dry = [r for r in reports if r.get("status") == "dry_run"][0]
    assert [(p["code"], p["volume"]) for p in dry["placed"]] == [("600000.SH", 1000)]
    # the exported file reports the version of the package that wrote it
    assert all(r["follower"] == {"kind": "builtin", "version": __version__} for r in reports)


def test_server_killed_mid_run_then_recovers(server, fx, tmp_path):
    exchange = fx.make_exchange(cash=300000.0)
    exchange.set_position("600036.SH", 1000)
    server.upload({"600036.XSHG": 2000})  # ratio 0.5: keep 1000
    path = export_qmt.export_qmt(
        tmp_path,
        server.url,
        server.token,
        ACCOUNT,
        timeout=0.5,
        journal_dir=str(tmp_path / "journal"),
    )
    sim = QmtBuiltinSim(exchange, ACCOUNT, SimClock(fx.MORNING))
    sim.load(path)
    sim.run_for(2)
    assert exchange.orders() == []
    server.live.stop()
    sim.run_for(3)
    assert exchange.orders() == []  # unreachable server: the account is left alone
    server.live.start()
    server.upload({"600036.XSHG": 2000, "600000.XSHG": 1000})
    sim.run_for(3)
    assert fx.holdings(exchange) == {"600036.SH": 1000, "600000.SH": 500}
    statuses = _statuses(server.reports())
    assert "error" in statuses and "ok" in statuses  # the outage was reported afterwards


def test_turnover_hold_and_approval_through_the_api(server, fx, tmp_path):
    server.admin("PATCH", "/api/v1/accounts/%s" % ACCOUNT, {"max_turnover": 0.1})
    server.upload({"600000.XSHG": 20000})
    exchange = fx.make_exchange(cash=300000.0)
    path = export_qmt.export_qmt(
        tmp_path,
        server.url,
        server.token,
        ACCOUNT,
        timeout=2.0,
        journal_dir=str(tmp_path / "journal"),
    )
    sim = QmtBuiltinSim(exchange, ACCOUNT, SimClock(fx.MORNING))
    sim.load(path)
    sim.run_for(2)
    assert exchange.orders() == []
    held = [r for r in server.reports() if r.get("status") == "held"]
    assert held and held[0]["held_reason"]
    server.admin(
        "POST", "/api/v1/accounts/%s/approve" % ACCOUNT, {"plan_version": held[0]["plan_version"]}
    )
    sim.run_for(2)
    assert fx.holdings(exchange) == {"600000.SH": 10000}


def test_follow_command_on_a_paper_account(server, fx, tmp_path):
    server.upload({"600000.XSHG": 2000, "000001.XSHE": 1000})
    paper = tmp_path / "paper_account.json"
    paper.write_text(
        json.dumps(
            {
                "day": "2026-11-25",
                "cash": 300000.0,
                "positions": [],
                "quotes": fx.QUOTES,
                "open_orders": [],
            }
        ),
        encoding="utf-8",
    )
    args = [
        "follow",
        "--server",
        server.url,
        "--token",
        server.token,
        "--account",
        ACCOUNT,
        "--broker",
        "paper",
        "--paper-file",
        str(paper),
        "--once",
        "--at",
        "2026-11-25 10:00:00",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    state = json.loads(paper.read_text(encoding="utf-8"))
    assert {p["code"]: p["volume"] for p in state["positions"]} == {
        "600000.SH": 1000,
        "000001.SZ": 500,
    }
    server.upload({"600000.XSHG": 3000, "000001.XSHE": 1000})
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    state = json.loads(paper.read_text(encoding="utf-8"))
    assert {p["code"]: p["volume"] for p in state["positions"]}["600000.SH"] == 1500
    followers = set(tuple(sorted(r["follower"].items())) for r in server.reports())
    assert followers == {(("kind", "paper"), ("version", __version__))}


def test_other_accounts_token_is_refused(server, fx, live_server):
    server.admin("POST", "/api/v1/accounts", {"account_id": "other", "mode": "ratio"})
    other = live_server.instance.token("follow", "other")
    from jq2qmt.follower.client import FetchError, PlanClient

    client = PlanClient(server.url, other, ACCOUNT, timeout=2.0)
    with pytest.raises(FetchError) as err:
        client.fetch_plan()
    assert err.value.status == 403
    good = PlanClient(server.url, server.token, ACCOUNT, timeout=2.0).fetch_plan()
    assert good.status == 200 and good.plan["account_id"] == ACCOUNT
    assert good.etag == '"%s"' % good.plan["plan_version"]
