"""Queries and writes for strategies, their snapshots and history.

Write functions take a `Database` and run their own transaction (serialized per
strategy, retried on deadlocks); read functions take an open `Session`.
"""

import json
from dataclasses import dataclass
from typing import Optional

from sqlalchemy import bindparam, case, delete, func, insert, select, true, update
from sqlalchemy.orm import aliased

from jq2qmt.store import position_totals
from jq2qmt.store.models import Change, Position, Strategy, StrategyVersion, utcnow
from jq2qmt.store.snapshot import ADJUSTMENT_PREFIX, format_time, snapshot_hash


class StaleSnapshotError(Exception):
    """An upload's `as_of` is older than the stored snapshot's."""

    def __init__(self, stored_as_of, as_of):
        Exception.__init__(self, "stale snapshot")
        self.stored_as_of = stored_as_of
        self.as_of = as_of


class VersionConflictError(Exception):
    """A correction started from `base_version`, but the strategy is at `current`
    (0: it does not exist or was removed)."""

    def __init__(self, base_version, current, source=None, update_time=None):
        Exception.__init__(self, "version conflict")
        self.base_version = base_version
        self.current = current
        self.source = source
        self.update_time = update_time


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


# The write path's statements, built once and run on the session's connection with
# parameters: no ORM persistence layer and no per-call statement building or cache-key
# walk over literal values (most of an upload's CPU time before).
_STRATEGIES, _POSITIONS = Strategy.__table__, Position.__table__
_LOCK_STRATEGY = (
    select(
        _STRATEGIES.c.id,
        _STRATEGIES.c.name,
        _STRATEGIES.c.version,
        _STRATEGIES.c.as_of,
        _STRATEGIES.c.update_time,
        _STRATEGIES.c.snapshot_hash,
        _STRATEGIES.c.removed_at,
        _STRATEGIES.c.portfolio_json,
    )
    .where(_STRATEGIES.c.name == bindparam("name"))
    .with_for_update()
)
_INSERT_STRATEGY = insert(_STRATEGIES)
_UPDATE_STRATEGY = update(_STRATEGIES).where(_STRATEGIES.c.id == bindparam("strategy"))
_INSERT_VERSION = insert(StrategyVersion.__table__)
_DELETE_POSITIONS = delete(_POSITIONS).where(_POSITIONS.c.strategy_id == bindparam("strategy"))
# Not locked: the strategy row's lock keeps other writers off these rows, and write
# transactions read the newest commit (`Database.write_once`). Locking them before the
# kept totals' rows would invert the lock order of writers that scan positions.
_CURRENT_POSITIONS = select(
    _POSITIONS.c.code, _POSITIONS.c.name, _POSITIONS.c.volume, _POSITIONS.c.cost
).where(_POSITIONS.c.strategy_id == bindparam("strategy"))
_INSERT_POSITIONS = insert(_POSITIONS)
_INSERT_CHANGE = insert(Change.__table__)


def _locked_strategy(conn, name):
    """The strategy's row (the columns writes use), locked for this transaction; None
    when there is none."""
    return conn.execute(_LOCK_STRATEGY, {"name": name}).first()


def save_snapshot(db, snapshot, source, remote_addr=None, before=None, base_version=None, carry=()):
    """Store `snapshot` as the strategy's new version, in one write transaction.

    `base_version` (a correction): the version the editor started from, 0 for a new
    strategy; when the strategy's current version differs (a newer upload, another
    editor, a removal), nothing is written and `VersionConflictError` is raised.
    `carry`: of "portfolio" and "as_of", the fields the body did not give; they keep
    the stored snapshot's values (a correction of the positions must not drop the
    portfolio weight-mode followers scale by).

    Raises `StaleSnapshotError` when `as_of` is older than the stored one. An
    identical snapshot creates no version and returns ``created=False``.

    ``before(session)``, when given, runs first in the same transaction (an upload
    records its replay nonce there): whatever it writes commits with the new version,
    and also when the snapshot is identical or stale (the stale error is raised after
    the commit); when it raises, nothing is written.
    """

    def write(session):
        if before is not None:
            before(session)
        conn = session.connection()
        strategy = _locked_strategy(conn, snapshot.strategy_name)
        if strategy is None:
            # A concurrent creator makes this insert fail; Database.write retries the
            # whole transaction, which then finds the row.
            conn.execute(
                _INSERT_STRATEGY,
                {"name": snapshot.strategy_name, "version": 0, "created_at": utcnow()},
            )
            strategy = _locked_strategy(conn, snapshot.strategy_name)
        active = strategy.version > 0 and strategy.removed_at is None
        if base_version is not None and base_version != (strategy.version if active else 0):
            return VersionConflictError(
                base_version,
                strategy.version if active else 0,
                _last_source(conn, strategy) if active else None,
                format_time(strategy.update_time) if active else None,
            )
        _carry_over(snapshot, strategy, carry if active else ())
        if (
            snapshot.as_of is not None
            and strategy.as_of is not None
            and snapshot.as_of < strategy.as_of
        ):
            return StaleSnapshotError(strategy.as_of, snapshot.as_of)
        if (
            strategy.version > 0
            and strategy.removed_at is None
            and strategy.snapshot_hash == snapshot.hash
        ):
            if snapshot.as_of is not None and (
                strategy.as_of is None or snapshot.as_of > strategy.as_of
            ):
                conn.execute(_UPDATE_STRATEGY, {"strategy": strategy.id, "as_of": snapshot.as_of})
                # the strategy's read shows as_of: a change row, like any change of it
                conn.execute(
                    _INSERT_CHANGE,
                    {
                        "kind": "strategy",
                        "subject": strategy.name,
                        "version": strategy.version,
                        "created_at": utcnow(),
                    },
                )
            return SaveResult(
                strategy.name, strategy.version, False, format_time(strategy.update_time)
            )
        return _write_version(
            conn,
            strategy,
            "snapshot",
            snapshot.positions,
            snapshot.portfolio,
            snapshot.as_of,
            source,
            remote_addr,
            snapshot.hash,
        )

    result = db.write(write)
    if isinstance(result, (StaleSnapshotError, VersionConflictError)):
        raise result
    return result


def _carry_over(snapshot, strategy, carry):
    """Fill the fields named in `carry` from the stored strategy row (and re-hash)."""
    if not carry:
        return
    if "portfolio" in carry and snapshot.portfolio is None and strategy.portfolio_json:
        snapshot.portfolio = json.loads(strategy.portfolio_json)
    if "as_of" in carry and snapshot.as_of is None:
        snapshot.as_of = strategy.as_of
    snapshot.hash = snapshot_hash(snapshot.positions, snapshot.portfolio)


def _last_source(conn, strategy):
    """Who wrote the strategy's current version (for a conflict message)."""
    table = StrategyVersion.__table__
    return conn.execute(
        select(table.c.source).where(
            table.c.strategy_id == strategy.id, table.c.version == strategy.version
        )
    ).scalar()


def _write_version(
    conn, strategy, kind, positions, portfolio, as_of, source, remote_addr, digest=None
):
    """A new version of `strategy` (a row from `_locked_strategy`): the version row,
    the kept totals moved (`position_totals`), the positions replaced (one
    executemany), the strategy row and a change row."""
    now = utcnow()
    version = strategy.version + 1
    digest = digest or snapshot_hash(positions, portfolio)
    portfolio_json = _dumps(portfolio) if portfolio else None
    conn.execute(
        _INSERT_VERSION,
        {
            "strategy_id": strategy.id,
            "version": version,
            "kind": kind,
            "created_at": now,
            "as_of": as_of,
            "source": source[:80],
            "remote_addr": (remote_addr or None) and remote_addr[:64],
            "positions_json": _dumps(positions),
            "portfolio_json": portfolio_json,
            "snapshot_hash": digest,
        },
    )
    # A removed strategy keeps no rows; one that never had a version has none.
    active = strategy.version > 0 and strategy.removed_at is None
    position_totals.apply_change(
        conn,
        strategy.id,
        strategy.name,
        conn.execute(_CURRENT_POSITIONS, {"strategy": strategy.id}).all() if active else (),
        [(p["code"], p.get("name"), p["volume"], p["cost"]) for p in positions],
    )
    conn.execute(_DELETE_POSITIONS, {"strategy": strategy.id})
    if positions:
        conn.execute(
            _INSERT_POSITIONS,
            [
                {
                    "strategy_id": strategy.id,
                    "code": p["code"],
                    "name": p.get("name"),
                    "volume": p["volume"],
                    "cost": p["cost"],
                }
                for p in positions
            ],
        )
    values = {
        "strategy": strategy.id,
        "version": version,
        "update_time": now,
        "snapshot_hash": digest,
        "portfolio_json": portfolio_json,
        "removed_at": now if kind == "remove" else None,
    }
    if as_of is not None:
        values["as_of"] = max(as_of, strategy.as_of or as_of)
    conn.execute(_UPDATE_STRATEGY, values)
    seq = conn.execute(
        _INSERT_CHANGE,
        {"kind": "strategy", "subject": strategy.name, "version": version, "created_at": now},
    ).inserted_primary_key[0]
    return SaveResult(strategy.name, version, True, format_time(now), seq)


def remove_strategy(db, name, source, remote_addr=None):
    """Drop a strategy from reads and totals; its history stays (a "remove" version)."""

    def write(session):
        conn = session.connection()
        strategy = _locked_strategy(conn, name)
        if strategy is None or strategy.removed_at is not None or strategy.version == 0:
            raise NotFoundError(name)
        return _write_version(conn, strategy, "remove", [], None, None, source, remote_addr)

    return db.write(write)


def latest_change_seq(session):
    """The largest change sequence number (0 when nothing was ever written)."""
    return session.scalar(select(func.max(Change.seq))) or 0


# ---- reads -----------------------------------------------------------------


def _active(session):
    # Rows with the columns reads use (attribute access like the ORM object), not
    # ORM objects: the version vector of a total covers every active strategy.
    return session.execute(
        select(
            Strategy.id,
            Strategy.name,
            Strategy.version,
            Strategy.update_time,
            Strategy.as_of,
            Strategy.portfolio_json,
        )
        .where(Strategy.removed_at.is_(None), Strategy.version > 0)
        .order_by(Strategy.name)
    ).all()


def positions_of(session, strategy_ids):
    """Per strategy id its positions as dicts (code, name, volume, cost), by code."""
    if not strategy_ids:
        return {}
    # Plain rows, not ORM objects: a total reads every position of every strategy.
    rows = session.execute(
        select(Position.strategy_id, Position.code, Position.name, Position.volume, Position.cost)
        .where(Position.strategy_id.in_(strategy_ids))
        .order_by(Position.code)
    )
    grouped = {}
    for strategy_id, code, name, volume, cost in rows:
        grouped.setdefault(strategy_id, []).append(
            {"code": code, "name": name, "volume": volume, "cost": cost}
        )
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
    return _strategy_dict(strategy, positions_of(session, [strategy.id]).get(strategy.id, []))


def removed_strategies(session):
    """Strategies that were removed (their history stays): [{"strategy_name",
    "version", "removed_at"}], by name."""
    rows = session.execute(
        select(Strategy.name, Strategy.version, Strategy.removed_at)
        .where(Strategy.removed_at.is_not(None))
        .order_by(Strategy.name)
    ).all()
    return [
        {"strategy_name": r.name, "version": r.version, "removed_at": format_time(r.removed_at)}
        for r in rows
    ]


def all_strategies(session):
    """Every active strategy's current snapshot, by name."""
    strategies = _active(session)
    grouped = positions_of(session, [s.id for s in strategies])
    return [_strategy_dict(s, grouped.get(s.id, [])) for s in strategies]


def _adjustment_clause():
    """SQL for `is_adjustment(Strategy.name)`: an exact, case-sensitive prefix test on
    every backend (SQLite's LIKE ignores ASCII case; names are utf8mb4_bin on MySQL)."""
    return func.substr(Strategy.name, 1, len(ADJUSTMENT_PREFIX)) == ADJUSTMENT_PREFIX


def _selection(names, include_adjustments):
    """WHERE clause of the active strategies a total over `names` covers: the named
    ones (every non-adjustment one when `names` is empty) plus every ``ADJUSTMENT_*``
    one when `include_adjustments`."""
    active = (Strategy.removed_at.is_(None)) & (Strategy.version > 0)
    if names:
        chosen = Strategy.name.in_(names)
        if include_adjustments:
            chosen = chosen | _adjustment_clause()
    else:
        chosen = true() if include_adjustments else ~_adjustment_clause()
    return active & chosen


def negative_totals(session, codes):
    """{code: summed volume} of the `codes` whose total over every active strategy
    (adjustments included, as in `/positions/total`) is below 0."""
    if not codes:
        return {}
    rows = session.execute(
        select(Position.code, func.sum(Position.volume))
        .join(Strategy, Strategy.id == Position.strategy_id)
        .where(_selection(None, True), Position.code.in_(sorted(set(codes))))
        .group_by(Position.code)
    )
    return dict((code, int(volume)) for code, volume in rows if volume is not None and volume < 0)


def select_strategies(session, names=None, include_adjustments=True):
    """Active strategies for a total: the named ones (all non-adjustment ones when
    `names` is empty) plus every `ADJUSTMENT_*` one when `include_adjustments`;
    sorted by name (Python string order, on every backend).

    Raises `NotFoundError` with the list of named strategies that are not active.
    """
    chosen = session.execute(
        select(Strategy.id, Strategy.name, Strategy.version).where(
            _selection(names, include_adjustments)
        )
    ).all()
    found = {s.name for s in chosen}
    missing = [n for n in (names or []) if n not in found]
    if missing:
        raise NotFoundError(missing)
    return sorted(chosen, key=lambda s: s.name)


def missing_strategies(session, names):
    """The named strategies that are not active (unknown, removed or never uploaded)."""
    if not names:
        return []
    active = set(
        session.scalars(
            select(Strategy.name).where(
                Strategy.name.in_(names), Strategy.removed_at.is_(None), Strategy.version > 0
            )
        ).all()
    )
    return [n for n in names if n not in active]


def total_fingerprint(session, names=None):
    """One aggregate row that changes with every write a total over `names` (all
    strategies when empty) can depend on: every accepted snapshot, removal or restore
    adds 1 to one strategy's version, so the version sum over a superset of the
    selection (the named rows plus every ``ADJUSTMENT_*`` row; all rows without names)
    only grows; the row count and the newest update time tell a restored older
    database apart. Costs one indexed aggregate query instead of loading every row."""
    query = select(
        func.count(Strategy.id),
        func.coalesce(func.sum(Strategy.version), 0),
        func.max(Strategy.update_time),
    )
    if names:
        query = query.where(
            Strategy.name.in_(names) | Strategy.name.startswith(ADJUSTMENT_PREFIX, autoescape=True)
        )
    count, version_sum, newest = session.execute(query).one()
    return [int(count), int(version_sum), format_time_exact(newest)]


def format_time_exact(value):
    return value.isoformat() if value is not None else None


def total_positions(session, names=None, include_adjustments=True):
    """Aggregated target: per code the summed volume, the volume-weighted cost of the
    long contributions and the first name in strategy-name order; plus the versions
    it was computed from. Over every strategy it reads the per-code sums the writes
    keep (`_kept_aggregate`); over named ones the per-row work runs in the database
    (`_aggregate`)."""
    chosen = select_strategies(session, names, include_adjustments)
    selection = _selection(names, include_adjustments)
    if not chosen:
        positions = []
    elif names:
        positions = _aggregate(session, selection, len(chosen))
    else:
        positions = _kept_aggregate(session, selection, include_adjustments)
    # the newest in SQL: converting 10,000 timestamps to datetimes costs ~50 ms
    newest = (
        session.scalar(select(func.max(Strategy.update_time)).where(selection)) if chosen else None
    )
    return {
        "positions": positions,
        "update_time": format_time(newest),
        "strategies": [{"name": s.name, "version": s.version} for s in chosen],
    }


def _code_point_order(session, expression):
    """`expression` compared in Python string order (code points) on this backend."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return expression.collate("C")
    if dialect in ("mysql", "mariadb"):
        return expression.collate("utf8mb4_bin")  # the column's own collation
    return expression  # SQLite compares text with memcmp over UTF-8: code point order


def _aggregate(session, selection, strategy_count):
    """Per code, over the `strategy_count` strategies matching `selection`, sorted by
    code: exactly what `fold_positions` gives for their rows in strategy-name order.

    One GROUP BY code query does the sums (reading the covering index of migration
    0004, no sort). Integers sum exactly. The name is the one of the first strategy,
    in code-point order, with a name for the code (stored names are never empty:
    `parse_snapshot` turns "" into None, so "not NULL" is the fold's "truthy"): its
    strategy name is a MIN in the same query, its position row one index lookup per
    code. Only the float sum of volume x cost depends on the summation order, which
    SQL does not fix: `rounded_average` proves the rounded average equal to the
    sequential sum's, and the few codes where it cannot (an average within a few ulps
    of a rounding tie) are folded in Python from their rows, in strategy-name order.
    """
    long = Position.volume > 0
    sums = (
        select(
            Position.code.label("code"),
            func.sum(Position.volume).label("volume"),
            func.sum(case((long, Position.volume), else_=0)).label("long_volume"),
            func.sum(case((long, Position.volume * Position.cost), else_=0.0)).label("value"),
            func.min(
                case((Position.name.isnot(None), _code_point_order(session, Strategy.name)))
            ).label("first"),
        )
        .join(Strategy, Strategy.id == Position.strategy_id)
        .where(selection)
        .group_by(Position.code)
        # MariaDB otherwise starts from strategies and sorts every row for the GROUP BY
        .prefix_with("STRAIGHT_JOIN", dialect="mysql")
    ).subquery()
    first_strategy, first_position = aliased(Strategy), aliased(Position)
    rows = session.execute(
        select(sums.c.code, sums.c.volume, sums.c.long_volume, sums.c.value, first_position.name)
        .outerjoin(first_strategy, first_strategy.name == sums.c.first)
        .outerjoin(
            first_position,
            (first_position.strategy_id == first_strategy.id)
            & (first_position.code == sums.c.code),
        )
    ).all()
    totals, unsure = {}, []
    for code, volume, long_volume, value, name in rows:
        average = rounded_average(float(value), int(long_volume), strategy_count)
        if average is None:
            unsure.append(code)
        totals[code] = {
            "code": code,
            "name": name,
            "total_volume": int(volume),
            "avg_cost": average,
        }
    return _with_folded(session, selection, totals, unsure)


def _kept_aggregate(session, selection, include_adjustments):
    """What `_aggregate` gives for every active strategy (`selection` without names),
    from the sums `position_totals` keeps: one row per code and scope. The kept value
    sum is exact, so the average is proved equal to the fold's like in `_aggregate`
    (with the code's long rows as the terms); the few codes where it cannot be (or
    whose products the exact form cannot hold) are folded from their rows."""
    totals, unsure = {}, []
    kept = position_totals.read_totals(session, include_adjustments)
    for code, volume, long_volume, long_count, inexact, value, name in kept:
        average = None if inexact else rounded_average(value, long_volume, max(long_count, 1))
        if average is None:
            unsure.append(code)
        totals[code] = {"code": code, "name": name, "total_volume": volume, "avg_cost": average}
    return _with_folded(session, selection, totals, unsure)


def _with_folded(session, selection, totals, unsure):
    """`totals` ({code: entry}) sorted by code, the `unsure` codes' entries replaced by
    the Python fold of their rows in strategy-name order."""
    if unsure:
        query = (
            select(Strategy.name, Position.code, Position.name, Position.volume, Position.cost)
            .join(Strategy, Strategy.id == Position.strategy_id)
            .where(selection)
        )
        if len(unsure) <= 500:
            query = query.where(Position.code.in_(unsure))
        in_order = sorted(session.execute(query).all(), key=lambda row: row[0])
        folded = {p["code"]: p for p in fold_positions(row[1:] for row in in_order)}
        totals.update((code, folded[code]) for code in unsure)
    return [totals[code] for code in sorted(totals)]


def rounded_average(value, long_volume, terms):
    """``round(value / long_volume, 6)`` as `fold_positions` computes it, given `value`
    summed from at most `terms` non-negative products in any order; None when the
    order could change the result.

    Any summation order of n non-negative terms is within (n-1) units of roundoff of
    the exact sum, so two orders differ by at most ~2n ulps relatively, and the
    divisions by at most one more each. The slack below is 4 times that; round() is
    monotonic, so when both ends of the interval round alike, so does every sum in it.
    """
    if not long_volume:
        return 0.0
    if not (0.0 <= value < float("inf")):
        return None
    average = value / long_volume
    slack = average * (terms + 2) * 2.0**-50
    low = round(average - slack, 6)
    return low if low == round(average + slack, 6) else None


def fold_positions(rows):
    """The aggregate, in Python, of ``(code, name, volume, cost)`` rows given in
    strategy-name order (the definition `_aggregate` reproduces): per code the summed
    volume, the first non-empty name, and the volume-weighted cost of the long rows,
    rounded to 6 places; sorted by code."""
    totals = {}
    for code, name, volume, cost in rows:
        entry = totals.setdefault(
            code, {"code": code, "name": None, "total_volume": 0, "_long": 0, "_value": 0.0}
        )
        entry["total_volume"] += volume
        entry["name"] = entry["name"] or name
        if volume > 0:
            entry["_long"] += volume
            entry["_value"] += volume * cost
    positions = []
    for code in sorted(totals):
        entry = totals[code]
        long_volume, value = entry.pop("_long"), entry.pop("_value")
        entry["avg_cost"] = round(value / long_volume, 6) if long_volume else 0.0
        positions.append(entry)
    return positions


def _strategy_row(session, name):
    strategy = session.scalars(select(Strategy).where(Strategy.name == name)).first()
    if strategy is None or strategy.version == 0:
        raise NotFoundError(name)
    return strategy


def history(session, name, limit=100, offset=0):
    """Versions of a strategy, newest first (removed strategies keep theirs)."""
    strategy = _strategy_row(session, name)
    rows = session.scalars(
        select(StrategyVersion)
        .where(StrategyVersion.strategy_id == strategy.id)
        .order_by(StrategyVersion.version.desc())
        .limit(limit)
        .offset(offset)
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
    row = session.scalars(
        select(StrategyVersion).where(
            StrategyVersion.strategy_id == strategy.id, StrategyVersion.version == version
        )
    ).first()
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
            changes.append(
                {"code": code, "name": name, "from_volume": a, "to_volume": b, "delta": b - a}
            )
    return changes
