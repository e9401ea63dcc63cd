"""`jq2qmt db dump` / `db restore`: every table round-trips exactly across backends."""

import json
from datetime import datetime

from click.testing import CliRunner
from sqlalchemy import select, text

from jq2qmt.cli import main
from jq2qmt.store import accounts, backup, credentials, migrate, repo
from jq2qmt.store.db import Database
from jq2qmt.store.snapshot import parse_snapshot


def _upload(db, payload, source="client:joinquant"):
    return repo.save_snapshot(db, parse_snapshot(payload), source, remote_addr="127.0.0.1")


def fill(db):
    """Rows in every table, with values that are easy to get subtly wrong."""
    _upload(
        db,
        {
            "strategy_name": "多因子 Alpha",
            "as_of": "2026-11-25T09:31:00.123456+08:00",
            "portfolio": {"total_value": 1000000.07, "cash": 0.1 + 0.2},
            "positions": [
                {"code": "600000.XSHG", "volume": 1200, "cost": 10.37, "name": "浦发银行"},
                {"code": "000001.XSHE", "volume": 300, "cost": 1 / 3.0},
            ],
        },
    )
    _upload(
        db,
        {
            "strategy_name": "多因子 Alpha",
            "as_of": "2026-11-25T10:00:00+08:00",
            "positions": [{"code": "600000.SH", "volume": 100, "cost": 10.4}],
        },
    )
    _upload(
        db,
        {
            "strategy_name": "ADJUSTMENT_hand",
            "positions": [{"code": "688001.SH", "volume": -200, "cost": 52.123456789}],
        },
        source="admin",
    )
    _upload(
        db,
        {
            "strategy_name": "gone",
            "positions": [{"code": "300750.SZ", "volume": 100, "cost": 190.5}],
        },
    )
    repo.remove_strategy(db, "gone", "admin")
    credentials.create_token(db, "reader", "read")
    credentials.use_nonce(db, "joinquant", "nonce-1", 300)
    credentials.record_failure(db, "10.0.0.9", 300)
    accounts.add_account(db, "acct-1", name="实盘一号", mode="ratio")
    accounts.set_follow(db, "acct-1", "多因子 Alpha", ratio=0.5)
    accounts.update_account(db, "acct-1", {"dry_run": True})
    accounts.save_report(
        db,
        "acct-1",
        {
            "kind": "round",
            "status": "ok",
            "round_id": "r1",
            "plan_version": "v1",
            "placed": [{"code": "600000.SH", "volume": 100}],
            "rejected": [],
        },
    )


def contents(db):
    """{table: rows as encoded by the dump} for comparison across backends."""
    result = {}
    with db.engine.connect() as conn:
        for table in backup.database_tables(db.engine):
            rows = conn.execute(select(table).order_by(*table.primary_key.columns)).all()
            result[table.name] = [[backup.encode_value(v) for v in row] for row in rows]
    return result


def _rows(db, table):
    """Rows of `table` as {column: value}, read with the database's own columns."""
    with db.engine.connect() as conn:
        return [
            dict(r) for r in conn.execute(text("SELECT * FROM %s ORDER BY id" % table)).mappings()
        ]


def body_lines(path):
    """The table and row lines of a dump (the header names the backend and time)."""
    return path.read_text(encoding="utf-8").splitlines()[1:]


def test_value_encoding_round_trips_exactly():
    values = [
        None,
        True,
        0,
        -7,
        2**62,
        0.1 + 0.2,
        1e-300,
        '中文\n"q"',
        datetime(2026, 1, 2, 3, 4, 5, 678901),
        b"\x00\xff",
        float("inf"),
    ]
    for value in values:
        decoded = backup.decode_value(json.loads(json.dumps(backup.encode_value(value))))
        assert decoded == value and type(decoded) is type(value)


def test_sqlite_to_mariadb_to_postgres_round_trip(instance, tmp_path, empty_database):
    source = instance.db()
    fill(source)
    expected = contents(source)
    assert all(
        expected[name]
        for name in (
            "strategies",
            "positions",
            "strategy_versions",
            "changes",
            "clients",
            "nonces",
            "api_tokens",
            "admin_credentials",
            "auth_failures",
            "accounts",
            "account_strategies",
            "account_reports",
        )
    )

    first = tmp_path / "from-sqlite.jsonl"
    counts = backup.dump(source, first)
    assert counts["strategy_versions"] == len(expected["strategy_versions"]) == 5

    mysql = Database(empty_database("mysql"))
    postgres = Database(empty_database("postgres"))
    try:
        backup.restore(mysql, first)
        assert contents(mysql) == expected
        second = tmp_path / "from-mysql.jsonl"
        backup.dump(mysql, second)
        assert body_lines(second) == body_lines(first)

        backup.restore(postgres, second)
        assert contents(postgres) == expected
        third = tmp_path / "from-postgres.jsonl"
        backup.dump(postgres, third)
        assert body_lines(third) == body_lines(first)

        # New writes after a restore get fresh ids (sequences moved past restored rows).
        for target in (mysql, postgres):
            assert migrate.is_up_to_date(target.engine)
            result = _upload(
                target,
                {
                    "strategy_name": "多因子 Alpha",
                    "positions": [{"code": "600000.SH", "volume": 300, "cost": 10.5}],
                },
            )
            assert result.created and result.version == 3
            _upload(target, {"strategy_name": "brand new", "positions": []})
            accounts.save_report(
                target, "acct-1", {"kind": "round", "status": "ok", "round_id": "r2"}
            )
            credentials.create_token(target, "after-restore", "read")
            with target.read() as session:
                assert [h["version"] for h in repo.history(session, "多因子 Alpha")["versions"]][
                    :1
                ] == [3]
    finally:
        mysql.dispose()
        postgres.dispose()


def _cli(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_cli_dump_restore_refuses_non_empty_unless_forced(instance, tmp_path):
    fill(instance.db())
    dump_file = tmp_path / "backup.jsonl"
    result = _cli("db", "dump", str(dump_file), "--instance", str(instance.path))
    assert result.exit_code == 0, result.output
    assert dump_file.exists() and not (tmp_path / "backup.jsonl.partial").exists()

    # Same database: it is not empty, so restore refuses and changes nothing.
    before = contents(instance.db())
    result = _cli("db", "restore", str(dump_file), "--instance", str(instance.path))
    assert result.exit_code == 1
    assert "--force" in result.output and len(result.output.strip().splitlines()) == 1
    _upload(instance.db(), {"strategy_name": "after dump", "positions": []})
    result = _cli("db", "restore", str(dump_file), "--instance", str(instance.path), "--force")
    assert result.exit_code == 0, result.output
    assert contents(instance.db()) == before

    # A fresh SQLite file gets the schema and the data.
    target = "sqlite:///" + (tmp_path / "fresh.sqlite3").as_posix()
    result = _cli("db", "restore", str(dump_file), "--database-url", target)
    assert result.exit_code == 0, result.output
    fresh = Database(target)
    try:
        assert contents(fresh) == before
    finally:
        fresh.dispose()


def test_incomplete_or_foreign_files_change_nothing(instance, tmp_path):
    fill(instance.db())
    good = tmp_path / "good.jsonl"
    backup.dump(instance.db(), good)
    target = "sqlite:///" + (tmp_path / "t.sqlite3").as_posix()

    truncated = tmp_path / "truncated.jsonl"
    truncated.write_text(
        "\n".join(good.read_text(encoding="utf-8").splitlines()[:-3]) + "\n", encoding="utf-8"
    )
    result = _cli("db", "restore", str(truncated), "--database-url", target)
    assert result.exit_code == 1 and "不完整" in result.output

    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text('{"hello": 1}\n', encoding="utf-8")
    result = _cli("db", "restore", str(foreign), "--database-url", target)
    assert result.exit_code == 1 and "not a jq2qmt dump" in result.output
    assert not (tmp_path / "t.sqlite3").exists() or backup.row_count(Database(target)) == 0


def test_dump_into_missing_folder_writes_nothing(instance, tmp_path):
    result = _cli(
        "db", "dump", str(tmp_path / "no" / "such" / "dir.jsonl"), "--instance", str(instance.path)
    )
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "no").exists()


def test_help():
    for args in (["db", "dump", "--help"], ["db", "restore", "--help"]):
        result = _cli(*args)
        assert result.exit_code == 0 and "FILE" in result.output


def test_dump_of_an_older_schema_restores_and_upgrades(tmp_path):
    """A dump taken before a migration restores at its own revision, then upgrades."""
    old = Database("sqlite:///" + (tmp_path / "old.sqlite3").as_posix())
    new = Database("sqlite:///" + (tmp_path / "new.sqlite3").as_posix())
    try:
        # uploaded at the newest schema (the write path keeps tables 0002 lacks)
        migrate.upgrade(old.engine)
        _upload(
            old,
            {
                "strategy_name": "alpha",
                "positions": [{"code": "600000.SH", "volume": 100, "cost": 10.37}],
            },
        )
        migrate.downgrade(old.engine, "0002")
        with (
            old.engine.begin() as conn
        ):  # an account as the 0002 schema stores it (no ORM: the models are newer)
            conn.execute(
                text(
                    "INSERT INTO accounts (account_id, name, mode, paused, dry_run, settings_json, revision, "
                    "created_at, updated_at) VALUES ('acct-1', 'acct-1', 'ratio', :f, :f, '{}', 1, :t, :t)"
                ),
                {"f": False, "t": "2026-11-01 01:00:00.000000"},
            )  # SQLAlchemy's SQLite DATETIME text
        path = tmp_path / "old.jsonl"
        backup.dump(old, path)
        assert backup.read_header(path)["schema"] == "0002"
        backup.restore(new, path)
        assert migrate.is_up_to_date(new.engine)
        with new.read() as session:
            assert repo.get_strategy(session, "alpha")["positions"][0]["cost"] == 10.37
        restored, before = contents(new), contents(old)
        # 0005 adds accounts.confirmed (true: the account already traded) and confirmed_at
        restored.pop("accounts"), before.pop("accounts")
        old_rows, new_rows = _rows(old, "accounts"), _rows(new, "accounts")
        assert [dict(r, confirmed=1, confirmed_at=None) for r in old_rows] == new_rows
        later = set(restored) - set(before)  # tables of the migrations after 0002
        assert {k: v for k, v in restored.items() if k not in later} == before
        assert {k: restored[k] for k in later if not k.startswith("notify_")} == {
            k: [] for k in later if not k.startswith("notify_")
        }
    finally:
        old.dispose()
        new.dispose()
