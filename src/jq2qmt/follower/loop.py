"""One sync round of the follower, shared by every broker.

fetch plan (conditional) -> read account -> engine -> cancel / place -> report.

Invariants (each has a test):
- a fetch error, a non-2xx answer or a malformed plan sends nothing;
- paused, dry-run, out-of-session and held rounds send nothing;
- our orders are recognised by remark (round id), open ones count as in flight and an
  order just placed counts until the broker lists it or the trading day ends (never
  dropped after a fixed time), so nothing is sent twice; the journal (journal.py)
  carries this across a re-run of the script and a restart of the client, and maps
  broker order ids back to our remarks when a restarted client lists them empty;
- brokers whose account data is a lagging cache (built-in QMT, `broker.account_lag`
  seconds): the cost of our buys is kept off the cash handed to the engine until the
  account has had time to freeze it, and a code whose order just traded waits that
  long for the holdings to show it, so stale cash or holdings never buy twice;
- a plan in preflight (an account the admin has not confirmed) is only looked at:
  the follower reads the account and reports what it sees, and sends nothing;
- quotes older than `max_quote_age` during a session skip their code;
- unfilled orders older than `order_timeout` are cancelled (and so re-priced by a
  later round), at most `max_reprices` times per code and side a day;
- reports that cannot be delivered are queued (bounded) and sent when the server is
  reachable again.

The clock is injected (`clock()` returns a naive datetime in exchange time).
Bundled into the exported QMT file: Python 3.6, stdlib only.
"""

import collections
import datetime
import importlib.util
import platform
import threading
import time

from ..brokers import base
from ..engine.plan import compute_plan as _engine_compute_plan
from . import safety, scheduler
from .client import FetchError, FetchPending

MAX_REJECTS = 3  # rejected orders per code and side a day before we stop retrying
MAX_SENDS_PER_ROUND = 5  # queued reports flushed per round (each bounded by a timeout)
PREFLIGHT_INTERVAL = 300.0  # s between detailed preflight reports of one plan version
PREFLIGHT_ROWS = 200  # positions / open orders listed in a preflight report
PREFLIGHT_QUOTES = 5
DEFAULT_MAX_QUOTE_AGE = 120.0  # s; a quote older than this during a session is stale
UNREPORTED_STATUSES = frozenset([base.ORDER_UNREPORTED, base.ORDER_WAIT_REPORTING])
BUY_COST_MARGIN = 1.001  # amount x this + 5 CNY covers commission, transfer fee, minimum
BUY_COST_MINIMUM_FEE = 5.0
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"


def _iso(when):
    return when.strftime(_TIME_FORMAT)


def _parse_iso(text):
    return datetime.datetime.strptime(text, _TIME_FORMAT)


def _buy_cost(volume, price):
    """What a buy may take from the cash, fees included (an upper bound)."""
    return float(volume) * float(price) * BUY_COST_MARGIN + BUY_COST_MINIMUM_FEE


class Follower(object):
    def __init__(
        self,
        broker,
        client,
        clock,
        compute_plan=None,
        log=None,
        max_queued_reports=100,
        resync_interval=60.0,
        heartbeat_interval=60.0,
        pending_grace=30.0,
        version=None,
        dry_run=False,
        journal=None,
        account_lag=None,
    ):
        self.broker = broker
        self.client = client
        self.clock = clock
        self._compute = compute_plan
        self.log = log or (lambda message: None)
        self.resync_interval = resync_interval
        self.heartbeat_interval = heartbeat_interval
        self.pending_grace = pending_grace  # s before an unlisted order is reported (kept)
        self.version = version  # the package version that runs, as the caller knows it
        self.force_dry_run = dry_run  # local switch: never send, whatever the plan says
        self.etag = None
        self.plan = None
        self.settings = None
        # seconds the broker's account data may lag behind its orders (0: live data)
        self.account_lag = float(
            getattr(broker, "account_lag", 0.0) if account_lag is None else account_lag
        )
        self.journal = journal
        self.day = None  # trading day the state below belongs to ('YYYY-MM-DD')
        self.pending = {}  # remark -> order we placed that the broker has not listed yet
        self.first_seen = {}  # remark -> when we first saw our order open
        self.reported_at = {}  # remark -> when we first saw our order accepted (cash frozen)
        self.traded = {}  # remark -> traded volume last seen
        self.ours_by_id = {}  # broker order id -> our remark
        self.settling = {}  # code -> {"at", "expect"}: our fill the holdings lack yet
        self.held_seen = {}  # code -> volume held at the previous full round
        self.known_final = set()  # remarks already reported as rejected / finished
        self.fills_reported = set()  # trade ids of our fills already in a report today
        self.order_states = {}  # remark -> (status, traded volume) last reported
        self.unlisted_warned = set()  # pending remarks already reported as not listed
        self.place_failures = collections.Counter()  # (code, side) -> BrokerError count
        self.async_rejects = []  # orders the platform refused after placing (orderError)
        self.preflight_sent = None  # (plan_version, when) of the last preflight report
        self.last_failure = None  # (message, when) last logged
        self.queue = collections.deque(maxlen=max_queued_reports)
        self.counter = 0
        self.tag = scheduler.new_process_tag()
        self.settled = False
        self.last_full_round = None
        self.last_phase = None
        self.preopen = None
        self.held = {}  # plan_version we held -> its content (see _approved)
        self.last_report_key = None
        self.last_report_at = None
        self.last_report = None

    # ---- the round ----------------------------------------------------------------
    def run_round(self, wait=0):
        """Run one round; returns its report (also sent to the server when relevant)."""
        now = self.clock()
        self.counter += 1
        self._start_day(now)
        report = self._new_report(scheduler.make_round_id(now, self.counter, self.tag))
        report["at"] = _iso(now)
        report["rejected"].extend(self.async_rejects)
        self.async_rejects = []
        try:
            changed = self._refresh_plan(wait)
            self._round(now, changed, report)
        except FetchPending:
            report["quiet"] = True  # the first answer of the server is on its way
        except (FetchError, safety.PlanError) as exc:
            self._fail(report, str(exc))
        except base.BrokerError as exc:
            self._fail(report, "券商接口错误 / broker error: %s" % (exc,))
        except Exception as exc:  # never let one round abort the follower
            self._fail(report, "内部错误 / internal error: %s: %s" % (type(exc).__name__, exc))
        self.last_report = report
        self._save_journal()
        self._deliver(report, now)
        return report

    # ---- state that survives a re-run or a restart (journal.py) ------------------------
    def _start_day(self, now):
        day = now.date().isoformat()
        if day == self.day:
            return
        if self.day is not None:  # a new trading day: yesterday's orders are gone
            self._reset_day_state()
        self.day = day
        if self.journal is not None:
            self._restore(self.journal.load(day))

    def _reset_day_state(self):
        for table in (
            self.pending,
            self.first_seen,
            self.reported_at,
            self.traded,
            self.ours_by_id,
            self.settling,
        ):
            table.clear()
        self.known_final.clear()
        self.fills_reported.clear()
        self.order_states.clear()
        self.unlisted_warned.clear()
        self.place_failures.clear()

    def _restore(self, state):
        for remark, order in (state.get("pending") or {}).items():
            order = dict(order)
            order["placed_at"] = _parse_iso(order["placed_at"])
            self.pending.setdefault(remark, order)
        for name in ("first_seen", "reported_at"):
            table = getattr(self, name)
            for remark, when in (state.get(name) or {}).items():
                table.setdefault(remark, _parse_iso(when))
        for code, entry in (state.get("settling") or {}).items():
            self.settling.setdefault(
                code, {"at": _parse_iso(entry["at"]), "expect": int(entry["expect"])}
            )
        self.traded.update(state.get("traded") or {})
        self.ours_by_id.update(state.get("ours_by_id") or {})
        self.known_final.update(state.get("known_final") or [])
        self.unlisted_warned.update(state.get("unlisted_warned") or [])
        for key, count in (state.get("place_failures") or {}).items():
            code, _, side = key.rpartition("|")
            self.place_failures[(code, side)] = max(self.place_failures[(code, side)], count)

    def _state(self):
        pending = {}
        for remark, order in self.pending.items():
            order = dict(order)
            order["placed_at"] = _iso(order["placed_at"])
            pending[remark] = order
        return {
            "pending": pending,
            "first_seen": dict((r, _iso(w)) for r, w in self.first_seen.items()),
            "reported_at": dict((r, _iso(w)) for r, w in self.reported_at.items()),
            "settling": dict(
                (c, {"at": _iso(e["at"]), "expect": e["expect"]}) for c, e in self.settling.items()
            ),
            "traded": dict(self.traded),
            "ours_by_id": dict(self.ours_by_id),
            "known_final": sorted(self.known_final),
            "unlisted_warned": sorted(self.unlisted_warned),
            "place_failures": dict(("%s|%s" % key, n) for key, n in self.place_failures.items()),
        }

    def _save_journal(self):
        if self.journal is not None and self.day is not None:
            self.journal.save(self.day, self._state())

    def order_error(self, remark, message):
        """The platform refused an order after `place` returned (QMT's
        orderError_callback): it will never be listed, so it leaves the in-flight set
        and counts as a rejection. True when `remark` was ours and pending."""
        order = self.pending.pop(remark, None)
        if order is None:
            return False
        self.place_failures[(order["code"], order["side"])] += 1
        self.async_rejects.append(
            {
                "code": order["code"],
                "side": order["side"],
                "volume": order["volume"],
                "price": order["price"],
                "reason": str(message or "下单被拒绝 / order refused"),
                "remark": remark,
            }
        )
        self.log("order %s refused: %s" % (remark, message))
        self._save_journal()
        return True

    def _fail(self, report, message):
        report["status"] = "error"
        report["errors"].append(message)
        self.settled = False
        now = self.clock()
        last = self.last_failure
        if last is None or last[0] != message or (now - last[1]).total_seconds() >= 60:
            self.last_failure = (message, now)  # a repeated failure is logged once a minute
            self.log("round %s error: %s" % (report["round_id"], message))

    def _refresh_plan(self, wait):
        """Fetch the plan; True when it changed. Raises FetchError / PlanError."""
        wait = wait if (self.settled and self.plan is not None) else 0
        resp = self.client.fetch_plan(self.etag if self.plan is not None else None, wait)
        if resp.status == 304:
            return False
        try:
            settings = safety.validate_plan(resp.plan)
        except safety.PlanError:
            self.plan, self.etag, self.settings = None, None, None
            raise
        changed = (
            self.plan is None
            or resp.plan["plan_version"] != self.plan["plan_version"]
            or resp.plan != self.plan
        )
        self.plan, self.settings = resp.plan, settings
        self.etag = resp.etag or '"%s"' % resp.plan["plan_version"]
        return changed

    def _round(self, now, changed, report):
        plan, settings = self.plan, self.settings
        report["plan_version"] = plan["plan_version"]
        if plan.get("preflight") is True:
            self._preflight(now, report)
            return
        sessions = settings["sessions"]
        holidays = settings.get("holidays")
        phase = (
            "open"
            if scheduler.in_session(now, sessions, holidays=holidays)
            else ("preopen" if scheduler.is_preopen(now, sessions, holidays=holidays) else "closed")
        )
        phase_changed = phase != self.last_phase
        self.last_phase = phase
        if plan["paused"] or phase == "closed":
            # nothing to watch until the plan or the phase changes: long-poll is fine
            report["status"] = "paused" if plan["paused"] else "outside_session"
            self.settled = True
            return
        if self._can_skip(now, changed or phase_changed, phase):
            report["status"] = "idle"
            report["quiet"] = True
            return
        self.last_full_round = now
        self._full_round(now, phase, report)

    # ---- preflight: look, never trade ------------------------------------------------------
    def _preflight(self, now, report):
        """An account the admin has not confirmed: read what the broker shows and
        report it (status "preflight"); no order or cancel is ever sent."""
        report["status"] = "preflight"
        self.settled = True
        last = self.preflight_sent
        if (
            last is not None
            and last[0] == self.plan["plan_version"]
            and (now - last[1]).total_seconds() < PREFLIGHT_INTERVAL
        ):
            report["quiet"] = True
            return
        started = time.perf_counter()
        seen = {
            "at": _iso(now),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "broker": self.broker.kind,
            "positions": [],
            "asset": None,
            "open_orders": [],
            "quotes": [],
            "fields": {},
            "checks": self._checks(),
            "errors": [],
        }
        self._look(seen, now)
        seen["round_ms"] = round((time.perf_counter() - started) * 1000.0, 1)
        self.preflight_sent = (self.plan["plan_version"], now)
        self._send(
            {"kind": "preflight", "follower": report["follower"], "preflight": seen}, now, True
        )
        self.log(
            "预检：%d 个持仓，%d 笔未完成委托，%s / preflight sent"
            % (
                len(seen["positions"]),
                len(seen["open_orders"]),
                "现金 %.2f" % seen["asset"]["cash"] if seen["asset"] else "资金未读到",
            )
        )

    def _look(self, seen, now):
        errors = seen["errors"]
        try:
            positions = self.broker.positions()
            seen["positions"] = [
                dict(
                    (k, p.get(k)) for k in ("code", "volume", "can_use_volume", "avg_cost", "name")
                )
                for p in positions[:PREFLIGHT_ROWS]
            ]
        except Exception as exc:  # report what failed, keep looking at the rest
            positions = []
            errors.append("持仓 / positions: %s: %s" % (type(exc).__name__, exc))
        try:
            seen["asset"] = dict(self.broker.asset())
        except Exception as exc:
            errors.append("资金 / asset: %s: %s" % (type(exc).__name__, exc))
        try:
            seen["open_orders"] = [
                dict(
                    (k, o.get(k))
                    for k in (
                        "order_id",
                        "code",
                        "side",
                        "volume",
                        "traded_volume",
                        "price",
                        "status",
                        "remark",
                    )
                )
                for o in self.broker.orders()
                if base.is_open(o["status"])
            ][:PREFLIGHT_ROWS]
        except Exception as exc:
            errors.append("委托 / orders: %s: %s" % (type(exc).__name__, exc))
        codes = [p["code"] for p in positions]
        for target in self.plan["targets"]:
            codes.extend(p["code"] for p in target["positions"])
        wanted = []
        for code in codes:
            if code not in wanted and not safety.matches_ignore(code, self.settings["ignore"]):
                wanted.append(code)
        try:
            quotes = self.broker.quotes(wanted[:PREFLIGHT_QUOTES])
            for code in wanted[:PREFLIGHT_QUOTES]:
                quote = quotes.get(code)
                if quote is not None:
                    age = base.quote_age(quote, now)
                    seen["quotes"].append(
                        {
                            "code": code,
                            "last": quote.get("last"),
                            "bid1": quote.get("bid1"),
                            "ask1": quote.get("ask1"),
                            "age_seconds": None if age is None else round(age, 1),
                        }
                    )
        except Exception as exc:
            errors.append("行情 / quotes: %s: %s" % (type(exc).__name__, exc))
        fields = getattr(self.broker, "fields", None)
        if fields is not None:
            seen["fields"] = fields()

    def _checks(self):
        status = getattr(self.client, "status", None)
        mode = status().get("mode") if status is not None else "sync"
        checks = {
            "http": mode,
            "threads": _threads_work(),
            "requests": _has_requests(),
            "journal": None,
        }
        if self.journal is not None:
            checks["journal"] = self.journal.path
            if self.journal.error:
                checks["journal_error"] = self.journal.error
        return checks

    def _can_skip(self, now, changed, phase):
        if changed or not self.settled or self.last_full_round is None:
            return False
        if phase == "preopen" and self.preopen is not None:
            return (now - self.preopen["at"]).total_seconds() < self.resync_interval
        return (now - self.last_full_round).total_seconds() < self.resync_interval

    def _full_round(self, now, phase, report):
        plan, settings = self.plan, self.settings
        account = self._read_account(report)
        ours = self._ours(account["orders"])
        self._track(ours, now, report)
        self._report_fills(ours, now, report)
        self._settle(ours, now, account["positions"])
        stale, skipped = self._stale_orders(ours, now, settings)
        report["skipped"].extend(skipped)
        if phase == "open" and self._fire_preopen(now, ours, report):
            return
        approved = self._approved(plan)
        result, orders = self._compute_orders(account, ours, report, now, phase, lift_cap=approved)
        reason = self._hold_reason(account, result, orders)
        if reason and not approved:
            report["status"] = "held"
            report["held_reason"] = reason
            report["would_place"] = [self._placed(o, None, None) for o in orders]
            report["strategy_versions"] = dict(
                (t["strategy"], t.get("version")) for t in plan["targets"]
            )
            self.held[plan["plan_version"]] = safety.content_key(plan)
            self.settled = True
            return
        if phase == "preopen":
            self.preopen = {
                "version": plan["plan_version"],
                "at": now,
                "orders": orders,
                "day": now.date(),
            }
            report["status"] = "outside_session"
            self.settled = True
            return
        if plan["dry_run"] or self.force_dry_run:
            report["status"] = "dry_run"
            report["placed"] = [self._placed(o, None, None) for o in orders]
            self.settled = True
            return
        cancel_ids = self._cancel(stale, result.get("cancels") or [], ours, report)
        orders = [o for o in orders if o["code"] not in cancel_ids]
        sent_all = self._place(orders, report)
        report["status"] = "ok" if (report["placed"] or report["cancelled"]) else "idle"
        self.settled = sent_all and not (
            report["placed"]
            or report["cancelled"]
            or self.pending
            or any(base.is_open(o["status"]) for o in ours)
        )

    # ---- account and engine ------------------------------------------------------------
    def _read_account(self, report):
        positions = self.broker.positions()
        asset = self.broker.asset()
        orders = self.broker.orders()
        report["account"] = {
            "cash": asset["cash"],
            "total_asset": asset["total_asset"],
            "market_value": asset.get("market_value"),
            "positions": [
                {
                    "code": p["code"],
                    "volume": p["volume"],
                    "can_use_volume": p["can_use_volume"],
                    "avg_cost": p.get("avg_cost"),
                }
                for p in positions
            ],
        }
        return {"positions": positions, "asset": asset, "orders": orders}

    def _ours(self, orders):
        """Our orders among the broker's: by remark, or, when a restarted client lists
        them with an empty remark, by the broker order id the journal remembers, or by
        the details of an order we placed and have not seen listed yet."""
        unclaimed = dict(self.pending)
        for order in orders:
            unclaimed.pop(order["remark"], None)
        ours = []
        for order in orders:
            if not order["remark"]:
                order["remark"] = self.ours_by_id.get(order["order_id"] or "") or self._claim(
                    order, unclaimed
                )
            if scheduler.is_our_remark(order["remark"]):
                ours.append(order)
        return ours

    @staticmethod
    def _claim(order, unclaimed):
        for remark, placed in sorted(unclaimed.items()):
            if (placed["code"], placed["side"], placed["volume"]) == (
                order["code"],
                order["side"],
                order["volume"],
            ) and abs(float(placed["price"]) - float(order["price"] or 0)) < 1e-6:
                del unclaimed[remark]
                return remark
        return ""

    def _track(self, ours, now, report):
        """Follow our orders: confirm pending ones, note new rejections and fills."""
        for order in ours:
            remark = order["remark"]
            self.pending.pop(remark, None)
            status = order["status"]
            if order["order_id"]:
                self.ours_by_id[order["order_id"]] = remark
            if status not in UNREPORTED_STATUSES and status != base.ORDER_JUNK:
                self.reported_at.setdefault(remark, now)
            if base.is_open(status):
                self.first_seen.setdefault(remark, now)
            elif remark not in self.known_final:
                self.known_final.add(remark)
                self.first_seen.pop(remark, None)
                if status == base.ORDER_JUNK:
                    report["rejected"].append(
                        {
                            "code": order["code"],
                            "side": order["side"],
                            "volume": order["volume"],
                            "price": order["price"],
                            "reason": order.get("status_msg") or "废单",
                            "order_id": order["order_id"],
                            "remark": remark,
                        }
                    )
        for remark, order in sorted(self.pending.items()):
            waited = (now - order["placed_at"]).total_seconds()
            if waited > self.pending_grace and remark not in self.unlisted_warned:
                self.unlisted_warned.add(remark)
                report["errors"].append(
                    "委托 %s 下单 %d 秒后仍未出现在委托列表，按在途计算直到出现或收盘（QMT「模拟」"
                    "运行方式不会真正下单）/ order not listed by the broker yet; it stays in "
                    "flight until listed or the day ends" % (remark, int(waited))
                )

    def _reserved_cash(self, ours, now):
        """Cash the broker's account data may not show as spent yet: our buys not
        listed, not accepted, or accepted less than `account_lag` seconds ago."""
        reserved = 0.0
        for order in self.pending.values():
            if order["side"] == base.BUY:
                reserved += _buy_cost(order["volume"], order["price"])
        for order in ours:
            if order["side"] != base.BUY or order["status"] == base.ORDER_JUNK:
                continue
            accepted = self.reported_at.get(order["remark"])
            if accepted is None or (now - accepted).total_seconds() < self.account_lag:
                reserved += _buy_cost(order["volume"], order["price"])
        return reserved

    def _settle(self, ours, now, positions):
        """Note fills of our orders that the holdings do not show yet.

        A fill moves the holding by its volume; while the broker's positions (a cache
        lagging the orders on built-in QMT) still show the volume from before, the
        code is "settling": nothing new is sent for it until the holding moved or
        `account_lag` seconds passed.
        """
        held = dict((p["code"], int(p["volume"])) for p in positions)
        moved = {}
        for order in ours:
            traded = int(order["traded_volume"] or 0)
            delta = traded - self.traded.get(order["remark"], 0)
            if delta > 0:
                self.traded[order["remark"]] = traded
                moved[order["code"]] = moved.get(order["code"], 0) + (
                    delta if order["side"] == base.BUY else -delta
                )
        for code, delta in moved.items():
            entry = self.settling.get(code)
            expect = (entry["expect"] if entry else self.held_seen.get(code, 0)) + delta
            self.settling[code] = {"at": now, "expect": expect}
        for code, entry in list(self.settling.items()):
            if (
                held.get(code, 0) == entry["expect"]
                or (now - entry["at"]).total_seconds() >= self.account_lag
            ):
                del self.settling[code]
        self.held_seen = held

    def _settling_codes(self, now):
        """Codes whose holdings do not show our latest fill yet (see `_settle`)."""
        return set(self.settling)

    def _stale_orders(self, ours, now, settings):
        """Our open orders past `order_timeout` that may still be re-priced."""
        timeout = settings.get("order_timeout")
        max_reprices = int(settings.get("max_reprices") or 0)
        cancelled = collections.Counter(
            (o["code"], o["side"]) for o in ours if o["status"] in base.CANCELLED_STATUSES
        )
        stale, skipped = [], []
        if timeout is None:
            return stale, skipped
        for order in ours:
            if not base.is_cancellable(order["status"]) or not order["order_id"]:
                continue
            seen = self.first_seen.get(order["remark"], now)
            if (now - seen).total_seconds() < float(timeout):
                continue
            key = (order["code"], order["side"])
            if cancelled[key] >= max_reprices:
                skipped.append(
                    {
                        "code": order["code"],
                        "reason": "max_reprices",
                        "detail": "已重新定价 %d 次 / re-priced %d times"
                        % (cancelled[key], cancelled[key]),
                    }
                )
                continue
            cancelled[key] += 1
            stale.append(order)
        return stale, skipped

    @staticmethod
    def _gross_sellable(account):
        """Positions with can_use_volume before open sells are taken off.

        QMT (built-in and xtquant) freezes the shares of an open sell order, so the
        broker's can_use_volume is already net of them; the engine subtracts open
        sells itself (the scenario contract, docs/engine.md), so they are added back here. Orders
        placed but not yet listed by the broker are not added back: if the broker has
        frozen them already, the follower under-sells once, never over-sells.
        """
        selling = {}
        for order in account["orders"]:
            if base.is_open(order["status"]) and order["side"] == base.SELL:
                left = max(0, int(order["volume"]) - int(order["traded_volume"] or 0))
                selling[order["code"]] = selling.get(order["code"], 0) + left
        return [
            {
                "code": p["code"],
                "volume": p["volume"],
                "can_use_volume": min(p["volume"], p["can_use_volume"] + selling.get(p["code"], 0)),
            }
            for p in account["positions"]
        ]

    def _open_orders(self, account):
        result = []
        for index, order in enumerate(account["orders"]):
            if base.is_open(order["status"]):
                # an order the counter has not numbered yet has no id: keep ids unique
                result.append(
                    {
                        "order_id": order["order_id"] or order["remark"] or "unnumbered-%d" % index,
                        "code": order["code"],
                        "side": order["side"],
                        "volume": order["volume"],
                        "traded_volume": order["traded_volume"],
                        "price": order["price"],
                    }
                )
        for remark, order in self.pending.items():
            result.append(
                {
                    "order_id": remark,
                    "code": order["code"],
                    "side": order["side"],
                    "volume": order["volume"],
                    "traded_volume": 0,
                    "price": order["price"],
                }
            )
        return result

    def _scenario(self, account, quotes, ignore_codes, lift_cap, reserved=0.0):
        plan, settings = self.plan, self.settings
        engine_settings = dict((k, settings[k]) for k in safety.ENGINE_SETTINGS if k in settings)
        if lift_cap:  # an approved plan trades in full what max_order_value held back
            engine_settings.pop("max_order_value", None)
        patterns = [p for p in settings["ignore"] if "*" in str(p) or "?" in str(p)]
        engine_settings["ignore"] = patterns + sorted(ignore_codes)
        targets = [
            {
                "strategy": t["strategy"],
                "positions": [
                    dict((k, p[k]) for k in ("code", "volume", "cost") if k in p)
                    for p in t["positions"]
                ],
                "portfolio_value": t.get("portfolio_value"),
            }
            for t in plan["targets"]
        ]
        for target in targets:
            if target["portfolio_value"] is None:
                del target["portfolio_value"]
        return {
            "targets": targets,
            "follow": plan["follow"],
            "account": {
                "cash": max(0.0, float(account["asset"]["cash"]) - reserved),
                "positions": self._gross_sellable(account),
                "open_orders": self._open_orders(account),
            },
            "quotes": quotes,
            "settings": engine_settings,
        }

    def _codes(self, account):
        codes = set(p["code"] for p in account["positions"])
        codes.update(o["code"] for o in account["orders"] if base.is_open(o["status"]))
        for target in self.plan["targets"]:
            codes.update(p["code"] for p in target["positions"])
        return codes

    def _compute_orders(self, account, ours, report, now, phase, lift_cap=False):
        ignore = self.settings["ignore"]
        codes = self._codes(account)
        ignore_codes = set(c for c in codes if safety.matches_ignore(c, ignore))
        quotes = self.broker.quotes(sorted(codes - ignore_codes))
        stale = self._stale_quotes(quotes, now, phase)
        for code in stale:
            del quotes[code]
        reserved = self._reserved_cash(ours, now)
        compute = self._compute or _engine_compute_plan
        result = compute(self._scenario(account, quotes, ignore_codes, lift_cap, reserved))
        # what the server needs to judge the tracking: the prices the plan used (with
        # the quote's time), the engine's target volumes, each order's reference price
        report["prices"] = dict(
            (code, {"price": q.get("last"), "time": q.get("timetag")})
            for code, q in sorted(quotes.items())
        )
        report["target"] = dict(result.get("targets") or {})
        for order in result.get("orders") or []:
            order.setdefault("ref_price", (quotes.get(order["code"]) or {}).get("last"))
        report["skipped"].extend(
            s
            for s in result.get("skipped") or []
            if not (s.get("code") in stale and s.get("reason") == "no_quote")
        )
        report["skipped"].extend(stale[code] for code in sorted(stale))
        if reserved > 0:
            report["reserved_cash"] = round(reserved, 2)
        orders = self._drop_repeated_rejects(result.get("orders") or [], ours, report)
        orders = self._drop_settling(orders, now, report)
        warning = safety.capital_warning(self.plan, account["asset"]["total_asset"])
        if warning:
            report["errors"].append(warning)
        return result, orders

    def _stale_quotes(self, quotes, now, phase):
        """{code: skipped entry} for quotes older than `max_quote_age` in a session."""
        limit = self.settings.get("max_quote_age", DEFAULT_MAX_QUOTE_AGE)
        if phase != "open" or limit is None:
            return {}
        stale = {}
        for code, quote in quotes.items():
            age = base.quote_age(quote, now)
            if age is not None and age > float(limit):
                stale[code] = {
                    "code": code,
                    "reason": "stale_quote",
                    "detail": "行情已 %d 秒未更新 / quote is %d s old" % (int(age), int(age)),
                }
        return stale

    def _drop_settling(self, orders, now, report):
        settling = self._settling_codes(now)
        if not settling:
            return orders
        kept = []
        for order in orders:
            if order["code"] in settling:
                report["skipped"].append(
                    {
                        "code": order["code"],
                        "reason": "settling",
                        "detail": "刚有成交，等待持仓更新（%g 秒）/ waiting for the holdings to "
                        "show a fill" % self.account_lag,
                    }
                )
            else:
                kept.append(order)
        return kept

    def _drop_repeated_rejects(self, orders, ours, report):
        rejects = collections.Counter(
            (o["code"], o["side"]) for o in ours if o["status"] == base.ORDER_JUNK
        )
        rejects.update(self.place_failures)
        kept = []
        for order in orders:
            if rejects[(order["code"], order["side"])] >= MAX_REJECTS:
                report["skipped"].append(
                    {
                        "code": order["code"],
                        "reason": "rejected",
                        "detail": "今日已被拒绝 %d 次 / rejected repeatedly today"
                        % rejects[(order["code"], order["side"])],
                    }
                )
            else:
                kept.append(order)
        return kept

    def _hold_reason(self, account, result, orders):
        reason = safety.empty_account_hold(
            self.plan, account["positions"], result.get("targets") or {}, self.settings["ignore"]
        )
        reason = reason or safety.order_value_hold(result.get("skipped") or [])
        return reason or safety.turnover_hold(
            orders, account["asset"]["total_asset"], self.settings.get("max_turnover")
        )

    def _approved(self, plan):
        """The admin approved this plan: its own version, or the held version whose
        targets and settings it still has (approving changes the plan's version)."""
        approved = plan.get("approved_version")
        if not approved:
            return False
        if approved == plan["plan_version"]:
            return True
        return self.held.get(approved) == safety.content_key(plan)

    def _fire_preopen(self, now, ours, report):
        """At the open, send what was computed before it, unless we already traded today."""
        pre, self.preopen = self.preopen, None
        if pre is None or pre["version"] != self.plan["plan_version"]:
            return False
        if (
            pre["day"] != now.date()
            or ours
            or self.pending
            or self.plan["dry_run"]
            or self.force_dry_run
        ):
            return False
        self._place(pre["orders"], report)
        report["status"] = "ok" if report["placed"] else "idle"
        self.settled = not report["placed"]
        return True

    # ---- acting ---------------------------------------------------------------------------
    def _cancel(self, stale, engine_cancels, ours, report):
        """Cancel stale orders and the engine's cancels (only ours); returns their codes."""
        by_id = dict((o["order_id"], o) for o in ours if o["order_id"])
        todo = [(o, "timeout") for o in stale]
        for item in engine_cancels:
            order = by_id.get(str(item.get("order_id")))
            if order is None:
                if str(item.get("order_id")) not in self.pending:
                    report["skipped"].append(
                        {
                            "code": item.get("code"),
                            "reason": "open_order_not_ours",
                            "detail": "未完成的手工委托 %s 挡住了调仓 / a manual open order blocks "
                            "this code" % item.get("order_id"),
                        }
                    )
            elif base.is_cancellable(order["status"]) and order not in stale:
                todo.append((order, item.get("reason") or "engine"))
        # codes the engine wants to cancel on get no new order this round, even when the
        # order is not ours or not listed yet: next round sees what the cancel left
        codes = set(item.get("code") for item in engine_cancels if item.get("code"))
        for order, reason in todo:
            ok = self.broker.cancel(order["order_id"])
            codes.add(order["code"])
            report["cancelled"].append(
                {
                    "order_id": order["order_id"],
                    "reason": reason,
                    "code": order["code"],
                    "ok": bool(ok),
                }
            )
        return codes

    def _place(self, orders, report):
        now = self.clock()
        for index, order in enumerate(orders):
            remark = scheduler.make_remark(report["round_id"], index)
            try:
                order_id = self.broker.place(
                    order["code"],
                    order["side"],
                    int(order["volume"]),
                    float(order["price"]),
                    remark,
                )
            except base.BrokerUnavailable as exc:
                # nothing was sent and the order was not judged: not a rejection
                report["errors"].append(
                    "券商暂不可用，本轮其余委托未发出 / broker unavailable: %s" % (exc,)
                )
                return False
            except base.BrokerError as exc:
                self.place_failures[(order["code"], order["side"])] += 1
                report["rejected"].append(
                    {
                        "code": order["code"],
                        "side": order["side"],
                        "volume": order["volume"],
                        "price": order["price"],
                        "reason": str(exc),
                    }
                )
                continue
            self.pending[remark] = {
                "code": order["code"],
                "side": order["side"],
                "volume": int(order["volume"]),
                "price": order["price"],
                "placed_at": now,
            }
            self.first_seen[remark] = now
            report["placed"].append(self._placed(order, order_id, remark))
            self.log(
                "placed %s %s %s @ %s (%s)"
                % (order["side"], order["code"], order["volume"], order["price"], remark)
            )
        return True

    @staticmethod
    def _placed(order, order_id, remark):
        return {
            "code": order["code"],
            "side": order["side"],
            "volume": int(order["volume"]),
            "price": order["price"],
            "order_id": order_id,
            "remark": remark,
            "ref_price": order.get("ref_price"),
        }

    def _report_fills(self, ours, now, report):
        """Put into the report our orders whose status or traded volume changed
        (``orders``) and our fills not reported yet today (``fills``), when the broker
        lists fills (`trades()`); a fill without a broker time gets the round's."""
        updates = []
        for order in ours:
            state = (order["status"], int(order["traded_volume"] or 0))
            if self.order_states.get(order["remark"]) != state:
                self.order_states[order["remark"]] = state
                updates.append(
                    {
                        "order_id": order["order_id"],
                        "remark": order["remark"],
                        "code": order["code"],
                        "side": order["side"],
                        "volume": order["volume"],
                        "price": order["price"],
                        "traded_volume": state[1],
                        "status": state[0],
                        "status_msg": order.get("status_msg") or "",
                    }
                )
        if updates:
            report["orders"] = updates
        if not hasattr(self.broker, "trades"):
            return
        try:
            trades = self.broker.trades()
        except base.BrokerError as exc:  # the fills wait for a later round; trading goes on
            report["errors"].append("成交查询失败 / trades query failed: %s" % (exc,))
            return
        remarks = dict((o["order_id"], o["remark"]) for o in ours if o["order_id"])
        fills = []
        for trade in trades:
            remark = remarks.get(trade.get("order_id")) or trade.get("remark") or ""
            if not scheduler.is_our_remark(remark) or trade["trade_id"] in self.fills_reported:
                continue
            self.fills_reported.add(trade["trade_id"])
            fills.append(
                {
                    "trade_id": trade["trade_id"],
                    "order_id": trade.get("order_id"),
                    "remark": remark,
                    "code": trade["code"],
                    "side": trade["side"],
                    "volume": int(trade["volume"]),
                    "price": float(trade["price"]),
                    "time": trade.get("time") or _iso(now),
                }
            )
        if fills:
            report["fills"] = fills

    # ---- reports --------------------------------------------------------------------------
    def _new_report(self, round_id):
        return {
            "kind": "round",
            "round_id": round_id,
            "plan_version": None,
            "status": "idle",
            "account": None,
            "placed": [],
            "cancelled": [],
            "rejected": [],
            "skipped": [],
            "held_reason": None,
            "errors": [],
            "follower": {"kind": self.broker.kind, "version": self.version},
        }

    def _deliver(self, report, now):
        quiet = report.pop("quiet", False)
        acted = (
            report["status"] != "dry_run"
            and (report["placed"] or report["cancelled"] or report["rejected"])
            or bool(report.get("fills") or report.get("orders"))
        )
        key = (
            report["status"],
            report["plan_version"],
            tuple(report["errors"]),
            report["held_reason"],
        )
        due = (
            self.last_report_at is None
            or (now - self.last_report_at).total_seconds() >= self.heartbeat_interval
        )
        if not acted and (quiet or key == self.last_report_key):
            if due or self.queue:
                self._send({"kind": "heartbeat", "follower": report["follower"]}, now, False)
            return
        self.last_report_key = key
        self._send(report, now, True)

    def _send(self, payload, now, keep):
        """Send `payload` after the queued reports; queue it on failure if `keep`.

        A heartbeat (`keep` false) is never queued; with reports waiting, flushing
        them stands in for it.
        """
        if keep:
            self.queue.append(payload)
        elif not self.queue:
            try:
                self.client.send_report(payload)
            except FetchError:
                return False
            self.last_report_at = now
            return True
        budget = MAX_SENDS_PER_ROUND  # each send may take a timeout: keep QMT responsive
        while self.queue and budget > 0:
            budget -= 1
            try:
                self.client.send_report(self.queue[0])
            except FetchError as exc:
                if (
                    exc.status is not None
                    and 400 <= exc.status < 500
                    and exc.status not in (401, 403, 408, 429)
                ):
                    self.queue.popleft()  # the server will never take this one
                    continue
                return False
            self.queue.popleft()
            self.last_report_at = now
        return not self.queue


def _threads_work():
    """Whether a Python thread starts and runs here (some embedded builds differ)."""
    done = threading.Event()
    try:
        thread = threading.Thread(target=done.set)
        thread.daemon = True
        thread.start()
    except Exception:
        return False
    return done.wait(0.05)


def _has_requests():
    try:
        return importlib.util.find_spec("requests") is not None
    except Exception:  # an import guard may refuse even the look-up
        return False
