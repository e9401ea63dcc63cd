"""The contract's invariants, checked independently of the engine's own code paths
(only jq2qmt.rules, the shared market rules, is reused)."""

import math
from fractions import Fraction

from jq2qmt.engine.scenario import parse_scenario
from jq2qmt.rules import codes, fees, lots, prices
from jq2qmt.rules.instrument import instrument

SKIP_REASONS = {
    "suspended",
    "limit_up",
    "limit_down",
    "not_sellable",
    "insufficient_cash",
    "below_lot",
    "below_min_value",
    "ignored",
    "no_quote",
    "over_max_order_value",
}
CANCEL_REASONS = {"wrong_direction", "off_target", "stale"}


def expected_targets(sc):
    """Exact (Fraction) merged targets before flooring."""
    follow = sc["follow"]
    sums = {}
    for target in sc["targets"]:
        entry = follow["strategies"].get(target["strategy"])
        if entry is None:
            continue
        if follow["mode"] == "ratio":
            scale = Fraction(entry["ratio"])
        else:
            scale = Fraction(entry["capital"]) / Fraction(target["portfolio_value"])
        for pos in target["positions"]:
            sums[pos["code"]] = sums.get(pos["code"], 0) + scale * pos["volume"]
    return sums


def _ignored(code, patterns):
    import fnmatch

    if codes.is_never_traded(code):
        return True
    return any(
        fnmatch.fnmatchcase(form, p)
        for p in patterns
        for form in (code, codes.to_jq(code), code[:6])
    )


def _full_quote(code, quote):
    q = dict(quote)
    if not q.get("high_limit") or not q.get("low_limit"):
        st = q.get("st")
        if st is None:
            st = prices.is_st(q.get("name"))
        high, low = prices.daily_limits(instrument(code), q["prev_close"], st)
        q["high_limit"] = q.get("high_limit") or high
        q["low_limit"] = q.get("low_limit") or low
    return q


def check_invariants(raw, plan):
    """Assert every invariant of docs/engine.md for one plan."""
    sc = parse_scenario(raw)
    settings = sc["settings"]
    assert set(plan) == {"orders", "cancels", "skipped", "targets"}

    # orders: every sell before any buy
    sides = [o["side"] for o in plan["orders"]]
    assert sides == ["sell"] * sides.count("sell") + ["buy"] * sides.count("buy"), sides

    # targets: merged, scaled, floored (float noise below 1e-9 relative forgiven), >= 0
    exact = expected_targets(sc)
    for code, value in exact.items():
        got = plan["targets"][code]
        low = max(0, math.floor(value))
        high = max(0, math.floor(value + Fraction(1, 10**6) * max(1, abs(value))))
        assert low <= got <= high, (code, got, float(value))
    held = dict((p["code"], p) for p in sc["account"]["positions"])
    for code in held:
        if held[code]["volume"] > 0:
            assert code in plan["targets"]
    for code, value in plan["targets"].items():
        assert isinstance(value, int) and value >= 0
        if code not in exact:
            assert value == 0

    # cancels and skipped entries
    open_orders = dict(
        (o["order_id"], o) for o in sc["account"]["open_orders"] if o["volume"] > o["traded_volume"]
    )
    cancels = dict((c["order_id"], c["reason"]) for c in plan["cancels"])
    assert len(cancels) == len(plan["cancels"])
    for order_id, reason in cancels.items():
        assert order_id in open_orders and reason in CANCEL_REASONS
    skipped = {}
    for entry in plan["skipped"]:
        assert entry["reason"] in SKIP_REASONS, entry
        assert entry["code"] in plan["targets"]
        skipped.setdefault(entry["code"], set()).add(entry["reason"])

    ignore = settings["ignore"]
    buy_cost = 0
    proceeds = 0
    new = {}
    for order in plan["orders"]:
        code, side, volume, price = order["code"], order["side"], order["volume"], order["price"]
        assert isinstance(volume, int) and volume > 0
        assert not _ignored(code, ignore)
        quote = sc["quotes"][code]
        assert not quote["suspended"]
        q = _full_quote(code, quote)
        assert prices.is_on_tick(price, prices.tick_size(code)), order
        assert q["low_limit"] - 1e-9 <= price <= q["high_limit"] + 1e-9, order
        assert prices.in_cage(instrument(code), side, price, q), order
        if side == "buy":
            assert not prices.is_limit_up(q)
            assert lots.is_valid_buy(instrument(code), volume), order
            buy_cost += fees.buy_cost_fen(instrument(code), price, volume, settings["fees"])
        else:
            assert not prices.is_limit_down(q)
            proceeds += fees.sell_proceeds_fen(instrument(code), price, volume, settings["fees"])
        new.setdefault(code, []).append(order)

    # cash: buys plus estimated fees never exceed cash (+ sell proceeds if allowed)
    budget = fees.to_fen(sc["account"]["cash"])
    if settings["use_sell_proceeds"]:
        budget += proceeds
    assert buy_cost <= budget, (buy_cost, budget)

    for code, target in plan["targets"].items():
        pos = held.get(code, {"volume": 0, "can_use_volume": 0})
        mine = [
            o
            for o in sc["account"]["open_orders"]
            if o["code"] == code and o["volume"] > o["traded_volume"]
        ]
        open_sells = sum(o["volume"] - o["traded_volume"] for o in mine if o["side"] == "sell")
        orders = new.get(code, [])
        if _ignored(code, ignore):
            # hands off: no order, no cancel; a difference is reported as ignored
            assert not orders and not any(o["order_id"] in cancels for o in mine)
            assert target == pos["volume"] or "ignored" in skipped.get(code, ())
            continue
        assert len(set(o["side"] for o in orders)) <= 1
        # sells: within can_use minus open sells, each valid against what is left
        left = pos["volume"] - open_sells
        sold = 0
        for order in orders:
            if order["side"] == "sell":
                assert lots.is_valid_sell(instrument(code), order["volume"], left), (order, left)
                if lots.odd_parts_differ(instrument(code), pos["volume"], pos["can_use_volume"]):
                    # the remainders disagree: whole lots only, valid under either reading
                    assert lots.is_valid_buy(instrument(code), order["volume"]), (order, pos)
                left -= order["volume"]
                sold += order["volume"]
        assert sold <= max(0, pos["can_use_volume"] - open_sells)
        # in flight: kept open orders (not cancelled, or cancelled only as stale)
        kept = [o for o in mine if cancels.get(o["order_id"], "stale") == "stale"]
        signed = lambda o: (
            (o["volume"] - o.get("traded_volume", 0)) * (1 if o["side"] == "buy" else -1)
        )
        in_flight = sum(signed(o) for o in kept)
        added = sum(signed(o) for o in orders)
        diff = target - pos["volume"]
        # never doubled: kept + new stay on the way to the target, never past it
        if diff >= 0:
            assert 0 <= in_flight + added <= diff or (in_flight == 0 and added == 0)
            assert all(o["side"] == "buy" for o in kept + orders) or diff == 0 and not kept
        else:
            assert diff <= in_flight + added <= 0
            assert all(o["side"] == "sell" for o in kept + orders)
        # after the plan fills, within one lot of the target unless skipped says why
        projected = pos["volume"] + in_flight + added
        if code not in skipped:
            if codes.is_never_traded(code):
                assert projected == target
            else:
                assert abs(projected - target) < instrument(code).lot, (
                    code,
                    target,
                    pos,
                    projected,
                    plan,
                )
