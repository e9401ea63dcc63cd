"""Validation of a follower account's fields and trading settings.

One definition for the CLI, the admin API and the database layer: each function
raises `SettingError(field, message)` naming the offending field, so a bad value is
refused before anything is written.

Settings (what the follower reads from the plan, see docs/api.md):
- ignore: codes (either form, stored as QMT codes), bare six-digit numbers, or
  patterns with '*'/'?' such as '1318*'; at most `MAX_IGNORE` entries;
- min_order_value >= 0; max_order_value, slice_value: > 0 or null (no limit);
- max_turnover: a fraction of the total asset (0.3 = 30 %), > 0 and <= 10, or null;
- use_sell_proceeds: bool; slippage: 0..0.1;
- order_timeout: seconds 1..3600 or null (never re-price); max_reprices: 0..100;
- sessions: 1..6 non-overlapping ["HH:MM", "HH:MM"] windows inside 09:15-15:00.
A PATCH may also carry follow changes (`check_follow_changes`), checked with the rest.
"""

import math
import re

from jq2qmt.engine.errors import ScenarioError
from jq2qmt.engine.scenario import parse_settings
from jq2qmt.store.snapshot import SnapshotError, check_strategy_name

MODES = ("ratio", "weight")
DEFAULT_SETTINGS = {
    "ignore": [],
    "min_order_value": 0,
    "max_order_value": None,
    "max_turnover": None,
    "slice_value": None,
    "use_sell_proceeds": False,
    "slippage": 0.002,
    "order_timeout": 30,
    "max_reprices": 3,
    "sessions": [["09:30", "11:30"], ["13:00", "14:57"]],
}
SETTING_KEYS = tuple(DEFAULT_SETTINGS)
ACCOUNT_KEYS = ("name", "mode", "paused", "dry_run")
MAX_IGNORE = 200
MAX_MONEY = 1e13
MAX_RATIO = 1000.0
_ACCOUNT_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,40}$")
_PATTERN = re.compile(r"^[0-9A-Z.*?]{1,20}$")
_NUMBER = re.compile(r"^[0-9]{6}$")
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
_DAY_START, _DAY_END = "09:15", "15:00"


class SettingError(ValueError):
    """A field of an account change is invalid."""

    def __init__(self, field, message):
        ValueError.__init__(self, "%s: %s" % (field, message))
        self.field = field
        self.message = message


def check_account_id(value, field="account_id"):
    """1-40 characters of letters, digits, '_', '-', '.' (QMT ids are digits)."""
    if not isinstance(value, str) or not _ACCOUNT_ID.match(value):
        raise SettingError(
            field,
            "账户 ID 需为 1-40 个字母、数字或 _-. / account id must be 1-40 letters, digits or _-.",
        )
    return value


def check_name(value, field="name"):
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value.strip()) > 64
        or not value.strip().isprintable()
    ):
        raise SettingError(
            field, "名称需为 1-64 个可打印字符 / name must have 1-64 printable characters"
        )
    return value.strip()


def check_mode(value, field="mode"):
    if value not in MODES:
        raise SettingError(field, "跟单方式只能是 ratio 或 weight / mode must be ratio or weight")
    return value


def _bool(value, field):
    if not isinstance(value, bool):
        raise SettingError(field, "必须是 true 或 false / must be true or false")
    return value


def _number(value, field, minimum=None, maximum=None, positive=False, nullable=False):
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SettingError(
            field,
            "必须是数字%s / must be a number%s"
            % ("或 null" if nullable else "", " or null" if nullable else ""),
        )
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        raise SettingError(field, "必须是有限数 / must be finite")
    if positive and value <= 0:
        raise SettingError(field, "必须大于 0 / must be greater than 0")
    if minimum is not None and value < minimum:
        raise SettingError(field, "不能小于 %g / must be at least %g" % (minimum, minimum))
    if maximum is not None and value > maximum:
        raise SettingError(field, "不能大于 %g / must be at most %g" % (maximum, maximum))
    return int(value) if value.is_integer() else value


def check_ratio(value, field="ratio"):
    """Volume ratio of ratio mode: > 0 and <= 1000."""
    return _number(value, field, positive=True, maximum=MAX_RATIO)


def check_capital(value, field="capital"):
    """Capital of weight mode, in yuan: > 0."""
    return _number(value, field, positive=True, maximum=MAX_MONEY)


def _ignore(value, field):
    if not isinstance(value, list):
        raise SettingError(field, "必须是代码数组 / must be an array of codes")
    if len(value) > MAX_IGNORE:
        raise SettingError(field, "最多 %d 项 / at most %d entries" % (MAX_IGNORE, MAX_IGNORE))
    for i, entry in enumerate(value):
        text = entry.strip().upper() if isinstance(entry, str) else entry
        if isinstance(text, str) and ("*" in text or "?" in text) and not _PATTERN.match(text):
            raise SettingError(
                "%s[%d]" % (field, i),
                "模式只能含数字、字母、. * ? / a pattern may only "
                "hold digits, letters, '.', '*' and '?'",
            )
    cleaned = [e.strip() if isinstance(e, str) else e for e in value]
    # a bare number ('511880') matches that code on either exchange (the follower's
    # reading); everything else is read by the engine's own rules
    numbers = set(i for i, e in enumerate(cleaned) if isinstance(e, str) and _NUMBER.match(e))
    try:
        parsed = parse_settings({"ignore": [e for i, e in enumerate(cleaned) if i not in numbers]})[
            "ignore"
        ]
    except ScenarioError as exc:
        index = int(exc.field.split("[")[1].rstrip("]"))
        original = [i for i in range(len(cleaned)) if i not in numbers][index]
        raise SettingError("%s[%d]" % (field, original), exc.reason)
    parsed = iter(parsed)
    return list(dict.fromkeys(e if i in numbers else next(parsed) for i, e in enumerate(cleaned)))


def _minutes(text):
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _sessions(value, field):
    if not isinstance(value, list) or not 1 <= len(value) <= 6:
        raise SettingError(
            field, '需为 1-6 个 ["HH:MM", "HH:MM"] 时段 / must be 1-6 ["HH:MM", "HH:MM"] windows'
        )
    windows = []
    for i, pair in enumerate(value):
        where = "%s[%d]" % (field, i)
        if not (
            isinstance(pair, list)
            and len(pair) == 2
            and all(isinstance(t, str) and _HHMM.match(t) for t in pair)
        ):
            raise SettingError(where, '需为 ["HH:MM", "HH:MM"] / must be ["HH:MM", "HH:MM"]')
        start, end = _minutes(pair[0]), _minutes(pair[1])
        if end <= start:
            raise SettingError(where, "结束时间需晚于开始时间 / must end after it starts")
        if start < _minutes(_DAY_START) or end > _minutes(_DAY_END):
            raise SettingError(
                where,
                "需在 %s-%s 之内 / must lie within %s-%s"
                % (_DAY_START, _DAY_END, _DAY_START, _DAY_END),
            )
        windows.append((start, end, list(pair)))
    windows.sort()
    for before, after in zip(windows, windows[1:]):
        if after[0] < before[1]:
            raise SettingError(field, "时段不能重叠 / windows must not overlap")
    return [w[2] for w in windows]


def check_setting(key, value, field=None):
    """The normalized value of one setting, or raise SettingError."""
    field = field or key
    if key == "ignore":
        return _ignore(value, field)
    if key == "min_order_value":
        return _number(value, field, minimum=0, maximum=MAX_MONEY)
    if key in ("max_order_value", "slice_value"):
        return _number(value, field, positive=True, maximum=MAX_MONEY, nullable=True)
    if key == "max_turnover":
        return _number(value, field, positive=True, maximum=10, nullable=True)
    if key == "use_sell_proceeds":
        return _bool(value, field)
    if key == "slippage":
        return _number(value, field, minimum=0, maximum=0.1)
    if key == "order_timeout":
        return _number(value, field, minimum=1, maximum=3600, nullable=True)
    if key == "max_reprices":
        number = _number(value, field, minimum=0, maximum=100)
        if not isinstance(number, int):
            raise SettingError(field, "必须是整数 / must be an integer")
        return number
    if key == "sessions":
        return _sessions(value, field)
    raise SettingError(field, "未知设置 / unknown setting")


def check_changes(changes):
    """Validate a PATCH-style dict of account fields and settings; returns
    ``(account_fields, settings)`` normalized. A nested "settings" object is merged."""
    if not isinstance(changes, dict):
        raise SettingError("", "请求体必须是 JSON 对象 / body must be a JSON object")
    flat = dict((k, v) for k, v in changes.items() if k != "settings")
    nested = changes.get("settings")
    if nested is not None:
        if not isinstance(nested, dict):
            raise SettingError("settings", "必须是对象 / must be an object")
        for key, value in nested.items():
            if key in flat:
                raise SettingError("settings." + key, "与顶层字段重复 / given twice")
            flat[key] = value
    if not flat:
        raise SettingError("", "没有要修改的字段 / nothing to change")
    fields, settings = {}, {}
    for key in sorted(flat):
        value = flat[key]
        if key == "name":
            fields[key] = check_name(value)
        elif key == "mode":
            fields[key] = check_mode(value)
        elif key in ("paused", "dry_run"):
            fields[key] = _bool(value, key)
        elif key in SETTING_KEYS:
            settings[key] = check_setting(key, value)
        else:
            raise SettingError(key, "未知字段 / unknown field")
    return fields, settings


def check_follow_changes(value, field="follow"):
    """The follow changes of a PATCH: {strategy: {"ratio": x} | {"capital": x} | None}
    (None: unfollow), each name and number checked; returns them normalized."""
    if not isinstance(value, dict):
        raise SettingError(
            field,
            '必须是 {策略: {"ratio"|"capital": 数} 或 null} 对象 / must be an object '
            '{strategy: {"ratio"|"capital": number} or null}',
        )
    result = {}
    for name in sorted(value):
        where = "%s.%s" % (field, name)
        try:
            check_strategy_name(name, where)
        except SnapshotError as exc:
            raise SettingError(where, exc.message)
        entry = value[name]
        if entry is None:
            result[name] = None
            continue
        if not isinstance(entry, dict) or len(entry) != 1 or set(entry) - {"ratio", "capital"}:
            raise SettingError(
                where, "需要 ratio 或 capital 之一 / give exactly one of ratio or capital"
            )
        if "ratio" in entry:
            result[name] = {"ratio": check_ratio(entry["ratio"], where + ".ratio")}
        else:
            result[name] = {"capital": check_capital(entry["capital"], where + ".capital")}
    return result


def full_settings(stored):
    """Stored settings with every missing key filled with its default."""
    result = dict((k, list(v) if isinstance(v, list) else v) for k, v in DEFAULT_SETTINGS.items())
    result.update(stored or {})
    return result
