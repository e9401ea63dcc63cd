"""Settlement: which instruments can be sold on the day they are bought (T+0).

Shares and most funds are T+1; convertible bonds and many ETFs (bond, gold,
cross-border, money-market) are T+0. By code prefix we recognise SH 511 (bond / money
ETFs), 513 (cross-border) and 518 (gold); other funds are treated as T+1, which is the
safe side (the account's can_use_volume is what the engine trusts in any case).
"""

from . import codes

_T0_FUND_PREFIXES_SH = ("511", "513", "518")


def is_t0(code):
    """True when shares bought today are sellable today (bonds, SH 511/513/518 ETFs)."""
    board = codes.board(code)
    if board == codes.BOND:
        return True
    if board == codes.FUND and codes.exchange(code) == "SH":
        return code[:3] in _T0_FUND_PREFIXES_SH
    return False
