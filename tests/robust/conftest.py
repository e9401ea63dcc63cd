"""Fixtures of the robustness suites and their summary lines.

Every suite records its figures with the `figures` fixture::

    figures("schema fuzzing", cases=1200, failures=0)
    figures("database faults", cases=80, faults=2, lost=0)

and the terminal summary prints one line per suite, whatever `-s`/`-q` says::

    robust: schema fuzzing: cases 1200, failures 0
    robust: database faults: cases 80, failures 0, faults injected 2, data lost 0

Figures add up over the parametrized runs of a suite (e.g. the three databases).
"""

import collections

import pytest

_FIGURES = collections.OrderedDict()
_ORDER = ("cases", "failures", "faults", "lost")
_LABELS = {
    "cases": "cases",
    "failures": "failures",
    "faults": "faults injected",
    "lost": "data lost",
}


def record(suite, **counts):
    totals = _FIGURES.setdefault(suite, collections.OrderedDict())
    for key, value in counts.items():
        totals[key] = totals.get(key, 0) + int(value)


@pytest.fixture
def figures():
    """``figures(suite, cases=, failures=, faults=, lost=)`` adds to the suite's line."""
    return record


def pytest_terminal_summary(terminalreporter):
    if not _FIGURES:
        return
    terminalreporter.section("robustness figures")
    for suite, totals in _FIGURES.items():
        parts = ["%s %d" % (_LABELS[key], totals[key]) for key in _ORDER if key in totals]
        parts += ["%s %d" % (key, value) for key, value in totals.items() if key not in _ORDER]
        terminalreporter.write_line("robust: %s: %s" % (suite, ", ".join(parts)))
