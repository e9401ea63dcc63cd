"""position_totals: the whole-set total's per-code sums, kept by every snapshot write

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

Per code and scope (regular strategies, ``ADJUSTMENT_*`` ones) the holder count, the
volume sums, the exact sum of the long rows' volume x cost (integer limbs) and the
first name in strategy-name order (see jq2qmt.store.position_totals), filled from the
current position rows: a cold total then reads one row per code.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _name():
    return sa.String(64).with_variant(
        mysql.VARCHAR(64, collation="utf8mb4_bin"), "mysql", "mariadb"
    )


def upgrade():
    from jq2qmt.store import position_totals

    count = sa.Integer()
    big = sa.BigInteger()
    op.create_table(
        "position_totals",
        sa.Column("code", sa.String(16), primary_key=True),
        sa.Column("scope", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("holders", count, nullable=False),
        sa.Column("volume", big, nullable=False),
        sa.Column("long_volume", big, nullable=False),
        sa.Column("long_count", count, nullable=False),
        sa.Column("inexact", count, nullable=False),
        *[sa.Column("value%d" % i, big, nullable=False) for i in range(position_totals.LIMBS)],
        sa.Column("first_strategy", _name(), nullable=True),
        sa.Column("first_name", sa.String(64), nullable=True),
    )
    position_totals.rebuild(op.get_bind())


def downgrade():
    op.drop_table("position_totals")
