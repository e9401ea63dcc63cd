"""Scenario validation: every contract violation names its field."""

import copy
import json

import pytest
from engine_builders import quote, scenario

from jq2qmt.engine.errors import ScenarioError
from jq2qmt.engine.merge import floor_volume, merge_targets
from jq2qmt.engine.scenario import DEFAULT_SETTINGS, parse_scenario


def base():
    return scenario(
        {"600000.XSHG": 1000},
        held={"600000.SH": 300},
        quotes={"600000.SH": quote(10.0, high_limit=11.0, low_limit=9.0)},
        open_orders=[
            {
                "order_id": 17,
                "code": "600000.SH",
                "side": "buy",
                "volume": 100,
                "traded_volume": 0,
                "price": 10.0,
            }
        ],
    )


def _set(path, value):
    def change(sc):
        node = sc
        for key in path[:-1]:
            node = node[key]
        if value is KeyError:
            del node[path[-1]]
        else:
            node[path[-1]] = value

    return change


BAD = [
    (_set(["targets"], KeyError), "targets", "missing"),
    (_set(["targets"], {}), "targets", "array"),
    (_set(["targets", 0, "strategy"], ""), "targets[0].strategy", "non-empty"),
    (
        _set(["targets", 0, "positions", 0, "code"], "600000"),
        "targets[0].positions[0].code",
        "unknown code form",
    ),
    (
        _set(["targets", 0, "positions", 0, "code"], "SH600000"),
        "targets[0].positions[0].code",
        "unknown code form",
    ),
    (
        _set(["targets", 0, "positions", 0, "volume"], 10.5),
        "targets[0].positions[0].volume",
        "integer",
    ),
    (
        _set(["targets", 0, "positions", 0, "volume"], True),
        "targets[0].positions[0].volume",
        "integer",
    ),
    (
        _set(["targets", 0, "positions", 0, "volume"], "1000"),
        "targets[0].positions[0].volume",
        "integer",
    ),
    (_set(["targets", 0, "portfolio_value"], -1), "targets[0].portfolio_value", "> 0"),
    (_set(["follow", "mode"], "volume"), "follow.mode", "ratio or weight"),
    (_set(["follow", "strategies", "S1", "ratio"], 0), "follow.strategies.S1.ratio", "> 0"),
    (
        _set(["follow", "strategies", "S1"], {"ratio": 1, "ratoi": 2}),
        "follow.strategies.S1.ratoi",
        "unknown",
    ),
    (_set(["follow", "strategies", "S1"], {"capital": 1}), "follow.strategies.S1.ratio", "missing"),
    (_set(["account", "cash"], -0.01), "account.cash", ">= 0"),
    (_set(["account", "cash"], "100"), "account.cash", "number"),
    (_set(["account", "cash"], float("nan")), "account.cash", "finite"),
    (
        _set(["account", "positions", 0, "can_use_volume"], 301),
        "account.positions[0].can_use_volume",
        "exceeds",
    ),
    (
        _set(["account", "positions", 0, "can_use_volume"], KeyError),
        "account.positions[0].can_use_volume",
        "missing",
    ),
    (_set(["account", "positions", 0, "volume"], -1), "account.positions[0].volume", ">= 0"),
    (
        _set(["account", "open_orders", 0, "side"], "BUY"),
        "account.open_orders[0].side",
        "buy or sell",
    ),
    (
        _set(["account", "open_orders", 0, "traded_volume"], 200),
        "account.open_orders[0].traded_volume",
        "exceeds",
    ),
    (_set(["account", "open_orders", 0, "volume"], 0), "account.open_orders[0].volume", ">= 1"),
    (_set(["quotes", "600000.SH", "last"], -1), "quotes.600000.SH.last", ">= 0"),
    (_set(["quotes", "600000.SH", "suspended"], "no"), "quotes.600000.SH.suspended", "boolean"),
    (_set(["quotes", "600000.SH", "high_limit"], 1.0), "quotes.600000.SH.high_limit", "below"),
    (_set(["quotes", "600000.SH", "low_limit"], 12.0), "quotes.600000.SH.high_limit", "below"),
    (_set(["quotes", "sh600000"], {}), "quotes.sh600000", "unknown code form"),
    (_set(["settings"], {"slipage": 0.01}), "settings.slipage", "unknown setting"),
    (
        _set(["settings"], {"fees": {"stamp_duty": 0.001}}),
        "settings.fees.stamp_duty",
        "unknown setting",
    ),
    (_set(["settings"], {"slippage": 0.5}), "settings.slippage", "<= 0.1"),
    (_set(["settings"], {"max_order_value": 0}), "settings.max_order_value", "> 0"),
    (_set(["settings"], {"use_sell_proceeds": "yes"}), "settings.use_sell_proceeds", "boolean"),
    (_set(["settings"], {"ignore": ["600000"]}), "settings.ignore[0]", "unknown code form"),
    (_set(["settings"], {"ignore": "600000.SH"}), "settings.ignore", "array"),
    (_set(["settings"], {"sessions": [["09:30"]]}), "settings.sessions[0]", "HH:MM"),
    (_set(["extra"], 1), "extra", "unknown key"),
]


@pytest.mark.parametrize("change, field, words", BAD, ids=[b[1] for b in BAD])
def test_bad_scenarios_name_the_field(change, field, words):
    sc = base()
    change(sc)
    with pytest.raises(ScenarioError) as info:
        parse_scenario(sc)
    assert info.value.field == field
    assert words in info.value.reason
    assert str(info.value) == "%s: %s" % (field, info.value.reason)
    assert "\n" not in str(info.value)


def test_duplicate_codes_across_forms_are_rejected():
    sc = base()
    sc["targets"][0]["positions"].append({"code": "600000.SH", "volume": 1})
    with pytest.raises(ScenarioError) as info:
        parse_scenario(sc)
    assert info.value.field == "targets[0].positions[1].code"
    sc = base()
    sc["quotes"]["600000.XSHG"] = quote(10.0)
    with pytest.raises(ScenarioError, match="duplicate"):
        parse_scenario(sc)


def test_weight_mode_requires_portfolio_value_of_followed_strategies():
    sc = base()
    sc["follow"] = {"mode": "weight", "strategies": {"S1": {"capital": 100000}}}
    sc["targets"][0]["portfolio_value"] = None
    with pytest.raises(ScenarioError) as info:
        parse_scenario(sc)
    assert info.value.field == "targets[0].portfolio_value"


def test_parse_normalizes_codes_fills_defaults_and_is_idempotent():
    parsed = parse_scenario(base())
    assert parsed["targets"][0]["positions"][0]["code"] == "600000.SH"
    assert parsed["account"]["open_orders"][0]["order_id"] == "17"
    assert parsed["settings"]["slippage"] == DEFAULT_SETTINGS["slippage"]
    assert parsed["settings"]["fees"]["min_commission"] == 5.0
    assert parse_scenario(copy.deepcopy(parsed)) == parsed
    json.dumps(parsed)


def test_follower_settings_from_the_plan_api_are_accepted():
    sc = base()
    sc["settings"] = {
        "ignore": ["511880.SH", "1318*"],
        "min_order_value": 0,
        "max_order_value": None,
        "max_turnover": None,
        "slice_value": None,
        "use_sell_proceeds": False,
        "slippage": 0.002,
        "order_timeout": 30,
        "max_reprices": 3,
        "sessions": [["09:30", "11:30"], ["13:00", "14:57"]],
    }
    assert parse_scenario(sc)["settings"]["ignore"] == ["511880.SH", "1318*"]


@pytest.mark.parametrize(
    "value, floored",
    [
        (28.999999999999996, 29),
        (529.5, 529),
        (0.9999, 0),
        (-3.2, 0),
        (100.0, 100),
    ],
)
def test_floor_volume(value, floored):
    assert floor_volume(value) == floored


def test_merge_targets_accepts_the_contract_shape_in_both_modes():
    targets = [
        {
            "strategy": "A",
            "positions": [{"code": "600000.XSHG", "volume": 1000}],
            "portfolio_value": 1000000.0,
        },
        {
            "strategy": "B",
            "positions": [
                {"code": "600000.SH", "volume": 300},
                {"code": "000001.XSHE", "volume": 100},
            ],
            "portfolio_value": 500000.0,
        },
    ]
    ratio = {"mode": "ratio", "strategies": {"A": {"ratio": 0.5}, "B": {"ratio": 2}}}
    assert merge_targets(targets, ratio) == {"000001.SZ": 200, "600000.SH": 1100}
    weight = {"mode": "weight", "strategies": {"A": {"capital": 100000.0}}}
    assert merge_targets(targets, weight, quotes={"600000.SH": {"last": 10.0}}) == {
        "600000.SH": 100
    }
