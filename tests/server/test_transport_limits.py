"""The server bounds unauthenticated clients by itself (server/transport.py), tested
against a real `jq2qmt serve` process on 127.0.0.1 with small limits: header size and
count (431), request line (414), time to send headers and body (408/close), idle
keep-alive, connections per process (503); normal requests and long-polls still work;
the console access log masks query values.

Every probe is bounded in connections and seconds and stops by itself.
"""

import json
import re
import socket
import subprocess
import sys
import time

import httpx
import pytest

from jq2qmt.instance import init_instance
from jq2qmt.store import credentials
from jq2qmt.store.db import Database

# ini values (init_instance writes them to [limits]) ...
INI = dict(max_header_bytes=4096, max_header_fields=20, max_request_line=1024, max_connections=12)
# ... and `serve` flags (they override the ini)
FLAGS = ["--header-timeout", "1", "--body-timeout", "1", "--keep-alive-timeout", "1"]
ACCOUNT = "5550001"


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Served:
    def __init__(self, tmp, rsa_private_pem):
        self.port = _free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        result = init_instance(
            tmp / "inst",
            host="127.0.0.1",
            port=self.port,
            public_url=self.url,
            jq_private_key_pem=rsa_private_pem,
            **INI,
        )
        self.settings = result.settings
        self.admin_password = result.admin_password
        self.log_path = tmp / "console.out"
        self._log = open(str(self.log_path), "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jq2qmt", "serve", "--instance", str(self.settings.instance_dir)]
            + FLAGS,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("serve did not start: " + self.console())
            time.sleep(0.2)

    def console(self):
        self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory, rsa_private_pem):
    server = Served(tmp_path_factory.mktemp("transport"), rsa_private_pem)
    yield server
    server.stop()


def _connect(served, timeout=5.0):
    sock = socket.create_connection(("127.0.0.1", served.port), timeout=timeout)
    sock.settimeout(timeout)
    return sock


def _read_all(sock, limit=8.0):
    """Everything the server sends until it closes (or `limit` seconds pass: then None)."""
    data = b""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return None
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk
    return None


def _status(response):
    match = re.match(rb"HTTP/1\.1 (\d{3}) ", response or b"")
    return int(match.group(1)) if match else None


def _exchange(served, raw):
    with _connect(served) as sock:
        try:
            sock.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused while still sending: the answer is already in the socket
        return _read_all(sock)


def _error_code(response):
    return json.loads(response.split(b"\r\n\r\n", 1)[1])["error"]["code"]


# ---- sizes ---------------------------------------------------------------------------------


def test_oversized_header_gets_431(served):
    response = _exchange(
        served, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n"
    )
    assert _status(response) == 431 and _error_code(response) == "headers_too_large"


def test_header_line_that_never_ends_gets_431_without_buffering_it(served):
    """1 MiB of one header line, never terminated: refused once the head passes the limit."""
    with _connect(served) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
        sent = 0
        try:
            while sent < 1024 * 1024:
                sock.sendall(b"a" * 8192)
                sent += 8192
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = _read_all(sock)
    assert _status(response) == 431


def test_too_many_headers_get_431(served):
    fields = b"".join(b"X-F%d: 1\r\n" % i for i in range(40))
    response = _exchange(served, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n")
    assert _status(response) == 431


def test_long_request_line_gets_414(served):
    response = _exchange(served, b"GET /healthz?" + b"q" * 2000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert _status(response) == 414 and _error_code(response) == "request_line_too_long"


def test_headers_within_the_limits_are_served(served):
    fields = b"".join(b"X-F%d: %s\r\n" % (i, b"v" * 100) for i in range(15))
    response = _exchange(
        served, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + fields + b"\r\n"
    )
    assert _status(response) == 200


# ---- time ----------------------------------------------------------------------------------


def test_connection_sending_headers_byte_by_byte_is_closed(served):
    """Each byte arrives in time, but the head as a whole does not: 408, closed."""
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 40 + b"\r\n\r\n"
    closed = None
    with _connect(served) as sock:
        sock.settimeout(0.2)
        for index in range(len(request)):  # at most ~12 s; the server closes after ~1 s
            try:
                sock.sendall(request[index : index + 1])
                chunk = sock.recv(4096)
            except socket.timeout:
                continue
            except (BrokenPipeError, ConnectionResetError):
                closed = b""
                break
            closed = chunk + (_read_all(sock, 2) or b"")
            break
    assert closed is not None, "the server kept a slowly sent head open"
    assert closed == b"" or _status(closed) == 408


def test_silent_connection_is_closed(served):
    with _connect(served) as sock:
        assert _read_all(sock, limit=8) == b""


def test_stalled_body_is_closed(served):
    head = (
        b"POST /api/v1/positions/update/internal HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n"
    )
    with _connect(served) as sock:
        sock.sendall(head + b'{"strategy_name": ')
        response = _read_all(sock, limit=8)
    assert response is not None, "a body stalled for 8 s kept the connection open"


def test_bounded_slowloris_is_shed_while_normal_requests_are_served(served):
    """8 connections (under the limit of 12) each sending a header line every 0.5 s, for at most 6 s."""
    socks = [_connect(served) for _ in range(8)]
    closed = set()
    try:
        for sock in socks:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        deadline = time.monotonic() + 6
        line = 0
        while time.monotonic() < deadline and len(closed) < len(socks):
            time.sleep(0.5)
            line += 1
            for index, sock in enumerate(socks):
                if index in closed:
                    continue
                try:
                    sock.sendall(b"X-L%d: 1\r\n" % line)
                except OSError:
                    closed.add(index)
            assert httpx.get(served.url + "/healthz", timeout=5).status_code == 200
    finally:
        for sock in socks:
            sock.close()
    assert len(closed) == len(socks)


def test_idle_keep_alive_connection_is_closed_after_the_timeout(served):
    with _connect(served) as sock:
        for _ in range(2):  # the connection is reused within the keep-alive window
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while b'"schema"' not in data:
                chunk = sock.recv(4096)
                assert chunk
                data += chunk
            assert _status(data) == 200
        assert _read_all(sock, limit=8) == b""
    with _connect(served) as sock:  # blank lines between requests do not keep it open either
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _status(sock.recv(4096)) == 200
        sock.sendall(b"\r\n")
        assert _read_all(sock, limit=8) is not None


def test_long_poll_outlives_the_header_and_keep_alive_timeouts(served):
    admin = {"X-Internal-Password": served.admin_password}
    response = httpx.post(
        served.url + "/api/v1/accounts",
        headers=admin,
        json={"account_id": ACCOUNT, "name": "长轮询", "mode": "ratio"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    db = Database(served.settings.database_url)
    try:
        token = credentials.create_token(db, "lp", "follow", ACCOUNT)
    finally:
        db.dispose()
    plan = served.url + "/api/v1/accounts/%s/plan" % ACCOUNT
    with httpx.Client(timeout=20) as client:
        first = client.get(plan, headers={"Authorization": "Bearer " + token})
        assert first.status_code == 200
        started = time.monotonic()
        waited = client.get(
            plan + "?wait=3",
            headers={"Authorization": "Bearer " + token, "If-None-Match": first.headers["ETag"]},
        )
        elapsed = time.monotonic() - started
    assert waited.status_code == 304
    assert elapsed > 2.5  # held for the whole wait, past the 1 s header and keep-alive timeouts


# ---- connections ---------------------------------------------------------------------------


def test_connections_beyond_the_limit_get_503(served):
    limit = INI["max_connections"]
    socks = []
    try:
        for _ in range(limit + 5):
            socks.append(_connect(served))
        time.sleep(0.3)
        refused, still_open = 0, 0
        for sock in socks:
            sock.settimeout(0.2)
            try:
                data = sock.recv(4096)
            except socket.timeout:
                still_open += 1
                continue
            if _status(data) == 503:
                refused += 1
                assert b"retry-after: 5" in data.lower()
    finally:
        for sock in socks:
            sock.close()
    assert refused >= 5 and still_open <= limit
    deadline = time.monotonic() + 10  # the closed sockets free their slots
    while httpx.get(served.url + "/healthz", timeout=5).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.2)


# ---- logs ----------------------------------------------------------------------------------


def test_console_access_log_masks_query_values(served):
    secret = "Pw-%s-notlogged" % int(time.time())
    for name in ("password", "token", "upload_token"):
        response = httpx.get(
            served.url + "/api/v1/positions/total?%s=%s&wait=1" % (name, secret), timeout=10
        )
        assert response.status_code == 401
    deadline = time.monotonic() + 10
    while "upload_token=***" not in served.console():
        assert time.monotonic() < deadline, served.console()[-2000:]
        time.sleep(0.2)
    console = served.console()
    assert secret not in console
    assert "/api/v1/positions/total?password=***&wait=***" in console


# ---- settings ------------------------------------------------------------------------------


def test_limits_are_read_from_the_instance_and_validated(tmp_path, rsa_private_pem):
    from click.testing import CliRunner

    from jq2qmt.cli import main
    from jq2qmt.config import load_settings
    from jq2qmt.server.transport import TransportLimits

    folder = tmp_path / "inst"
    init_instance(folder, host="127.0.0.1", jq_private_key_pem=rsa_private_pem, header_timeout=7)
    ini = (folder / "jq2qmt.ini").read_text(encoding="utf-8")
    assert "header_timeout = 7" in ini and "max_connections = 500" in ini
    limits = TransportLimits.from_settings(load_settings(folder))
    assert (limits.header_timeout, limits.max_header_bytes, limits.max_connections) == (
        7,
        16384,
        500,
    )

    bad_flag = CliRunner().invoke(
        main, ["serve", "--instance", str(folder), "--header-timeout", "0"]
    )
    assert bad_flag.exit_code == 2 and "--header-timeout" in bad_flag.output
    (folder / "jq2qmt.ini").write_text(
        ini.replace("header_timeout = 7", "header_timeout = 0"), encoding="utf-8"
    )
    bad_ini = CliRunner().invoke(main, ["serve", "--instance", str(folder)])
    assert bad_ini.exit_code == 1 and "[limits] header_timeout" in bad_ini.output
