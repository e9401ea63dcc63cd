"""The events worth a message on the trader's phone, and their defaults.

Each event has a Chinese label, a default on/off, and a default minimum interval
between two messages about the same subject (an account, a client, the database),
so an outage produces one message per interval, not one per request.
"""

from collections import namedtuple

EventType = namedtuple("EventType", "name label enabled interval_seconds threshold_minutes")

EVENTS = {
    e.name: e
    for e in (
        EventType(
            "orders_failed",
            "跟单委托被拒绝或失败 / follower orders rejected or failed",
            True,
            600,
            None,
        ),
        EventType(
            "plan_held", "调仓计划超出限额，等待确认 / plan held for confirmation", True, 1800, None
        ),
        EventType(
            "follower_silent",
            "交易时段跟单端失联 / follower silent during trading hours",
            True,
            1800,
            10,
        ),
        EventType(
            "upload_auth_refused",
            "上传认证失败 / upload refused for auth reasons",
            True,
            1800,
            None,
        ),
        EventType("database_unreachable", "数据库无法连接 / database unreachable", True, 900, None),
        # quality_alerts.py: deviation above the threshold for N rounds; one summary per account and day
        EventType(
            "tracking_deviation",
            "跟踪偏离连续多轮超过阈值 / tracking deviation above the threshold",
            True,
            1800,
            None,
        ),
        EventType(
            "daily_summary", "收盘后每日跟单小结 / daily summary after the close", True, 86400, None
        ),
    )
}

TEST_EVENT = "test"  # `jq2qmt notify test`: always sent, never rate limited


def check_event(name):
    if name not in EVENTS:
        raise ValueError(
            "未知事件 / unknown event %r (one of %s)" % (name, ", ".join(sorted(EVENTS)))
        )
    return EVENTS[name]


def report_events(report):
    """(event, title, text) tuples a follower round report calls for.

    A round with rejected orders or errors -> orders_failed; a held round -> plan_held.
    """
    if not isinstance(report, dict) or report.get("kind", "round") != "round":
        return []
    found = []
    rejected = [r for r in _list(report.get("rejected")) if isinstance(r, dict)]
    errors = [str(e) for e in _list(report.get("errors"))]
    if rejected or errors:
        lines = [
            "- %s %s: %s"
            % (r.get("code", "?"), r.get("side", ""), r.get("reason") or r.get("message") or "")
            for r in rejected[:10]
        ]
        lines += ["- %s" % e[:200] for e in errors[:5]]
        found.append(
            (
                "orders_failed",
                "跟单异常：%d 笔被拒，%d 个错误" % (len(rejected), len(errors)),
                "\n".join(lines),
            )
        )
    if report.get("status") == "held":
        reason = str(report.get("held_reason") or "")[:300]
        found.append(
            (
                "plan_held",
                "调仓计划待确认 / plan held",
                "原因 / reason: %s\n请在网页“跟单”页确认或拒绝。" % reason,
            )
        )
    return found


def _list(value):
    return value if isinstance(value, list) else []
