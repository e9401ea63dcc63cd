"""`jq2qmt account ...` on a real instance: every command, one-line errors, nothing
written on error."""

import pytest
from click.testing import CliRunner

from jq2qmt.cli import main
from jq2qmt.store import accounts, credentials

SUBCOMMANDS = (
    "add",
    "remove",
    "follow",
    "unfollow",
    "set",
    "pause",
    "resume",
    "list",
    "show",
    "token",
    "approve",
    "reject",
    "confirm",
)


@pytest.fixture
def run(instance):
    runner = CliRunner()

    def invoke(*args, ok=True):
        result = runner.invoke(main, ["account"] + list(args) + ["--instance", str(instance.path)])
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return invoke


def _state(instance):
    with instance.db().read() as session:
        return [
            (a["account_id"], a["revision"], a["settings"], a["follow"], a["paused"])
            for a in accounts.list_accounts(session)
        ]


def _error(result):
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


def test_every_subcommand_has_help():
    runner = CliRunner()
    for name in SUBCOMMANDS:
        result = runner.invoke(main, ["account", name, "--help"])
        assert (
            result.exit_code == 0
            and "--instance" in result.output
            and "--database-url" in result.output
        )


def test_account_workflow(run, instance, acc):
    assert "added account 8886660057" in run("add", acc.ACCOUNT, "--name", "主账户").output
    assert "no snapshot yet" in run("follow", acc.ACCOUNT, acc.STRATEGY, "--ratio", "0.5").output
    output = run(
        "set",
        acc.ACCOUNT,
        "--ignore",
        "511880.XSHG,1318*",
        "--min-order-value",
        "1000",
        "--max-order-value",
        "50000",
        "--max-turnover",
        "30%",
        "--slice-value",
        "20000",
        "--use-sell-proceeds",
        "on",
        "--slippage",
        "0.003",
        "--order-timeout",
        "20",
        "--max-reprices",
        "2",
        "--sessions",
        "09:30-11:30,13:00-14:50",
        "--dry-run",
        "on",
    ).output
    assert "updated" in output
    with instance.db().read() as session:
        summary = accounts.summary(session, accounts.get_account(session, acc.ACCOUNT))
    assert summary["settings"] == {
        "ignore": ["511880.SH", "1318*"],
        "min_order_value": 1000,
        "max_order_value": 50000,
        "max_turnover": 0.3,
        "slice_value": 20000,
        "use_sell_proceeds": True,
        "slippage": 0.003,
        "order_timeout": 20,
        "max_reprices": 2,
        "sessions": [["09:30", "11:30"], ["13:00", "14:50"]],
    }
    assert summary["dry_run"] is True
    run(
        "set",
        acc.ACCOUNT,
        "--max-order-value",
        "none",
        "--max-turnover",
        "none",
        "--ignore",
        "none",
    )
    with instance.db().read() as session:
        settings = accounts.settings_of(accounts.get_account(session, acc.ACCOUNT))
    assert (
        settings["max_order_value"] is None
        and settings["max_turnover"] is None
        and settings["ignore"] == []
    )
    run("pause", acc.ACCOUNT)
    listing = run("list").output
    assert acc.ACCOUNT in listing and "多策略V1.0 x0.5" in listing and "yes" in listing
    run("resume", acc.ACCOUNT)
    token = run("token", acc.ACCOUNT).output.strip().splitlines()[-1]
    with instance.db().read() as session:
        row = credentials.find_token(session, token)
        assert row.scope == "follow" and row.account_id == acc.ACCOUNT
    rotated = run("token", acc.ACCOUNT, "--rotate").output.strip().splitlines()[-1]
    with instance.db().read() as session:
        assert credentials.find_token(session, token) is None
        assert credentials.find_token(session, rotated).account_id == acc.ACCOUNT
    show = run("show", acc.ACCOUNT).output
    assert "plan_version" in show and "多策略V1.0 x0.5" in show
    version = show.split("plan_version ")[1].split()[0]
    assert "approved" in run("approve", acc.ACCOUNT, version).output
    run("unfollow", acc.ACCOUNT, acc.STRATEGY)
    assert _state(instance)[0][3] == {"mode": "ratio", "strategies": {}}
    run("remove", acc.ACCOUNT, "--yes")
    assert _state(instance) == []
    with instance.db().read() as session:
        assert credentials.find_token(session, rotated) is None


def test_show_prints_the_merged_target(run, instance, app_client, acc):
    run("add", acc.ACCOUNT)
    run("follow", acc.ACCOUNT, acc.STRATEGY, "--ratio", "0.5")
    acc.upload(app_client, instance, positions={"600000.XSHG": 1000})
    show = run("show", acc.ACCOUNT).output
    assert "600000.SH" in show and " 500 " in show


@pytest.mark.parametrize(
    "args, message",
    [
        (("add", "8886660057"), "already exists"),
        (("add", "bad id"), "account id"),
        (("follow", "8886660057", "S2"), "--ratio"),
        (("follow", "8886660057", "S2", "--ratio", "1", "--capital", "5"), "--ratio"),
        (("follow", "8886660057", "S2", "--capital", "5"), "ratio mode"),
        (("follow", "8886660057", "S2", "--ratio", "-1"), "greater than 0"),
        (("follow", "8886660057", "S2", "--ratio", "x"), "not a number"),
        (("follow", "nope", "S2", "--ratio", "1"), "not found"),
        (("unfollow", "8886660057", "S9"), "does not follow"),
        (("set", "8886660057"), "no setting given"),
        (("set", "8886660057", "--ignore", "abc", "--dry-run", "on"), "ignore[0]"),
        (("set", "8886660057", "--max-turnover", "0", "--dry-run", "on"), "max_turnover"),
        (("set", "8886660057", "--sessions", "0930-1130"), "09:30-11:30"),
        (("set", "8886660057", "--sessions", "09:30-16:00"), "sessions[0]"),
        (("set", "8886660057", "--max-reprices", "1.5"), "integer"),
        (("set", "8886660057", "--mode", "weight"), "unfollow"),
        (("pause", "nope"), "not found"),
        (("remove", "nope", "--yes"), "not found"),
        (("token", "8886660057"), "--rotate"),
        (("approve", "8886660057", "deadbeef"), "plan version"),
        (("reject", "8886660057", "deadbeef"), "plan version"),
        (("confirm", "nope"), "not found"),
    ],
)
def test_errors_are_one_line_and_write_nothing(run, instance, args, message):
    run("add", "8886660057")
    run("follow", "8886660057", "S1", "--ratio", "1")
    run("token", "8886660057")
    before = _state(instance)
    line = _error(run(*args, ok=False))
    assert message in line, line
    assert _state(instance) == before


def test_missing_instance_is_one_line_error(tmp_path):
    result = CliRunner().invoke(main, ["account", "list", "--instance", str(tmp_path / "none")])
    _error(result)
