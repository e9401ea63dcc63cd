"""Convergence: repeated plan -> paper exchange cycles bring the account to the target
(within one lot per code) in a bounded number of cycles, across a T+1 day change.
"""

import math

from engine_builders import scenario_from_exchange
from engine_strategies import NORMAL_ONLY, TRADABLE, market, targets_and_follow
from hypothesis import given, settings
from hypothesis import strategies as st

from jq2qmt.engine import sizing
from jq2qmt.engine.merge import merge_targets
from jq2qmt.engine.plan import compute_plan
from jq2qmt.engine.scenario import parse_scenario
from jq2qmt.rules.instrument import instrument
from jq2qmt.sim.exchange import STATUS_JUNK, PaperExchange

PROFILE = settings.get_profile("jq2qmt-engine")
DAYS = 2
CYCLES_PER_DAY = 8
MATCHES_BETWEEN_ROUNDS = 3  # the market keeps trading between two follower rounds


def run_cycle(ex, targets, follow, settings_):
    """One follower round: scenario from the account, plan, cancels, orders, match."""
    raw = scenario_from_exchange(ex, targets, follow, settings_)
    plan = compute_plan(raw)
    for cancel in plan["cancels"]:
        ex.cancel_order(cancel["order_id"])
    for order in plan["orders"]:
        result = ex.place_order(order["code"], order["side"], order["volume"], order["price"])
        assert result["status"] != STATUS_JUNK, (order, result)
    for _ in range(MATCHES_BETWEEN_ROUNDS):
        ex.match()
    return plan


def off_target(ex, wanted):
    held = dict((p["code"], p["volume"]) for p in ex.positions())
    return dict(
        (code, held.get(code, 0) - target)
        for code, target in wanted.items()
        if abs(held.get(code, 0) - target) >= instrument(code).lot
    )


def converge(ex, targets, follow, settings_=None, cycles_per_day=CYCLES_PER_DAY):
    """Run days of cycles; returns the number of cycles until on target, or None."""
    parsed = parse_scenario(
        {"targets": targets, "follow": follow, "account": {"cash": 0, "positions": []}}
    )
    wanted = merge_targets(parsed["targets"], parsed["follow"])
    for held in ex.positions():
        wanted.setdefault(held["code"], 0)
    cycles = 0
    for day in range(DAYS):
        for _ in range(cycles_per_day):
            if not off_target(ex, wanted) and not ex.orders(open_only=True):
                return cycles
            run_cycle(ex, targets, follow, settings_)
            cycles += 1
        ex.next_day()
    return cycles if not off_target(ex, wanted) else None


@st.composite
def worlds(draw):
    codes_, quotes, held = draw(market(kinds=NORMAL_ONLY, pool=TRADABLE, max_codes=5))
    targets, follow = draw(targets_and_follow(codes_))
    return {
        "quotes": quotes,
        "held": held,
        "targets": targets,
        "follow": follow,
        "fill_ratio": draw(st.sampled_from([1.0, 0.5])),
        "use_sell_proceeds": draw(st.booleans()),
        "slice_value": draw(st.sampled_from([None, None, 1000000.0])),
    }


def slice_rounds(world, wanted):
    """Extra rounds a sliced order needs: a plan sends at most MAX_SLICES per code."""
    if world["slice_value"] is None:
        return 0
    per_round = world["slice_value"] * sizing.MAX_SLICES
    held = dict((c, v) for c, (v, _) in world["held"].items())
    return max(
        [
            int(
                math.ceil(
                    abs(wanted.get(c, 0) - held.get(c, 0))
                    * world["quotes"][c]["high_limit"]
                    / per_round
                )
            )
            for c in set(wanted) | set(held)
        ]
        or [0]
    )


@settings(PROFILE)
@given(worlds())
def test_cycles_reach_the_target_within_one_lot_across_a_day_change(world):
    parsed = parse_scenario(
        {
            "targets": world["targets"],
            "follow": world["follow"],
            "account": {"cash": 0, "positions": []},
        }
    )
    wanted = merge_targets(parsed["targets"], parsed["follow"])
    # enough cash for every target at the high limit, so cash never blocks
    cash = 10000.0 + sum(v * world["quotes"][c]["high_limit"] * 1.01 for c, v in wanted.items())
    ex = PaperExchange(cash=cash, fill_ratio=world["fill_ratio"])
    for code, q in world["quotes"].items():
        ex.set_quote(
            code,
            q["last"],
            prev_close=q["prev_close"],
            bid1=q["bid1"],
            ask1=q["ask1"],
            name=q["name"],
        )
    for code, (volume, can_use) in world["held"].items():
        ex.set_position(code, volume, can_use)
    settings_ = {
        "use_sell_proceeds": world["use_sell_proceeds"],
        "slice_value": world["slice_value"],
    }
    cycles = converge(
        ex,
        world["targets"],
        world["follow"],
        settings_,
        CYCLES_PER_DAY + slice_rounds(world, wanted),
    )
    assert cycles is not None, repr((world, ex.positions(), wanted, ex.orders()))
    assert ex.cash >= 0


def test_t1_blocked_position_is_sold_after_the_day_change():
    ex = PaperExchange(cash=0.0)
    ex.set_quote("688981.SH", 50.0, prev_close=50.0, bid1=49.99, ask1=50.01)
    ex.set_quote("600000.SH", 10.0, prev_close=9.9, bid1=9.99, ask1=10.01)
    ex.set_position("688981.SH", 250, can_use_volume=0)  # bought today
    ex.set_position("600000.SH", 1000, can_use_volume=1000)
    targets = [{"strategy": "S", "positions": [{"code": "600000.XSHG", "volume": 400}]}]
    follow = {"mode": "ratio", "strategies": {"S": {"ratio": 1}}}
    plan = run_cycle(ex, targets, follow, None)
    assert [(o["code"], o["volume"]) for o in plan["orders"]] == [("600000.SH", 600)]
    assert [(s["code"], s["reason"]) for s in plan["skipped"]] == [("688981.SH", "not_sellable")]
    assert run_cycle(ex, targets, follow, None)["orders"] == []  # still blocked today
    ex.next_day()
    plan = run_cycle(ex, targets, follow, None)
    assert [(o["code"], o["volume"]) for o in plan["orders"]] == [("688981.SH", 250)]
    assert dict((p["code"], p["volume"]) for p in ex.positions()) == {"600000.SH": 400}


def test_bought_shares_count_as_held_and_are_not_bought_twice():
    ex = PaperExchange(cash=100000.0, fill_ratio=0.5)
    ex.set_quote("000001.SZ", 11.0, prev_close=11.0, bid1=10.99, ask1=11.01)
    targets = [{"strategy": "S", "positions": [{"code": "000001.XSHE", "volume": 3000}]}]
    follow = {"mode": "ratio", "strategies": {"S": {"ratio": 1}}}
    placed = 0
    for _ in range(10):
        plan = run_cycle(ex, targets, follow, None)
        placed += sum(o["volume"] for o in plan["orders"])
    assert placed == 3000
    assert ex.positions()[0]["volume"] == 3000


def test_moving_prices_stale_orders_are_repriced_and_converge():
    ex = PaperExchange(cash=200000.0, auto_match=False)
    ex.set_quote("600000.SH", 10.0, prev_close=10.0, bid1=9.99, ask1=10.01)
    targets = [{"strategy": "S", "positions": [{"code": "600000.SH", "volume": 5000}]}]
    follow = {"mode": "ratio", "strategies": {"S": {"ratio": 1}}}
    settings_ = {"reprice_after": 15}
    placed_at = {}
    for cycle in range(6):
        raw = scenario_from_exchange(ex, targets, follow, settings_)
        for order in raw["account"]["open_orders"]:
            order["age_seconds"] = (cycle - placed_at[order["order_id"]]) * 10
        plan = compute_plan(raw)
        for cancel in plan["cancels"]:
            assert cancel["reason"] == "stale"
            ex.cancel_order(cancel["order_id"])
        for order in plan["orders"]:
            placed_at[
                ex.place_order(order["code"], order["side"], order["volume"], order["price"])[
                    "order_id"
                ]
            ] = cycle
        if cycle < 3:  # the market runs away before the order fills
            ex.set_quote(
                "600000.SH",
                10.1 + cycle * 0.05,
                prev_close=10.0,
                bid1=10.09 + cycle * 0.05,
                ask1=10.11 + cycle * 0.05,
            )
        ex.match()
    assert ex.positions()[0]["volume"] == 5000
    assert sum(1 for o in ex.orders() if o["status"] in (53, 54)) >= 1
