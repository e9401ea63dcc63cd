"""The golden corpus: compute_plan gives exactly the stored plan (or refusal) for every
case of tests/engine/golden/cases.jsonl.gz, on this Python and on CPython 3.6.

The corpus is written by tests/engine/golden/generate.py (its docstring says when and
how to regenerate it on purpose). A failure here means a plan changed: either a
restructuring changed behaviour, or a rule changed and the corpus must be regenerated
in the same commit.
"""

import os
import subprocess
from collections import Counter

import pytest
from engine_golden import differences, load

from testkit import py36_python

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SKIP_REASONS = {
    "below_lot",
    "below_min_value",
    "ignored",
    "insufficient_cash",
    "limit_down",
    "limit_up",
    "no_quote",
    "not_sellable",
    "over_max_order_value",
    "suspended",
}
CANCEL_REASONS = {"off_target", "stale", "wrong_direction"}


@pytest.fixture(scope="module")
def cases():
    return load()


def _report(diffs):
    name, expected, actual = diffs[0]
    return (
        "%d golden cases changed (first: %s)\n  expected: %s\n  actual:   %s\n"
        "If the rule change is intended, regenerate with "
        "`python tests/engine/golden/generate.py` and explain each change in the commit."
        % (len(diffs), ", ".join(d[0] for d in diffs[:10]), expected[:1500], actual[:1500])
    )


def test_every_golden_case_gives_its_stored_outcome(cases):
    diffs = differences(cases)
    assert not diffs, _report(diffs)


def test_every_golden_case_gives_its_stored_outcome_on_python36(cases):
    python = py36_python()
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "src"))
    res = subprocess.run(
        [python, os.path.join(ROOT, "tests", "engine", "engine_golden.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert res.stdout.startswith("%d cases, 0 differ" % len(cases)), res.stdout


def test_the_corpus_exercises_every_rule(cases):
    """A regenerated corpus must still reach every decision the engine can take."""
    plans = [c["plan"] for c in cases if "plan" in c]
    skips = Counter(s["reason"] for p in plans for s in p["skipped"])
    cancels = Counter(c["reason"] for p in plans for c in p["cancels"])
    orders = [o for p in plans for o in p["orders"]]
    assert set(skips) == SKIP_REASONS and min(skips.values()) >= 10, skips
    assert set(cancels) == CANCEL_REASONS and min(cancels.values()) >= 10, cancels
    assert {o["side"] for o in orders} == {"buy", "sell"}
    assert any(o["side"] == "sell" and o["volume"] % 10 for o in orders)  # odd lots sold
    assert any(o["volume"] % 100 and o["code"].startswith("688") for o in orders)  # STAR step 1
    assert any(o["code"].endswith(".BJ") for o in orders)
    assert any(o["code"][:2] in ("11", "12") for o in orders)  # convertible bonds
    assert any(
        len({(o["code"], o["side"]) for o in p["orders"]}) < len(p["orders"]) for p in plans
    )  # sliced orders
    modes = Counter(c["scenario"]["follow"]["mode"] for c in cases if "plan" in c)
    assert min(modes["ratio"], modes["weight"]) >= 100, modes
    assert (
        sum(
            1
            for c in cases
            if "plan" in c and (c["scenario"].get("settings") or {}).get("use_sell_proceeds")
        )
        >= 50
    )
    refused = [c["error"] for c in cases if "error" in c]
    assert len(refused) >= 200 and {e["type"] for e in refused} == {"ScenarioError"}
