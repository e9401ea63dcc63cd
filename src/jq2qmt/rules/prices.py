"""Prices: tick, rounding to the tick, daily price limits, the price cage.

Source: SSE/SZSE/BSE trading rules (申报价格
最小变动单位: A 股 0.01 元, 基金/债券 0.001 元; 涨跌幅限制比例 10%, 风险警示股票 5%,
科创板/创业板 20%, 北交所 30%; 价格笼子: 买入申报价格不得高于买入基准价格的 102% 与
买入基准价格以上十个最小价格变动单位的孰高值, 卖出对称).

`tick_size`, `limit_pct` and `cage_ticks` are the tables, by code; the functions that
price an order take the code's Instrument (rules.instrument), which carries its tick
and cage ticks.
"""

import math
from decimal import ROUND_HALF_UP, Decimal

from . import codes

_EPS = 1e-7

_LIMIT_PCT = {
    codes.SH_MAIN: 0.10,
    codes.SZ_MAIN: 0.10,
    codes.STAR: 0.20,
    codes.CHINEXT: 0.20,
    codes.BJ: 0.30,
    codes.FUND: 0.10,
    codes.BOND: 0.20,
}
# Risk-warning (ST) shares have a narrower limit on the main boards only.
ST_LIMIT_PCT = 0.05
_ST_BOARDS = (codes.SH_MAIN, codes.SZ_MAIN)

CAGE_PCT = 0.02
CAGE_TICKS = 10


def tick_size(code):
    """Minimum price step: 0.01 for shares, 0.001 for ETF/LOF and convertible bonds."""
    if codes.board(code) in (codes.FUND, codes.BOND):
        return 0.001
    return 0.01


def _decimals(tick):
    return 3 if tick < 0.01 - 1e-12 else 2


# Ticks of 0.01 and 0.001: a whole number n of ticks is n / 100 or n / 1000, which is
# exactly what round(n * tick, decimals) gives (the double nearest to the decimal n x
# tick; float division is correctly rounded) while being much cheaper. Below _EXACT
# ticks the error of n * tick is far below half a unit of the last decimal.
_EXACT = 10**15


def round_price(price, tick, mode="nearest"):
    """Round `price` to a multiple of `tick`: mode "nearest" (half up), "down" or "up".

    The one rounding helper for prices; returns a float with the tick's
    decimals so that on-tick prices compare and print exactly.
    """
    units = price / tick
    if mode == "down":
        n = math.floor(units + _EPS)
    elif mode == "up":
        n = math.ceil(units - _EPS)
    elif mode == "nearest":
        n = math.floor(units + 0.5 + _EPS)
    else:
        raise ValueError("mode must be nearest, down or up: %r" % (mode,))
    if -_EXACT < n < _EXACT:  # n / ticks per CNY == round(n * tick, decimals), see _EXACT
        if tick == 0.01:
            return n / 100.0
        if tick == 0.001:
            return n / 1000.0
    return round(n * tick, _decimals(tick))


def is_on_tick(price, tick):
    """True when `price` is a whole multiple of `tick` (within float noise)."""
    units = price / tick
    return abs(units - round(units)) < 1e-6


def is_st(name):
    """True when a security name marks a risk warning: ST, *ST, SST, S*ST."""
    return bool(name) and "ST" in name.upper()


def limit_pct(code, st=False):
    """Daily price limit fraction: main boards and funds 10% (ST 5%), STAR, ChiNext and
    convertible bonds 20%, Beijing 30%.

    The quote's own limits (instrument detail) take precedence; new listings have no
    limit on their first days, which only the quote can tell.
    """
    board = codes.board(code)
    pct = _LIMIT_PCT.get(board)
    if pct is None:
        raise ValueError("代码 %s 不可交易 / no price limit rule for %s" % (code, code))
    if st and board in _ST_BOARDS:
        return ST_LIMIT_PCT
    return pct


def daily_limits(inst, prev_close, st=False):
    """(high_limit, low_limit) of Instrument `inst` from the previous close:
    prev_close x (1 +/- pct), rounded half up to the tick, as the exchanges publish them.
    """
    tick = inst.tick
    pct = Decimal(repr(limit_pct(inst.code, st)))
    base = Decimal(repr(float(prev_close)))
    step = Decimal(repr(tick))
    high = (base * (1 + pct) / step).quantize(Decimal(1), rounding=ROUND_HALF_UP) * step
    low = (base * (1 - pct) / step).quantize(Decimal(1), rounding=ROUND_HALF_UP) * step
    low = max(low, step)
    return round(float(high), _decimals(tick)), round(float(low), _decimals(tick))


def _level(value):
    """A quote level is usable when it is a positive number (0 means empty)."""
    return value if value is not None and value > 0 else None


def cage_reference(side, quote):
    """Reference price of the price cage for a limit order on `side`.

    Buy: best ask, else best bid, else last, else previous close. Sell: best bid,
    else best ask, else last, else previous close. None if none.
    """
    if side == "buy":
        order = ("ask1", "bid1", "last", "prev_close")
    elif side == "sell":
        order = ("bid1", "ask1", "last", "prev_close")
    else:
        raise ValueError("side must be buy or sell: %r" % (side,))
    for key in order:
        value = _level(quote.get(key))
        if value is not None:
            return value
    return None


def cage_ticks(code):
    """Ticks of the 10-tick alternative of the cage; 0 on STAR, where only the 2%
    bound is applied (the conservative reading of the STAR cage rule).
    """
    return 0 if codes.board(code) == codes.STAR else CAGE_TICKS


# In the two per-order price functions below, max(a, b) is written `b if b > a else a`
# and min(a, b) `b if b < a else a` (the same choice): the builtins cost several times
# more for two floats, 3-4 % of a plan that prices every code.


def cage_bounds(inst, side, reference):
    """The price cage bound for a limit order on Instrument `inst`, rounded inward to
    the tick.

    Buy: price <= max(reference x 1.02, reference + 10 ticks) -> returns the upper
    bound. Sell: price >= min(reference x 0.98, reference - 10 ticks) -> returns the
    lower bound (at least one tick). The cage is applied to every tradable board; where
    the real cage is wider (bonds, funds) this only makes our prices more conservative.
    """
    tick = inst.tick
    if side == "buy":
        by_pct, by_ticks = reference * (1 + CAGE_PCT), reference + inst.cage_ticks * tick
        return round_price(by_ticks if by_ticks > by_pct else by_pct, tick, "down")
    if side == "sell":
        by_pct, by_ticks = reference * (1 - CAGE_PCT), reference - inst.cage_ticks * tick
        bound = round_price(by_ticks if by_ticks < by_pct else by_pct, tick, "up")
        return tick if tick > bound else bound
    raise ValueError("side must be buy or sell: %r" % (side,))


def in_cage(inst, side, price, quote):
    """True when a limit price lies inside the price cage for the quote."""
    reference = cage_reference(side, quote)
    if reference is None:
        return True
    bound = cage_bounds(inst, side, reference)
    if side == "buy":
        return price <= bound + _EPS
    return price >= bound - _EPS


def is_limit_up(quote):
    """Sealed at the upper limit: best bid at the high limit, or no ask while the last
    price is at the high limit. Buys cannot be filled.
    """
    high = quote.get("high_limit")
    if not high:
        return False
    bid = _level(quote.get("bid1"))
    if bid is not None and bid >= high - _EPS:
        return True
    if _level(quote.get("ask1")) is not None:
        return False
    last = _level(quote.get("last"))
    return last is not None and last >= high - _EPS


def is_limit_down(quote):
    """Sealed at the lower limit: best ask at the low limit, or no bid while the last
    price is at the low limit. Sells cannot be filled.
    """
    low = quote.get("low_limit")
    if not low:
        return False
    ask = _level(quote.get("ask1"))
    if ask is not None and ask <= low + _EPS:
        return True
    if _level(quote.get("bid1")) is not None:
        return False
    last = _level(quote.get("last"))
    return last is not None and last <= low + _EPS


def limit_order_price(inst, side, quote, slippage):
    """Limit price for a marketable order on Instrument `inst`, or None when no price
    satisfies all bounds.

    Buy: min(high_limit, cage upper bound, ask-side reference x (1 + slippage)),
    rounded down to the tick. Sell: max(low_limit, cage lower bound, bid-side
    reference x (1 - slippage)), rounded up to the tick. `quote` needs high_limit and
    low_limit. The result is on the tick, inside the limits and inside the cage.
    """
    reference = cage_reference(side, quote)
    if reference is None:
        return None
    tick = inst.tick
    high = round_price(quote["high_limit"], tick, "down")
    low = round_price(quote["low_limit"], tick, "up")
    cage = cage_bounds(inst, side, reference)
    if side == "buy":
        ceiling = cage if cage < high else high
        wanted = reference * (1 + slippage)
        price = round_price(wanted if wanted < ceiling else ceiling, tick, "down")
        ok = low - _EPS <= price <= ceiling + _EPS
    else:
        floor = cage if cage > low else low
        wanted = reference * (1 - slippage)
        price = round_price(wanted if wanted > floor else floor, tick, "up")
        ok = floor - _EPS <= price <= high + _EPS
    return price if ok and price > 0 else None
