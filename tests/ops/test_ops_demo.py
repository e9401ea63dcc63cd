"""`jq2qmt demo`: bounded runs converge and leave history; Ctrl-C stops it cleanly."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from jq2qmt.cli import main
from jq2qmt.demo import run_demo


def test_demo_cycles_converge_and_server_keeps_history(tmp_path):
    lines, before_trading = [], {}

    def ready(demo):
        """After the preflight and the confirmation, before the first cycle."""
        from jq2qmt.store import accounts

        before_trading["orders"] = demo.exchange.orders()
        with demo.db.read() as session:
            before_trading["confirmed"] = accounts.get_account(session, "demo-paper").confirmed
            before_trading["rounds"] = accounts.list_reports(session, "demo-paper", kind="round")

    summary = run_demo(cycles=4, interval=0, seed=7, echo=lines.append, ready=ready)
    assert summary["cycles"] == 4 and summary["converged"] == 4
    # the new account's first contact was a look: a preflight report, no order, then confirmed
    seen = summary["preflight"]
    assert seen["broker"] == "paper" and seen["positions"] == [] and seen["errors"] == []
    assert seen["asset"]["cash"] == 1200000.0 and seen["checks"]["http"] in (
        "thread",
        "inline",
        "sync",
    )
    assert before_trading["orders"] == [] and before_trading["confirmed"] is True
    assert [(r["status"], r["placed"]) for r in before_trading["rounds"]] == [("preflight", [])]
    first_cycle = next(i for i, line in enumerate(lines) if line.startswith("第 1 轮"))
    summary_line = "预检：看到 0 个持仓，现金 1,200,000.00，总资产 1,200,000.00"
    said = [i for i, line in enumerate(lines) if line.startswith(summary_line)]
    confirmed = [i for i, line in enumerate(lines) if line.startswith("已确认账户 demo-paper")]
    assert said and confirmed and said[0] < confirmed[0] < first_cycle, lines
    assert summary["history"] == [4, 3, 2, 1]  # one version per rebalance, newest first
    assert not summary["interrupted"]
    assert any(line.startswith("  网页 / web UI:   http://127.0.0.1:") for line in lines)
    assert any("login password: " in line and len(line.split(": ")[-1]) >= 12 for line in lines)
    assert not Path(summary["folder"]).exists()  # the temporary instance is removed


def test_demo_cli_keep(tmp_path):
    result = CliRunner().invoke(
        main, ["demo", "--cycles", "1", "--interval", "0", "--keep"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "1 cycles, paper account in line after 1" in result.output
    kept = Path(result.output.strip().splitlines()[-1].split("instance kept in ")[-1])
    assert (kept / "instance" / "jq2qmt.sqlite3").is_file()
    import shutil

    shutil.rmtree(str(kept))
    assert CliRunner().invoke(main, ["demo", "--help"]).exit_code == 0


@pytest.mark.skipif(os.name == "nt", reason="sends SIGINT, which is how Ctrl-C arrives on POSIX")
def test_ctrl_c_stops_everything(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "jq2qmt", "demo", "--interval", "30"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    output, folder = [], None
    try:
        for line in proc.stdout:
            output.append(line)
            if "实例目录 / instance:" in line:
                folder = Path(line.split("instance:")[-1].strip()).parent
            if "cycle 1:" in line:
                break
        assert folder is not None and folder.exists(), "".join(output)
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, "".join(output) + rest
    assert "已停止 / stopped (Ctrl-C)" in rest and "Traceback" not in rest
    assert not folder.exists()
