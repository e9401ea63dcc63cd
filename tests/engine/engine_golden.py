"""Replay the golden corpus (tests/engine/golden/cases.jsonl.gz) through compute_plan.

Shared by the corpus generator (tests/engine/golden/generate.py), the golden test, and
the same test on CPython 3.6 (QMT's Python), which runs this file as a script:

    PYTHONPATH=src python3.6 tests/engine/engine_golden.py

It prints the number of cases and the names of those whose outcome differs, and
exits 1 when any does. Python 3.6 syntax, stdlib only.
"""

import copy
import gzip
import json
import os
import sys

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "cases.jsonl.gz")


def dumps(value):
    """The one serialization of the corpus: key order kept, floats by repr, so two
    outcomes are equal exactly when their texts are (100 and 100.0 differ)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def outcome(scenario):
    """{"plan": ...} or {"error": {"type", "message"}} for one raw scenario."""
    from jq2qmt.engine.plan import compute_plan

    try:
        return {"plan": compute_plan(copy.deepcopy(scenario))}
    except Exception as exc:  # every refusal is pinned, including unexpected ones
        return {"error": {"type": type(exc).__name__, "message": str(exc)}}


def load(path=CORPUS):
    """The cases of the corpus, in order: dicts with name, scenario, plan or error."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def expected_text(case):
    return dumps({key: case[key] for key in ("plan", "error") if key in case})


def differences(cases):
    """[(name, expected text, actual text)] of the cases whose outcome changed."""
    found = []
    for case in cases:
        expected = expected_text(case)
        actual = dumps(outcome(case["scenario"]))
        if actual != expected:
            found.append((case["name"], expected, actual))
    return found


def main():
    cases = load()
    diffs = differences(cases)
    print("%d cases, %d differ" % (len(cases), len(diffs)))
    for name, _, _ in diffs[:50]:
        print("differs: " + name)
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
