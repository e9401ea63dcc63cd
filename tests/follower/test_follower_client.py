"""The follower's HTTP client: the stdlib session (keep-alive, DNS once, TLS, an overall
deadline) and BackgroundClient, which keeps QMT's one Python thread off the network.

Every server here is a real socket on 127.0.0.1. The one timing contract asserted is
the one QMT needs: a BackgroundClient call returns in well under 50 ms whatever the
server does (and the inline fallback within its timeouts).
"""

import datetime
import json
import os
import socket
import ssl
import subprocess
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jq2qmt.follower import background, http_session
from jq2qmt.follower.background import BackgroundClient
from jq2qmt.follower.client import FetchError, FetchPending, PlanClient, PlanResponse
from jq2qmt.follower.http_session import HttpSession
from testkit import RawServer, py36_python

CALL_BUDGET = 0.05  # seconds a BackgroundClient call may take (QMT's single thread)
TEST_HOST = "plan.jq2qmt.test"
SRC = os.path.join(os.path.dirname(__file__), "..", "..", "src")


# ---- helpers ----------------------------------------------------------------------------
class Seconds:
    """A monotonic clock in seconds that only moves when told (backoff, staleness)."""

    def __init__(self, start=1000.0):
        self.now = start

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


def wait_for(predicate, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def local_resolver(calls=None, port=None, delay=0.0):
    """A resolver that maps any name to 127.0.0.1 (and records the look-ups)."""

    def resolve(host, asked_port):
        if calls is not None:
            calls.append(host)
        if delay:
            time.sleep(delay)
        return [
            (
                socket.AF_INET,
                socket.SOCK_STREAM,
                socket.IPPROTO_TCP,
                "",
                ("127.0.0.1", port or asked_port),
            )
        ]

    return resolve


class TrickleServer(RawServer):
    """Answers 200 with a 400-byte body sent one byte every 50 ms (20 s in all)."""

    TOTAL = 400

    def __init__(self):
        self.sent = 0
        RawServer.__init__(self)

    def serve(self, conn):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        try:
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % self.TOTAL
            )
            for _ in range(self.TOTAL):
                if self.closed.is_set():
                    return
                conn.sendall(b" ")
                self.sent += 1
                time.sleep(0.05)
        except OSError:
            return


class CountingServer:
    """HTTP/1.1 keep-alive server counting TCP connections; optionally TLS.

    `drop_reused`: a second request on a connection is closed without an answer (a
    server that dropped the idle connection just as the request came).
    `close_idle`: each connection is closed after its first answer, without a
    "Connection: close" header (a kept-alive connection the server let go).
    """

    def __init__(self, tls_context=None, drop_reused=False, close_idle=False):
        self.accepted = 0
        self.requests = []
        self.drop_reused = drop_reused
        self.close_idle = close_idle
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                outer._answer(self)

            def do_POST(self):
                outer._answer(self)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self):
                sock, address = self.socket.accept()
                outer.accepted += 1
                if tls_context is not None:
                    sock = tls_context.wrap_socket(sock, server_side=True)
                return sock, address

            def handle_error(self, request, client_address):
                pass

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def _answer(self, handler):
        seen = getattr(handler, "jq_requests", 0)
        handler.jq_requests = seen + 1
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        self.requests.append(
            {
                "method": handler.command,
                "path": handler.path,
                "host": handler.headers.get("Host"),
                "body": body,
            }
        )
        if self.drop_reused and seen >= 1:
            handler.close_connection = True
            return
        data = json.dumps({"n": len(self.requests)}).encode("utf-8")
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("ETag", '"e%d"' % len(self.requests))
        handler.end_headers()
        handler.wfile.write(data)
        if self.close_idle:
            handler.close_connection = True

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class ScriptedClient:
    """Stands in for PlanClient: answers from scripts, counts every call (= I/O)."""

    timeout = 0.5

    def __init__(self, fetch=None, send=None):
        self.fetch_script = list(fetch or [])
        self.send_script = list(send or [])
        self.fetches = []
        self.sent = []

    def fetch_plan(self, etag=None, wait=0):
        self.fetches.append(etag)
        outcome = self.fetch_script.pop(0) if self.fetch_script else PlanResponse(304, None, etag)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def send_report(self, payload):
        outcome = self.send_script.pop(0) if self.send_script else True
        if isinstance(outcome, Exception):
            raise outcome
        self.sent.append(payload)
        return True


@pytest.fixture
def made():
    """BackgroundClients made by a test, closed at teardown."""
    clients = []

    def make(*args, **kwargs):
        client = BackgroundClient(*args, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close(timeout=0.1)


def plan_client(fx, server, timeout=0.5, **kwargs):
    return PlanClient(server.url, fx.TOKEN, fx.ACCOUNT, timeout=timeout, **kwargs)


def timed(call):
    """(seconds, result or exception) of one call."""
    started = time.perf_counter()
    try:
        outcome = call()
    except FetchError as exc:
        outcome = exc
    return time.perf_counter() - started, outcome


def make_tls(tmp_path, name=TEST_HOST):
    """A test CA and a certificate for `name` signed by it: (ca.pem, cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "jq2qmt test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = (tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


# ---- HttpSession ------------------------------------------------------------------------
def test_plan_client_uses_the_stdlib_session_by_default(fx, plan_server):
    client = plan_client(fx, plan_server)
    assert isinstance(client.session, HttpSession)
    plan = fx.make_plan({"600000.SH": 100})
    plan_server.set_plan(plan)
    first = client.fetch_plan()
    assert first.status == 200 and first.plan == plan
    assert first.etag == '"%s"' % plan["plan_version"]
    assert client.fetch_plan(first.etag).status == 304
    assert client.send_report({"kind": "heartbeat", "follower": {}}) is True
    assert plan_server.reports == [{"kind": "heartbeat", "follower": {}}]


def test_keep_alive_reuses_one_connection():
    server = CountingServer()
    try:
        session = HttpSession()
        url = "http://127.0.0.1:%d/api" % server.port
        answers = [
            session.get(url, headers={"X-A": "1"}, params={"wait": "0"}, timeout=(1, 1))
            for _ in range(3)
        ]
        answers.append(session.post(url, data=b'{"k": 1}', timeout=(1, 1)))
        assert [a.status_code for a in answers] == [200, 200, 200, 200]
        assert answers[0].headers.get("etag") == '"e1"' and answers[0].headers["ETAG"] == '"e1"'
        assert json.loads(answers[3].text) == {"n": 4}
        assert server.accepted == 1 and session.connects == 1
        assert server.requests[0]["path"] == "/api?wait=0"
        assert server.requests[3]["body"] == b'{"k": 1}'
    finally:
        server.close()


@pytest.mark.parametrize("how", ["drop_reused", "close_idle"])
def test_a_kept_alive_connection_closed_by_the_server_is_reopened_once(how):
    server = CountingServer(**{how: True})
    try:
        session = HttpSession()
        url = "http://127.0.0.1:%d/x" % server.port
        assert session.get(url, timeout=(1, 1)).status_code == 200
        if how == "close_idle":
            assert wait_for(
                lambda: session._connections[
                    ("http", "127.0.0.1", server.port)
                ].sock.closed_by_peer()
            )
        assert session.get(url, timeout=(1, 1)).status_code == 200
        assert server.accepted == 2
        # drop_reused: the request the server dropped went out once more on a new connection
        assert len(server.requests) == (3 if how == "drop_reused" else 2)
    finally:
        server.close()


def test_a_failure_on_a_fresh_connection_is_not_retried(hung_server):
    session = HttpSession()
    with pytest.raises(socket.timeout):
        session.get(hung_server.url + "/x", timeout=(0.3, 0.2))
    assert wait_for(lambda: hung_server.accepted == 1)
    time.sleep(0.1)
    assert hung_server.accepted == 1


def test_overall_deadline_holds_against_a_trickling_server():
    server = TrickleServer()
    try:
        session = HttpSession()
        # each byte comes well within the 0.5 s read timeout: only the deadline ends it
        with pytest.raises(socket.timeout):
            session.get(server.url + "/plan", timeout=(0.5, 0.5))
        assert server.sent < TrickleServer.TOTAL
    finally:
        server.close()


def test_the_host_name_is_resolved_once(fx, plan_server):
    calls = []
    session = HttpSession(resolver=local_resolver(calls, delay=0.2))
    client = PlanClient(
        "http://%s:%d" % (TEST_HOST, plan_server.port),
        fx.TOKEN,
        fx.ACCOUNT,
        timeout=1.0,
        session=session,
    )
    plan_server.set_plan(fx.make_plan({"600000.SH": 100}))
    first = client.fetch_plan()
    client.fetch_plan(first.etag)
    client.send_report({"kind": "heartbeat", "follower": {}})
    assert calls == [TEST_HOST]
    # the test server answers HTTP/1.0 (one connection per request): still one look-up
    assert session.connects == 3 and len(plan_server.plan_requests) == 2


def test_the_host_name_is_resolved_again_after_repeated_connect_failures(fx, plan_server):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead_port = closed.getsockname()[1]
    closed.close()
    calls = []
    ports = [dead_port, plan_server.port]

    def resolver(host, port):
        calls.append(host)
        return local_resolver(port=ports[min(len(calls), 2) - 1])(host, port)

    session = HttpSession(resolver=resolver)
    url = "http://%s:%d/api/v1/accounts/%s/plan" % (TEST_HOST, plan_server.port, fx.ACCOUNT)
    for _ in range(http_session.RERESOLVE_AFTER):
        with pytest.raises(ConnectionRefusedError):
            session.get(url, timeout=(0.5, 0.5))
    assert len(calls) == 1
    assert session.get(url, timeout=(0.5, 0.5)).status_code == 401  # reached, no token
    assert len(calls) == 2


def test_tls_with_an_explicit_ca_checks_the_name_and_sends_the_original_host(tmp_path, monkeypatch):
    ca, cert, key = make_tls(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    server = CountingServer(tls_context=context)
    try:
        calls = []
        session = HttpSession(cafile=str(ca), resolver=local_resolver(calls))
        url = "https://%s:%d/plan" % (TEST_HOST, server.port)
        assert session.get(url, timeout=(2, 2)).status_code == 200
        assert session.post(url, data=b"{}", timeout=(2, 2)).status_code == 200
        assert server.accepted == 1 and calls == [TEST_HOST]
        assert server.requests[0]["host"] == "%s:%d" % (TEST_HOST, server.port)
        # the default trust store does not know the test CA: refused, and the
        # follower's error names the certificate problem
        client = PlanClient(
            "https://%s:%d" % (TEST_HOST, server.port),
            "t",
            "a",
            timeout=2,
            session=HttpSession(resolver=local_resolver()),
        )
        with pytest.raises(FetchError) as err:
            client.fetch_plan()
        assert "unreachable" in str(err.value) and "CERTIFICATE_VERIFY_FAILED" in str(err.value)
        # a certificate for another name is refused even with the right CA
        other = HttpSession(cafile=str(ca), resolver=local_resolver())
        with pytest.raises((ssl.SSLError, ssl.CertificateError)):
            other.get("https://other.jq2qmt.test:%d/plan" % server.port, timeout=(2, 2))
        assert len(server.requests) == 2
        # SSL_CERT_FILE adds a CA to the default trust (a self-signed server, no code change)
        monkeypatch.setenv("SSL_CERT_FILE", str(ca))
        trusting = HttpSession(resolver=local_resolver())
        assert trusting.get(url, timeout=(2, 2)).status_code == 200
    finally:
        server.close()


def test_bad_urls_are_refused_by_name():
    with pytest.raises(ValueError, match="scheme"):
        HttpSession().get("ftp://127.0.0.1/x")
    with pytest.raises(ValueError, match="host"):
        HttpSession().get("http:///x")


# ---- BackgroundClient: QMT's thread never waits -----------------------------------------
def test_a_hung_server_never_blocks_the_caller(fx, hung_server, made):
    logs = []
    bg = made(plan_client(fx, hung_server, timeout=0.2), mode="thread", log=logs.append)
    holder = made(plan_client(fx, hung_server, timeout=0.2), mode="thread")
    durations = []
    errors = {}
    end = time.monotonic() + 10
    while time.monotonic() < end and len(errors) < 2:
        took, outcome = timed(lambda: bg.fetch_plan(None))
        durations.append(took)
        if isinstance(outcome, FetchError) and not isinstance(outcome, FetchPending):
            errors.setdefault("no_plan", outcome)
        took, outcome = timed(lambda: holder.fetch_plan('"v1"'))
        durations.append(took)
        if isinstance(outcome, FetchError):
            errors.setdefault("holding", outcome)
        else:
            assert outcome.status == 304 and outcome.plan is None and outcome.etag == '"v1"'
        took, outcome = timed(lambda: bg.send_report({"kind": "heartbeat", "follower": {}}))
        durations.append(took)
        assert outcome is True
        time.sleep(0.02)
    assert "unreachable" in str(errors["no_plan"]) and "unreachable" in str(errors["holding"])
    assert max(durations) < CALL_BUDGET, max(durations)
    assert wait_for(lambda: hung_server.accepted >= 2)
    assert logs and "unreachable" in logs[0]


def test_a_request_in_flight_too_long_raises_server_not_answering(fx, plan_server, made):
    release = threading.Event()

    def stuck_dns(host, port):  # getaddrinfo has no timeout
        release.wait(10)
        return local_resolver()(host, port)

    client = PlanClient(
        "http://%s:%d" % (TEST_HOST, plan_server.port),
        fx.TOKEN,
        fx.ACCOUNT,
        timeout=0.5,
        session=HttpSession(resolver=stuck_dns),
    )
    plan_server.set_plan(fx.make_plan({"600000.SH": 100}))
    clock = Seconds()
    bg = made(client, mode="thread", clock=clock)
    assert bg.stale_after == 3 * 0.5 + 1
    try:
        with pytest.raises(FetchPending):
            bg.fetch_plan(None)
        clock.advance(bg.stale_after - 0.1)
        assert bg.fetch_plan('"v0"').status == 304  # nothing new known yet
        clock.advance(0.2)
        took, outcome = timed(lambda: bg.fetch_plan('"v0"'))
        assert isinstance(outcome, FetchError) and str(outcome) == background.STALE_MESSAGE
        assert took < CALL_BUDGET
        assert bg.status()["in_flight_seconds"] > bg.stale_after
    finally:
        release.set()
    assert bg.settle(5)
    assert bg.fetch_plan(None).status == 200


def test_fetch_pending_is_a_quiet_fetch_error(made):
    assert issubclass(FetchPending, FetchError)
    assert str(FetchPending()) == "等待服务器应答 / waiting for the server"
    gate = threading.Event()

    class Slow(ScriptedClient):
        def fetch_plan(self, etag=None, wait=0):
            gate.wait(5)
            return ScriptedClient.fetch_plan(self, etag, wait)

    bg = made(Slow(fetch=[PlanResponse(200, {"plan_version": "a"}, '"a"')]), mode="thread")
    with pytest.raises(FetchPending):
        bg.fetch_plan()
    gate.set()
    assert bg.settle(5)
    assert bg.fetch_plan().plan == {"plan_version": "a"}


def test_backoff_stops_all_requests_until_it_is_over(fx, plan_server, made):
    plan_server.set_plan(fx.make_plan({"600000.SH": 100}))
    plan_server.mode = "500"
    clock = Seconds()
    logs = []
    bg = made(plan_client(fx, plan_server), mode="thread", clock=clock, log=logs.append)

    def fails(status=500):
        with pytest.raises(FetchError) as err:
            bg.fetch_plan(None)
        assert not isinstance(err.value, FetchPending) and err.value.status == status
        assert bg.settle(5)

    with pytest.raises(FetchPending):
        bg.fetch_plan(None)
    assert bg.settle(5)
    requests = plan_server.plan_requests
    for expected_requests, wait in [
        (1, 0.0),
        (1, 0.9),
        (2, 0.2),
        (2, 1.9),
        (3, 0.2),
        (3, 3.9),
        (4, 0.2),
    ]:
        clock.advance(wait)
        fails()
        assert len(requests) == expected_requests, (wait, len(requests))
    assert bg.status()["failures"] == 4
    assert bg.status()["backoff_until"] == pytest.approx(clock.now + 8)
    plan_server.mode = "ok"
    clock.advance(8)
    fails()  # the retry is under way: the error stands until the server answers
    assert len(requests) == 5
    resp = bg.fetch_plan(None)
    assert resp.status == 200 and bg.status()["failures"] == 0
    assert [line for line in logs if "500" in line] == [logs[0]]  # repeats within a minute
    assert len([line for line in logs if "again" in line]) == 1


def test_failure_logs_are_throttled_to_one_a_minute_with_a_count(made):
    failure = FetchError("服务器返回 503 / server answered 503: busy", 503)
    client = ScriptedClient(fetch=[failure] * 10 + [PlanResponse(304, None, '"v"')])
    clock = Seconds(0.0)
    logs = []
    bg = made(client, mode="inline", clock=clock, log=logs.append)
    at = []
    for _ in range(11):
        while bg.status()["backoff_until"] is not None and clock.now < bg.status()["backoff_until"]:
            with pytest.raises(FetchError):  # no I/O while backing off
                bg.fetch_plan('"v"')
            clock.advance(0.5)
        at.append(clock.now)
        try:
            bg.fetch_plan('"v"')
        except FetchError:
            pass
    assert len(client.fetches) == 11
    failures = [line for line in logs if "503" in line]
    # failures at 0, 1, 3, 7, 15, 31, 61, 91, 121, 151 s: logged at 0, 61 and 121
    assert at[:10] == [0, 1, 3, 7, 15, 31, 61, 91, 121, 151]
    assert len(failures) == 3 and "6 次" in failures[1] and "2 次" in failures[2]
    assert logs[-1].startswith("服务器恢复应答")


def test_reports_keep_their_order_through_an_outage(fx, plan_server, made):
    plan_server.mode = "500"
    clock = Seconds()
    bg = made(plan_client(fx, plan_server), mode="thread", clock=clock)
    for i in range(5):
        payload = {"kind": "round", "round_id": "r%d" % i}
        took, outcome = timed(lambda: bg.send_report(payload))  # noqa: B023 (called here)
        assert outcome is True and took < CALL_BUDGET
    assert bg.settle(5) is False  # the first send failed: the rest wait for the backoff
    assert bg.status()["outbox"] == 5 and plan_server.reports == []
    plan_server.mode = "ok"
    assert bg.settle(5) is False and plan_server.reports == []  # no I/O while backing off
    clock.advance(1.01)
    assert bg.settle(5) is True
    assert [r["round_id"] for r in plan_server.reports] == ["r0", "r1", "r2", "r3", "r4"]


def test_reports_the_server_refuses_for_good_are_dropped_others_retried(fx, plan_server, made):
    clock = Seconds()
    logs = []
    bg = made(plan_client(fx, plan_server), mode="thread", clock=clock, log=logs.append)
    plan_server.account = "someone-else"  # 404 for our path: never accepted
    bg.send_report({"kind": "round", "round_id": "a"})
    bg.send_report({"kind": "round", "round_id": "b"})
    assert bg.settle(5) is True
    bg.status()  # the caller side accounts for the drops
    assert bg.status()["dropped"] == 2 and plan_server.reports == []
    assert len([line for line in logs if "dropped" in line]) == 2
    plan_server.account = fx.ACCOUNT
    plan_server.token = "rotated"  # 401: the token may be fixed, keep the report
    bg.send_report({"kind": "round", "round_id": "c"})
    assert bg.settle(5) is False and bg.status()["outbox"] == 1
    plan_server.token = fx.TOKEN
    clock.advance(1.01)
    assert bg.settle(5) is True
    assert [r["round_id"] for r in plan_server.reports] == ["c"]


def test_a_full_outbox_drops_heartbeats_first(fx, plan_server, made):
    plan_server.mode = "500"
    clock = Seconds()
    bg = made(plan_client(fx, plan_server), mode="thread", clock=clock, max_outbox=3)
    bg.send_report({"kind": "round", "round_id": "r0"})
    assert bg.settle(5) is False  # r0 failed and waits at the head
    for payload in (
        {"kind": "heartbeat", "n": 1},
        {"kind": "round", "round_id": "r1"},
        {"kind": "heartbeat", "n": 2},
        {"kind": "round", "round_id": "r2"},
        {"kind": "round", "round_id": "r3"},
    ):
        bg.send_report(payload)
    plan_server.mode = "ok"
    clock.advance(1.01)
    assert bg.settle(5) is True
    assert [r.get("round_id") for r in plan_server.reports] == ["r1", "r2", "r3"]
    assert bg.status()["dropped"] == 3


def test_an_answer_to_another_etag_is_discarded(fx, plan_server, made):
    plan = fx.make_plan({"600000.SH": 100})
    plan_server.set_plan(plan)
    etag = '"%s"' % plan["plan_version"]
    bg = made(plan_client(fx, plan_server), mode="thread", clock=Seconds())
    with pytest.raises(FetchPending):
        bg.fetch_plan(None)
    assert bg.settle(5)
    first = bg.fetch_plan(None)
    assert first.status == 200 and first.etag == etag
    assert bg.settle(5)  # the next conditional GET went out at once
    assert len(plan_server.plan_requests) == 2 and plan_server.not_modified == 1
    # the caller asks with another etag: the 304 for `etag` is not its answer
    other = bg.fetch_plan('"older"')
    assert (other.status, other.etag) == (304, '"older"')
    assert bg.settle(5)
    fresh = bg.fetch_plan('"older"')
    assert fresh.status == 200 and fresh.plan == plan and fresh.etag == etag
    assert bg.settle(5)  # and the next conditional GET, with the plan's etag
    assert len(plan_server.plan_requests) == 4 and plan_server.not_modified == 2


def test_long_poll_runs_in_the_background(fx, plan_server, made):
    plan = fx.make_plan({"600000.SH": 100})
    plan_server.set_plan(plan)
    bg = made(plan_client(fx, plan_server), mode="thread")
    with pytest.raises(FetchPending):
        bg.fetch_plan(None, wait=20)
    assert bg.settle(5)
    etag = bg.fetch_plan(None, wait=20).etag  # starts the long-poll with this etag
    assert wait_for(lambda: len(plan_server.plan_requests) == 2)
    took, outcome = timed(lambda: bg.fetch_plan(etag, wait=20))
    assert outcome.status == 304 and took < CALL_BUDGET
    assert "wait=20" in plan_server.plan_requests[-1]
    newer = fx.make_plan({"600000.SH": 200})
    plan_server.set_plan(newer)
    assert bg.settle(5)
    assert bg.fetch_plan(etag, wait=20).plan == newer


# ---- modes --------------------------------------------------------------------------------
def test_auto_falls_back_to_inline_when_a_thread_cannot_start(fx, plan_server, made, monkeypatch):
    def refuse(self):
        raise RuntimeError("can't start new thread")

    logs = []
    plan_server.set_plan(fx.make_plan({"600000.SH": 100}))
    with monkeypatch.context() as patch:  # the plan server's own threads must start
        patch.setattr(threading.Thread, "start", refuse)
        bg = made(plan_client(fx, plan_server), log=logs.append)
        with pytest.raises(RuntimeError):
            BackgroundClient(plan_client(fx, plan_server), mode="thread")
    assert bg.mode == "inline" and len(logs) == 1 and "inline" in logs[0]
    first = bg.fetch_plan(None)  # inline: the answer comes at once
    assert first.status == 200
    assert bg.fetch_plan(first.etag).status == 304
    assert bg.send_report({"kind": "heartbeat", "follower": {}}) is True
    assert plan_server.reports == [{"kind": "heartbeat", "follower": {}}]
    assert bg.status()["mode"] == "inline" and bg.settle(1) is True
    assert len(logs) == 1


def test_auto_falls_back_to_inline_when_the_worker_never_starts(made, monkeypatch):
    gate = threading.Event()
    monkeypatch.setattr(BackgroundClient, "_work", lambda self: gate.wait(10))
    client = ScriptedClient(fetch=[PlanResponse(200, {"plan_version": "a"}, '"a"')])
    clock = Seconds()
    logs = []
    bg = made(client, clock=clock, log=logs.append)
    try:
        assert bg.mode == "thread"
        with pytest.raises(FetchPending):
            bg.fetch_plan(None)
        clock.advance(background.THREAD_PROBE - 0.1)
        with pytest.raises(FetchPending):
            bg.fetch_plan(None)
        assert client.fetches == [] and logs == []
        clock.advance(0.2)
        assert bg.fetch_plan(None).status == 200
        assert bg.mode == "inline" and client.fetches == [None]
        assert len(logs) == 1 and "inline" in logs[0]
    finally:
        gate.set()


def test_inline_is_bounded_by_the_timeout_and_honours_the_backoff(fx, hung_server, made):
    clock = Seconds()
    client = plan_client(fx, hung_server, timeout=0.2)
    bg = made(client, mode="inline", clock=clock)
    took, outcome = timed(lambda: bg.fetch_plan('"v"'))
    assert isinstance(outcome, FetchError) and "unreachable" in str(outcome)
    assert took < 2 * 0.2 + 0.5  # connect + read timeout, plus scheduling slack
    assert client.session.connects == 1
    for call in (
        lambda: bg.fetch_plan('"v"'),
        lambda: bg.send_report({"kind": "round", "round_id": "r"}),
    ):
        took, outcome = timed(call)
        assert took < CALL_BUDGET  # backing off: no I/O at all
    assert client.session.connects == 1 and bg.status()["outbox"] == 1
    clock.advance(1.01)
    with pytest.raises(FetchError):
        bg.fetch_plan('"v"')
    assert client.session.connects == 2
    assert wait_for(lambda: hung_server.accepted == 2)


def test_inline_sends_at_most_one_report_per_call(made):
    client = ScriptedClient(send=[FetchError("报告发送失败 / report not sent: timeout")])
    clock = Seconds()
    bg = made(client, mode="inline", clock=clock)
    for i in range(4):
        assert bg.send_report({"round_id": "r%d" % i}) is True
    assert client.sent == [] and bg.status()["outbox"] == 4  # r0 failed: backing off
    clock.advance(1.01)
    bg.send_report({"round_id": "r4"})
    assert [p["round_id"] for p in client.sent] == ["r0"]
    assert bg.fetch_plan('"v"').status == 304  # one GET, then one report
    assert [p["round_id"] for p in client.sent] == ["r0", "r1"]
    assert client.fetches == ['"v"'] and bg.status()["outbox"] == 3


def test_status_settle_and_close(fx, plan_server, made):
    clock = Seconds()
    bg = made(plan_client(fx, plan_server), mode="thread", clock=clock)
    status = bg.status()
    assert status == {
        "mode": "thread",
        "in_flight_seconds": None,
        "failures": 0,
        "backoff_until": None,
        "outbox": 0,
        "sent": 0,
        "dropped": 0,
        "last_error": None,
    }
    bg.send_report({"kind": "heartbeat", "follower": {}})
    assert bg.settle(5) is True and bg.status()["sent"] == 1
    bg.close()
    assert not bg._thread.is_alive()
    with pytest.raises(ValueError, match="mode"):
        BackgroundClient(ScriptedClient(), mode="fast")


# ---- Python 3.6 -------------------------------------------------------------------------
def test_both_modes_run_on_python36(fx, plan_server):
    python = py36_python()
    plan = fx.make_plan({"600000.SH": 100})
    plan_server.set_plan(plan)
    script = textwrap.dedent("""
        import json, sys, time
        from jq2qmt.follower.background import BackgroundClient
        from jq2qmt.follower.client import FetchPending, PlanClient
        url, token, account = sys.argv[1:4]
        out = {}
        for mode in ("thread", "inline"):
            bg = BackgroundClient(PlanClient(url, token, account, timeout=2), mode=mode)
            end = time.monotonic() + 20
            while True:
                try:
                    resp = bg.fetch_plan(None)
                    break
                except FetchPending:
                    if time.monotonic() > end:
                        raise
                    time.sleep(0.01)
            bg.send_report({"kind": "heartbeat", "mode": mode})
            out[mode] = [resp.status, resp.plan["plan_version"], bg.settle(10), bg.mode]
            bg.close()
        print(json.dumps(out))
    """)
    env = dict(os.environ, PYTHONPATH=os.path.abspath(SRC))
    res = subprocess.run(
        [python, "-c", script, plan_server.url, fx.TOKEN, fx.ACCOUNT],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    version = plan["plan_version"]
    assert json.loads(res.stdout) == {
        "thread": [200, version, True, "thread"],
        "inline": [200, version, True, "inline"],
    }
    assert [r["mode"] for r in plan_server.reports] == ["thread", "inline"]


def test_tls_keep_alive_and_the_deadline_hold_on_python36(tmp_path):
    """http.client and ssl of 3.6 (QMT's Python) behave as the session relies on."""
    python = py36_python()
    ca, cert, key = make_tls(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    tls, trickle = CountingServer(tls_context=context), TrickleServer()
    script = textwrap.dedent("""
        import json, socket, sys
        from jq2qmt.follower.http_session import HttpSession
        ca, host, tls_port, trickle_url = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
        resolve = lambda h, p: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", p))]
        session = HttpSession(cafile=ca, resolver=resolve)
        url = "https://%s:%d/plan" % (host, tls_port)
        statuses = [session.get(url, timeout=(2, 2)).status_code,
                    session.post(url, data=b"{}", timeout=(2, 2)).status_code]
        try:
            HttpSession(resolver=resolve).get(url, timeout=(2, 2))
            untrusted = "accepted"
        except Exception as exc:
            untrusted = type(exc).__name__
        try:
            HttpSession().get(trickle_url, timeout=(0.5, 0.5))
            trickled = "finished"
        except socket.timeout:
            trickled = "timeout"
        print(json.dumps({"statuses": statuses, "connects": session.connects,
                          "untrusted": untrusted, "trickled": trickled}))
    """)
    env = dict(os.environ, PYTHONPATH=os.path.abspath(SRC))
    try:
        res = subprocess.run(
            [python, "-c", script, str(ca), TEST_HOST, str(tls.port), trickle.url + "/plan"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
    finally:
        tls.close()
        trickle.close()
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == {
        "statuses": [200, 200],
        "connects": 1,
        "untrusted": "SSLError",
        "trickled": "timeout",
    }
    assert tls.accepted == 2 and tls.requests[0]["host"] == "%s:%d" % (TEST_HOST, tls.port)


def test_the_network_modules_are_python36_compatible():
    from jq2qmt.clients import bundle

    paths = [
        bundle.module_path("jq2qmt.follower.%s" % name)
        for name in ("client", "http_session", "background")
    ]
    assert bundle.py36_violations(paths) == ""
