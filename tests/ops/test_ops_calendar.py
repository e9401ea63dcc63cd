"""The server's trading calendar (chinesecalendar): what the plan carries and when it
says it does not know a year."""

import datetime
import logging

import pytest

from jq2qmt import trading_calendar

D = datetime.date


@pytest.fixture(autouse=True)
def fresh_calendar():
    trading_calendar.reset()
    yield
    trading_calendar.reset()


def test_known_holidays_and_make_up_days():
    cal = trading_calendar.plan_calendar(D(2026, 6, 1))
    assert cal["known"] is True and cal["from"] == "2026-01-01"
    assert cal["source"].startswith("chinesecalendar ")
    # National Day and Spring Festival weekdays are closures.
    for day in (
        "2026-10-01",
        "2026-10-02",
        "2026-10-05",
        "2026-10-06",
        "2026-10-07",
        "2026-02-16",
        "2026-02-23",
    ):
        assert day in cal["holidays"]
    # Weekends are never listed (followers know them), even the holiday weekends, and
    # the Saturday make-up working day 2026-10-10 is not a trading day either: not listed.
    listed = [datetime.date.fromisoformat(d) for d in cal["holidays"]]
    assert all(d.weekday() < 5 for d in listed)
    assert "2026-10-03" not in cal["holidays"] and "2026-10-10" not in cal["holidays"]
    # An ordinary weekday trades.
    assert "2026-10-08" not in cal["holidays"] and "2026-09-30" not in cal["holidays"]
    assert D(2026, 10, 1) in trading_calendar.holidays(D(2026, 6, 1))


def test_the_plan_calendar_is_small():
    cal = trading_calendar.plan_calendar(D(2026, 6, 1))
    assert 10 <= len(cal["holidays"]) <= 60
    assert cal["to"] <= "2027-12-31"


def fake_library(last_year):
    """The shape `_library()` returns, for a package that knows 2024..last_year."""
    days = set(
        [D(y, 10, 1) for y in range(2024, last_year + 1)]
        + [D(y, 1, 1) for y in range(2024, last_year + 1)]
    )
    return frozenset(days), 2024, last_year, "9.9"


def test_a_year_the_library_does_not_know():
    cal = trading_calendar.build_calendar(D(2027, 3, 2), fake_library(2026))
    assert cal["known"] is False and cal["holidays"] == []  # followers fall back to weekdays
    # The current year known, the next one not, far from the year end: known.
    cal = trading_calendar.build_calendar(D(2026, 3, 2), fake_library(2026))
    assert cal["known"] is True and cal["holidays"] == ["2026-01-01", "2026-10-01"]
    assert cal["to"] == "2026-12-31"
    # Close to the year end the next year's schedule must be known.
    late = D(2026, 12, 31) - datetime.timedelta(days=trading_calendar.LOOKAHEAD_DAYS - 1)
    assert trading_calendar.build_calendar(late, fake_library(2026))["known"] is False
    assert trading_calendar.build_calendar(late, fake_library(2027))["known"] is True
    # At most up to the end of next year.
    cal = trading_calendar.build_calendar(D(2026, 3, 2), fake_library(2030))
    assert cal["to"] == "2027-12-31" and cal["holidays"][-1] == "2027-10-01"
    # Without the package at all: nothing known.
    cal = trading_calendar.build_calendar(D(2026, 3, 2), None)
    assert cal["known"] is False and cal["holidays"] == [] and "not installed" in cal["source"]


def test_unknown_year_warns_once(monkeypatch, caplog):
    # a clean slate whatever ran before: no calendar built or warned about yet, and the
    # records reach caplog even if an earlier test stopped the jq2qmt logger propagating
    trading_calendar.reset()
    monkeypatch.setattr(logging.getLogger("jq2qmt"), "propagate", True)
    monkeypatch.setattr(trading_calendar, "_library", lambda: fake_library(2026))
    with caplog.at_level(logging.WARNING, logger="jq2qmt.calendar"):
        for _ in range(3):
            assert trading_calendar.plan_calendar(D(2027, 3, 2))["known"] is False
        trading_calendar.plan_calendar(D(2027, 3, 3))
    warnings = [r for r in caplog.records if "calendar_unknown" in r.getMessage()]
    assert len(warnings) == 1 and "chinesecalendar" in warnings[0].getMessage()
    with caplog.at_level(logging.WARNING, logger="jq2qmt.calendar"):
        trading_calendar.plan_calendar(D(2026, 3, 2))  # known: no new warning
    assert len([r for r in caplog.records if "calendar_unknown" in r.getMessage()]) == 1


def test_fingerprint_follows_the_content(monkeypatch):
    first = trading_calendar.fingerprint(D(2026, 3, 2))
    assert first == trading_calendar.fingerprint(D(2026, 7, 9))  # same content key
    assert first != trading_calendar.fingerprint(D(2027, 3, 2))  # a new year, new window
    trading_calendar.reset()
    monkeypatch.setattr(trading_calendar, "_library", lambda: fake_library(2026))
    assert trading_calendar.fingerprint(D(2026, 3, 2)) != first  # another package release


# ---- the watchdog counts silence in trading time only ------------------------------


def _last_seen(instance, beijing):
    from sqlalchemy import update

    from jq2qmt.store import accounts

    db = instance.db()
    accounts.add_account(db, "acct-1")
    accounts.save_report(db, "acct-1", {"kind": "heartbeat"})
    with db.write_once() as session:
        session.execute(
            update(accounts.Account)
            .where(accounts.Account.account_id == "acct-1")
            .values(last_seen=beijing - datetime.timedelta(hours=8))
        )
    return db


def test_watchdog_skips_holidays(instance):
    from jq2qmt.notify import watchdog

    # Last report on the eve of National Day, 2026-09-30 14:50 Beijing time.
    db = _last_seen(instance, datetime.datetime(2026, 9, 30, 14, 50))

    def silent(when):
        with db.read() as session:
            return watchdog.silent_accounts(session, when, 10)

    assert silent(datetime.datetime(2026, 10, 1, 10, 30)) == []  # a holiday: no session
    assert silent(datetime.datetime(2026, 10, 7, 14, 0)) == []
    # Back on 10-08: 7 session minutes on 09-30 and 2 today, not a week of silence.
    assert silent(datetime.datetime(2026, 10, 8, 9, 32)) == []
    assert silent(datetime.datetime(2026, 10, 8, 9, 33)) == [("acct-1", 10)]
    # Weekdays only (the calendar not known): the holidays count as silence.
    with db.read() as session:
        found = watchdog.silent_accounts(
            session, datetime.datetime(2026, 10, 1, 10, 30), 10, holidays=frozenset()
        )
    assert found and found[0][1] > 60


def test_session_minutes_counts_only_sessions_of_trading_days():
    from jq2qmt.follower import scheduler
    from jq2qmt.notify import watchdog

    sessions = scheduler.parse_sessions(None)
    fri = datetime.datetime(2026, 11, 27, 14, 0)
    mon = datetime.datetime(2026, 11, 30, 9, 40)
    assert watchdog.session_minutes(fri, mon, sessions, frozenset()) == 57 + 10
    assert (
        watchdog.session_minutes(fri, mon, sessions, frozenset([datetime.date(2026, 11, 27)])) == 10
    )
    lunch = datetime.datetime(2026, 11, 30, 11, 0), datetime.datetime(2026, 11, 30, 13, 10)
    assert watchdog.session_minutes(lunch[0], lunch[1], sessions, None) == 40


# ---- the demo replays a trading day --------------------------------------------------


@pytest.mark.parametrize(
    "today,expected",
    [
        (D(2026, 10, 8), D(2026, 9, 30)),  # after National Day (10-01..10-07 closed)
        (D(2026, 10, 12), D(2026, 10, 9)),  # 10-10 is a Saturday make-up working day: not trading
        (D(2026, 2, 24), D(2026, 2, 13)),  # after Spring Festival (02-16..02-23 closed)
        (D(2026, 11, 26), D(2026, 11, 25)),
    ],
)
def test_demo_picks_the_last_trading_day(today, expected):
    from jq2qmt.demo import last_trading_day_before

    assert last_trading_day_before(today) == expected
