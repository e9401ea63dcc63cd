"""Sessions, pre-open window, round ids and remarks, plan validation."""

import datetime

import pytest

from jq2qmt.follower import safety, scheduler

WED = datetime.date(2026, 11, 25)


def at(hh, mm, ss=0, day=WED):
    return datetime.datetime.combine(day, datetime.time(hh, mm, ss))


@pytest.mark.parametrize(
    "when,open_,pre",
    [
        (at(9, 29, 59), False, True),
        (at(9, 30), True, False),
        (at(11, 29, 59), True, False),
        (at(11, 30), False, False),
        (at(13, 0), True, False),
        (at(14, 57), False, False),
        (at(8, 59), False, False),
        (at(9, 0), False, True),
        (at(10, 0, day=datetime.date(2026, 11, 29)), False, False),  # Sunday
    ],
)
def test_sessions_and_preopen(when, open_, pre):
    sessions = scheduler.parse_sessions(None)
    assert scheduler.in_session(when, sessions) is open_
    assert scheduler.is_preopen(when, sessions) is pre


def test_seconds_to_next_change():
    sessions = scheduler.parse_sessions(None)
    assert scheduler.seconds_to_next_change(at(11, 29, 30), sessions) == 30
    assert scheduler.seconds_to_next_change(at(12, 0), sessions) == 3600
    assert scheduler.seconds_to_next_change(at(15, 0), sessions) is None


@pytest.mark.parametrize("bad", [[["09:30"]], [["11:30", "09:30"]], [["25:00", "26:00"]], "x"])
def test_bad_sessions_are_refused(bad):
    with pytest.raises((ValueError, TypeError, AttributeError)):
        scheduler.parse_sessions(bad)


def test_round_ids_and_remarks():
    tag = scheduler.new_process_tag()
    round_id = scheduler.make_round_id(at(9, 31, 2), 107, tag)
    assert round_id == "jq1125093102-%s07" % tag
    remark = scheduler.make_remark(round_id, 12)
    assert len(remark) <= 24 and scheduler.is_our_remark(remark)
    for other in ("", "手工", "jq", "jqabc", "jq2qmt", "r20261125-093102-0001", None):
        assert not scheduler.is_our_remark(other)


def test_validate_plan_fills_defaults_and_refuses_bad_settings(fx):
    plan = fx.make_plan({"600000.SH": 100})
    del plan["settings"]
    settings = safety.validate_plan(plan)
    assert settings["order_timeout"] == 30 and settings["sessions"][0][0] == datetime.time(9, 30)
    for key, value in (("ignore", "600000.SH"), ("max_turnover", "high"), ("sessions", [["9:30"]])):
        bad = fx.make_plan({}, settings={key: value})
        with pytest.raises(safety.PlanError):
            safety.validate_plan(bad)
    broken = fx.make_plan({})
    broken["targets"][0]["positions"] = [{"code": "600000.SH", "volume": 1.5}]
    with pytest.raises(safety.PlanError):
        safety.validate_plan(broken)


def test_beijing_clock_is_utc_plus_eight():
    utc = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    delta = scheduler.beijing_now() - utc
    assert abs(delta.total_seconds() - 8 * 3600) < 60


# The trading calendar: holidays come from the plan (server-side calendar).

NATIONAL_DAY = datetime.date(2026, 10, 1)  # a Thursday, exchanges closed
HOLIDAYS = frozenset([NATIONAL_DAY, datetime.date(2026, 10, 2)])


@pytest.mark.parametrize("hh,mm", [(9, 0), (9, 15), (9, 30), (10, 0), (13, 30), (14, 56)])
def test_no_session_and_no_preopen_on_a_holiday(hh, mm):
    sessions = scheduler.parse_sessions(None)
    when = at(hh, mm, day=NATIONAL_DAY)
    assert not scheduler.is_trading_day(when, HOLIDAYS)
    assert scheduler.in_session(when, sessions, holidays=HOLIDAYS) is False
    assert scheduler.is_preopen(when, sessions, holidays=HOLIDAYS) is False
    assert scheduler.seconds_to_next_change(when, sessions, holidays=HOLIDAYS) is None
    # Without the calendar (None, or an empty set from a plan without one) it is a weekday.
    for unknown in (None, frozenset()):
        assert scheduler.is_trading_day(when, unknown)
    assert scheduler.in_session(at(10, 0, day=NATIONAL_DAY), sessions) is True


def test_holidays_do_not_touch_other_days_and_weekends_never_trade():
    sessions = scheduler.parse_sessions(None)
    assert scheduler.in_session(at(10, 0), sessions, holidays=HOLIDAYS) is True
    assert scheduler.is_preopen(at(9, 10), sessions, holidays=HOLIDAYS) is True
    assert scheduler.seconds_to_next_change(at(11, 29, 30), sessions, holidays=HOLIDAYS) == 30
    # 2026-10-10 is a Saturday make-up working day of the government calendar: no trading.
    saturday = datetime.date(2026, 10, 10)
    assert not scheduler.is_trading_day(saturday, HOLIDAYS)
    assert scheduler.in_session(at(10, 0, day=saturday), sessions, holidays=HOLIDAYS) is False
    assert scheduler.is_trading_day(datetime.date(2026, 10, 8), HOLIDAYS)  # Thursday after


def test_validate_plan_reads_the_calendar(fx):
    plan = fx.make_plan({"600000.SH": 100})
    assert safety.validate_plan(plan)["holidays"] == frozenset()
    plan["calendar"] = {
        "holidays": ["2026-10-01", "2026-10-02"],
        "from": "2026-01-01",
        "to": "2026-12-31",
        "source": "chinesecalendar 1.11.0",
        "known": True,
    }
    assert safety.validate_plan(plan)["holidays"] == HOLIDAYS


@pytest.mark.parametrize(
    "calendar",
    [
        [],
        "2026-10-01",
        {"holidays": "2026-10-01"},
        {"holidays": ["2026-13-01"]},
        {"holidays": ["2026-10-1"]},
        {"holidays": [20261001]},
        {"holidays": ["２０２６-10-01"]},
        {"holidays": ["2026-10-01"], "from": "yesterday"},
        {"holidays": [], "known": "yes"},
    ],
)
def test_validate_plan_refuses_a_malformed_calendar(fx, calendar):
    plan = fx.make_plan({"600000.SH": 100})
    plan["calendar"] = calendar
    with pytest.raises(safety.PlanError, match="calendar"):
        safety.validate_plan(plan)


def test_remarks_with_non_ascii_digits_are_not_ours():
    assert scheduler.is_our_remark("jq1125093102-ab07.1")
    assert not scheduler.is_our_remark("jq１１２５０９３１０２-ab07.1")
    assert not scheduler.is_our_remark("jq112509310２-ab07.1")
