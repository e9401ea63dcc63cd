"""Smoke tests of the benchmark scripts: each runs as a command with tiny parameters
and writes JSON that holds its figures. Never asserts on a measured time."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def run_script(name, tmp_path, *args, timeout=240):
    out = tmp_path / (name + ".json")
    result = subprocess.run(
        [sys.executable, str(BENCH / (name + ".py"))] + list(args) + ["--out", str(out)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(tmp_path),
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["machine"]["cpu_count"] >= 1 and data["machine"]["date_utc"]
    return data, result.stdout


@pytest.mark.parametrize("name", ["http_load", "signal_latency", "scale", "engine"])
def test_help(name):
    result = subprocess.run(
        [sys.executable, str(BENCH / (name + ".py")), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and "--out" in result.stdout


def _is_figure(value):
    return isinstance(value, (int, float)) and value >= 0


def test_engine(tmp_path):
    data, stdout = run_script("engine", tmp_path, "--codes", "50,200", "--repeat", "2")
    assert [r["codes"] for r in data["results"]] == [50, 200]
    for row in data["results"]:
        assert row["orders"] > 0 and _is_figure(row["p50_ms"]) and _is_figure(row["min_ms"])
    assert "p50_ms" in stdout


HTTP_LOAD_TINY = [
    "--strategies",
    "3",
    "--concurrency",
    "2",
    "--seconds",
    "0.3",
    "--requests",
    "20",
    "--upload-requests",
    "6",
    "--mix-seconds",
    "0.5",
]
READS = ("total", "strategy", "history", "version", "diff", "accounts", "reports", "plan")


def _check_read_rows(rows):
    """Every read ran without an error; a conditional read either answered 304 to
    every request or was reported n/a because its route sent no ETag."""
    for read in READS:
        plain = rows["plan_200" if read == "plan" else read]
        assert plain["requests"] > 0 and plain["errors"] == 0, (read, plain)
        assert _is_figure(plain["req_per_s"]) and _is_figure(plain["p99_ms"])
        conditional = rows[read + "_304"]
        if conditional.get("skipped"):
            assert conditional["skipped"] == "no ETag" and conditional["requests"] == 0
        else:
            assert conditional["errors"] == 0, (read, conditional)
            assert set(conditional["statuses"]) <= {"304", "other"}
            assert conditional["statuses"]["304"] == conditional["requests"] > 0


def test_http_load_spawned(tmp_path):
    data, stdout = run_script("http_load", tmp_path, "--spawn", "--markdown", *HTTP_LOAD_TINY)
    rows = dict((r["scenario"], r) for r in data["results"])
    reads = [("plan_200" if read == "plan" else read, read + "_304") for read in READS]
    assert set(rows) == {"upload", "mix_upload", "mix_poll"} | {x for pair in reads for x in pair}
    for name in ("upload", "mix_upload", "mix_poll"):
        assert rows[name]["requests"] > 0 and rows[name]["errors"] == 0, (name, rows[name])
        assert _is_figure(rows[name]["p50_ms"]) and _is_figure(rows[name]["p99_ms"])
    _check_read_rows(rows)
    # the total and plan routes have ETags, their idle polls must be measured
    assert rows["plan_304"]["statuses"] == {"304": rows["plan_304"]["requests"]}
    assert rows["total_304"]["statuses"] == {"304": rows["total_304"]["requests"]}
    assert set(rows["mix_poll"]["statuses"]) <= {"200", "304"}
    assert "plan_304" in stdout
    # the Markdown table: one per backend, a line per route and answer
    assert "### SQLite" in stdout and "| `GET /api/v1/strategies/{name}/history` | 200 |" in stdout
    assert data["backends"][0]["backend"] == "sqlite"


def test_http_load_counts_wrong_answers_as_errors(tmp_path):
    """A read the server refuses (an unknown token here) is an error in the table, not a
    fast answer."""
    out = tmp_path / "x.json"
    result = subprocess.run(
        [sys.executable, str(BENCH / "http_load.py"), "--spawn", "--scenarios", "strategy"]
        + HTTP_LOAD_TINY
        + ["--header", "Authorization: Bearer not-a-token", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=str(tmp_path),
    )
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    (row,) = json.loads(out.read_text(encoding="utf-8"))["results"]
    assert row["errors"] == row["requests"] > 0 and set(row["statuses"]) == {"401"}


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_http_load_reads_by_wrk(tmp_path):
    data, _ = run_script(
        "http_load",
        tmp_path,
        "--spawn",
        "--tool",
        "wrk",
        "--scenarios",
        "strategy,plan_200,plan_304",
        *HTTP_LOAD_TINY,
    )
    rows = dict((r["scenario"], r) for r in data["results"])
    assert set(rows) == {"strategy", "plan_200", "plan_304"}
    for row in rows.values():
        assert row["tool"] == "wrk" and row["requests"] > 0 and row["errors"] == 0, row
    assert rows["plan_304"]["statuses"] == {"304": rows["plan_304"]["requests"], "other": 0}


def test_http_load_refuses_remote_hosts(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(BENCH / "http_load.py"),
            "http://example.com:5366",
            "--auth",
            "original",
            "--api-key",
            "k",
            "--out",
            str(tmp_path / "x.json"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "127.0.0.1" in (result.stdout + result.stderr)
    assert not (tmp_path / "x.json").exists()


def test_signal_latency(tmp_path):
    data, _ = run_script("signal_latency", tmp_path, "--uploads", "2")
    modes = dict((r["mode"].split()[0], r) for r in data["results"])
    assert set(modes) == {"follow", "builtin"}
    for row in modes.values():
        assert row["uploads"] == 2 and len(row["latencies_ms"]) == 2
        assert all(isinstance(x, float) for x in row["latencies_ms"])
        assert row["p99_ms"] >= row["p50_ms"]


def test_scale(tmp_path):
    data, _ = run_script(
        "scale",
        tmp_path,
        "--strategies",
        "20",
        "--positions",
        "5",
        "--follow",
        "4",
        "--uploads",
        "2",
        "--repeat",
        "2",
    )
    steps = dict((r["step"], r) for r in data["results"])
    assert {
        "seed",
        "upload_http",
        "cold_total",
        "fingerprint",
        "total_cached",
        "total_304",
        "plan_cold",
        "plan_cached",
        "plan_304",
    } <= set(steps)
    assert steps["seed"]["n"] == 20
    assert steps["total_304"]["status"] == 304 and steps["plan_304"]["status"] == 304
    assert steps["total_cached"]["status"] == 200 and steps["plan_cold"]["follows"] == 4
    assert data["db_size_bytes"] > 0
