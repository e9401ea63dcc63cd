"""Tick, rounding, daily limits (incl. ST), price cage and limit-order prices."""

import math
import random

import pytest

from jq2qmt.rules import prices
from jq2qmt.rules.instrument import instrument


@pytest.mark.parametrize(
    "code, tick",
    [
        ("600000.SH", 0.01),
        ("688981.SH", 0.01),
        ("300750.SZ", 0.01),
        ("000001.SZ", 0.01),
        ("430047.BJ", 0.01),
        ("510300.SH", 0.001),
        ("159915.SZ", 0.001),
        ("113050.SH", 0.001),
        ("123107.SZ", 0.001),
    ],
)
def test_tick(code, tick):
    assert prices.tick_size(code) == tick


@pytest.mark.parametrize(
    "price, tick, mode, expected",
    [
        (10.034, 0.01, "nearest", 10.03),
        (10.035, 0.01, "nearest", 10.04),
        (10.039, 0.01, "down", 10.03),
        (10.031, 0.01, "up", 10.04),
        (10.03, 0.01, "up", 10.03),
        (10.03, 0.01, "down", 10.03),
        (3.9955, 0.001, "nearest", 3.996),
        (3.9959, 0.001, "down", 3.995),
        (0.1 + 0.2, 0.01, "down", 0.3),
    ],
)
def test_round_price(price, tick, mode, expected):
    assert prices.round_price(price, tick, mode) == expected
    assert prices.is_on_tick(prices.round_price(price, tick, mode), tick)


def test_round_price_rejects_unknown_mode():
    with pytest.raises(ValueError):
        prices.round_price(1.0, 0.01, "banker")


@pytest.mark.parametrize(
    "price, tick, on",
    [
        (10.03, 0.01, True),
        (10.035, 0.01, False),
        (3.995, 0.001, True),
        (3.9955, 0.001, False),
    ],
)
def test_is_on_tick(price, tick, on):
    assert prices.is_on_tick(price, tick) is on


@pytest.mark.parametrize(
    "name, st",
    [
        ("*ST华铁", True),
        ("ST中嘉", True),
        ("S*ST前锋", True),
        ("浦发银行", False),
        (None, False),
        ("", False),
    ],
)
def test_is_st(name, st):
    assert prices.is_st(name) is st


@pytest.mark.parametrize(
    "code, prev_close, st, high, low",
    [
        ("600000.SH", 9.9, False, 10.89, 8.91),
        ("600000.SH", 10.05, False, 11.06, 9.05),  # 11.055 rounds half up
        ("000001.SZ", 11.0, False, 12.1, 9.9),
        ("600543.SH", 2.33, True, 2.45, 2.21),  # ST on the main board: 5%
        ("300750.SZ", 200.0, False, 240.0, 160.0),
        ("300750.SZ", 200.0, True, 240.0, 160.0),  # ST on ChiNext keeps 20%
        ("688981.SH", 88.88, False, 106.66, 71.1),
        ("430047.BJ", 10.0, False, 13.0, 7.0),
        ("510300.SH", 3.995, False, 4.395, 3.596),
        ("113050.SH", 120.0, False, 144.0, 96.0),
    ],
)
def test_daily_limits(code, prev_close, st, high, low):
    assert prices.daily_limits(instrument(code), prev_close, st) == (high, low)


@pytest.mark.parametrize(
    "side, quote, ref",
    [
        ("buy", {"ask1": 10.01, "bid1": 9.99, "last": 10.0, "prev_close": 9.9}, 10.01),
        ("buy", {"ask1": 0, "bid1": 9.99, "last": 10.0}, 9.99),
        ("buy", {"ask1": None, "bid1": None, "last": 10.0}, 10.0),
        ("buy", {"last": 0, "prev_close": 9.9}, 9.9),
        ("sell", {"ask1": 10.01, "bid1": 9.99, "last": 10.0}, 9.99),
        ("sell", {"ask1": 10.01, "bid1": 0, "last": 10.0}, 10.01),
        ("sell", {"last": None, "prev_close": None}, None),
    ],
)
def test_cage_reference(side, quote, ref):
    assert prices.cage_reference(side, quote) == ref


@pytest.mark.parametrize(
    "code, side, ref, bound",
    [
        ("600000.SH", "buy", 10.01, 10.21),  # 2% binds
        ("600000.SH", "buy", 2.0, 2.1),  # 10 ticks bind on cheap shares
        ("688981.SH", "buy", 2.0, 2.04),  # STAR: 2% only
        ("600000.SH", "sell", 10.0, 9.8),
        ("600000.SH", "sell", 2.0, 1.9),
        ("688981.SH", "sell", 2.0, 1.96),
        ("510300.SH", "buy", 4.0, 4.08),
        ("510300.SH", "buy", 0.5, 0.51),
        ("113050.SH", "sell", 120.0, 117.6),
    ],
)
def test_cage_bounds(code, side, ref, bound):
    assert prices.cage_bounds(instrument(code), side, ref) == pytest.approx(bound)


def test_in_cage():
    quote = {"ask1": 10.01, "bid1": 9.99, "last": 10.0}
    assert prices.in_cage(instrument("600000.SH"), "buy", 10.21, quote)
    assert not prices.in_cage(instrument("600000.SH"), "buy", 10.22, quote)
    assert prices.in_cage(instrument("600000.SH"), "sell", 9.80, quote)
    assert not prices.in_cage(instrument("600000.SH"), "sell", 9.79, quote)


@pytest.mark.parametrize(
    "quote, up, down",
    [
        (
            {"high_limit": 10.89, "low_limit": 8.91, "bid1": 10.89, "ask1": 0, "last": 10.89},
            True,
            False,
        ),
        (
            {"high_limit": 10.89, "low_limit": 8.91, "bid1": 0, "ask1": 0, "last": 10.89},
            True,
            False,
        ),
        (
            {"high_limit": 10.89, "low_limit": 8.91, "bid1": 10.88, "ask1": 10.89, "last": 10.89},
            False,
            False,
        ),
        (
            {"high_limit": 10.89, "low_limit": 8.91, "bid1": 0, "ask1": 8.91, "last": 8.91},
            False,
            True,
        ),
        (
            {"high_limit": 10.89, "low_limit": 8.91, "bid1": None, "ask1": None, "last": 8.91},
            False,
            True,
        ),
        (
            {"high_limit": 10.89, "low_limit": 8.91, "bid1": 8.91, "ask1": 8.92, "last": 8.91},
            False,
            False,
        ),
    ],
)
def test_limit_up_down(quote, up, down):
    assert prices.is_limit_up(quote) is up
    assert prices.is_limit_down(quote) is down


Q = {
    "last": 10.0,
    "prev_close": 9.9,
    "high_limit": 10.89,
    "low_limit": 8.91,
    "bid1": 9.99,
    "ask1": 10.01,
}


@pytest.mark.parametrize(
    "code, side, quote, slippage, price",
    [
        ("600000.SH", "buy", Q, 0.002, 10.03),
        ("600000.SH", "sell", Q, 0.002, 9.98),
        ("600000.SH", "buy", Q, 0.0, 10.01),
        ("600000.SH", "buy", dict(Q, ask1=10.88), 0.002, 10.89),  # capped by high limit
        ("600000.SH", "sell", dict(Q, bid1=8.92), 0.01, 8.91),  # floored by low limit
        ("600000.SH", "buy", dict(Q, ask1=10.01), 0.05, 10.21),  # capped by the cage
        (
            "510300.SH",
            "buy",
            {"high_limit": 4.4, "low_limit": 3.6, "ask1": 4.001, "last": 4.0},
            0.002,
            4.009,
        ),
        (
            "113050.SH",
            "sell",
            {"high_limit": 144.0, "low_limit": 96.0, "bid1": 120.001, "last": 120.0},
            0.002,
            119.761,
        ),
    ],
)
def test_limit_order_price(code, side, quote, slippage, price):
    got = prices.limit_order_price(instrument(code), side, quote, slippage)
    assert got == pytest.approx(price)
    tick = prices.tick_size(code)
    assert prices.is_on_tick(got, tick)
    assert quote["low_limit"] <= got <= quote["high_limit"]
    assert prices.in_cage(instrument(code), side, got, quote)


def test_limit_order_price_none_without_reference():
    assert (
        prices.limit_order_price(
            instrument("600000.SH"), "buy", {"high_limit": 1, "low_limit": 1}, 0.002
        )
        is None
    )


def _round_price_by_round(price, tick, mode):
    """round_price as first written: round(n x tick, decimals) (the reference)."""
    units = price / tick
    n = {
        "down": math.floor(units + 1e-7),
        "up": math.ceil(units - 1e-7),
        "nearest": math.floor(units + 0.5 + 1e-7),
    }[mode]
    return round(n * tick, 3 if tick < 0.01 - 1e-12 else 2)


@pytest.mark.parametrize("tick", [0.01, 0.001, 0.05, 0.005])
def test_round_price_equals_rounding_whole_ticks_with_round(tick):
    # round_price divides whole ticks by 100 / 1000 instead of calling round(): the
    # floats must be the same ones, for on-tick, off-tick, tiny and huge prices
    rnd = random.Random(7)
    prices_ = [n * tick for n in range(-2000, 40000)]
    prices_ += [rnd.uniform(0, 3000) for _ in range(40000)]
    prices_ += [rnd.uniform(0, 1e13) for _ in range(5000)] + [1e14 + 0.004, 3e15, 1e17]
    for price in prices_:
        for mode in ("down", "up", "nearest"):
            assert prices.round_price(price, tick, mode) == _round_price_by_round(
                price, tick, mode
            ), (price, mode)
