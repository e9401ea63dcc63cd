"""Open orders: what stays in flight and what is cancelled.

Rule (docs/engine.md: open orders count as in flight and are never doubled): for
each code the engine knows the direction it must trade (buy when the target is above
the held volume, sell when below, none when equal).
- An open order in the other direction, or any open order when nothing is to be
  traded, is cancelled ("wrong_direction" / "off_target").
- Open orders in the right direction are kept, oldest order id first, while their
  remaining volume fits in the volume still to trade; the rest are cancelled
  ("off_target"). Kept orders count as in flight: the engine only adds the difference.
- A kept order older than settings.reprice_after seconds is cancelled ("stale") but
  still counted in flight for this plan, so nothing is doubled if the cancel loses a
  race with a fill; the follower re-places the volume in the next round.
"""


def order_sort_key(order):
    """Natural order of order ids: numeric ids by value, then others by text."""
    order_id = order["order_id"]
    # ASCII digits only: str.isdigit() also takes "²", which int() refuses
    if order_id and all("0" <= c <= "9" for c in order_id):
        return (0, int(order_id), order_id)
    return (1, 0, order_id)


def remaining(order):
    """Volume of an open order not traded yet."""
    return order["volume"] - order["traded_volume"]


def reconcile(side, need, open_orders, reprice_after=None):
    """Split a code's open orders into (in_flight_volume, cancels).

    `side` is "buy", "sell" or None (nothing to trade); `need` the volume still to
    trade in that direction. `cancels` is a list of (order, reason). See the module
    docstring for the rule.
    """
    in_flight = 0
    cancels = []
    for order in sorted(open_orders, key=order_sort_key):
        rest = remaining(order)
        if rest <= 0:
            continue
        if side is None:
            cancels.append((order, "off_target"))
        elif order["side"] != side:
            cancels.append((order, "wrong_direction"))
        elif in_flight + rest > need:
            cancels.append((order, "off_target"))
        else:
            in_flight += rest
            age = order.get("age_seconds")
            if reprice_after is not None and age is not None and age > reprice_after:
                cancels.append((order, "stale"))
    return in_flight, cancels
