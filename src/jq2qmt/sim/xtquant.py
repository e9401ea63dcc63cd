"""miniQMT (`xtquant`) simulated over the paper exchange, under the REAL `xttrader.py`.

`install(sim)` makes `from xtquant.xttrader import XtQuantTrader` give the installed
wheel's own, unchanged `xttrader.py`, running over `jq2qmt.sim.xtpythonclient` (a fake
of its Windows-only native module) that `XtQuantSim` answers. So whatever the real
trader does is what a test sees: synchronous calls wait on a future until the native
thread answers, answers and pushes (order updates, order and cancel errors,
disconnects) reach the callback on xttrader's executor thread after the call returned,
and queries hand back the native objects unchanged (plain objects with more fields
than `xttype`'s classes; `None` when the native side says so).

The wheel is loaded without running its package `__init__` (which asks PyPI for a
newer version, with a 10 s timeout): `jq2qmt.brokers.miniqmt.xtquant_package`.
`xtquant.xtdata` (also native) is replaced by `get_full_tick` /
`get_instrument_detail` below, read from the paper exchange.

Knobs of `XtQuantSim`, one per way the real client fails:
- `connect_result`: what the native `connect()` returns (0 connected);
- `hang`: request kinds never answered ("order", "cancel", "positions", "orders",
  "asset", "trades", "subscribe", "*" for all); "connect" blocks the native connect and
  "full_tick" blocks `xtdata.get_full_tick`, both until `release` is set;
- `lose_answer`: request kinds carried out whose answer never comes (an order that
  miniQMT placed although `order_stock` never returned);
- `query_none`: query kinds ("positions", "orders", "asset", "trades") answered `None`;
- `async_reject`: {code: message}: `order_stock` gets an order id, then the order is
  pushed as 57 and `on_order_error` (with the request's `seq`) follows;
  `reject_lag` "open" keeps such an order listed as 50 by queries, "missing" keeps it
  out of them (miniQMT's cache lag);
- `refuse_cancel`: a message: the cancel answers 0 (sent), then `on_cancel_error`
  follows and the order stays open;
- `disconnect()`: pushes a disconnect to every live client; they answer nothing more;
- `order_type_value` / `offset_flag_value`: what queried orders carry in those fields
  (None: 23/24 and 48/49 by side).
A session id already held by a live, connected client cannot connect again (-1).
"""

import importlib
import itertools
import sys
import threading
import time
import types

from jq2qmt.sim import xtpythonclient

STOCK_ACCOUNT = 2  # xtconstant.SECURITY_ACCOUNT
STOCK_BUY, STOCK_SELL = 23, 24
LATEST_PRICE, FIX_PRICE = 5, 11
DIRECTION_LONG = 48
OFFSET_OPEN, OFFSET_CLOSE = 48, 49
ORDER_REPORTED, ORDER_CANCELED, ORDER_JUNK = 50, 54, 57
OPEN_LOCAL = (ORDER_REPORTED,)
HANG_LIMIT = 60.0  # a hanging native call gives up after this, so no test hangs forever


class XtquantMissing(ImportError):
    """The `xtquant` wheel is not installed (pip install xtquant, or the test extra)."""


def load_xtquant_types():
    """(xtconstant, xttype) from the installed wheel, without its package __init__."""
    from jq2qmt.brokers import miniqmt

    try:
        miniqmt.xtquant_package()
    except ImportError as exc:
        raise XtquantMissing(str(exc))
    return importlib.import_module("xtquant.xtconstant"), importlib.import_module("xtquant.xttype")


def _native(kind, **fields):
    return xtpythonclient.Native(kind, **fields)


class XtQuantSim:
    """One miniQMT client process: a stock account on a paper exchange."""

    def __init__(self, exchange, account_id, connect_result=0):
        self.exchange = exchange
        self.account_id = str(account_id)
        self.connect_result = connect_result
        self.const, self.types = load_xtquant_types()
        self.hang = set()
        self.lose_answer = set()
        self.query_none = set()
        self.async_reject = {}
        self.reject_lag = None
        self.refuse_cancel = None
        self.order_type_value = None
        self.offset_flag_value = None
        self.release = threading.Event()
        self.clients = []  # every native client created (XtQuantAsyncClient)
        self.requests = []  # (session, kind, seq, request fields) of every request
        self.errors = []  # exceptions raised while answering (a test should see none)
        self._ids = {}  # exchange order id -> int order id
        self._exchange_ids = {}
        self._local = {}  # int order id -> order rejected asynchronously (not on the exchange)
        self._times = {}
        self._next_id = itertools.count(1001)
        self._lock = threading.Lock()
        exchange.subscribe(self._on_exchange)

    # ---- knobs that act ------------------------------------------------------------------
    def hangs(self, kind):
        return kind in self.hang or "*" in self.hang

    def disconnect(self):
        """miniQMT went away: every live client gets the disconnect push."""
        for client in self.live_clients():
            client.push("OnDisconnected")
            client.disconnected = True

    def live_clients(self):
        return [c for c in self.clients if c.connected and not c.stopped and not c.disconnected]

    def requests_of(self, kind):
        return [fields for _, k, _, fields in self.requests if k == kind]

    # ---- native connect ------------------------------------------------------------------
    def connect(self, client):
        if self.hangs("connect"):
            self.release.wait(HANG_LIMIT)
        if any(c is not client and c.session == client.session for c in self.live_clients()):
            return -1  # session ids must differ per connection
        return self.connect_result

    # ---- ids -------------------------------------------------------------------------------
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

    # ---- native objects ----------------------------------------------------------------------
    def native_order(self, order, order_id=None):
        buy = order["side"] == "buy"
        order_id = order_id if order_id is not None else self.order_int_id(order["order_id"])
        return _native(
            "StockOrder",
            account_type=STOCK_ACCOUNT,
            account_id=self.account_id,
            stock_code=order["code"],
            order_id=order_id,
            order_sysid=str(order.get("order_sysid", order["order_id"])),
            order_time=self._times.get(order_id, 0),
            order_type=self.order_type_value
            if self.order_type_value is not None
            else (STOCK_BUY if buy else STOCK_SELL),
            order_volume=order["volume"],
            price_type=FIX_PRICE,
            price=order["price"],
            traded_volume=order["traded_volume"],
            traded_price=order.get("traded_price") or 0.0,
            order_status=order["status"],
            status_msg=order.get("status_msg") or "",
            strategy_name=order.get("strategy_name", "jq2qmt"),
            order_remark=order.get("remark") or "",
            direction=DIRECTION_LONG,
            offset_flag=self.offset_flag_value
            if self.offset_flag_value is not None
            else (OFFSET_OPEN if buy else OFFSET_CLOSE),
            secu_account="A123456789" if order["code"].endswith(".SH") else "0123456789",
            instrument_name=order["code"].split(".")[0],
        )

    def native_trade(self, trade):
        buy = trade["side"] == "buy"
        order = self.exchange.get_order(trade["order_id"]) or {}
        return _native(
            "StockTrade",
            account_type=STOCK_ACCOUNT,
            account_id=self.account_id,
            stock_code=trade["code"],
            order_type=STOCK_BUY if buy else STOCK_SELL,
            traded_id=str(trade["trade_id"]),
            traded_time=int(time.time()),
            traded_price=trade["price"],
            traded_volume=trade["volume"],
            traded_amount=trade["amount"],
            order_id=self.order_int_id(trade["order_id"]),
            order_sysid=str(trade["order_id"]),
            strategy_name="jq2qmt",
            order_remark=order.get("remark") or "",
            direction=DIRECTION_LONG,
            offset_flag=OFFSET_OPEN if buy else OFFSET_CLOSE,
            commission=trade.get("fees", 0.0),
            secu_account="",
            instrument_name=trade["code"].split(".")[0],
        )

    def native_position(self, pos):
        quote = self.exchange.quote(pos["code"]) or {}
        last = quote.get("last") or pos.get("avg_cost") or 0.0
        cost = pos.get("avg_cost", 0.0)
        return _native(
            "StockPosition",
            account_type=STOCK_ACCOUNT,
            account_id=self.account_id,
            stock_code=pos["code"],
            volume=pos["volume"],
            can_use_volume=pos["can_use_volume"],
            open_price=cost,
            market_value=round(last * pos["volume"], 2),
            frozen_volume=pos["volume"] - pos["can_use_volume"],
            on_road_volume=0,
            yesterday_volume=pos["volume"],
            avg_price=cost,
            direction=DIRECTION_LONG,
            last_price=last,
            profit_rate=(last - cost) / cost if cost else 0.0,
            secu_account="",
            instrument_name=pos.get("name") or pos["code"].split(".")[0],
            float_profit=round((last - cost) * pos["volume"], 2),
            open_date="",
            position_profit=0.0,
        )

    def native_asset(self):
        asset = self.exchange.asset()
        return _native(
            "StockAsset",
            account_type=STOCK_ACCOUNT,
            account_id=self.account_id,
            cash=asset["cash"],
            frozen_cash=asset.get("frozen_cash", 0.0),
            market_value=asset["market_value"],
            total_asset=asset["total_asset"],
            fetch_balance=asset["cash"],
        )

    def _order_error(self, seq, order_id, message, strategy_name, remark):
        return _native(
            "OrderError",
            account_type=STOCK_ACCOUNT,
            account_id=self.account_id,
            order_id=order_id,
            error_id=-61,
            error_msg=message,
            strategy_name=strategy_name,
            order_remark=remark,
            seq=seq,
        )

    # ---- answering requests (on the client's native thread) -------------------------------
    def answer(self, client, kind, seq, req):
        """[(binding, args)] the native client fires for request `kind`, in order."""
        account_ok = getattr(req, "m_strAccountID", None) == self.account_id
        if kind in ("subscribe", "unsubscribe"):
            binding = "OnSubscribeResp" if kind == "subscribe" else "OnUnsubscribeResp"
            return [(binding, (seq, 0 if account_ok else -1))]
        if kind == "order":
            return self._answer_order(client, seq, req, account_ok)
        if kind == "cancel":
            return self._answer_cancel(seq, req, account_ok)
        if kind == "account_infos":
            return [
                (
                    "OnQueryAccountInfos",
                    (
                        seq,
                        [
                            _native(
                                "AccountInfo",
                                account_type=STOCK_ACCOUNT,
                                account_id=self.account_id,
                                broker_type=2,
                                platform_id=0,
                                account_classification=0,
                                login_status=0,
                            )
                        ],
                    ),
                )
            ]
        if kind == "account_status":
            return [("OnQueryAccountStatus", (seq, []))]
        binding = {
            "asset": "OnQueryStockAsset",
            "orders": "OnQueryStockOrders",
            "positions": "OnQueryStockPositions",
            "trades": "OnQueryStockTrades",
        }[kind]
        if kind in self.query_none:
            return [(binding, (seq, None))]
        if not account_ok:
            return [(binding, (seq, []))]
        if kind == "asset":
            rows = [self.native_asset()]
        elif kind == "positions":
            rows = [self.native_position(p) for p in self.exchange.positions()]
            code = getattr(req, "m_strStockCode", None)
            if code:
                rows = [p for p in rows if p.stock_code == code]
        elif kind == "trades":
            rows = [self.native_trade(t) for t in self.exchange.trades()]
        else:
            rows = self._query_orders(req)
        return [(binding, (seq, rows))]

    def _query_orders(self, req):
        open_only = bool(getattr(req, "m_bCanCancel", False))
        listed = [
            (o["seq"], self.native_order(o)) for o in self.exchange.orders(open_only=open_only)
        ]
        with self._lock:
            local = list(self._local.items())
        for order_id, order in local:
            shown = order
            if order["status"] == ORDER_JUNK and self.reject_lag == "missing":
                continue
            if order["status"] == ORDER_JUNK and self.reject_lag == "open":
                shown = dict(order, status=ORDER_REPORTED, status_msg="")
            if not open_only or shown["status"] in OPEN_LOCAL:
                listed.append((order["seq"], self.native_order(shown, order_id)))
        rows = [row for _, row in sorted(listed, key=lambda item: item[0])]
        wanted = getattr(req, "m_nOrderID", None)
        if wanted:
            rows = [r for r in rows if r.order_id == wanted]
        return rows

    def _answer_order(self, client, seq, req, account_ok):
        def response(order_id, message=""):
            return (
                "OnOrderStockResp",
                (
                    seq,
                    _native(
                        "OrderStockResp",
                        m_strAccountID=req.m_strAccountID,
                        m_nOrderID=order_id,
                        m_strStrategyName=req.m_strStrategyName,
                        m_strOrderRemark=req.m_strOrderRemark,
                        m_strErrorMsg=message,
                    ),
                ),
            )

        if not account_ok or req.m_nOrderType not in (STOCK_BUY, STOCK_SELL):
            return [response(-1, "账号或委托类型错误 / bad account or order type")]
        side = "buy" if req.m_nOrderType == STOCK_BUY else "sell"
        code, price = req.m_strStockCode, req.m_dPrice
        quote = self.exchange.quote(code) or {}
        if req.m_nPriceType == LATEST_PRICE:
            price = quote.get("last") or 0.0
        elif req.m_nPriceType != FIX_PRICE:
            price = (
                (quote.get("ask1") if side == "buy" else quote.get("bid1"))
                or quote.get("last")
                or 0.0
            )
        strategy, remark = req.m_strStrategyName, req.m_strOrderRemark
        if code in self.async_reject:
            message = self.async_reject[code]
            with self._lock:
                order_id = next(self._next_id)
                self._times[order_id] = int(time.time())
                rejected = {
                    "order_id": "L%d" % order_id,
                    "order_sysid": "",
                    "code": code,
                    "side": side,
                    "volume": int(req.m_nOrderVolume),
                    "price": price,
                    "traded_volume": 0,
                    "status": ORDER_JUNK,
                    "status_msg": message,
                    "remark": remark,
                    "strategy_name": strategy,
                    "seq": 10**9 + order_id,
                }
                self._local[order_id] = rejected
            return [
                response(order_id),
                ("OnStockOrder", (self.native_order(rejected, order_id),)),
                ("OnOrderError", (self._order_error(seq, order_id, message, strategy, remark),)),
            ]
        placed = self.exchange.place_order(
            code, side, int(req.m_nOrderVolume), float(price), remark=remark
        )
        order_id = self.order_int_id(placed["order_id"])
        result = [response(order_id)]
        if placed["status"] == ORDER_JUNK:
            result.append(
                (
                    "OnOrderError",
                    (
                        self._order_error(
                            seq, order_id, placed.get("status_msg") or "rejected", strategy, remark
                        ),
                    ),
                )
            )
        return result

    def _answer_cancel(self, seq, req, account_ok):
        order_id = int(getattr(req, "m_nOrderID", 0) or 0)
        exchange_id = self.exchange_id(order_id) if order_id else None
        sysid = exchange_id or ""

        def response(result, message=""):
            return (
                "OnCancelOrderStockResp",
                (
                    seq,
                    _native(
                        "CancelOrderStockResp",
                        m_strAccountID=req.m_strAccountID,
                        m_nCancelResult=result,
                        m_nOrderID=order_id,
                        m_strOrderSysID=sysid,
                        m_strErrorMsg=message,
                    ),
                ),
            )

        def error(message):
            return (
                "OnCancelError",
                (
                    _native(
                        "CancelError",
                        account_type=STOCK_ACCOUNT,
                        account_id=self.account_id,
                        order_id=order_id,
                        market=1 if str(sysid) else 0,
                        order_sysid=sysid,
                        error_id=-1,
                        error_msg=message,
                        seq=seq,
                    ),
                ),
            )

        if account_ok and self.refuse_cancel:
            return [response(0), error(self.refuse_cancel)]
        done = False
        if account_ok and exchange_id is not None:
            done = self.exchange.cancel_order(exchange_id)
        elif account_ok and order_id in self._local:
            with self._lock:
                order = self._local[order_id]
                if order["status"] in OPEN_LOCAL:
                    self._local[order_id] = dict(order, status=ORDER_CANCELED)
                    done = True
        if done:
            return [response(0)]
        return [response(-1, "撤单失败 / cannot cancel"), error("撤单失败 / cannot cancel")]

    # ---- pushes --------------------------------------------------------------------------
    def _on_exchange(self, kind, payload):
        if kind == "order":
            binding, record = "OnStockOrder", self.native_order(payload)
        elif kind == "trade":
            binding, record = "OnStockTrade", self.native_trade(payload)
        else:
            return
        for client in self.live_clients():
            client.push(binding, record)


# ---- xtdata stand-in ----------------------------------------------------------------------
def get_full_tick(code_list):
    """`xtdata.get_full_tick`: {code: tick dict} with the fields of the real one."""
    import datetime

    from jq2qmt.sim.qmt_builtin import full_tick

    if _SIM.hangs("full_tick"):
        _SIM.release.wait(HANG_LIMIT)
    return full_tick(_SIM.exchange, code_list, datetime.datetime.now())


def get_instrument_detail(stock_code, iscomplete=False):
    """`xtdata.get_instrument_detail`: dict with UpStopPrice, DownStopPrice, PreClose, ...
    (None for an unknown code, as the real one)."""
    from jq2qmt.sim.qmt_builtin import instrument_detail

    return instrument_detail(_SIM.exchange, stock_code) or None


_SIM = None
_SAVED = {}
_NAMES = ("xtquant.xtpythonclient", "xtquant.xttrader", "xtquant.xtdata")


def install(sim):
    """Make `xtquant.xttrader` the real one over `sim`, `xtquant.xtdata` the stand-in."""
    global _SIM
    _SIM = sim
    load_xtquant_types()
    pkg = sys.modules["xtquant"]
    for name in _NAMES:
        _SAVED.setdefault(name, sys.modules.get(name))
    xtpythonclient.attach(sim)
    sys.modules["xtquant.xtpythonclient"] = xtpythonclient
    pkg.xtpythonclient = xtpythonclient
    trader = sys.modules.get("xtquant.xttrader")
    if trader is None or getattr(trader, "_XTQC_", None) is not xtpythonclient:
        sys.modules.pop("xtquant.xttrader", None)
        trader = importlib.import_module("xtquant.xttrader")
    pkg.xttrader = trader
    this = sys.modules[__name__]
    data_mod = types.ModuleType("xtquant.xtdata")
    data_mod.get_full_tick = this.get_full_tick
    data_mod.get_instrument_detail = this.get_instrument_detail
    sys.modules["xtquant.xtdata"] = data_mod
    pkg.xtdata = data_mod
    return sim


def uninstall():
    """Undo `install`: stop the simulated clients' threads, restore the modules."""
    global _SIM
    if _SIM is not None:
        _SIM.release.set()
        for client in _SIM.clients:
            client.stop()
            client.callbacks.clear()  # they hold the traders (xttrader binds its methods)
    _SIM = None
    xtpythonclient.attach(None)
    pkg = sys.modules.get("xtquant")
    for name, module in list(_SAVED.items()):
        short = name.split(".")[1]
        if module is None:
            sys.modules.pop(name, None)
            if pkg is not None and hasattr(pkg, short):
                delattr(pkg, short)
        else:
            sys.modules[name] = module
            if pkg is not None:
                setattr(pkg, short, module)
    _SAVED.clear()
