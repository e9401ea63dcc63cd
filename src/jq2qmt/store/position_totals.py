"""The whole-set total kept incrementally: per code and scope the running sums of the
active strategies' positions (`PositionTotal`), so a cold total reads one row per code
instead of every position.

Every write that changes a strategy's current positions calls `apply_change` in its
transaction, before it replaces the position rows, with the strategy's rows before
and after. The sums move by the difference, one upsert of the changed codes in code
order: concurrent writers of codes in common queue on the rows in the same order (no
deadlock) and each adds to what the previous one committed (no lost update).

Exactness: counts and volumes are integers. The fold's float sum of volume x cost
depends on the summation order, so the exact sum of the products is kept instead, as
an integer scaled by 2**64 split into 40-bit limbs (each limb of a product is below
2**40 and there are far fewer than 2**23 strategies, so no column ever leaves 64 bits,
and integer sums are exact in any order on every backend). A product that is not a
multiple of 2**-64 or not below 2**96 (costs no real price has) is counted in
``inexact`` and its code is folded from its rows at read time.

The first name in strategy-name order is kept as that strategy's name and the name
it gives; when that strategy stops naming the code, the next one is looked up among
the code's rows.
"""

import math

from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.dialects import mysql, postgresql, sqlite

from jq2qmt.store.models import Position, PositionTotal, Strategy
from jq2qmt.store.snapshot import is_adjustment

SCALE_BITS = 64
LIMB_BITS = 40
LIMBS = 4
_MASK = (1 << LIMB_BITS) - 1
_LIMIT = float(2 ** (LIMB_BITS * LIMBS - SCALE_BITS))
_DENOMINATOR = 1 << SCALE_BITS

# The summed columns, in the order `contribution` gives them.
SUMS = ("holders", "volume", "long_volume", "long_count", "inexact") + tuple(
    "value%d" % i for i in range(LIMBS)
)
_ZERO = (0,) * len(SUMS)
_TABLE: Table = PositionTotal.__table__  # type: ignore[assignment]
_STRATEGIES: Table = Strategy.__table__  # type: ignore[assignment]


def scope_of(strategy_name):
    """0 for a regular strategy, 1 for an ``ADJUSTMENT_*`` one."""
    return 1 if is_adjustment(strategy_name) else 0


def contribution(volume, cost):
    """What one position row adds to its code's sums, in `SUMS` order."""
    if volume <= 0:
        return (1, volume, 0, 0, 0) + (0,) * LIMBS
    scaled = scaled_product(volume * cost)
    if scaled is None:
        return (1, volume, volume, 1, 1) + (0,) * LIMBS
    return (1, volume, volume, 1, 0) + tuple(
        (scaled >> (LIMB_BITS * i)) & _MASK for i in range(LIMBS)
    )


def scaled_product(product):
    """``product * 2**64`` as an integer, or None when that is not exact or too large."""
    if not (0.0 <= product < _LIMIT):
        return None
    numerator, denominator = product.as_integer_ratio()
    if denominator > _DENOMINATOR:
        return None
    return numerator * (_DENOMINATOR // denominator)


def exact_value(limbs):
    """The float nearest to the exact sum the limbs hold (Python's int division rounds
    correctly)."""
    scaled = 0
    for i, limb in enumerate(limbs):
        scaled += int(limb) << (LIMB_BITS * i)
    return scaled / _DENOMINATOR


def apply_change(conn, strategy_id, strategy_name, old_rows, new_rows):
    """Move the kept sums from a strategy's `old_rows` to its `new_rows` (each an
    iterable of ``(code, name, volume, cost)``; empty for an inactive strategy), on
    `conn` inside the writer's transaction, before its position rows are replaced.

    Codes whose row is unchanged are left alone: their sums stay, and so does the
    first name (a strategy that names a code is never before that code's first)."""
    old = {row[0]: tuple(row[1:]) for row in old_rows}
    new = {row[0]: tuple(row[1:]) for row in new_rows}
    codes = sorted(code for code in set(old) | set(new) if old.get(code) != new.get(code))
    if not codes:
        return
    scope = scope_of(strategy_name)
    params, renamed = [], {}
    for code in codes:
        before, after = old.get(code), new.get(code)
        delta = contribution(after[1], after[2]) if after else _ZERO
        if before:
            delta = tuple(b - a for a, b in zip(contribution(before[1], before[2]), delta))
        row = {"code": code, "scope": scope}
        row.update(zip(SUMS, delta))
        params.append(row)
        if (before and before[0]) != (after and after[0]):
            renamed[code] = after and after[0]
    # One statement, codes in order: writers of common codes lock them in one order.
    conn.execute(_upsert(conn.dialect.name), params)
    if renamed:
        _keep_first_names(conn, strategy_id, strategy_name, scope, renamed)


_UPSERTS: dict = {}


def _upsert(dialect):
    """INSERT of a code's deltas that adds them to an existing row instead."""
    statement = _UPSERTS.get(dialect)
    if statement is not None:
        return statement
    if dialect in ("mysql", "mariadb"):
        insert = mysql.insert(_TABLE)
        statement = insert.on_duplicate_key_update(
            {name: _TABLE.c[name] + insert.inserted[name] for name in SUMS}
        )
    else:
        insert = (postgresql if dialect == "postgresql" else sqlite).insert(_TABLE)
        statement = insert.on_conflict_do_update(
            index_elements=[_TABLE.c.code, _TABLE.c.scope],
            set_={name: _TABLE.c[name] + insert.excluded[name] for name in SUMS},
        )
    _UPSERTS[dialect] = statement
    return statement


_SET_FIRST = (
    update(_TABLE)
    .where(_TABLE.c.code == bindparam("b_code"), _TABLE.c.scope == bindparam("b_scope"))
    .values(first_strategy=bindparam("b_first"), first_name=bindparam("b_name"))
)


def _keep_first_names(conn, strategy_id, strategy_name, scope, renamed):
    """Update the first names of the codes whose name from this strategy changed
    (`renamed`: {code: its new name, None when it names the code no more})."""
    # The rows are locked by the upsert: this reads the values the last writer committed.
    rows = conn.execute(
        select(_TABLE.c.code, _TABLE.c.first_strategy, _TABLE.c.first_name)
        .where(_TABLE.c.scope == scope, _TABLE.c.code.in_(sorted(renamed)))
        .with_for_update()
    ).all()
    changes, lost = {}, []
    for code, first, first_name in rows:
        name = renamed[code]
        if name is not None:
            if (first is None or strategy_name <= first) and (first, first_name) != (
                strategy_name,
                name,
            ):
                changes[code] = (strategy_name, name)
        elif first == strategy_name:
            lost.append(code)
    if lost:
        changes.update(_next_first_names(conn, strategy_id, scope, lost))
    if changes:
        conn.execute(
            _SET_FIRST,
            [
                {"b_code": code, "b_scope": scope, "b_first": first, "b_name": name}
                for code, (first, name) in sorted(changes.items())
            ],
        )


def _next_first_names(conn, strategy_id, scope, codes):
    """{code: (first strategy, its name for the code)} among the other active
    strategies of `scope` (None, None where no other one names it).

    Every writer of these codes in this scope waits for this transaction's row locks
    before it touches its position rows, so the committed rows are current (write
    transactions read the newest commit on every backend, see `Database.write_once`)."""
    query = (
        select(Position.code, Strategy.name, Position.name)
        .join(Strategy, Strategy.id == Position.strategy_id)
        .where(
            Position.code.in_(codes),
            Position.name.is_not(None),
            Strategy.id != strategy_id,
            Strategy.removed_at.is_(None),
            Strategy.version > 0,
        )
    )
    rows = conn.execute(query).all()
    best = dict.fromkeys(codes, (None, None))
    for code, strategy, name in rows:
        if scope_of(strategy) == scope and (best[code][0] is None or strategy < best[code][0]):
            best[code] = (strategy, name)
    return best


# ---- the whole table -------------------------------------------------------------------


def computed(conn):
    """{(code, scope): [sums list, first strategy, first name]} from the active
    strategies' position rows (what the table must hold)."""
    rows = conn.execute(
        select(Strategy.name, Position.code, Position.name, Position.volume, Position.cost)
        .join(Strategy, Strategy.id == Position.strategy_id)
        .where(Strategy.removed_at.is_(None), Strategy.version > 0)
    )
    kept = {}
    for strategy, code, name, volume, cost in rows:
        key = (code, scope_of(strategy))
        entry = kept.get(key)
        if entry is None:
            entry = kept[key] = [list(_ZERO), None, None]
        sums = entry[0]
        for i, value in enumerate(contribution(volume, cost)):
            sums[i] += value
        if name is not None and (entry[1] is None or strategy < entry[1]):
            entry[1], entry[2] = strategy, name
    return kept


def stored(conn):
    """{(code, scope): [sums list, first strategy, first name]} as the table holds them
    (rows no strategy holds any more left out)."""
    columns = [_TABLE.c[name] for name in SUMS]
    rows = conn.execute(
        select(
            _TABLE.c.code, _TABLE.c.scope, _TABLE.c.first_strategy, _TABLE.c.first_name, *columns
        )
    )
    return {
        (row[0], int(row[1])): [[int(v) for v in row[4:]], row[2], row[3]]
        for row in rows
        if int(row[4]) != 0
    }


def differences(conn):
    """Sorted (code, scope) keys where the table differs from the position rows."""
    want, have = computed(conn), stored(conn)
    return sorted(key for key in set(want) | set(have) if want.get(key) != have.get(key))


def rebuild_alone(db):
    """`rebuild` in a write transaction of its own that keeps every snapshot writer
    out until it commits, so it is safe while uploads run: writers in progress commit
    first, later ones wait. Every writer of positions starts by locking its strategy
    row (or inserting a new one):

    - PostgreSQL: the strategies table locked EXCLUSIVE (plain reads go on);
    - MySQL/MariaDB: every strategy row and the gaps between them locked (a locking
      scan at REPEATABLE READ), which also holds back the insert of a new strategy;
      the rows are then read from a snapshot taken after the locks;
    - SQLite: the write transaction already excludes every other writer.

    Returns the number of rows written."""
    with db.write_once(mysql_isolation="REPEATABLE READ") as session:
        conn = session.connection()
        if db.backend == "postgresql":
            conn.exec_driver_sql("LOCK TABLE %s IN EXCLUSIVE MODE" % _STRATEGIES.name)
        elif db.backend == "mysql":
            conn.execute(select(_STRATEGIES.c.id).with_for_update()).all()
        return rebuild(conn)


def rebuild(conn, batch=2000):
    """Replace the table's contents with the sums of the current position rows, on
    `conn` in its transaction; returns the number of rows written. No snapshot writer
    may run meanwhile: the backup restore and the migration run alone, the command
    uses `rebuild_alone`."""
    conn.execute(delete(_TABLE))
    kept = computed(conn)
    rows = [
        dict(zip(SUMS, sums), code=code, scope=scope, first_strategy=first, first_name=name)
        for (code, scope), (sums, first, name) in sorted(kept.items())
    ]
    insert = _TABLE.insert()
    for start in range(0, len(rows), batch):
        conn.execute(insert, rows[start : start + batch])
    return len(rows)


# ---- reading ---------------------------------------------------------------------------


_READS: dict = {}


def _read_sql(dialect, include_adjustments):
    """The reader's SQL text for `dialect`, compiled once (no parameters)."""
    key = (dialect.name, include_adjustments)
    sql = _READS.get(key)
    if sql is None:
        columns = [_TABLE.c.code, _TABLE.c.first_name, _TABLE.c.volume, _TABLE.c.long_volume]
        columns += [_TABLE.c.long_count, _TABLE.c.inexact]
        columns += [_TABLE.c["value%d" % i] for i in range(LIMBS)]
        query = select(*columns, _TABLE.c.first_strategy).where(_TABLE.c.holders > 0)
        if not include_adjustments:
            query = query.where(_TABLE.c.scope == 0)
        sql = _READS[key] = str(
            query.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
        )
    return sql


def read_totals(session, include_adjustments):
    """Per code held by at least one active strategy (of scope 0, and 1 when
    `include_adjustments`): (code, volume, long_volume, long_count, inexact, value,
    first name) with both scopes merged; unsorted.

    Read on the session's own DBAPI connection (its transaction, so the same snapshot
    as the session's other reads): plain tuples instead of result rows, which were
    most of the read's time for 5,000 codes."""
    connection = session.connection()
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        cursor.execute(_read_sql(connection.dialect, include_adjustments))
        rows = cursor.fetchall()
    finally:
        cursor.close()
    merged = {}
    for row in rows:
        code = row[0]
        other = merged.get(code)
        if other is None:
            merged[code] = row
            continue
        # both scopes hold the code: add the sums, keep the earlier first strategy
        first = other if row[-1] is None or (other[-1] is not None and other[-1] < row[-1]) else row
        sums = [int(a) + int(b) for a, b in zip(other[2:-1], row[2:-1])]
        merged[code] = (code, first[1], *sums, first[-1])
    result = []
    for row in merged.values():
        code, name, volume, long_volume, long_count, inexact = row[:6]
        value = math.nan if inexact else exact_value(row[6:-1])
        result.append((code, int(volume), int(long_volume), int(long_count), inexact, value, name))
    return result
