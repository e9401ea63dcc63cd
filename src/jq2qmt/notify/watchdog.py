"""The periodic checks inside the server: database reachable, followers alive.

Every server process runs one loop (an asyncio task started with the app); the
notifications it raises are deduplicated by the dispatcher's database rate limit,
so N processes still send one message per interval.

- database_unreachable: a trivial query fails.
- follower_silent: during an account's trading sessions (Beijing time, trading days
  of the server's calendar), its follower has not reported for `threshold_minutes`
  of session time: the minutes of the sessions of trading days since its last
  report, so a weekend, a holiday or a lunch break never adds to the silence.
  Paused accounts and accounts whose follower never reported are not watched.
- tracking_deviation and daily_summary: see quality_alerts.py.
"""

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from jq2qmt import trading_calendar
from jq2qmt.notify import settings as notify_settings
from jq2qmt.rules import sessions as trading_hours

log = logging.getLogger("jq2qmt.notify")
CHECK_SECONDS = 60


def check_database(notifier):
    """Notify when the database does not answer; returns True when it does."""
    try:
        notifier.db.ping()
        return True
    except Exception as exc:
        log.warning("event=database_unreachable error=%s", type(exc).__name__)
        notifier.notify(
            "database_unreachable",
            "database",
            "数据库无法连接 / database unreachable",
            "服务器 %s 连接数据库失败（%s）。上传和跟单会失败，请检查数据库。"
            % (notifier.server_name, type(exc).__name__),
        )
        return False


# Silence older than this is counted from here (enough for any threshold).
MAX_SILENT_DAYS = 31


def session_minutes(since, until, sessions, holidays):
    """Minutes of `sessions` on trading days between two Beijing times."""
    since = max(since, until - timedelta(days=MAX_SILENT_DAYS))
    total = 0.0
    day = since.date()
    while day <= until.date():
        if trading_hours.is_trading_day(day, holidays):
            for start, end in sessions:
                lo = max(since, datetime.combine(day, start))
                hi = min(until, datetime.combine(day, end))
                if hi > lo:
                    total += (hi - lo).total_seconds() / 60.0
        day += timedelta(days=1)
    return total


def silent_accounts(session, beijing_now, threshold_minutes, holidays=None):
    """[(account_id, minutes silent)] for followers silent inside their sessions;
    `holidays` defaults to the server's trading calendar."""
    from jq2qmt.store.accounts import Account, settings_of

    if holidays is None:
        holidays = trading_calendar.holidays(beijing_now.date())
    found = []
    for account in session.scalars(select(Account).where(Account.paused.is_(False))):
        if account.last_seen is None:
            continue
        try:
            sessions = trading_hours.parse_sessions(settings_of(account).get("sessions"))
        except (ValueError, TypeError):
            sessions = trading_hours.parse_sessions(None)
        if not trading_hours.in_session(beijing_now, sessions, holidays=holidays):
            continue
        silent = session_minutes(
            account.last_seen + timedelta(hours=8), beijing_now, sessions, holidays
        )
        if silent >= threshold_minutes:
            found.append((account.account_id, int(silent)))
    return found


def check_followers(notifier, beijing_now=None):
    """Notify for each silent follower; returns the account ids found silent."""
    beijing_now = beijing_now or trading_calendar.beijing_now()
    with notifier.db.read() as session:
        threshold = notify_settings.event_settings(session)["follower_silent"]["threshold_minutes"]
        silent = silent_accounts(session, beijing_now, threshold)
    for account_id, minutes in silent:
        notifier.notify(
            "follower_silent",
            account_id,
            "跟单端失联：%s" % account_id,
            "账户 %s 的跟单端已 %d 分钟没有报告（交易时段）。请检查 QMT 是否在运行、网络是否正常。"
            % (account_id, minutes),
        )
    return [a for a, _ in silent]


def run_checks(notifier, beijing_now=None):
    if check_database(notifier):
        check_followers(notifier, beijing_now)
        from jq2qmt.notify import quality_alerts

        quality_alerts.check_deviation(notifier, beijing_now)
        quality_alerts.check_daily_summary(notifier, beijing_now)


async def watch(notifier, interval=CHECK_SECONDS):
    """Run the checks every `interval` seconds (cancelled when the app stops)."""
    while True:
        await asyncio.sleep(interval)
        try:
            await run_in_threadpool(run_checks, notifier)
        except Exception as exc:  # a check must never kill the loop
            log.warning("event=watchdog_error error=%s", type(exc).__name__)
