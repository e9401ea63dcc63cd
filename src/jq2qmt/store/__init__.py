"""Database schema, migrations and queries (SQLAlchemy 2.x + Alembic)."""
