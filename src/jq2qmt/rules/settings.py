"""A follower account's trading settings: their defaults and the rule of each field.

The one definition of them: the admin API and the CLI check a change with these rules
before it is stored (jq2qmt.store.account_settings), and the follower checks the plan's
settings with the same rules before it trades on them. A rule raises
`SettingError(field, message)` naming the offending field.

The settings (docs/api.md):
- ignore: codes (either form, kept as QMT codes), bare six-digit numbers, or patterns
  with '*'/'?' such as '1318*'; at most `MAX_IGNORE` entries;
- min_order_value >= 0; max_order_value, slice_value: > 0 or null (no limit);
- max_turnover: a fraction of the total asset (0.3 = 30 %), > 0 and <= 10, or null;
- use_sell_proceeds: bool; slippage: 0..0.1;
- order_timeout: seconds 1..3600 or null (never re-price); max_reprices: 0..100;
- sessions: 1..6 non-overlapping ["HH:MM", "HH:MM"] windows inside 09:15-15:00.

Bundled into the exported QMT file: Python 3.6, stdlib only.
"""

import math
import re

from . import codes
from .sessions import DEFAULT_SESSIONS, SESSION_BOUNDS

DEFAULTS = {
    "ignore": [],
    "min_order_value": 0,
    "max_order_value": None,
    "max_turnover": None,
    "slice_value": None,
    "use_sell_proceeds": False,
    "slippage": 0.002,
    "order_timeout": 30,
    "max_reprices": 3,
    "sessions": DEFAULT_SESSIONS,
}
KEYS = tuple(DEFAULTS)
MAX_IGNORE = 200
MAX_MONEY = 1e13
MAX_SLIPPAGE = 0.1
MAX_TURNOVER = 10
MAX_SESSIONS = 6
_PATTERN = re.compile(r"^[0-9A-Z.*?]{1,20}$")
_NUMBER = re.compile(r"^[0-9]{6}$")
HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")  # a time of day, as sessions write it


class SettingError(ValueError):
    """A field of an account's settings is invalid."""

    def __init__(self, field, message):
        ValueError.__init__(self, "%s: %s" % (field, message))
        self.field = field
        self.message = message


def check_bool(value, field):
    """`value` if it is true or false (never 0/1 or "yes")."""
    if not isinstance(value, bool):
        raise SettingError(field, "必须是 true 或 false / must be true or false")
    return value


def check_number(value, field, minimum=None, maximum=None, positive=False, nullable=False):
    """A finite number within the bounds (an int when it is whole), or None if nullable."""
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


def _ignore_entry(entry, field):
    """One ignore entry, normalized: a pattern upper-cased, a bare number as given (it
    matches that number on either exchange), anything else read as a code."""
    text = entry.strip() if isinstance(entry, str) else entry
    if not isinstance(text, str) or not text:
        raise SettingError(field, "必须是非空字符串 / must be a non-empty string")
    if "*" in text or "?" in text:
        if not _PATTERN.match(text.upper()):
            raise SettingError(
                field,
                "模式只能含数字、字母、. * ? / a pattern may only "
                "hold digits, letters, '.', '*' and '?'",
            )
        return text.upper()
    if _NUMBER.match(text):
        return text
    try:
        return codes.normalize(text)
    except codes.CodeError as exc:
        raise SettingError(field, str(exc))


def check_ignore(value, field="ignore"):
    """The ignore list normalized (see `_ignore_entry`), without repeats."""
    if not isinstance(value, list):
        raise SettingError(field, "必须是代码数组 / must be an array of codes")
    if len(value) > MAX_IGNORE:
        raise SettingError(field, "最多 %d 项 / at most %d entries" % (MAX_IGNORE, MAX_IGNORE))
    entries = [_ignore_entry(entry, "%s[%d]" % (field, i)) for i, entry in enumerate(value)]
    return list(dict.fromkeys(entries))


def _minutes(text):
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def check_sessions(value, field="sessions"):
    """The trading windows, sorted; each inside the exchange's day, none overlapping."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_SESSIONS:
        raise SettingError(
            field, '需为 1-6 个 ["HH:MM", "HH:MM"] 时段 / must be 1-6 ["HH:MM", "HH:MM"] windows'
        )
    first, last = SESSION_BOUNDS
    windows = []
    for i, pair in enumerate(value):
        where = "%s[%d]" % (field, i)
        if not (
            isinstance(pair, list)
            and len(pair) == 2
            and all(isinstance(t, str) and HHMM.match(t) for t in pair)
        ):
            raise SettingError(where, '需为 ["HH:MM", "HH:MM"] / must be ["HH:MM", "HH:MM"]')
        start, end = _minutes(pair[0]), _minutes(pair[1])
        if end <= start:
            raise SettingError(where, "结束时间需晚于开始时间 / must end after it starts")
        if start < _minutes(first) or end > _minutes(last):
            raise SettingError(
                where, "需在 %s-%s 之内 / must lie within %s-%s" % (first, last, first, last)
            )
        windows.append((start, end, list(pair)))
    windows.sort()
    for before, after in zip(windows, windows[1:]):
        if after[0] < before[1]:
            raise SettingError(field, "时段不能重叠 / windows must not overlap")
    return [w[2] for w in windows]


def check_setting(key, value, field=None):
    """The normalized value of one setting, or raise SettingError naming `field`
    (default: the key)."""
    field = field or key
    if key == "ignore":
        return check_ignore(value, field)
    if key == "min_order_value":
        return check_number(value, field, minimum=0, maximum=MAX_MONEY)
    if key in ("max_order_value", "slice_value"):
        return check_number(value, field, positive=True, maximum=MAX_MONEY, nullable=True)
    if key == "max_turnover":
        return check_number(value, field, positive=True, maximum=MAX_TURNOVER, nullable=True)
    if key == "use_sell_proceeds":
        return check_bool(value, field)
    if key == "slippage":
        return check_number(value, field, minimum=0, maximum=MAX_SLIPPAGE)
    if key == "order_timeout":
        return check_number(value, field, minimum=1, maximum=3600, nullable=True)
    if key == "max_reprices":
        number = check_number(value, field, minimum=0, maximum=100)
        if not isinstance(number, int):
            raise SettingError(field, "必须是整数 / must be an integer")
        return number
    if key == "sessions":
        return check_sessions(value, field)
    raise SettingError(field, "未知设置 / unknown setting")


def full_settings(stored):
    """`stored` settings (already checked) with every missing key set to its default
    (fresh copies of the default lists)."""
    result = {
        "ignore": [],
        "sessions": [list(pair) for pair in DEFAULTS["sessions"]],
    }
    for key, value in DEFAULTS.items():
        result.setdefault(key, value)
    result.update(stored or {})
    return result
