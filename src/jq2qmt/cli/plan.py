"""`jq2qmt plan SCENARIO.json`: run the rebalance engine once and print the plan.

Contract: docs/engine.md. Exit 0 with the plan as JSON on stdout;
exit 2 with one line on stderr naming the field and the reason when the scenario is
unreadable or breaks the contract.
"""

import json
import sys
from pathlib import Path

import click

EXIT_BAD_SCENARIO = 2


def _fail(field, reason):
    click.echo("%s: %s" % (field, reason), err=True)
    sys.exit(EXIT_BAD_SCENARIO)


def _load(path):
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        _fail("scenario", "无法读取文件 / cannot read %s: %s" % (path, exc))
    try:
        return json.loads(text)
    except ValueError as exc:
        _fail("scenario", "不是合法的 JSON / invalid JSON: %s" % exc)


@click.command(name="plan")
@click.argument("scenario", metavar="SCENARIO.json")
@click.option("--compact", is_flag=True, help="单行输出 JSON / print the JSON on one line.")
def plan(scenario, compact):
    """对一个场景文件运行调仓引擎，打印计划（JSON）。

    Run the rebalance engine once on SCENARIO.json ("-" reads stdin) and print the
    plan: orders (sells first), cancels, skipped codes with reasons, and the merged
    targets. A malformed scenario exits 2 with one line "field: reason" on stderr.
    """
    from jq2qmt.engine.errors import ScenarioError
    from jq2qmt.engine.plan import compute_plan

    raw = _load(scenario)
    try:
        result = compute_plan(raw)
    except ScenarioError as exc:
        _fail(exc.field, exc.reason)
    indent = None if compact else 2
    click.echo(json.dumps(result, ensure_ascii=False, indent=indent))
