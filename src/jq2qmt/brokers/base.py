"""The broker protocol: the only thing the follower loop knows about a trading account.

Every adapter (built-in QMT, miniQMT, paper) implements these methods and returns
plain data in these shapes, so the loop is written once::

    kind                      "builtin" | "miniqmt" | "paper"
    positions()            -> [{"code": "600000.SH", "volume": int, "can_use_volume": int,
                                "avg_cost": float, "name": str}]
    asset()                -> {"cash": float (usable for buying), "frozen_cash": float,
                               "market_value": float, "total_asset": float}
    orders()               -> today's orders, newest last: [{"order_id": str or None,
                               "code", "side": "buy"|"sell", "volume": int,
                               "traded_volume": int, "price": float, "status": int,
                               "status_msg": str, "remark": str}]
    quotes(codes)          -> {code: {"last", "prev_close", "high_limit", "low_limit",
                               "bid1", "ask1", "suspended", "timetag"?}}  (plan-scenario
                               quote format plus the quote's time when the platform gives
                               one; codes without data are left out)
    account_lag            seconds the account data (cash, holdings) may lag behind the
                               orders (a local cache: built-in QMT); 0 when live
    place(code, side, volume, price, remark) -> order id (str) or None when the broker
                               assigns ids asynchronously (built-in QMT); raises
                               BrokerError when the order could not be sent at all
    cancel(order_id)       -> bool (request accepted)
    trades()               -> today's fills, optional (the loop reports fills only when
                               the adapter has it): [{"trade_id": str, "order_id": str
                               (the same id `orders()` gives), "code", "side", "volume":
                               int, "price": float, "time": "YYYY-MM-DDTHH:MM:SS" or None
                               when the platform gives no time, "remark": str}];
                               a failed query raises BrokerError, like every read

Order status numbers are QMT's (built-in `m_nOrderStatus` and xtquant
`order_status` use the same table, docs/platforms.md).

This module is bundled into the exported QMT file: Python 3.6, stdlib only.
"""

import datetime

BUY = "buy"
SELL = "sell"

ORDER_UNREPORTED = 48
ORDER_WAIT_REPORTING = 49
ORDER_REPORTED = 50
ORDER_REPORTED_CANCEL = 51
ORDER_PARTSUCC_CANCEL = 52
ORDER_PART_CANCEL = 53
ORDER_CANCELED = 54
ORDER_PART_SUCC = 55
ORDER_SUCCEEDED = 56
ORDER_JUNK = 57
ORDER_UNKNOWN = 255

STATUS_NAMES = {
    ORDER_UNREPORTED: "未报",
    ORDER_WAIT_REPORTING: "待报",
    ORDER_REPORTED: "已报",
    ORDER_REPORTED_CANCEL: "已报待撤",
    ORDER_PARTSUCC_CANCEL: "部成待撤",
    ORDER_PART_CANCEL: "部撤",
    ORDER_CANCELED: "已撤",
    ORDER_PART_SUCC: "部成",
    ORDER_SUCCEEDED: "已成",
    ORDER_JUNK: "废单",
    ORDER_UNKNOWN: "未知",
}

# Final: the order will never trade again.
FINAL_STATUSES = frozenset([ORDER_PART_CANCEL, ORDER_CANCELED, ORDER_SUCCEEDED, ORDER_JUNK])
# A cancel is already on its way: counted as in flight, never cancelled again.
CANCELLING_STATUSES = frozenset([ORDER_REPORTED_CANCEL, ORDER_PARTSUCC_CANCEL])
# Cancelled by someone (us on timeout, the user, or the exchange at day end).
CANCELLED_STATUSES = frozenset([ORDER_PART_CANCEL, ORDER_CANCELED])


def is_open(status):
    """True while an order may still trade: every status that is not final.

    Unknown numbers (255 or anything a broker build invents) count as open, so the
    volume stays in flight and is never sent twice.
    """
    return status not in FINAL_STATUSES


def is_cancellable(status):
    return is_open(status) and status not in CANCELLING_STATUSES


def status_name(status):
    return STATUS_NAMES.get(status, "未知(%s)" % (status,))


class BrokerError(Exception):
    """The broker refused or could not take a request (not connected, bad account...)."""


class BrokerUnavailable(BrokerError):
    """The broker cannot be reached right now (not connected, reconnecting): the request
    was certainly not sent, and it says nothing about the order itself."""


def split_code(code):
    """'600000.SH' -> ('600000', 'SH')."""
    number, _, market = code.partition(".")
    return number, market.upper()


def join_code(number, market):
    return "%s.%s" % (number, market.upper())


def _first_price(levels):
    for price in levels or []:
        if price:
            return float(price)
    return None


def _positive(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if value > 0 else None


def quote_from_tick(tick, detail):
    """A plan-scenario quote from a QMT/xtquant full tick and instrument detail.

    Zero prices mean an empty level (docs/platforms.md); the limits come
    from the instrument detail when it has them, otherwise the engine derives them.
    """
    tick = tick or {}
    detail = detail or {}
    last = float(tick.get("lastPrice") or 0)
    prev_close = float(tick.get("lastClose") or detail.get("PreClose") or 0)
    if last <= 0:
        last = prev_close
    if last <= 0:
        return None
    quote = {
        "last": last,
        "prev_close": prev_close or None,
        "bid1": _first_price((tick.get("bidPrice") or [])[:1]),
        "ask1": _first_price((tick.get("askPrice") or [])[:1]),
        "high_limit": _positive(detail.get("UpStopPrice")),
        "low_limit": _positive(detail.get("DownStopPrice")),
    }
    quote = dict((k, v) for k, v in quote.items() if v is not None)
    quote["suspended"] = int(detail.get("InstrumentStatus") or 0) > 0
    timetag = tick.get("timetag")
    if timetag:
        quote["timetag"] = str(timetag)
    return quote


def trade_time(day, clock):
    """'YYYY-MM-DDTHH:MM:SS' from a date ('20231106') and a time ('93005', '09:30:05',
    '093005'), or None when either is unreadable."""
    day = str(day or "").replace("-", "")
    digits = str(clock or "").replace(":", "").split(".")[0]
    if len(day) != 8 or not day.isdigit() or not digits.isdigit() or len(digits) > 6:
        return None
    digits = digits.zfill(6)
    try:
        when = datetime.datetime.strptime(day + digits, "%Y%m%d%H%M%S")
    except ValueError:
        return None
    return when.strftime("%Y-%m-%dT%H:%M:%S")


def quote_age(quote, now):
    """Seconds between a quote's `timetag` ('20231106 15:00:04', exchange time) and
    `now`, or None when the quote carries no readable time."""
    text = str((quote or {}).get("timetag") or "")[:17]
    try:
        when = datetime.datetime.strptime(text, "%Y%m%d %H:%M:%S")
    except ValueError:
        return None
    return (now - when).total_seconds()
