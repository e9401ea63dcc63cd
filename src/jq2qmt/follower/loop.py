"""One sync round of the follower, shared by every broker.

fetch plan (conditional) -> read account -> engine -> cancel / place -> report.

Invariants (each has a test):
- a fetch error, a non-2xx answer or a malformed plan sends nothing;
- paused, dry-run, out-of-session and held rounds send nothing;
- our orders are recognised by remark (round id), open ones count as in flight and an
  order just placed counts until the broker lists it, so nothing is sent twice, also
  after a restart (reconciliation reads the broker's open orders);
- unfilled orders older than `order_timeout` are cancelled (and so re-priced by a
  later round), at most `max_reprices` times per code and side a day;
- reports that cannot be delivered are queued (bounded) and sent when the server is
  reachable again.

The clock is injected (`clock()` returns a naive datetime in exchange time).
Bundled into the exported QMT file: Python 3.6, stdlib only.
"""

import collections

from . import safety
from . import scheduler
from .client import FetchError
from ..brokers import base

VERSION = "0.1.0"
MAX_REJECTS = 3  # rejected orders per code and side a day before we stop retrying
MAX_SENDS_PER_ROUND = 5  # queued reports flushed per round (each bounded by a timeout)


def _load_engine():
    from ..engine.plan import compute_plan
    return compute_plan


class Follower(object):
    def __init__(self, broker, client, clock, compute_plan=None, log=None,
                 max_queued_reports=100, resync_interval=60.0, heartbeat_interval=60.0,
                 pending_grace=30.0, version=VERSION, dry_run=False):
        self.broker = broker
        self.client = client
        self.clock = clock
        self._compute = compute_plan
        self.log = log or (lambda message: None)
        self.resync_interval = resync_interval
        self.heartbeat_interval = heartbeat_interval
        self.pending_grace = pending_grace
        self.version = version
        self.force_dry_run = dry_run  # local switch: never send, whatever the plan says
        self.etag = None
        self.plan = None
        self.settings = None
        self.pending = {}        # remark -> order we placed that the broker has not listed yet
        self.first_seen = {}     # remark -> when we first saw our order open
        self.known_final = set()  # remarks already reported as rejected / finished
        self.place_failures = collections.Counter()  # (code, side) -> BrokerError count
        self.queue = collections.deque(maxlen=max_queued_reports)
        self.counter = 0
        self.tag = scheduler.new_process_tag()
        self.settled = False
        self.last_full_round = None
        self.last_phase = None
        self.preopen = None
        self.held = {}           # plan_version we held -> its content (see _approved)
        self.last_report_key = None
        self.last_report_at = None
        self.last_report = None

    # ---- the round ----------------------------------------------------------------
    def run_round(self, wait=0):
        """Run one round; returns its report (also sent to the server when relevant)."""
        now = self.clock()
        self.counter += 1
        report = self._new_report(scheduler.make_round_id(now, self.counter, self.tag))
        try:
            changed = self._refresh_plan(wait)
            self._round(now, changed, report)
        except (FetchError, safety.PlanError) as exc:
            self._fail(report, str(exc))
        except base.BrokerError as exc:
            self._fail(report, "券商接口错误 / broker error: %s" % (exc,))
        except Exception as exc:  # never let one round abort the follower
            self._fail(report, "内部错误 / internal error: %s: %s" % (type(exc).__name__, exc))
        self.last_report = report
        self._deliver(report, now)
        return report

    def _fail(self, report, message):
        report["status"] = "error"
        report["errors"].append(message)
        self.settled = False
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
        changed = self.plan is None or resp.plan["plan_version"] != self.plan["plan_version"] \
            or resp.plan != self.plan
        self.plan, self.settings = resp.plan, settings
        self.etag = resp.etag or '"%s"' % resp.plan["plan_version"]
        return changed

    def _round(self, now, changed, report):
        plan, settings = self.plan, self.settings
        report["plan_version"] = plan["plan_version"]
        sessions = settings["sessions"]
        phase = "open" if scheduler.in_session(now, sessions) else (
            "preopen" if scheduler.is_preopen(now, sessions) else "closed")
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

    def _can_skip(self, now, changed, phase):
        if changed or not self.settled or self.last_full_round is None:
            return False
        if phase == "preopen" and self.preopen is not None:
            return (now - self.preopen["at"]).total_seconds() < self.resync_interval
        return (now - self.last_full_round).total_seconds() < self.resync_interval

    def _full_round(self, now, phase, report):
        plan, settings = self.plan, self.settings
        account = self._read_account(report)
        ours = [o for o in account["orders"] if scheduler.is_our_remark(o["remark"])]
        self._track(ours, now, report)
        stale, skipped = self._stale_orders(ours, now, settings)
        report["skipped"].extend(skipped)
        if phase == "open" and self._fire_preopen(now, ours, report):
            return
        approved = self._approved(plan)
        result, orders = self._compute_orders(account, ours, report, lift_cap=approved)
        reason = self._hold_reason(account, result, orders)
        if reason and not approved:
            report["status"] = "held"
            report["held_reason"] = reason
            self.held[plan["plan_version"]] = safety.content_key(plan)
            self.settled = True
            return
        if phase == "preopen":
            self.preopen = {"version": plan["plan_version"], "at": now, "orders": orders,
                            "day": now.date()}
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
        self._place(orders, report)
        report["status"] = "ok" if (report["placed"] or report["cancelled"]) else "idle"
        self.settled = not (report["placed"] or report["cancelled"] or self.pending or
                            any(base.is_open(o["status"]) for o in ours))

    # ---- account and engine ------------------------------------------------------------
    def _read_account(self, report):
        positions = self.broker.positions()
        asset = self.broker.asset()
        orders = self.broker.orders()
        report["account"] = {
            "cash": asset["cash"], "total_asset": asset["total_asset"],
            "positions": [{"code": p["code"], "volume": p["volume"],
                           "can_use_volume": p["can_use_volume"]} for p in positions],
        }
        return {"positions": positions, "asset": asset, "orders": orders}

    def _track(self, ours, now, report):
        """Follow our orders: confirm pending ones, note new rejections."""
        for order in ours:
            remark = order["remark"]
            self.pending.pop(remark, None)
            if base.is_open(order["status"]):
                self.first_seen.setdefault(remark, now)
            elif remark not in self.known_final:
                self.known_final.add(remark)
                self.first_seen.pop(remark, None)
                if order["status"] == base.ORDER_JUNK:
                    report["rejected"].append({
                        "code": order["code"], "side": order["side"], "volume": order["volume"],
                        "price": order["price"], "reason": order.get("status_msg") or "废单",
                        "order_id": order["order_id"], "remark": remark})
        for remark, order in list(self.pending.items()):
            if (now - order["placed_at"]).total_seconds() > self.pending_grace:
                del self.pending[remark]
                report["errors"].append("委托 %s 未出现在委托列表 / order not listed by the broker"
                                        % remark)

    def _stale_orders(self, ours, now, settings):
        """Our open orders past `order_timeout` that may still be re-priced."""
        timeout = settings.get("order_timeout")
        max_reprices = int(settings.get("max_reprices") or 0)
        cancelled = collections.Counter(
            (o["code"], o["side"]) for o in ours if o["status"] in base.CANCELLED_STATUSES)
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
                skipped.append({"code": order["code"], "reason": "max_reprices",
                                "detail": "已重新定价 %d 次 / re-priced %d times"
                                % (cancelled[key], cancelled[key])})
                continue
            cancelled[key] += 1
            stale.append(order)
        return stale, skipped

    @staticmethod
    def _gross_sellable(account):
        """Positions with can_use_volume before open sells are taken off.

        QMT (built-in and xtquant) freezes the shares of an open sell order, so the
        broker's can_use_volume is already net of them; the engine subtracts open
        sells itself (plan-scenario contract), so they are added back here. Orders
        placed but not yet listed by the broker are not added back: if the broker has
        frozen them already, the follower under-sells once, never over-sells.
        """
        selling = {}
        for order in account["orders"]:
            if base.is_open(order["status"]) and order["side"] == base.SELL:
                left = max(0, int(order["volume"]) - int(order["traded_volume"] or 0))
                selling[order["code"]] = selling.get(order["code"], 0) + left
        return [{"code": p["code"], "volume": p["volume"],
                 "can_use_volume": min(p["volume"], p["can_use_volume"] + selling.get(p["code"], 0))}
                for p in account["positions"]]

    def _open_orders(self, account):
        result = []
        for order in account["orders"]:
            if base.is_open(order["status"]):
                result.append({"order_id": order["order_id"] or order["remark"] or "unknown",
                               "code": order["code"], "side": order["side"],
                               "volume": order["volume"],
                               "traded_volume": order["traded_volume"], "price": order["price"]})
        for remark, order in self.pending.items():
            result.append({"order_id": remark, "code": order["code"], "side": order["side"],
                           "volume": order["volume"], "traded_volume": 0,
                           "price": order["price"]})
        return result

    def _scenario(self, account, quotes, ignore_codes, lift_cap):
        plan, settings = self.plan, self.settings
        engine_settings = dict((k, settings[k]) for k in safety.ENGINE_SETTINGS
                               if k in settings)
        if lift_cap:  # an approved plan trades in full what max_order_value held back
            engine_settings.pop("max_order_value", None)
        patterns = [p for p in settings["ignore"] if "*" in str(p) or "?" in str(p)]
        engine_settings["ignore"] = patterns + sorted(ignore_codes)
        targets = [{"strategy": t["strategy"], "positions": [
            dict((k, p[k]) for k in ("code", "volume", "cost") if k in p) for p in t["positions"]],
            "portfolio_value": t.get("portfolio_value")} for t in plan["targets"]]
        for target in targets:
            if target["portfolio_value"] is None:
                del target["portfolio_value"]
        return {
            "targets": targets,
            "follow": plan["follow"],
            "account": {
                "cash": account["asset"]["cash"],
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

    def _compute_orders(self, account, ours, report, lift_cap=False):
        ignore = self.settings["ignore"]
        codes = self._codes(account)
        ignore_codes = set(c for c in codes if safety.matches_ignore(c, ignore))
        quotes = self.broker.quotes(sorted(codes - ignore_codes))
        compute = self._compute or _load_engine()
        result = compute(self._scenario(account, quotes, ignore_codes, lift_cap))
        report["skipped"].extend(result.get("skipped") or [])
        orders = self._drop_repeated_rejects(result.get("orders") or [], ours, report)
        warning = safety.capital_warning(self.plan, account["asset"]["total_asset"])
        if warning:
            report["errors"].append(warning)
        return result, orders

    def _drop_repeated_rejects(self, orders, ours, report):
        rejects = collections.Counter(
            (o["code"], o["side"]) for o in ours if o["status"] == base.ORDER_JUNK)
        rejects.update(self.place_failures)
        kept = []
        for order in orders:
            if rejects[(order["code"], order["side"])] >= MAX_REJECTS:
                report["skipped"].append({"code": order["code"], "reason": "rejected",
                                          "detail": "今日已被拒绝 %d 次 / rejected repeatedly today"
                                          % rejects[(order["code"], order["side"])]})
            else:
                kept.append(order)
        return kept

    def _hold_reason(self, account, result, orders):
        reason = safety.empty_account_hold(self.plan, account["positions"],
                                           result.get("targets") or {}, self.settings["ignore"])
        reason = reason or safety.order_value_hold(result.get("skipped") or [])
        return reason or safety.turnover_hold(orders, account["asset"]["total_asset"],
                                              self.settings.get("max_turnover"))

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
        if pre["day"] != now.date() or ours or self.pending or self.plan["dry_run"] \
                or self.force_dry_run:
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
                    report["skipped"].append({
                        "code": item.get("code"), "reason": "open_order_not_ours",
                        "detail": "未完成的手工委托 %s 挡住了调仓 / a manual open order blocks "
                                  "this code" % item.get("order_id")})
            elif base.is_cancellable(order["status"]) and order not in stale:
                todo.append((order, item.get("reason") or "engine"))
        # codes the engine wants to cancel on get no new order this round, even when the
        # order is not ours or not listed yet: next round sees what the cancel left
        codes = set(item.get("code") for item in engine_cancels if item.get("code"))
        for order, reason in todo:
            ok = self.broker.cancel(order["order_id"])
            codes.add(order["code"])
            report["cancelled"].append({"order_id": order["order_id"], "reason": reason,
                                        "code": order["code"], "ok": bool(ok)})
        return codes

    def _place(self, orders, report):
        now = self.clock()
        for index, order in enumerate(orders):
            remark = scheduler.make_remark(report["round_id"], index)
            try:
                order_id = self.broker.place(order["code"], order["side"], int(order["volume"]),
                                             float(order["price"]), remark)
            except base.BrokerError as exc:
                self.place_failures[(order["code"], order["side"])] += 1
                report["rejected"].append({"code": order["code"], "side": order["side"],
                                           "volume": order["volume"], "price": order["price"],
                                           "reason": str(exc)})
                continue
            self.pending[remark] = {"code": order["code"], "side": order["side"],
                                    "volume": int(order["volume"]), "price": order["price"],
                                    "placed_at": now}
            self.first_seen[remark] = now
            report["placed"].append(self._placed(order, order_id, remark))
            self.log("placed %s %s %s @ %s (%s)" % (order["side"], order["code"],
                                                    order["volume"], order["price"], remark))

    @staticmethod
    def _placed(order, order_id, remark):
        return {"code": order["code"], "side": order["side"], "volume": int(order["volume"]),
                "price": order["price"], "order_id": order_id, "remark": remark}

    # ---- reports --------------------------------------------------------------------------
    def _new_report(self, round_id):
        return {"kind": "round", "round_id": round_id, "plan_version": None, "status": "idle",
                "account": None, "placed": [], "cancelled": [], "rejected": [], "skipped": [],
                "held_reason": None, "errors": [],
                "follower": {"kind": self.broker.kind, "version": self.version}}

    def _deliver(self, report, now):
        quiet = report.pop("quiet", False)
        acted = report["status"] != "dry_run" and (
            report["placed"] or report["cancelled"] or report["rejected"])
        key = (report["status"], report["plan_version"], tuple(report["errors"]),
               report["held_reason"])
        due = self.last_report_at is None or \
            (now - self.last_report_at).total_seconds() >= self.heartbeat_interval
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
                if exc.status is not None and 400 <= exc.status < 500 and exc.status not in (
                        401, 403, 408, 429):
                    self.queue.popleft()  # the server will never take this one
                    continue
                return False
            self.queue.popleft()
            self.last_report_at = now
        return not self.queue
