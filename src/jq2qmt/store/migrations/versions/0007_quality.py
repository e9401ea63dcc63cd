"""quality_rounds, quality_orders, quality_fills: tracking and execution quality, order log

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

What the followers' round reports carry, kept per account and trading day (see
jq2qmt.store.quality): one row per round that read the account (assets, tracking
deviation, the strategies' own value), one per order placed, rejected or skipped
(status and fills follow later reports), one per fill (unique per account, day and
trade id) with its slippage against the order's reference price.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _ts():
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def _double():
    return sa.Float().with_variant(mysql.DOUBLE(asdecimal=False), "mysql", "mariadb")


def _id():
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _account():
    return sa.Column(
        "account_pk", sa.Integer(), sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    )


def upgrade():
    op.create_table(
        "quality_rounds",
        sa.Column("id", _id(), primary_key=True, autoincrement=True),
        _account(),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("round_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=True),
        sa.Column("at", _ts(), nullable=True),
        sa.Column("received_at", _ts(), nullable=False),
        sa.Column("total_asset", _double(), nullable=True),
        sa.Column("cash", _double(), nullable=True),
        sa.Column("market_value", _double(), nullable=True),
        sa.Column("deviation_value", _double(), nullable=True),
        sa.Column("deviation_pct", _double(), nullable=True),
        sa.Column("strategy_value", _double(), nullable=True),
        sa.Column("detail_json", sa.Text(), nullable=False),
    )
    op.create_index("ix_quality_rounds_account_day", "quality_rounds", ["account_pk", "day", "id"])
    op.create_table(
        "quality_orders",
        sa.Column("id", _id(), primary_key=True, autoincrement=True),
        _account(),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("round_id", sa.String(64), nullable=False),
        sa.Column("remark", sa.String(64), nullable=True),
        sa.Column("order_id", sa.String(64), nullable=True),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("side", sa.String(8), nullable=True),
        sa.Column("volume", sa.Integer(), nullable=True),
        sa.Column("price", _double(), nullable=True),
        sa.Column("ref_price", _double(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("broker_status", sa.Integer(), nullable=True),
        sa.Column("status_text", sa.String(128), nullable=True),
        sa.Column("traded_volume", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("strategies", sa.String(512), nullable=True),
        sa.Column("upload_at", _ts(), nullable=True),
        sa.Column("placed_at", _ts(), nullable=False),
        sa.Column("first_fill_at", _ts(), nullable=True),
        sa.Column("last_fill_at", _ts(), nullable=True),
        sa.Column("updated_at", _ts(), nullable=False),
    )
    op.create_index("ix_quality_orders_account_day", "quality_orders", ["account_pk", "day", "id"])
    op.create_index("ix_quality_orders_remark", "quality_orders", ["account_pk", "remark"])
    op.create_table(
        "quality_fills",
        sa.Column("id", _id(), primary_key=True, autoincrement=True),
        _account(),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("round_id", sa.String(64), nullable=False),
        sa.Column("trade_id", sa.String(64), nullable=False),
        sa.Column("order_id", sa.String(64), nullable=True),
        sa.Column("remark", sa.String(64), nullable=True),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("volume", sa.Integer(), nullable=False),
        sa.Column("price", _double(), nullable=False),
        sa.Column("ref_price", _double(), nullable=True),
        sa.Column("slippage_bps", _double(), nullable=True),
        sa.Column("slippage_cost", _double(), nullable=True),
        sa.Column("traded_at", sa.String(19), nullable=True),
        sa.Column("received_at", _ts(), nullable=False),
        sa.UniqueConstraint("account_pk", "day", "trade_id", name="uq_quality_fills_trade"),
    )
    op.create_index("ix_quality_fills_account_day", "quality_fills", ["account_pk", "day"])


def downgrade():
    op.drop_table("quality_fills")
    op.drop_table("quality_orders")
    op.drop_table("quality_rounds")
