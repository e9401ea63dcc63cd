"""Tracking and execution quality, and the order log, from the followers' round reports.

`record` runs inside `accounts.save_report`'s transaction for every new round report
and writes what the report carries:

- ``quality_rounds``: one row per round that read the account: total asset, cash,
  market value, the tracking deviation against the engine's target at the prices the
  follower used (`quality_calc.deviation`), and the followed strategies' own value
  (sum of their uploads' ``total_value``) for the equity curves;
- ``quality_orders``: the order log, one row per order placed (its status, traded
  volume and times follow the later reports' ``orders``), rejected or skipped, with
  the reference price the plan used, the round and the strategies whose target holds
  the code;
- ``quality_fills``: our fills (trade id, price, volume, time) with their slippage
  against the order's reference price; a fill reported twice is stored once.

Times are stored in UTC like every other table. The trading day of a round is the
date of the follower's exchange clock (``at`` in the report, Beijing time), moved
back to the last trading day of the calendar when it is not one. Latencies use the
server's times (the upload, and the report that carried the order or the fill): they
do not depend on the follower's clock and are late by at most one round.
"""

import collections
import csv
import datetime
import io
import json
from typing import Optional

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    delete,
    func,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column

from jq2qmt import trading_calendar
from jq2qmt.store import quality_calc as calc
from jq2qmt.store.models import Base, BigId, Double, Position, Strategy, Timestamp
from jq2qmt.store.snapshot import format_time

BEIJING = datetime.timedelta(hours=8)
ORDER_STATES = ("open", "filled", "partial", "cancelled", "rejected", "skipped")
MAX_DAYS = 366
MAX_ROUND_POINTS = 2000
MAX_ORDERS = 5000
KEEP_DAYS = 400  # days of rows kept per account (more than the longest query range)
PRUNE_EVERY = 200  # rounds of a day between two prunes

# QMT's order status numbers (built-in m_nOrderStatus and xtquant order_status share
# them; the follower reports them as the broker gives them)
PART_CANCEL, CANCELED, SUCCEEDED, JUNK, UNKNOWN = 53, 54, 56, 57, 255


class QualityRound(Base):
    __tablename__ = "quality_rounds"
    __table_args__ = (Index("ix_quality_rounds_account_day", "account_pk", "day", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_pk: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    day: Mapped[str] = mapped_column(String(10))
    round_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[Optional[str]] = mapped_column(String(16), nullable=True)
    at: Mapped[Optional[datetime.datetime]] = mapped_column(Timestamp, nullable=True)
    received_at: Mapped[datetime.datetime] = mapped_column(Timestamp)
    total_asset: Mapped[Optional[float]] = mapped_column(Double, nullable=True)
    cash: Mapped[Optional[float]] = mapped_column(Double, nullable=True)
    market_value: Mapped[Optional[float]] = mapped_column(Double, nullable=True)
    deviation_value: Mapped[Optional[float]] = mapped_column(Double, nullable=True)
    deviation_pct: Mapped[Optional[float]] = mapped_column(Double, nullable=True)
    strategy_value: Mapped[Optional[float]] = mapped_column(Double, nullable=True)
    detail_json: Mapped[str] = mapped_column(Text)


class QualityOrder(Base):
    __tablename__ = "quality_orders"
    __table_args__ = (
        Index("ix_quality_orders_account_day", "account_pk", "day", "id"),
        Index("ix_quality_orders_remark", "account_pk", "remark"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_pk: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    day: Mapped[str] = mapped_column(String(10))
    round_id: Mapped[str] = mapped_column(String(64))
    remark: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)
    order_id: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)
    code: Mapped[str] = mapped_column(String(32))
    side: Mapped[Optional[str]] = mapped_column(String(8), nullable=True)
    volume: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    price: Mapped[Optional[float]] = mapped_column(Double, nullable=True)
    ref_price: Mapped[Optional[float]] = mapped_column(Double, nullable=True)
    state: Mapped[str] = mapped_column(String(16))
    broker_status: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    status_text: Mapped[Optional[str]] = mapped_column(String(128), nullable=True)
    traded_volume: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[Optional[str]] = mapped_column(Text, nullable=True)
    strategies: Mapped[Optional[str]] = mapped_column(String(512), nullable=True)
    upload_at: Mapped[Optional[datetime.datetime]] = mapped_column(Timestamp, nullable=True)
    placed_at: Mapped[datetime.datetime] = mapped_column(Timestamp)
    first_fill_at: Mapped[Optional[datetime.datetime]] = mapped_column(Timestamp, nullable=True)
    last_fill_at: Mapped[Optional[datetime.datetime]] = mapped_column(Timestamp, nullable=True)
    updated_at: Mapped[datetime.datetime] = mapped_column(Timestamp)


class QualityFill(Base):
    __tablename__ = "quality_fills"
    __table_args__ = (
        UniqueConstraint("account_pk", "day", "trade_id", name="uq_quality_fills_trade"),
        Index("ix_quality_fills_account_day", "account_pk", "day"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_pk: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    day: Mapped[str] = mapped_column(String(10))
    round_id: Mapped[str] = mapped_column(String(64))
    trade_id: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)
    remark: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)
    code: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(8))
    volume: Mapped[int] = mapped_column(Integer)
    price: Mapped[float] = mapped_column(Double)
    ref_price: Mapped[Optional[float]] = mapped_column(Double, nullable=True)
    slippage_bps: Mapped[Optional[float]] = mapped_column(Double, nullable=True)
    slippage_cost: Mapped[Optional[float]] = mapped_column(Double, nullable=True)
    traded_at: Mapped[Optional[str]] = mapped_column(
        String(19), nullable=True
    )  # exchange time as reported
    received_at: Mapped[datetime.datetime] = mapped_column(Timestamp)


class QualityError(ValueError):
    def __init__(self, field, message):
        ValueError.__init__(self, message)
        self.field = field
        self.message = message


# the report fields this module reads: field -> (JSON type, required keys of each row)
_REPORT_FIELDS = (
    ("fills", list, (("trade_id", str), ("code", str), ("side", str))),
    ("orders", list, (("remark", str),)),
    ("would_place", list, (("code", str),)),
    ("prices", dict, ()),
    ("target", dict, ()),
    ("strategy_versions", dict, ()),
)
MAX_REPORT_ROWS = 2000


def check_report(payload):
    """Check the shape of the quality fields of a round report; QualityError names
    the field (``fills[2].trade_id``). Absent or null fields are fine."""
    for field, kind, keys in _REPORT_FIELDS:
        value = payload.get(field)
        if value is None:
            continue
        if not isinstance(value, kind):
            raise QualityError(
                field,
                "必须是%s / must be an %s"
                % ("数组" if kind is list else "对象", "array" if kind is list else "object"),
            )
        if len(value) > MAX_REPORT_ROWS:
            raise QualityError(
                field, "最多 %d 项 / at most %d items" % (MAX_REPORT_ROWS, MAX_REPORT_ROWS)
            )
        if kind is list:
            for index, row in enumerate(value):
                if not isinstance(row, dict):
                    raise QualityError("%s[%d]" % (field, index), "必须是对象 / must be an object")
                for key, key_kind in keys:
                    if not isinstance(row.get(key), key_kind) or not row[key] or len(row[key]) > 64:
                        raise QualityError(
                            "%s[%d].%s" % (field, index, key),
                            "必须是 1-64 个字符的字符串 / must be a string of 1-64 characters",
                        )
    if payload.get("at") is not None and _parse_at(payload["at"]) is None:
        raise QualityError(
            "at", "时间格式应为 YYYY-MM-DDTHH:MM:SS / at must be YYYY-MM-DDTHH:MM:SS"
        )


# ---- helpers ---------------------------------------------------------------------------------


def _num(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if value == value and value not in (float("inf"), float("-inf")) else None


def _text(value, limit=64):
    if value is None:
        return None
    return str(value)[:limit]


def _parse_at(text):
    try:
        return datetime.datetime.strptime(str(text)[:19], "%Y-%m-%dT%H:%M:%S")
    except (TypeError, ValueError):
        return None


def is_trading_day(date):
    """A weekday the trading calendar does not close."""
    return date.weekday() < 5 and date not in trading_calendar.holidays(date)


def trading_day(date):
    """`date`, or the last trading day before it when the calendar closes it."""
    for _ in range(40):
        if is_trading_day(date):
            return date
        date -= datetime.timedelta(days=1)
    return date


def order_state(status, traded, volume):
    """open|filled|partial|cancelled|rejected from a QMT order status."""
    if status == JUNK:
        return "rejected"
    if status == SUCCEEDED or (volume and traded >= volume):
        return "filled"
    if status in (PART_CANCEL, CANCELED):
        return "partial" if traded else "cancelled"
    return "open"


def _valid_rows(value, keys=("code",)):
    if not isinstance(value, list):
        return []
    return [
        row
        for row in value
        if isinstance(row, dict) and all(isinstance(row.get(k), str) for k in keys)
    ]


# ---- recording (inside save_report's transaction) --------------------------------------------


def _strategy_info(session, names):
    """(sum of the followed strategies' total_value or None, {code: [names]},
    {name: update_time}) from the current uploads of the strategies `names`."""
    rows = {}
    if names:
        for row in session.scalars(select(Strategy).where(Strategy.name.in_(list(names)))):
            if row.removed_at is None and row.version > 0:
                rows[row.name] = row
    total, codes, updated = None, collections.defaultdict(list), {}
    if not rows:
        return total, codes, updated
    by_id = dict((r.id, r.name) for r in rows.values())
    for strategy_id, code in session.execute(
        select(Position.strategy_id, Position.code).where(Position.strategy_id.in_(list(by_id)))
    ).all():
        codes[_qmt(code)].append(by_id[strategy_id])
    for name, row in sorted(rows.items()):
        updated[name] = row.update_time
        portfolio = json.loads(row.portfolio_json) if row.portfolio_json else {}
        value = _num(portfolio.get("total_value"))
        if value is not None:
            total = (total or 0.0) + value
    return total, codes, updated


def _qmt(code):
    return str(code).replace(".XSHG", ".SH").replace(".XSHE", ".SZ")


def record(session, account, body, round_id, status, now, followed=()):
    """Store what a new round report carries (module docstring); `followed` names the
    account's followed strategies."""
    at = _parse_at(body.get("at"))
    day = trading_day((at or now + BEIJING).date()).isoformat()
    acct = body.get("account") if isinstance(body.get("account"), dict) else None
    placed = _valid_rows(body.get("placed"))
    rejected = _valid_rows(body.get("rejected"))
    skipped = _valid_rows(body.get("skipped"))
    updates = _valid_rows(body.get("orders"), ("remark",))
    fills = _valid_rows(body.get("fills"), ("code", "trade_id", "side"))
    cancelled = [r for r in body.get("cancelled") or [] if isinstance(r, dict)]
    if not (acct or placed or rejected or updates or fills or cancelled):
        return
    strategy_value, strategies_of, updated = _strategy_info(session, followed)
    if acct is not None:
        _record_round(session, account, body, acct, day, round_id, status, at, now, strategy_value)
        if (
            int(
                session.scalar(
                    select(func.count())
                    .select_from(QualityRound)
                    .where(QualityRound.account_pk == account.id, QualityRound.day == day)
                )
            )
            % PRUNE_EVERY
            == 1
        ):
            prune(session, account, day)
    if status == "dry_run":
        placed = []
    for row in placed:
        names = strategies_of.get(row["code"]) or sorted(updated)
        uploads = [updated[n] for n in names if updated.get(n) is not None]
        session.add(
            _log_row(
                account,
                day,
                round_id,
                row,
                now,
                sorted(names),
                state="open",
                volume=int(_num(row.get("volume")) or 0),
                ref_price=_num(row.get("ref_price")),
                upload_at=max(uploads) if uploads else None,
            )
        )
    for row in rejected:
        session.add(
            _log_row(
                account,
                day,
                round_id,
                row,
                now,
                strategies_of.get(row["code"]),
                state="rejected",
                broker_status=JUNK,
                volume=int(_num(row.get("volume")) or 0),
                reason=_text(row.get("reason"), 2000),
            )
        )
    for row in skipped:
        reason = "%s: %s" % (row.get("reason"), row.get("detail") or "")
        session.add(
            _log_row(
                account,
                day,
                round_id,
                {"code": row["code"]},
                now,
                strategies_of.get(row["code"]),
                state="skipped",
                reason=_text(reason, 2000),
            )
        )
    session.flush()
    for row in updates:
        order = _find_order(session, account, row.get("remark"), row.get("order_id"))
        if order is None:
            continue
        traded = int(_num(row.get("traded_volume")) or 0)
        status_no = int(_num(row.get("status")) or UNKNOWN)
        order.broker_status = status_no
        order.status_text = _text(row.get("status_msg") or str(status_no), 128)
        order.order_id = order.order_id or _text(row.get("order_id"))
        order.traded_volume = max(order.traded_volume or 0, traded)
        order.state = order_state(status_no, order.traded_volume, order.volume)
        if order.state == "rejected" and row.get("status_msg"):
            order.reason = _text(row.get("status_msg"), 2000)
        order.updated_at = now
    for row in cancelled:
        order = _find_order(session, account, None, row.get("order_id"))
        if order is not None:
            order.reason = _text("撤单 / cancel: %s" % (row.get("reason") or ""), 2000)
            order.updated_at = now
    for row in fills:
        _record_fill(session, account, row, day, round_id, now)


def _log_row(account, day, round_id, row, now, strategies, **fields):
    """One order-log row for an order a round placed, had rejected or skipped; `row`
    is the report's entry (a skipped code carries only its code)."""
    return QualityOrder(
        account_pk=account.id,
        day=day,
        round_id=round_id,
        remark=_text(row.get("remark")),
        order_id=_text(row.get("order_id")),
        code=_text(row["code"], 32),
        side=_text(row.get("side"), 8),
        price=_num(row.get("price")),
        traded_volume=0,
        strategies=",".join(strategies or [])[:512] or None,
        placed_at=now,
        updated_at=now,
        **fields,
    )


def prune(session, account, day):
    """Delete the account's rows older than KEEP_DAYS before `day` ('YYYY-MM-DD')."""
    cutoff = (datetime.date.fromisoformat(day) - datetime.timedelta(days=KEEP_DAYS)).isoformat()
    for model in (QualityFill, QualityOrder, QualityRound):
        session.execute(delete(model).where(model.account_pk == account.id, model.day < cutoff))


def _find_order(session, account, remark, order_id):
    query = select(QualityOrder).where(
        QualityOrder.account_pk == account.id, QualityOrder.state.notin_(("skipped",))
    )
    if remark:
        query = query.where(QualityOrder.remark == str(remark)[:64])
    elif order_id:
        query = query.where(QualityOrder.order_id == str(order_id)[:64])
    else:
        return None
    return session.scalars(query.order_by(QualityOrder.id.desc()).limit(1)).first()


def _record_fill(session, account, row, day, round_id, now):
    trade_id = str(row["trade_id"])[:64]
    exists = session.scalar(
        select(QualityFill.id).where(
            QualityFill.account_pk == account.id,
            QualityFill.day == day,
            QualityFill.trade_id == trade_id,
        )
    )
    volume, price = _num(row.get("volume")), _num(row.get("price"))
    if exists is not None or not volume or not price:
        return
    order = _find_order(session, account, row.get("remark"), row.get("order_id"))
    ref = order.ref_price if order is not None else None
    bps, cost = calc.slippage(row["side"], ref, price, int(volume))
    session.add(
        QualityFill(
            account_pk=account.id,
            day=day,
            round_id=round_id,
            trade_id=trade_id,
            order_id=_text(row.get("order_id")),
            remark=_text(row.get("remark")),
            code=_text(row["code"], 32),
            side=_text(row["side"], 8),
            volume=int(volume),
            price=price,
            ref_price=ref,
            slippage_bps=bps,
            slippage_cost=cost,
            traded_at=_text(row.get("time"), 19),
            received_at=now,
        )
    )
    if order is not None:
        order.first_fill_at = order.first_fill_at or now
        order.last_fill_at = now
        if order.remark:  # the fills may arrive before (or without) the order's status change
            session.flush()
            total = (
                session.scalar(
                    select(func.sum(QualityFill.volume)).where(
                        QualityFill.account_pk == account.id, QualityFill.remark == order.remark
                    )
                )
                or 0
            )
            if total > (order.traded_volume or 0):
                order.traded_volume = int(total)
                if order.state == "open" and order.volume and order.traded_volume >= order.volume:
                    order.state = "filled"


def _record_round(session, account, body, acct, day, round_id, status, at, now, strategy_value):
    held = {}
    costs = {}
    for p in _valid_rows(acct.get("positions")):
        volume = _num(p.get("volume"))
        if volume:
            held[p["code"]] = int(volume)
            costs[p["code"]] = _num(p.get("avg_cost"))
    target = {}
    if isinstance(body.get("target"), dict):
        for code, volume in body["target"].items():
            if _num(volume) is not None:
                target[str(code)] = int(volume)
    prices, times = {}, {}
    if isinstance(body.get("prices"), dict):
        for code, entry in body["prices"].items():
            if isinstance(entry, dict) and _num(entry.get("price")):
                prices[str(code)] = _num(entry["price"])
                times[str(code)] = _text(entry.get("time"), 32)
    total = _num(acct.get("total_asset"))
    has_target = isinstance(body.get("target"), dict)
    dev = calc.deviation(target, held, prices, total) if has_target else None
    detail = {
        "target": target if has_target else None,
        "held": held,
        "avg_cost": costs,
        "prices": prices,
        "price_times": times,
        "unpriced": dev["unpriced"] if dev else [],
    }
    session.add(
        QualityRound(
            account_pk=account.id,
            day=day,
            round_id=round_id,
            status=status,
            at=(at - BEIJING) if at else None,
            received_at=now,
            total_asset=total,
            cash=_num(acct.get("cash")),
            market_value=_num(acct.get("market_value")),
            deviation_value=dev["value"] if dev else None,
            deviation_pct=dev["pct"] if dev else None,
            strategy_value=strategy_value,
            detail_json=json.dumps(detail, sort_keys=True, ensure_ascii=False),
        )
    )


# ---- reads -------------------------------------------------------------------------------------


def parse_day(field, text):
    if text is None or text == "":
        return None
    try:
        return datetime.date.fromisoformat(str(text))
    except ValueError:
        raise QualityError(field, "日期格式应为 YYYY-MM-DD / %s must be a date YYYY-MM-DD" % field)


def day_range(start, end, today=None):
    """(from, to) dates: defaults are the last 30 days up to today (Beijing)."""
    today = today or trading_calendar.beijing_today()
    end = end or today
    start = start or end - datetime.timedelta(days=30)
    if start > end:
        raise QualityError("from", "from 不能晚于 to / from must not be after to")
    if (end - start).days > MAX_DAYS:
        raise QualityError("from", "最多查询 %d 天 / at most %d days" % (MAX_DAYS, MAX_DAYS))
    return start, end


def _execution(orders, fills, closed_days):
    """Execution figures of `orders` (placed/rejected/skipped rows) and their `fills`."""
    sent = [o for o in orders if o.state != "skipped" and o.volume]  # rejected ones too
    ordered = sum(o.volume or 0 for o in sent)
    filled = sum(o.traded_volume or 0 for o in sent)
    to_order = [
        (o.placed_at - o.upload_at).total_seconds()
        for o in sent
        if o.upload_at is not None and o.state != "rejected"
    ]
    to_fill = [
        (o.last_fill_at - o.upload_at).total_seconds()
        for o in sent
        if o.upload_at is not None and o.last_fill_at is not None
    ]
    slip = [(f.slippage_bps, f.ref_price, f.volume) for f in fills]
    reasons = collections.Counter(
        o.reason or o.status_text or "?" for o in orders if o.state == "rejected"
    )
    skipped = collections.Counter(
        (o.reason or "?").split(":")[0] for o in orders if o.state == "skipped"
    )
    open_at_close = [o for o in sent if o.state == "open" and o.day in closed_days]
    return {
        "orders": len(sent),
        "ordered_volume": ordered,
        "filled_volume": filled,
        "fill_rate": calc.fill_rate(ordered, filled),
        "fills": len(fills),
        "slippage_bps": calc.weighted_bps(slip),
        "slippage_cost": round(sum(f.slippage_cost or 0.0 for f in fills), 2),
        "upload_to_first_order_s": {
            "p50": calc.percentile(to_order, 50),
            "p90": calc.percentile(to_order, 90),
            "count": len(to_order),
        },
        "upload_to_last_fill_s": {
            "p50": calc.percentile(to_fill, 50),
            "p90": calc.percentile(to_fill, 90),
            "count": len(to_fill),
        },
        "rejects": len([o for o in orders if o.state == "rejected"]),
        "reject_reasons": [{"reason": r, "count": n} for r, n in reasons.most_common()],
        "skipped": sum(skipped.values()),
        "skip_reasons": [{"reason": r, "count": n} for r, n in skipped.most_common()],
        "open_at_close": [order_dict(o) for o in open_at_close],
    }


def _rows(session, model, account, start, end):
    return session.scalars(
        select(model)
        .where(
            model.account_pk == account.id,
            model.day >= start.isoformat(),
            model.day <= end.isoformat(),
        )
        .order_by(model.id)
    ).all()


def quality(session, account, start=None, end=None, today=None):
    """The quality object of one account (its `Account` row) between two days (API
    shape in docs/api.md)."""
    today = today or trading_calendar.beijing_today()
    start, end = day_range(start, end, today)
    rounds = _rows(session, QualityRound, account, start, end)
    orders = _rows(session, QualityOrder, account, start, end)
    fills = _rows(session, QualityFill, account, start, end)
    closed_days = set(d for d in set(o.day for o in orders) if d < today.isoformat())
    by_day = collections.OrderedDict()
    for r in rounds:
        by_day.setdefault(r.day, []).append(r)
    days = []
    for day, items in sorted(by_day.items()):
        last = items[-1]
        devs = [r.deviation_pct for r in items if r.deviation_pct is not None]
        day_orders = [o for o in orders if o.day == day]
        day_fills = [f for f in fills if f.day == day]
        ex = _execution(day_orders, day_fills, closed_days)
        days.append(
            {
                "day": day,
                "rounds": len(items),
                "total_asset": last.total_asset,
                "cash": last.cash,
                "market_value": last.market_value,
                "strategy_value": last.strategy_value,
                "deviation_value": last.deviation_value,
                "deviation_pct": last.deviation_pct,
                "max_deviation_pct": max(devs) if devs else None,
                "orders": ex["orders"],
                "fill_rate": ex["fill_rate"],
                "fills": ex["fills"],
                "slippage_bps": ex["slippage_bps"],
                "slippage_cost": ex["slippage_cost"],
                "rejects": ex["rejects"],
                "skipped": ex["skipped"],
                "open_at_close": len(ex["open_at_close"]),
            }
        )
    account_curve = calc.normalise([d["total_asset"] for d in days])
    strategy_curve = calc.normalise([d["strategy_value"] for d in days])
    for d, a, s in zip(days, account_curve, strategy_curve):
        d["account_norm"], d["strategy_norm"] = a, s
    points = rounds[-MAX_ROUND_POINTS:]
    norm_a = calc.normalise([r.total_asset for r in points])
    norm_s = calc.normalise([r.strategy_value for r in points])
    names = sorted(set(n for o in orders for n in (o.strategies or "").split(",") if n))
    by_strategy = []
    for name in names:
        mine = [o for o in orders if name in (o.strategies or "").split(",")]
        remarks = set(o.remark for o in mine if o.remark)
        ex = _execution(mine, [f for f in fills if f.remark in remarks], closed_days)
        ex.pop("open_at_close")
        by_strategy.append(dict(ex, strategy=name))
    latest = rounds[-1] if rounds else None
    return {
        "account_id": account.account_id,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "days": days,
        "rounds": [
            {
                "round_id": r.round_id,
                "day": r.day,
                "at": format_time(r.at),
                "received_at": format_time(r.received_at),
                "status": r.status,
                "total_asset": r.total_asset,
                "cash": r.cash,
                "market_value": r.market_value,
                "deviation_value": r.deviation_value,
                "deviation_pct": r.deviation_pct,
                "strategy_value": r.strategy_value,
                "account_norm": a,
                "strategy_norm": s,
            }
            for r, a, s in zip(points, norm_a, norm_s)
        ],
        "execution": _execution(orders, fills, closed_days),
        "by_strategy": by_strategy,
        "fills": [fill_dict(f) for f in fills[-MAX_ORDERS:]],
        "holdings": holdings(latest),
    }


def holdings(row):
    """Market value and unrealised P&L of the holdings the latest round saw, each
    marked with the time of the price used (None when no round was recorded)."""
    if row is None:
        return None
    detail = json.loads(row.detail_json)
    result = []
    for code, volume in sorted(detail.get("held", {}).items()):
        price = detail.get("prices", {}).get(code)
        value, cost, pnl = calc.unrealised(volume, detail.get("avg_cost", {}).get(code), price)
        result.append(
            {
                "code": code,
                "volume": volume,
                "price": price,
                "price_time": detail.get("price_times", {}).get(code) or format_time(row.at),
                "market_value": value,
                "cost": cost,
                "unrealised_pnl": pnl,
                "target": (detail.get("target") or {}).get(code),
            }
        )
    return {
        "round_id": row.round_id,
        "at": format_time(row.at),
        "received_at": format_time(row.received_at),
        "total_asset": row.total_asset,
        "cash": row.cash,
        "market_value": row.market_value,
        "positions": result,
    }


LATEST_PRICE_ROUNDS = 200  # recent rounds read for the newest price of each code


def latest_prices(session, rounds=LATEST_PRICE_ROUNDS):
    """{code: {"price", "time"}}: the newest price any follower reported for each code
    (the quote its plan used), from the most recent recorded rounds of every account."""
    rows = session.scalars(
        select(QualityRound).order_by(QualityRound.id.desc()).limit(int(rounds))
    ).all()
    prices = {}
    for row in rows:  # newest first: the first price seen for a code is its newest
        detail = json.loads(row.detail_json)
        times = detail.get("price_times", {})
        for code, price in (detail.get("prices") or {}).items():
            if code not in prices and price:
                prices[code] = {"price": price, "time": times.get(code) or format_time(row.at)}
    return prices


def order_dict(o):
    value = round(o.volume * o.price, 2) if o.volume and o.price else None
    return {
        "id": o.id,
        "day": o.day,
        "round_id": o.round_id,
        "remark": o.remark,
        "order_id": o.order_id,
        "code": o.code,
        "side": o.side,
        "volume": o.volume,
        "price": o.price,
        "value": value,
        "ref_price": o.ref_price,
        "status": o.state,
        "broker_status": o.broker_status,
        "status_text": o.status_text,
        "traded_volume": o.traded_volume,
        "reason": o.reason,
        "strategies": (o.strategies or "").split(",") if o.strategies else [],
        "placed_at": format_time(o.placed_at),
        "first_fill_at": format_time(o.first_fill_at),
        "last_fill_at": format_time(o.last_fill_at),
        "updated_at": format_time(o.updated_at),
    }


def fill_dict(f):
    return {
        "trade_id": f.trade_id,
        "day": f.day,
        "round_id": f.round_id,
        "order_id": f.order_id,
        "remark": f.remark,
        "code": f.code,
        "side": f.side,
        "volume": f.volume,
        "price": f.price,
        "ref_price": f.ref_price,
        "slippage_bps": f.slippage_bps,
        "slippage_cost": f.slippage_cost,
        "time": f.traded_at,
        "received_at": format_time(f.received_at),
    }


def _order_filters(query, account, code, status, day):
    if account is not None:
        query = query.where(QualityOrder.account_pk == account.id)
    if code:
        query = query.where(QualityOrder.code == code)
    if status:
        if status not in ORDER_STATES:
            raise QualityError(
                "status",
                "status 应为 %s 之一 / status must be one of %s"
                % ("、".join(ORDER_STATES), "|".join(ORDER_STATES)),
            )
        query = query.where(QualityOrder.state == status)
    if day:
        query = query.where(QualityOrder.day == day.isoformat())
    return query


def count_orders(session, account=None, code=None, status=None, day=None):
    """How many orders `list_orders` would list with these filters and no limit."""
    query = _order_filters(
        select(func.count()).select_from(QualityOrder), account, code, status, day
    )
    return int(session.scalar(query))


def list_orders(
    session, account_ids, account=None, code=None, status=None, day=None, limit=200, offset=0
):
    """The order log, newest first (filters as the API's query parameters), `limit`
    rows after skipping `offset`; `account_ids` maps account rows' primary keys to
    their account ids, `account` (a row) keeps that account's orders only."""
    query = _order_filters(select(QualityOrder), account, code, status, day)
    rows = session.scalars(query.order_by(QualityOrder.id.desc()).offset(offset).limit(limit)).all()
    fills = collections.defaultdict(list)
    if rows:
        keys = dict(((o.account_pk, o.remark), o.id) for o in rows if o.remark)
        pks = sorted(set(o.account_pk for o in rows))
        days = sorted(set(o.day for o in rows))
        for f in session.scalars(
            select(QualityFill)
            .where(QualityFill.account_pk.in_(pks), QualityFill.day.in_(days))
            .order_by(QualityFill.id)
        ):
            key = keys.get((f.account_pk, f.remark))
            if key is not None:
                fills[key].append(fill_dict(f))
    result = []
    for order in rows:
        entry = order_dict(order)
        entry["account_id"] = account_ids.get(order.account_pk)
        entry["fills"] = fills.get(order.id, [])
        result.append(entry)
    return result


# ---- CSV -----------------------------------------------------------------------------------------

DAY_COLUMNS = (
    "day",
    "rounds",
    "total_asset",
    "cash",
    "market_value",
    "strategy_value",
    "account_norm",
    "strategy_norm",
    "deviation_value",
    "deviation_pct",
    "max_deviation_pct",
    "orders",
    "fill_rate",
    "fills",
    "slippage_bps",
    "slippage_cost",
    "rejects",
    "skipped",
    "open_at_close",
)
ORDER_COLUMNS = (
    "account_id",
    "day",
    "round_id",
    "code",
    "side",
    "volume",
    "price",
    "value",
    "ref_price",
    "status",
    "status_text",
    "traded_volume",
    "reason",
    "strategies",
    "order_id",
    "remark",
    "placed_at",
    "first_fill_at",
    "last_fill_at",
)


def to_csv(rows, columns):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        values = []
        for column in columns:
            value = row.get(column)
            if isinstance(value, list):
                value = ";".join(str(v) for v in value)
            values.append("" if value is None else value)
        writer.writerow(values)
    return "\ufeff" + out.getvalue()  # BOM: Excel opens the Chinese text as UTF-8
