"""Quality notifications, run by the watchdog (jq2qmt.notify.watchdog):

- tracking_deviation: an account's tracking deviation (jq2qmt.store.quality) stayed
  above `DEVIATION_PCT` percent for `DEVIATION_ROUNDS` rounds today. A follower sends a
  round report only when something changed (otherwise a heartbeat), so the rounds
  counted are the newest recorded rounds above the threshold in a row, plus one per
  `ROUND_SECONDS` (the follower's resync interval) that the follower stayed alive
  after the newest one without reporting a change. The dispatcher's rate limit (the
  event's interval) keeps a lasting gap to one message per interval. Both numbers can be set for the server process with the
  environment variables JQ2QMT_DEVIATION_ALERT_PCT and JQ2QMT_DEVIATION_ALERT_ROUNDS.
- daily_summary: after the close of a trading day (`SUMMARY_AFTER`, Beijing time), one
  message per account that traded or reported that day: assets, deviation, orders,
  fill rate, slippage, rejects, orders still open. Sent once per account and day (the
  dispatcher's throttle row for "account day" marks it sent, in every process).
"""

import logging
import os
from datetime import datetime, timedelta, timezone
from datetime import time as dtime

from sqlalchemy import select

from jq2qmt.notify.store import NotifyThrottle

log = logging.getLogger("jq2qmt.notify")

DEVIATION_EVENT = "tracking_deviation"
SUMMARY_EVENT = "daily_summary"
DEVIATION_PCT = 2.0
DEVIATION_ROUNDS = 3
SUMMARY_AFTER = dtime(15, 5)
ROUND_SECONDS = 60.0  # a follower's full round at least this often while it is alive


def _env_number(name, default, kind):
    text = os.environ.get(name)
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        log.warning("event=bad_setting name=%s value=%r: using %s", name, text, default)
        return default
    return value if value > 0 else default


def thresholds():
    """(percent, rounds) of the deviation alert."""
    return (
        _env_number("JQ2QMT_DEVIATION_ALERT_PCT", DEVIATION_PCT, float),
        _env_number("JQ2QMT_DEVIATION_ALERT_ROUNDS", DEVIATION_ROUNDS, int),
    )


def deviating_accounts(session, day, pct, rounds):
    """[(account_id, [deviation % of the recorded rounds, newest first])] of unpaused
    accounts whose deviation stayed above `pct` percent for `rounds` rounds of `day`
    (a date; rounds counted as the module docstring says)."""
    from jq2qmt.store.accounts import Account
    from jq2qmt.store.quality import QualityRound

    found = []
    for account in session.scalars(
        select(Account).where(Account.paused.is_(False)).order_by(Account.account_id)
    ):
        rows = session.execute(
            select(QualityRound.deviation_pct, QualityRound.received_at)
            .where(
                QualityRound.account_pk == account.id,
                QualityRound.day == day.isoformat(),
                QualityRound.deviation_pct.isnot(None),
            )
            .order_by(QualityRound.id.desc())
            .limit(rounds)
        ).all()
        streak = []
        for value, _ in rows:
            if value <= pct:
                break
            streak.append(value)
        if not streak:
            continue
        quiet = 0
        if account.last_seen is not None and account.last_seen > rows[0][1]:
            quiet = int((account.last_seen - rows[0][1]).total_seconds() // ROUND_SECONDS)
        if len(streak) + quiet >= rounds:
            found.append((account.account_id, streak))
    return found


def _beijing_now():
    """Naive Beijing wall time (datetime.utcnow() is deprecated since Python 3.12)."""
    return datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(hours=8)


def check_deviation(notifier, beijing_now=None):
    """Notify for each account deviating too long today; returns their ids."""
    beijing_now = beijing_now or _beijing_now()
    pct, rounds = thresholds()
    with notifier.db.read() as session:
        found = deviating_accounts(session, beijing_now.date(), pct, rounds)
    for account_id, values in found:
        notifier.notify(
            DEVIATION_EVENT,
            account_id,
            "跟踪偏离过大：%s" % account_id,
            "账户 %s 连续 %d 轮以上跟踪偏离超过 %.2f%%（最新 %.2f%%，记录到的依次为 %s）。请检查是否有委托未成交、"
            "被拒绝或被跳过（委托/成交页），或资金是否足够。"
            % (account_id, rounds, pct, values[0], "、".join("%.2f%%" % v for v in values)),
        )
    return [a for a, _ in found]


def summary_text(day_row, execution):
    """The message body of one account's daily summary."""

    def money(value):
        return "—" if value is None else f"{value:,.2f}"

    def pct(value):
        return "—" if value is None else "%.2f%%" % value

    lines = [
        "总资产 %s，现金 %s，市值 %s"
        % (money(day_row["total_asset"]), money(day_row["cash"]), money(day_row["market_value"])),
        "收盘跟踪偏离 %s（%s），当日最高 %s"
        % (
            pct(day_row["deviation_pct"]),
            money(day_row["deviation_value"]),
            pct(day_row["max_deviation_pct"]),
        ),
        "委托 %d 笔，成交 %d 笔，成交率 %s"
        % (
            day_row["orders"],
            day_row["fills"],
            "—" if day_row["fill_rate"] is None else "%.1f%%" % (day_row["fill_rate"] * 100),
        ),
        "滑点 %s bp，成本 %s 元"
        % (
            "—" if day_row["slippage_bps"] is None else "%.1f" % day_row["slippage_bps"],
            money(day_row["slippage_cost"]),
        ),
        "被拒 %d 笔，跳过 %d 次，收盘仍未完成 %d 笔"
        % (day_row["rejects"], day_row["skipped"], day_row["open_at_close"]),
    ]
    for reason in execution["reject_reasons"][:5]:
        lines.append("- 拒绝原因：%s ×%d" % (reason["reason"][:100], reason["count"]))
    return "\n".join(lines)


def check_daily_summary(notifier, beijing_now=None):
    """After the close of a trading day, send each account's summary of that day
    once; returns the account ids summarised now."""
    from jq2qmt.store import quality
    from jq2qmt.store.accounts import Account

    beijing_now = beijing_now or _beijing_now()
    today = beijing_now.date()
    if beijing_now.time() < SUMMARY_AFTER or not quality.is_trading_day(today):
        return []
    sent = []
    with notifier.db.read() as session:
        accounts = session.scalars(select(Account).order_by(Account.account_id)).all()
        todo = []
        for account in accounts:
            account_id = account.account_id
            subject = ("%s %s" % (account_id, today.isoformat()))[:64]
            if (
                session.scalar(
                    select(NotifyThrottle.id).where(
                        NotifyThrottle.event == SUMMARY_EVENT, NotifyThrottle.subject == subject
                    )
                )
                is not None
            ):
                continue
            # the session is over: today's open orders count as still open at the close
            result = quality.quality(
                session, account, today, today, today=today + timedelta(days=1)
            )
            if result["days"]:
                todo.append((account_id, subject, result))
    for account_id, subject, result in todo:
        text = summary_text(result["days"][-1], result["execution"])
        notifier.notify(
            SUMMARY_EVENT, subject, "每日跟单小结：%s %s" % (account_id, today.isoformat()), text
        )
        sent.append(account_id)
    return sent
