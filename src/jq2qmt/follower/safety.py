"""Safety checks of the follower: plan validation, ignore patterns, holds.

Each rule here exists because the original script lost money without it: a failed
fetch read as "hold nothing" sold whole accounts, so a plan is validated before use
and a plan that would empty the account is held unless it is really meant.

Bundled into the exported QMT file: Python 3.6, stdlib only.
"""

import datetime
import json

from ..rules import settings as account_settings
from ..rules.ignore import matches_ignore
from . import scheduler

FOLLOW_MODES = ("ratio", "weight")
# Settings the engine understands (the scenario contract, docs/engine.md); the rest are the follower's.
ENGINE_SETTINGS = (
    "slippage",
    "min_order_value",
    "max_order_value",
    "use_sell_proceeds",
    "slice_value",
    "fees",
)
# A weight-mode account whose asset is further than this from its capital is warned about.
CAPITAL_WARN_RATIO = 0.2


class PlanError(Exception):
    """The plan from the server is malformed: nothing may be traded on it."""


def _require(cond, message):
    if not cond:
        raise PlanError("计划格式错误 / malformed plan: " + message)


def _number_or_none(value):
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def validate_plan(plan):
    """Check the plan's shape (docs/api.md); returns its settings with defaults filled in."""
    _require(isinstance(plan, dict), "not an object")
    _require(
        isinstance(plan.get("plan_version"), str) and plan["plan_version"] != "", "plan_version"
    )
    _require(isinstance(plan.get("paused"), bool), "paused")
    _require(isinstance(plan.get("dry_run"), bool), "dry_run")
    targets = plan.get("targets")
    _require(isinstance(targets, list), "targets")
    for target in targets:
        _require(
            isinstance(target, dict) and isinstance(target.get("strategy"), str),
            "targets[].strategy",
        )
        _require(isinstance(target.get("positions"), list), "targets[].positions")
        for pos in target["positions"]:
            _require(
                isinstance(pos, dict) and isinstance(pos.get("code"), str),
                "targets[].positions[].code",
            )
            _require(
                isinstance(pos.get("volume"), int) and not isinstance(pos["volume"], bool),
                "targets[].positions[].volume",
            )
    follow = plan.get("follow")
    _require(isinstance(follow, dict) and follow.get("mode") in FOLLOW_MODES, "follow.mode")
    _require(isinstance(follow.get("strategies"), dict), "follow.strategies")
    given = plan.get("settings") or {}
    _require(isinstance(given, dict), "settings")
    settings = account_settings.full_settings(given)
    # Every setting this follower knows is checked with the server's own rules; one it
    # does not know (from a newer server) is passed on untouched.
    for key in account_settings.KEYS:
        try:
            settings[key] = account_settings.check_setting(key, settings[key], "settings." + key)
        except account_settings.SettingError as exc:
            raise PlanError("计划格式错误 / malformed plan: %s" % exc)
    settings["sessions"] = scheduler.parse_sessions(settings["sessions"])
    settings["holidays"] = parse_calendar(plan.get("calendar"))
    return settings


def _iso_date(text):
    """'2026-10-01' -> date; None unless exactly YYYY-MM-DD with ASCII digits."""
    if not isinstance(text, str) or len(text) != 10 or text[4] != "-" or text[7] != "-":
        return None
    parts = (text[:4], text[5:7], text[8:])
    if not all(p and all("0" <= c <= "9" for c in p) for p in parts):
        return None
    try:
        return datetime.date(int(parts[0]), int(parts[1]), int(parts[2]))
    except ValueError:
        return None


def parse_calendar(calendar):
    """The plan's `calendar` ({"holidays": ["2026-10-01", ...], "from", "to", "source",
    "known"}) -> frozenset of the weekday closures it names. Absent: an empty set (the
    follower then trades on weekdays, as it does for any date the calendar does not
    list, e.g. a year the server's calendar does not know yet)."""
    if calendar is None:
        return frozenset()
    _require(isinstance(calendar, dict), "calendar")
    holidays = calendar.get("holidays", [])
    _require(isinstance(holidays, list), "calendar.holidays")
    dates = []
    for text in holidays:
        day = _iso_date(text)
        _require(day is not None, "calendar.holidays[] (YYYY-MM-DD)")
        dates.append(day)
    for key in ("from", "to"):
        if calendar.get(key) is not None:
            _require(_iso_date(calendar[key]) is not None, "calendar." + key)
    _require(isinstance(calendar.get("known", True), bool), "calendar.known")
    return frozenset(dates)


def content_key(plan):
    """What a plan asks for, without its version and approval fields."""
    keep = dict((k, plan.get(k)) for k in ("targets", "follow", "settings", "paused", "dry_run"))
    return json.dumps(keep, sort_keys=True, ensure_ascii=True)


def followed_strategies_all_empty(plan):
    """True when every followed strategy is present in the plan with an empty snapshot."""
    by_name = dict((t["strategy"], t) for t in plan["targets"])
    names = list(plan["follow"]["strategies"])
    if not names:
        return False
    for name in names:
        target = by_name.get(name)
        if target is None or target["positions"]:
            return False
    return True


def empty_account_hold(plan, positions, engine_targets, ignore):
    """A hold reason when the plan would sell everything in a non-empty account."""
    held = [p for p in positions if p["volume"] > 0 and not matches_ignore(p["code"], ignore)]
    if not held:
        return None
    if any(v > 0 for code, v in engine_targets.items() if not matches_ignore(code, ignore)):
        return None
    if followed_strategies_all_empty(plan):
        return None
    return (
        "计划会清空账户，但并非所有跟随策略都上传了空仓 / the plan would sell the whole "
        "account while a followed strategy has no empty snapshot"
    )


def order_value_hold(skipped):
    """A hold reason when max_order_value held back part of an order (the engine caps
    orders and names the rest "over_max_order_value"); approval trades it in full."""
    over = sorted(set(s.get("code") for s in skipped if s.get("reason") == "over_max_order_value"))
    if not over:
        return None
    return (
        "单笔金额超过上限 %s / an order exceeds max_order_value, waiting for approval"
        % ",".join(str(c) for c in over)
    )


def turnover_hold(orders, total_asset, max_turnover):
    """A hold reason when the orders' value exceeds `max_turnover` of the total asset."""
    if max_turnover is None or not orders:
        return None
    value = sum(o["volume"] * o["price"] for o in orders)
    if total_asset <= 0:
        return None if value <= 0 else "总资产为 0 / total asset is zero"
    turnover = value / float(total_asset)
    if turnover > float(max_turnover):
        return (
            "换手率 %.1f%% 超过上限 %.1f%% / turnover above max_turnover, waiting for approval"
            % (turnover * 100, float(max_turnover) * 100)
        )
    return None


def capital_warning(plan, total_asset):
    """Weight mode: warn when the account's asset is far from the capital it follows."""
    follow = plan["follow"]
    if follow["mode"] != "weight":
        return None
    capital = 0.0
    for entry in follow["strategies"].values():
        if isinstance(entry, dict) and _number_or_none(entry.get("capital")):
            capital += float(entry.get("capital") or 0)
    if capital <= 0:
        return None
    if abs(total_asset - capital) / capital > CAPITAL_WARN_RATIO:
        return (
            "警告：账户总资产 %.0f 与跟随资金 %.0f 相差较大 / warning: total asset far "
            "from followed capital" % (total_asset, capital)
        )
    return None
