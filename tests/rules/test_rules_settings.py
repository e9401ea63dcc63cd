"""An account's settings have one definition (jq2qmt.rules.settings): the server, the
CLI and the follower read the same defaults and judge a value by the same rule."""

import pytest

from jq2qmt.engine.scenario import parse_settings
from jq2qmt.follower import safety
from jq2qmt.rules import settings
from jq2qmt.rules.sessions import DEFAULT_SESSIONS


def test_full_settings_fills_defaults_with_fresh_lists():
    filled = settings.full_settings({"slippage": 0.01})
    assert filled["slippage"] == 0.01 and filled["sessions"] == DEFAULT_SESSIONS
    filled["sessions"].append(["14:00", "14:30"])
    filled["ignore"].append("600000.SH")
    assert settings.full_settings(None) == settings.DEFAULTS
    assert settings.DEFAULTS["sessions"] == [["09:30", "11:30"], ["13:00", "14:57"]]


def test_ignore_entries_are_normalized_and_deduplicated():
    value = [" 511880.XSHG", "1318*", "511880", "511880.SH", "204?.sh"]
    assert settings.check_ignore(value) == ["511880.SH", "1318*", "511880", "204?.SH"]


@pytest.mark.parametrize(
    "key, value, field, words",
    [
        ("ignore", ["600000.SH", 600000], "ignore[1]", "non-empty string"),
        ("ignore", ["60#0*"], "ignore[0]", "pattern"),
        ("max_turnover", 11, "max_turnover", "at most 10"),
        ("order_timeout", 0, "order_timeout", "at least 1"),
        ("max_reprices", 1.5, "max_reprices", "integer"),
        ("sessions", [["09:00", "11:30"]], "sessions[0]", "within 09:15-15:00"),
        ("sessions", [["09:30", "11:30"], ["11:00", "14:00"]], "sessions", "overlap"),
        ("slippage", float("nan"), "slippage", "finite"),
        ("typo", 1, "typo", "unknown setting"),
    ],
)
def test_a_bad_setting_names_its_field(key, value, field, words):
    with pytest.raises(settings.SettingError) as info:
        settings.check_setting(key, value)
    assert info.value.field == field and words in info.value.message


def _plan(**given):
    return {
        "plan_version": "v1",
        "paused": False,
        "dry_run": False,
        "targets": [],
        "follow": {"mode": "ratio", "strategies": {}},
        "settings": given,
    }


def test_the_follower_judges_the_plan_settings_by_the_same_rules():
    with pytest.raises(safety.PlanError, match=r"settings\.sessions\[0\]: .*09:15-15:00"):
        safety.validate_plan(_plan(sessions=[["08:00", "11:30"]]))
    with pytest.raises(safety.PlanError, match=r"settings\.max_turnover: .*at most 10"):
        safety.validate_plan(_plan(max_turnover=20))
    checked = safety.validate_plan(_plan(ignore=["511880.XSHG"], newer_setting=1))
    assert checked["ignore"] == ["511880.SH"] and checked["newer_setting"] == 1
    assert checked["order_timeout"] == settings.DEFAULTS["order_timeout"]


def test_a_scenario_without_settings_trades_as_an_account_without_them():
    parsed = parse_settings(None)
    for key in ("slippage", "min_order_value", "max_order_value", "slice_value"):
        assert parsed[key] == settings.DEFAULTS[key]
    assert parsed["use_sell_proceeds"] is settings.DEFAULTS["use_sell_proceeds"]
