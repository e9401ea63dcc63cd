"""`jq2qmt import-original` against a real MariaDB database with the original's schema."""

import json
import os
from datetime import datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from jq2qmt.cli import main
from jq2qmt.store import repo

# The original's tables as Flask-SQLAlchemy created them on MySQL.
ORIGINAL_SCHEMA = (
    """CREATE TABLE strategy_positions (
        id INTEGER NOT NULL AUTO_INCREMENT,
        strategy_name VARCHAR(100) NOT NULL,
        positions JSON NOT NULL,
        update_time DATETIME,
        PRIMARY KEY (id),
        UNIQUE (strategy_name)
    ) DEFAULT CHARSET=utf8mb4""",
    "CREATE INDEX ix_strategy_positions_strategy_name ON strategy_positions (strategy_name)",
    """CREATE TABLE internal_passwords (
        id INTEGER NOT NULL AUTO_INCREMENT,
        password_hash VARCHAR(64) NOT NULL,
        created_time DATETIME,
        updated_time DATETIME,
        PRIMARY KEY (id)
    ) DEFAULT CHARSET=utf8mb4""",
)

ROWS = [
    (
        "多策略V1.0",
        [
            {"code": "000001.XSHE", "name": "平安银行", "volume": 1000, "cost": 12.5},
            {"code": "600519.XSHG", "name": "贵州茅台", "volume": 100.0, "cost": 1600.123},
        ],
        datetime(2024, 1, 1, 10, 30, 0),
    ),
    (
        "ADJUSTMENT_manual",
        [{"code": "600000.XSHG", "volume": -300, "cost": 9.87}],
        datetime(2024, 1, 2, 14, 0, 5),
    ),
    ("empty", [], datetime(2024, 1, 3, 9, 31)),
]


@pytest.fixture
def original_db(mysql_server_url):
    """A throw-away MariaDB database holding the original's tables and rows."""
    server = make_url(mysql_server_url)
    name = "jq2qmt_original_%s" % os.urandom(4).hex()
    admin = create_engine(server.set(database=None))
    with admin.begin() as conn:
        conn.execute(text("CREATE DATABASE %s CHARACTER SET utf8mb4" % name))
    url = server.set(database=name)
    engine = create_engine(url)
    with engine.begin() as conn:
        for statement in ORIGINAL_SCHEMA:
            conn.execute(text(statement))
        for strategy, positions, update_time in ROWS:
            conn.execute(
                text(
                    "INSERT INTO strategy_positions (strategy_name, positions, update_time) "
                    "VALUES (:n, :p, :t)"
                ),
                {"n": strategy, "p": json.dumps(positions, ensure_ascii=False), "t": update_time},
            )
        conn.execute(
            text(
                "INSERT INTO internal_passwords (password_hash, created_time, updated_time) "
                "VALUES (SHA2('admin123', 256), NOW(), NOW())"
            )
        )
    try:
        yield url.render_as_string(hide_password=False), engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS %s" % name))
        admin.dispose()


def source_state(engine):
    with engine.connect() as conn:
        return (
            conn.execute(text("CHECKSUM TABLE strategy_positions, internal_passwords")).all(),
            conn.execute(text("SELECT * FROM strategy_positions ORDER BY id")).all(),
        )


def run(*args):
    return CliRunner().invoke(main, ["import-original"] + list(args), catch_exceptions=False)


def test_import_original_from_mariadb(instance, original_db):
    url, engine = original_db
    before = source_state(engine)

    result = run("--database-url", url, "--instance", str(instance.path), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "would import 3" in result.output and "password" in result.output
    with instance.db().read() as session:
        assert repo.all_strategies(session) == []

    # The original's plain mysql:// form works too (PyMySQL is implied).
    plain = url.replace("mysql+pymysql://", "mysql://")
    result = run("--database-url", plain, "--instance", str(instance.path))
    assert result.exit_code == 0, result.output
    assert "imported 3" in result.output
    with instance.db().read() as session:
        main_strategy = repo.get_strategy(session, "多策略V1.0")
        assert main_strategy["version"] == 1
        assert main_strategy["as_of"] == "2024-01-01T10:30:00+08:00"
        assert main_strategy["positions"] == [
            {"code": "000001.SZ", "name": "平安银行", "volume": 1000, "cost": 12.5},
            {"code": "600519.SH", "name": "贵州茅台", "volume": 100, "cost": 1600.123},
        ]
        adjustment = repo.get_strategy(session, "ADJUSTMENT_manual")
        assert adjustment["positions"] == [
            {"code": "600000.SH", "name": None, "volume": -300, "cost": 9.87}
        ]
        history = repo.history(session, "多策略V1.0")["versions"]
        assert [(h["version"], h["source"]) for h in history] == [(1, "import:original")]

    # Running it again changes nothing here; the source was never touched.
    result = run("--database-url", url, "--instance", str(instance.path))
    assert (
        result.exit_code == 0
        and "imported 0" in result.output
        and "existing skipped 3" in result.output
    )
    assert source_state(engine) == before


def test_invalid_rows_stop_the_import_unless_skipped(instance, original_db):
    url, engine = original_db
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO strategy_positions (strategy_name, positions, update_time) VALUES "
                '(\'bad\', \'[{"code": "XYZ", "volume": 1, "cost": 1}]\', NOW())'
            )
        )
    result = run("--database-url", url, "--instance", str(instance.path))
    assert result.exit_code == 1 and "positions[0].code" in result.output
    with instance.db().read() as session:
        assert repo.all_strategies(session) == []
    result = run("--database-url", url, "--instance", str(instance.path), "--skip-invalid")
    assert result.exit_code == 0 and "imported 3" in result.output and "invalid 1" in result.output


def test_source_errors_are_one_line(instance, tmp_path):
    result = run(
        "--database-url",
        "sqlite:///" + (tmp_path / "none.db").as_posix(),
        "--instance",
        str(instance.path),
    )
    assert result.exit_code == 1 and "strategy_positions" in result.output
    result = run(
        "--database-url",
        "mysql://root@127.0.0.1:9/x?connect_timeout=2",
        "--instance",
        str(instance.path),
    )
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    assert CliRunner().invoke(main, ["import-original", "--help"]).exit_code == 0


def test_import_from_the_originals_default_sqlite_file(instance, tmp_path):
    """The original ran on SQLite by default; its JSON column is text there."""
    path = tmp_path / "positions.db"
    engine = create_engine("sqlite:///" + path.as_posix())
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE strategy_positions (id INTEGER NOT NULL PRIMARY KEY, "
                "strategy_name VARCHAR(100) NOT NULL UNIQUE, positions JSON NOT NULL, update_time DATETIME)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO strategy_positions (strategy_name, positions, update_time) VALUES "
                "(:n, :p, '2024-03-01 14:50:00.000000')"
            ),
            {
                "n": "小市值",
                "p": json.dumps([{"code": "300750.XSHE", "volume": 200, "cost": 180.5}]),
            },
        )
    engine.dispose()
    result = run("--database-url", "sqlite:///" + path.as_posix(), "--instance", str(instance.path))
    assert result.exit_code == 0, result.output
    assert "imported 1" in result.output and "password" not in result.output
    with instance.db().read() as session:
        strategy = repo.get_strategy(session, "小市值")
    assert strategy["as_of"] == "2024-03-01T14:50:00+08:00"
    assert strategy["positions"] == [
        {"code": "300750.SZ", "name": None, "volume": 200, "cost": 180.5}
    ]
