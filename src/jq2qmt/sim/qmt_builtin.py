"""QMT built-in strategy Python, simulated over the paper exchange.

Runs an exported strategy file exactly as a user pastes it into QMT: the file's bytes
are decoded as GBK and executed with the globals QMT provides (`passorder`,
`get_trade_detail_data`, `cancel`, `account`), then `init(ContextInfo)` is called and
the `ContextInfo.run_time` timers fire on a simulated clock. Names, arguments, object
fields and status codes follow QMT's built-in Python API documentation (交易函数,
数据结构, 枚举常量, 系统函数, 实时主推函数), summed up in docs/platforms.md.

The simulated clock is also published to the script as the global `jq2qmt_clock`
(the exported file uses it when present, the real time otherwise).

With no keyword knobs the client is friendly: orders reach the exchange at once, every
query is live, any import works. The knobs make it as hostile as the real client:

- ``visibility_delay`` (s): a new order is listed by ``get_trade_detail_data(...,
  'ORDER')`` only this long after ``passorder`` (``passorder`` returns nothing, the order
  shows up later).
- ``cache_lag`` (s, or ``{"ORDER": s, "POSITION": s, "ACCOUNT": s, "DEAL": s}``) and
  ``cache_phase`` (same shape): ``get_trade_detail_data`` reads the client's local
  cache, not the counter. Each table is a full snapshot taken every ``lag`` seconds
  (at start + phase + k * lag, each table on its own tick); 0 = live. QMT's FAQ puts
  the refresh at 50 ms to 6 s. Combines with ``visibility_delay``.
- ``report_delay`` (s): the counter reports an order this long after ``passorder``.
  Until then it is listed as 48 未报 (49 待报 in the second half) with an empty
  ``m_strOrderSysID``, and the exchange does not know it, so no cash is frozen: the
  ACCOUNT row keeps showing the cash until both the report and the next ACCOUNT
  refresh, which is how a second buy with stale cash is rejected by the counter.
- ``reject_delay`` (s): an order the exchange rejects shows 50 已报 first and 57 废单
  (``m_strCancelInfo`` = the reason) only this long after its report.
- ``cancel_delay`` (s): ``cancel`` only sends the request (it returns whether a cancel
  signal was sent: False for an empty or unknown 合同编号 and for a final order). The
  order shows 51 已报待撤 / 52 部成待撤 until the counter answers after this delay,
  then 54 / 53 (or 56 if it filled first).
- ``status_86`` (False, True = 0.5 s, or seconds): a reported order shows status 86
  for that long before 50; scripts must treat unknown statuses as open.
- ``run_mode``: ``"real"`` (实盘) or ``"simulate"`` (模拟): in 模拟 mode ``passorder``
  only logs a signal (``sim.signals``) and creates no order.
- quickTrade is enforced: a ``passorder`` with quickTrade 0 or 1 from a ``run_time``
  callback places nothing (QMT places such calls at a bar close / on the latest bar
  only; its FAQ says timer callbacks must pass 2); recorded in ``sim.ignored_orders``.
  Any prType other than 11 (指定价) and 49 (盘后定价) ignores the price argument and
  takes the price from the quote.
- Local rejects: a bad account, volume <= 0 or not whole, price <= 0 with prType 11,
  an opType other than 23/24, an orderType other than 1101 (the only one simulated)
  or a code not of the form ``NNNNNN.SH|SZ|BJ`` creates no order; the script's
  module-level ``orderError_callback(ContextInfo, orderArgs, errMsg)`` is called (once
  the current callback has returned) with a `PassOrderInfo` carrying the documented
  fields. Recorded in ``sim.order_errors`` as ``(PassOrderInfo, message)``. With
  ``require_set_account=True`` the callback, as documented, is only called after
  ``ContextInfo.set_account(account)``.
- ``rerun()``: QMT re-runs every running model at the trading-day switch and on quote
  reconnects: the file runs again in fresh globals and ``init`` is called again; the
  exchange, the counter, the caches, remarks, ``sys.modules`` and the clock stay; the
  old timers are gone. ``restart(clear_remarks=True)``: a client restart: ``_jq2qmt*``
  modules are dropped too, the caches are re-read, and with ``clear_remarks`` every
  existing order row comes back with an empty ``m_strRemark`` (the remark is visible
  only to the session that placed the order).
- ``whitelist``: None, ``"meta_path"`` or ``"import_hook"``: a module whitelist as some
  broker builds run (see `jq2qmt.sim.import_guard`; extra names: ``whitelist_extra``;
  ``whitelist_registered="own"`` lets through only the modules in ``sys.modules`` that
  the file itself registered, not those the test process imported), installed only
  while the file's own code runs (load, init, timers, callbacks).
- ``budget`` (s): QMT runs every strategy on one thread and asks for about 100 ms per
  callback. Every callback the sim calls is timed with ``time.perf_counter`` into
  ``sim.callback_times`` as ``(name, seconds)``; one that took longer than ``budget``
  raises `CallbackTooSlow` once it has returned (the one wall-clock check).
  ``init_budget`` (default: ``budget``) is the limit for ``init``, which runs once when
  the strategy starts (starting a thread there waits for the OS to schedule it).
- ``settle_timeout`` (real s, default 2.0): after each timer callback (untimed) the
  sim calls the script's ``jq2qmt_settle(settle_timeout)`` if it defines one: the real
  time between two ticks in which a background request can finish. A small value
  models a hung server.
- ``quote_age`` (s): ``get_full_tick`` stamps ``timetag`` this much in the past (a
  stale quote feed). ``detail_names``: ``"both"``, ``"new"`` (only
  ``get_instrument_detail``, the current name) or ``"old"`` (only
  ``get_instrumentdetail``, the name of older clients).
- ``run_time`` accepts only the documented units nMilliSecond, nSecond and nDay.

Determinism: counter events and cache refreshes are processed in time order as the
simulated clock advances (also between timer firings, and whenever the clock was
moved from outside); nothing but ``budget`` and ``settle_timeout`` looks at real time.
A test that moves the clock itself and then changes the exchange directly should call
``sim.sync()`` first, so that the caches' earlier ticks do not see the change.
Python 3.6 syntax: a CPython 3.6 harness drives it.
"""

import datetime
import re
import sys
import time

from jq2qmt.sim import import_guard
from jq2qmt.sim.qmt_counter import Counter, TableCache

OP_BUY, OP_SELL = 23, 24
ORDER_TYPE_SHARES = 1101
PRICE_FIX, PRICE_LATEST, PRICE_OPPONENT = 11, 5, 14
PRICE_AFTER_HOURS = 49  # 盘后定价: uses the price argument like 11
_PERIOD = re.compile(r"^(\d+)n(MilliSecond|Second|Day)$")
_PERIOD_SECONDS = {"MilliSecond": 0.001, "Second": 1, "Day": 86400}
_CODE = re.compile(r"^(\d{6})\.(SH|SZ|BJ)$")
TABLES = ("ORDER", "POSITION", "ACCOUNT", "DEAL")
RUN_MODES = ("real", "simulate")
DETAIL_NAMES = ("both", "new", "old")
_MAX_ERROR_ROUNDS = 100


class CallbackTooSlow(AssertionError):
    """A strategy callback took longer than the simulator's `budget`."""


class SimClock:
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


class PositionDetail:
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


class OrderDetail:
    """A `get_trade_detail_data(..., 'ORDER')` row."""

    def __init__(self, account_id, order, insert_time, insert_date=""):
        number, market = order["code"].split(".")
        self.m_strAccountID = account_id
        self.m_strOrderSysID = str(order["order_id"] or "")
        self.m_strInstrumentID = number
        self.m_strExchangeID = market
        self.m_strInstrumentName = number
        self.m_nOffsetFlag = 48 if order["side"] == "buy" else 49
        self.m_nDirection = 48  # always 48 for stocks, sells included
        self.m_nVolumeTotalOriginal = order["volume"]
        self.m_nVolumeTraded = order["traded_volume"]
        self.m_dLimitPrice = order["price"]
        self.m_dTradedPrice = order.get("traded_price") or 0.0
        self.m_nOrderStatus = order["status"]
        self.m_strCancelInfo = order.get("status_msg") or ""
        self.m_strRemark = order.get("remark") or ""
        self.m_strOptName = "限价买入" if order["side"] == "buy" else "限价卖出"
        self.m_strInsertDate = insert_date
        self.m_strInsertTime = insert_time


class DealDetail:
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


class AccountDetail:
    """A `get_trade_detail_data(..., 'ACCOUNT')` row."""

    def __init__(self, account_id, asset):
        self.m_strAccountID = account_id
        self.m_dAvailable = asset["cash"]
        self.m_dFrozenCash = asset.get("frozen_cash", 0.0)
        self.m_dInstrumentValue = asset["market_value"]
        self.m_dBalance = asset["total_asset"]


class PassOrderInfo:
    """The `orderArgs` handed to `orderError_callback`, with the fields QMT documents:
    the code as market + number ('SZ000001'), price and volume as `modelPrice` /
    `modelVolume` (floats) and the remark only inside `strategyName`, as
    '<strategyName>_&&&_<userOrderId>'.
    """

    def __init__(
        self,
        opType,
        orderType,
        accountid,
        orderCode,
        prType,
        price,
        volume,
        strategyName,
        userOrderId,
    ):
        match = _CODE.match(str(orderCode))
        self.accountID = str(accountid)
        self.currentTime = 0
        self.formulaName = ""
        self.modelPrice = _as_float(price)
        self.modelVolume = _as_float(volume)
        self.opType = opType
        self.orderCode = (match.group(2) + match.group(1)) if match else str(orderCode)
        self.orderType = orderType
        self.prType = prType
        self.strategyName = "%s_&&&_%s" % (strategyName, userOrderId)

    def __repr__(self):
        return "PassOrderInfo(%r)" % (self.__dict__,)


def _as_float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _tick_size(code):
    number = code.split(".")[0]
    fund_or_bond = number.startswith(("5", "15", "16", "11", "12"))
    return 0.001 if fund_or_bond else 0.01


class ContextInfo:
    """The `ContextInfo` QMT passes to `init`, `handlebar` and timer functions."""

    def __init__(self, sim):
        self._sim = sim
        self.timers = []  # [func_name, period_seconds, next_fire]
        self.barpos = 0
        self.accounts = []  # set_account calls

    def __getattribute__(self, name):
        if name in ("get_instrument_detail", "get_instrumentdetail"):
            names = object.__getattribute__(self, "_sim").detail_names
            if (names == "new" and name == "get_instrumentdetail") or (
                names == "old" and name == "get_instrument_detail"
            ):
                raise AttributeError("'ContextInfo' object has no attribute %r" % (name,))
        return object.__getattribute__(self, name)

    def run_time(self, func_name, period, start_time, market="SH"):
        match = _PERIOD.match(str(period))
        if not match:
            raise ValueError(
                "run_time period must be <n>nMilliSecond, <n>nSecond or <n>nDay: %r" % (period,)
            )
        seconds = int(match.group(1)) * _PERIOD_SECONDS[match.group(2)]
        if seconds <= 0:
            raise ValueError("run_time period must be positive: %r" % (period,))
        start = datetime.datetime.strptime(start_time, "%Y-%m-%d %H:%M:%S")
        now = self._sim.clock.now()
        if start < now:  # QMT starts a past start_time at the next period from now
            start = now + datetime.timedelta(seconds=seconds)
        self.timers.append([func_name, seconds, start])

    def set_account(self, accountid):
        self.accounts.append(str(accountid))

    def is_last_bar(self):
        return True

    def get_full_tick(self, code_list):
        sim = self._sim
        return full_tick(
            sim.exchange, code_list, sim.clock.now() - datetime.timedelta(seconds=sim.quote_age)
        )

    def get_instrument_detail(self, code, iscomplete=False):
        return instrument_detail(self._sim.exchange, code)

    def get_instrumentdetail(self, code):
        return instrument_detail(self._sim.exchange, code)


def full_tick(exchange, code_list, now):
    """QMT/xtquant full tick dicts for `code_list` from the exchange's quotes, stamped
    `now`."""
    result = {}
    for code in code_list:
        quote = exchange.quote(code)
        if not quote:
            continue
        ask = quote.get("ask1") or 0.0
        bid = quote.get("bid1") or 0.0
        result[code] = {
            "lastPrice": quote["last"],
            "lastClose": quote.get("prev_close") or 0.0,
            "open": quote["last"],
            "high": quote["last"],
            "low": quote["last"],
            "askPrice": [ask, 0.0, 0.0, 0.0, 0.0],
            "bidPrice": [bid, 0.0, 0.0, 0.0, 0.0],
            "askVol": [100 if ask else 0, 0, 0, 0, 0],
            "bidVol": [100 if bid else 0, 0, 0, 0, 0],
            "volume": 0,
            "amount": 0.0,
            "timetag": now.strftime("%Y%m%d %H:%M:%S"),
        }
    return result


def instrument_detail(exchange, code):
    """The instrument detail dict (limits, previous close, tick, suspension)."""
    quote = exchange.quote(code)
    number, _, market = code.partition(".")
    if not quote:
        return {}
    return {
        "ExchangeID": market,
        "InstrumentID": number,
        "InstrumentName": quote.get("name") or number,
        "PreClose": quote.get("prev_close") or 0.0,
        "UpStopPrice": quote.get("high_limit") or 0.0,
        "DownStopPrice": quote.get("low_limit") or 0.0,
        "PriceTick": _tick_size(code),
        "InstrumentStatus": 1 if quote.get("suspended") else 0,
    }


def quote_price(quote, side, pr_type):
    """The price QMT takes from the quote for a prType that ignores the price argument
    (the sim knows one level per side)."""
    last = quote.get("last") or 0.0
    ask = quote.get("ask1") or last
    bid = quote.get("bid1") or last
    if 0 <= pr_type <= 4:  # 卖5..卖1
        return ask
    if 6 <= pr_type <= 10:  # 买1..买5
        return bid
    if pr_type == 12:  # 涨跌停价: the far end on the other side
        return (quote.get("high_limit") if side == "buy" else quote.get("low_limit")) or last
    if pr_type == 13:  # 挂单价: own side, first level
        return bid if side == "buy" else ask
    if pr_type == PRICE_OPPONENT or 42 <= pr_type <= 48:  # 对手价 and the market orders
        return ask if side == "buy" else bid
    return last  # 5 最新价 and anything else


def _per_table(value, name):
    if isinstance(value, dict):
        unknown = set(value) - set(TABLES)
        if unknown:
            raise ValueError(
                "%s: unknown tables %s (use %s)" % (name, sorted(unknown), ", ".join(TABLES))
            )
        return dict((t, float(value.get(t, 0.0) or 0.0)) for t in TABLES)
    return dict((t, float(value or 0.0)) for t in TABLES)


class QmtBuiltinSim:
    """The QMT client around one strategy file and one stock account (see the module
    docstring for the knobs)."""

    def __init__(
        self,
        exchange,
        account_id,
        clock,
        visibility_delay=0.0,
        cache_lag=0.0,
        cache_phase=0.0,
        report_delay=0.0,
        reject_delay=0.0,
        cancel_delay=0.0,
        status_86=False,
        run_mode="real",
        whitelist=None,
        whitelist_extra=(),
        whitelist_registered="any",
        budget=None,
        settle_timeout=2.0,
        quote_age=0.0,
        detail_names="both",
        require_set_account=False,
        init_budget=None,
    ):
        if run_mode not in RUN_MODES:
            raise ValueError("run_mode must be 'real' or 'simulate': %r" % (run_mode,))
        if detail_names not in DETAIL_NAMES:
            raise ValueError("detail_names must be 'both', 'new' or 'old': %r" % (detail_names,))
        if budget is not None and budget <= 0:
            raise ValueError("budget must be None or > 0 seconds: %r" % (budget,))
        self.exchange = exchange
        self.account_id = str(account_id)
        self.clock = clock
        # seconds before a new order appears in the ORDER list (passorder is asynchronous)
        self.visibility_delay = visibility_delay
        self.run_mode = run_mode
        self.budget = budget
        self.init_budget = budget if init_budget is None else init_budget
        self.settle_timeout = settle_timeout
        self.quote_age = float(quote_age or 0.0)
        self.detail_names = detail_names
        self.require_set_account = require_set_account
        self.counter = Counter(
            exchange,
            report_delay=report_delay,
            reject_delay=reject_delay,
            cancel_delay=cancel_delay,
            status_86=status_86,
        )
        lags, phases = _per_table(cache_lag, "cache_lag"), _per_table(cache_phase, "cache_phase")
        origin = clock.now()
        self.caches = dict((t, TableCache(lags[t], origin, phases[t])) for t in TABLES)
        if whitelist is None:
            self.guard = import_guard.NoGuard()
        else:
            self.guard = import_guard.ImportGuard(
                whitelist,
                import_guard.default_whitelist(whitelist_extra),
                registered=whitelist_registered,
            )
        self.context = ContextInfo(self)
        self.namespace = None
        self.path = None
        self.passorder_calls = []
        self.signals = []  # passorder calls in 「模拟」 run mode
        self.ignored_orders = []  # {"call": (...), "reason": str}
        self.order_errors = []  # (PassOrderInfo, message)
        self.callback_times = []  # (callback name, seconds)
        self._pending_errors = []
        self._running = None  # the kind of callback running now
        self._delivering = False
        self._hidden_remarks = set()

    # ---- the counter and the caches follow the clock ----------------------------------
    def sync(self):
        """Bring the counter and the caches up to the clock's current time."""
        self._sync()

    def _sync(self, until=None):
        """Process counter events due up to `until` (default: now) in time order, with
        each cache refreshed at its ticks in between."""
        until = until or self.clock.now()
        while True:
            when = self.counter.next_event_time()
            if when is None or when > until:
                break
            self._refresh_caches(when, strict=True)
            self.counter.process_next()
        self._refresh_caches(until)

    def _refresh_caches(self, when, strict=False):
        for table in TABLES:
            self.caches[table].refresh_to(when, self._builder(table), strict=strict)

    def _builder(self, table):
        return getattr(self, "_%s_rows" % table.lower())

    def _position_rows(self, at):
        selling = {}
        for o in self.exchange.orders(open_only=True):
            if o["side"] == "sell":
                selling[o["code"]] = selling.get(o["code"], 0) + o["volume"] - o["traded_volume"]
        return [
            PositionDetail(
                self.account_id, p, self.exchange.quote(p["code"]), selling.get(p["code"], 0)
            )
            for p in self.exchange.positions()
        ]

    def _order_rows(self, at):
        rows = []
        for order in sorted(self.exchange.orders(), key=lambda o: o.get("seq", 0)):
            order_id = str(order["order_id"])
            record = self.counter.record_for(order_id)
            inserted = record.inserted if record is not None else None
            if not self._visible(inserted, at):
                continue
            shown = dict(order)
            shown["status"] = self.counter.display_status(order, record)
            if record is not None and record.reject_pending:
                shown["status_msg"] = ""
            if order_id in self._hidden_remarks:
                shown["remark"] = ""
            rows.append(self._order_detail(shown, inserted))
        for record in self.counter.unreported():
            if not self._visible(record.inserted, at):
                continue
            shown = {
                "order_id": "",
                "code": record.code,
                "side": record.side,
                "volume": record.volume,
                "traded_volume": 0,
                "price": record.price,
                "status": record.status,
                "status_msg": "",
                "remark": "" if record.key in self._hidden_remarks else record.remark,
            }
            rows.append(self._order_detail(shown, record.inserted))
        return rows

    def _order_detail(self, order, inserted):
        return OrderDetail(
            self.account_id,
            order,
            inserted.strftime("%H%M%S") if inserted else "",
            inserted.strftime("%Y%m%d") if inserted else "",
        )

    def _deal_rows(self, at):
        return [DealDetail(self.account_id, t) for t in self.exchange.trades()]

    def _account_rows(self, at):
        return [AccountDetail(self.account_id, self.exchange.asset())]

    def _visible(self, inserted, at):
        if inserted is None or not self.visibility_delay:
            return True
        return (at - inserted).total_seconds() >= self.visibility_delay

    # ---- the functions QMT puts in the strategy's globals ------------------------------
    def passorder(
        self,
        opType,
        orderType,
        accountid,
        orderCode,
        prType,
        price,
        volume,
        strategyName,
        quickTrade,
        userOrderId,
        ContextInfo,
    ):
        call = (
            opType,
            orderType,
            accountid,
            orderCode,
            prType,
            price,
            volume,
            strategyName,
            quickTrade,
            userOrderId,
        )
        self.passorder_calls.append(call)
        self._sync()
        if self.run_mode == "simulate":
            self.signals.append(call)  # 模拟: a signal in the log, no order
            return None
        error = self._local_error(opType, orderType, accountid, orderCode, prType, price, volume)
        if error:
            info = PassOrderInfo(
                opType,
                orderType,
                accountid,
                orderCode,
                prType,
                price,
                volume,
                strategyName,
                userOrderId,
            )
            message = "[函数交易]\u3000函数: passorder,\u3000%s, 无法下单!" % (error,)
            self.order_errors.append((info, message))
            self._pending_errors.append((info, message))
            if self._running is None:
                self._deliver_order_errors()
            return None
        if self._running == "timer" and quickTrade in (0, 1):
            self.ignored_orders.append(
                {
                    "call": call,
                    "reason": "quickTrade=%s from a run_time callback: QMT "
                    "places it only at a bar close / on the latest bar; timers must pass 2"
                    % (quickTrade,),
                }
            )
            return None
        side = "buy" if opType == OP_BUY else "sell"
        if prType not in (PRICE_FIX, PRICE_AFTER_HOURS):
            price = quote_price(self.exchange.quote(orderCode) or {}, side, prType)
        now = self.clock.now()
        self.counter.submit(orderCode, side, int(volume), float(price), str(userOrderId or ""), now)
        return None

    def _local_error(self, opType, orderType, accountid, orderCode, prType, price, volume):
        match = _CODE.match(str(orderCode))
        shown = (match.group(2) + match.group(1)) if match else str(orderCode)
        if str(accountid) != self.account_id:
            return "资金账号 [%s] 无效" % (accountid,)
        if not match:
            return "证券 [%s] 代码格式无效" % (shown,)
        if opType not in (OP_BUY, OP_SELL):
            return "证券 [%s] 操作类型 %s 无效" % (shown, opType)
        if orderType != ORDER_TYPE_SHARES:
            return "证券 [%s] 下单方式 %s 无效" % (shown, orderType)
        if not _is_number(volume) or volume <= 0 or volume != int(volume):
            return "证券 [%s] 下单数量 %s 无效" % (shown, volume)
        if prType == PRICE_FIX and (not _is_number(price) or price <= 0):
            return "证券 [%s] 指定价 无效" % (shown,)
        return None

    def get_trade_detail_data(self, accountid, strategy_type, datatype, strategyName=None):
        if str(accountid) != self.account_id or str(strategy_type).upper() != "STOCK":
            return []
        kind = str(datatype).upper()
        if kind not in TABLES:
            return []
        self._sync()
        now = self.clock.now()
        return self.caches[kind].rows(self._builder(kind), now)

    def cancel(self, orderSysID, accountid, strategy_type, ContextInfo):
        if str(accountid) != self.account_id or self.run_mode == "simulate":
            return False
        self._sync()
        return self.counter.cancel(orderSysID, self.clock.now())

    # ---- running a strategy file ----------------------------------------------------------
    def globals(self):
        return {
            "__name__": "__main__",
            "passorder": self.passorder,
            "get_trade_detail_data": self.get_trade_detail_data,
            "cancel": self.cancel,
            "account": self.account_id,
            "accountType": "STOCK",
            "jq2qmt_clock": self.clock.now,
        }

    def _call(self, name, kind, func, *args):
        """Run one strategy callback: import guard on, timed, order errors delivered
        after it returned, then the budget check."""
        outer = self._running
        self._running = kind
        try:
            with self.guard:
                start = time.perf_counter()
                result = func(*args)
                elapsed = time.perf_counter() - start
        finally:
            self._running = outer
        self.callback_times.append((name, elapsed))
        if outer is None:
            self._deliver_order_errors()
        self._check_budget(name, elapsed)
        return result

    def _check_budget(self, name, elapsed):
        budget = self.init_budget if name == "init" else self.budget
        if budget is not None and elapsed > budget:
            raise CallbackTooSlow(
                "callback %s took %.3f s, over the %.3f s budget of QMT's "
                "single strategy thread" % (name, elapsed, budget)
            )

    def _deliver_order_errors(self):
        if self._delivering:
            return  # the loop below picks up errors raised by orderError_callback itself
        self._delivering = True
        try:
            rounds = 0
            while self._pending_errors and rounds < _MAX_ERROR_ROUNDS:
                rounds += 1
                info, message = self._pending_errors.pop(0)
                func = (self.namespace or {}).get("orderError_callback")
                if func is None or (
                    self.require_set_account and self.account_id not in self.context.accounts
                ):
                    continue
                self._call(
                    "orderError_callback", "orderError_callback", func, self.context, info, message
                )
        finally:
            self._delivering = False
            del self._pending_errors[:]

    def _exec_file(self, path):
        with open(str(path), "rb") as handle:
            source = handle.read().decode("gbk")
        self.path = path
        self.namespace = self.globals()
        with self.guard:
            exec(compile(source, str(path), "exec"), self.namespace)
        self._call("init", "init", self.namespace["init"], self.context)
        return self.namespace

    def load(self, path):
        """Execute the file as QMT does (bytes decoded as GBK), then call `init`."""
        self._sync()
        return self._exec_file(path)

    def rerun(self):
        """QMT re-runs the model (trading-day switch, quote reconnect): the same file in
        fresh globals, `init` again; old timers are dropped, everything else stays."""
        if self.path is None:
            raise RuntimeError("rerun() needs a file loaded with load()")
        self._sync()
        self.context = ContextInfo(self)
        return self._exec_file(self.path)

    def restart(self, clear_remarks=True):
        """The QMT client restarts: `_jq2qmt*` modules and timers are dropped, the caches
        are read again, and with `clear_remarks` existing orders lose their remark."""
        if self.path is None:
            raise RuntimeError("restart() needs a file loaded with load()")
        self._sync()
        for name in [n for n in sys.modules if n.startswith("_jq2qmt")]:
            del sys.modules[name]
        if clear_remarks:
            self._hidden_remarks.update(str(o["order_id"]) for o in self.exchange.orders())
            self._hidden_remarks.update(r.key for r in self.counter.unreported())
        now = self.clock.now()
        for table in TABLES:
            self.caches[table].force(now, self._builder(table))
        self.context = ContextInfo(self)
        return self._exec_file(self.path)

    def handlebar(self):
        self._sync()
        func = self.namespace.get("handlebar")
        self.context.barpos += 1
        if func is not None:
            self._call("handlebar", "handlebar", func, self.context)

    def _fire_timer(self, name):
        self._call(name, "timer", self.namespace[name], self.context)
        settle = self.namespace.get("jq2qmt_settle")
        if settle is not None:
            with self.guard:
                settle(self.settle_timeout)

    def run_for(self, seconds, match=True):
        """Advance the clock by `seconds`, firing due timers and processing counter
        events and cache refreshes in time order."""
        end = self.clock.now() + datetime.timedelta(seconds=seconds)
        while True:
            due = [t for t in self.context.timers if t[2] <= end]
            if not due:
                break
            timer = min(due, key=lambda t: t[2])
            fire_at = max(self.clock.now(), timer[2])
            self._advance(fire_at)
            timer[2] = timer[2] + datetime.timedelta(seconds=timer[1])
            if match:
                self.exchange.match()
            self._fire_timer(timer[0])
        self._advance(end)

    def _advance(self, until):
        while True:
            when = self.counter.next_event_time()
            if when is None or when > until:
                break
            if when > self.clock.now():
                self.clock.set(when)
            self._sync(when)
        if until > self.clock.now():
            self.clock.set(until)
        self._sync(until)
