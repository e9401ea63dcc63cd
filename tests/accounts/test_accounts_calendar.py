"""The plan carries the server's trading calendar, and its content is part of the plan
version (the ETag), so followers get a new calendar when it changes."""

import datetime

import pytest

from jq2qmt import trading_calendar
from jq2qmt.follower import safety
from jq2qmt.store import accounts as store

PLAN = "/api/v1/accounts/%s/plan"


@pytest.fixture
def june_2026(monkeypatch):
    trading_calendar.reset()
    today = {"value": datetime.date(2026, 6, 1)}
    monkeypatch.setattr(trading_calendar, "beijing_today", lambda: today["value"])
    yield today
    trading_calendar.reset()


def test_plan_carries_the_calendar_and_the_follower_reads_it(june_2026, instance, app_client, acc):
    token = acc.followed_account(instance, app_client)
    response = app_client.get(PLAN % acc.ACCOUNT, headers=acc.bearer(token))
    assert response.status_code == 200
    calendar = response.json()["calendar"]
    assert calendar["known"] is True and calendar["source"].startswith("chinesecalendar ")
    assert calendar["from"] == "2026-01-01" and "2026-10-01" in calendar["holidays"]
    holidays = safety.validate_plan(response.json())["holidays"]
    assert datetime.date(2026, 10, 1) in holidays and datetime.date(2026, 10, 8) not in holidays


def test_the_calendar_is_part_of_the_plan_version(june_2026, instance, app_client, acc):
    acc.followed_account(instance, app_client)

    def version():
        with instance.db().read() as session:
            return store.plan_version(session, store.get_account(session, acc.ACCOUNT))

    first = version()
    june_2026["value"] = datetime.date(2026, 8, 3)  # same calendar content: same version
    assert version() == first
    june_2026["value"] = datetime.date(2027, 2, 1)  # a new year's window: a new version
    assert version() != first
