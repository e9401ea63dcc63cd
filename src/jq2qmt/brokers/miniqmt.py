"""Broker adapter for miniQMT: `xtquant.xttrader.XtQuantTrader` and `xtquant.xtdata`.

xtquant ships Windows binaries only, so it is imported when the adapter connects,
never at module import: this module imports anywhere. Names, arguments, fields and
return codes as in platform_reference.md section 2.
"""

import time

from . import base

STOCK_BUY = 23
STOCK_SELL = 24
FIX_PRICE = 11


class _Callback(object):
    """Collects what the trader pushes; the loop reads the account by query anyway."""

    def __init__(self, log):
        self.log = log
        self.connected = True
        self.order_errors = []

    def on_disconnected(self):
        self.connected = False
        self.log("miniQMT 连接断开 / disconnected")

    def on_order_error(self, order_error):
        self.order_errors.append(order_error)
        self.log("委托失败 / order error %s: %s %s" % (
            order_error.order_id, order_error.error_id, order_error.error_msg))

    def on_cancel_error(self, cancel_error):
        self.log("撤单失败 / cancel error %s: %s" % (cancel_error.order_id, cancel_error.error_msg))

    def on_stock_order(self, order):
        pass

    def on_stock_trade(self, trade):
        pass

    def on_stock_asset(self, asset):
        pass

    def on_stock_position(self, position):
        pass

    def on_account_status(self, status):
        pass

    def on_order_stock_async_response(self, response):
        pass

    def on_cancel_order_stock_async_response(self, response):
        pass

    def on_connected(self):
        self.connected = True


class MiniQmtBroker(object):
    kind = "miniqmt"

    def __init__(self, qmt_path, account_id, session_id=None, log=None):
        self.qmt_path = str(qmt_path)
        self.account_id = str(account_id)
        self.session_id = int(session_id) if session_id is not None else int(time.time()) % 100000
        self.log = log or (lambda message: None)
        self.trader = None
        self.account = None
        self.xtdata = None
        self.callback = _Callback(self.log)
        self.connected_once = False

    def connect(self):
        """Start the trader, connect to the miniQMT client and subscribe the account."""
        from xtquant import xtdata
        from xtquant.xttrader import XtQuantTrader
        from xtquant.xttype import StockAccount

        self.xtdata = xtdata
        self.trader = XtQuantTrader(self.qmt_path, self.session_id)
        self.trader.register_callback(self.callback)
        self.trader.start()
        result = self.trader.connect()
        if result != 0:
            self.close()
            raise base.BrokerError("连接 miniQMT 失败（%s），请确认 miniQMT 已登录并勾选极简模式 / "
                                   "connect failed: %s" % (result, result))
        self.account = StockAccount(self.account_id)
        result = self.trader.subscribe(self.account)
        if result != 0:
            self.close()
            raise base.BrokerError("订阅资金账号 %s 失败 / subscribe failed: %s"
                                   % (self.account_id, result))
        self.callback.connected = True
        self.connected_once = True
        return self

    def close(self):
        trader, self.trader = self.trader, None
        if trader is not None:
            trader.stop()

    def _ready(self):
        """The connected trader; after a disconnect, one reconnect attempt per call."""
        if self.trader is None and not self.connected_once:
            raise base.BrokerError("miniQMT 未连接 / not connected")
        if self.trader is None or not self.callback.connected:
            self.log("重新连接 miniQMT / reconnecting")
            self.close()
            self.session_id += 1  # a fresh session, as xtquant expects after a drop
            self.callback = _Callback(self.log)
            self.connect()
        return self.trader

    def positions(self):
        rows = self._ready().query_stock_positions(self.account) or []
        return [{"code": p.stock_code, "volume": int(p.volume),
                 "can_use_volume": int(p.can_use_volume),
                 "avg_cost": float(getattr(p, "avg_price", 0) or getattr(p, "open_price", 0) or 0),
                 "name": getattr(p, "instrument_name", "") or ""}
                for p in rows if int(p.volume) > 0]

    def asset(self):
        asset = self._ready().query_stock_asset(self.account)
        if asset is None:
            raise base.BrokerError("查询资产失败 / query_stock_asset returned nothing")
        return {"cash": float(asset.cash), "frozen_cash": float(asset.frozen_cash),
                "market_value": float(asset.market_value),
                "total_asset": float(asset.total_asset)}

    def orders(self):
        rows = self._ready().query_stock_orders(self.account, False) or []
        result = []
        for o in sorted(rows, key=lambda o: (o.order_time, o.order_id)):
            status = int(o.order_status)
            result.append({
                "order_id": str(o.order_id), "code": o.stock_code,
                "side": base.SELL if int(o.order_type) == STOCK_SELL else base.BUY,
                "volume": int(o.order_volume), "traded_volume": int(o.traded_volume),
                "price": float(o.price), "status": status,
                "status_msg": o.status_msg or base.status_name(status),
                "remark": o.order_remark or ""})
        return result

    def quotes(self, codes):
        codes = list(codes)
        if not codes:
            return {}
        self._ready()
        ticks = self.xtdata.get_full_tick(codes) or {}
        result = {}
        for code in codes:
            quote = base.quote_from_tick(ticks.get(code), self.xtdata.get_instrument_detail(code))
            if quote is not None:
                result[code] = quote
        return result

    def place(self, code, side, volume, price, remark):
        order_type = STOCK_BUY if side == base.BUY else STOCK_SELL
        order_id = self._ready().order_stock(self.account, code, order_type, int(volume),
                                             FIX_PRICE, float(price), "jq2qmt", remark)
        if order_id is None or int(order_id) < 0:
            raise base.BrokerError("下单失败 / order_stock returned %s" % (order_id,))
        return str(order_id)

    def cancel(self, order_id):
        return self._ready().cancel_order_stock(self.account, int(order_id)) == 0
