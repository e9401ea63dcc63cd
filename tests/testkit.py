"""Small helpers shared by test folders (importable: tests/ is on sys.path through the
root conftest, pytest's default import mode)."""

import os

import pytest

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
