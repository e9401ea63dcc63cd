"""Trading hours: sessions, trading days, the pre-open window (market facts).

Times are naive `datetime` values in exchange time (Beijing), always passed in by the
caller: nothing here reads the clock. The server's watchdog and the follower both
judge trading hours with these functions.
"""

import datetime

DEFAULT_SESSIONS = [["09:30", "11:30"], ["13:00", "14:57"]]
# The exchange's day, from the opening call auction to the close: a session set outside
# it would never trade.
SESSION_BOUNDS = ("09:15", "15:00")
# From here until the first session opens a new plan is computed ahead and fired at
# the open (the opening auction ends 09:25, so quotes are meaningful by then).
PREOPEN_FROM = "09:00"


def parse_hhmm(text):
    """ "HH:MM" -> datetime.time; raises ValueError if malformed."""
    hours, minutes = str(text).strip().split(":")[:2]
    hours, minutes = int(hours), int(minutes)
    if not (0 <= hours <= 23 and 0 <= minutes <= 59):
        raise ValueError("bad time %r" % (text,))
    return datetime.time(hours, minutes)


def parse_sessions(sessions):
    """[["09:30", "11:30"], ...] -> sorted [(time, time)]; raises ValueError if malformed."""
    if sessions is None:
        sessions = DEFAULT_SESSIONS
    result = []
    for pair in sessions:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ValueError("session must be [start, end]: %r" % (pair,))
        start, end = parse_hhmm(pair[0]), parse_hhmm(pair[1])
        if end <= start:
            raise ValueError("session ends before it starts: %r" % (pair,))
        result.append((start, end))
    return sorted(result)


def _day(now):
    return now.date() if isinstance(now, datetime.datetime) else now


def is_trading_day(now, holidays=None):
    """A weekday that is not in `holidays` (a set of dates: the weekday closures the
    server's calendar sends in the plan). None knows no holidays: weekdays only, the
    fallback for a year the calendar does not know. Weekends never trade."""
    day = _day(now)
    return day.weekday() < 5 and not (holidays and day in holidays)


def in_session(now, sessions, holidays=None):
    """True when `now` falls inside one of the sessions (start inclusive, end exclusive)
    on a trading day."""
    if not is_trading_day(now, holidays):
        return False
    t = now.time()
    return any(start <= t < end for start, end in sessions)


def is_preopen(now, sessions, preopen_from=PREOPEN_FROM, holidays=None):
    """True between `preopen_from` and the first session's start on a trading day."""
    if not sessions or not is_trading_day(now, holidays):
        return False
    t = now.time()
    return parse_hhmm(preopen_from) <= t < sessions[0][0]


def seconds_to_next_change(now, sessions, holidays=None):
    """Seconds until the next session start or end today (None when none is left, and
    on a day that does not trade)."""
    if not is_trading_day(now, holidays):
        return None
    t = now.time()
    today = now.date()
    best = None
    for start, end in sessions:
        for edge in (start, end):
            if edge > t:
                delta = (datetime.datetime.combine(today, edge) - now).total_seconds()
                if best is None or delta < best:
                    best = delta
    return best
