"""The quality figures against hand computations (jq2qmt.store.quality_calc)."""

import pytest

from jq2qmt.store import quality_calc as calc


@pytest.mark.parametrize(
    "target, held, prices, total, value, pct, unpriced",
    [
        # |1000-800| x 10 + |0-300| x 20 + |500-500| x 5 = 2000 + 6000 = 8000; / 100000 = 8 %
        (
            {"A": 1000, "C": 500},
            {"A": 800, "B": 300, "C": 500},
            {"A": 10.0, "B": 20.0, "C": 5.0},
            100000.0,
            8000.0,
            8.0,
            [],
        ),
        # in line: nothing to count
        ({"A": 100}, {"A": 100}, {"A": 10.0}, 5000.0, 0.0, 0.0, []),
        # B has no price: left out and named; 100 x 12.34 = 1234 of 200000 = 0.617 %
        ({"A": 100, "B": 50}, {}, {"A": 12.34}, 200000.0, 1234.0, 0.617, ["B"]),
        # no total asset: no percentage
        ({"A": 100}, {}, {"A": 10.0}, 0.0, 1000.0, None, []),
    ],
)
def test_deviation(target, held, prices, total, value, pct, unpriced):
    assert calc.deviation(target, held, prices, total) == {
        "value": value,
        "pct": pct,
        "unpriced": unpriced,
    }


@pytest.mark.parametrize(
    "side, ref, price, volume, bps, cost",
    [
        ("buy", 10.00, 10.02, 1000, 20.0, 20.0),  # paid 0.02 more: +20 bps, 20 CNY
        ("buy", 10.00, 9.99, 500, -10.0, -5.0),  # bought cheaper: negative cost
        ("sell", 50.00, 49.90, 200, 20.0, 20.0),  # sold 0.10 lower: cost
        ("sell", 50.00, 50.05, 100, -10.0, -5.0),  # sold higher: gain
        ("buy", 70.00, 70.08, 2700, 11.43, 216.0),  # 0.08 / 70 = 11.428.. bps
        ("buy", None, 10.0, 100, None, None),  # no reference price
    ],
)
def test_slippage(side, ref, price, volume, bps, cost):
    assert calc.slippage(side, ref, price, volume) == (bps, cost)


def test_weighted_bps_weights_by_reference_value():
    # 20 bps on 10,000 CNY and -10 bps on 30,000 CNY: (200000 - 300000) / 40000 = -2.5
    assert calc.weighted_bps([(20.0, 10.0, 1000), (-10.0, 30.0, 1000), (None, 5.0, 100)]) == -2.5
    assert calc.weighted_bps([]) is None


def test_fill_rate_percentile_normalise_unrealised():
    assert calc.fill_rate(1000, 700) == 0.7
    assert calc.fill_rate(0, 0) is None
    values = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6]
    assert calc.percentile(values, 50) == 5  # rank ceil(5) = 5th smallest
    assert calc.percentile(values, 90) == 9  # rank 9
    assert calc.percentile([3.5], 90) == 3.5
    assert calc.percentile([], 50) is None
    assert calc.normalise([None, 0, 200.0, 220.0, None, 180.0]) == [None, 0.0, 1.0, 1.1, None, 0.9]
    assert calc.normalise([None, None]) == [None, None]
    assert calc.unrealised(300, 10.0, 10.5) == (3150.0, 3000.0, 150.0)
    assert calc.unrealised(300, 0, 10.5) == (3150.0, None, None)
