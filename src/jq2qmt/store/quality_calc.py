"""The figures of the tracking and execution quality: plain functions, no I/O.

Conventions (the API and the daily summary use exactly these):
- tracking deviation = sum over codes of |target - held| x price, in CNY, and that
  amount / total asset x 100 in percent; codes without a price are left out and named;
- slippage of a fill against the reference price the plan used: signed, positive when
  it cost us (a buy above, a sell below the reference); bps = that difference /
  reference x 10000, cost in CNY = that difference x volume;
- fill rate = filled volume / ordered volume (None when nothing was ordered);
- percentiles by nearest rank (the smallest value with at least p% of the values at or
  below it), so every figure is one of the measured values;
- an equity curve is normalised to its first positive value (1.0 there).
"""

import math


def deviation(target, held, prices, total_asset):
    """{"value", "pct", "unpriced"} of `target` / `held` ({code: volume}) at `prices`
    ({code: price}). `pct` is None without a positive total asset."""
    value = 0.0
    unpriced = []
    for code in sorted(set(target) | set(held)):
        gap = abs(float(target.get(code) or 0) - float(held.get(code) or 0))
        if not gap:
            continue
        price = prices.get(code)
        if price is None or not price > 0:
            unpriced.append(code)
            continue
        value += gap * float(price)
    value = round(value, 2)
    pct = round(value / float(total_asset) * 100.0, 4) if total_asset and total_asset > 0 else None
    return {"value": value, "pct": pct, "unpriced": unpriced}


def slippage(side, reference, price, volume):
    """(bps, cost in CNY) of one fill; (None, None) without a positive reference."""
    if reference is None or not reference > 0:
        return None, None
    diff = float(price) - float(reference)
    if side == "sell":
        diff = -diff
    return round(diff / float(reference) * 10000.0, 2), round(diff * int(volume), 2)


def weighted_bps(fills):
    """Volume-value weighted slippage of fills [(bps, reference, volume)], in bps."""
    weight = total = 0.0
    for bps, reference, volume in fills:
        if bps is None:
            continue
        w = float(reference) * int(volume)
        weight += w
        total += bps * w
    return round(total / weight, 2) if weight else None


def fill_rate(ordered, filled):
    return round(float(filled) / float(ordered), 4) if ordered else None


def percentile(values, p):
    """Nearest-rank percentile of `values` (None when empty)."""
    data = sorted(v for v in values if v is not None)
    if not data:
        return None
    rank = max(1, int(math.ceil(p / 100.0 * len(data))))
    return data[rank - 1]


def normalise(values):
    """`values` divided by the first positive one (None stays None; all None when no
    value is positive)."""
    base = next((v for v in values if v is not None and v > 0), None)
    if base is None:
        return [None for _ in values]
    return [None if v is None else round(float(v) / base, 6) for v in values]


def unrealised(volume, avg_cost, price):
    """(market value, cost, unrealised P&L) of one holding; None parts when unknown."""
    value = round(int(volume) * float(price), 2) if price is not None else None
    cost = round(int(volume) * float(avg_cost), 2) if avg_cost else None
    pnl = round(value - cost, 2) if value is not None and cost is not None else None
    return value, cost, pnl
