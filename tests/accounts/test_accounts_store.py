"""Account storage: migration 0002 matches the models, the plan version follows what a
plan is built from, concurrent writers lose nothing (all backends)."""

import threading

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from jq2qmt.store import accounts, migrate, repo
from jq2qmt.store.db import Database
from jq2qmt.store.models import Base
from jq2qmt.store.snapshot import parse_snapshot

TABLES = ("accounts", "account_strategies", "account_reports", "account_approvals")


def _snapshot(name, volume):
    return parse_snapshot(
        {
            "strategy_name": name,
            "positions": [{"code": "600000.XSHG", "volume": volume, "cost": 10.0}],
        }
    )


def test_migration_creates_exactly_the_account_models(db_url):
    db = Database(db_url)
    try:
        with db.engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
        ours = [d for d in diff if any(name in repr(d) for name in TABLES)]
        assert ours == []
        assert set(TABLES) <= set(inspect(db.engine).get_table_names())
    finally:
        db.dispose()


def test_downgrade_below_0002_drops_the_account_tables_and_upgrade_restores_them(tmp_path):
    db = Database("sqlite:///" + (tmp_path / "m.sqlite3").as_posix())
    try:
        migrate.upgrade(db.engine)
        migrate.downgrade(db.engine, "0001")
        assert not set(TABLES) & set(inspect(db.engine).get_table_names())
        migrate.upgrade(db.engine)
        assert set(TABLES) <= set(inspect(db.engine).get_table_names())
    finally:
        db.dispose()


def _version(db, account_id="A1"):
    with db.read() as session:
        return accounts.plan_version(session, accounts.get_account(session, account_id))


def test_plan_version_follows_followed_strategies_only(db_url):
    db = Database(db_url)
    try:
        accounts.add_account(db, "A1", "一号", "ratio")
        accounts.set_follow(db, "A1", "S1", ratio=1)
        versions = [_version(db)]
        repo.save_snapshot(db, _snapshot("S1", 100), "test")
        versions.append(_version(db))
        repo.save_snapshot(db, _snapshot("S2", 100), "test")  # not followed
        assert _version(db) == versions[-1]
        repo.save_snapshot(db, _snapshot("S1", 100), "test")  # identical: no new version
        assert _version(db) == versions[-1]
        repo.remove_strategy(db, "S1", "test")
        versions.append(_version(db))
        accounts.update_account(db, "A1", {"max_turnover": 0.5})
        versions.append(_version(db))
        assert len(set(versions)) == len(versions)
        accounts.add_account(db, "A2", "二号", "ratio")
        assert _version(db, "A2") != _version(db)
    finally:
        db.dispose()


def test_concurrent_writers_lose_no_change(db_url):
    db = Database(db_url)
    try:
        accounts.add_account(db, "A1", "一号", "ratio")
        start = accounts.update_account(db, "A1", {"dry_run": False})["revision"]
        errors = []

        def writer(key, values):
            try:
                for value in values:
                    accounts.update_account(db, "A1", {key: value})
            except Exception as exc:
                errors.append(exc)

        threads = [
            threading.Thread(target=writer, args=("min_order_value", range(1, 6))),
            threading.Thread(target=writer, args=("slippage", [0.001, 0.002, 0.003, 0.004, 0.005])),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        with db.read() as session:
            row = accounts.get_account(session, "A1")
            settings = accounts.settings_of(row)
            assert row.revision == start + 10
        assert settings["min_order_value"] == 5 and settings["slippage"] == 0.005
    finally:
        db.dispose()


def test_float_settings_keep_full_precision(db_url):
    db = Database(db_url)
    try:
        accounts.add_account(db, "A1", "一号", "weight")
        accounts.set_follow(db, "A1", "S1", capital=1234567.891)
        with db.read() as session:
            follow = accounts.follow_dict(
                accounts.get_account(session, "A1"),
                accounts.follows_of(session, accounts.get_account(session, "A1")),
            )
        assert follow["strategies"]["S1"]["capital"] == 1234567.891
    finally:
        db.dispose()


def test_a_late_commit_of_a_smaller_change_number_is_news():
    seen = frozenset(range(1, 11))  # 1..10 committed; 7 was handed out but committed late
    assert not accounts.has_news(seen, seen)
    assert accounts.has_news(seen | {11}, seen)
    late = frozenset(range(1, 11)) | {11}
    assert accounts.has_news(late, late - {7})  # 7 arrives after 8..11 were seen
    full = frozenset(range(101, 201))  # a full window: older numbers are beyond it
    assert not accounts.has_news(frozenset(range(102, 201)) | {50}, full)
    assert accounts.has_news(frozenset(range(102, 202)), full)
    assert accounts.has_news(frozenset({1}), frozenset())


def test_recent_changes_sees_account_writes(db_url):
    db = Database(db_url)
    try:
        with db.read() as session:
            before = accounts.recent_changes(session)
        accounts.add_account(db, "A1", "一号", "ratio")
        with db.read() as session:
            after = accounts.recent_changes(session)
        assert accounts.has_news(after, before) and not accounts.has_news(after, after)
    finally:
        db.dispose()
