"""The broker counter and the client's local query cache, as the QMT built-in sees them.

Used by `jq2qmt.sim.qmt_builtin`; it sits in front of the paper exchange, which stays
the single source of truth for cash, holdings and fills:

- `Counter` holds what `passorder` sent but the counter has not reported yet (status
  48 未报 / 49 待报, empty 合同编号 `m_strOrderSysID`, cash not frozen because the
  exchange does not know the order), and the time-ordered events that follow: the
  report (the order is placed on the exchange), a reject that shows 50 first and 57
  later, a cancel that shows 51/52 until the counter answers, status 86 for a moment.
- `TableCache` is one `get_trade_detail_data` table served from a snapshot that is
  refreshed on its own tick (every `lag` seconds from an origin plus a phase).

Everything runs on the simulated clock; nothing here reads the wall clock.
Python 3.6 syntax (the QMT simulator is also driven from CPython 3.6).
"""

import datetime
import heapq
import math

STATUS_UNREPORTED = 48  # 未报
STATUS_WAIT_REPORT = 49  # 待报
STATUS_REPORTED = 50  # 已报
STATUS_REPORTED_CANCEL = 51  # 已报待撤
STATUS_PARTSUCC_CANCEL = 52  # 部成待撤
STATUS_PART_CANCEL = 53
STATUS_CANCELED = 54
STATUS_PART_SUCC = 55
STATUS_SUCCEEDED = 56
STATUS_JUNK = 57
STATUS_86 = 86  # a transient state some builds show; open for every purpose
FINAL_STATUSES = (STATUS_PART_CANCEL, STATUS_CANCELED, STATUS_SUCCEEDED, STATUS_JUNK)
_EXCHANGE_OPEN = (STATUS_REPORTED, STATUS_PART_SUCC)


def seconds_between(start, end):
    return (end - start).total_seconds()


class CounterOrder:
    """One order as the counter knows it (also for orders placed by other clients,
    which get a record only when this client cancels them)."""

    def __init__(self, key, code, side, volume, price, remark, inserted):
        self.key = key
        self.code = code
        self.side = side
        self.volume = volume
        self.price = price
        self.remark = remark
        self.inserted = inserted
        self.status = STATUS_UNREPORTED
        self.order_id = None  # the exchange's id = 合同编号, once reported
        self.reject_pending = False  # rejected, the counter still shows 50
        self.cancel_pending = False  # cancel sent, the counter still shows 51/52
        self.show_86 = False


class Counter:
    """Orders between `passorder` and the exchange, and their delayed status changes."""

    def __init__(
        self, exchange, report_delay=0.0, reject_delay=0.0, cancel_delay=0.0, status_86=False
    ):
        for name, value in (
            ("report_delay", report_delay),
            ("reject_delay", reject_delay),
            ("cancel_delay", cancel_delay),
        ):
            if value is None or value < 0:
                raise ValueError("%s must be >= 0 seconds: %r" % (name, value))
        self.exchange = exchange
        self.report_delay = float(report_delay)
        self.reject_delay = float(reject_delay)
        self.cancel_delay = float(cancel_delay)
        if status_86 is True:
            status_86 = 0.5
        self.status_86 = float(status_86 or 0.0)
        self.records = []  # every CounterOrder created by passorder, in order
        self._by_order_id = {}  # exchange order id -> CounterOrder
        self._events = []  # heap of (time, seq, kind, record)
        self._seq = 0

    # ---- events -----------------------------------------------------------------------
    def _push(self, when, kind, record):
        self._seq += 1
        heapq.heappush(self._events, (when, self._seq, kind, record))

    def next_event_time(self):
        return self._events[0][0] if self._events else None

    def process_next(self):
        when, _, kind, record = heapq.heappop(self._events)
        getattr(self, "_on_" + kind)(record, when)
        return when

    def _on_wait(self, record, when):
        if record.status == STATUS_UNREPORTED:
            record.status = STATUS_WAIT_REPORT

    def _on_report(self, record, when):
        order = self.exchange.place_order(
            record.code, record.side, record.volume, record.price, remark=record.remark
        )
        record.order_id = str(order["order_id"])
        record.status = STATUS_REPORTED
        self._by_order_id[record.order_id] = record
        if order["status"] == STATUS_JUNK:
            if self.reject_delay > 0:
                record.reject_pending = True
                self._push(when + datetime.timedelta(seconds=self.reject_delay), "reject", record)
        elif self.status_86 > 0:
            record.show_86 = True
            self._push(when + datetime.timedelta(seconds=self.status_86), "end86", record)

    def _on_reject(self, record, when):
        record.reject_pending = False

    def _on_end86(self, record, when):
        record.show_86 = False

    def _on_cancel(self, record, when):
        record.cancel_pending = False
        order = self.exchange.get_order(record.order_id)
        if order is not None and order["status"] in _EXCHANGE_OPEN:
            self.exchange.cancel_order(record.order_id)

    # ---- passorder / cancel -------------------------------------------------------------
    def submit(self, code, side, volume, price, remark, now):
        """A new order from passorder: reported now (no delay) or after report_delay."""
        record = CounterOrder(
            "L%d" % (len(self.records) + 1), code, side, volume, price, remark, now
        )
        self.records.append(record)
        if self.report_delay <= 0:
            self._on_report(record, now)
        else:
            self._push(now + datetime.timedelta(seconds=self.report_delay / 2.0), "wait", record)
            self._push(now + datetime.timedelta(seconds=self.report_delay), "report", record)
        return record

    def cancel(self, order_id, now):
        """True when the cancel request was sent (the order is listed and not final)."""
        order_id = str(order_id or "")
        if not order_id:
            return False
        order = self.exchange.get_order(order_id)
        if order is None:
            return False
        record = self._by_order_id.get(order_id)
        if self.display_status(order, record) in FINAL_STATUSES:
            return False
        if self.cancel_delay <= 0:
            if record is not None and record.reject_pending:
                return True  # the counter accepts the request; the reject arrives anyway
            return bool(self.exchange.cancel_order(order_id))
        if record is None:  # an order of another client or session
            record = CounterOrder(
                "X" + order_id,
                order["code"],
                order["side"],
                order["volume"],
                order["price"],
                order.get("remark"),
                None,
            )
            record.order_id = order_id
            record.status = STATUS_REPORTED
            self._by_order_id[order_id] = record
        if not record.cancel_pending:
            record.cancel_pending = True
            self._push(now + datetime.timedelta(seconds=self.cancel_delay), "cancel", record)
        return True

    # ---- what the client shows ------------------------------------------------------------
    def record_for(self, order_id):
        return self._by_order_id.get(str(order_id))

    def unreported(self):
        return [r for r in self.records if r.order_id is None]

    @staticmethod
    def display_status(order, record):
        """The status the counter reports for an exchange order and its record."""
        status = order["status"]
        if record is None:
            return status
        if record.reject_pending:
            return STATUS_REPORTED_CANCEL if record.cancel_pending else STATUS_REPORTED
        if record.cancel_pending and status in _EXCHANGE_OPEN:
            return STATUS_PARTSUCC_CANCEL if order["traded_volume"] else STATUS_REPORTED_CANCEL
        if record.show_86 and status == STATUS_REPORTED:
            return STATUS_86
        return status


class TableCache:
    """One query table refreshed every `lag` seconds at origin + phase + k * lag.

    `lag` 0 means live: `rows(build, now)` builds the rows at every call.
    """

    def __init__(self, lag, origin, phase=0.0):
        if lag is None or lag < 0 or phase is None or phase < 0:
            raise ValueError("cache lag and phase must be >= 0 seconds: %r, %r" % (lag, phase))
        self.lag = float(lag)
        self.origin = origin
        self.phase = float(phase)
        self.tick = None  # index of the tick of the current snapshot (-1: initial)
        self.rows_at = None  # the simulated time the snapshot stands for
        self.snapshot = None

    @property
    def live(self):
        return self.lag <= 0

    def _tick_at(self, when, strict):
        """Index of the latest tick at or before `when` (strictly before with strict)."""
        offset = seconds_between(self.origin, when) - self.phase
        ratio = offset / self.lag
        if strict:
            index = math.ceil(ratio - 1e-9) - 1
        else:
            index = math.floor(ratio + 1e-9)
        return max(index, -1)

    def refresh_to(self, when, build, strict=False):
        """Take the snapshot of the latest tick up to `when` if it is newer than ours.

        Between two counter events the state does not change, so one snapshot at the
        latest due tick stands for every tick in between.
        """
        if self.live:
            return
        index = self._tick_at(when, strict)
        if self.tick is not None and index <= self.tick:
            return
        if index < 0:
            at = when
        else:
            at = self.origin + datetime.timedelta(seconds=self.phase + index * self.lag)
        self.tick = index
        self.rows_at = at
        self.snapshot = build(at)

    def force(self, when, build):
        """A full refresh now (the client logged in again)."""
        if self.live:
            return
        self.tick = max(self._tick_at(when, False), self.tick if self.tick is not None else -1)
        self.rows_at = when
        self.snapshot = build(when)

    def rows(self, build, now):
        if self.live:
            return build(now)
        if self.snapshot is None:
            self.refresh_to(now, build)
        return list(self.snapshot)
