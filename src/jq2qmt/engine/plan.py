"""compute_plan: targets x account x quotes x settings -> orders, cancels, skipped.

The rebalance rule, step by step (docs/engine.md):
1. Merge the followed strategies (merge.py) into a target volume per code, floored.
2. Per code (sorted): difference = target - held volume. Ignored codes (settings
   ignore list, reverse repos, subscription codes, unsupported boards) are never
   touched. Open orders are reconciled (inflight.py): kept ones count as in flight,
   wrong-direction and off-target ones are cancelled.
3. The rest to trade needs a usable quote (last price, limits given or derived from
   prev_close), a code that is not suspended, not sealed at the limit in the trade's
   direction (limit_up for buys, limit_down for sells) and a price that is on the
   tick, inside the daily limits and inside the price cage (rules.prices).
4. Sells: at most can_use_volume minus all open sell orders, rounded to a valid sell
   volume (whole lots, the odd lot only together with the rest of the position). When
   the holding's odd part differs from can_use_volume's (T+1 or frozen shares not in
   whole lots), whole lots only (rules.lots.odd_parts_differ).
5. Buys: rounded down to valid lots, then paid from cash (plus the estimated sell
   proceeds only when use_sell_proceeds is true) including estimated fees. When cash
   is short, codes are served by priority: largest order value first, then code; a
   code that does not fit gets the largest affordable volume, the others continue
   with what is left.
6. Orders below min_order_value are skipped; max_order_value and slice_value cap or
   split orders (sizing.py).
Output: every sell before any buy (each group sorted by code), cancels, skipped
(sorted by code) and the merged targets.
"""

import collections
import fnmatch

from ..rules import codes, lots, prices
from ..rules import fees as fee_rules
from ..rules.instrument import instrument
from . import inflight, sizing
from .merge import merge_targets
from .scenario import parse_scenario

# A buy that waits for cash: `amount` (li) of `volume` (after value caps and slicing)
# at `price`. Cash goes to the largest amount first, then by code.
_Buy = collections.namedtuple("_Buy", "code inst volume price amount reason")


def _matches_ignore(inst, patterns):
    """True when one of the settings' ignore patterns matches a form of the code."""
    code = inst.code
    forms = (code, codes.to_jq(code), code[:6])
    for pattern in patterns:
        if any(fnmatch.fnmatchcase(form, pattern) for form in forms):
            return True
    return False


def usable_quote(inst, quote):
    """The quote of Instrument `inst` with both daily limits, or (None, why) when it
    cannot be traded on.

    Rule: a usable quote has a last price > 0; high_limit/low_limit come from the
    quote, else are derived from prev_close by the board's limit rule (ST by the
    quote's `st` flag or name).
    Returns (quote, None) or (None, reason text); the quote itself when it has both
    limits, else a copy with the derived ones.
    """
    if quote is None:
        return None, "没有行情 / no quote"
    if not quote.get("last"):
        return None, "没有最新价 / no last price"
    high, low = quote.get("high_limit"), quote.get("low_limit")
    if high and low:
        return quote, None
    base = quote.get("prev_close")
    if not base:
        return None, "没有涨跌停价也没有昨收价 / no limits and no prev_close"
    st = quote.get("st")
    if st is None:
        st = prices.is_st(quote.get("name"))
    derived_high, derived_low = prices.daily_limits(inst, base, st)
    high, low = high or derived_high, low or derived_low
    result = dict(quote)
    result["high_limit"], result["low_limit"] = high, low
    return result, None


class _Plan(object):
    """One plan: its settings, and its decisions as they accumulate (plain lists, no
    logic of its own)."""

    def __init__(self, settings):
        self.settings = settings
        self.piece_limit = sizing.piece_limit(settings)  # asked for every order
        self.sells = []
        self.buys = []
        self.cancels = []
        self.skipped = []

    def skip(self, code, reason, detail):
        self.skipped.append({"code": code, "reason": reason, "detail": detail})

    def cancel(self, order, reason):
        self.cancels.append(
            {
                "order_id": order["order_id"],
                "code": order["code"],
                "reason": reason,
                "detail": "%s %d @ %s"
                % (order["side"], inflight.remaining(order), order.get("price")),
            }
        )


def _reason(target, held, in_flight):
    text = "target %d, held %d" % (target, held)
    if in_flight:
        text += ", in flight %d" % in_flight
    return text


def _order(code, side, volume, price, reason):
    return {"code": code, "side": side, "volume": int(volume), "price": price, "reason": reason}


def _value(price, volume):
    return fee_rules.amount_li(price, volume) / 1000.0


def _market_checks(plan, inst, side, quote):
    """Return the limit price for trading the code on `side`, or None after a skip."""
    code = inst.code
    if quote is not None and quote.get("suspended"):
        plan.skip(code, "suspended", "停牌 / suspended")
        return None
    usable, why = usable_quote(inst, quote)
    if usable is None:
        plan.skip(code, "no_quote", why)
        return None
    if side == "buy" and prices.is_limit_up(usable):
        plan.skip(
            code, "limit_up", "涨停封板，不买入 / sealed at high limit %s" % usable["high_limit"]
        )
        return None
    if side == "sell" and prices.is_limit_down(usable):
        plan.skip(
            code, "limit_down", "跌停封板，不卖出 / sealed at low limit %s" % usable["low_limit"]
        )
        return None
    price = prices.limit_order_price(inst, side, usable, plan.settings["slippage"])
    if price is None:
        plan.skip(code, "no_quote", "行情价格不一致，无法定价 / inconsistent quote")
    return price


def _size(plan, inst, side, volume, price, remaining=None):
    """Apply min/max order value and slicing to `volume` at `price`; returns the order
    volumes (maybe []).
    """
    settings = plan.settings
    code = inst.code
    value = _value(price, volume)
    if value < settings["min_order_value"]:
        plan.skip(
            code,
            "below_min_value",
            "金额 %.2f 低于最小下单金额 %.2f / below "
            "min_order_value" % (value, settings["min_order_value"]),
        )
        return []
    limit_value = plan.piece_limit
    if limit_value is not None:
        pieces = sizing.split(inst, side, volume, price, limit_value, remaining)
        if not pieces:
            plan.skip(
                code,
                "over_max_order_value",
                "一手金额超过拆单金额 %.2f / one lot exceeds slice_value" % limit_value,
            )
        elif len(pieces) == sizing.MAX_SLICES and sum(pieces) < volume:
            plan.skip(
                code,
                "over_max_order_value",
                "本轮最多拆 %d 笔，余下 %d 股下一轮再下 / "
                "at most %d slices per round, the rest next round"
                % (sizing.MAX_SLICES, volume - sum(pieces), sizing.MAX_SLICES),
            )
        return pieces
    capped = sizing.cap_to_max_value(inst, side, volume, price, settings, remaining)
    if capped < volume:
        plan.skip(
            code,
            "over_max_order_value",
            "单笔上限 %.2f，少%s %d 股 / capped by "
            "max_order_value"
            % (settings["max_order_value"], "买" if side == "buy" else "卖", volume - capped),
        )
    return [capped] if capped > 0 else []


def _plan_sell(plan, inst, position, open_orders, want, price, reason, in_flight):
    code = inst.code
    held, can_use = position["volume"], position["can_use_volume"]
    open_sells = _open_sell_volume(open_orders)
    # The odd-lot rule must hold both while this plan's cancelled sells are still
    # frozen (held - every open sell) and once the cancels are through (held - the
    # sells kept in flight): the broker may see the new sell at either moment.
    remaining = held - open_sells
    after_cancels = held - in_flight
    # every open sell still freezes its volume until its cancel is confirmed
    sellable = max(0, can_use - open_sells)
    # When the holding's odd part differs from the sellable volume's, brokers differ on
    # which remainder must go in one order: whole lots only, valid under either reading.
    whole_lots = lots.odd_parts_differ(inst, held, can_use)
    if whole_lots:
        volume = lots.floor_buy(inst, min(want, sellable))
    else:
        volume = lots.floor_sell(inst, min(want, sellable), remaining)
        if not lots.is_valid_sell(inst, volume, after_cancels):
            volume = lots.floor_buy(inst, volume)  # whole lots are valid either way
    possible = lots.floor_sell(inst, want, held - in_flight)
    if volume < possible:
        if whole_lots:
            lot = inst.lot
            plan.skip(
                code,
                "not_sellable",
                "需卖 %d，持仓 %d（零股 %d）与可卖 %d（零股 %d）的零股不同，只卖整手 / "
                "odd lots of holding and sellable differ: whole lots only"
                % (want, held, held % lot, can_use, can_use % lot),
            )
        else:
            plan.skip(
                code,
                "not_sellable",
                "需卖 %d，可卖 %d（T+1 或已有卖单冻结）/ only %d "
                "sellable" % (want, sellable, sellable),
            )
    elif volume == 0:
        plan.skip(code, "below_lot", "需卖 %d，不足可卖的整手 / below one lot" % want)
    if volume == 0:
        return
    # Slicing and max_order_value see a position without its odd part in whole-lot mode,
    # so they never add the odd part back.
    pieces = _size(
        plan,
        inst,
        "sell",
        volume,
        price,
        lots.floor_buy(inst, remaining) if whole_lots else remaining,
    )
    if pieces and whole_lots and not lots.is_valid_buy(inst, pieces[-1]):
        pieces[-1] = lots.floor_buy(inst, pieces[-1])
    elif pieces and not lots.is_valid_sell(inst, pieces[-1], after_cancels - sum(pieces[:-1])):
        # a slice tail that is "the whole rest" only while cancelled sells are frozen
        pieces[-1] = lots.floor_buy(inst, pieces[-1])
    for piece in pieces:
        if piece > 0:
            plan.sells.append(_order(code, "sell", piece, price, reason))


def _plan_buy(plan, inst, want, price, reason):
    volume = lots.floor_buy(inst, want)
    if volume == 0:
        plan.skip(inst.code, "below_lot", "需买 %d，不足一手 %d / below one lot" % (want, inst.lot))
        return
    total = sum(_size(plan, inst, "buy", volume, price))
    if total > 0:
        plan.buys.append(
            _Buy(inst.code, inst, total, price, fee_rules.amount_li(price, total), reason)
        )


def _plan_code(plan, code, target, position, open_orders, quote):
    """Plan one code: `position` its account position, `open_orders` its open orders
    with volume left, `quote` its parsed quote or None.
    """
    settings = plan.settings
    held = position["volume"]
    diff = target - held
    inst = instrument(code)
    ignore = settings["ignore"]
    if not inst.tradable or (ignore and _matches_ignore(inst, ignore)):
        if diff:
            plan.skip(code, "ignored", "忽略列表或不交易的品种，差额 %d 不处理 / ignored" % diff)
        return
    side = "buy" if diff > 0 else ("sell" if diff < 0 else None)
    need = abs(diff)
    in_flight = 0
    if open_orders:
        in_flight, cancels = inflight.reconcile(side, need, open_orders, settings["reprice_after"])
        for order, why in cancels:
            plan.cancel(order, why)
    want = need - in_flight
    if side is None or want <= 0:
        return
    price = _market_checks(plan, inst, side, quote)
    if price is None:
        return
    reason = _reason(target, held, in_flight)
    if side == "sell":
        _plan_sell(plan, inst, position, open_orders, want, price, reason, in_flight)
    else:
        _plan_buy(plan, inst, want, price, reason)


def _allocate_cash(plan, budget_fen):
    """Pay the buy candidates from the budget by priority (largest amount first, then
    code); returns the buy orders in code order (plan.buys is in code order, one
    candidate per code).
    """
    settings = plan.settings
    fees, limit_value = settings["fees"], plan.piece_limit
    paid = {}
    for buy in sorted(plan.buys, key=lambda b: (-b.amount, b.code)):
        inst, volume, price = buy.inst, buy.volume, buy.price
        if limit_value is None:  # one order: priced directly (about 4 % of a plan)
            pieces = [volume]
            cost = fee_rules.buy_cost_fen(inst, price, volume, fees)
        else:
            pieces = sizing.buy_pieces(inst, volume, price, limit_value)
            cost = sizing.order_cost_fen(inst, price, pieces, fees)
        if cost > budget_fen:
            affordable = sizing.max_affordable(inst, volume, price, budget_fen, fees, limit_value)
            if affordable and _value(price, affordable) < settings["min_order_value"]:
                affordable = 0
            plan.skip(
                buy.code,
                "insufficient_cash",
                "资金不足：需 %.2f 元，可用 %.2f 元，少买 %d "
                "股 / insufficient cash" % (cost / 100.0, budget_fen / 100.0, volume - affordable),
            )
            pieces = sizing.buy_pieces(inst, affordable, price, limit_value)
            cost = sizing.order_cost_fen(inst, price, pieces, fees)
        budget_fen -= cost
        paid[buy.code] = pieces
    return [
        _order(buy.code, "buy", volume, buy.price, buy.reason)
        for buy in plan.buys
        for volume in paid[buy.code]
    ]


def _open_orders_by_code(open_orders):
    grouped = {}
    for order in open_orders:
        if inflight.remaining(order) > 0:
            grouped.setdefault(order["code"], []).append(order)
    return grouped


def _open_sell_volume(orders):
    return sum(inflight.remaining(o) for o in orders if o["side"] == "sell")


def compute_plan(scenario):
    """The plan for one scenario, exactly the output docs/engine.md describes:
    {"orders", "cancels", "skipped", "targets"}. Accepts a raw scenario dict (it is
    parsed first; ScenarioError on a contract violation). Pure and deterministic.
    """
    sc = parse_scenario(scenario)
    settings = sc["settings"]
    quotes = sc["quotes"]
    targets = merge_targets(sc["targets"], sc["follow"])
    positions = {p["code"]: p for p in sc["account"]["positions"] if p["volume"] > 0}
    open_orders = _open_orders_by_code(sc["account"]["open_orders"])
    all_codes = sorted(set(targets) | set(positions) | set(open_orders))
    no_position = {"volume": 0, "can_use_volume": 0}
    plan = _Plan(settings)
    for code in all_codes:  # in code order, so each group of decisions is too
        _plan_code(
            plan,
            code,
            targets.get(code, 0),
            positions.get(code, no_position),
            open_orders.get(code, ()),
            quotes.get(code),
        )
    sells = plan.sells  # already in code order
    budget = fee_rules.to_fen(sc["account"]["cash"])
    if settings["use_sell_proceeds"]:
        budget += sum(
            fee_rules.sell_proceeds_fen(
                instrument(o["code"]), o["price"], o["volume"], settings["fees"]
            )
            for o in sells
        )
    buys = _allocate_cash(plan, budget)
    skipped = sorted(plan.skipped, key=lambda skip: skip["code"])
    return {
        "orders": sells + buys,
        "cancels": plan.cancels,
        "skipped": skipped,
        "targets": {code: targets.get(code, 0) for code in all_codes},
    }
