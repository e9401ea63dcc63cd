"""Property-based tests: every contract invariant holds for random scenarios, and the
plan executes on the paper exchange without a single rejection.

CI runs 2,000 examples per property: JQ2QMT_HYPOTHESIS_PROFILE=ci (see conftest.py).
"""

import copy

from engine_builders import scenario_from_exchange
from engine_invariants import check_invariants
from engine_strategies import CASH, market, raw_scenarios, settings_dict, targets_and_follow
from hypothesis import event, given, settings
from hypothesis import strategies as st

from jq2qmt.engine.plan import compute_plan
from jq2qmt.rules import lots, prices
from jq2qmt.rules.instrument import instrument
from jq2qmt.sim.exchange import STATUS_JUNK, STATUS_SUCCEEDED, PaperExchange

PROFILE = settings.get_profile("jq2qmt-engine")


def _label(plan):
    """Statistics (pytest --hypothesis-show-statistics): what the examples exercised."""
    for side in sorted(set(o["side"] for o in plan["orders"])):
        event("order: " + side)
    for reason in sorted(set(c["reason"] for c in plan["cancels"])):
        event("cancel: " + reason)
    for reason in sorted(set(s["reason"] for s in plan["skipped"])):
        event("skip: " + reason)


@settings(PROFILE)
@given(raw_scenarios())
def test_contract_invariants_hold(raw):
    before = copy.deepcopy(raw)
    plan = compute_plan(raw)
    assert raw == before  # pure: the input is untouched
    check_invariants(raw, plan)
    _label(plan)
    assert compute_plan(copy.deepcopy(raw)) == plan  # deterministic


@st.composite
def exchange_worlds(draw):
    codes_, quotes, held = draw(market())
    targets, follow = draw(targets_and_follow(codes_))
    rnd = draw(st.randoms(use_true_random=True))
    resting = [
        (rnd.choice(codes_), rnd.choice(["buy", "sell"]), rnd.randint(1, 3000), rnd.randint(0, 5))
        for _ in range(draw(st.integers(0, 3)))
    ]
    cash = draw(CASH)
    return {
        "quotes": quotes,
        "held": held,
        "targets": targets,
        "follow": follow,
        "resting": resting,
        "cash": cash,
        "settings": draw(settings_dict(codes_)),
        "fill_ratio": draw(st.sampled_from([1.0, 1.0, 0.5, 0.3])),
        "drop_limits": draw(st.booleans()),
    }


def build_exchange(world):
    ex = PaperExchange(
        cash=world["cash"],
        fees=world["settings"].get("fees"),
        auto_match=False,
        fill_ratio=world["fill_ratio"],
    )
    for code, q in world["quotes"].items():
        ex.set_quote(
            code,
            q["last"],
            prev_close=q["prev_close"],
            bid1=q["bid1"],
            ask1=q["ask1"],
            suspended=q["suspended"],
            name=q["name"],
        )
    for code, (volume, can_use) in world["held"].items():
        ex.set_position(code, volume, can_use)
    for code, side, volume, ticks in world["resting"]:
        q = ex.quote(code)
        if q is None or code not in world["quotes"]:
            continue
        inst = instrument(code)
        if not inst.tradable:
            continue
        tick = inst.tick
        volume = lots.floor_buy(inst, volume)
        if side == "buy":
            price = max(q["low_limit"], (q["bid1"] or q["last"]) - ticks * tick)
        else:
            price = min(q["high_limit"], (q["ask1"] or q["last"]) + ticks * tick)
        if volume:
            ex.place_order(code, side, volume, prices.round_price(price, tick))
    ex.auto_match = True
    return ex


@settings(PROFILE)
@given(exchange_worlds())
def test_plan_executes_on_the_paper_exchange_without_rejections(world):
    ex = build_exchange(world)
    raw = scenario_from_exchange(
        ex, world["targets"], world["follow"], world["settings"], drop_limits=world["drop_limits"]
    )
    plan = compute_plan(raw)
    check_invariants(raw, plan)
    _label(plan)
    for cancel in plan["cancels"]:
        assert ex.cancel_order(cancel["order_id"]), cancel
    sells_done = None
    for order in plan["orders"]:
        if order["side"] == "buy" and sells_done is None:
            sells_done = all(
                o["status"] == STATUS_SUCCEEDED
                for o in ex.orders()
                if o["side"] == "sell" and o["remark"] == "plan"
            )
        result = ex.place_order(
            order["code"], order["side"], order["volume"], order["price"], remark="plan"
        )
        if result["status"] == STATUS_JUNK:
            # only buys paid from sell proceeds may wait for sells that did not fill yet
            assert (
                raw["settings"].get("use_sell_proceeds")
                and not sells_done
                and result["status_msg"] == "insufficient_cash"
            ), (order, result, plan)
    assert ex.cash >= 0
