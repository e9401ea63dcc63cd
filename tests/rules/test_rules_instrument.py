"""rules.instrument: the per-code record gives exactly the answers of codes, lots and
prices (it only remembers them), in either code form, and is remembered per text.
"""

import pytest

from jq2qmt.rules import codes, lots, prices
from jq2qmt.rules.instrument import Instrument, instrument

CODES = [
    "600000.SH",
    "600000.XSHG",
    "601318.sh",
    "000001.XSHE",
    "002594.SZ",
    "300750.SZ",
    "688981.SH",
    "689009.XSHG",
    "430047.BJ",
    "830799.BJ",
    "920118.BJ",
    "510300.SH",
    "159915.SZ",
    "511880.SH",
    "113050.SH",
    "123107.SZ",
    "204001.SH",
    "131810.SZ",
    "730001.SH",
    "000300.SH",
    "399001.SZ",
    "900901.SH",
    "999999.SZ",
]


@pytest.mark.parametrize("code", CODES)
def test_instrument_answers_as_the_rule_modules(code):
    inst = instrument(code)
    assert inst.code == codes.normalize(code)
    assert inst.board == codes.board(code)
    assert inst.tradable is not codes.is_never_traded(code)
    assert inst.stock is codes.is_stock(code)
    assert inst.tick == prices.tick_size(code)
    assert inst.cage_ticks == prices.cage_ticks(code)
    if inst.tradable:
        assert (inst.lot, inst.step) == lots.lot_rule(code)
    else:
        assert (inst.lot, inst.step) == (None, None)
        with pytest.raises(ValueError):
            lots.lot_rule(code)


def test_instrument_is_remembered_per_code_text():
    assert instrument("600000.XSHG") is instrument("600000.XSHG")
    assert isinstance(instrument("600000.XSHG"), Instrument)


@pytest.mark.parametrize("bad", ["600000", "600000.XX", 600000, None, ["600000.SH"]])
def test_instrument_of_an_unknown_form_is_a_code_error(bad):
    with pytest.raises(codes.CodeError):
        instrument(bad)
