"""A paper exchange and broker account that behaves like the A-share market for the
follower: it accepts or rejects each order for the real reasons, fills marketable
limit orders (fully or partially), keeps T+1 sellable volume across a simulated day
change and charges commission (with its minimum), stamp duty and transfer fee.

Interface: the methods below (the paper broker, the simulators and the demo use them). Every market rule comes
from jq2qmt.rules; money is kept in whole fen so fees and cash checks are exact.
Thread-safe: one lock; subscriber callbacks run outside it.
"""

import threading

from jq2qmt.rules import codes, lots, prices, t0
from jq2qmt.rules import fees as fee_rules
from jq2qmt.rules.instrument import instrument

# QMT / xtquant order status numbers (docs/platforms.md)
STATUS_REPORTED = 50  # 已报
STATUS_PART_CANCEL = 53  # 部撤
STATUS_CANCELED = 54  # 已撤
STATUS_PART_SUCC = 55  # 部成
STATUS_SUCCEEDED = 56  # 已成
STATUS_JUNK = 57  # 废单
OPEN_STATUSES = (STATUS_REPORTED, STATUS_PART_SUCC)

REJECT_REASONS = (
    "lot",
    "tick",
    "price_limit",
    "price_cage",
    "insufficient_cash",
    "insufficient_sellable",
    "suspended",
    "no_quote",
    "invalid",
)
_PUBLIC_ORDER_KEYS = (
    "order_id",
    "code",
    "side",
    "volume",
    "traded_volume",
    "price",
    "traded_price",
    "status",
    "status_msg",
    "remark",
    "seq",
)
_EPS = 1e-9
_normalize = codes.normalize


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _positive_level(value):
    return value if value is not None and value > 0 else None


def _ceil_fen(li_value):
    return -(-li_value // 10)


class PaperExchange:
    """Paper broker account + exchange (see the module docstring)."""

    def __init__(self, cash=0.0, fees=None, auto_match=True, fill_ratio=1.0):
        if not 0 < fill_ratio <= 1:
            raise ValueError("fill_ratio must be in (0, 1]")
        self._lock = threading.RLock()
        self._cash_fen = fee_rules.to_fen(cash)
        self._fees = fee_rules.with_defaults(fees)
        self.auto_match = auto_match
        self.fill_ratio = fill_ratio
        self._quotes = {}
        self._positions = {}
        self._orders = []
        self._by_id = {}
        self._open = {}  # order_id -> order, only orders with an OPEN_STATUSES status
        self._trades = []
        self._subscribers = []
        self._seq = 0

    # ---- market data -------------------------------------------------------------

    def set_quote(
        self,
        code,
        last,
        prev_close=None,
        high_limit=None,
        low_limit=None,
        bid1=None,
        ask1=None,
        suspended=False,
        name=None,
    ):
        """Set the quote of a code; missing limits are derived from prev_close (or last)
        by the board's limit rule (ST by name).
        """
        code = codes.normalize(code)
        tick = prices.tick_size(code)
        base = prev_close if prev_close else last
        quote = {
            "last": last,
            "prev_close": base,
            "high_limit": high_limit,
            "low_limit": low_limit,
            "bid1": bid1,
            "ask1": ask1,
            "suspended": bool(suspended),
            "name": name,
        }
        if (high_limit is None or low_limit is None) and not codes.is_never_traded(code):
            high, low = prices.daily_limits(instrument(code), base, prices.is_st(name))
            quote["high_limit"] = prices.round_price(high_limit, tick) if high_limit else high
            quote["low_limit"] = prices.round_price(low_limit, tick) if low_limit else low
        with self._lock:
            self._quotes[code] = quote

    def _public_quote(self, quote):
        return dict((k, v) for k, v in quote.items() if not k.startswith("_"))

    def quote(self, code):
        """The quote of a code in the plan-scenario quote format, or None."""
        with self._lock:
            quote = self._quotes.get(codes.normalize(code))
            return self._public_quote(quote) if quote else None

    # the parameter name `codes` (shadowing the module) is the fixed interface
    def quotes(self, codes=None):
        """{code: quote} for the given codes (all known quotes when None)."""
        with self._lock:
            wanted = self._quotes if codes is None else [_normalize(c) for c in codes]
            return dict(
                (c, self._public_quote(self._quotes[c])) for c in wanted if c in self._quotes
            )

    # ---- account ------------------------------------------------------------------

    def set_position(self, code, volume, can_use_volume=None, avg_cost=0.0):
        """Set a holding; can_use_volume defaults to the whole volume."""
        code = codes.normalize(code)
        with self._lock:
            if volume <= 0:
                self._positions.pop(code, None)
                return
            sellable = volume if can_use_volume is None else min(can_use_volume, volume)
            self._positions[code] = {
                "volume": int(volume),
                "sellable": int(sellable),
                "avg_cost": float(avg_cost),
            }

    def _open_sell_volume(self, code):
        return sum(
            o["volume"] - o["traded_volume"]
            for o in self._open.values()
            if o["code"] == code and o["side"] == "sell"
        )

    def positions(self):
        """Holdings with volume > 0: code, volume, can_use_volume (sellable now, net of
        open sell orders, as QMT reports it), avg_cost, name.
        """
        with self._lock:
            result = []
            for code in sorted(self._positions):
                pos = self._positions[code]
                quote = self._quotes.get(code) or {}
                result.append(
                    {
                        "code": code,
                        "volume": pos["volume"],
                        "can_use_volume": max(0, pos["sellable"] - self._open_sell_volume(code)),
                        "avg_cost": round(pos["avg_cost"], 4),
                        "name": quote.get("name"),
                    }
                )
            return result

    def _frozen_fen(self):
        return sum(o["_frozen"] for o in self._open.values())

    def asset(self):
        """{"cash": available, "frozen_cash", "market_value", "total_asset"} in CNY."""
        with self._lock:
            frozen = self._frozen_fen()
            value = 0.0
            for code, pos in self._positions.items():
                quote = self._quotes.get(code) or {}
                value += pos["volume"] * (quote.get("last") or pos["avg_cost"])
            return {
                "cash": (self._cash_fen - frozen) / 100.0,
                "frozen_cash": frozen / 100.0,
                "market_value": round(value, 2),
                "total_asset": round(self._cash_fen / 100.0 + value, 2),
            }

    @property
    def cash(self):
        """Cash available for buying (after freezing open buy orders incl. fees)."""
        with self._lock:
            return (self._cash_fen - self._frozen_fen()) / 100.0

    # ---- orders -------------------------------------------------------------------

    def _check(self, code, side, volume, price):
        """The rejection reason for an order, or None when the exchange accepts it."""
        if (
            side not in ("buy", "sell")
            or not _is_number(volume)
            or volume != int(volume)
            or volume <= 0
            or not _is_number(price)
            or price <= 0
        ):
            return "invalid"
        if codes.is_never_traded(code):
            return "invalid"
        quote = self._quotes.get(code)
        if quote is None or not quote.get("last"):
            return "no_quote"
        if quote["suspended"]:
            return "suspended"
        volume = int(volume)
        if side == "sell":
            pos = self._positions.get(code, {"volume": 0, "sellable": 0})
            open_sells = self._open_sell_volume(code)
            if volume > pos["sellable"] - open_sells:
                return "insufficient_sellable"
            if not lots.is_valid_sell(instrument(code), volume, pos["volume"] - open_sells):
                return "lot"
        elif not lots.is_valid_buy(instrument(code), volume):
            return "lot"
        if not prices.is_on_tick(price, prices.tick_size(code)):
            return "tick"
        if price > quote["high_limit"] + _EPS or price < quote["low_limit"] - _EPS:
            return "price_limit"
        if not prices.in_cage(instrument(code), side, price, quote):
            return "price_cage"
        if side == "buy":
            cost = fee_rules.buy_cost_fen(instrument(code), price, volume, self._fees)
            if cost > self._cash_fen - self._frozen_fen():
                return "insufficient_cash"
        return None

    def place_order(self, code, side, volume, price, remark=""):
        """Place a limit order; always records and returns the order dict. A rejected
        order has status 57 and status_msg = the reason (see REJECT_REASONS).
        """
        events = []
        with self._lock:
            try:
                code = codes.normalize(code)
                reason = self._check(code, side, volume, price)
            except codes.CodeError:
                reason = "invalid"
            self._seq += 1
            order = {
                "order_id": str(self._seq),
                "code": code,
                "side": side,
                "volume": int(volume) if _is_number(volume) else 0,
                "traded_volume": 0,
                "price": price,
                "traded_price": 0.0,
                "status": STATUS_JUNK if reason else STATUS_REPORTED,
                "status_msg": reason or "",
                "remark": remark,
                "seq": self._seq,
                "_frozen": 0,
                "_amount_li": 0,
                "_fees_fen": 0,
            }
            if not reason and side == "buy":
                order["_frozen"] = fee_rules.buy_cost_fen(
                    instrument(code), price, order["volume"], self._fees
                )
            self._orders.append(order)
            self._by_id[order["order_id"]] = order
            if not reason:
                self._open[order["order_id"]] = order
            events.append(("order", self._public_order(order)))
            if not reason and self.auto_match:
                self._match_one(order, events)
            result = self._public_order(order)
        self._dispatch(events)
        return result

    def cancel_order(self, order_id):
        """Cancel an open order; True if it was open and is now cancelled (53/54)."""
        events = []
        with self._lock:
            order = self._by_id.get(str(order_id))
            if order is None or order["status"] not in OPEN_STATUSES:
                return False
            self._close(order, events)
        self._dispatch(events)
        return True

    def _close(self, order, events):
        order["status"] = STATUS_PART_CANCEL if order["traded_volume"] else STATUS_CANCELED
        order["_frozen"] = 0
        self._open.pop(order["order_id"], None)
        events.append(("order", self._public_order(order)))

    def get_order(self, order_id):
        """One order dict by id, or None."""
        with self._lock:
            order = self._by_id.get(str(order_id))
            return self._public_order(order) if order else None

    def orders(self, open_only=False):
        """All orders in placement order (only open ones with open_only)."""
        with self._lock:
            if open_only:
                return [
                    self._public_order(o)
                    for o in sorted(self._open.values(), key=lambda o: o["seq"])
                ]
            return [self._public_order(o) for o in self._orders]

    def trades(self):
        """All fills: trade_id, order_id, code, side, volume, price, amount, fees."""
        with self._lock:
            return [dict(t) for t in self._trades]

    def subscribe(self, callback):
        """callback(kind, payload) for "order" (every status change) and "trade"."""
        with self._lock:
            self._subscribers.append(callback)

    @staticmethod
    def _public_order(order):
        return dict((k, order[k]) for k in _PUBLIC_ORDER_KEYS)

    def _dispatch(self, events):
        with self._lock:
            subscribers = list(self._subscribers)
        if not subscribers:
            return
        for kind, payload in events:
            for callback in subscribers:
                callback(kind, payload)

    # ---- simulation control ---------------------------------------------------------

    def match(self):
        """Fill open marketable orders against the current quotes."""
        events = []
        with self._lock:
            self._match_locked(events)
        self._dispatch(events)

    def _fill_price(self, order, quote):
        if quote is None or quote["suspended"]:
            return None
        if order["side"] == "buy":
            ask = _positive_level(quote.get("ask1")) or quote.get("last")
            return ask if ask and order["price"] >= ask - _EPS else None
        bid = _positive_level(quote.get("bid1")) or quote.get("last")
        return bid if bid and order["price"] <= bid + _EPS else None

    def _fill_volume(self, order):
        rest = order["volume"] - order["traded_volume"]
        if self.fill_ratio >= 1:
            return rest
        minimum, step = lots.lot_rule(order["code"])
        unit = minimum if step == minimum else 1
        volume = int(rest * self.fill_ratio) // unit * unit
        return volume if volume > 0 else min(rest, unit)

    def _match_locked(self, events):
        for order in sorted(self._open.values(), key=lambda o: o["seq"]):
            self._match_one(order, events)

    def _match_one(self, order, events):
        price = self._fill_price(order, self._quotes.get(order["code"]))
        if price is not None:
            self._fill(order, self._fill_volume(order), price, events)

    def _fill(self, order, volume, price, events):
        code, side = order["code"], order["side"]
        before_li, before_fees = order["_amount_li"], order["_fees_fen"]
        after_li = before_li + fee_rules.amount_li(price, volume)
        after_fees = fee_rules.fees_fen_for_amount(instrument(code), side, after_li, self._fees)
        fees_now = after_fees - before_fees
        if side == "buy":
            cash_change = -(_ceil_fen(after_li) - _ceil_fen(before_li) + fees_now)
            order["_frozen"] = max(0, order["_frozen"] + cash_change)
        else:
            cash_change = after_li // 10 - before_li // 10 - fees_now
        self._cash_fen += cash_change
        order["_amount_li"], order["_fees_fen"] = after_li, after_fees
        order["traded_volume"] += volume
        order["traded_price"] = round(after_li / 1000.0 / order["traded_volume"], 4)
        self._move_position(code, side, volume, price)
        trade = {
            "trade_id": str(len(self._trades) + 1),
            "order_id": order["order_id"],
            "code": code,
            "side": side,
            "volume": volume,
            "price": price,
            "amount": round(fee_rules.amount_li(price, volume) / 1000.0, 3),
            "fees": fees_now / 100.0,
        }
        self._trades.append(trade)
        events.append(("trade", dict(trade)))
        if order["traded_volume"] >= order["volume"]:
            order["status"] = STATUS_SUCCEEDED
            order["_frozen"] = 0
            self._open.pop(order["order_id"], None)
        else:
            order["status"] = STATUS_PART_SUCC
        events.append(("order", self._public_order(order)))

    def _move_position(self, code, side, volume, price):
        pos = self._positions.setdefault(code, {"volume": 0, "sellable": 0, "avg_cost": 0.0})
        if side == "buy":
            total = pos["volume"] + volume
            pos["avg_cost"] = (pos["avg_cost"] * pos["volume"] + price * volume) / total
            pos["volume"] = total
            if t0.is_t0(code):
                pos["sellable"] += volume
        else:
            pos["volume"] -= volume
            pos["sellable"] -= volume
            if pos["volume"] <= 0:
                del self._positions[code]

    def next_day(self):
        """Day change: open orders expire (54, or 53 when partly filled), everything
        held becomes sellable (T+1), prev_close := last and the limits are re-derived.
        """
        events = []
        with self._lock:
            for order in sorted(self._open.values(), key=lambda o: o["seq"]):
                self._close(order, events)
            for pos in self._positions.values():
                pos["sellable"] = pos["volume"]
            for code, quote in self._quotes.items():
                quote["prev_close"] = quote["last"]
                if codes.is_never_traded(code):
                    continue
                high, low = prices.daily_limits(
                    instrument(code), quote["last"], prices.is_st(quote.get("name"))
                )
                quote["high_limit"], quote["low_limit"] = high, low
        self._dispatch(events)
