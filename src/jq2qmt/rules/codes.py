"""Security codes: JoinQuant <-> QMT forms, board by code, never-traded codes.

Source: SSE/SZSE/BSE code allocation rules (证券代码编制规则) and the code forms of
JoinQuant and QMT.

Forms accepted (suffix case-insensitive):
- JoinQuant: ``600000.XSHG`` (Shanghai), ``000001.XSHE`` (Shenzhen)
- QMT / xtquant: ``600000.SH``, ``000001.SZ``, ``430047.BJ`` (Beijing; JoinQuant uses
  ``.BJ`` too)
The canonical form inside jq2qmt is the QMT form.
"""

import collections
import re

# ASCII digits and letters only: `\d` and str.isdigit() also accept fullwidth and other
# Unicode digits ("６０００００.XSHG"), which no exchange knows; `\Z`, not `$`, so a
# trailing newline is refused too.
_FORM = re.compile(r"^([0-9]{6})\.([A-Za-z]{2,4})\Z")
_JQ_TO_QMT = {"XSHG": "SH", "XSHE": "SZ", "SH": "SH", "SZ": "SZ", "BJ": "BJ"}
_QMT_TO_JQ = {"SH": "XSHG", "SZ": "XSHE", "BJ": "BJ"}

# Boards the follower may trade.
SH_MAIN = "sh_main"
SZ_MAIN = "sz_main"
STAR = "star"
CHINEXT = "chinext"
BJ = "bj"
FUND = "fund"
BOND = "bond"
# Boards the follower never trades.
REPO = "repo"
SUBSCRIPTION = "subscription"
INDEX = "index"
B_SHARE = "b_share"
UNKNOWN = "unknown"

STOCK_BOARDS = (SH_MAIN, SZ_MAIN, STAR, CHINEXT, BJ)
TRADABLE_BOARDS = STOCK_BOARDS + (FUND, BOND)

# (exchange, number prefix) -> board; the longest matching prefix wins.
_PREFIXES = {
    "SH": [
        ("600", SH_MAIN),
        ("601", SH_MAIN),
        ("603", SH_MAIN),
        ("605", SH_MAIN),
        ("688", STAR),
        ("689", STAR),
        ("50", FUND),
        ("51", FUND),
        ("52", FUND),
        ("56", FUND),
        ("58", FUND),
        ("11", BOND),
        ("204", REPO),
        ("7", SUBSCRIPTION),  # 730/780/787 subscriptions, 7xx allotments and votes
        ("000", INDEX),
        ("9", B_SHARE),
    ],
    "SZ": [
        ("000", SZ_MAIN),
        ("001", SZ_MAIN),
        ("002", SZ_MAIN),
        ("003", SZ_MAIN),
        ("300", CHINEXT),
        ("301", CHINEXT),
        ("302", CHINEXT),
        ("15", FUND),
        ("16", FUND),
        ("18", FUND),
        ("12", BOND),
        ("131", REPO),
        ("07", SUBSCRIPTION),
        ("08", SUBSCRIPTION),
        ("37", SUBSCRIPTION),
        ("38", SUBSCRIPTION),
        ("399", INDEX),
        ("200", B_SHARE),
    ],
    "BJ": [
        ("4", BJ),
        ("8", BJ),
        ("92", BJ),
    ],
}


class CodeError(ValueError):
    """A security code that is not in a known form (JoinQuant or QMT)."""


def _split(code):
    if not isinstance(code, str):
        raise CodeError("证券代码必须是字符串 / code must be a string: %r" % (code,))
    match = _FORM.match(code)
    if not match:
        raise CodeError(
            "无法识别的证券代码格式，应为 6 位半角数字加后缀 / unknown code form: %r "
            "(expected six ASCII digits and a suffix, e.g. 600000.XSHG or 600000.SH)" % code
        )
    number, suffix = match.group(1), match.group(2).upper()
    exchange = _JQ_TO_QMT.get(suffix)
    if exchange is None:
        raise CodeError("未知的交易所后缀 / unknown exchange suffix: %r" % code)
    return number, exchange


# A plan asks about each code many times (form, board, lot, tick, limits); what a code
# text means never changes, so it is worked out once per text and remembered. Errors
# are not remembered; the memo is a plain dict, bounded.
_MEMO_SIZE = 65536
_Facts = collections.namedtuple("_Facts", "qmt jq exchange board")
_facts = {}


def _facts_of(code):
    """The _Facts (QMT form, JoinQuant form, exchange, board) of a code text; CodeError
    if it is in no known form."""
    try:
        return _facts[code]
    except (KeyError, TypeError):  # not seen yet, or not even hashable
        pass
    number, exch = _split(code)
    facts = _Facts(
        number + "." + exch, number + "." + _QMT_TO_JQ[exch], exch, _board_of(number, exch)
    )
    if len(_facts) < _MEMO_SIZE:
        _facts[code] = facts
    return facts


def normalize(code):
    """Canonical (QMT) form of a code in JoinQuant or QMT form.

    Rule: ``.XSHG`` -> ``.SH``, ``.XSHE`` -> ``.SZ``, ``.BJ`` stays.
    Raises CodeError (a ValueError) for anything else.
    """
    return _facts_of(code).qmt


def to_qmt(code):
    """QMT / xtquant form (``600000.SH``) of a code in either form."""
    return normalize(code)


def to_jq(code):
    """JoinQuant form (``600000.XSHG``) of a code in either form.

    Beijing codes keep ``.BJ``.
    """
    return _facts_of(code).jq


def is_valid(code):
    """True when `code` is in a known form (it may still be of an unknown board)."""
    try:
        _facts_of(code)
    except CodeError:
        return False
    return True


def exchange(code):
    """Exchange of a code: "SH", "SZ" or "BJ"."""
    return _facts_of(code).exchange


def board(code):
    """Board of a code by its number prefix and exchange (the _PREFIXES table).

    Returns one of: sh_main, sz_main, star, chinext, bj, fund (ETF/LOF), bond
    (convertible bonds), repo (reverse repo), subscription (new-share subscription
    and allotment codes), index, b_share, unknown.
    """
    return _facts_of(code).board


def _board_of(number, exch):
    best = UNKNOWN
    best_len = 0
    for prefix, name in _PREFIXES[exch]:
        if number.startswith(prefix) and len(prefix) > best_len:
            best, best_len = name, len(prefix)
    return best


def is_stock(code):
    """True for shares (SH/SZ main, STAR, ChiNext, Beijing): stamp duty applies."""
    return _facts_of(code).board in STOCK_BOARDS


def is_never_traded(code):
    """True for codes the follower never trades, whatever the target says.

    Rule: reverse repos (SH 204xxx, SZ 131xxx) and new-share
    subscription codes (SH 7xxxxx, SZ 07/08/37/38xxxx) are never traded; neither are
    codes of no supported board (indexes, B shares, unknown numbers), because the
    lot, tick and limit rules for them are not known.
    """
    return _facts_of(code).board not in TRADABLE_BOARDS
