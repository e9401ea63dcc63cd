"""Private database servers for the fault tests: a MariaDB and a PostgreSQL of our own.

The machine's shared MariaDB/PostgreSQL serve other tests and CI, so the fault tests
never stop them: each test starts a throw-away server on a free port with its data
in a temporary folder, stops and restarts it at will, and removes it at the end.
When the binaries are missing the test is skipped with the reason (it fails instead
under JQ2QMT_TEST_REQUIRE_ALL_BACKENDS=1, as in CI).
"""

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REQUIRE_ALL = os.environ.get("JQ2QMT_TEST_REQUIRE_ALL_BACKENDS") == "1"
START_TIMEOUT = 60


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unavailable(message):
    if REQUIRE_ALL:
        pytest.fail(message + " but JQ2QMT_TEST_REQUIRE_ALL_BACKENDS=1")
    pytest.skip(message)


def _as_root():
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class PrivateMariaDB:
    """mariadbd on 127.0.0.1:port, no grant tables (a private test server)."""

    kind = "mysql"
    MARIADBD = "/usr/sbin/mariadbd"

    def __init__(self):
        install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
        if not (os.path.exists(self.MARIADBD) and install):
            unavailable(
                "mariadbd / mariadb-install-db not installed: private MariaDB fault test skipped"
            )
        self.folder = Path(tempfile.mkdtemp(prefix="jq2qmt-mariadb-"))
        self.port = free_port()
        self.process = None
        result = subprocess.run(
            [
                install,
                "--no-defaults",
                "--auth-root-authentication-method=normal",
                "--datadir=%s" % (self.folder / "data"),
                "--skip-test-db",
            ]
            + self._user(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout.decode("utf-8", "replace")[-2000:]

    @staticmethod
    def _user():
        return ["--user=root"] if _as_root() else []  # mariadbd refuses to run as root otherwise

    @property
    def url(self):
        return "mysql+pymysql://root@127.0.0.1:%d/jq2qmt_faults" % self.port

    def start(self):
        log = open(self.folder / "server.log", "ab")
        self.process = subprocess.Popen(
            [
                self.MARIADBD,
                "--no-defaults",
                "--datadir=%s" % (self.folder / "data"),
                "--port=%d" % self.port,
                "--bind-address=127.0.0.1",
                "--socket=%s" % (self.folder / "sock"),
                "--skip-grant-tables",
                "--innodb-buffer-pool-size=32M",
                "--skip-log-bin",
            ]
            + self._user(),
            stdout=log,
            stderr=log,
        )
        log.close()
        self._wait_ready()

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        while not _accepts(self.port):
            assert self.process.poll() is None, (self.folder / "server.log").read_text(
                errors="replace"
            )[-2000:]
            assert time.monotonic() < deadline, "private MariaDB did not start"
            time.sleep(0.1)

    def create_database(self):
        import pymysql

        conn = pymysql.connect(host="127.0.0.1", port=self.port, user="root")
        try:
            with conn.cursor() as cursor:
                cursor.execute(
                    "CREATE DATABASE jq2qmt_faults CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                )
        finally:
            conn.close()

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(60)
        self.process = None

    def remove(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)
        shutil.rmtree(self.folder, ignore_errors=True)


class PrivatePostgres:
    """initdb + pg_ctl under the `postgres` user (PostgreSQL refuses to run as root)."""

    kind = "postgres"

    def __init__(self):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            unavailable(
                "PostgreSQL server binaries (initdb, pg_ctl) not installed: private PostgreSQL fault test skipped"
            )
        self.bin = Path(bins[-1]).parent
        self.as_user = []
        if _as_root():
            runuser = shutil.which("runuser")
            if not runuser:
                unavailable(
                    "running as root without runuser: private PostgreSQL fault test skipped"
                )
            self.as_user = [runuser, "-u", "postgres", "--"]
        # not under pytest's tmp_path: its parents are private to root, postgres could not enter
        self.folder = Path(tempfile.mkdtemp(prefix="jq2qmt-pg-"))
        if self.as_user:
            shutil.chown(str(self.folder), "postgres")
        os.chmod(str(self.folder), 0o700)
        self.port = free_port()
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.folder / "data"),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        )

    def _run(self, *args):
        result = subprocess.run(
            self.as_user + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120
        )
        assert result.returncode == 0, result.stdout.decode("utf-8", "replace")[-2000:]

    @property
    def url(self):
        return "postgresql+psycopg://postgres@127.0.0.1:%d/jq2qmt_faults" % self.port

    def start(self):
        options = "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off" % (
            self.port,
            self.folder,
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.folder / "data"),
            "-o",
            options,
            "-l",
            str(self.folder / "server.log"),
            "-w",
            "-t",
            str(START_TIMEOUT),
            "start",
        )

    def create_database(self):
        import psycopg

        with psycopg.connect(
            "host=127.0.0.1 port=%d user=postgres dbname=postgres" % self.port, autocommit=True
        ) as conn:
            conn.execute("CREATE DATABASE jq2qmt_faults")

    def stop(self):
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "fast", "-w", "stop"
        )

    def remove(self):
        subprocess.run(
            self.as_user
            + [
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.folder / "data"),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )
        shutil.rmtree(self.folder, ignore_errors=True)


SERVERS = {"mysql": PrivateMariaDB, "postgres": PrivatePostgres}
