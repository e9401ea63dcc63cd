"""covering index of positions by code

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25

The total aggregates every position row per code (``GROUP BY code``). With an index
on (code, strategy_id, volume, cost, name) the database reads the rows already in
code order from the index alone: no sort of the whole table and no table lookups
(SQLite, 500,000 rows: the sort was about half of the aggregate's time).
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_positions_code", "positions", ["code", "strategy_id", "volume", "cost", "name"]
    )


def downgrade():
    op.drop_index("ix_positions_code", table_name="positions")
