"""follower accounts, followed strategies, reports, approvals

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

Types are spelled out here (not imported from the models) so this revision keeps
creating the same schema when the models change later.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TABLE = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
}


def _ts():
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def _bigid():
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _name():
    return sa.String(64).with_variant(
        mysql.VARCHAR(64, collation="utf8mb4_bin"), "mysql", "mariadb"
    )


def _longtext():
    return sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


def upgrade():
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", _name(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("settings_json", sa.Text(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("approved_version", sa.String(length=64), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.Column("last_seen", _ts(), nullable=True),
        sa.Column("follower_json", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id"),
        **_TABLE,
    )
    op.create_table(
        "account_strategies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_pk", sa.Integer(), nullable=False),
        sa.Column("strategy_name", _name(), nullable=False),
        sa.Column("ratio", sa.Float(), nullable=True),
        sa.Column("capital", sa.Float(), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(["account_pk"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_pk", "strategy_name", name="uq_account_strategies"),
        **_TABLE,
    )
    op.create_table(
        "account_reports",
        sa.Column("id", _bigid(), autoincrement=True, nullable=False),
        sa.Column("account_pk", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("round_id", sa.String(length=64), nullable=True),
        sa.Column("plan_version", sa.String(length=64), nullable=True),
        sa.Column("body_json", _longtext(), nullable=False),
        sa.Column("remote_addr", sa.String(length=64), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(["account_pk"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        **_TABLE,
    )
    with op.batch_alter_table("account_reports", schema=None) as batch_op:
        batch_op.create_index(
            "ix_account_reports_account_kind", ["account_pk", "kind", "id"], unique=False
        )

    op.create_table(
        "account_approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_pk", sa.Integer(), nullable=False),
        sa.Column("plan_version", sa.String(length=64), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(["account_pk"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        **_TABLE,
    )
    with op.batch_alter_table("account_approvals", schema=None) as batch_op:
        batch_op.create_index(
            "ix_account_approvals_account", ["account_pk", "plan_version"], unique=False
        )


def downgrade():
    # the indexes go with their tables (MySQL refuses to drop one an FK uses)
    op.drop_table("account_approvals")
    op.drop_table("account_reports")
    op.drop_table("account_strategies")
    op.drop_table("accounts")
