"""The fixed trading rules of one code, looked up once per code text.

A plan asks the same questions about each code several times (is it traded at all,
its lot and step, its tick and price cage, whether stamp duty applies); the answers
never change, so `instrument(code)` reads them from the tables of codes, lots and
prices once per code text and remembers them (a plain bounded dict, like the code
memo in codes). The per-order functions of lots, prices and fees take an Instrument:
`lots.floor_buy(instrument("600000.SH"), 1234)`.
"""

from . import codes, lots, prices

_MEMO_SIZE = 65536
_known = {}


class Instrument(object):
    """The rules of one code: `code` (QMT form), `board`, `tradable` (not never
    traded), `stock` (shares: stamp duty and transfer fee), `lot` and `step`
    (lots.lot_rule; None for codes that are never traded), `tick` and `cage_ticks`.
    """

    __slots__ = ("code", "board", "tradable", "stock", "lot", "step", "tick", "cage_ticks")

    def __init__(self, code):
        self.code = codes.normalize(code)
        self.board = codes.board(code)
        self.tradable = not codes.is_never_traded(code)
        self.stock = codes.is_stock(code)
        self.lot, self.step = lots.lot_rule(code) if self.tradable else (None, None)
        self.tick = prices.tick_size(code)
        self.cage_ticks = prices.cage_ticks(code)


def instrument(code):
    """The Instrument of a code in either form; CodeError for an unknown form."""
    try:
        return _known[code]
    except (KeyError, TypeError):  # not seen yet, or not even hashable
        pass
    result = Instrument(code)
    if len(_known) < _MEMO_SIZE:
        _known[code] = result
    return result
