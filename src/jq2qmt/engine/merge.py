"""Merge the followed strategies' targets and scale them to the account.

Rule (docs/engine.md, `follow.mode`):
- ratio: target volume = sum over followed strategies of ratio x volume;
- weight: target value = sum of capital x (volume x last) / portfolio_value, and
  target volume = target value / last. The price cancels out, so the volume is
  sum of capital x volume / portfolio_value: the account holds the same weight of
  `capital` as the strategy holds of its portfolio. It is computed in that form,
  which needs no quote and has no rounding noise.
The merged volume is floored to an integer (a small tolerance absorbs float noise
such as 0.29 x 100 = 28.999999999999996) and negative sums (adjustment strategies)
become 0: the follower never sells short.
"""

import math

from ..rules import codes
from .errors import ScenarioError

_TOLERANCE = 1e-9


def floor_volume(value):
    """Floor a merged volume to an int, forgiving float noise; never below 0."""
    floored = math.floor(value + _TOLERANCE * max(abs(value), 1.0))  # an int
    return max(floored, 0)


def _scale(follow, strategy_name, target):
    entry = follow["strategies"].get(strategy_name)
    if entry is None:
        return None
    if follow["mode"] == "ratio":
        return float(entry["ratio"])
    value = target.get("portfolio_value")
    if not value or value <= 0:
        raise ScenarioError(
            "targets.%s.portfolio_value" % strategy_name,
            "weight 模式必须提供 / required in weight mode",
        )
    return float(entry["capital"]) / float(value)


def merge_targets(targets, follow, quotes=None):
    """Merged, scaled target volume per QMT code: {code: int}, sorted by code.

    `targets` and `follow` have the contract's shape (codes in either form).
    Strategies that `follow` does not name are left out. `quotes` is accepted for
    the weight mode's formula but not needed, because the price cancels out (see the
    module docstring). Codes of followed strategies appear even with target 0.
    """
    sums = {}
    for target in targets:
        scale = _scale(follow, target["strategy"], target)
        if scale is None:
            continue
        for pos in target["positions"]:
            code = codes.normalize(pos["code"])
            sums[code] = sums.get(code, 0.0) + scale * pos["volume"]
    return {code: floor_volume(sums[code]) for code in sorted(sums)}
