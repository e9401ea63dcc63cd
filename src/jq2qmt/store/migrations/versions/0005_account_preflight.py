"""accounts.confirmed / confirmed_at: the read-only preflight of new accounts

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

A new account starts unconfirmed: its plan says ``preflight`` and its follower only
reports what it sees until the admin confirms the account. Accounts that exist when
this revision runs already trade, so they are marked confirmed here (their
``confirmed_at`` stays empty: nobody confirmed them through the preflight). The
column's server default is false, so a row written without it never trades.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _ts():
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade():
    op.add_column(
        "accounts", sa.Column("confirmed", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column("accounts", sa.Column("confirmed_at", _ts(), nullable=True))
    accounts = sa.table("accounts", sa.column("confirmed", sa.Boolean()))
    op.execute(accounts.update().values(confirmed=True))


def downgrade():
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("confirmed_at")
        batch.drop_column("confirmed")
