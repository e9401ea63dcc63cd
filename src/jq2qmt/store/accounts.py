"""Follower accounts: their follow settings, reports, approvals, and the plan version.

Tables
- ``accounts``: one QMT account that follows strategies; its mode (ratio|weight),
  switches (paused, dry_run), whether the admin confirmed it (``confirmed``: until
  then its plan says ``preflight`` and the follower only looks and reports), trading
  settings (JSON, see `account_settings`), the approved plan version, a `revision`
  bumped by every change, and when its follower was last heard from.
- ``account_strategies``: followed strategies with a ratio (ratio mode) or a capital
  (weight mode).
- ``account_reports``: what followers reported (kind round|heartbeat|preflight,
  status, round id, plan version, body JSON). Only the latest heartbeat and the
  latest preflight report are kept.
- ``account_approvals``: the admin's decisions on held plans (approved|rejected).

Every change of an account writes a row to the global change counter (`Change`,
kind "account") in the same transaction, so long-polling plan readers in any
server process wake up. Reports and dismissed holds do not change a plan, but they
change what the accounts list and the reports show: they write a change row too
(kinds "report", "approval", see `changes`).

`plan_version` hashes everything a plan is built from (account revision, approval,
the versions of the followed strategies, and the trading calendar's fingerprint), so it is the plan's strong ETag and
the key of the plan cache.

Write functions take a `Database` and run their own transaction; reads take a Session.
"""

import hashlib
import json
import math
from datetime import datetime
from typing import Optional

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    delete,
    false,
    func,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from jq2qmt import trading_calendar
from jq2qmt.rules.ignore import matches_ignore
from jq2qmt.store import account_settings as checks
from jq2qmt.store import changes as change_rows
from jq2qmt.store.models import (
    ApiToken,
    Base,
    BigId,
    Change,
    Double,
    LongText,
    Name,
    Position,
    Strategy,
    Timestamp,
    utcnow,
)
from jq2qmt.store.snapshot import SnapshotError, check_strategy_name, format_time

REPORT_KINDS = ("round", "heartbeat", "preflight")
REPORT_STATUSES = (
    "ok",
    "held",
    "dry_run",
    "paused",
    "outside_session",
    "error",
    "idle",
    "preflight",
)
REPORT_LISTS = ("placed", "cancelled", "rejected", "skipped", "errors")
MAX_REPORTS_KEPT = 5000  # round reports per account; older ones are pruned
REPORT_MAX_BYTES = 256 * 1024  # one stored report (UTF-8 JSON); a larger one is refused (413)
REPORTS_KEPT_BYTES = 64 * 1024 * 1024  # round-report history per account; the oldest go first
TOKEN_NAME = "follower:%s"


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(Name, unique=True)
    name: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(8), default="ratio")
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    # False until the admin has looked at the follower's preflight report and confirmed
    # the account; the server default keeps any row written without it untraded.
    confirmed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    confirmed_at: Mapped[Optional[datetime]] = mapped_column(Timestamp, nullable=True)
    settings_json: Mapped[str] = mapped_column(Text)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    approved_version: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    last_seen: Mapped[Optional[datetime]] = mapped_column(Timestamp, nullable=True)
    follower_json: Mapped[Optional[str]] = mapped_column(Text, nullable=True)


class AccountStrategy(Base):
    __tablename__ = "account_strategies"
    __table_args__ = (
        UniqueConstraint("account_pk", "strategy_name", name="uq_account_strategies"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_pk: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    strategy_name: Mapped[str] = mapped_column(Name)
    ratio: Mapped[Optional[float]] = mapped_column(Double, nullable=True)
    capital: Mapped[Optional[float]] = mapped_column(Double, nullable=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class AccountReport(Base):
    __tablename__ = "account_reports"
    __table_args__ = (Index("ix_account_reports_account_kind", "account_pk", "kind", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_pk: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[Optional[str]] = mapped_column(String(16), nullable=True)
    round_id: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)
    plan_version: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)
    body_json: Mapped[str] = mapped_column(LongText)
    remote_addr: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class AccountApproval(Base):
    __tablename__ = "account_approvals"
    __table_args__ = (Index("ix_account_approvals_account", "account_pk", "plan_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_pk: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    plan_version: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(16))  # "approved" | "rejected"
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class AccountError(ValueError):
    """A refused account operation: HTTP-like `status`, machine `code`, `field`."""

    def __init__(self, field, message, code="invalid_field", status=422):
        ValueError.__init__(self, message)
        self.field = field
        self.message = message
        self.code = code
        self.status = status


class AccountNotFound(AccountError):
    def __init__(self, account_id):
        AccountError.__init__(
            self,
            "account_id",
            "账户 %s 不存在 / account %s not found" % (account_id, account_id),
            "not_found",
            404,
        )


def _dumps(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _checked(fn, *args, **kwargs):
    """Run a validator; SettingError / SnapshotError become AccountError."""
    try:
        return fn(*args, **kwargs)
    except checks.SettingError as exc:
        raise AccountError(exc.field, exc.message)
    except SnapshotError as exc:
        raise AccountError(exc.field, exc.message)


# ---- reads ---------------------------------------------------------------------------


def get_account(session, account_id, lock=False):
    """The `Account` row, or raise `AccountNotFound`."""
    query = select(Account).where(Account.account_id == account_id)
    row = session.scalars(query.with_for_update() if lock else query).first()
    if row is None:
        raise AccountNotFound(account_id)
    return row


def follows_of(session, account):
    return session.scalars(
        select(AccountStrategy)
        .where(AccountStrategy.account_pk == account.id)
        .order_by(AccountStrategy.strategy_name)
    ).all()


def settings_of(account):
    return checks.full_settings(json.loads(account.settings_json or "{}"))


def follow_dict(account, follows):
    """The plan's `follow` object: mode and {strategy: {"ratio"|"capital": x}}."""
    key = "ratio" if account.mode == "ratio" else "capital"
    return {
        "mode": account.mode,
        "strategies": dict((f.strategy_name, {key: getattr(f, key)}) for f in follows),
    }


def strategy_rows(session, names):
    """Active strategy rows by name for the followed `names` (missing ones absent)."""
    if not names:
        return {}
    rows = session.scalars(select(Strategy).where(Strategy.name.in_(names))).all()
    return dict((r.name, r) for r in rows if r.removed_at is None and r.version > 0)


def plan_version(session, account, follows=None):
    """Hash of what the account's plan is built from (see module docstring)."""
    follows = follows if follows is not None else follows_of(session, account)
    names = [f.strategy_name for f in follows]
    versions = dict((n, 0) for n in names)
    if names:
        for name, version in session.execute(
            select(Strategy.name, Strategy.version).where(Strategy.name.in_(names))
        ).all():
            versions[name] = version
    vector = [
        account.account_id,
        account.revision,
        account.approved_version,
        sorted(versions.items()),
        trading_calendar.fingerprint(),
    ]
    return hashlib.sha256(_dumps(vector).encode("utf-8")).hexdigest()[:32]


CHANGE_WINDOW = 100


_RECENT_CHANGES = select(Change.seq).order_by(Change.seq.desc()).limit(CHANGE_WINDOW)


def recent_changes(session):
    """The newest `CHANGE_WINDOW` change sequence numbers (a frozenset).

    Sequence numbers are handed out when a write starts, so on MySQL/PostgreSQL a
    slower transaction can commit a smaller number after a larger one: watching the
    set of recent numbers, not just the largest, notices that late commit too.
    """
    return frozenset(session.scalars(_RECENT_CHANGES).all())


def recent_changes_of(db, connection=None):
    """`recent_changes` as one statement on a bare connection (pooled, or the given
    DBAPI `connection`): no session or transaction bookkeeping, for the reads that
    run many times a second (the conditional-read fast path, long-poll wake-ups)."""
    return frozenset(db.fetch_column(_RECENT_CHANGES, connection))


def recent_changes_sql(db):
    """The SQL of `recent_changes_of` for a driver outside SQLAlchemy (an event loop's
    own connection); the frozenset of its rows' first column is the same answer."""
    return db.sql_text(_RECENT_CHANGES)


def has_news(recent, seen, window=CHANGE_WINDOW):
    """True when `recent` holds a change that `seen` (an earlier `recent_changes`)
    did not, ignoring numbers older than `seen`'s window."""
    floor = min(seen) if len(seen) >= window else 0
    return any(seq > floor and seq not in seen for seq in recent)


def _last_round(session, account):
    return session.scalars(
        select(AccountReport)
        .where(AccountReport.account_pk == account.id, AccountReport.kind == "round")
        .order_by(AccountReport.id.desc())
        .limit(1)
    ).first()


def _decided(session, account, plan_version_):
    return (
        session.scalar(
            select(func.count())
            .select_from(AccountApproval)
            .where(
                AccountApproval.account_pk == account.id,
                AccountApproval.plan_version == plan_version_,
            )
        )
        > 0
    )


def held_of(session, account, last_round=None):
    """The hold waiting for the admin: the last round was held on a plan version
    nobody approved or rejected yet. None otherwise."""
    last_round = last_round if last_round is not None else _last_round(session, account)
    if last_round is None or last_round.status != "held" or not last_round.plan_version:
        return None
    if last_round.plan_version == account.approved_version or _decided(
        session, account, last_round.plan_version
    ):
        return None
    body = json.loads(last_round.body_json)
    return {
        "plan_version": last_round.plan_version,
        "held_reason": body.get("held_reason"),
        "round_id": last_round.round_id,
        "created_at": format_time(last_round.created_at),
        "orders": _preview(body.get("would_place")),
    }


def _preview(orders):
    """The orders a held round would have sent: code, side, volume, price, value."""
    result = []
    for order in orders if isinstance(orders, list) else []:
        if not isinstance(order, dict) or not isinstance(order.get("code"), str):
            continue
        volume, price = order.get("volume"), order.get("price")
        value = round(volume * price, 2) if _is_number(volume) and _is_number(price) else None
        result.append(
            {
                "code": order["code"],
                "side": order.get("side"),
                "volume": volume,
                "price": price,
                "value": value,
                "ref_price": order.get("ref_price"),
            }
        )
    return result


def approval_state(session, account):
    """The standing approval: {"plan_version", "approved_at", "stale", "changed"} or None.

    Stale when a followed strategy's version differs from the one the held round saw
    (its report's ``strategy_versions``): the plan changed after the hold, so the
    follower does not trade the approved plan and holds again if it still must.
    """
    version = account.approved_version
    if not version:
        return None
    approval = session.scalars(
        select(AccountApproval)
        .where(
            AccountApproval.account_pk == account.id,
            AccountApproval.plan_version == version,
            AccountApproval.decision == "approved",
        )
        .order_by(AccountApproval.id.desc())
        .limit(1)
    ).first()
    held = session.scalars(
        select(AccountReport)
        .where(
            AccountReport.account_pk == account.id,
            AccountReport.kind == "round",
            AccountReport.plan_version == version,
            AccountReport.status == "held",
        )
        .order_by(AccountReport.id.desc())
        .limit(1)
    ).first()
    seen = json.loads(held.body_json).get("strategy_versions") if held is not None else None
    changed = []
    if isinstance(seen, dict):
        names = [f.strategy_name for f in follows_of(session, account)]
        current = dict((n, 0) for n in names)
        if names:
            for name, v in session.execute(
                select(Strategy.name, Strategy.version).where(Strategy.name.in_(names))
            ).all():
                current[name] = v
        changed = sorted(n for n in set(current) | set(seen) if current.get(n) != seen.get(n))
    return {
        "plan_version": version,
        "approved_at": format_time(approval.created_at) if approval else None,
        "stale": bool(changed),
        "changed": changed,
    }


def latest_preflight(session, account):
    """The newest preflight report: its body (kind, follower, preflight, plan_version)
    and ``received_at``; None when the follower has sent none."""
    row = session.scalars(
        select(AccountReport)
        .where(AccountReport.account_pk == account.id, AccountReport.kind == "preflight")
        .order_by(AccountReport.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    body = json.loads(row.body_json)
    body.update(
        {
            "kind": "preflight",
            "plan_version": row.plan_version,
            "received_at": format_time(row.created_at),
        }
    )
    return body


IGNORE_SCAN_ROUNDS = 8


def ignored_codes(session, account, follows, preflight, settings):
    """The codes the pages show for `account` that its ignore list matches, read with
    the follower's own rule (`rules.ignore.matches_ignore`), so a page never
    re-implements it: codes of the followed strategies, of the account snapshots in
    its last `IGNORE_SCAN_ROUNDS` rounds, and of its latest preflight."""
    patterns = settings.get("ignore") or []
    if not patterns:
        return []
    codes = set()
    names = [f.strategy_name for f in follows]
    if names:
        codes.update(
            session.scalars(
                select(Position.code)
                .join(Strategy, Strategy.id == Position.strategy_id)
                .where(Strategy.name.in_(names), Strategy.removed_at.is_(None))
            ).all()
        )
    bodies = session.scalars(
        select(AccountReport.body_json)
        .where(AccountReport.account_pk == account.id, AccountReport.kind == "round")
        .order_by(AccountReport.id.desc())
        .limit(IGNORE_SCAN_ROUNDS)
    ).all()
    rows = []
    for body in bodies:
        snapshot = json.loads(body).get("account")
        if isinstance(snapshot, dict) and isinstance(snapshot.get("positions"), list):
            rows.extend(snapshot["positions"])
    seen = (preflight or {}).get("preflight")
    if isinstance(seen, dict) and isinstance(seen.get("positions"), list):
        rows.extend(seen["positions"])
    codes.update(r["code"] for r in rows if isinstance(r, dict) and isinstance(r.get("code"), str))
    return sorted(code for code in codes if matches_ignore(code, patterns))


def summary(session, account):
    """An account as listed by the admin API."""
    follows = follows_of(session, account)
    last_round = _last_round(session, account)
    preflight = latest_preflight(session, account)
    settings = settings_of(account)
    return {
        "account_id": account.account_id,
        "name": account.name,
        "mode": account.mode,
        "paused": account.paused,
        "dry_run": account.dry_run,
        "confirmed": bool(account.confirmed),
        "confirmed_at": format_time(account.confirmed_at),
        "preflight": preflight,
        "follow": follow_dict(account, follows),
        "settings": settings,
        "ignored_codes": ignored_codes(session, account, follows, preflight, settings),
        "approved_version": account.approved_version,
        "revision": account.revision,
        "last_seen": format_time(account.last_seen),
        "follower": json.loads(account.follower_json) if account.follower_json else None,
        "last_round": None
        if last_round is None
        else {
            "status": last_round.status,
            "round_id": last_round.round_id,
            "plan_version": last_round.plan_version,
            "created_at": format_time(last_round.created_at),
        },
        "held": held_of(session, account, last_round),
        "approval": approval_state(session, account),
        "created_at": format_time(account.created_at),
        "updated_at": format_time(account.updated_at),
    }


def list_accounts(session):
    rows = session.scalars(select(Account).order_by(Account.account_id)).all()
    return [summary(session, row) for row in rows]


def report_dict(row):
    body = json.loads(row.body_json)
    body.update(
        {
            "id": row.id,
            "kind": row.kind,
            "status": row.status,
            "round_id": row.round_id,
            "plan_version": row.plan_version,
            "created_at": format_time(row.created_at),
        }
    )
    return body


def list_reports(session, account_id, limit=50, kind="round"):
    """Newest first; `kind` "round", "heartbeat", "preflight" or "all"."""
    account = get_account(session, account_id)
    query = select(AccountReport).where(AccountReport.account_pk == account.id)
    if kind != "all":
        query = query.where(AccountReport.kind == kind)
    rows = session.scalars(query.order_by(AccountReport.id.desc()).limit(limit)).all()
    return [report_dict(r) for r in rows]


def last_report(session, account):
    row = _last_round(session, account)
    return report_dict(row) if row is not None else None


# Round statuses whose report carries the follower's account snapshot (paused,
# outside_session and preflight rounds do not read the account).
_ACCOUNT_STATUSES = ("ok", "held", "dry_run", "idle", "error")
_ACCOUNT_SCAN = 50


def last_account_report(session, account):
    """The newest round that carried an account snapshot: {"account", "created_at",
    "round_id", "status"}; None when none of the last rounds did. A paused or
    out-of-session round reads no account, so the latest round alone would show an
    empty account every evening."""
    ids = session.scalars(
        select(AccountReport.id)
        .where(
            AccountReport.account_pk == account.id,
            AccountReport.kind == "round",
            AccountReport.status.in_(_ACCOUNT_STATUSES),
        )
        .order_by(AccountReport.id.desc())
        .limit(_ACCOUNT_SCAN)
    ).all()
    for report_id in ids:
        row = session.get(AccountReport, report_id)
        snapshot = json.loads(row.body_json).get("account")
        if isinstance(snapshot, dict):
            return {
                "account": snapshot,
                "created_at": format_time(row.created_at),
                "round_id": row.round_id,
                "status": row.status,
            }
    return None


def code_names(session, codes):
    """Names of codes as any strategy's current snapshot spells them: {code: name}.
    Lets the page name a held code that the account's own target does not hold."""
    codes = sorted(set(c for c in codes if isinstance(c, str)))[:500]
    if not codes:
        return {}
    rows = session.execute(
        select(Position.code, Position.name).where(
            Position.code.in_(codes), Position.name.is_not(None), Position.name != ""
        )
    ).all()
    return dict((r.code, r.name) for r in rows)


def held_versions(session, account):
    """Plan versions this account's follower reported as held."""
    return set(
        session.scalars(
            select(AccountReport.plan_version).where(
                AccountReport.account_pk == account.id, AccountReport.status == "held"
            )
        ).all()
    )


# ---- writes ---------------------------------------------------------------------------


def _bump(session, account, now=None):
    """Record a change of `account`: new revision, a change-counter row."""
    now = now or utcnow()
    account.revision += 1
    account.updated_at = now
    session.add(
        Change(kind="account", subject=account.account_id, version=account.revision, created_at=now)
    )


def add_account(db, account_id, name=None, mode="ratio", settings=None, confirmed=False):
    """Create an account (settings validated, defaults filled); returns its summary.

    A new account is unconfirmed: its plan says ``preflight`` and its follower trades
    nothing until `confirm_account`. `confirmed=True` skips that (tests, scripted
    setups that already checked the account)."""
    account_id = _checked(checks.check_account_id, account_id)
    name = _checked(checks.check_name, name if name is not None else account_id)
    mode = _checked(checks.check_mode, mode)
    values = {}
    for key, value in (settings or {}).items():
        values[key] = _checked(checks.check_setting, key, value)

    def write(session):
        if (
            session.scalars(select(Account.id).where(Account.account_id == account_id)).first()
            is not None
        ):
            raise AccountError(
                "account_id",
                "账户 %s 已存在 / account %s already exists" % (account_id, account_id),
                "account_exists",
                409,
            )
        now = utcnow()
        account = Account(
            account_id=account_id,
            name=name,
            mode=mode,
            paused=False,
            dry_run=False,
            confirmed=bool(confirmed),
            confirmed_at=now if confirmed else None,
            settings_json=_dumps(checks.full_settings(values)),
            revision=0,
            created_at=now,
            updated_at=now,
        )
        session.add(account)
        session.flush()
        _bump(session, account, now)
        return summary(session, account)

    try:
        return db.write(write, attempts=1)
    except IntegrityError:
        raise AccountError(
            "account_id",
            "账户 %s 已存在 / account %s already exists" % (account_id, account_id),
            "account_exists",
            409,
        )


def update_account(db, account_id, changes):
    """Apply validated PATCH-style `changes` (see `account_settings.check_changes`),
    with an optional ``"follow": {strategy: {"ratio"|"capital": x} or null}`` (null:
    unfollow). Everything is checked first and written in one transaction: when any
    part is refused (e.g. a ratio over the limit, a capital for a ratio-mode account),
    nothing of the request is stored."""
    if isinstance(changes, dict) and "follow" in changes:
        changes = dict(changes)
        follow = _checked(checks.check_follow_changes, changes.pop("follow"))
        fields, settings = _checked(checks.check_changes, changes) if changes else ({}, {})
    else:
        follow = {}
        fields, settings = _checked(checks.check_changes, changes)

    def write(session):
        account = get_account(session, account_id, lock=True)
        rows = dict((f.strategy_name, f) for f in follows_of(session, account))
        for name, value in follow.items():
            if value is None and name in rows:
                session.delete(rows.pop(name))
        session.flush()
        mode = fields.get("mode", account.mode)
        if mode != account.mode and rows:
            raise AccountError(
                "mode",
                "账户还在跟随策略，先取消跟随再改方式 / unfollow every strategy before "
                "changing the mode",
                "mode_in_use",
                409,
            )
        for name, value in follow.items():
            if value is None:
                continue
            key = "ratio" if mode == "ratio" else "capital"
            if key not in value:
                raise AccountError(
                    "follow.%s.%s" % (name, key),
                    "该账户按%s跟单（%s 模式），请给出 %s / this account is in "
                    "%s mode, give a %s"
                    % ("比例" if key == "ratio" else "资金", mode, key, mode, key),
                )
            row = rows.get(name)
            if row is None:
                row = AccountStrategy(
                    account_pk=account.id, strategy_name=name, created_at=utcnow()
                )
                session.add(row)
            row.ratio, row.capital = value.get("ratio"), value.get("capital")
        for key, value in fields.items():
            setattr(account, key, value)
        if settings:
            current = settings_of(account)
            current.update(settings)
            account.settings_json = _dumps(current)
        _bump(session, account)
        return summary(session, account)

    return db.write(write)


def confirm_account(db, account_id):
    """The admin confirms the account after its preflight: the plan stops saying
    ``preflight`` (a new plan version, so followers see it at once) and the follower
    trades from its next round. Confirming a confirmed account changes nothing.
    Returns the account's summary."""

    def write(session):
        account = get_account(session, account_id, lock=True)
        if not account.confirmed:
            now = utcnow()
            account.confirmed = True
            account.confirmed_at = now
            _bump(session, account, now)
        return summary(session, account)

    return db.write(write)


def remove_account(db, account_id):
    """Delete an account with its follows, reports and approvals; revoke its follower
    tokens. Its follower then gets 404 (and trades nothing)."""

    def write(session):
        account = get_account(session, account_id, lock=True)
        now = utcnow()
        for token in session.scalars(
            select(ApiToken).where(ApiToken.account_id == account_id, ApiToken.revoked_at.is_(None))
        ).all():
            token.revoked_at = now
        for model in (AccountReport, AccountApproval, AccountStrategy):
            session.execute(delete(model).where(model.account_pk == account.id))
        session.delete(account)
        session.add(Change(kind="account", subject=account_id, version=None, created_at=now))

    db.write(write)


def set_follow(db, account_id, strategy, ratio=None, capital=None):
    """Follow (or re-scale) `strategy`: ratio in ratio mode, capital in weight mode."""
    _checked(check_strategy_name, strategy, "strategy")
    if (ratio is None) == (capital is None):
        raise AccountError(
            "ratio", "需要 ratio 或 capital 之一 / give exactly one of ratio or capital"
        )
    if ratio is not None:
        ratio = _checked(checks.check_ratio, ratio)
    else:
        capital = _checked(checks.check_capital, capital)

    def write(session):
        account = get_account(session, account_id, lock=True)
        if account.mode == "ratio" and ratio is None:
            raise AccountError(
                "capital",
                "该账户按比例跟单（ratio 模式），请给出 ratio / this account is in ratio "
                "mode, give a ratio",
            )
        if account.mode == "weight" and capital is None:
            raise AccountError(
                "ratio",
                "该账户按资金跟单（weight 模式），请给出 capital / this account is in "
                "weight mode, give a capital",
            )
        row = session.scalars(
            select(AccountStrategy).where(
                AccountStrategy.account_pk == account.id, AccountStrategy.strategy_name == strategy
            )
        ).first()
        if row is None:
            row = AccountStrategy(
                account_pk=account.id, strategy_name=strategy, created_at=utcnow()
            )
            session.add(row)
        row.ratio, row.capital = ratio, capital
        _bump(session, account)
        return {
            "account_id": account.account_id,
            "strategy": strategy,
            "ratio": ratio,
            "capital": capital,
            "strategy_exists": strategy in strategy_rows(session, [strategy]),
        }

    return db.write(write)


def unfollow(db, account_id, strategy):
    def write(session):
        account = get_account(session, account_id, lock=True)
        row = session.scalars(
            select(AccountStrategy).where(
                AccountStrategy.account_pk == account.id, AccountStrategy.strategy_name == strategy
            )
        ).first()
        if row is None:
            raise AccountError(
                "strategy",
                "账户 %s 没有跟随策略 %s / account does not follow %s"
                % (account_id, strategy, strategy),
                "not_found",
                404,
            )
        session.delete(row)
        _bump(session, account)

    db.write(write)


def decide(db, account_id, plan_version_, decision, actor="admin"):
    """Approve or reject a held plan version.

    Approving sets the account's `approved_version` (the follower trades that plan
    once) and so changes the plan version. The version must be the account's current
    plan version or one its follower reported as held. Rejecting only dismisses the
    hold: the plan stays as it is (the follower keeps holding it until the target or
    the limits change), so the plan version changes only when a standing approval of
    that version is withdrawn.
    """
    if not isinstance(plan_version_, str) or not 1 <= len(plan_version_) <= 64:
        raise AccountError(
            "plan_version",
            "需要计划版本（1-64 个字符） / plan_version (1-64 characters) is required",
        )
    if decision not in ("approved", "rejected"):
        raise ValueError(decision)

    def write(session):
        account = get_account(session, account_id, lock=True)
        known = held_versions(session, account)
        known.add(plan_version(session, account))
        if plan_version_ not in known:
            raise AccountError(
                "plan_version",
                "不是该账户当前或被暂缓的计划版本 / not the current or a held plan "
                "version of this account",
                "unknown_plan_version",
                409,
            )
        changed = decision == "approved" or account.approved_version == plan_version_
        account.approved_version = (
            plan_version_
            if decision == "approved"
            else (None if changed else account.approved_version)
        )
        session.add(
            AccountApproval(
                account_pk=account.id,
                plan_version=plan_version_,
                decision=decision,
                actor=str(actor)[:64],
                created_at=utcnow(),
            )
        )
        if changed:
            _bump(session, account)
        else:
            # the plan stays, but the dismissed hold leaves the accounts list
            change_rows.note(session, "approval", account.account_id)
        return {
            "account_id": account.account_id,
            "plan_version": plan_version_,
            "decision": decision,
            "approved_version": account.approved_version,
        }

    return db.write(write)


# ---- preflight reports ---------------------------------------------------------------
#
# A follower whose plan says "preflight" sends nothing to its broker; it reports what it
# sees instead. The shape is checked here (types of the known keys, list lengths, one
# size cap); unknown keys are kept as sent, so a newer follower can add detail.

PREFLIGHT_MAX_BYTES = 256 * 1024
PREFLIGHT_MAX_ROWS = 200  # positions, open orders, errors
PREFLIGHT_MAX_FIELDS = 500  # field names per QMT table (a build lists ~100)
PREFLIGHT_MAX_ERROR = 10000  # characters of one error text
PREFLIGHT_MAX_QUOTES = 5
PREFLIGHT_BROKERS = ("builtin", "miniqmt", "paper")
PREFLIGHT_HTTP_MODES = ("thread", "inline", "sync")
PREFLIGHT_FIELD_GROUPS = ("POSITION", "ORDER", "ACCOUNT")
_TEXT_MAX = 500

# key -> expected type of each known key of a row ("str", "num", "id": str or num);
# every key may be absent or null except the row's "code"
_POSITION_KEYS = (
    ("code", "str"),
    ("volume", "num"),
    ("can_use_volume", "num"),
    ("avg_cost", "num"),
    ("name", "str"),
)
_ORDER_KEYS = (
    ("order_id", "id"),
    ("code", "str"),
    ("side", "str"),
    ("volume", "num"),
    ("traded_volume", "num"),
    ("price", "num"),
    ("status", "id"),
    ("remark", "str"),
)
_QUOTE_KEYS = (
    ("code", "str"),
    ("last", "num"),
    ("bid1", "num"),
    ("ask1", "num"),
    ("age_seconds", "num"),
)
_ASSET_KEYS = (
    ("cash", "num"),
    ("frozen_cash", "num"),
    ("market_value", "num"),
    ("total_asset", "num"),
)


def _bad(field, message):
    return AccountError(field, message)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_value(field, value, kind):
    if value is None:
        return
    if kind == "num" and not _is_number(value):
        raise _bad(field, "必须是数字或 null / must be a finite number or null")
    if kind == "str" and not (isinstance(value, str) and len(value) <= _TEXT_MAX):
        raise _bad(
            field,
            "必须是不超过 %d 个字符的字符串或 null / must be a string of at most %d characters or null"
            % (_TEXT_MAX, _TEXT_MAX),
        )
    if kind == "id" and not ((isinstance(value, str) and len(value) <= 64) or _is_number(value)):
        raise _bad(field, "必须是字符串或数字 / must be a string or a number")


def _check_object(field, value, keys):
    if not isinstance(value, dict):
        raise _bad(field, "必须是对象 / must be an object")
    for key, kind in keys:
        _check_value("%s.%s" % (field, key), value.get(key), kind)


def _check_rows(field, value, keys, limit):
    if not isinstance(value, list):
        raise _bad(field, "必须是数组 / must be an array")
    if len(value) > limit:
        raise _bad(field, "最多 %d 项 / at most %d items" % (limit, limit))
    for index, row in enumerate(value):
        where = "%s[%d]" % (field, index)
        _check_object(where, row, keys)
        if not isinstance(row.get("code"), str) or not row["code"]:
            raise _bad(where + ".code", "缺少代码 / code is required")


def check_preflight(value):
    """Check the `preflight` object of a preflight report (module comment above);
    raises AccountError naming the field (``preflight.positions[3].volume``)."""
    if not isinstance(value, dict):
        raise _bad("preflight", "必须是对象 / must be an object")
    for key in ("at", "python", "platform"):
        _check_value("preflight." + key, value.get(key), "str")
    broker = value.get("broker")
    if broker is not None and broker not in PREFLIGHT_BROKERS:
        raise _bad(
            "preflight.broker",
            "应为 %s 之一 / must be one of %s"
            % ("、".join(PREFLIGHT_BROKERS), "|".join(PREFLIGHT_BROKERS)),
        )
    for key, keys, limit in (
        ("positions", _POSITION_KEYS, PREFLIGHT_MAX_ROWS),
        ("open_orders", _ORDER_KEYS, PREFLIGHT_MAX_ROWS),
        ("quotes", _QUOTE_KEYS, PREFLIGHT_MAX_QUOTES),
    ):
        if value.get(key) is not None:
            _check_rows("preflight." + key, value[key], keys, limit)
    if value.get("asset") is not None:
        _check_object("preflight.asset", value["asset"], _ASSET_KEYS)
    fields = value.get("fields")
    if fields is not None:
        if not isinstance(fields, dict):
            raise _bad("preflight.fields", "必须是对象 / must be an object")
        for group, names in fields.items():
            where = "preflight.fields.%s" % group
            if names is None:
                continue
            if (
                not isinstance(names, list)
                or len(names) > PREFLIGHT_MAX_FIELDS
                or not all(isinstance(n, str) and len(n) <= 64 for n in names)
            ):
                raise _bad(
                    where,
                    "必须是字段名数组（至多 %d 个） / must be an array of field names (at most %d)"
                    % (PREFLIGHT_MAX_FIELDS, PREFLIGHT_MAX_FIELDS),
                )
    checks_ = value.get("checks")
    if checks_ is not None:
        if not isinstance(checks_, dict):
            raise _bad("preflight.checks", "必须是对象 / must be an object")
        http = checks_.get("http")
        if http is not None and http not in PREFLIGHT_HTTP_MODES:
            raise _bad(
                "preflight.checks.http",
                "应为 %s 之一 / must be one of %s"
                % ("、".join(PREFLIGHT_HTTP_MODES), "|".join(PREFLIGHT_HTTP_MODES)),
            )
        for key in ("threads", "requests"):
            if checks_.get(key) is not None and not isinstance(checks_[key], bool):
                raise _bad("preflight.checks." + key, "必须是 true/false / must be a boolean")
        _check_value("preflight.checks.journal", checks_.get("journal"), "str")
    _check_value("preflight.round_ms", value.get("round_ms"), "num")
    errors = value.get("errors")
    if errors is not None:
        if not isinstance(errors, list):
            raise _bad("preflight.errors", "必须是数组 / must be an array")
        if len(errors) > PREFLIGHT_MAX_ROWS:
            raise _bad(
                "preflight.errors",
                "最多 %d 项 / at most %d items" % (PREFLIGHT_MAX_ROWS, PREFLIGHT_MAX_ROWS),
            )
        for index, text in enumerate(errors):
            if not isinstance(text, str) or len(text) > PREFLIGHT_MAX_ERROR:
                raise _bad(
                    "preflight.errors[%d]" % index,
                    "必须是不超过 %d 个字符的字符串 / must be a string of at "
                    "most %d characters" % (PREFLIGHT_MAX_ERROR, PREFLIGHT_MAX_ERROR),
                )
    return value


def _clean_report(payload):
    """Check a follower report's shape; returns (kind, status, round_id, plan_version, body).

    Every field present is type-checked whatever the kind; a heartbeat keeps only
    its `follower`, a preflight report its `follower` and its checked `preflight`.
    """
    if not isinstance(payload, dict):
        raise AccountError(
            "", "报告必须是 JSON 对象 / report must be a JSON object", "invalid_body", 400
        )
    kind = payload.get("kind")
    if kind not in REPORT_KINDS:
        raise AccountError(
            "kind",
            "kind 只能是 %s / kind must be one of %s"
            % (" 或 ".join(REPORT_KINDS), "|".join(REPORT_KINDS)),
        )
    for key in ("follower", "account"):
        if payload.get(key) is not None and not isinstance(payload[key], dict):
            raise AccountError(key, "必须是对象 / must be an object")
    status = payload.get("status")
    if status is not None and status not in REPORT_STATUSES:
        raise AccountError(
            "status",
            "未知状态，应为 %s / unknown status, expected one of %s"
            % ("|".join(REPORT_STATUSES), "|".join(REPORT_STATUSES)),
        )
    round_id, version = payload.get("round_id"), payload.get("plan_version")
    for field, value in (("round_id", round_id), ("plan_version", version)):
        if value is not None and (not isinstance(value, str) or len(value) > 64):
            raise AccountError(
                field, "必须是不超过 64 个字符的字符串 / must be a string of at most 64 characters"
            )
    for key in REPORT_LISTS:
        if payload.get(key) is not None and not isinstance(payload[key], list):
            raise AccountError(key, "必须是数组 / must be an array")
    held_reason = payload.get("held_reason")
    if held_reason is not None and not isinstance(held_reason, str):
        raise AccountError("held_reason", "必须是字符串 / must be a string")
    if kind == "heartbeat":
        return kind, None, None, None, {"follower": payload.get("follower")}
    if kind == "preflight":
        if payload.get("preflight") is None:
            raise AccountError(
                "preflight", "缺少 preflight 对象 / the preflight object is required"
            )
        check_preflight(payload["preflight"])
        body = {"follower": payload.get("follower"), "preflight": payload["preflight"]}
        if len(_dumps(body).encode("utf-8")) > PREFLIGHT_MAX_BYTES:
            raise AccountError(
                "preflight",
                "预检报告超过 %d KB / the preflight report exceeds %d KB"
                % (PREFLIGHT_MAX_BYTES // 1024, PREFLIGHT_MAX_BYTES // 1024),
                "too_large",
                413,
            )
        return kind, None, None, version, body
    if status is None:
        raise AccountError("status", "缺少 status / status is required")
    if round_id is None:
        raise AccountError("round_id", "缺少 round_id / round_id is required")
    from jq2qmt.store import quality

    try:
        quality.check_report(payload)
    except quality.QualityError as exc:
        raise AccountError(exc.field, exc.message)
    return kind, status, round_id, version, payload


def save_report(db, account_id, payload, remote_addr=None):
    """Store a follower report and note that the follower was seen; returns its id.

    A repeated round report (same round id and body, e.g. re-sent after a lost
    answer) is stored once. Only the newest heartbeat and the newest preflight report
    are kept.
    """
    kind, status, round_id, version, body = _clean_report(payload)
    text = _dumps(body)
    if len(text.encode("utf-8")) > REPORT_MAX_BYTES:
        raise AccountError(
            "",
            "报告超过 %d KB / the report exceeds %d KB"
            % (REPORT_MAX_BYTES // 1024, REPORT_MAX_BYTES // 1024),
            "too_large",
            413,
        )

    def write(session):
        account = get_account(session, account_id)
        now = utcnow()
        account.last_seen = now
        # the accounts list shows when a follower was last seen and its last rounds
        change_rows.note(session, "report", account.account_id, now=now)
        if body.get("follower") is not None:
            account.follower_json = _dumps(body["follower"])
        if kind == "round":
            same = session.scalars(
                select(AccountReport)
                .where(
                    AccountReport.account_pk == account.id,
                    AccountReport.kind == "round",
                    AccountReport.round_id == round_id,
                )
                .order_by(AccountReport.id.desc())
                .limit(1)
            ).first()
            if same is not None and same.body_json == text:
                return same.id
        else:
            session.execute(
                delete(AccountReport).where(
                    AccountReport.account_pk == account.id, AccountReport.kind == kind
                )
            )
        row = AccountReport(
            account_pk=account.id,
            kind=kind,
            status=status,
            round_id=round_id,
            plan_version=version,
            body_json=text,
            created_at=now,
            remote_addr=(remote_addr or None) and remote_addr[:64],
        )
        session.add(row)
        session.flush()
        if kind == "round":
            from jq2qmt.store import quality

            quality.record(
                session,
                account,
                body,
                round_id,
                status,
                now,
                [f.strategy_name for f in follows_of(session, account)],
            )
        if kind == "round" and (row.id % 100 == 0 or len(text) > REPORT_MAX_BYTES // 16):
            _prune_reports(session, account)
        return row.id

    return db.write(write)


def _prune_reports(session, account):
    """Keep the newest round reports: at most MAX_REPORTS_KEPT of them and at most
    REPORTS_KEPT_BYTES of report text (characters) per account."""
    cutoff, kept = None, 0
    rows = session.execute(
        select(AccountReport.id, func.length(AccountReport.body_json))
        .where(AccountReport.account_pk == account.id, AccountReport.kind == "round")
        .order_by(AccountReport.id.desc())
        .limit(MAX_REPORTS_KEPT + 1)
    )
    for count, (report_id, size) in enumerate(rows):
        kept += size or 0
        if count >= MAX_REPORTS_KEPT or kept > REPORTS_KEPT_BYTES:
            cutoff = report_id
            break
    if cutoff is not None:
        session.execute(
            delete(AccountReport).where(
                AccountReport.account_pk == account.id,
                AccountReport.kind == "round",
                AccountReport.id <= cutoff,
            )
        )


def create_follower_token(db, account_id, rotate=False):
    """A bearer token (scope "follow") bound to the account; returns the token text.

    One active follower token per account: with `rotate` the old one is revoked in
    the same transaction, otherwise an existing one is an error.
    """
    from jq2qmt.store import credentials

    token = credentials.new_token()
    name = TOKEN_NAME % account_id

    def write(session):
        get_account(session, account_id)
        active = session.scalars(
            select(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None))
        ).all()
        if active and not rotate:
            raise AccountError(
                "account_id",
                "账户 %s 已有跟单令牌；用 --rotate 吊销旧令牌并生成新令牌 / account already "
                "has a follower token; use --rotate to replace it" % account_id,
                "token_exists",
                409,
            )
        credentials.revoke_tokens(session, active)
        session.add(
            ApiToken(
                name=name,
                token_hash=credentials.token_hash(token),
                scope="follow",
                account_id=account_id,
                created_at=utcnow(),
            )
        )

    db.write(write, attempts=1)
    return token
