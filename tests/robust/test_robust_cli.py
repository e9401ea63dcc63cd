"""Bad input for the CLI: every command and subcommand of `jq2qmt` with unknown options,
missing arguments, garbled values, missing and garbled files, a missing or corrupt
instance and an unreachable database.

Each must exit non-zero with one clear error line (click's "Usage:/Try" hint aside),
never a traceback, and write nothing: the instance folder and every database row are
compared before and after.
"""

import hashlib

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import MetaData, select

from jq2qmt.cli import main

pytestmark = pytest.mark.slow

# commands that create or serve on purpose when given nothing (covered elsewhere)
NO_INSTANCE_CASES = {
    ("init",),
    ("serve",),
    ("demo",),
    ("follow",),
    ("plan",),
    ("export", "jq"),
    ("export", "qmt"),
    ("import-original",),
}
UNREACHABLE_DB = "mysql+pymysql://root@127.0.0.1:1/nowhere"
GARBAGE = b"\x00\xff garbage {not json\n\x89PNG\r\n"


def leaf_commands():
    ctx = click.Context(main)
    found = []

    def walk(command, path):
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                walk(command.get_command(ctx, name), path + (name,))
        else:
            found.append((path, command))

    walk(main, ())
    return found


# answers a prompt would ask for (the prompt itself is not the fault under test)
NO_PROMPT = {("account", "remove"): ["--yes"], ("password", "set"): ["--generate"]}


def _required_args(command):
    """Plausible values for the required parameters (so one bad value is the only fault)."""
    args = []
    for param in command.params:
        if not param.required:
            continue
        value = "8886660057" if "account" in param.name else "x-%s" % param.name
        if isinstance(param.type, click.Choice):
            value = param.type.choices[0]
        if isinstance(param, click.Option):
            args += [param.opts[0], value]
        else:
            args.append(value)
    return args


def cases_for(path, command, instance_dir, tmp):
    names = {p.name: p for p in command.params}
    with_instance = ["--instance", str(instance_dir)] if "instance_dir" in names else []
    base = list(path) + with_instance + NO_PROMPT.get(path, [])
    yield "unknown option", base + _required_args(command) + ["--no-such-option"]
    if any(p.required for p in command.params):
        yield "missing arguments", list(base)
    for param in command.params:
        if not isinstance(param, click.Option) or param.is_flag or param.name in ("instance_dir",):
            continue
        garbled = _garbled(param, tmp)
        if garbled is not None:
            yield (
                "garbled %s" % param.name,
                base + _required_args(command) + [param.opts[0], garbled],
            )
    if "instance_dir" in names and path not in NO_INSTANCE_CASES:
        yield (
            "missing instance",
            (
                list(path)
                + ["--instance", str(tmp / "no-such-instance")]
                + NO_PROMPT.get(path, [])
                + _required_args(command)
            ),
        )
    if "database_url" in names and path not in NO_INSTANCE_CASES and path != ("db", "dump"):
        yield (
            "unreachable database",
            base + ["--database-url", UNREACHABLE_DB] + _required_args(command),
        )


def _garbled(param, tmp):
    kind = param.type
    if isinstance(kind, click.Choice):
        return "no-such-choice"
    if isinstance(kind, (click.types.IntParamType, click.types.FloatParamType)):
        return "not-a-number"
    if isinstance(kind, click.DateTime):
        return "yesterday-ish"
    if isinstance(kind, (click.File, click.Path)) and param.name not in ("out_dir",):
        return str(tmp / "missing-file.bin")
    if param.name == "database_url":
        return "not a url"
    return None


def file_cases(instance_dir, garbage, tmp):
    inst = ["--instance", str(instance_dir)]
    yield "plan: missing file", ["plan", str(tmp / "missing.json")]
    yield "plan: garbled file", ["plan", str(garbage)]
    yield "plan: JSON of the wrong shape", ["plan", str(tmp / "list.json")]
    yield "db restore: garbled file", ["db", "restore"] + inst + [str(garbage), "--force"]
    yield (
        "keys add-client: garbled key",
        ["keys", "add-client", "jq2"] + inst + ["--public-key", str(garbage)],
    )
    yield "corrupt instance config", ["token", "list", "--instance", str(tmp / "corrupt")]
    yield (
        "corrupt instance config (account)",
        ["account", "list", "--instance", str(tmp / "corrupt")],
    )
    yield "import-original: garbled URL", ["import-original", "--source-url", "::garbled::"] + inst
    yield "import-original: unreachable", ["import-original", "--source-url", UNREACHABLE_DB] + inst
    yield (
        "export qmt: unknown account",
        [
            "export",
            "qmt",
            "--instance",
            str(instance_dir),
            "--account-id",
            "0000000000",
            "--out-dir",
            str(tmp / "out-qmt"),
        ],
    )
    yield (
        "account set: garbled sessions",
        ["account", "set", "8886660057", "--sessions", "25:99-xx"] + inst,
    )
    yield (
        "account follow: negative ratio",
        ["account", "follow", "8886660057", "S", "--ratio", "-1"] + inst,
    )
    yield (
        "token create: follow scope without account",
        ["token", "create", "t1", "--scope", "follow"] + inst,
    )


def snapshot(instance, tmp):
    """Every file of the instance folder and of tmp (by hash) and every database row."""
    files = {}
    for root in (instance.path, tmp):
        for path in sorted(root.rglob("*")):
            if (
                path.is_file()
                and "logs" not in path.parts
                and not path.name.endswith(("-wal", "-shm"))
            ):
                files[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    rows = {}
    engine = instance.db().engine
    metadata = MetaData()
    metadata.reflect(engine)
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            rows[table.name] = sorted(repr(tuple(r)) for r in conn.execute(select(table)))
    return files, rows


def error_lines(output):
    """The lines of the message itself: click's usage hint and indented continuations
    (a wrapped usage line, the list of choices) are not counted."""
    hints = ("Usage:", "Try '", "用法")
    return [
        line
        for line in output.splitlines()
        if line.strip() and not line.startswith(hints) and not line[0].isspace()
    ]


def test_robust_cli_bad_input_exits_with_one_line_and_writes_nothing(instance, tmp_path, figures):
    work = tmp_path / "work"
    work.mkdir()
    garbage = work / "garbage.bin"
    garbage.write_bytes(GARBAGE)
    (work / "list.json").write_text("[1, 2, 3]", encoding="utf-8")
    corrupt = work / "corrupt"
    corrupt.mkdir()
    (corrupt / "jq2qmt.ini").write_bytes(GARBAGE)
    cases = list(file_cases(instance.path, garbage, work))
    for path, command in leaf_commands():
        cases += [
            ("%s: %s" % (" ".join(path), what), args)
            for what, args in cases_for(path, command, instance.path, work)
        ]
    runner = CliRunner()
    failures = []
    for label, args in cases:
        before = snapshot(instance, work)
        result = runner.invoke(main, args, input="")
        after = snapshot(instance, work)
        problems = []
        if result.exit_code == 0:
            problems.append("exit code 0")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            problems.append(
                "traceback: %s: %s" % (type(result.exception).__name__, result.exception)
            )
        if "Traceback" in result.output:
            problems.append("traceback in output")
        lines = error_lines(result.output)
        if len(lines) != 1:
            problems.append("%d error lines" % len(lines))
        if before != after:
            problems.append("wrote something")
        if problems:
            failures.append(
                "%s (%s): %s\n    %s"
                % (
                    label,
                    " ".join(args),
                    "; ".join(problems),
                    result.output.strip().replace("\n", "\n    "),
                )
            )
    figures("CLI bad input", cases=len(cases), failures=len(failures))
    assert not failures, "\n".join(failures)
