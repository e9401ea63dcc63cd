"""Board lots, steps and odd lots, table-driven with real codes."""

import pytest

from jq2qmt.rules import lots
from jq2qmt.rules.instrument import instrument


@pytest.mark.parametrize(
    "code, rule",
    [
        ("600000.SH", (100, 100)),
        ("000001.SZ", (100, 100)),
        ("300750.SZ", (100, 100)),
        ("688981.SH", (200, 1)),
        ("430047.BJ", (100, 1)),
        ("830799.BJ", (100, 1)),
        ("920118.BJ", (100, 1)),
        ("510300.SH", (100, 100)),
        ("159915.SZ", (100, 100)),
        ("113050.SH", (10, 10)),
        ("123107.SZ", (10, 10)),
    ],
)
def test_lot_rule(code, rule):
    assert lots.lot_rule(code) == rule
    assert (instrument(code).lot, instrument(code).step) == rule


def test_never_traded_codes_have_no_lot_rule():
    with pytest.raises(ValueError):
        lots.lot_rule("204001.SH")


@pytest.mark.parametrize(
    "code, volume, valid",
    [
        ("600000.SH", 100, True),
        ("600000.SH", 1000, True),
        ("600000.SH", 150, False),
        ("600000.SH", 99, False),
        ("600000.SH", 0, False),
        ("688981.SH", 200, True),
        ("688981.SH", 201, True),
        ("688981.SH", 199, False),
        ("688981.SH", 100, False),
        ("430047.BJ", 100, True),
        ("430047.BJ", 101, True),
        ("430047.BJ", 99, False),
        ("113050.SH", 10, True),
        ("113050.SH", 15, False),
        ("123107.SZ", 120, True),
        ("510300.SH", 100, True),
        ("510300.SH", 50, False),
    ],
)
def test_is_valid_buy(code, volume, valid):
    assert lots.is_valid_buy(instrument(code), volume) is valid


@pytest.mark.parametrize(
    "code, volume, expected",
    [
        ("600000.SH", 0, 0),
        ("600000.SH", 99, 0),
        ("600000.SH", 199, 100),
        ("600000.SH", 1234, 1200),
        ("688981.SH", 199, 0),
        ("688981.SH", 200, 200),
        ("688981.SH", 357, 357),
        ("430047.BJ", 99, 0),
        ("430047.BJ", 123, 123),
        ("113050.SH", 9, 0),
        ("113050.SH", 27, 20),
    ],
)
def test_floor_buy(code, volume, expected):
    assert lots.floor_buy(instrument(code), volume) == expected


@pytest.mark.parametrize(
    "code, volume, remaining, valid",
    [
        # main board: whole lots, or the order carries the whole odd part
        ("600000.SH", 100, 350, True),
        ("600000.SH", 350, 350, True),
        ("600000.SH", 150, 350, True),
        ("600000.SH", 50, 350, True),
        ("600000.SH", 40, 350, False),
        ("600000.SH", 120, 350, False),
        ("600000.SH", 400, 350, False),
        # STAR: >= 200 in steps of 1, a remainder below 200 only as a whole
        ("688981.SH", 200, 250, True),
        ("688981.SH", 250, 250, True),
        ("688981.SH", 150, 150, True),
        ("688981.SH", 50, 250, False),
        ("688981.SH", 150, 250, False),
        # Beijing: >= 100 in steps of 1
        ("430047.BJ", 101, 300, True),
        ("430047.BJ", 50, 50, True),
        ("430047.BJ", 50, 150, False),
        # convertible bonds: lots of 10, odd part with the order
        ("113050.SH", 10, 35, True),
        ("113050.SH", 5, 35, True),
        ("113050.SH", 25, 35, True),
        ("113050.SH", 7, 35, False),
    ],
)
def test_is_valid_sell(code, volume, remaining, valid):
    assert lots.is_valid_sell(instrument(code), volume, remaining) is valid


@pytest.mark.parametrize(
    "code, volume, remaining, expected",
    [
        ("600000.SH", 350, 350, 350),
        ("600000.SH", 250, 350, 250),
        ("600000.SH", 240, 350, 200),
        ("600000.SH", 160, 350, 150),
        ("600000.SH", 40, 350, 0),
        ("600000.SH", 300, 300, 300),
        ("600000.SH", 1000, 350, 350),
        ("688981.SH", 150, 150, 150),
        ("688981.SH", 150, 250, 0),
        ("688981.SH", 230, 250, 230),
        ("430047.BJ", 60, 60, 60),
        ("430047.BJ", 60, 160, 0),
        ("113050.SH", 33, 35, 30),
        ("113050.SH", 28, 35, 25),
    ],
)
def test_floor_sell(code, volume, remaining, expected):
    got = lots.floor_sell(instrument(code), volume, remaining)
    assert got == expected
    if got:
        assert lots.is_valid_sell(instrument(code), got, remaining)


@pytest.mark.parametrize(
    "code, volume, can_use, differ",
    [
        # main board lot 100: the odd parts of holding and sellable volume
        ("600000.SH", 1050, 1050, False),
        ("600000.SH", 1050, 50, False),
        ("600000.SH", 1000, 0, False),
        ("600000.SH", 1050, 1020, True),
        ("600000.SH", 1030, 1000, True),
        ("600000.SH", 1000, 950, True),
        ("000001.SZ", 350, 270, True),
        ("510300.SH", 150, 150, False),
        # STAR: the lot is the 200 minimum
        ("688981.SH", 250, 50, False),
        ("688981.SH", 250, 230, True),
        ("688981.SH", 400, 200, False),
        # Beijing 100, bonds 10
        ("430047.BJ", 150, 120, True),
        ("430047.BJ", 150, 50, False),
        ("113050.SH", 35, 25, False),
        ("113050.SH", 35, 28, True),
    ],
)
def test_odd_parts_differ(code, volume, can_use, differ):
    assert lots.odd_parts_differ(instrument(code), volume, can_use) is differ
