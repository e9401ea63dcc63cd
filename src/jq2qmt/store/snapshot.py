"""Validated snapshot data: parse an upload body into a `Snapshot`, or say which field is bad.

Rules (architecture §3): strategy name 1-64 printable characters (no "/" or "\\",
which cannot be addressed in a URL); each code a 6-digit exchange code in JoinQuant
(`600000.XSHG`) or QMT (`600000.SH`) form, stored in QMT form; volume a non-negative
integer (negative allowed for `ADJUSTMENT_*` strategies); cost finite and >= 0; no
duplicate code; at most `max_positions` rows; `as_of` an ISO time (no zone = Beijing
time) not in the future; `portfolio` optional with finite `total_value`/`cash` >= 0.
"""

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import List, Optional

from jq2qmt.rules import codes

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
ADJUSTMENT_PREFIX = "ADJUSTMENT_"
MAX_VOLUME = 10**12
AS_OF_FUTURE_TOLERANCE = timedelta(minutes=10)


class SnapshotError(ValueError):
    """A field of a snapshot is invalid; `field` is a path like ``positions[2].volume``."""

    def __init__(self, field, message, code="invalid_field"):
        ValueError.__init__(self, message)
        self.field = field
        self.message = message
        self.code = code


@dataclass
class Snapshot:
    strategy_name: str
    positions: List[dict]  # {"code", "name", "volume", "cost"}, sorted by code
    as_of: Optional[datetime] = None  # naive UTC
    portfolio: Optional[dict] = None  # {"total_value", "cash"}
    hash: str = field(default="")


def is_adjustment(name):
    return name.startswith(ADJUSTMENT_PREFIX)


def canonical_code(value):
    """QMT form (``600000.SH``) of a JoinQuant or QMT code, or None if unknown
    (the one definition of code forms is `jq2qmt.rules.codes`)."""
    if not isinstance(value, str):
        return None
    try:
        return codes.to_qmt(value.strip())
    except codes.CodeError:
        return None


def check_strategy_name(name, field_name="strategy_name"):
    if not isinstance(name, str) or not name.strip():
        raise SnapshotError(field_name, "策略名称不能为空 / strategy name is required")
    if len(name) > 64:
        raise SnapshotError(
            field_name, "策略名称最多 64 个字符 / strategy name is longer than 64 characters"
        )
    if name != name.strip() or not name.isprintable() or "/" in name or "\\" in name:
        raise SnapshotError(
            field_name,
            "策略名称含有不允许的字符 / strategy name contains a character that is not allowed",
        )
    return name


def parse_snapshot(payload, max_positions=5000, now=None):
    """A `Snapshot` from a decoded JSON body, or raise `SnapshotError`."""
    if not isinstance(payload, dict):
        raise SnapshotError(
            "", "请求体必须是 JSON 对象 / body must be a JSON object", "invalid_body"
        )
    name = check_strategy_name(payload.get("strategy_name"))
    raw_positions = payload.get("positions")
    if not isinstance(raw_positions, list):
        raise SnapshotError("positions", "positions 必须是数组 / positions must be an array")
    if len(raw_positions) > max_positions:
        raise SnapshotError(
            "positions",
            "持仓条数超过上限 %d / more than %d positions" % (max_positions, max_positions),
            "too_many_positions",
        )
    positions = [
        _parse_position(item, i, is_adjustment(name)) for i, item in enumerate(raw_positions)
    ]
    _check_unique(positions)
    positions.sort(key=lambda p: p["code"])
    snapshot = Snapshot(
        strategy_name=name,
        positions=positions,
        as_of=_parse_as_of(payload.get("as_of"), now),
        portfolio=_parse_portfolio(payload.get("portfolio")),
    )
    snapshot.hash = snapshot_hash(snapshot.positions, snapshot.portfolio)
    return snapshot


def snapshot_hash(positions, portfolio):
    """SHA-256 over the canonical JSON of positions + portfolio (not as_of)."""
    text = json.dumps(
        {"positions": positions, "portfolio": portfolio},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _parse_position(item, index, allow_negative):
    where = "positions[%d]" % index
    if not isinstance(item, dict):
        raise SnapshotError(where, "每条持仓必须是 JSON 对象 / each position must be an object")
    code = canonical_code(item.get("code"))
    if code is None:
        raise SnapshotError(
            where + ".code",
            "证券代码无效，应为 600000.XSHG 或 600000.SH 形式 / "
            "unknown code, expected e.g. 600000.XSHG or 600000.SH",
        )
    volume = _integer(item.get("volume"), where + ".volume")
    if volume < 0 and not allow_negative:
        raise SnapshotError(
            where + ".volume",
            "数量不能为负（仅 ADJUSTMENT_ 策略可以） / "
            "volume must not be negative (only ADJUSTMENT_ strategies may)",
        )
    cost = _number(item.get("cost"), where + ".cost", "成本")
    name = item.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > 64):
        raise SnapshotError(
            where + ".name",
            "名称必须是不超过 64 个字符的字符串 / name must be a string of at most 64 characters",
        )
    return {"code": code, "name": name or None, "volume": volume, "cost": cost}


def _integer(value, where):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SnapshotError(where, "数量必须是整数 / volume must be an integer")
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise SnapshotError(where, "数量必须是整数 / volume must be an integer")
        value = int(value)
    if abs(value) >= MAX_VOLUME:
        raise SnapshotError(where, "数量过大 / volume is too large")
    return value


def _number(value, where, label):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SnapshotError(
            where, "%s必须是数字 / %s must be a number" % (label, where.rsplit(".", 1)[-1])
        )
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise SnapshotError(
            where,
            "%s必须是有限且不小于 0 的数 / %s must be finite and >= 0"
            % (label, where.rsplit(".", 1)[-1]),
        )
    return value


def _check_unique(positions):
    seen = {}
    for index, position in enumerate(positions):
        if position["code"] in seen:
            raise SnapshotError(
                "positions[%d].code" % index,
                "代码 %s 重复（与 positions[%d]） / duplicate code %s (same as positions[%d])"
                % (
                    position["code"],
                    seen[position["code"]],
                    position["code"],
                    seen[position["code"]],
                ),
                "duplicate_code",
            )
        seen[position["code"]] = index


TIME_MIN_YEAR, TIME_MAX_YEAR = 1990, 2200  # accepted years of a time field (parse_time)


def parse_time(value, where="as_of"):
    """Naive UTC datetime from an ISO 8601 string; no zone means Beijing time."""
    if not isinstance(value, str):
        raise SnapshotError(where, "时间必须是 ISO 8601 字符串 / time must be an ISO 8601 string")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise SnapshotError(where, "时间格式无效 / invalid ISO 8601 time")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=BEIJING)
    # Years outside this range are typing errors; they also overflow the UTC
    # conversion (year 1, year 9999 with a negative offset) and some databases.
    if not TIME_MIN_YEAR <= parsed.year <= TIME_MAX_YEAR:
        raise SnapshotError(
            where,
            "%s 年份必须在 %d-%d 之间 / %s year must be between %d and %d"
            % (where, TIME_MIN_YEAR, TIME_MAX_YEAR, where, TIME_MIN_YEAR, TIME_MAX_YEAR),
        )
    return parsed.astimezone(timezone.utc).replace(tzinfo=None)


def _parse_as_of(value, now):
    if value is None:
        return None
    as_of = parse_time(value)
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    if as_of > now + AS_OF_FUTURE_TOLERANCE:
        raise SnapshotError(
            "as_of",
            "as_of 在未来（检查策略时钟） / as_of is in the future (check the strategy clock)",
        )
    return as_of


def _parse_portfolio(value):
    if value is None:
        return None
    if not isinstance(value, dict):
        raise SnapshotError("portfolio", "portfolio 必须是 JSON 对象 / portfolio must be an object")
    result = {}
    for key, label in (("total_value", "总资产"), ("cash", "现金")):
        if value.get(key) is not None:
            result[key] = _number(value[key], "portfolio." + key, label)
    return result or None


def format_time(value):
    """ISO 8601 in Beijing time with offset, seconds precision; None stays None."""
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc).astimezone(BEIJING).replace(microsecond=0).isoformat()
