"""Queries and writes for strategies, their snapshots and history.

Write functions take a `Database` and run their own transaction (serialized per
strategy, retried on deadlocks); read functions take an open `Session`.
"""

import json
from dataclasses import dataclass
from typing import Optional

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from jq2qmt.store.models import Change, Position, Strategy, StrategyVersion, utcnow
from jq2qmt.store.snapshot import ADJUSTMENT_PREFIX, format_time, is_adjustment, snapshot_hash


class StaleSnapshotError(Exception):
    """An upload's `as_of` is older than the stored snapshot's."""

    def __init__(self, stored_as_of, as_of):
        Exception.__init__(self, "stale snapshot")
        self.stored_as_of = stored_as_of
        self.as_of = as_of


class NotFoundError(Exception):
    """A strategy or version that does not exist (or was removed)."""


@dataclass
class SaveResult:
    strategy_name: str
    version: int
    created: bool  # False: identical to the stored snapshot, nothing new written
    update_time: Optional[str]
    seq: Optional[int] = None


def _dumps(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _ensure_strategy_row(db, name):
    """Create the strategy row if missing (a race with another creator is fine)."""
    with db.read() as session:
        if session.scalar(select(Strategy.id).where(Strategy.name == name)) is not None:
            return
    try:
        with db.write_once() as session:
            session.add(Strategy(name=name, version=0))
    except IntegrityError:
        pass  # someone else created it first


def save_snapshot(db, snapshot, source, remote_addr=None):
    """Store `snapshot` as the strategy's new version, atomically.

    Raises `StaleSnapshotError` when `as_of` is older than the stored one. An
    identical snapshot creates no version and returns ``created=False``.
    """
    _ensure_strategy_row(db, snapshot.strategy_name)

    def write(session):
        strategy = session.scalars(
            select(Strategy).where(Strategy.name == snapshot.strategy_name).with_for_update()
        ).one()
        if snapshot.as_of is not None and strategy.as_of is not None and snapshot.as_of < strategy.as_of:
            raise StaleSnapshotError(strategy.as_of, snapshot.as_of)
        if strategy.version > 0 and strategy.removed_at is None and strategy.snapshot_hash == snapshot.hash:
            if snapshot.as_of is not None:
                strategy.as_of = max(snapshot.as_of, strategy.as_of or snapshot.as_of)
            return SaveResult(strategy.name, strategy.version, False, format_time(strategy.update_time))
        return _write_version(session, strategy, "snapshot", snapshot.positions, snapshot.portfolio,
                              snapshot.as_of, source, remote_addr)

    return db.write(write)


def _write_version(session, strategy, kind, positions, portfolio, as_of, source, remote_addr):
    now = utcnow()
    version = strategy.version + 1
    digest = snapshot_hash(positions, portfolio)
    session.add(StrategyVersion(
        strategy_id=strategy.id, version=version, kind=kind, created_at=now, as_of=as_of,
        source=source[:80], remote_addr=(remote_addr or None) and remote_addr[:64],
        positions_json=_dumps(positions), portfolio_json=_dumps(portfolio) if portfolio else None,
        snapshot_hash=digest,
    ))
    session.execute(delete(Position).where(Position.strategy_id == strategy.id))
    if positions:  # one executemany, not one ORM object per position
        session.execute(insert(Position), [{"strategy_id": strategy.id, "code": p["code"], "name": p.get("name"),
                                            "volume": p["volume"], "cost": p["cost"]} for p in positions])
    strategy.version = version
    strategy.update_time = now
    strategy.snapshot_hash = digest
    strategy.portfolio_json = _dumps(portfolio) if portfolio else None
    if as_of is not None:
        strategy.as_of = max(as_of, strategy.as_of or as_of)
    strategy.removed_at = now if kind == "remove" else None
    change = Change(kind="strategy", subject=strategy.name, version=version, created_at=now)
    session.add(change)
    session.flush()
    return SaveResult(strategy.name, version, True, format_time(now), change.seq)


def remove_strategy(db, name, source, remote_addr=None):
    """Drop a strategy from reads and totals; its history stays (a "remove" version)."""

    def write(session):
        strategy = session.scalars(select(Strategy).where(Strategy.name == name).with_for_update()).first()
        if strategy is None or strategy.removed_at is not None or strategy.version == 0:
            raise NotFoundError(name)
        return _write_version(session, strategy, "remove", [], None, None, source, remote_addr)

    return db.write(write)


def latest_change_seq(session):
    """The largest change sequence number (0 when nothing was ever written)."""
    return session.scalar(select(func.max(Change.seq))) or 0


# ---- reads -----------------------------------------------------------------

def _active(session):
    # Rows with the columns reads use (attribute access like the ORM object), not
    # ORM objects: the version vector of a total covers every active strategy.
    return session.execute(
        select(Strategy.id, Strategy.name, Strategy.version, Strategy.update_time, Strategy.as_of,
               Strategy.portfolio_json)
        .where(Strategy.removed_at.is_(None), Strategy.version > 0).order_by(Strategy.name)
    ).all()


def _positions_of(session, strategy_ids):
    if not strategy_ids:
        return {}
    # Plain rows, not ORM objects: a total reads every position of every strategy.
    rows = session.execute(select(Position.strategy_id, Position.code, Position.name, Position.volume, Position.cost)
                           .where(Position.strategy_id.in_(strategy_ids)).order_by(Position.code))
    grouped = {}
    for strategy_id, code, name, volume, cost in rows:
        grouped.setdefault(strategy_id, []).append({"code": code, "name": name, "volume": volume, "cost": cost})
    return grouped


def _strategy_dict(strategy, positions):
    return {
        "strategy_name": strategy.name,
        "version": strategy.version,
        "update_time": format_time(strategy.update_time),
        "as_of": format_time(strategy.as_of),
        "portfolio": json.loads(strategy.portfolio_json) if strategy.portfolio_json else None,
        "positions": positions,
    }


def get_strategy(session, name):
    """Current snapshot of an active strategy, or raise `NotFoundError`."""
    strategy = session.scalars(select(Strategy).where(Strategy.name == name)).first()
    if strategy is None or strategy.removed_at is not None or strategy.version == 0:
        raise NotFoundError(name)
    return _strategy_dict(strategy, _positions_of(session, [strategy.id]).get(strategy.id, []))


def all_strategies(session):
    """Every active strategy's current snapshot, by name."""
    strategies = _active(session)
    grouped = _positions_of(session, [s.id for s in strategies])
    return [_strategy_dict(s, grouped.get(s.id, [])) for s in strategies]


def select_strategies(session, names=None, include_adjustments=True):
    """Active strategies for a total: the named ones (all non-adjustment ones when
    `names` is empty) plus every `ADJUSTMENT_*` one when `include_adjustments`.

    Raises `NotFoundError` with the list of named strategies that are not active.
    """
    active = {s.name: s for s in _active(session)}
    if names:
        missing = [n for n in names if n not in active]
        if missing:
            raise NotFoundError(missing)
        chosen = [active[n] for n in names]
    else:
        chosen = [s for n, s in active.items() if not is_adjustment(n)]
    if include_adjustments:
        chosen += [s for n, s in active.items() if is_adjustment(n) and s not in chosen]
    return sorted(chosen, key=lambda s: s.name)


def missing_strategies(session, names):
    """The named strategies that are not active (unknown, removed or never uploaded)."""
    if not names:
        return []
    active = set(session.scalars(select(Strategy.name).where(
        Strategy.name.in_(names), Strategy.removed_at.is_(None), Strategy.version > 0)).all())
    return [n for n in names if n not in active]


def total_fingerprint(session, names=None):
    """One aggregate row that changes with every write a total over `names` (all
    strategies when empty) can depend on: every accepted snapshot, removal or restore
    adds 1 to one strategy's version, so the version sum over a superset of the
    selection (the named rows plus every ``ADJUSTMENT_*`` row; all rows without names)
    only grows; the row count and the newest update time tell a restored older
    database apart. Costs one indexed aggregate query instead of loading every row."""
    query = select(func.count(Strategy.id), func.coalesce(func.sum(Strategy.version), 0),
                   func.max(Strategy.update_time))
    if names:
        query = query.where(Strategy.name.in_(names) | Strategy.name.startswith(ADJUSTMENT_PREFIX, autoescape=True))
    count, version_sum, newest = session.execute(query).one()
    return [int(count), int(version_sum), format_time_exact(newest)]


def format_time_exact(value):
    return value.isoformat() if value is not None else None


def total_positions(session, names=None, include_adjustments=True):
    """Aggregated target: per code the summed volume and the volume-weighted cost of
    the long contributions; plus the versions it was computed from."""
    chosen = select_strategies(session, names, include_adjustments)
    grouped = _positions_of(session, [s.id for s in chosen])
    totals = {}
    for strategy in chosen:
        for p in grouped.get(strategy.id, []):
            entry = totals.setdefault(p["code"], {"code": p["code"], "name": None, "total_volume": 0,
                                                  "_long": 0, "_value": 0.0})
            entry["total_volume"] += p["volume"]
            entry["name"] = entry["name"] or p["name"]
            if p["volume"] > 0:
                entry["_long"] += p["volume"]
                entry["_value"] += p["volume"] * p["cost"]
    positions = []
    for code in sorted(totals):
        entry = totals[code]
        long_volume, value = entry.pop("_long"), entry.pop("_value")
        entry["avg_cost"] = round(value / long_volume, 6) if long_volume else 0.0
        positions.append(entry)
    times = [s.update_time for s in chosen if s.update_time is not None]
    return {
        "positions": positions,
        "update_time": format_time(max(times)) if times else None,
        "strategies": [{"name": s.name, "version": s.version} for s in chosen],
    }


def _strategy_row(session, name):
    strategy = session.scalars(select(Strategy).where(Strategy.name == name)).first()
    if strategy is None or strategy.version == 0:
        raise NotFoundError(name)
    return strategy


def history(session, name, limit=100, offset=0):
    """Versions of a strategy, newest first (removed strategies keep theirs)."""
    strategy = _strategy_row(session, name)
    rows = session.scalars(
        select(StrategyVersion).where(StrategyVersion.strategy_id == strategy.id)
        .order_by(StrategyVersion.version.desc()).limit(limit).offset(offset)
    ).all()
    return {
        "strategy_name": strategy.name,
        "version": strategy.version,
        "removed": strategy.removed_at is not None,
        "versions": [_version_summary(r) for r in rows],
    }


def _version_summary(row):
    positions = json.loads(row.positions_json)
    return {
        "version": row.version,
        "kind": row.kind,
        "update_time": format_time(row.created_at),
        "as_of": format_time(row.as_of),
        "source": row.source,
        "remote_addr": row.remote_addr,
        "position_count": len(positions),
        "portfolio": json.loads(row.portfolio_json) if row.portfolio_json else None,
    }


def get_version(session, name, version):
    """One stored version with its positions, or raise `NotFoundError`."""
    strategy = _strategy_row(session, name)
    row = session.scalars(select(StrategyVersion).where(
        StrategyVersion.strategy_id == strategy.id, StrategyVersion.version == version)).first()
    if row is None:
        raise NotFoundError(version)
    result = _version_summary(row)
    result["strategy_name"] = strategy.name
    result["positions"] = json.loads(row.positions_json)
    return result


def diff_positions(old, new):
    """Per code, the volume change from `old` to `new` positions (changed codes only)."""
    before = {p["code"]: p for p in old}
    after = {p["code"]: p for p in new}
    changes = []
    for code in sorted(set(before) | set(after)):
        a = before.get(code, {}).get("volume", 0)
        b = after.get(code, {}).get("volume", 0)
        if a != b or (code in before) != (code in after):
            name = (after.get(code) or before.get(code)).get("name")
            changes.append({"code": code, "name": name, "from_volume": a, "to_volume": b, "delta": b - a})
    return changes
