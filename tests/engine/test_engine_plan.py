"""One test per engine decision, with real codes and prices."""

import copy

import pytest
from engine_builders import by_code, quote, reasons, scenario

from jq2qmt.engine import sizing
from jq2qmt.engine.plan import compute_plan
from jq2qmt.rules import fees, lots
from jq2qmt.rules.instrument import instrument

PF = quote(10.0, prev_close=9.9, bid1=9.99, ask1=10.01)  # 600000 浦发银行
PA = quote(11.0, prev_close=11.0, bid1=10.99, ask1=11.01)  # 000001 平安银行


def test_contract_example_counts_the_open_buy_as_in_flight():
    sc = scenario(
        {"600000.XSHG": 1000},
        held={"600000.SH": 300},
        cash=100000.0,
        quotes={"600000.SH": PF},
        ratio=0.5,
        open_orders=[
            {
                "order_id": "17",
                "code": "600000.SH",
                "side": "buy",
                "volume": 100,
                "traded_volume": 0,
                "price": 10.0,
            }
        ],
    )
    plan = compute_plan(sc)
    assert plan["targets"] == {"600000.SH": 500}
    assert plan["orders"] == [
        {
            "code": "600000.SH",
            "side": "buy",
            "volume": 100,
            "price": 10.03,
            "reason": "target 500, held 300, in flight 100",
        }
    ]
    assert plan["cancels"] == [] and plan["skipped"] == []


def test_sell_price_and_sells_before_buys():
    sc = scenario(
        {"600000.SH": 100, "000001.SZ": 1000},
        held={"600000.SH": 300},
        quotes={"600000.SH": PF, "000001.SZ": PA},
    )
    orders = compute_plan(sc)["orders"]
    assert [(o["code"], o["side"], o["volume"], o["price"]) for o in orders] == [
        ("600000.SH", "sell", 200, 9.98),
        ("000001.SZ", "buy", 1000, 11.03),
    ]
    assert orders[0]["reason"] == "target 100, held 300"


def test_ratio_mode_merges_strategies_and_floors():
    sc = scenario({"600000.SH": 100}, quotes={"600000.SH": PF}, ratio=0.29)
    sc["targets"].append({"strategy": "S2", "positions": [{"code": "600000.XSHG", "volume": 1001}]})
    sc["targets"].append(
        {"strategy": "not followed", "positions": [{"code": "000001.SZ", "volume": 5000}]}
    )
    sc["follow"]["strategies"]["S2"] = {"ratio": 0.5}
    plan = compute_plan(sc)
    assert plan["targets"] == {"600000.SH": 29 + 500}  # 0.29*100 + 0.5*1001 = 529.5
    assert by_code(plan)["600000.SH"][0]["volume"] == 500


def test_weight_mode_scales_by_capital_over_portfolio_value():
    sc = scenario(
        {"600000.XSHG": 1000, "300750.XSHE": 300},
        quotes={"600000.SH": PF, "300750.SZ": quote(200.0, bid1=199.99, ask1=200.01)},
    )
    sc["targets"][0]["portfolio_value"] = 2000000.0
    sc["follow"] = {"mode": "weight", "strategies": {"S1": {"capital": 500000.0}}}
    plan = compute_plan(sc)
    assert plan["targets"] == {"300750.SZ": 75, "600000.SH": 250}
    assert {o["code"]: o["volume"] for o in plan["orders"]} == {"600000.SH": 200}
    assert reasons(plan) == {"300750.SZ": {"below_lot"}}


def test_negative_merged_target_is_zero():
    sc = scenario({"600000.SH": 100}, held={"600000.SH": 200}, quotes={"600000.SH": PF})
    sc["targets"].append(
        {"strategy": "ADJUSTMENT_1", "positions": [{"code": "600000.SH", "volume": -500}]}
    )
    sc["follow"]["strategies"]["ADJUSTMENT_1"] = {"ratio": 1.0}
    plan = compute_plan(sc)
    assert plan["targets"] == {"600000.SH": 0}
    assert plan["orders"][0]["volume"] == 200


def test_held_code_outside_the_target_is_sold_and_listed_with_target_zero():
    plan = compute_plan(scenario({}, held={"600000.SH": 300}, quotes={"600000.SH": PF}))
    assert plan["targets"] == {"600000.SH": 0}
    assert plan["orders"][0]["side"] == "sell" and plan["orders"][0]["volume"] == 300


def test_full_exit_sells_the_odd_lot_in_one_order():
    plan = compute_plan(
        scenario({"600000.SH": 0}, held={"600000.SH": 350}, quotes={"600000.SH": PF})
    )
    assert [o["volume"] for o in plan["orders"]] == [350]


def test_partial_sell_takes_the_odd_part_along_when_it_reaches_the_target():
    plan = compute_plan(
        scenario({"600000.SH": 100}, held={"600000.SH": 350}, quotes={"600000.SH": PF})
    )
    assert [o["volume"] for o in plan["orders"]] == [250]


def test_sell_is_limited_by_can_use_minus_open_sells():
    open_sell = {
        "order_id": "5",
        "code": "600000.SH",
        "side": "sell",
        "volume": 100,
        "traded_volume": 0,
        "price": 9.99,
    }
    plan = compute_plan(
        scenario(
            {"600000.SH": 0},
            held={"600000.SH": (1000, 400)},
            quotes={"600000.SH": PF},
            open_orders=[open_sell],
        )
    )
    assert [o["volume"] for o in plan["orders"]] == [300]
    assert reasons(plan) == {"600000.SH": {"not_sellable"}}


# When the odd part of the holding differs from the odd part of the sellable volume,
# brokers differ on which remainder goes in one order: whole lots only.
@pytest.mark.parametrize(
    "code, q, held, target, sold, skip",
    [
        # 30 frozen shares: the holding's odd part is 30, the sellable one's 0
        ("600000.SH", PF, (1030, 1000), 200, [800], "not_sellable"),
        # holding odd 50, sellable odd 70
        ("000001.SZ", PA, (350, 270), 100, [200], "not_sellable"),
        ("600000.SH", PF, (1050, 1020), 0, [1000], "not_sellable"),
        # bonds, lot 10: odd 5 vs 8
        ("113050.SH", quote(120.0, bid1=119.999, ask1=120.001), (35, 28), 10, [20], "not_sellable"),
        # the remainders agree: the odd part still goes in one order
        ("600000.SH", PF, (1030, 1030), 200, [830], None),
        ("000001.SZ", PA, (350, 250), 100, [250], None),
        ("600000.SH", PF, (1050, 50), 0, [50], "not_sellable"),
    ],
)
def test_sell_is_whole_lots_when_the_odd_parts_differ(code, q, held, target, sold, skip):
    plan = compute_plan(scenario({code: target}, held={code: held}, quotes={code: q}))
    assert [o["volume"] for o in plan["orders"]] == sold
    assert reasons(plan) == ({code: {skip}} if skip else {})
    [entry] = plan["skipped"] if skip else [{"detail": ""}]
    assert ("whole lots only" in entry["detail"]) is lots.odd_parts_differ(instrument(code), *held)


def test_whole_lot_sells_stay_whole_when_capped_or_sliced():
    held = {"600000.SH": (1050, 1040)}  # odd 50 held, 40 sellable
    capped = compute_plan(
        scenario(
            {"600000.SH": 0},
            held=held,
            quotes={"600000.SH": PF},
            settings={"max_order_value": 3600},
        )
    )
    assert [o["volume"] for o in capped["orders"]] == [300]
    sliced = compute_plan(
        scenario(
            {"600000.SH": 0}, held=held, quotes={"600000.SH": PF}, settings={"slice_value": 2600}
        )
    )
    assert [o["volume"] for o in sliced["orders"]] == [200, 200, 200, 200, 200]
    assert all(o["volume"] % 100 == 0 for o in sliced["orders"])


def test_t1_blocked_sell_is_skipped_as_not_sellable():
    plan = compute_plan(
        scenario({"600000.SH": 0}, held={"600000.SH": (500, 0)}, quotes={"600000.SH": PF})
    )
    assert plan["orders"] == []
    assert reasons(plan) == {"600000.SH": {"not_sellable"}}


@pytest.mark.parametrize(
    "code, q, target, volume, skip",
    [
        ("688981.SH", quote(50.0), 150, None, "below_lot"),  # STAR minimum 200
        ("688981.SH", quote(50.0), 257, 257, None),  # then steps of 1
        ("430047.BJ", quote(8.0), 101, 101, None),  # Beijing: 100, then 1
        ("920118.BJ", quote(20.0), 99, None, "below_lot"),
        ("113050.SH", quote(120.0, bid1=119.999, ask1=120.001), 37, 30, None),  # bonds: 10
        ("510300.SH", quote(4.0, bid1=3.999, ask1=4.001), 1050, 1000, None),
        ("159915.SZ", quote(2.5, bid1=2.499, ask1=2.501), 99, None, "below_lot"),
    ],
)
def test_lot_rules_per_board(code, q, target, volume, skip):
    plan = compute_plan(scenario({code: target}, quotes={code: q}))
    assert [o["volume"] for o in plan["orders"]] == ([volume] if volume else [])
    assert reasons(plan) == ({code: {skip}} if skip else {})


def test_etf_price_is_on_the_0001_tick():
    plan = compute_plan(
        scenario({"510300.SH": 1000}, quotes={"510300.SH": quote(4.0, bid1=3.999, ask1=4.001)})
    )
    assert plan["orders"][0]["price"] == 4.009  # 4.001 * 1.002 = 4.009002, down


def test_limit_up_blocks_buys_but_not_sells():
    sealed = quote(10.89, prev_close=9.9, bid1=10.89, ask1=0)
    plan = compute_plan(scenario({"600000.SH": 500}, quotes={"600000.SH": sealed}))
    assert plan["orders"] == [] and reasons(plan) == {"600000.SH": {"limit_up"}}
    plan = compute_plan(
        scenario({"600000.SH": 0}, held={"600000.SH": 500}, quotes={"600000.SH": sealed})
    )
    assert plan["orders"][0]["side"] == "sell"
    assert plan["orders"][0]["price"] <= 10.89


def test_limit_down_blocks_sells_but_not_buys():
    sealed = quote(8.91, prev_close=9.9, bid1=0, ask1=8.91)
    plan = compute_plan(
        scenario({"600000.SH": 0}, held={"600000.SH": 500}, quotes={"600000.SH": sealed})
    )
    assert plan["orders"] == [] and reasons(plan) == {"600000.SH": {"limit_down"}}
    plan = compute_plan(scenario({"600000.SH": 500}, quotes={"600000.SH": sealed}))
    assert plan["orders"][0]["price"] == 8.92  # 8.91 * 1.002 = 8.928, down to 8.92


def test_suspended_code_is_skipped():
    plan = compute_plan(
        scenario({"000001.SZ": 1000}, quotes={"000001.SZ": dict(PA, suspended=True)})
    )
    assert plan["orders"] == [] and reasons(plan) == {"000001.SZ": {"suspended"}}


@pytest.mark.parametrize(
    "quotes",
    [
        {},
        {"000001.SZ": {"last": 0, "prev_close": 11.0}},
        {"000001.SZ": {"last": 11.0}},  # no limits and no prev_close
    ],
)
def test_no_usable_quote_is_skipped(quotes):
    plan = compute_plan(scenario({"000001.SZ": 1000}, quotes=quotes))
    assert plan["orders"] == [] and reasons(plan) == {"000001.SZ": {"no_quote"}}


def test_limits_are_derived_from_prev_close_with_st_five_percent():
    # *ST name, prev close 2.00: limits 2.10 / 1.90; ask 2.09 x 1.02 cage -> high 2.10
    q = {"last": 2.08, "prev_close": 2.0, "bid1": 2.07, "ask1": 2.09, "name": "*ST示例"}
    plan = compute_plan(
        scenario({"600543.SH": 1000}, quotes={"600543.SH": q}, settings={"slippage": 0.05})
    )
    assert plan["orders"][0]["price"] == 2.10
    q2 = dict(q, name="示例股份")  # 10% limit 2.20; cage max(2.1318, 2.19) -> 2.19
    plan = compute_plan(
        scenario({"600543.SH": 1000}, quotes={"600543.SH": q2}, settings={"slippage": 0.05})
    )
    assert plan["orders"][0]["price"] == 2.19


@pytest.mark.parametrize(
    "code, ignore",
    [
        ("511880.SH", ["511880.XSHG"]),
        ("131810.SZ", ["1318*"]),
        ("204001.SH", []),
        ("131810.SZ", []),
        ("730001.SH", []),
        ("000300.SH", []),
    ],
)
def test_ignored_codes_are_never_traded_nor_cancelled(code, ignore):
    order = {"order_id": "1", "code": code, "side": "buy", "volume": 100, "price": 100.0}
    plan = compute_plan(
        scenario(
            {code: 0},
            held={code: 1000},
            open_orders=[order],
            quotes={code: quote(100.0)},
            settings={"ignore": ignore},
        )
    )
    assert plan["orders"] == [] and plan["cancels"] == []
    assert reasons(plan) == {code: {"ignored"}}


def test_below_min_order_value():
    plan = compute_plan(
        scenario({"600000.SH": 100}, quotes={"600000.SH": PF}, settings={"min_order_value": 2000})
    )
    assert plan["orders"] == [] and reasons(plan) == {"600000.SH": {"below_min_value"}}


def test_over_max_order_value_caps_the_order():
    plan = compute_plan(
        scenario({"600000.SH": 1000}, quotes={"600000.SH": PF}, settings={"max_order_value": 5000})
    )
    assert [o["volume"] for o in plan["orders"]] == [400]  # 400 x 10.03 = 4012
    assert reasons(plan) == {"600000.SH": {"over_max_order_value"}}


def test_slice_value_splits_orders_and_keeps_the_odd_lot_in_the_last_slice():
    plan = compute_plan(
        scenario({"600000.SH": 1000}, quotes={"600000.SH": PF}, settings={"slice_value": 3100})
    )
    assert [o["volume"] for o in plan["orders"]] == [300, 300, 300, 100]
    plan = compute_plan(
        scenario(
            {"600000.SH": 0},
            held={"600000.SH": 750},
            quotes={"600000.SH": PF},
            settings={"slice_value": 3100},
        )
    )
    assert [o["volume"] for o in plan["orders"]] == [300, 300, 150]
    assert plan["skipped"] == []


def test_slices_per_code_are_bounded_and_the_rest_waits_for_a_later_round():
    plan = compute_plan(
        scenario(
            {"600000.SH": 0},
            held={"600000.SH": 100000},
            quotes={"600000.SH": PF},
            settings={"slice_value": 3100},
        )
    )
    assert [o["volume"] for o in plan["orders"]] == [300] * sizing.MAX_SLICES
    assert reasons(plan) == {"600000.SH": {"over_max_order_value"}}
    plan = compute_plan(
        scenario(
            {"600000.SH": 100000},
            quotes={"600000.SH": PF},
            cash=1e7,
            settings={"slice_value": 3100},
        )
    )
    assert [o["volume"] for o in plan["orders"]] == [300] * sizing.MAX_SLICES
    assert reasons(plan) == {"600000.SH": {"over_max_order_value"}}


def test_insufficient_cash_serves_the_largest_order_value_first():
    quotes = {"600000.SH": PF, "000001.SZ": PA, "300750.SZ": quote(200.0)}
    cost_pa = fees.buy_cost_fen(instrument("000001.SZ"), 11.03, 1000) / 100.0
    cost_pf = fees.buy_cost_fen(instrument("600000.SH"), 10.03, 300) / 100.0
    plan = compute_plan(
        scenario(
            {"600000.SH": 300, "000001.SZ": 1000, "300750.SZ": 100},
            quotes=quotes,
            cash=cost_pa + cost_pf + 100,
        )
    )
    got = {o["code"]: o["volume"] for o in plan["orders"]}
    # 300750 (20,040) first: cannot afford one lot; 000001 (11,030) next, then 600000
    assert got == {"000001.SZ": 1000, "600000.SH": 300}
    assert reasons(plan) == {"300750.SZ": {"insufficient_cash"}}


def test_insufficient_cash_buys_the_largest_affordable_volume():
    plan = compute_plan(scenario({"600000.SH": 1000}, quotes={"600000.SH": PF}, cash=5000))
    assert [o["volume"] for o in plan["orders"]] == [400]  # 4012 + 5.02 fees
    assert reasons(plan) == {"600000.SH": {"insufficient_cash"}}


@pytest.mark.parametrize("use, bought", [(False, 0), (True, 200)])
def test_sell_proceeds_only_with_use_sell_proceeds(use, bought):
    plan = compute_plan(
        scenario(
            {"000001.SZ": 200},
            held={"600000.SH": 300},
            cash=100,
            quotes={"600000.SH": PF, "000001.SZ": PA},
            settings={"use_sell_proceeds": use},
        )
    )
    buys = [o["volume"] for o in plan["orders"] if o["side"] == "buy"]
    assert sum(buys) == bought


def test_fee_settings_change_the_cash_needed():
    cash = 1003 * 1.0 + 1  # exactly the amount + 1 CNY
    plan = compute_plan(
        scenario(
            {"600000.SH": 100},
            quotes={"600000.SH": PF},
            cash=cash,
            settings={"fees": {"min_commission": 0.0}},
        )
    )
    assert [o["volume"] for o in plan["orders"]] == [100]
    plan = compute_plan(scenario({"600000.SH": 100}, quotes={"600000.SH": PF}, cash=cash))
    assert plan["orders"] == []


def _order(order_id, side, volume, traded=0, code="600000.SH", age=None):
    order = {
        "order_id": order_id,
        "code": code,
        "side": side,
        "volume": volume,
        "traded_volume": traded,
        "price": 10.0,
    }
    if age is not None:
        order["age_seconds"] = age
    return order


def test_wrong_direction_open_order_is_cancelled():
    plan = compute_plan(
        scenario(
            {"600000.SH": 500},
            quotes={"600000.SH": PF},
            open_orders=[_order("9", "sell", 100)],
            held={"600000.SH": 100},
        )
    )
    assert plan["cancels"] == [
        {
            "order_id": "9",
            "code": "600000.SH",
            "reason": "wrong_direction",
            "detail": "sell 100 @ 10.0",
        }
    ]
    assert [o["volume"] for o in plan["orders"]] == [400]


def test_open_order_when_already_on_target_is_cancelled():
    plan = compute_plan(
        scenario(
            {"600000.SH": 500},
            held={"600000.SH": 500},
            quotes={"600000.SH": PF},
            open_orders=[_order("3", "buy", 100)],
        )
    )
    assert [c["reason"] for c in plan["cancels"]] == ["off_target"]
    assert plan["orders"] == []


def test_excess_in_flight_keeps_the_oldest_orders_and_adds_the_rest():
    orders = [
        _order("12", "buy", 300),
        _order("11", "buy", 200, traded=100),
        _order("10", "buy", 300),
    ]
    plan = compute_plan(scenario({"600000.SH": 600}, quotes={"600000.SH": PF}, open_orders=orders))
    # oldest first: 10 (300) and 11 (100 left) are kept, 12 would exceed 600
    assert [(c["order_id"], c["reason"]) for c in plan["cancels"]] == [("12", "off_target")]
    assert [o["volume"] for o in plan["orders"]] == [200]
    assert plan["orders"][0]["reason"] == "target 600, held 0, in flight 400"


def test_partly_traded_orders_count_only_their_remaining_volume():
    plan = compute_plan(
        scenario(
            {"600000.SH": 500},
            held={"600000.SH": 200},
            quotes={"600000.SH": PF},
            open_orders=[_order("1", "buy", 300, traded=200)],
        )
    )
    assert [o["volume"] for o in plan["orders"]] == [200]


def test_stale_order_is_cancelled_but_still_counted_in_flight():
    orders = [_order("1", "buy", 300, age=45), _order("2", "buy", 100, age=5)]
    plan = compute_plan(
        scenario(
            {"600000.SH": 500},
            quotes={"600000.SH": PF},
            open_orders=orders,
            settings={"reprice_after": 30},
        )
    )
    assert [(c["order_id"], c["reason"]) for c in plan["cancels"]] == [("1", "stale")]
    assert [o["volume"] for o in plan["orders"]] == [100]


def test_open_orders_are_never_doubled():
    orders = [_order("1", "buy", 500)]
    plan = compute_plan(scenario({"600000.SH": 500}, quotes={"600000.SH": PF}, open_orders=orders))
    assert plan["orders"] == [] and plan["cancels"] == []


def test_plan_is_deterministic_and_does_not_mutate_its_input():
    sc = scenario(
        {"600000.SH": 100, "000001.SZ": 1000},
        held={"600000.SH": 300},
        quotes={"600000.SH": PF, "000001.SZ": PA},
        open_orders=[_order("1", "buy", 100)],
    )
    before = copy.deepcopy(sc)
    assert compute_plan(sc) == compute_plan(copy.deepcopy(sc))
    assert sc == before


def test_no_odd_sell_that_is_only_the_rest_while_a_cancelled_sell_is_frozen():
    # STAR: held 3000, an open sell of 2985 is too large for a target of 165 and is
    # cancelled. While it is frozen only 15 can be sold, but once it is cancelled 15
    # is no longer "the whole rest" of the position, so the exchange refuses it.
    order = {
        "order_id": "1",
        "code": "688981.SH",
        "side": "sell",
        "volume": 2985,
        "traded_volume": 0,
        "price": 199.96,
    }
    plan = compute_plan(
        scenario(
            {"688981.SH": 165},
            held={"688981.SH": 3000},
            quotes={"688981.SH": quote(200.0)},
            open_orders=[order],
        )
    )
    assert [c["order_id"] for c in plan["cancels"]] == ["1"]
    assert plan["orders"] == []
    assert reasons(plan) == {"688981.SH": {"not_sellable"}}


def test_slice_tail_is_valid_after_the_cancels_too():
    # STAR, 1025 sellable while an oversized open sell (cancelled by this plan) freezes
    # 2875: sliced sells must not end in a 5-share tail that is "the whole rest" only
    # while the cancelled order is still frozen.
    order = {
        "order_id": "1",
        "code": "688981.SH",
        "side": "sell",
        "volume": 2875,
        "traded_volume": 0,
        "price": 150.0,
    }
    plan = compute_plan(
        scenario(
            {"688981.SH": 1283},
            held={"688981.SH": 3900},
            quotes={"688981.SH": quote(97.64)},
            open_orders=[order],
            settings={"slice_value": 19950},
        )
    )
    sells = [o["volume"] for o in plan["orders"]]  # 204 a slice: 5 x 204 + 5
    assert sells and all(v >= 200 for v in sells), sells
    assert [c["order_id"] for c in plan["cancels"]] == ["1"]


def test_order_ids_sort_numerically_by_ascii_digits_only():
    from jq2qmt.engine import inflight

    ids = ["10", "9", "x1", "²", "１"]
    ordered = sorted(({"order_id": i} for i in ids), key=inflight.order_sort_key)
    assert [o["order_id"] for o in ordered] == ["9", "10", "x1", "²", "１"]
