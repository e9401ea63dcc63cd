"""The A-share trading calendar the server sends to followers in every plan.

Which library, and why
- `chinesecalendar` (import name `chinese_calendar`): one pure-Python wheel of about
  11 KB, no dependencies, the State Council's holiday schedule per year. A new year's
  schedule is published each autumn and the package usually ships it within days.
- `exchange-calendars` (calendar "XSHG"): the exchange's own list, but it pulls in
  pandas and numpy (tens of MB on a server that otherwise needs neither), and its
  Shanghai list is a hand-kept table updated after the exchange's December notice.

The exchanges close on exactly the weekdays that are statutory holidays, and never
trade on a weekend, including the weekend make-up working days (调休) of the
government calendar. So the trading days are: a weekday that `chinesecalendar` does
not call a holiday. `chinesecalendar` it is.

What a plan carries (`plan_calendar`)::

    {"holidays": ["2026-10-01", ...], "from": "2026-01-01", "to": "2027-12-31",
     "source": "chinesecalendar 1.11.0", "known": true}

`holidays` are the weekday closures from January 1st of the current year to the end
of the library's known range, at most the end of next year (a plan stays small: about
40 dates). `known` is false when the library does not know the current year, or does
not know the next one within `LOOKAHEAD_DAYS` of the year end (the next year's
schedule is public by then: upgrade the package); the server logs that once per
process. Followers treat a date without an entry as a trading day when it is a
weekday, so an unknown year falls back to weekdays. They never need the package.

The content changes only with the year, the `known` flag or the package version, so
`fingerprint()` (folded into `store.accounts.plan_version`) changes at most a few times a
year, and every follower then fetches the new plan once. A server process that already
answered a plan version may keep answering it until the next database change (the fast
path memoizes versions per change set): harmless, because a calendar sent in one year
also covers the next year as far as the package knows it, and a package upgrade needs a
restart, which starts with empty memos.
"""

import datetime
import hashlib
import json
import logging
import threading

log = logging.getLogger("jq2qmt.calendar")

SOURCE_NAME = "chinesecalendar"
# Within this many days of the last known year's end, the next year must be known.
LOOKAHEAD_DAYS = 45

_lock = threading.Lock()
_cache = {}
_warned = set()


def _library():
    """(holidays set, first known year, last known year, version); None without it."""
    try:
        import chinese_calendar
        from chinese_calendar import constants
    except ImportError:
        return None
    years = sorted(
        set(d.year for d in constants.holidays) | set(d.year for d in constants.workdays)
    )
    version = getattr(chinese_calendar, "__version__", "") or "?"
    return frozenset(constants.holidays), years[0], years[-1], version


def beijing_now():
    """The exchange clock (naive Beijing time), whatever the server's time zone."""
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) + datetime.timedelta(
        hours=8
    )


def beijing_today():
    return beijing_now().date()


def build_calendar(today, library):
    """The plan's `calendar` object for `today` (a date in Beijing); `library` is
    (holidays, first year, last year, version) as `_library()` returns it, None when
    the package is missing."""
    start = datetime.date(today.year, 1, 1)
    if library is None:
        return {
            "holidays": [],
            "from": start.isoformat(),
            "to": start.isoformat(),
            "source": SOURCE_NAME + " (not installed)",
            "known": False,
        }
    holidays, first_year, last_year, version = library
    end_year = min(last_year, today.year + 1)
    if first_year > today.year or end_year < today.year:
        dates, end = [], start
    else:
        end = datetime.date(end_year, 12, 31)
        dates = sorted(d for d in holidays if start <= d <= end and d.weekday() < 5)
    near_year_end = (datetime.date(today.year, 12, 31) - today).days < LOOKAHEAD_DAYS
    known = first_year <= today.year <= last_year and (last_year > today.year or not near_year_end)
    return {
        "holidays": [d.isoformat() for d in dates],
        "from": start.isoformat(),
        "to": end.isoformat(),
        "source": "%s %s" % (SOURCE_NAME, version),
        "known": known,
    }


def _key(today):
    near_year_end = (datetime.date(today.year, 12, 31) - today).days < LOOKAHEAD_DAYS
    return today.year, near_year_end


def _entry(today):
    """(body, fingerprint, holiday dates) for `today`, built once per content key; logs a
    warning once per process when the library does not know the year(s)."""
    today = today or beijing_today()
    key = _key(today)
    with _lock:
        found = _cache.get(key)
        if found is None:
            body = build_calendar(today, _library())
            text = json.dumps(body, sort_keys=True, separators=(",", ":"))
            dates = frozenset(datetime.date(*map(int, d.split("-"))) for d in body["holidays"])
            found = _cache[key] = (
                body,
                hashlib.sha256(text.encode("utf-8")).hexdigest()[:16],
                dates,
            )
            if not body["known"] and key not in _warned:
                _warned.add(key)
                missing = today.year + 1 if body["to"] >= "%d-12-31" % today.year else today.year
                log.warning(
                    "event=calendar_unknown year=%d source=%r: the trading calendar does not know "
                    "%d's holidays yet; followers fall back to weekdays after %s. "
                    "Upgrade the package when it does: pip install -U chinesecalendar",
                    missing,
                    body["source"],
                    missing,
                    body["to"],
                )
    return found


def plan_calendar(today=None):
    """The plan's `calendar` object for `today` (default: Beijing's today). A shared
    dict: callers must not change it."""
    return _entry(today)[0]


def fingerprint(today=None):
    """A short hash of `plan_calendar(today)`, for the plan version."""
    return _entry(today)[1]


def holidays(today=None):
    """The weekday closures of `plan_calendar(today)` as a frozenset of dates."""
    return _entry(today)[2]


def reset():
    """Forget the built calendars and warnings (tests)."""
    with _lock:
        _cache.clear()
        _warned.clear()
