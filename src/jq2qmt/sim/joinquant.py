"""A JoinQuant (聚宽) stand-in: runs a strategy file and the exported uploader in tests.

It reproduces the parts of the JoinQuant strategy environment that the uploader and
the example strategy touch, with JoinQuant's own names: ``context`` (``portfolio``,
``subportfolios``, ``run_params.type``, ``current_dt``), positions with
``security / total_amount / locked_amount / closeable_amount / today_amount /
avg_cost / acc_avg_cost / price / value``, ``g``, ``log``, ``run_daily`` / ``run_weekly``, ``order`` / ``order_target`` /
``order_value`` / ``order_target_value`` (market or ``LimitOrderStyle``),
``get_open_orders``, ``cancel_order``, ``get_security_info(code).display_name``,
``get_current_data``, and the research-file module ``kuanke.user_space_api`` with
``read_file`` / ``write_file`` (bytes, relative to the research root).

A strategy file is executed with these globals injected, exactly as JoinQuant does;
modules the strategy imports from the research root get the same API through
``from kuanke.user_space_api import *`` or ``from jqdata import *``.

Position amounts follow JoinQuant's documentation: an open sell order moves its shares
out of ``total_amount`` and ``closeable_amount`` into ``locked_amount`` (``total_amount``
"不包括挂单冻结仓位"; the shares held are ``total_amount + locked_amount``); a fill
removes them from ``locked_amount``, a cancel puts them back. ``closeable_amount`` is
what can still be sold (bought today: not sellable, T+1).

Simplifications (documented, deliberate): one price per code per day; market orders
fill immediately at that price; a limit order fills when the day's price reaches it,
otherwise it stays open until the close, when open orders are cancelled; buys are
rounded down to 100 shares; fees are commission (both sides, with a minimum) plus
stamp tax on sells. Each simulated day starts like a JoinQuant simulated-trading
process restart: ``g`` is pickled and restored and ``process_initialize`` runs again.
"""

import contextlib
import datetime as dt
import hashlib
import itertools
import pickle
import sys
import types
from pathlib import Path

SIM_TRADE = "sim_trade"
LOT = 100

# JoinQuant's named times for run_daily / run_weekly / run_monthly.
_NAMED_TIMES = {
    "morning": "08:00",
    "before_open": "09:00",
    "open": "09:30",
    "every_bar": "09:30",
    "close": "15:00",
    "after_close": "15:30",
    "night": "20:00",
}
_MARKET_CLOSE = dt.time(15, 0)

_DISPLAY_NAMES = {
    "600000.XSHG": "浦发银行",
    "600036.XSHG": "招商银行",
    "600519.XSHG": "贵州茅台",
    "601318.XSHG": "中国平安",
    "000001.XSHE": "平安银行",
    "000333.XSHE": "美的集团",
    "000858.XSHE": "五粮液",
    "300750.XSHE": "宁德时代",
    "510300.XSHG": "沪深300ETF",
}


class SimError(Exception):
    """Misuse of the simulator itself (not a JoinQuant-side failure)."""


# ---------------------------------------------------------------- logging


class Log:
    """JoinQuant's ``log``: info/warn/error/debug; keeps every line for tests."""

    def __init__(self, clock):
        self._clock = clock
        self.records = []

    def _emit(self, level, msg, args):
        text = str(msg)
        if args:
            try:
                text = text % args
            except (TypeError, ValueError):
                text = " ".join([text] + [str(a) for a in args])
        self.records.append((level, text))
        print("%s - %s - %s" % (self._clock(), level.upper(), text))

    def debug(self, msg, *args):
        self._emit("debug", msg, args)

    def info(self, msg, *args):
        self._emit("info", msg, args)

    def warn(self, msg, *args):
        self._emit("warning", msg, args)

    warning = warn

    def error(self, msg, *args):
        self._emit("error", msg, args)

    def set_level(self, *args, **kwargs):
        pass

    def messages(self, level=None):
        return [text for lvl, text in self.records if level is None or lvl == level]


class GlobalVars:
    """JoinQuant's ``g``: a plain attribute bag that survives restarts by pickling."""

    def __getstate__(self):
        # JoinQuant does not persist attributes whose names start with "__".
        return {k: v for k, v in self.__dict__.items() if not k.startswith("__")}

    def __setstate__(self, state):
        self.__dict__.update(state)


# ---------------------------------------------------------------- objects


class RunParams:
    def __init__(self, run_type, start_date):
        self.type = run_type
        self.start_date = start_date
        self.end_date = None
        self.frequency = "day"


class SecurityInfo:
    def __init__(self, code, display_name):
        self.code = code
        self.display_name = display_name
        self.name = code.split(".")[0]
        self.type = "etf" if display_name.endswith("ETF") else "stock"
        self.start_date = dt.date(2000, 1, 1)
        self.end_date = dt.date(2200, 1, 1)


class CurrentData:
    def __init__(self, code, price, paused, name):
        self.security = code
        self.last_price = price
        self.day_open = price
        self.paused = paused
        self.high_limit = round(price * 1.1, 2)
        self.low_limit = round(price * 0.9, 2)
        self.name = name
        self.is_st = "ST" in (name or "")


class Position:
    """A long stock position, JoinQuant attribute names and meanings.

    ``total_amount`` excludes ``locked_amount`` (shares frozen by open sell orders);
    ``holding`` (not a JoinQuant name) is their sum, the shares actually held.
    ``value`` is ``price * total_amount`` as JoinQuant documents it.
    """

    def __init__(self, security, sim):
        self.security = security
        self._sim = sim
        self.total_amount = 0
        self.closeable_amount = 0
        self.locked_amount = 0
        self.today_amount = 0
        self.avg_cost = 0.0
        self.acc_avg_cost = 0.0
        self.hold_cost = 0.0
        self.side = "long"
        self.init_time = None
        self.transact_time = None

    @property
    def price(self):
        return self._sim.price(self.security)

    @property
    def value(self):
        return self.total_amount * self.price

    @property
    def holding(self):
        return self.total_amount + self.locked_amount

    def __repr__(self):
        return (
            "UserPosition(%s, total_amount=%d, locked_amount=%d, closeable_amount=%d, "
            "avg_cost=%.4f)"
            % (
                self.security,
                self.total_amount,
                self.locked_amount,
                self.closeable_amount,
                self.avg_cost,
            )
        )


class Positions(dict):
    """``portfolio.positions``: reading a code not held creates an empty position.

    JoinQuant behaves like this, which is why strategies filter on total_amount > 0.
    A position stays listed while any of it is held, locked shares included.
    """

    def __init__(self, sim):
        dict.__init__(self)
        self._sim = sim

    def __missing__(self, code):
        pos = Position(code, self._sim)
        self[code] = pos
        return pos


class SubPortfolioConfig:
    def __init__(self, cash, type="stock"):
        self.cash = float(cash)
        self.type = type


class SubPortfolio:
    def __init__(self, sim, index, cash):
        self._sim = sim
        self.index = index
        self.type = "stock"
        self.starting_cash = float(cash)
        self.inout_cash = float(cash)
        self.available_cash = float(cash)
        self.locked_cash = 0.0
        self.positions = Positions(sim)
        self.short_positions = {}

    @property
    def long_positions(self):
        return self.positions

    @property
    def cash(self):
        return self.available_cash

    @property
    def transferable_cash(self):
        return self.available_cash

    @property
    def positions_value(self):
        # Locked shares are still owned until their sell fills.
        return sum(p.holding * p.price for p in self.positions.values())

    @property
    def total_value(self):
        return self.available_cash + self.locked_cash + self.positions_value

    @property
    def returns(self):
        return self.total_value / self.starting_cash - 1 if self.starting_cash else 0.0


class Portfolio:
    """``context.portfolio``: the sum of the subportfolios (a single one by default)."""

    def __init__(self, sim):
        self._sim = sim

    def _subs(self):
        return self._sim.context.subportfolios

    @property
    def positions(self):
        subs = self._subs()
        if len(subs) == 1:
            return subs[0].positions
        merged = Positions(self._sim)
        for sub in subs:
            for code, pos in sub.positions.items():
                if pos.holding <= 0:
                    continue
                into = merged[code]
                cost = into.avg_cost * into.holding + pos.avg_cost * pos.holding
                acc = into.acc_avg_cost * into.holding + pos.acc_avg_cost * pos.holding
                into.total_amount += pos.total_amount
                into.locked_amount += pos.locked_amount
                into.closeable_amount += pos.closeable_amount
                into.today_amount += pos.today_amount
                into.avg_cost = cost / into.holding
                into.acc_avg_cost = acc / into.holding
        return merged

    long_positions = positions

    @property
    def short_positions(self):
        return {}

    def _sum(self, attr):
        return sum(getattr(sub, attr) for sub in self._subs())

    available_cash = property(lambda self: self._sum("available_cash"))
    cash = available_cash
    transferable_cash = available_cash
    locked_cash = property(lambda self: self._sum("locked_cash"))
    positions_value = property(lambda self: self._sum("positions_value"))
    total_value = property(lambda self: self._sum("total_value"))
    starting_cash = property(lambda self: self._sum("starting_cash"))
    inout_cash = property(lambda self: self._sum("inout_cash"))

    @property
    def returns(self):
        start = self.starting_cash
        return self.total_value / start - 1 if start else 0.0


class Context:
    def __init__(self, sim, run_type, start_date, cash):
        self._sim = sim
        self.run_params = RunParams(run_type, start_date)
        self.subportfolios = [SubPortfolio(sim, 0, cash)]
        self.portfolio = Portfolio(sim)
        self.universe = []

    @property
    def current_dt(self):
        return self._sim.current_dt

    @property
    def previous_date(self):
        return self._sim.previous_date


class OrderStatus:
    open = "open"
    filled = "filled"
    canceled = "canceled"
    rejected = "rejected"
    held = "held"


class MarketOrderStyle:
    def __init__(self, limit_price=None):
        self.limit_price = limit_price


class LimitOrderStyle:
    def __init__(self, limit_price):
        self.limit_price = float(limit_price)


class OrderCost:
    def __init__(
        self,
        open_tax=0.0,
        close_tax=0.001,
        open_commission=0.0003,
        close_commission=0.0003,
        close_today_commission=0.0,
        min_commission=5.0,
    ):
        self.open_tax = open_tax
        self.close_tax = close_tax
        self.open_commission = open_commission
        self.close_commission = close_commission
        self.close_today_commission = close_today_commission
        self.min_commission = min_commission


class Order:
    """A JoinQuant order (``Order`` object returned by the order functions)."""

    def __init__(self, order_id, security, amount, is_buy, style, pindex, add_time):
        self.order_id = order_id
        self.security = security
        self.amount = amount
        self.filled = 0
        self.price = 0.0
        self.avg_cost = 0.0
        self.commission = 0.0
        self.is_buy = is_buy
        self.action = "open" if is_buy else "close"
        self.side = "long"
        self.style = style
        self.pindex = pindex
        self.add_time = add_time
        self.status = OrderStatus.open

    @property
    def limit_price(self):
        return getattr(self.style, "limit_price", None)

    def __repr__(self):
        return "UserOrder(%s %s %s %d/%d %s)" % (
            self.order_id,
            "buy" if self.is_buy else "sell",
            self.security,
            self.filled,
            self.amount,
            self.status,
        )


class _CurrentDataMap(dict):
    def __init__(self, sim):
        dict.__init__(self)
        self._sim = sim

    def __missing__(self, code):
        info = self._sim.get_security_info(code)
        data = CurrentData(
            code,
            self._sim.price(code),
            code in self._sim.paused,
            info.display_name if info else None,
        )
        self[code] = data
        return data


# ---------------------------------------------------------------- the simulator


class JoinQuantSim:
    """One JoinQuant strategy run, day by day, on prices the test provides.

    `prices`: ``{code: price}`` or ``{code: [day0, day1, ...]}`` (the last value
    repeats). `research_dir`: the research root (``read_file`` / ``write_file`` and
    ``import`` of uploaded modules). `run_type`: ``context.run_params.type``.
    """

    def __init__(
        self,
        prices=None,
        research_dir=None,
        run_type=SIM_TRADE,
        start_date="2026-01-05",
        cash=1000000.0,
        names=None,
    ):
        self.prices = dict(prices or {})
        self.research_dir = Path(research_dir) if research_dir else None
        self.names = dict(_DISPLAY_NAMES)
        self.names.update(names or {})
        self.paused = set()
        self.day_index = 0
        start = _as_date(start_date)
        self.current_dt = dt.datetime.combine(_next_weekday(start), dt.time(9, 0))
        self.previous_date = None
        self.order_cost = OrderCost()
        self.g = GlobalVars()
        self.log = Log(lambda: self.current_dt.strftime("%Y-%m-%d %H:%M:%S"))
        self.context = Context(self, run_type, self.current_dt.date(), cash)
        self.orders = []
        self._order_ids = itertools.count(1)
        self._schedule = []
        self._price_overrides = {}
        self.namespace = None

    # --- market data -----------------------------------------------------------
    def price(self, code):
        if code in self._price_overrides:
            return self._price_overrides[code]
        series = self.prices.get(code)
        if series is None:
            return _default_price(code)
        if isinstance(series, (int, float)):
            return float(series)
        return float(series[min(self.day_index, len(series) - 1)])

    def set_price(self, code, price):
        """Move the price intraday; open limit orders that it reaches fill."""
        self._price_overrides[code] = float(price)
        self._match_open_orders()

    def get_security_info(self, code, date=None):
        name = self.names.get(code)
        if name is None and code in self.prices:
            name = code.split(".")[0]
        return SecurityInfo(code, name) if name is not None else None

    def get_current_data(self):
        return _CurrentDataMap(self)

    # --- orders ----------------------------------------------------------------
    def order(self, security, amount, style=None, side="long", pindex=0, close_today=False):
        if amount == 0:
            return None
        return self._place(security, int(amount), style, pindex)

    def order_target(self, security, amount, style=None, side="long", pindex=0, close_today=False):
        held = self._sub(pindex).positions[security].holding
        if int(amount) <= 0:
            return self._place(security, -held, style, pindex) if held else None
        return self.order(security, int(amount) - held, style, side, pindex)

    def order_value(self, security, value, style=None, side="long", pindex=0, close_today=False):
        price = self._order_price(security, style)
        return self.order(security, int(value / price), style, side, pindex)

    def order_target_value(
        self, security, value, style=None, side="long", pindex=0, close_today=False
    ):
        price = self._order_price(security, style)
        return self.order_target(security, max(int(value / price), 0), style, side, pindex)

    def get_open_orders(self):
        return {o.order_id: o for o in self.orders if o.status == OrderStatus.open}

    def get_orders(self, order_id=None, security=None, status=None):
        return {
            o.order_id: o
            for o in self.orders
            if (order_id is None or o.order_id == order_id)
            and (security is None or o.security == security)
            and (status is None or o.status == status)
        }

    def cancel_order(self, order):
        order_id = getattr(order, "order_id", order)
        for o in self.orders:
            if o.order_id == order_id and o.status == OrderStatus.open:
                self._release(o)
                o.status = OrderStatus.canceled
                return o
        return None

    def _sub(self, pindex):
        subs = self.context.subportfolios
        if not 0 <= pindex < len(subs):
            raise SimError("no subportfolio %d" % pindex)
        return subs[pindex]

    def _order_price(self, security, style):
        limit = getattr(style, "limit_price", None)
        return float(limit) if isinstance(style, LimitOrderStyle) else self.price(security)

    def _place(self, security, amount, style, pindex):
        sub = self._sub(pindex)
        if security in self.paused:
            self.log.warn("%s 停牌，无法下单", security)
            return None
        price = self._order_price(security, style)
        if amount > 0:
            amount = self._affordable(sub, amount, price)
        else:
            pos = sub.positions[security]
            volume = min(-amount, pos.closeable_amount)
            if volume < pos.total_amount:
                volume = volume // LOT * LOT  # only all the unlocked shares may include an odd lot
            amount = -volume
        if amount == 0:
            self.log.warn("%s 下单数量不足一手或可用资金/可卖数量不足，订单取消", security)
            return None
        order = Order(
            str(next(self._order_ids)),
            security,
            abs(amount),
            amount > 0,
            style,
            pindex,
            self.current_dt,
        )
        self.orders.append(order)
        if order.is_buy:
            locked = abs(amount) * price * (1 + self.order_cost.open_commission)
            sub.available_cash -= locked
            sub.locked_cash += locked
            order._locked = locked
        else:
            pos = sub.positions[security]
            pos.total_amount -= abs(amount)
            pos.closeable_amount -= abs(amount)
            pos.locked_amount += abs(amount)
        self._try_fill(order)
        return order

    def _affordable(self, sub, amount, price):
        rate = 1 + self.order_cost.open_commission
        cash_lots = int(sub.available_cash / (price * rate) // LOT)
        return min(amount // LOT, cash_lots) * LOT

    def _match_open_orders(self):
        for order in list(self.orders):
            if order.status == OrderStatus.open:
                self._try_fill(order)

    def _try_fill(self, order):
        price = self.price(order.security)
        limit = order.limit_price if isinstance(order.style, LimitOrderStyle) else None
        if limit is not None and (price > limit if order.is_buy else price < limit):
            return
        sub = self._sub(order.pindex)
        pos = sub.positions[order.security]
        value = order.amount * price
        cost = self.order_cost
        commission = max(
            value * (cost.open_commission if order.is_buy else cost.close_commission),
            cost.min_commission,
        )
        if order.is_buy:
            self._release(order)
            held = pos.holding
            total = pos.avg_cost * held + value + commission
            acc = pos.acc_avg_cost * held + value + commission
            pos.total_amount += order.amount
            pos.today_amount += order.amount
            pos.avg_cost = total / pos.holding
            pos.acc_avg_cost = acc / pos.holding
            pos.hold_cost = pos.avg_cost
            sub.available_cash -= value + commission
            if pos.init_time is None:
                pos.init_time = self.current_dt
        else:
            tax = value * cost.close_tax
            proceeds = value - commission - tax
            held = pos.holding
            remaining = held - order.amount
            if remaining > 0:
                pos.acc_avg_cost = (pos.acc_avg_cost * held - proceeds) / remaining
            pos.locked_amount -= order.amount  # the sold shares leave the position
            sub.available_cash += proceeds
            if remaining == 0:
                del sub.positions[order.security]
        pos.transact_time = self.current_dt
        order.filled = order.amount
        order.price = price
        order.avg_cost = price
        order.commission = commission
        order.status = OrderStatus.filled

    def _release(self, order):
        """An unfilled order gives back what it froze (cancel, or the close)."""
        sub = self._sub(order.pindex)
        if order.is_buy:
            locked = getattr(order, "_locked", 0.0)
            sub.locked_cash -= locked
            sub.available_cash += locked
            order._locked = 0.0
        else:
            pos = sub.positions[order.security]
            pos.locked_amount -= order.amount
            pos.total_amount += order.amount
            pos.closeable_amount += order.amount

    # --- strategy set-up API ---------------------------------------------------
    def set_subportfolios(self, configs):
        if any(p.holding for sub in self.context.subportfolios for p in sub.positions.values()):
            raise SimError("set_subportfolios is only allowed before any trade")
        self.context.subportfolios = [SubPortfolio(self, i, c.cash) for i, c in enumerate(configs)]

    def set_order_cost(self, cost, type="stock", ref=None):
        self.order_cost = cost

    def run_daily(self, func, time="9:30", reference_security="000300.XSHG"):
        self._schedule.append((_parse_time(time), len(self._schedule), None, func))

    def run_weekly(self, func, weekday, time="9:30", reference_security="000300.XSHG", force=True):
        self._schedule.append((_parse_time(time), len(self._schedule), ("week", weekday), func))

    def run_monthly(
        self, func, monthday, time="9:30", reference_security="000300.XSHG", force=True
    ):
        self._schedule.append((_parse_time(time), len(self._schedule), ("month", monthday), func))

    def unschedule_all(self):
        self._schedule = []

    # --- research files ----------------------------------------------------------
    def read_file(self, path):
        return self._research_path(path).read_bytes()

    def write_file(self, path, content, append=False):
        target = self._research_path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not isinstance(content, bytes):
            content = str(content).encode("utf-8")
        with open(str(target), "ab" if append else "wb") as fh:
            fh.write(content)

    def _research_path(self, path):
        if self.research_dir is None:
            raise SimError("this simulation has no research_dir")
        return self.research_dir / path

    # --- globals a strategy sees --------------------------------------------------
    def api(self):
        """Names JoinQuant injects into a strategy (and user_space_api exports)."""
        names = {
            "g": self.g,
            "log": self.log,
            "order": self.order,
            "order_target": self.order_target,
            "order_value": self.order_value,
            "order_target_value": self.order_target_value,
            "cancel_order": self.cancel_order,
            "get_open_orders": self.get_open_orders,
            "get_orders": self.get_orders,
            "get_security_info": self.get_security_info,
            "get_current_data": self.get_current_data,
            "run_daily": self.run_daily,
            "run_weekly": self.run_weekly,
            "run_monthly": self.run_monthly,
            "unschedule_all": self.unschedule_all,
            "set_subportfolios": self.set_subportfolios,
            "SubPortfolioConfig": SubPortfolioConfig,
            "set_order_cost": self.set_order_cost,
            "OrderCost": OrderCost,
            "set_benchmark": _noop,
            "set_option": _noop,
            "set_slippage": _noop,
            "FixedSlippage": _noop,
            "PriceRelatedSlippage": _noop,
            "LimitOrderStyle": LimitOrderStyle,
            "MarketOrderStyle": MarketOrderStyle,
            "OrderStatus": OrderStatus,
            "read_file": self.read_file,
            "write_file": self.write_file,
        }
        return names

    @contextlib.contextmanager
    def installed(self):
        """Make ``kuanke.user_space_api`` / ``jqdata`` importable and the research
        root importable, as on JoinQuant; everything is undone on exit."""
        saved_modules = dict(sys.modules)
        saved_path = list(sys.path)
        saved_meta = list(sys.meta_path)
        kuanke = types.ModuleType("kuanke")
        kuanke.__path__ = []
        user_space_api = _api_module("kuanke.user_space_api", self.api())
        kuanke.user_space_api = user_space_api
        sys.modules["kuanke"] = kuanke
        sys.modules["kuanke.user_space_api"] = user_space_api
        sys.modules["jqdata"] = _api_module("jqdata", self.api())
        if self.research_dir is not None:
            sys.path.insert(0, str(self.research_dir))
        try:
            yield self
        finally:
            added_dirs = [d for d in sys.path if d not in saved_path]
            sys.path[:] = saved_path
            sys.meta_path[:] = saved_meta
            for name in [n for n in sys.modules if n not in saved_modules]:
                if _from_research(name, sys.modules[name], added_dirs):
                    del sys.modules[name]
            sys.modules.update(saved_modules)

    # --- running a strategy --------------------------------------------------------
    def load_strategy(self, path):
        """Execute a strategy file with the JoinQuant globals and run ``initialize``.

        Call inside :meth:`installed` when the strategy imports research modules.
        """
        path = Path(path)
        namespace = dict(self.api())
        namespace.update({"__name__": "user_code", "__file__": str(path)})
        exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)
        self.namespace = namespace
        if "initialize" in namespace:
            namespace["initialize"](self.context)
        self._call("process_initialize")
        return namespace

    def _call(self, name, *extra):
        func = (self.namespace or {}).get(name)
        if func is not None:
            func(self.context, *extra)

    def _restart(self):
        """A simulated-trading process restart: g round-trips through pickle."""
        restored = pickle.loads(pickle.dumps(self.g))
        self.g.__dict__.clear()
        self.g.__dict__.update(restored.__dict__)
        self._call("process_initialize")

    def run_day(self):
        """Run one trading day: restart, before_trading_start, scheduled functions in
        time order, close (open orders cancelled), after_trading_end; then move to the
        next weekday."""
        day = self.current_dt.date()
        self._price_overrides = {}
        if self.day_index > 0 and self.namespace is not None:
            self.current_dt = dt.datetime.combine(day, dt.time(8, 30))
            self._restart()
        self.current_dt = dt.datetime.combine(day, dt.time(9, 0))
        self._call("before_trading_start")
        events = sorted(e for e in self._schedule if _runs_on(e[2], day))
        after_close = [e for e in events if e[0] > _MARKET_CLOSE]
        for when, _, _, func in [e for e in events if e[0] <= _MARKET_CLOSE]:
            self.current_dt = dt.datetime.combine(day, when)
            self._match_open_orders()
            func(self.context)
        self.current_dt = dt.datetime.combine(day, _MARKET_CLOSE)
        self._close_market()
        for when, _, _, func in after_close:
            self.current_dt = dt.datetime.combine(day, when)
            func(self.context)
        self.current_dt = dt.datetime.combine(day, dt.time(15, 30))
        self._call("after_trading_end")
        self.previous_date = day
        self.day_index += 1
        self.current_dt = dt.datetime.combine(
            _next_weekday(day + dt.timedelta(days=1)), dt.time(9, 0)
        )

    def run_days(self, n):
        for _ in range(n):
            self.run_day()

    def _close_market(self):
        for order in self.orders:
            if order.status == OrderStatus.open:
                self._release(order)
                order.status = OrderStatus.canceled
        # T+1: tonight everything held becomes sellable tomorrow.
        for sub in self.context.subportfolios:
            for pos in sub.positions.values():
                pos.closeable_amount = pos.total_amount
                pos.today_amount = 0


# ---------------------------------------------------------------- helpers


def _from_research(name, module, dirs):
    """A module the strategy world brought in: the fake JoinQuant modules, the bundle,
    or a file from a folder put on sys.path while the simulation was installed."""
    if name.split(".")[0] in ("kuanke", "jqdata", "_jq2qmt"):
        return True
    origin = getattr(module, "__file__", None)
    if not origin:
        return False
    parent = Path(origin).resolve().parent
    return any(parent == Path(d).resolve() for d in dirs if d)


def _noop(*args, **kwargs):
    return None


def _api_module(name, names):
    module = types.ModuleType(name)
    module.__dict__.update(names)
    module.__all__ = sorted(names)
    return module


def _as_date(value):
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.datetime.strptime(str(value), "%Y-%m-%d").date()


def _next_weekday(day):
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


def _parse_time(text):
    text = _NAMED_TIMES.get(str(text).strip(), str(text).strip())
    parts = text.split(":")
    try:
        numbers = [int(p) for p in parts]
        return dt.time(*numbers)
    except (TypeError, ValueError):
        raise SimError("unsupported run_daily time: %r" % (text,))


def _runs_on(rule, day):
    if rule is None:
        return True
    kind, n = rule
    if kind == "week":
        return day.isoweekday() == n
    return day.day == n


def _default_price(code):
    """A stable made-up price for codes the test did not price."""
    digest = hashlib.sha256(code.encode("utf-8")).digest()
    return round(5 + digest[0] / 255.0 * 45, 2)
