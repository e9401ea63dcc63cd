"""Snapshot validation: every bad field is named, good input is normalized."""

from datetime import datetime, timedelta

import pytest

from jq2qmt.store.snapshot import SnapshotError, format_time, parse_snapshot, parse_time

NOW = datetime(2026, 11, 25, 2, 0, 0)  # naive UTC = 10:00 Beijing


def _body(**overrides):
    body = {
        "strategy_name": "s1",
        "positions": [{"code": "600000.XSHG", "volume": 100, "cost": 10.5}],
    }
    body.update(overrides)
    return body


def _pos(**fields):
    position = {"code": "600000.XSHG", "volume": 100, "cost": 1.0}
    position.update(fields)
    return position


@pytest.mark.parametrize(
    "body, field",
    [
        ([], ""),
        (_body(strategy_name=""), "strategy_name"),
        (_body(strategy_name=None), "strategy_name"),
        (_body(strategy_name="x" * 65), "strategy_name"),
        (_body(strategy_name="a/b"), "strategy_name"),
        (_body(strategy_name=" padded"), "strategy_name"),
        (_body(strategy_name="tab\there"), "strategy_name"),
        (_body(positions={"code": "x"}), "positions"),
        (_body(positions=["x"]), "positions[0]"),
        (_body(positions=[_pos(code="600000")]), "positions[0].code"),
        (_body(positions=[_pos(code="AAPL.US")]), "positions[0].code"),
        (_body(positions=[_pos(), _pos(code="000001.XSHE", volume=1.5)]), "positions[1].volume"),
        (_body(positions=[_pos(volume="100")]), "positions[0].volume"),
        (_body(positions=[_pos(volume=True)]), "positions[0].volume"),
        (_body(positions=[_pos(volume=-100)]), "positions[0].volume"),
        (_body(positions=[_pos(volume=10**13)]), "positions[0].volume"),
        (_body(positions=[_pos(cost=-1)]), "positions[0].cost"),
        (_body(positions=[_pos(cost=float("nan"))]), "positions[0].cost"),
        (_body(positions=[_pos(cost=float("inf"))]), "positions[0].cost"),
        (_body(positions=[_pos(cost=None)]), "positions[0].cost"),
        (_body(positions=[_pos(name=5)]), "positions[0].name"),
        (_body(positions=[_pos(), _pos(code="600000.SH")]), "positions[1].code"),
        (_body(as_of="yesterday"), "as_of"),
        (_body(as_of=1732492800), "as_of"),
        (_body(as_of="2026-11-26T10:00:00+08:00"), "as_of"),
        (_body(portfolio=[1]), "portfolio"),
        (_body(portfolio={"total_value": -1}), "portfolio.total_value"),
        (_body(portfolio={"cash": "many"}), "portfolio.cash"),
    ],
)
def test_bad_field_is_named(body, field):
    with pytest.raises(SnapshotError) as info:
        parse_snapshot(body, now=NOW)
    assert info.value.field == field
    assert " / " in info.value.message  # Chinese / English


def test_too_many_positions():
    positions = [_pos(code="%06d.SZ" % i) for i in range(1, 12)]
    with pytest.raises(SnapshotError) as info:
        parse_snapshot(_body(positions=positions), max_positions=10, now=NOW)
    assert info.value.code == "too_many_positions"


def test_codes_are_stored_in_qmt_form_sorted():
    snapshot = parse_snapshot(
        _body(positions=[_pos(code="600000.XSHG"), _pos(code="000001.xshe", volume=200.0)]), now=NOW
    )
    assert [(p["code"], p["volume"]) for p in snapshot.positions] == [
        ("000001.SZ", 200),
        ("600000.SH", 100),
    ]
    assert isinstance(snapshot.positions[0]["volume"], int)


def test_adjustment_strategies_may_hold_negative_volume():
    snapshot = parse_snapshot(
        _body(strategy_name="ADJUSTMENT_manual", positions=[_pos(volume=-300)]), now=NOW
    )
    assert snapshot.positions[0]["volume"] == -300


def test_hash_ignores_order_and_as_of_but_not_content():
    a = parse_snapshot(
        _body(positions=[_pos(), _pos(code="000001.SZ")], as_of="2026-11-25T09:31:00"), now=NOW
    )
    b = parse_snapshot(_body(positions=[_pos(code="000001.XSHE"), _pos()]), now=NOW)
    c = parse_snapshot(_body(positions=[_pos(), _pos(code="000001.SZ", volume=200)]), now=NOW)
    assert a.hash == b.hash != c.hash


def test_times_without_zone_are_beijing_time():
    assert parse_time("2026-11-25T09:31:00") == datetime(2026, 11, 25, 1, 31)
    assert parse_time("2026-11-25T01:31:00Z") == datetime(2026, 11, 25, 1, 31)
    assert format_time(datetime(2026, 11, 25, 1, 31)) == "2026-11-25T09:31:00+08:00"


def test_as_of_slightly_ahead_is_tolerated():
    ahead = (NOW + timedelta(minutes=5)).isoformat() + "Z"
    assert parse_snapshot(_body(as_of=ahead), now=NOW).as_of == NOW + timedelta(minutes=5)
