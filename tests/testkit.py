"""Small helpers shared by test folders (importable: tests/ is on sys.path through the
root conftest, pytest's default import mode)."""

import datetime
import os
import socket
import threading

import pytest

BACKEND_ENV = {"mysql": "JQ2QMT_TEST_MYSQL_URL", "postgres": "JQ2QMT_TEST_POSTGRES_URL"}
REQUIRE_ALL = os.environ.get("JQ2QMT_TEST_REQUIRE_ALL_BACKENDS") == "1"


PY36_ENV = "JQ2QMT_PY36"
REQUIRE_PY36 = os.environ.get("JQ2QMT_TEST_REQUIRE_PY36") == "1"
_PYENV_PY36 = os.path.expanduser("~/.pyenv/versions/3.6.15/bin/python3.6")


def py36_python(variable=PY36_ENV):
    """Path of a CPython 3.6 interpreter (the exported files' target), or skip.

    `variable` names an environment variable that points at it (CI sets one per
    library set); the plain interpreter falls back to pyenv's 3.6.15. With
    JQ2QMT_TEST_REQUIRE_PY36=1 (CI) a missing interpreter fails the test instead.
    """
    path = os.environ.get(variable) or (_PYENV_PY36 if variable == PY36_ENV else "")
    if path and os.path.exists(path):
        return path
    if variable == PY36_ENV:
        message = "no CPython 3.6 (%s unset, %s missing): 3.6 run skipped" % (variable, _PYENV_PY36)
    else:
        message = "%s unset (a CPython 3.6 virtualenv, see .ci/run): 3.6 run skipped" % variable
    if REQUIRE_PY36:
        pytest.fail(message + " but JQ2QMT_TEST_REQUIRE_PY36=1")
    pytest.skip(message)


def backend_url(backend):
    """The env URL of a server backend, or skip (fail when all backends are required)."""
    variable = BACKEND_ENV[backend]
    url = os.environ.get(variable)
    if not url:
        message = "%s not set: %s tests skipped (see docs/development.md)" % (variable, backend)
        if REQUIRE_ALL:
            pytest.fail(message + " but JQ2QMT_TEST_REQUIRE_ALL_BACKENDS=1")
        pytest.skip(message)
    return url


# A Wednesday, inside the morning session: the start of the follower tests' clocks.
MORNING = datetime.datetime(2026, 11, 25, 10, 0, 0)

QUOTES = {
    "600000.SH": dict(last=10.0, prev_close=10.0, bid1=9.99, ask1=10.01, name="浦发银行"),
    "000001.SZ": dict(last=12.0, prev_close=12.0, bid1=11.99, ask1=12.01, name="平安银行"),
    "600036.SH": dict(last=40.0, prev_close=40.0, bid1=39.99, ask1=40.01, name="招商银行"),
    "511880.SH": dict(last=100.0, prev_close=100.0, bid1=99.999, ask1=100.001, name="银华日利"),
}


class Clock:
    """A settable clock handed to the follower loop (it never reads the real time)."""

    def __init__(self, start=MORNING):
        self.current = start

    def __call__(self):
        return self.current

    def now(self):
        return self.current

    def set(self, when):
        self.current = when

    def advance(self, seconds=1):
        self.current += datetime.timedelta(seconds=seconds)
        return self.current


class RawServer:
    """A listening socket on 127.0.0.1 whose connections `serve(conn)` handles."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.conns = []
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def _accept(self):
        while not self.closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted += 1
            self.conns.append(conn)
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn):
        pass

    def close(self):
        self.closed.set()
        self.sock.close()
        for conn in self.conns:
            conn.close()


class HungServer(RawServer):
    """Accepts connections and never answers (the request is not even read)."""
