"""Validation of a follower account's fields and its changes.

One definition for the CLI, the admin API and the database layer: each function
raises `SettingError(field, message)` naming the offending field, so a bad value is
refused before anything is written. The trading settings themselves (their defaults
and the rule of each) live in jq2qmt.rules.settings, which the follower shares; this
module adds the account's own fields (id, name, mode, follow ratio/capital) and reads
a PATCH. A PATCH may also carry follow changes (`check_follow_changes`).
"""

import re

from jq2qmt.rules.settings import (
    DEFAULTS,
    MAX_MONEY,
    SettingError,
    check_bool,
    check_number,
    check_setting,
    full_settings,
)
from jq2qmt.store.snapshot import SnapshotError, check_strategy_name

__all__ = [
    "ACCOUNT_KEYS",
    "MODES",
    "SETTING_KEYS",
    "SettingError",
    "check_account_id",
    "check_capital",
    "check_changes",
    "check_follow_changes",
    "check_mode",
    "check_name",
    "check_ratio",
    "check_setting",
    "full_settings",
]

MODES = ("ratio", "weight")
SETTING_KEYS = tuple(DEFAULTS)
ACCOUNT_KEYS = ("name", "mode", "paused", "dry_run")
MAX_RATIO = 1000.0
_ACCOUNT_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,40}$")


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


def check_ratio(value, field="ratio"):
    """Volume ratio of ratio mode: > 0 and <= 1000."""
    return check_number(value, field, positive=True, maximum=MAX_RATIO)


def check_capital(value, field="capital"):
    """Capital of weight mode, in yuan: > 0."""
    return check_number(value, field, positive=True, maximum=MAX_MONEY)


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
            fields[key] = check_bool(value, key)
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
