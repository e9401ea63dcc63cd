"""notifications; DOUBLE precision floats on MySQL

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25

Two things:

- the notification tables (channels, per-event switches, the cross-process rate
  limit and the notification log);
- on MySQL/MariaDB a bare ``FLOAT`` column is single precision (a cost of
  52.123456789 reads back as 52.1235), so the float columns of 0001/0002 become
  ``DOUBLE`` there. The other backends already store doubles; nothing changes there.

Types are spelled out here (not imported from the models) so this revision keeps
creating the same schema when the models change later.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TABLE = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
}

# (table, column, nullable) of the float columns created by 0001 and 0002
_FLOAT_COLUMNS = (
    ("positions", "cost", False),
    ("account_strategies", "ratio", True),
    ("account_strategies", "capital", True),
)


def _ts():
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def _bigid():
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _name():
    return sa.String(64).with_variant(
        mysql.VARCHAR(64, collation="utf8mb4_bin"), "mysql", "mariadb"
    )


def _is_mysql():
    return op.get_bind().dialect.name in ("mysql", "mariadb")


def upgrade():
    if _is_mysql():
        for table, column, nullable in _FLOAT_COLUMNS:
            op.alter_column(
                table,
                column,
                type_=mysql.DOUBLE(),
                existing_type=mysql.FLOAT(),
                existing_nullable=nullable,
            )
    op.create_table(
        "notify_channels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", _name(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("config_json", sa.Text(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        **_TABLE,
    )
    op.create_table(
        "notify_events",
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("threshold_minutes", sa.Integer(), nullable=True),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("event"),
        **_TABLE,
    )
    op.create_table(
        "notify_throttle",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("subject", _name(), nullable=False),
        sa.Column("last_sent_at", _ts(), nullable=False),
        sa.Column("suppressed", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event", "subject", name="uq_notify_throttle"),
        **_TABLE,
    )
    op.create_table(
        "notify_log",
        sa.Column("id", _bigid(), autoincrement=True, nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("subject", _name(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        **_TABLE,
    )


def downgrade():
    op.drop_table("notify_log")
    op.drop_table("notify_throttle")
    op.drop_table("notify_events")
    op.drop_table("notify_channels")
    if _is_mysql():
        for table, column, nullable in _FLOAT_COLUMNS:
            op.alter_column(
                table,
                column,
                type_=mysql.FLOAT(),
                existing_type=mysql.DOUBLE(),
                existing_nullable=nullable,
            )
