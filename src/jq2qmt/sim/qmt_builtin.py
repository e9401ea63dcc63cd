"""QMT built-in strategy Python, simulated over the paper exchange.

Runs an exported strategy file exactly as a user pastes it into QMT: the file's bytes
are decoded as GBK and executed with the globals QMT provides (`passorder`,
`get_trade_detail_data`, `cancel`, `account`), then `init(ContextInfo)` is called and
the `ContextInfo.run_time` timers fire on a simulated clock. Names, arguments, object
fields and status codes follow platform_reference.md section 1.

The simulated clock is also published to the script as the global `jq2qmt_clock`
(the exported file uses it when present, the real time otherwise).
"""

import datetime
import re

OP_BUY, OP_SELL = 23, 24
PRICE_FIX, PRICE_LATEST, PRICE_OPPONENT = 11, 5, 14
_PERIOD = re.compile(r"^(\d+)n(MilliSecond|Second|Minute|Hour|Day)$")
_PERIOD_SECONDS = {"MilliSecond": 0.001, "Second": 1, "Minute": 60, "Hour": 3600,
                   "Day": 86400}


class SimClock(object):
    """A settable clock: `now()` returns naive exchange time."""

    def __init__(self, start):
        self._now = start

    def now(self):
        return self._now

    def set(self, when):
        self._now = when

    def advance(self, seconds):
        self._now += datetime.timedelta(seconds=seconds)
        return self._now


class PositionDetail(object):
    """A `get_trade_detail_data(..., 'POSITION')` row."""

    def __init__(self, account_id, pos, quote, frozen=0):
        number, market = pos["code"].split(".")
        last = (quote or {}).get("last") or pos.get("avg_cost") or 0.0
        self.m_strAccountID = account_id
        self.m_strInstrumentID = number
        self.m_strExchangeID = market
        self.m_strInstrumentName = pos.get("name") or number
        self.m_nVolume = pos["volume"]
        self.m_nCanUseVolume = pos["can_use_volume"]
        self.m_nFrozenVolume = frozen  # held by open sell orders
        self.m_dOpenPrice = pos.get("avg_cost", 0.0)
        self.m_dMarketValue = round(last * pos["volume"], 2)


class OrderDetail(object):
    """A `get_trade_detail_data(..., 'ORDER')` row."""

    def __init__(self, account_id, order, insert_time):
        number, market = order["code"].split(".")
        self.m_strAccountID = account_id
        self.m_strOrderSysID = str(order["order_id"])
        self.m_strInstrumentID = number
        self.m_strExchangeID = market
        self.m_strInstrumentName = number
        self.m_nOffsetFlag = 48 if order["side"] == "buy" else 49
        self.m_nVolumeTotalOriginal = order["volume"]
        self.m_nVolumeTraded = order["traded_volume"]
        self.m_dLimitPrice = order["price"]
        self.m_dTradedPrice = order.get("traded_price") or 0.0
        self.m_nOrderStatus = order["status"]
        self.m_strCancelInfo = order.get("status_msg") or ""
        self.m_strRemark = order.get("remark") or ""
        self.m_strOptName = "限价买入" if order["side"] == "buy" else "限价卖出"
        self.m_strInsertTime = insert_time


class DealDetail(object):
    """A `get_trade_detail_data(..., 'DEAL')` row."""

    def __init__(self, account_id, trade):
        number, market = trade["code"].split(".")
        self.m_strAccountID = account_id
        self.m_strTradeID = str(trade["trade_id"])
        self.m_strOrderSysID = str(trade["order_id"])
        self.m_strInstrumentID = number
        self.m_strExchangeID = market
        self.m_nOffsetFlag = 48 if trade["side"] == "buy" else 49
        self.m_nVolume = trade["volume"]
        self.m_dPrice = trade["price"]
        self.m_dTradeAmount = trade["amount"]
        self.m_dComssion = trade.get("fees", 0.0)


class AccountDetail(object):
    """A `get_trade_detail_data(..., 'ACCOUNT')` row."""

    def __init__(self, account_id, asset):
        self.m_strAccountID = account_id
        self.m_dAvailable = asset["cash"]
        self.m_dFrozenCash = asset.get("frozen_cash", 0.0)
        self.m_dInstrumentValue = asset["market_value"]
        self.m_dBalance = asset["total_asset"]


def _tick_size(code):
    number = code.split(".")[0]
    fund_or_bond = number.startswith(("5", "15", "16", "11", "12"))
    return 0.001 if fund_or_bond else 0.01


class ContextInfo(object):
    """The `ContextInfo` QMT passes to `init`, `handlebar` and timer functions."""

    def __init__(self, sim):
        self._sim = sim
        self.timers = []  # [func_name, period_seconds, next_fire]
        self.barpos = 0

    def run_time(self, func_name, period, start_time):
        match = _PERIOD.match(str(period))
        if not match:
            raise ValueError("run_time period must look like '1nSecond': %r" % (period,))
        seconds = int(match.group(1)) * _PERIOD_SECONDS[match.group(2)]
        start = datetime.datetime.strptime(start_time, "%Y-%m-%d %H:%M:%S")
        now = self._sim.clock.now()
        if start < now:  # QMT starts a past start_time at the next period from now
            start = now + datetime.timedelta(seconds=seconds)
        self.timers.append([func_name, seconds, start])

    def get_full_tick(self, code_list):
        return full_tick(self._sim.exchange, code_list, self._sim.clock.now())

    def get_instrumentdetail(self, code):
        return instrument_detail(self._sim.exchange, code)


def full_tick(exchange, code_list, now):
    """QMT/xtquant full tick dicts for `code_list` from the exchange's quotes."""
    result = {}
    for code in code_list:
        quote = exchange.quote(code)
        if not quote:
            continue
        ask = quote.get("ask1") or 0.0
        bid = quote.get("bid1") or 0.0
        result[code] = {
            "lastPrice": quote["last"], "lastClose": quote.get("prev_close") or 0.0,
            "open": quote["last"], "high": quote["last"], "low": quote["last"],
            "askPrice": [ask, 0.0, 0.0, 0.0, 0.0], "bidPrice": [bid, 0.0, 0.0, 0.0, 0.0],
            "askVol": [100 if ask else 0, 0, 0, 0, 0],
            "bidVol": [100 if bid else 0, 0, 0, 0, 0],
            "volume": 0, "amount": 0.0, "timetag": now.strftime("%Y%m%d %H:%M:%S"),
        }
    return result


def instrument_detail(exchange, code):
    """The instrument detail dict (limits, previous close, tick, suspension)."""
    quote = exchange.quote(code)
    number, _, market = code.partition(".")
    if not quote:
        return {}
    return {"ExchangeID": market, "InstrumentID": number,
            "InstrumentName": quote.get("name") or number,
            "PreClose": quote.get("prev_close") or 0.0,
            "UpStopPrice": quote.get("high_limit") or 0.0,
            "DownStopPrice": quote.get("low_limit") or 0.0,
            "PriceTick": _tick_size(code),
            "InstrumentStatus": 1 if quote.get("suspended") else 0}


class QmtBuiltinSim(object):
    """The QMT client around one strategy file and one stock account."""

    def __init__(self, exchange, account_id, clock, visibility_delay=0.0):
        self.exchange = exchange
        self.account_id = str(account_id)
        self.clock = clock
        # seconds before a new order appears in the ORDER list (passorder is asynchronous)
        self.visibility_delay = visibility_delay
        self.context = ContextInfo(self)
        self.namespace = None
        self.passorder_calls = []
        self._insert_times = {}

    # ---- the functions QMT puts in the strategy's globals ------------------------------
    def passorder(self, opType, orderType, accountid, orderCode, prType, price, volume,
                  strategyName, quickTrade, userOrderId, ContextInfo):
        self.passorder_calls.append((opType, orderType, accountid, orderCode, prType, price,
                                     volume, strategyName, quickTrade, userOrderId))
        if str(accountid) != self.account_id or orderType != 1101 or \
                opType not in (OP_BUY, OP_SELL):
            return None  # QMT ignores such calls (an error line in its log)
        side = "buy" if opType == OP_BUY else "sell"
        quote = self.exchange.quote(orderCode) or {}
        if prType == PRICE_LATEST:
            price = quote.get("last") or 0.0
        elif prType == PRICE_OPPONENT:
            price = (quote.get("ask1") if side == "buy" else quote.get("bid1")) or \
                quote.get("last") or 0.0
        order = self.exchange.place_order(orderCode, side, int(volume), float(price),
                                          remark=str(userOrderId or ""))
        self._insert_times[str(order["order_id"])] = self.clock.now()
        return None

    def get_trade_detail_data(self, accountid, strategy_type, datatype, strategyName=None):
        if str(accountid) != self.account_id or str(strategy_type).upper() != "STOCK":
            return []
        kind = str(datatype).upper()
        if kind == "POSITION":
            selling = {}
            for o in self.exchange.orders(open_only=True):
                if o["side"] == "sell":
                    selling[o["code"]] = selling.get(o["code"], 0) + o["volume"] - o["traded_volume"]
            return [PositionDetail(self.account_id, p, self.exchange.quote(p["code"]),
                                   selling.get(p["code"], 0))
                    for p in self.exchange.positions()]
        if kind == "ORDER":
            return [OrderDetail(self.account_id, o, self._insert_time(o))
                    for o in sorted(self.exchange.orders(), key=lambda o: o.get("seq", 0))
                    if self._visible(o)]
        if kind == "DEAL":
            return [DealDetail(self.account_id, t) for t in self.exchange.trades()]
        if kind == "ACCOUNT":
            return [AccountDetail(self.account_id, self.exchange.asset())]
        return []

    def cancel(self, orderSysID, accountid, strategy_type, ContextInfo):
        if str(accountid) != self.account_id:
            return False
        return bool(self.exchange.cancel_order(str(orderSysID)))

    def _insert_time(self, order):
        when = self._insert_times.get(str(order["order_id"]))
        return when.strftime("%H%M%S") if when else ""

    def _visible(self, order):
        when = self._insert_times.get(str(order["order_id"]))
        if when is None or not self.visibility_delay:
            return True
        return (self.clock.now() - when).total_seconds() >= self.visibility_delay

    # ---- running a strategy file ----------------------------------------------------------
    def globals(self):
        return {"__name__": "__main__", "passorder": self.passorder,
                "get_trade_detail_data": self.get_trade_detail_data, "cancel": self.cancel,
                "account": self.account_id, "accountType": "STOCK",
                "jq2qmt_clock": self.clock.now}

    def load(self, path):
        """Execute the file as QMT does (bytes decoded as GBK), then call `init`."""
        source = open(str(path), "rb").read().decode("gbk")
        self.namespace = self.globals()
        exec(compile(source, str(path), "exec"), self.namespace)
        self.namespace["init"](self.context)
        return self.namespace

    def handlebar(self):
        func = self.namespace.get("handlebar")
        self.context.barpos += 1
        if func is not None:
            func(self.context)

    def run_for(self, seconds, match=True):
        """Advance the clock by `seconds`, firing due timers in time order."""
        end = self.clock.now() + datetime.timedelta(seconds=seconds)
        while True:
            due = [t for t in self.context.timers if t[2] <= end]
            if not due:
                break
            timer = min(due, key=lambda t: t[2])
            self.clock.set(max(self.clock.now(), timer[2]))
            timer[2] = timer[2] + datetime.timedelta(seconds=timer[1])
            if match:
                self.exchange.match()
            self.namespace[timer[0]](self.context)
        self.clock.set(end)
