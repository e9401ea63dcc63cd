"""`jq2qmt export jq`: the files it writes and the command line around it."""

import os
import runpy
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from jq2qmt.cli import main
from jq2qmt.clients import bundle
from jq2qmt.clients.export_jq import API_FILE, CONFIG_FILE, KEY_FILE, export_jq


def _export(instance, tmp_path, **kwargs):
    return export_jq(instance.settings, tmp_path / "out", **kwargs)


def test_writes_three_standalone_python36_files(instance, tmp_path):
    paths = _export(instance, tmp_path, api_url="https://jq2qmt.example.com/")
    assert [p.name for p in paths] == [API_FILE, CONFIG_FILE, KEY_FILE]
    assert bundle.py36_violations(paths[:2]) == ""
    api_text = paths[0].read_text(encoding="utf-8")
    assert "import jq2qmt" not in api_text and "from jq2qmt" not in api_text
    assert "'_jq2qmt.signing'" in api_text and "'_jq2qmt.clients.jq_api'" in api_text
    config = runpy.run_path(str(paths[1]))
    assert config["API_URL"] == "https://jq2qmt.example.com"
    assert config["CLIENT_ID"] == instance.jq_client_id
    assert config["PRIVATE_KEY_FILE"] == KEY_FILE
    assert config["ALLOW_BACKTEST"] is False and config["RAISE_ERRORS"] is False
    assert "# 服务器地址" in paths[1].read_text(encoding="utf-8")
    assert paths[2].read_bytes() == instance.jq_private_key_path.read_bytes()


@pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")
def test_private_key_is_owner_only(instance, tmp_path):
    key = _export(instance, tmp_path)[2]
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_export_again_overwrites_in_place(instance, tmp_path):
    first = [p.read_bytes() for p in _export(instance, tmp_path)]
    second = [p.read_bytes() for p in _export(instance, tmp_path)]
    assert first == second


def test_cli_help_lists_jq():
    result = CliRunner().invoke(main, ["export", "--help"])
    assert result.exit_code == 0 and "jq" in result.output
    result = CliRunner().invoke(main, ["export", "jq", "--help"])
    assert result.exit_code == 0
    assert "--instance" in result.output and "--out" in result.output and "--url" in result.output


def test_cli_writes_files_and_prints_three_steps(instance, tmp_path):
    out = tmp_path / "jq"
    result = CliRunner().invoke(
        main, ["export", "jq", "--instance", str(instance.path), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted([API_FILE, CONFIG_FILE, KEY_FILE])
    for step in ("1.", "2.", "3."):
        assert step in result.output
    assert "sync_portfolio" in result.output
    # The test instance's URL is a loopback address: JoinQuant could never reach it.
    assert "--url" in result.output and "聚宽无法连接" in result.output
    assert "PRIVATE KEY" not in result.output


@pytest.mark.parametrize("make_bad", ["missing", "not_an_instance"])
def test_cli_bad_instance_is_one_clear_error_and_writes_nothing(tmp_path, make_bad):
    bad = tmp_path / "instance"
    if make_bad == "not_an_instance":
        bad.mkdir()
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["export", "jq", "--instance", str(bad), "--out", str(out)])
    assert result.exit_code != 0
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and str(bad) in lines[0] and "Traceback" not in result.output
    assert not out.exists()


def test_cli_missing_key_writes_nothing(instance, tmp_path):
    instance.jq_private_key_path.unlink()
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["export", "jq", "--instance", str(instance.path), "--out", str(out)]
    )
    assert result.exit_code != 0 and "私钥" in result.output
    assert not out.exists()


def test_cli_rejects_url_without_scheme(instance, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        [
            "export",
            "jq",
            "--instance",
            str(instance.path),
            "--out",
            str(out),
            "--url",
            "1.2.3.4:5366",
        ],
    )
    assert result.exit_code == 2 and "--url" in result.output
    assert not out.exists()


def test_examples_are_python36():
    examples = Path(__file__).resolve().parents[2] / "examples" / "joinquant"
    assert bundle.py36_violations(sorted(examples.glob("*.py"))) == ""
