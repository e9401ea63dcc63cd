"""The exported QMT file survives the real client: re-runs, restarts, lagging caches,
a 「模拟」 run, an import whitelist and a hung server — in this Python and on a real
CPython 3.6, the Python of QMT's built-in strategies.

Every scenario lives in qmt_scenarios.py; the checks below are shared by both runs.
"""

import json
import subprocess
from pathlib import Path

import pytest
import qmt_scenarios as sc

from jq2qmt.clients import export_qmt
from testkit import py36_python

SRC = Path(__file__).resolve().parents[2] / "src"
HARNESS = Path(__file__).resolve().parent / "qmt36_harness.py"


@pytest.fixture
def export_for(tmp_path, plan_server, hung_server, fx):
    def export(name):
        plan_server.set_plan(fx.make_plan(sc.plan_targets(name)))
        url = hung_server.url if name == "hung_server" else plan_server.url
        return export_qmt.export_qmt(
            tmp_path / "out",
            url,
            fx.TOKEN,
            sc.ACCOUNT,
            timeout=0.5,
            journal_dir=str(tmp_path / "journal"),
        )

    return export


def _errors(plan_server):
    return [e for r in plan_server.round_reports() for e in r["errors"]]


def check_rerun_inside_lag(facts, plan_server):
    assert facts["placed_before_rerun"] == 2
    assert facts["passorder"] == 2
    assert facts["ordered"] == sc.TARGET  # nothing sent twice across the re-run
    assert facts["holdings"] == sc.TARGET
    assert facts["rejected"] == []


def check_restart_clears_remarks(facts, plan_server):
    after, later = facts["after_restart"], facts["after_timeout"]
    assert after["ordered"] == sc.TARGET and after["open"] == sc.TARGET
    assert after["cancelled"] == 0
    # the restarted follower still knew its orders: it re-priced them (a cancel and
    # a new order per code), and exactly the target's volume is outstanding
    assert later["cancelled"] == 2
    assert later["open"] == sc.TARGET and later["peak_open"] == sc.TARGET
    assert later["passorder"] == 4


def check_restart_before_report(facts, plan_server):
    assert facts["passorder"] == 2 and facts["holdings"] == sc.TARGET
    assert not [e for e in _errors(plan_server) if "order_id" in e]


def check_invisible_for_40s(facts, plan_server):
    # listed 40 s late, past the 30 s order timeout: each order was cancelled and
    # re-priced once, never doubled
    assert facts["open"] == sc.TARGET and facts["peak_open"] == sc.TARGET
    assert facts["passorder"] == 4
    unlisted = [e for e in _errors(plan_server) if "未出现在委托列表" in e]
    assert len(unlisted) == 2  # reported once per order, never re-sent


def check_simulate_mode(facts, plan_server):
    assert facts["passorder"] == 2 and facts["orders"] == 0
    assert len([e for e in _errors(plan_server) if "模拟" in e]) == 2


def check_stale_cash(facts, plan_server):
    assert facts["rejected"] == []  # no buy the real cash could not pay
    # the first round spends what there is; no later round spends it again
    assert facts["open"]["000001.SZ"] == 2000 and 0 < facts["open"]["600000.SH"] < 2000
    assert facts["cash"] >= 0


def check_hung_server(facts, plan_server):
    assert facts["passorder"] == 0 and facts["orders"] == 0
    assert facts["ticks"] >= 14
    assert facts["slowest"] < 0.2  # the simulator also raises on the first slow tick


def check_whitelist(facts, plan_server):
    assert facts["holdings"] == sc.TARGET


CHECKS = {
    "rerun_inside_lag": check_rerun_inside_lag,
    "restart_clears_remarks": check_restart_clears_remarks,
    "restart_before_report": check_restart_before_report,
    "invisible_for_40s": check_invisible_for_40s,
    "simulate_mode": check_simulate_mode,
    "stale_cash": check_stale_cash,
    "hung_server": check_hung_server,
    "whitelist_meta_path": check_whitelist,
    "whitelist_import_hook": check_whitelist,
}


@pytest.mark.parametrize("name", sorted(sc.SCENARIOS))
def test_exported_file_survives(name, export_for, plan_server):
    facts = sc.SCENARIOS[name](export_for(name))
    CHECKS[name](facts, plan_server)


@pytest.mark.parametrize("name", sorted(sc.SCENARIOS))
def test_exported_file_survives_on_cpython36(name, export_for, plan_server):
    python = py36_python()
    path = export_for(name)
    out = subprocess.run(
        [python, str(HARNESS), str(SRC), name, str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    line = [x for x in out.stdout.splitlines() if x.startswith("FACTS ")][-1]
    facts = json.loads(line[len("FACTS ") :])
    assert facts["python"].startswith("3.6.")
    CHECKS[name](facts, plan_server)
