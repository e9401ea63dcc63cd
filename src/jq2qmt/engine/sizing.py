"""Order sizes: value caps, slicing, and the largest affordable buy.

Rules (documented in docs/engine.md):
- settings.max_order_value caps the value of every single order. Without slicing, an
  order above it is reduced to the largest valid volume within it and the rest is
  skipped as "over_max_order_value".
- settings.slice_value splits a larger order into several orders of at most that
  value each (and at most max_order_value), each with a valid volume; a sell that
  carries the odd lot carries it in its last slice. At most MAX_SLICES slices per
  code go into one plan: the rest is skipped as "over_max_order_value" and comes
  in a later round, so a mistyped slice value or a huge target can never spray
  thousands of orders at the broker.
- Cash: the cost of a buy (amount + fees of every slice, rules.fees) must fit the
  budget; the largest affordable valid volume is found by bisection over valid
  volumes (cost only grows with volume).
Every function takes the code's Instrument (rules.instrument).
"""

import math

from ..rules import fees as fee_rules
from ..rules import lots

MAX_SLICES = 20


def _volume_within(value, price):
    """Largest whole volume whose amount price x volume stays within `value`."""
    return int(math.floor(value / price + 1e-9))


def piece_limit(settings):
    """Value limit of one slice, or None when orders are not sliced."""
    slice_value = settings.get("slice_value")
    if slice_value is None:
        return None
    max_value = settings.get("max_order_value")
    return min(slice_value, max_value) if max_value is not None else slice_value


def split(inst, side, volume, price, limit_value, remaining=None):
    """Split `volume` into valid order volumes of value <= limit_value each.

    Buys: chunks of the largest valid volume within the limit; a tail below one lot is
    dropped. Sells (`remaining` = uncommitted position): chunks that are whole lots,
    the last one carrying the odd part; each chunk is checked against the position
    left after the chunks before it, an invalid tail is dropped. Returns [] when one
    lot is already worth more than the limit, and MAX_SLICES whole chunks when the
    volume needs more slices than that.
    """
    chunk = lots.floor_buy(inst, _volume_within(limit_value, price))
    if chunk <= 0:
        return []
    if volume > chunk * MAX_SLICES:  # whole chunks only; the rest waits for a later round
        return [chunk] * MAX_SLICES
    pieces = []
    left = volume
    position = remaining
    while left > chunk:
        pieces.append(chunk)
        left -= chunk
        if position is not None:
            position -= chunk
    if side == "buy":
        last = lots.floor_buy(inst, left)
    elif lots.is_valid_sell(inst, left, position):
        last = left
    else:
        last = lots.floor_sell(inst, left, position)
    if last > 0:
        pieces.append(last)
    return pieces


def order_cost_fen(inst, price, pieces, fees):
    """Cash needed for buy orders of the given volumes (amount + fees each), in fen;
    `fees` complete (settings.fees).
    """
    total = 0
    priced = cost = None
    for volume in pieces:  # slices repeat one volume: price a run of equal volumes once
        if volume != priced:
            priced, cost = volume, fee_rules.buy_cost_fen(inst, price, volume, fees)
        total += cost
    return total


def buy_pieces(inst, volume, price, limit_value):
    """Buy order volumes for `volume` after slicing (one piece when not sliced);
    `limit_value` is piece_limit(settings).
    """
    if limit_value is None:
        return [volume] if volume > 0 else []
    return split(inst, "buy", volume, price, limit_value)


def cap_to_max_value(inst, side, volume, price, settings, remaining=None):
    """Without slicing: the volume reduced to fit settings.max_order_value."""
    max_value = settings.get("max_order_value")
    if max_value is None or fee_rules.amount_li(price, volume) <= max_value * 1000 + 1e-6:
        return volume
    within = min(volume, _volume_within(max_value, price))
    if side == "buy":
        return lots.floor_buy(inst, within)
    return lots.floor_sell(inst, within, remaining)


def max_affordable(inst, volume, price, budget_fen, fees, limit_value):
    """Largest valid buy volume <= `volume` whose sliced cost (`limit_value` =
    piece_limit(settings)) fits `budget_fen` (0 if not even one lot fits).
    """
    minimum, step = inst.lot, inst.step

    def fits(v):
        return (
            order_cost_fen(inst, price, buy_pieces(inst, v, price, limit_value), fees) <= budget_fen
        )

    if volume < minimum or not fits(minimum):
        return 0
    lo, hi = 0, (volume - minimum) // step  # index k of volume minimum + k * step
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(minimum + mid * step):
            lo = mid
        else:
            hi = mid - 1
    return minimum + lo * step
