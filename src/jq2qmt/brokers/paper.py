"""Broker adapter over the paper exchange (`jq2qmt.sim.exchange.PaperExchange`).

Used by `jq2qmt follow --broker paper`, the demo and the tests. `PaperAccountFile`
keeps a paper account in a JSON file (cash, positions, quotes, open orders, trading
day) so it survives restarts of the follower.
"""

import datetime
import json
import os
import tempfile
from pathlib import Path

from . import base

STATE_FILE = "paper_account.json"


class PaperBroker(object):
    kind = "paper"

    def __init__(self, exchange):
        self.exchange = exchange

    def positions(self):
        return [
            {
                "code": p["code"],
                "volume": int(p["volume"]),
                "can_use_volume": int(p["can_use_volume"]),
                "avg_cost": float(p.get("avg_cost") or 0),
                "name": p.get("name") or "",
            }
            for p in self.exchange.positions()
            if p["volume"] > 0
        ]

    def asset(self):
        asset = self.exchange.asset()
        return {
            "cash": float(asset["cash"]),
            "frozen_cash": float(asset.get("frozen_cash", 0)),
            "market_value": float(asset["market_value"]),
            "total_asset": float(asset["total_asset"]),
        }

    def orders(self):
        return [
            {
                "order_id": str(o["order_id"]),
                "code": o["code"],
                "side": o["side"],
                "volume": int(o["volume"]),
                "traded_volume": int(o["traded_volume"]),
                "price": float(o["price"]),
                "status": int(o["status"]),
                "status_msg": o.get("status_msg") or base.status_name(o["status"]),
                "remark": o.get("remark") or "",
            }
            for o in sorted(self.exchange.orders(), key=lambda o: o.get("seq", 0))
        ]

    def quotes(self, codes):
        quotes = self.exchange.quotes(list(codes))
        return dict((code, quote) for code, quote in quotes.items() if quote)

    def trades(self):
        """The paper exchange's fills (it keeps no time: "time" is None)."""
        orders = dict((str(o["order_id"]), o) for o in self.exchange.orders())
        return [
            {
                "trade_id": str(t["trade_id"]),
                "order_id": str(t["order_id"]),
                "code": t["code"],
                "side": t["side"],
                "volume": int(t["volume"]),
                "price": float(t["price"]),
                "time": t.get("time"),
                "remark": (orders.get(str(t["order_id"])) or {}).get("remark") or "",
            }
            for t in self.exchange.trades()
        ]

    def place(self, code, side, volume, price, remark):
        order = self.exchange.place_order(code, side, int(volume), float(price), remark=remark)
        return str(order["order_id"])

    def cancel(self, order_id):
        return bool(self.exchange.cancel_order(order_id))


class PaperAccountFile(object):
    """A paper account persisted as JSON::

        {"day": "2026-11-25", "cash": 100000.0,
         "positions": [{"code": "600000.SH", "volume": 1000, "can_use_volume": 1000,
                        "avg_cost": 10.0}],
         "quotes": {"600000.SH": {"last": 10.0, "prev_close": 9.9, "bid1": 9.99,
                                  "ask1": 10.01}},
         "open_orders": [{"code", "side", "volume", "traded_volume", "price", "remark"}]}

    `cash` is the account's cash before the freezes of open buy orders; open orders are
    placed again on load (with their remarks, so the follower still recognises them).
    """

    def __init__(self, path):
        self.path = Path(path)

    def exists(self):
        return self.path.is_file()

    def read(self):
        with self.path.open("r", encoding="utf-8") as fh:
            return json.load(fh)

    def load(self, today=None, **exchange_options):
        """A PaperExchange with the saved account; a new trading day applies T+1."""
        from jq2qmt.sim.exchange import PaperExchange

        state = self.read() if self.exists() else {}
        exchange = PaperExchange(cash=float(state.get("cash", 0.0)), **exchange_options)
        for code, quote in sorted((state.get("quotes") or {}).items()):
            exchange.set_quote(code, **_quote_args(quote))
        for pos in state.get("positions") or []:
            exchange.set_position(
                pos["code"],
                int(pos["volume"]),
                can_use_volume=pos.get("can_use_volume"),
                avg_cost=float(pos.get("avg_cost") or 0),
            )
        today = today or datetime.date.today()
        if state.get("day") and state["day"] != today.isoformat():
            exchange.next_day()  # yesterday's orders have expired; all shares sellable
        else:
            for order in state.get("open_orders") or []:
                left = int(order["volume"]) - int(order.get("traded_volume") or 0)
                if left > 0:
                    exchange.place_order(
                        order["code"],
                        order["side"],
                        left,
                        float(order["price"]),
                        remark=order.get("remark", ""),
                    )
        return exchange

    def save(self, exchange, today=None):
        today = today or datetime.date.today()
        asset = exchange.asset()
        previous = self.read() if self.exists() else {}
        quotes = dict(previous.get("quotes") or {})
        for code, quote in exchange.quotes().items():
            if quote:
                quotes[code] = quote
        open_orders = exchange.orders(open_only=True)
        # can_use_volume is reported net of open sells, which are placed again on load
        selling = {}
        for order in open_orders:
            if order["side"] == "sell":
                left = order["volume"] - order["traded_volume"]
                selling[order["code"]] = selling.get(order["code"], 0) + left
        state = {
            "day": today.isoformat(),
            "cash": round(float(asset["cash"]) + float(asset.get("frozen_cash", 0)), 4),
            "positions": [
                {
                    "code": p["code"],
                    "volume": p["volume"],
                    "can_use_volume": p["can_use_volume"] + selling.get(p["code"], 0),
                    "avg_cost": p.get("avg_cost", 0.0),
                }
                for p in exchange.positions()
            ],
            "quotes": quotes,
            "open_orders": [
                {
                    "code": o["code"],
                    "side": o["side"],
                    "volume": o["volume"],
                    "traded_volume": o["traded_volume"],
                    "price": o["price"],
                    "remark": o.get("remark", ""),
                }
                for o in open_orders
            ],
        }
        _write_atomic(self.path, json.dumps(state, ensure_ascii=False, indent=1, sort_keys=True))


def _quote_args(quote):
    keys = ("last", "prev_close", "high_limit", "low_limit", "bid1", "ask1", "suspended", "name")
    return dict((k, quote[k]) for k in keys if quote.get(k) is not None)


def _write_atomic(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, str(path))
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
