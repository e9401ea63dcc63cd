"""Fees in fen and T+0 / T+1 by code."""

import pytest

from jq2qmt.rules import fees, t0
from jq2qmt.rules.instrument import instrument


@pytest.mark.parametrize(
    "code, side, price, volume, expected_fen",
    [
        # 1,001 CNY: commission at the 5 CNY minimum, transfer fee 0.01001 rounded up
        ("600000.SH", "buy", 10.01, 100, 500 + 2),
        # + stamp duty 0.5005 CNY rounded up
        ("600000.SH", "sell", 10.01, 100, 500 + 2 + 51),
        # 500,000 CNY: commission 125, transfer 5, stamp duty 250
        ("600519.SH", "buy", 50.0, 10000, 12500 + 500),
        ("600519.SH", "sell", 50.0, 10000, 12500 + 500 + 25000),
        ("000001.SZ", "sell", 12.0, 100000, 30000 + 1200 + 60000),
        # funds and bonds: commission only
        ("510300.SH", "buy", 4.0, 1000, 500),
        ("510300.SH", "sell", 4.0, 1000000, 100000),
        ("113050.SH", "sell", 120.0, 10, 500),
    ],
)
def test_fees_fen(code, side, price, volume, expected_fen):
    amount = fees.amount_li(price, volume)
    assert fees.fees_fen_for_amount(instrument(code), side, amount) == expected_fen
    assert fees.estimate_fees(instrument(code), side, price, volume) == expected_fen / 100.0


def test_buy_cost_and_sell_proceeds():
    assert fees.buy_cost_fen(instrument("600000.SH"), 10.01, 100) == 100100 + 502
    assert fees.sell_proceeds_fen(instrument("600000.SH"), 10.01, 100) == 100100 - 553
    assert fees.buy_cost_fen(instrument("510300.SH"), 4.001, 100) == 40010 + 500


def test_fee_settings():
    custom = {"commission_rate": 0.0001, "min_commission": 0.0}
    assert (
        fees.fees_fen_for_amount(instrument("510300.SH"), "buy", fees.amount_li(4.0, 1000), custom)
        == 40
    )
    assert fees.fees_fen_for_amount(instrument("600000.SH"), "buy", 0) == 0
    with pytest.raises(ValueError):
        fees.with_defaults({"commision_rate": 0.1})


@pytest.mark.parametrize("cny, fen", [(100000.0, 10000000), (0.1 + 0.2, 30), (12.345, 1234)])
def test_to_fen_rounds_down(cny, fen):
    assert fees.to_fen(cny) == fen


@pytest.mark.parametrize(
    "code, is_t0",
    [
        ("600000.SH", False),
        ("000001.SZ", False),
        ("688981.SH", False),
        ("430047.BJ", False),
        ("510300.SH", False),
        ("159915.SZ", False),
        ("511880.SH", True),
        ("513100.SH", True),
        ("518880.SH", True),
        ("113050.SH", True),
        ("123107.SZ", True),
    ],
)
def test_t0(code, is_t0):
    assert t0.is_t0(code) is is_t0
