"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25

Types are spelled out here (not imported from models.py) so this revision keeps
creating the same schema when the models change later.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# MySQL/MariaDB: InnoDB (row locks, FKs) and utf8mb4 (Chinese names) whatever the
# server's defaults are.
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
        "admin_credentials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        **_TABLE,
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("revoked_at", _ts(), nullable=True),
        sa.Column("last_used_at", _ts(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
        **_TABLE,
    )
    op.create_table(
        "auth_failures",
        sa.Column("id", _bigid(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        **_TABLE,
    )
    with op.batch_alter_table("auth_failures", schema=None) as batch_op:
        batch_op.create_index("ix_auth_failures_key_at", ["key", "at"], unique=False)

    op.create_table(
        "changes",
        sa.Column("seq", _bigid(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", _name(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        **_TABLE,
    )
    op.create_table(
        "clients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", _name(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("public_key_pem", sa.Text(), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("revoked_at", _ts(), nullable=True),
        sa.Column("last_used_at", _ts(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        **_TABLE,
    )
    op.create_table(
        "nonces",
        sa.Column("id", _bigid(), autoincrement=True, nullable=False),
        sa.Column("client_name", _name(), nullable=False),
        sa.Column("nonce", _name(), nullable=False),
        sa.Column("seen_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("client_name", "nonce", name="uq_nonces_client_nonce"),
        **_TABLE,
    )
    with op.batch_alter_table("nonces", schema=None) as batch_op:
        batch_op.create_index("ix_nonces_seen_at", ["seen_at"], unique=False)

    op.create_table(
        "strategies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", _name(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("as_of", _ts(), nullable=True),
        sa.Column("update_time", _ts(), nullable=True),
        sa.Column("snapshot_hash", sa.String(length=64), nullable=True),
        sa.Column("portfolio_json", sa.Text(), nullable=True),
        sa.Column("removed_at", _ts(), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        **_TABLE,
    )
    op.create_table(
        "positions",
        sa.Column("id", _bigid(), autoincrement=True, nullable=False),
        sa.Column("strategy_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=True),
        sa.Column("volume", sa.BigInteger(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["strategy_id"], ["strategies.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("strategy_id", "code", name="uq_positions_strategy_code"),
        **_TABLE,
    )
    op.create_table(
        "strategy_versions",
        sa.Column("id", _bigid(), autoincrement=True, nullable=False),
        sa.Column("strategy_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("as_of", _ts(), nullable=True),
        sa.Column("source", sa.String(length=80), nullable=False),
        sa.Column("remote_addr", sa.String(length=64), nullable=True),
        sa.Column("positions_json", _longtext(), nullable=False),
        sa.Column("portfolio_json", sa.Text(), nullable=True),
        sa.Column("snapshot_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["strategy_id"], ["strategies.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("strategy_id", "version", name="uq_strategy_versions_version"),
        **_TABLE,
    )


def downgrade():
    op.drop_table("strategy_versions")
    op.drop_table("positions")
    op.drop_table("strategies")
    with op.batch_alter_table("nonces", schema=None) as batch_op:
        batch_op.drop_index("ix_nonces_seen_at")

    op.drop_table("nonces")
    op.drop_table("clients")
    op.drop_table("changes")
    with op.batch_alter_table("auth_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_auth_failures_key_at")

    op.drop_table("auth_failures")
    op.drop_table("api_tokens")
    op.drop_table("admin_credentials")
