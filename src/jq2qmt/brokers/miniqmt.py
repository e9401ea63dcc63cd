"""Broker adapter for miniQMT: `xtquant.xttrader.XtQuantTrader` and `xtquant.xtdata`.

xtquant ships Windows binaries only (native modules for CPython 3.6-3.13), so it is
imported when the adapter connects, never at module import: this module imports
anywhere. Names, arguments, fields and return codes as in the wheel's own
`xtquant/doc/xttrader.md` and `xttrader.py`.

What the real xttrader does, and what this adapter does about it:

- A query answers `None` when it failed ("None表示查询失败..."): positions, orders
  and asset then raise `BrokerError`, so the round trades nothing and reports why
  (reading a failed positions query as "no positions" would buy every target again).
  An empty list is an empty account.
- Synchronous calls wait on a future with no timeout, until miniQMT answers. Every
  xtquant call here runs on a worker thread and is given up after `call_timeout`
  (`connect_timeout` for connecting); the calling thread waits in short slices, so
  Ctrl-C still lands on Windows. A trading call that timed out drops the connection
  (the trader is stopped, its waiting calls are released) and the next call, no
  sooner than `retry_interval` later, connects again with a new session id (xtquant
  wants one per connection). The trader's own `set_timeout` is set too.
- Answers and pushes arrive on xttrader's executor thread after the call returned.
  An order that `order_stock` gave an id to and that miniQMT then rejects
  (`on_order_error`) is listed by `orders()` as 57 with the error as status_msg,
  also while miniQMT's order query still shows it open or does not list it yet. A
  cancel refused later (`on_cancel_error`) is not sent again for that order for
  `CANCEL_RETRY_AFTER` seconds.
- `order_stock` without an answer in time may still have placed the order: `place`
  then returns None (id unknown), so the loop counts it in flight by its remark and
  never sends it twice.
- The side of a queried order is `offset_flag` (48 buy, 49 sell, "用此字段区分股票买卖"),
  falling back to `order_type` (23/24) when offset_flag is absent or 0.
"""

import asyncio
import datetime
import importlib
import importlib.util
import re
import sys
import threading
import time
import types
import warnings

from . import base

STOCK_BUY = 23  # xtconstant.STOCK_BUY
STOCK_SELL = 24  # xtconstant.STOCK_SELL
FIX_PRICE = 11  # xtconstant.FIX_PRICE
OFFSET_FLAG_OPEN = 48  # xtconstant.OFFSET_FLAG_OPEN: 买入
OFFSET_FLAG_CLOSE = 49  # xtconstant.OFFSET_FLAG_CLOSE: 卖出

CALL_TIMEOUT = 10.0  # s: one trading call (query, order, cancel, subscribe)
CONNECT_TIMEOUT = 20.0  # s: creating the trader and connecting
DATA_TIMEOUT = 10.0  # s: one xtdata read (all quotes of a round)
RETRY_INTERVAL = 5.0  # s: after a call timed out, no new connection before this
CANCEL_RETRY_AFTER = 30.0  # s: a cancel miniQMT refused is not re-sent for this long
WAIT_SLICE = 0.2  # s: longest single wait of the calling thread (Ctrl-C)
MAX_REMEMBERED = 5000  # placed orders / order errors kept per day


def xtquant_package():
    """The `xtquant` package, imported without running its `__init__`.

    The wheel's `__init__` only sets `__version__` and asks PyPI for a newer version
    (`requests.get(..., timeout=10)`, 10-20 s on an offline PC). An empty package
    module with the installed wheel's path gives the same submodules without that.
    An `xtquant` already imported is used as it is.
    """
    pkg = sys.modules.get("xtquant")
    if pkg is not None:
        return pkg
    spec = importlib.util.find_spec("xtquant")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("xtquant is not installed")
    pkg = types.ModuleType("xtquant")
    pkg.__path__ = list(spec.submodule_search_locations)
    pkg.__file__ = spec.origin
    pkg.__package__ = "xtquant"
    pkg.__jq2qmt_shell__ = True
    try:
        with open(spec.origin, encoding="utf-8") as handle:
            found = re.search(r'__version__\s*=\s*["\']([^"\']+)', handle.read())
        pkg.__version__ = found.group(1) if found else "unknown"
    except (OSError, TypeError, UnicodeDecodeError):
        pkg.__version__ = "unknown"
    sys.modules["xtquant"] = pkg
    return pkg


def import_xtquant():
    """(xttrader, xtdata) of the installed wheel (ImportError when they cannot load)."""
    xtquant_package()
    xttrader = importlib.import_module("xtquant.xttrader")
    xtdata = importlib.import_module("xtquant.xtdata")
    return xttrader, xtdata


def python_hint(platform=None, version=None):
    """Why xtquant cannot load on this Python, in the user's terms ('' when it can)."""
    platform = sys.platform if platform is None else platform
    version = tuple(sys.version_info[:2] if version is None else version[:2])
    if not platform.startswith("win"):
        return "xtquant 只能在 Windows 上运行 / xtquant runs on Windows only"
    if not ((3, 6) <= version <= (3, 13)):
        return (
            "xtquant 的原生模块只支持 Python 3.6–3.13，当前是 %d.%d；请用 Python 3.9–3.13 "
            "安装 jq2qmt / xtquant's native modules exist for Python 3.6-3.13 only" % version
        )
    return ""


class MiniQmtTimeout(base.BrokerError):
    """An xtquant call did not return in time (miniQMT or its data service stalled)."""

    def __init__(self, message, thread=None):
        base.BrokerError.__init__(self, message)
        self.thread = thread


def call_with_deadline(fn, args, timeout, what, monotonic=time.monotonic, slice_=WAIT_SLICE):
    """fn(*args) on a daemon thread; its result, its exception, or MiniQmtTimeout.

    The caller waits at most `slice_` at a time, so a KeyboardInterrupt (Ctrl-C, also
    on Windows where a lock wait is not interrupted) lands within `slice_` seconds.
    """
    box = {}
    done = threading.Event()

    def run():
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # handed to the caller
            box["error"] = exc
        finally:
            done.set()

    worker = threading.Thread(target=run, name="jq2qmt-xtquant", daemon=True)
    worker.start()
    deadline = monotonic() + timeout
    while not done.is_set():
        left = deadline - monotonic()
        if left <= 0:
            raise MiniQmtTimeout(
                "miniQMT 在 %g 秒内没有应答（%s）/ miniQMT did not answer %s within %g s"
                % (timeout, what, what, timeout),
                worker,
            )
        done.wait(min(slice_, left))
    if "error" in box:
        raise box["error"]
    return box.get("value")


class _Callback(object):
    """What xttrader pushes, on its executor thread. State lives on the broker, so a
    push of an earlier session (after a reconnect) still counts."""

    def __init__(self, broker):
        self.broker = broker
        self.connected = True

    def on_connected(self):
        self.connected = True

    def on_disconnected(self):
        self.connected = False
        self.broker.log(
            "miniQMT 连接断开，下一次调用时用新会话重连 / disconnected: "
            "reconnecting with a new session on the next call"
        )
        self.broker._disconnected(self)

    def on_order_error(self, order_error):
        self.broker._order_error(order_error)

    def on_cancel_error(self, cancel_error):
        self.broker._cancel_error(cancel_error)

    def on_stock_order(self, order):
        pass

    def on_stock_trade(self, trade):
        pass

    def on_stock_asset(self, asset):
        pass

    def on_stock_position(self, position):
        pass

    def on_account_status(self, status):
        self.broker.log(
            "账号状态 / account status: %s %s"
            % (getattr(status, "account_id", ""), getattr(status, "status", ""))
        )

    def on_order_stock_async_response(self, response):
        pass

    def on_cancel_order_stock_async_response(self, response):
        pass


class MiniQmtBroker(object):
    kind = "miniqmt"

    def __init__(
        self,
        qmt_path,
        account_id,
        session_id=None,
        log=None,
        call_timeout=CALL_TIMEOUT,
        connect_timeout=CONNECT_TIMEOUT,
        data_timeout=DATA_TIMEOUT,
        retry_interval=RETRY_INTERVAL,
        monotonic=time.monotonic,
        today=datetime.date.today,
    ):
        self.qmt_path = str(qmt_path)
        self.account_id = str(account_id)
        self.session_id = int(session_id) if session_id is not None else int(time.time()) % 100000
        self.log = log or (lambda message: None)
        self.call_timeout = float(call_timeout)
        self.connect_timeout = float(connect_timeout)
        self.data_timeout = float(data_timeout)
        self.retry_interval = float(retry_interval)
        self.monotonic = monotonic
        self.today = today
        self.trader = None
        self.account = None
        self.xttrader = None
        self.xtdata = None
        self.callback = _Callback(self)
        self.connected_once = False
        self.retry_at = None  # monotonic time before which no reconnect is tried
        self._data_busy = None  # the thread of an xtdata call that never returned
        # written by xttrader's executor thread, read here: plain dicts, whose single
        # operations are atomic, so the calling thread never waits on a lock
        self._placed = {}  # order id -> (day, what we sent)
        self._errors = {}  # order id -> (day, on_order_error message)
        self._cancel_refused = {}  # order id -> (monotonic time, message)

    # ---- connection ---------------------------------------------------------------------
    def load(self):
        """Import xtquant (once); ImportError when the wheel or its native part is missing."""
        if self.xttrader is None:
            self.xttrader, self.xtdata = import_xtquant()
        return self

    def connect(self, progress=None):
        """Create the trader, connect to the miniQMT client and subscribe the account.

        `progress(stage)` is called with "connecting" and then "subscribing".
        """
        progress = progress or (lambda stage: None)
        self.load()
        from xtquant.xttype import StockAccount

        callback = _Callback(self)
        progress("connecting")
        try:
            # built on the calling thread, as xttrader expects (it saves and restores that
            # thread's asyncio loop); the constructor only builds objects, no I/O
            _give_main_thread_a_loop()
            trader = self.xttrader.XtQuantTrader(self.qmt_path, self.session_id)
            trader.register_callback(callback)
            # xtquant does not document the unit; milliseconds is the harmless reading
            # (as seconds it is only longer than our own deadline)
            trader.set_timeout(int(self.call_timeout * 1000))
        except Exception as exc:
            raise base.BrokerError(
                "创建 xtquant 交易接口失败 / XtQuantTrader failed: %s: %s"
                % (type(exc).__name__, exc)
            )

        def open_trader():
            trader.start()
            return trader.connect()

        try:
            result = call_with_deadline(
                open_trader, (), self.connect_timeout, "connect", self.monotonic
            )
        except MiniQmtTimeout:
            self._hold_off()
            self._discard(trader)
            raise
        except Exception as exc:
            self._discard(trader)
            raise base.BrokerError(
                "启动 xtquant 交易接口失败 / starting the trader failed: %s: %s"
                % (type(exc).__name__, exc)
            )
        if result != 0:
            self._discard(trader)
            raise base.BrokerError(
                "连接 miniQMT 失败（返回 %s），请确认 miniQMT 已启动并登录 / "
                "connect failed: %s" % (result, result)
            )
        account = StockAccount(self.account_id)
        progress("subscribing")
        try:
            result = call_with_deadline(
                trader.subscribe, (account,), self.call_timeout, "subscribe", self.monotonic
            )
        except MiniQmtTimeout:
            self._hold_off()
            self._discard(trader)
            raise
        except Exception as exc:
            self._discard(trader)
            raise base.BrokerError(
                "订阅资金账号出错 / subscribe failed: %s: %s" % (type(exc).__name__, exc)
            )
        if result != 0:
            self._discard(trader)
            raise base.BrokerError(
                "订阅资金账号 %s 失败（返回 %s），请确认 miniQMT 登录的是这个账号 / "
                "subscribe failed: %s" % (self.account_id, result, result)
            )
        self.trader, self.account, self.callback = trader, account, callback
        self.connected_once = True
        self.retry_at = None
        return self

    def close(self):
        """Stop the trader (waits at most call_timeout)."""
        trader, self.trader = self.trader, None
        if trader is not None:
            try:
                call_with_deadline(trader.stop, (), self.call_timeout, "stop", self.monotonic)
            except Exception as exc:
                self.log("停止 xtquant 交易接口出错 / stopping the trader failed: %s" % (exc,))

    def _hold_off(self):
        self.retry_at = self.monotonic() + self.retry_interval

    @staticmethod
    def _release(trader):
        """Calls waiting on `trader` for an answer that will not come return None now
        (xttrader keeps each waiting future's setter in `cbs`, by request seq)."""
        waiting = getattr(trader, "cbs", None)
        if isinstance(waiting, dict):
            for seq in list(waiting):
                release = waiting.pop(seq, None)
                try:
                    release(None)
                except Exception:
                    pass

    def _disconnected(self, callback):
        trader = self.trader
        if callback is self.callback and trader is not None:
            self._release(trader)

    def _discard(self, trader):
        """Let go of a trader that may be stuck: release its waiting calls, stop it in
        the background (stop itself may block on a stuck connection)."""
        if trader is None:
            return
        self._release(trader)

        def stop():
            try:
                trader.stop()
            except Exception:
                pass  # never started, or the native side is gone

        threading.Thread(target=stop, name="jq2qmt-xtquant-stop", daemon=True).start()

    def _drop(self):
        """A call timed out: drop this connection; reconnect later with a new session."""
        trader, self.trader = self.trader, None
        self.callback.connected = False
        self._hold_off()
        self._discard(trader)
        self.log(
            "miniQMT 无应答，已断开连接，%g 秒后用新会话重连 / miniQMT stalled: "
            "connection dropped, reconnecting in %g s" % (self.retry_interval, self.retry_interval)
        )

    def _ready(self):
        """The connected trader; after a drop or disconnect, one reconnect per call."""
        if self.trader is not None and self.callback.connected:
            return self.trader
        if not self.connected_once:
            raise base.BrokerUnavailable("miniQMT 未连接 / not connected")
        if self.retry_at is not None and self.monotonic() < self.retry_at:
            raise base.BrokerUnavailable(
                "miniQMT 刚才没有应答，%.0f 秒后重连 / miniQMT stalled, reconnecting in %.0f s"
                % (self.retry_at - self.monotonic(), self.retry_at - self.monotonic())
            )
        trader, self.trader = self.trader, None
        self._discard(trader)
        self.session_id += 1  # a fresh session: xtquant wants one per connection
        self.log(
            "重新连接 miniQMT（会话 %d）/ reconnecting (session %d)"
            % (self.session_id, self.session_id)
        )
        self.connect()
        return self.trader

    def _trade(self, what, method, *args):
        """A synchronous trader call, bounded; a timeout drops the connection."""
        trader, callback = self._ready(), self.callback
        try:
            result = call_with_deadline(
                getattr(trader, method), args, self.call_timeout, what, self.monotonic
            )
            if result is None and not callback.connected:
                raise base.BrokerError(
                    "miniQMT 连接断开（%s 没有完成），下一次调用时重连 / "
                    "disconnected during %s" % (what, what)
                )
            return result
        except MiniQmtTimeout:
            self._drop()
            raise
        except base.BrokerError:
            raise
        except Exception as exc:
            raise base.BrokerError(
                "xtquant %s 出错 / failed: %s: %s" % (what, type(exc).__name__, exc)
            )

    def _data(self, what, fn):
        """An xtdata read, bounded; while an earlier one is still stuck, fail at once."""
        if self._data_busy is not None and self._data_busy.is_alive():
            raise base.BrokerError(
                "xtdata 上一次调用仍未返回，暂不读取行情 / an earlier xtdata "
                "call has not returned: no quotes this round"
            )
        self._data_busy = None
        try:
            return call_with_deadline(fn, (), self.data_timeout, what, self.monotonic)
        except MiniQmtTimeout as exc:
            self._data_busy = exc.thread
            raise

    # ---- pushes (xttrader's executor thread) ------------------------------------------------
    def _today_only(self, table):
        """{order id: value} of `table` entries made today (order ids restart each day);
        older entries are forgotten."""
        today = self.today()
        current = {}
        for key, (day, value) in list(dict(table).items()):
            if day == today:
                current[key] = value
            else:
                table.pop(key, None)
        return current

    @staticmethod
    def _remember(table, key, value):
        table[key] = value
        while len(table) > MAX_REMEMBERED:
            table.pop(next(iter(table)), None)  # the oldest

    def _order_error(self, error):
        order_id = _int(getattr(error, "order_id", None))
        message = getattr(error, "error_msg", None) or "委托失败"
        self.log(
            "委托失败 / order error: order_id=%s seq=%s error_id=%s %s remark=%s"
            % (
                order_id,
                getattr(error, "seq", None),
                getattr(error, "error_id", None),
                message,
                getattr(error, "order_remark", None) or "",
            )
        )
        if order_id is not None and order_id > 0:
            self._remember(self._errors, order_id, (self.today(), message))

    def _cancel_error(self, error):
        order_id = _int(getattr(error, "order_id", None))
        message = getattr(error, "error_msg", None) or "撤单失败"
        self.log(
            "撤单失败 / cancel error: order_id=%s sysid=%s error_id=%s %s"
            % (
                order_id,
                getattr(error, "order_sysid", None),
                getattr(error, "error_id", None),
                message,
            )
        )
        if order_id is not None:
            now = self.monotonic()
            for key, (when, _) in list(self._cancel_refused.items()):
                if now - when >= CANCEL_RETRY_AFTER:
                    self._cancel_refused.pop(key, None)
            self._cancel_refused[order_id] = (now, message)

    # ---- the broker protocol -------------------------------------------------------------------
    def positions(self):
        rows = self._trade(
            "查询持仓 / query_stock_positions", "query_stock_positions", self.account
        )
        if rows is None:
            raise base.BrokerError(
                "查询持仓失败（xtquant 返回 None），本轮不下单 / "
                "query_stock_positions returned None (failed query): "
                "nothing is traded this round"
            )
        return [
            {
                "code": p.stock_code,
                "volume": int(p.volume),
                "can_use_volume": int(p.can_use_volume),
                "avg_cost": float(getattr(p, "avg_price", 0) or getattr(p, "open_price", 0) or 0),
                "name": getattr(p, "instrument_name", "") or "",
            }
            for p in rows
            if int(p.volume) > 0
        ]

    def asset(self):
        asset = self._trade("查询资产 / query_stock_asset", "query_stock_asset", self.account)
        if asset is None:
            raise base.BrokerError(
                "查询资产失败（xtquant 返回 None），本轮不下单 / "
                "query_stock_asset returned None (failed query)"
            )
        return {
            "cash": float(asset.cash),
            "frozen_cash": float(asset.frozen_cash),
            "market_value": float(asset.market_value),
            "total_asset": float(asset.total_asset),
        }

    def orders(self):
        rows = self._trade(
            "查询委托 / query_stock_orders", "query_stock_orders", self.account, False
        )
        if rows is None:
            raise base.BrokerError(
                "查询委托失败（xtquant 返回 None），本轮不下单 / "
                "query_stock_orders returned None (failed query)"
            )
        errors = self._today_only(self._errors)
        placed = self._today_only(self._placed)
        result, listed = [], set()
        for o in sorted(rows, key=lambda o: (getattr(o, "order_time", 0) or 0, o.order_id)):
            order_id = _int(o.order_id)
            listed.add(order_id)
            status = int(o.order_status)
            message = getattr(o, "status_msg", "") or ""
            if order_id in errors and base.is_open(status):
                status, message = base.ORDER_JUNK, errors[order_id]
            result.append(
                {
                    "order_id": str(o.order_id),
                    "code": o.stock_code,
                    "side": self._side(o),
                    "volume": int(o.order_volume),
                    "traded_volume": int(o.traded_volume or 0),
                    "price": float(o.price),
                    "status": status,
                    "status_msg": message or base.status_name(status),
                    "remark": getattr(o, "order_remark", "") or "",
                }
            )
        for order_id, message in errors.items():
            sent = placed.get(order_id)
            if sent is not None and order_id not in listed:
                result.append(
                    dict(
                        sent,
                        order_id=str(order_id),
                        traded_volume=0,
                        status=base.ORDER_JUNK,
                        status_msg=message,
                    )
                )
        return result

    def trades(self):
        rows = self._trade("查询成交 / query_stock_trades", "query_stock_trades", self.account)
        if rows is None:
            raise base.BrokerError(
                "查询成交失败（xtquant 返回 None） / "
                "query_stock_trades returned None (failed query)"
            )
        result = []
        for t in rows:
            stamp = _int(getattr(t, "traded_time", None))
            when = None
            if stamp:
                when = (
                    datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc)
                    + datetime.timedelta(hours=8)
                ).strftime("%Y-%m-%dT%H:%M:%S")
            result.append(
                {
                    "trade_id": str(t.traded_id),
                    "order_id": str(t.order_id),
                    "code": t.stock_code,
                    "side": self._side(t),
                    "volume": int(t.traded_volume or 0),
                    "price": float(t.traded_price or 0),
                    "time": when,
                    "remark": getattr(t, "order_remark", "") or "",
                }
            )
        return result

    def _side(self, order):
        flag = _int(getattr(order, "offset_flag", None))
        if flag == OFFSET_FLAG_OPEN:
            return base.BUY
        if flag == OFFSET_FLAG_CLOSE:
            return base.SELL
        order_type = _int(getattr(order, "order_type", None))
        if order_type == STOCK_SELL:
            return base.SELL
        if order_type != STOCK_BUY:
            self.log(
                "委托 %s 的买卖方向无法识别（offset_flag=%s order_type=%s），按买入计 / "
                "unknown side, counted as a buy" % (order.order_id, flag, order_type)
            )
        return base.BUY

    def quotes(self, codes):
        codes = list(codes)
        if not codes:
            return {}
        self.load()
        xtdata = self.xtdata

        def read():
            ticks = xtdata.get_full_tick(codes) or {}
            return ticks, dict((code, xtdata.get_instrument_detail(code)) for code in codes)

        ticks, details = self._data("行情 / xtdata", read)
        result = {}
        for code in codes:
            quote = base.quote_from_tick(ticks.get(code), details.get(code))
            if quote is not None:
                result[code] = quote
        return result

    def place(self, code, side, volume, price, remark):
        order_type = STOCK_BUY if side == base.BUY else STOCK_SELL
        trader = self._ready()
        args = (
            self.account,
            code,
            order_type,
            int(volume),
            FIX_PRICE,
            float(price),
            "jq2qmt",
            remark,
        )
        try:
            order_id = call_with_deadline(
                trader.order_stock, args, self.call_timeout, "下单 / order_stock", self.monotonic
            )
        except MiniQmtTimeout:
            self._drop()
            self.log(
                "下单 %s 没有应答，委托可能已发出：按备注 %s 计为在途，不重发 / order_stock "
                "unanswered: the order may exist, tracked by its remark" % (code, remark)
            )
            return None
        except base.BrokerError:
            raise
        except Exception as exc:  # no usable answer (e.g. None from xtquant's own timeout)
            self.log(
                "下单 %s 的应答无法读取（%s: %s），委托可能已发出：按备注 %s 计为在途 / "
                "unreadable order_stock answer, tracked by its remark"
                % (code, type(exc).__name__, exc, remark)
            )
            return None
        if order_id is None or int(order_id) < 0:
            raise base.BrokerError("下单失败 / order_stock returned %s" % (order_id,))
        self._remember(
            self._placed,
            int(order_id),
            (
                self.today(),
                {
                    "code": code,
                    "side": side,
                    "volume": int(volume),
                    "price": float(price),
                    "remark": remark,
                },
            ),
        )
        return str(order_id)

    def cancel(self, order_id):
        order_id = int(order_id)
        refused = self._cancel_refused.get(order_id)
        if refused is not None and self.monotonic() - refused[0] < CANCEL_RETRY_AFTER:
            return False  # miniQMT refused it moments ago: not sent again yet
        return (
            self._trade("撤单 / cancel_order_stock", "cancel_order_stock", self.account, order_id)
            == 0
        )


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _give_main_thread_a_loop():
    """XtQuantTrader() on the main thread saves that thread's asyncio loop to restore it
    later and fails when an earlier user of asyncio left none set: set a new one then."""
    if threading.current_thread() is not threading.main_thread():
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            asyncio.get_event_loop()
            return
        except RuntimeError:
            pass
    asyncio.set_event_loop(asyncio.new_event_loop())
