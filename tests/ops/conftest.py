"""Fixtures for the operations tests: empty server databases for restores."""

import os

import pytest
from sqlalchemy import MetaData

from jq2qmt.store.db import Database

BACKEND_ENV = {"mysql": "JQ2QMT_TEST_MYSQL_URL", "postgres": "JQ2QMT_TEST_POSTGRES_URL"}
REQUIRE_ALL = os.environ.get("JQ2QMT_TEST_REQUIRE_ALL_BACKENDS") == "1"


def backend_url(backend):
    """The env URL of a server backend, or skip (fail when all backends are required)."""
    variable = BACKEND_ENV[backend]
    url = os.environ.get(variable)
    if not url:
        message = "%s not set: %s tests skipped (see README, 运行测试)" % (variable, backend)
        if REQUIRE_ALL:
            pytest.fail(message + " but JQ2QMT_TEST_REQUIRE_ALL_BACKENDS=1")
        pytest.skip(message)
    return url


def drop_everything(url):
    """Leave the database with no tables at all (the shared fixtures rebuild it later)."""
    db = Database(url)
    try:
        metadata = MetaData()
        metadata.reflect(db.engine)
        metadata.drop_all(db.engine)
    finally:
        db.dispose()


@pytest.fixture
def empty_database():
    """factory(backend) -> URL of an emptied MySQL/PostgreSQL test database."""
    used = []

    def factory(backend):
        url = backend_url(backend)
        drop_everything(url)
        used.append(url)
        return url

    yield factory
    for url in used:
        drop_everything(url)
