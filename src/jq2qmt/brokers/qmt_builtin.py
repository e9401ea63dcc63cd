"""Broker adapter for QMT's built-in strategy Python (the exported, pasted file).

QMT injects `passorder`, `get_trade_detail_data` and `cancel` into the strategy's
globals and hands `ContextInfo` to every callback; the exported file passes them in,
because bundled modules do not see the strategy's globals. Names, arguments, fields
and codes as in docs/platforms.md ("QMT built-in").

Bundled into the exported QMT file: Python 3.6, stdlib only.
"""

from . import base

OP_BUY = 23
OP_SELL = 24
ORDER_TYPE_STOCK = 1101  # single stock, single account, volume in shares
PRICE_FIX = 11
QUICK_TRADE = 2  # send at once, not at the next bar
OFFSET_BUY = 48
OFFSET_SELL = 49


class BuiltinBroker(object):
    kind = "builtin"
    # get_trade_detail_data reads a local cache the counter refreshes every 50 ms to 6 s
    # per table (docs/platforms.md): cash and holdings may lag this long behind orders.
    account_lag = 10.0

    def __init__(
        self, context, account_id, passorder, get_trade_detail_data, cancel, strategy_name="jq2qmt"
    ):
        self.context = context
        self.account_id = str(account_id)
        self._passorder = passorder
        self._query = get_trade_detail_data
        self._cancel = cancel
        self.strategy_name = strategy_name
        self._samples = {}  # datatype -> one row seen, for fields()

    def _rows(self, datatype):
        rows = list(self._query(self.account_id, "STOCK", datatype) or [])
        if rows:
            self._samples[datatype] = rows[0]
        return rows

    def fields(self):
        """The QMT fields (``m_*`` attributes) present on the rows read so far, per
        table: a preflight shows which ones a broker build has."""
        return dict(
            (datatype, sorted(n for n in dir(row) if n.startswith("m_")))
            for datatype, row in self._samples.items()
        )

    def _detail(self, code):
        # get_instrument_detail is the current name; old clients only have
        # get_instrumentdetail (QMT's built-in API documentation).
        getter = getattr(self.context, "get_instrument_detail", None) or getattr(
            self.context, "get_instrumentdetail", None
        )
        return getter(code) if getter is not None else {}

    def positions(self):
        result = []
        for obj in self._rows("POSITION"):
            volume = int(getattr(obj, "m_nVolume", 0) or 0)
            if volume <= 0:
                continue
            result.append(
                {
                    "code": base.join_code(obj.m_strInstrumentID, obj.m_strExchangeID),
                    "volume": volume,
                    "can_use_volume": int(getattr(obj, "m_nCanUseVolume", 0) or 0),
                    "avg_cost": float(getattr(obj, "m_dOpenPrice", 0) or 0),
                    "name": getattr(obj, "m_strInstrumentName", "") or "",
                }
            )
        return result

    def asset(self):
        rows = self._rows("ACCOUNT")
        if not rows:
            raise base.BrokerError("查询不到资金账号 %s / no account data" % self.account_id)
        obj = rows[0]
        cash = float(getattr(obj, "m_dAvailable", 0) or 0)
        market_value = float(getattr(obj, "m_dInstrumentValue", 0) or 0)
        total = float(getattr(obj, "m_dBalance", 0) or 0) or cash + market_value
        return {
            "cash": cash,
            "frozen_cash": float(getattr(obj, "m_dFrozenCash", 0) or 0),
            "market_value": market_value,
            "total_asset": total,
        }

    def orders(self):
        result = []
        for obj in self._rows("ORDER"):
            flag = int(getattr(obj, "m_nOffsetFlag", 0) or 0)
            status = int(getattr(obj, "m_nOrderStatus", base.ORDER_UNKNOWN))
            result.append(
                {
                    "order_id": str(getattr(obj, "m_strOrderSysID", "") or "") or None,
                    "code": base.join_code(obj.m_strInstrumentID, obj.m_strExchangeID),
                    "side": base.SELL if flag == OFFSET_SELL else base.BUY,
                    "volume": int(getattr(obj, "m_nVolumeTotalOriginal", 0) or 0),
                    "traded_volume": int(getattr(obj, "m_nVolumeTraded", 0) or 0),
                    "price": float(getattr(obj, "m_dLimitPrice", 0) or 0),
                    "status": status,
                    "status_msg": str(
                        getattr(obj, "m_strCancelInfo", "") or base.status_name(status)
                    ),
                    "remark": str(getattr(obj, "m_strRemark", "") or ""),
                }
            )
        return result

    def trades(self):
        """Today's fills from the DEAL table (a lagging cache, like the others)."""
        result = []
        for obj in self._rows("DEAL"):
            flag = int(getattr(obj, "m_nOffsetFlag", 0) or 0)
            result.append(
                {
                    "trade_id": str(getattr(obj, "m_strTradeID", "") or ""),
                    "order_id": str(getattr(obj, "m_strOrderSysID", "") or "") or None,
                    "code": base.join_code(obj.m_strInstrumentID, obj.m_strExchangeID),
                    "side": base.SELL if flag == OFFSET_SELL else base.BUY,
                    "volume": int(getattr(obj, "m_nVolume", 0) or 0),
                    "price": float(getattr(obj, "m_dPrice", 0) or 0),
                    "time": base.trade_time(
                        getattr(obj, "m_strTradeDate", None), getattr(obj, "m_strTradeTime", None)
                    ),
                    "remark": str(getattr(obj, "m_strRemark", "") or ""),
                }
            )
        return [t for t in result if t["trade_id"]]

    def quotes(self, codes):
        codes = list(codes)
        if not codes:
            return {}
        ticks = self.context.get_full_tick(codes) or {}
        result = {}
        for code in codes:
            detail = self._detail(code)
            quote = base.quote_from_tick(ticks.get(code), detail)
            if quote is not None:
                result[code] = quote
        return result

    def place(self, code, side, volume, price, remark):
        op = OP_BUY if side == base.BUY else OP_SELL
        try:
            self._passorder(
                op,
                ORDER_TYPE_STOCK,
                self.account_id,
                code,
                PRICE_FIX,
                float(price),
                int(volume),
                self.strategy_name,
                QUICK_TRADE,
                remark,
                self.context,
            )
        except Exception as exc:  # QMT raises plain exceptions for bad arguments
            raise base.BrokerError("passorder 失败 / failed: %s" % (exc,))
        # passorder returns nothing; the order shows up in the ORDER list under `remark`.
        return None

    def cancel(self, order_id):
        if not order_id:
            return False
        return bool(self._cancel(str(order_id), self.account_id, "STOCK", self.context))
