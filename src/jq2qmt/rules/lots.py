"""Order volume rules: board lot, step, odd lots.

Source: SSE/SZSE trading rules 3.3.x (买入申报数量应当为 100 股或其整数倍;
卖出时余额不足 100 股的部分应当一次性申报卖出),
STAR rules (单笔申报数量应当不小于 200 股, 超过 200 股的部分可按 1 股为单位递增),
BSE rules (不小于 100 股, 以 1 股为单位递增), convertible bonds 10 张 (1 手).

`lot_rule(code)` is the table; the other functions take the Instrument of a tradable
code (rules.instrument), which carries the rule as `inst.lot` (the minimum buy
volume, the board lot) and `inst.step`.
"""

from . import codes

_LOTS = {
    codes.SH_MAIN: (100, 100),
    codes.SZ_MAIN: (100, 100),
    codes.CHINEXT: (100, 100),
    codes.FUND: (100, 100),
    codes.STAR: (200, 1),
    codes.BJ: (100, 1),
    codes.BOND: (10, 10),
}


def lot_rule(code):
    """(minimum volume, step) of a buy order for the code's board.

    SH/SZ main, ChiNext, ETF/LOF: (100, 100); STAR: (200, 1); Beijing: (100, 1);
    convertible bonds: (10, 10). Never-traded boards raise ValueError.
    """
    rule = _LOTS.get(codes.board(code))
    if rule is None:
        raise ValueError("代码 %s 不可交易 / no lot rule for %s" % (code, code))
    return rule


def is_valid_buy(inst, volume):
    """True when `volume` is a buy volume the exchange accepts for Instrument `inst`.

    Rule: volume >= minimum and (volume - minimum) is a multiple of the step.
    """
    return volume >= inst.lot and (volume - inst.lot) % inst.step == 0


def floor_buy(inst, volume):
    """Largest valid buy volume <= `volume` (0 when below one lot)."""
    if volume < inst.lot:
        return 0
    return inst.lot + (volume - inst.lot) // inst.step * inst.step


def is_valid_sell(inst, volume, remaining):
    """True when a sell of `volume` is accepted while `remaining` shares are held.

    `remaining` is the position not already committed to other open sell orders.
    Rule (odd lots must be sold in one order):
    - any volume that is a valid buy volume is a valid sell volume;
    - boards whose step equals the lot (main boards, ChiNext, funds, bonds): also a
      volume that carries the whole odd part, i.e. volume % lot == remaining % lot;
    - STAR / Beijing (step 1): also a volume equal to the whole remaining position
      (a remainder below the minimum is sold at once).
    Never more than `remaining`.
    """
    if volume <= 0 or volume > remaining:
        return False
    if is_valid_buy(inst, volume):
        return True
    if inst.step == inst.lot:
        return volume % inst.lot == remaining % inst.lot
    return volume == remaining


def odd_parts_differ(inst, volume, can_use_volume):
    """True when the odd part of a holding differs from the odd part of its sellable
    volume (for the board's lot: 100, STAR 200, bonds 10), e.g. 1050 held with 1020
    sellable because shares are locked by T+1 or frozen not in whole lots.

    Brokers then differ on which remainder must go in one order (the holding's or the
    sellable one's), so only whole lots may be sold: a valid buy volume
    (`floor_buy`) is a valid sell under either reading.
    """
    return volume % inst.lot != can_use_volume % inst.lot


def floor_sell(inst, volume, remaining):
    """Largest valid sell volume <= `volume` given `remaining` held (0 if none).

    See is_valid_sell for the rule; the result includes the odd part when that
    gives a larger valid volume.
    """
    volume = min(volume, remaining)
    if volume <= 0:
        return 0
    lot = inst.lot
    if inst.step == lot:
        best = volume // lot * lot
        odd = remaining % lot
        if odd and volume >= odd:
            best = max(best, odd + (volume - odd) // lot * lot)
        return best
    if volume == remaining:
        return volume
    return floor_buy(inst, volume)
