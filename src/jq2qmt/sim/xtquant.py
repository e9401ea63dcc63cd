"""miniQMT (`xtquant`) simulated over the paper exchange.

`XtQuantTrader` and the `xtdata` functions here have the real method names,
arguments, return codes, callbacks and result types (platform_reference.md section 2).
The result types are the real ones: `xtquant.xttype` and `xtquant.xtconstant` are
pure Python and are loaded from the installed `xtquant` wheel without running its
package `__init__` (which checks PyPI for updates) and without touching the Windows-only
`xttrader`/`xtdata`. `install(sim)` puts this module's trader and data stand-ins into
`sys.modules` as `xtquant.xttrader` / `xtquant.xtdata`, so code that does
`from xtquant.xttrader import XtQuantTrader` runs against the simulator.
"""

import importlib
import importlib.util
import itertools
import sys
import threading
import time
import types


class XtquantMissing(ImportError):
    """The `xtquant` wheel is not installed (pip install xtquant, or the test extra)."""


def load_xtquant_types():
    """(xtconstant, xttype) from the installed wheel, without its package __init__."""
    pkg = sys.modules.get("xtquant")
    if pkg is None:
        spec = importlib.util.find_spec("xtquant")
        if spec is None or not spec.submodule_search_locations:
            raise XtquantMissing("xtquant is not installed")
        pkg = types.ModuleType("xtquant")
        pkg.__path__ = list(spec.submodule_search_locations)
        pkg.__file__ = spec.origin
        pkg.__jq2qmt_shell__ = True
        sys.modules["xtquant"] = pkg
    xtconstant = importlib.import_module("xtquant.xtconstant")
    xttype = importlib.import_module("xtquant.xttype")
    return xtconstant, xttype


class XtQuantSim(object):
    """One miniQMT client: a stock account on a paper exchange."""

    def __init__(self, exchange, account_id, connect_result=0):
        self.exchange = exchange
        self.account_id = str(account_id)
        self.connect_result = connect_result
        self.const, self.types = load_xtquant_types()
        self.traders = []
        self._ids = {}         # exchange order id -> int order id
        self._exchange_ids = {}
        self._next_id = itertools.count(1001)
        self._times = {}
        self._lock = threading.Lock()
        exchange.subscribe(self._on_exchange)

    # ---- id mapping (xtquant order ids are ints) -------------------------------------------
    def order_int_id(self, exchange_id):
        exchange_id = str(exchange_id)
        with self._lock:
            if exchange_id not in self._ids:
                number = next(self._next_id)
                self._ids[exchange_id] = number
                self._exchange_ids[number] = exchange_id
                self._times[number] = int(time.time())
            return self._ids[exchange_id]

    def exchange_id(self, order_id):
        return self._exchange_ids.get(int(order_id))

    # ---- converting paper records to xttype objects ----------------------------------------
    def xt_order(self, order):
        c = self.const
        order_id = self.order_int_id(order["order_id"])
        buy = order["side"] == "buy"
        return self.types.XtOrder(
            self.account_id, order["code"], order_id, str(order["order_id"]),
            self._times.get(order_id, 0), c.STOCK_BUY if buy else c.STOCK_SELL, order["volume"],
            c.FIX_PRICE, order["price"], order["traded_volume"], order.get("traded_price") or 0.0,
            order["status"], order.get("status_msg") or "", order.get("strategy_name", "jq2qmt"),
            order.get("remark") or "", c.DIRECTION_FLAG_LONG,
            c.OFFSET_FLAG_OPEN if buy else c.OFFSET_FLAG_CLOSE, "", order["code"].split(".")[0])

    def xt_trade(self, trade):
        c = self.const
        buy = trade["side"] == "buy"
        order = dict((o["order_id"], o) for o in self.exchange.orders()).get(trade["order_id"], {})
        return self.types.XtTrade(
            self.account_id, trade["code"], c.STOCK_BUY if buy else c.STOCK_SELL,
            str(trade["trade_id"]), int(time.time()), trade["price"], trade["volume"],
            trade["amount"], self.order_int_id(trade["order_id"]), str(trade["order_id"]),
            "jq2qmt", order.get("remark") or "", c.DIRECTION_FLAG_LONG,
            c.OFFSET_FLAG_OPEN if buy else c.OFFSET_FLAG_CLOSE, trade.get("fees", 0.0), "",
            trade["code"].split(".")[0])

    def xt_position(self, pos):
        quote = self.exchange.quote(pos["code"]) or {}
        last = quote.get("last") or pos.get("avg_cost") or 0.0
        return self.types.XtPosition(
            self.account_id, pos["code"], pos["volume"], pos["can_use_volume"],
            pos.get("avg_cost", 0.0), round(last * pos["volume"], 2),
            pos["volume"] - pos["can_use_volume"], 0, pos["volume"] - 0,
            pos.get("avg_cost", 0.0), self.const.DIRECTION_FLAG_LONG, last, 0.0, "",
            pos.get("name") or pos["code"].split(".")[0])

    def xt_asset(self):
        asset = self.exchange.asset()
        return self.types.XtAsset(self.account_id, asset["cash"], asset.get("frozen_cash", 0.0),
                                  asset["market_value"], asset["total_asset"], asset["cash"])

    def _on_exchange(self, kind, payload):
        for trader in list(self.traders):
            trader._push(kind, payload)


class XtQuantTrader(object):
    """Stand-in for `xtquant.xttrader.XtQuantTrader` bound to the installed XtQuantSim."""

    def __init__(self, path, session, callback=None):
        if _SIM is None:
            raise RuntimeError("no XtQuantSim installed (jq2qmt.sim.xtquant.install)")
        self.sim = _SIM
        self.path = path
        self.session = session
        self.callback = callback
        self.started = False
        self.connected = False
        self.subscribed = set()
        self._seq = itertools.count(1)
        self.sim.traders.append(self)

    def register_callback(self, callback):
        self.callback = callback

    def start(self):
        self.started = True

    def stop(self):
        self.started = False
        if self in self.sim.traders:
            self.sim.traders.remove(self)

    def connect(self):
        result = self.sim.connect_result if self.started else -1
        self.connected = result == 0
        return result

    def sleep(self, time_):
        time.sleep(time_)

    def run_forever(self):
        while self.started:
            time.sleep(2)

    def set_timeout(self, timeout=0):
        pass

    def set_relaxed_response_order_enabled(self, enabled):
        pass

    def _account_ok(self, account):
        return self.connected and getattr(account, "account_id", None) == self.sim.account_id

    def subscribe(self, account):
        if not self._account_ok(account):
            return -1
        self.subscribed.add(account.account_id)
        return 0

    def unsubscribe(self, account):
        self.subscribed.discard(getattr(account, "account_id", None))
        return 0

    # ---- orders --------------------------------------------------------------------------
    def order_stock(self, account, stock_code, order_type, order_volume, price_type, price,
                    strategy_name='', order_remark=''):
        c = self.sim.const
        if not self._account_ok(account) or order_type not in (c.STOCK_BUY, c.STOCK_SELL):
            return -1
        quote = self.sim.exchange.quote(stock_code) or {}
        side = "buy" if order_type == c.STOCK_BUY else "sell"
        if price_type == c.LATEST_PRICE:
            price = quote.get("last") or 0.0
        elif price_type != c.FIX_PRICE:
            price = (quote.get("ask1") if side == "buy" else quote.get("bid1")) or \
                quote.get("last") or 0.0
        order = self.sim.exchange.place_order(stock_code, side, int(order_volume), float(price),
                                              remark=order_remark)
        order_id = self.sim.order_int_id(order["order_id"])
        if order["status"] == c.ORDER_JUNK and self.callback is not None:
            self.callback.on_order_error(self.sim.types.XtOrderError(
                self.sim.account_id, order_id, -1, order.get("status_msg") or "rejected",
                strategy_name, order_remark))
        return order_id

    def order_stock_async(self, account, stock_code, order_type, order_volume, price_type,
                          price, strategy_name='', order_remark=''):
        seq = next(self._seq)
        order_id = self.order_stock(account, stock_code, order_type, order_volume, price_type,
                                    price, strategy_name, order_remark)
        if self.callback is not None:
            self.callback.on_order_stock_async_response(self.sim.types.XtOrderResponse(
                self.sim.account_id, order_id, strategy_name, order_remark,
                "" if order_id > 0 else "rejected", seq))
        return seq

    def cancel_order_stock(self, account, order_id):
        if not self._account_ok(account):
            return -1
        exchange_id = self.sim.exchange_id(order_id)
        if exchange_id is None or not self.sim.exchange.cancel_order(exchange_id):
            if self.callback is not None:
                self.callback.on_cancel_error(self.sim.types.XtCancelError(
                    self.sim.account_id, order_id, "", str(exchange_id or ""), -1,
                    "撤单失败 / cannot cancel"))
            return -1
        return 0

    def cancel_order_stock_async(self, account, order_id):
        seq = next(self._seq)
        result = self.cancel_order_stock(account, order_id)
        if self.callback is not None:
            self.callback.on_cancel_order_stock_async_response(
                self.sim.types.XtCancelOrderResponse(
                    self.sim.account_id, result, order_id,
                    str(self.sim.exchange_id(order_id) or ""), seq, ""))
        return seq

    # ---- queries -------------------------------------------------------------------------
    def query_stock_asset(self, account):
        return self.sim.xt_asset() if self._account_ok(account) else None

    def query_stock_positions(self, account):
        if not self._account_ok(account):
            return []
        return [self.sim.xt_position(p) for p in self.sim.exchange.positions()]

    def query_stock_position(self, account, stock_code):
        for pos in self.query_stock_positions(account):
            if pos.stock_code == stock_code:
                return pos
        return None

    def query_stock_orders(self, account, cancelable_only=False):
        if not self._account_ok(account):
            return []
        orders = sorted(self.sim.exchange.orders(open_only=cancelable_only),
                        key=lambda o: o.get("seq", 0))
        return [self.sim.xt_order(o) for o in orders]

    def query_stock_order(self, account, order_id):
        exchange_id = self.sim.exchange_id(order_id)
        for order in self.sim.exchange.orders():
            if str(order["order_id"]) == exchange_id:
                return self.sim.xt_order(order)
        return None

    def query_stock_trades(self, account):
        if not self._account_ok(account):
            return []
        return [self.sim.xt_trade(t) for t in self.sim.exchange.trades()]

    # ---- pushes --------------------------------------------------------------------------
    def _push(self, kind, payload):
        if self.callback is None or not self.connected:
            return
        if kind == "order":
            self.callback.on_stock_order(self.sim.xt_order(payload))
        elif kind == "trade":
            self.callback.on_stock_trade(self.sim.xt_trade(payload))


class XtQuantTraderCallback(object):
    """Stand-in for `xtquant.xttrader.XtQuantTraderCallback`: every push, doing nothing."""

    def on_connected(self):
        pass

    def on_disconnected(self):
        pass

    def on_account_status(self, status):
        pass

    def on_stock_asset(self, asset):
        pass

    def on_stock_order(self, order):
        pass

    def on_stock_trade(self, trade):
        pass

    def on_stock_position(self, position):
        pass

    def on_order_error(self, order_error):
        pass

    def on_cancel_error(self, cancel_error):
        pass

    def on_order_stock_async_response(self, response):
        pass

    def on_cancel_order_stock_async_response(self, response):
        pass


# ---- xtdata stand-in ----------------------------------------------------------------------
def get_full_tick(code_list):
    """`xtdata.get_full_tick`: {code: tick dict} with the fields of the real one."""
    import datetime

    from jq2qmt.sim.qmt_builtin import full_tick

    return full_tick(_SIM.exchange, code_list, datetime.datetime.now())


def get_instrument_detail(stock_code, iscomplete=False):
    """`xtdata.get_instrument_detail`: dict with UpStopPrice, DownStopPrice, PreClose, ...
    (None for an unknown code, as the real one)."""
    from jq2qmt.sim.qmt_builtin import instrument_detail

    return instrument_detail(_SIM.exchange, stock_code) or None


_SIM = None
_SAVED = {}


def install(sim):
    """Make `xtquant.xttrader` / `xtquant.xtdata` resolve to this simulator."""
    global _SIM
    _SIM = sim
    load_xtquant_types()
    this = sys.modules[__name__]
    trader_mod = types.ModuleType("xtquant.xttrader")
    trader_mod.XtQuantTrader = XtQuantTrader
    trader_mod.XtQuantTraderCallback = XtQuantTraderCallback
    data_mod = types.ModuleType("xtquant.xtdata")
    data_mod.get_full_tick = this.get_full_tick
    data_mod.get_instrument_detail = this.get_instrument_detail
    pkg = sys.modules["xtquant"]
    for name, module in (("xtquant.xttrader", trader_mod), ("xtquant.xtdata", data_mod)):
        _SAVED.setdefault(name, sys.modules.get(name))
        sys.modules[name] = module
        setattr(pkg, name.split(".")[1], module)
    return sim


def uninstall():
    """Undo `install`."""
    global _SIM
    _SIM = None
    pkg = sys.modules.get("xtquant")
    for name, module in list(_SAVED.items()):
        if module is None:
            sys.modules.pop(name, None)
            if pkg is not None and hasattr(pkg, name.split(".")[1]):
                delattr(pkg, name.split(".")[1])
        else:
            sys.modules[name] = module
    _SAVED.clear()
