"""The kept per-code totals (`position_totals`) against the fold they replace, on every
backend: random sequences of uploads, corrections, adjustments and removals give the
same whole-set total (same floats, names and order) as the Python fold of the rows in
strategy-name order, and the table equals one computed from the rows; concurrent
writers of common codes lose no update; the check and rebuild command and a backup
restore repair a wrong table."""

import math
import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect, update

from jq2qmt.cli import main
from jq2qmt.store import migrate, position_totals, repo
from jq2qmt.store.backup import dump, restore
from jq2qmt.store.db import Database
from jq2qmt.store.models import Base, PositionTotal
from jq2qmt.store.snapshot import is_adjustment, parse_snapshot

CODES = ["600000.SH", "600036.SH", "000001.SZ", "300750.SZ", "688981.SH"]
# Case, accents and CJK: Python's code-point order differs from most collations.
NAMES = ["alpha", "Alpha", "beta", "Émile", "中证", "a", "ADJUSTMENT_hand", "ADJUSTMENT_Z"]


@pytest.fixture
def db(db_url):
    database = Database(db_url)
    yield database
    database.dispose()


def reference(session, include_adjustments):
    """The fold over every chosen strategy's rows, strategies in Python name order."""
    rows = []
    for strategy in repo.select_strategies(session, None, include_adjustments):
        for p in repo.get_strategy(session, strategy.name)["positions"]:
            rows.append((p["code"], p["name"], p["volume"], p["cost"]))
    return repo.fold_positions(rows)


def assert_kept_total_exact(db):
    with db.read() as session:
        for include_adjustments in (True, False):
            kept = repo.total_positions(session, None, include_adjustments)["positions"]
            assert kept == reference(session, include_adjustments)
            for a, b in zip(kept, reference(session, include_adjustments)):
                # the same double, not merely an equal-comparing value
                assert math.copysign(1.0, a["avg_cost"]) == math.copysign(1.0, b["avg_cost"])
        assert position_totals.differences(session.connection()) == []


costs = st.one_of(
    st.sampled_from([0.0, 10.5, 1.000001, 1.000002, 12.34, 3.3, 0.1]),
    st.decimals(min_value=0, max_value=2000, places=3).map(float),
    st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False),
    # products outside the exact form (too small a binary fraction, too large)
    st.sampled_from([1e-30, 5e-324, 1e25, 1.7e308]),
)
volumes = st.one_of(st.sampled_from([0, 100, 200, 300, 700, 1600]), st.integers(1, 10**11))
positions = st.lists(
    st.tuples(st.sampled_from(CODES), volumes, costs, st.sampled_from([None, "名", "Name"])),
    max_size=len(CODES),
    unique_by=lambda p: p[0],
)
operations = st.lists(
    st.tuples(
        st.sampled_from(["upload", "upload", "touch", "correct", "remove"]),
        st.sampled_from(NAMES),
        positions,
        st.booleans(),  # an adjustment's volume negated
    ),
    min_size=1,
    max_size=8,
)


def run(db, operation):
    kind, name, rows, negate = operation
    if kind == "remove":
        try:
            repo.remove_strategy(db, name, "test")
        except repo.NotFoundError:
            pass
        return
    if kind == "touch":  # the current rows again, one volume changed
        with db.read() as session:
            if repo.missing_strategies(session, [name]):
                return
            current = repo.get_strategy(session, name)["positions"]
        rows = [(p["code"], p["volume"], p["cost"], p["name"]) for p in current]
        rows[:1] = [(code, abs(volume) + 1, cost, label) for code, volume, cost, label in rows[:1]]
        negate = False
    body = {
        "strategy_name": name,
        "positions": [
            {
                "code": code,
                "volume": -volume if negate and is_adjustment(name) else volume,
                "cost": cost,
                "name": label,
            }
            for code, volume, cost, label in rows
        ],
    }
    snapshot = parse_snapshot(body)
    if kind == "correct":
        with db.read() as session:
            history = repo.missing_strategies(session, [name])
            current = 0 if history else repo.get_strategy(session, name)["version"]
        repo.save_snapshot(db, snapshot, "admin", base_version=current, carry=("portfolio",))
    else:
        repo.save_snapshot(db, snapshot, "test")


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=operations)
def test_kept_total_equals_the_fold_after_any_writes(db, sequence):
    # The database keeps the earlier examples' strategies: the total covers them too.
    for operation in sequence:
        run(db, operation)
    assert_kept_total_exact(db)


def test_first_name_moves_on_when_its_strategy_drops_it(db):
    save = lambda name, label, volume=100: repo.save_snapshot(  # noqa: E731
        db,
        parse_snapshot(
            {
                "strategy_name": name,
                "positions": [{"code": "600000.SH", "volume": volume, "cost": 1.5, "name": label}],
            }
        ),
        "test",
    )
    save("b", "乙")
    save("c", "丙")
    save("a", "甲")
    save("Z", None)  # first in code-point order, but names nothing
    assert_kept_total_exact(db)
    save("a", None)
    assert_kept_total_exact(db)
    repo.remove_strategy(db, "b", "test")
    with db.read() as session:
        assert repo.total_positions(session)["positions"][0]["name"] == "丙"
    assert_kept_total_exact(db)
    repo.remove_strategy(db, "c", "test")
    with db.read() as session:
        assert repo.total_positions(session)["positions"][0]["name"] is None
    assert_kept_total_exact(db)


def test_concurrent_writers_of_common_codes_lose_no_update(db):
    errors = []

    def writer(index):
        try:
            for round_ in range(6):
                rows = [
                    {
                        "code": code,
                        "volume": 100 * (1 + (index + round_ + i) % 7),
                        "cost": 10.0 + 0.37 * ((index * round_ + i) % 11),
                        "name": "名%d" % ((index + round_) % 3) if (index + i) % 2 else None,
                    }
                    for i, code in enumerate(CODES)
                    if (index + round_ + i) % 4
                ]
                name = "w%02d" % index
                repo.save_snapshot(
                    db, parse_snapshot({"strategy_name": name, "positions": rows}), "test"
                )
                if round_ == 3 and index % 3 == 0:
                    repo.remove_strategy(db, name, "test")
        except Exception as exc:  # reported below with the thread's index
            errors.append((index, exc))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert_kept_total_exact(db)


def test_a_rebuild_while_uploads_run_counts_every_write_once(db):
    errors, done = [], threading.Event()

    def writer(index):
        try:
            for round_ in range(5):
                rows = [
                    {"code": code, "volume": 100 * (1 + (index + round_ + i) % 5), "cost": 3.5}
                    for i, code in enumerate(CODES)
                    if (index + round_ + i) % 3
                ]
                # a new strategy every other round: its first write races the rebuild too
                name = "r%02d_%d" % (index, round_ // 2)
                repo.save_snapshot(
                    db, parse_snapshot({"strategy_name": name, "positions": rows}), "test"
                )
        except Exception as exc:  # reported below with the thread's index
            errors.append((index, exc))

    def rebuilder():
        try:
            while not done.is_set():
                position_totals.rebuild_alone(db)
        except Exception as exc:
            errors.append(("rebuild", exc))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(6)]
    rebuilding = threading.Thread(target=rebuilder)
    rebuilding.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    rebuilding.join()
    assert errors == []
    assert_kept_total_exact(db)


def _break_table(db):
    with db.write_once() as session:
        session.execute(
            update(PositionTotal)
            .where(PositionTotal.code == "600000.SH")
            .values(volume=PositionTotal.volume + 1)
        )


def _seed(db):
    for name, volume in (("a", 100), ("b", 300), ("ADJUSTMENT_x", -50)):
        repo.save_snapshot(
            db,
            parse_snapshot(
                {
                    "strategy_name": name,
                    "positions": [{"code": "600000.SH", "volume": volume, "cost": 2.25}],
                }
            ),
            "test",
        )


def test_the_totals_command_finds_and_rebuilds_a_wrong_table(db, db_url):
    _seed(db)
    runner = CliRunner()
    result = runner.invoke(main, ["db", "totals", "--database-url", db_url])
    assert result.exit_code == 0, result.output
    _break_table(db)
    result = runner.invoke(main, ["db", "totals", "--database-url", db_url])
    assert result.exit_code == 1
    assert "600000.SH(0)" in result.output
    result = runner.invoke(main, ["db", "totals", "--rebuild", "--database-url", db_url])
    assert result.exit_code == 0, result.output
    assert "rebuilt 2 rows" in result.output
    assert_kept_total_exact(db)


def test_a_restore_computes_the_table_from_the_restored_positions(db, tmp_path):
    _seed(db)
    _break_table(db)
    path = tmp_path / "dump.jsonl"
    dump(db, path)
    restore(db, path, force=True)
    assert_kept_total_exact(db)


def test_the_migration_creates_the_model_and_fills_it_from_the_positions(db, db_url):
    with db.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert [d for d in diff if "position_totals" in repr(d)] == []
    _seed(db)
    migrate.downgrade(db.engine, "0007")
    assert "position_totals" not in inspect(db.engine).get_table_names()
    migrate.upgrade(db.engine)
    assert_kept_total_exact(db)
    with db.read() as session:
        assert len(position_totals.stored(session.connection())) == 2
