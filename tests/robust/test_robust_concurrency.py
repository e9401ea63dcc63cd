"""Concurrency: 8 signed writers hammering one strategy and 16 readers, on each database,
through a real HTTP server; then two `jq2qmt serve` processes on one database.

Invariants (architecture.md §4, §5, §7-8):
- no 5xx under contention;
- every 200 upload's snapshot is in history as sent; versions are gapless; the stored
  current snapshot equals the newest accepted one;
- every snapshot a reader got is a stored version, whole (never half of one);
- a nonce used on one server process is refused on the other; a long-poll waiting on
  one process wakes on an upload made through the other.
"""

import json
import os
import subprocess
import sys
import threading

import pytest
import requests
from robust_dbservers import free_port
from robust_load import UPLOAD, Load, snapshot_body, verify_history, volumes

from jq2qmt.store import repo

pytestmark = pytest.mark.slow

STRATEGY = "并发策略"
ACCOUNT = "8886660057"
WRITERS, READERS, UPLOADS_EACH = 8, 16, 12


def test_robust_writers_and_readers_on_one_strategy(db_url, live_server, figures):
    instance = live_server.instance
    load = Load(
        live_server.url,
        instance,
        STRATEGY,
        WRITERS,
        READERS,
        instance.reader_token(),
        max_uploads=UPLOADS_EACH,
        record_reads=True,
    ).start()
    load.outcomes.wait_for(
        lambda o: load.writers_done() and o.count("upload") >= WRITERS * UPLOADS_EACH
    )
    load.stop()
    outcomes = load.outcomes
    lost, problems = verify_history(instance.db(), STRATEGY, outcomes.accepted)
    with instance.db().read() as session:
        newest = repo.get_strategy(session, STRATEGY)["version"]
        stored = {
            v: volumes(repo.get_version(session, STRATEGY, v)["positions"])
            for v in range(1, newest + 1)
        }
    torn = [(v, got) for v, got in outcomes.reads if stored.get(v) != got]
    server_errors = [s for _, s, _ in outcomes.statuses if not isinstance(s, int) or s >= 500]
    figures(
        "concurrency",
        cases=len(outcomes.statuses),
        failures=len(outcomes.bad) + len(torn) + len(problems),
        lost=lost,
    )
    assert not outcomes.bad and not server_errors, (outcomes.bad + server_errors)[:10]
    assert lost == 0 and not problems, problems[:10]
    assert not torn, torn[:5]
    # 409 = an upload whose as_of was overtaken by a faster writer: refused, never applied
    assert set(s for k, s, _ in outcomes.statuses if k == "upload") <= {200, 409}
    assert outcomes.accepted and max(v for v, _, _ in outcomes.accepted) == newest
    assert len([r for r in outcomes.reads]) > 0


# ---- two server processes on one database ------------------------------------------------


class ServeProcess:
    """`jq2qmt serve` of an instance on its own port, as a separate OS process."""

    def __init__(self, instance, log_path):
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.log = open(log_path, "ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jq2qmt",
                "serve",
                "--instance",
                str(instance.path),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            stdout=self.log,
            stderr=self.log,
            env=env,
        )

    def wait_ready(self):
        import time

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (
                "jq2qmt serve exited with %s" % self.process.returncode
            )
            try:
                if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)  # the process is starting: nothing to await but its port
        raise AssertionError("jq2qmt serve did not become ready")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.log.close()


@pytest.fixture
def two_processes(request, tmp_path, instance):
    """Two server processes on the instance's database (MariaDB in CI: db_url=mysql;
    the SQLite file and PostgreSQL run as extras)."""
    servers = [ServeProcess(instance, tmp_path / ("serve-%d.log" % n)) for n in range(2)]
    try:
        yield [s.wait_ready() for s in servers]
    finally:
        for server in servers:
            server.stop()


def _signed_upload(instance, positions):
    payload = snapshot_body(STRATEGY, 1, 1)
    payload["positions"] = positions
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    headers = instance.signed_headers("POST", UPLOAD, body)
    headers["Content-Type"] = "application/json"
    return body, headers


def _await_waiting_long_poll(server, admin):
    """Block until the server's metrics show the long-poll waiting (so the upload below
    really has to wake it, not merely precede it)."""
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = requests.get(server.url + "/metrics", headers=admin, timeout=30).text
        for line in text.splitlines():
            if line.startswith("jq2qmt_longpolls_waiting ") and float(line.split()[1]) >= 1:
                return
        time.sleep(0.05)  # the metric is the event; Prometheus offers no push
    raise AssertionError("the long-poll never started waiting")


def test_robust_two_processes_share_nonces_and_wake_long_polls(
    db_url, instance, two_processes, figures
):
    first, second = two_processes
    admin = instance.admin_headers()
    body, headers = _signed_upload(
        instance, [{"code": "600000.XSHG", "volume": 1000, "cost": 10.0}]
    )
    assert (
        requests.post(first.url + UPLOAD, data=body, headers=headers, timeout=30).status_code == 200
    )
    replay = requests.post(second.url + UPLOAD, data=body, headers=headers, timeout=30)
    assert replay.status_code == 401 and replay.json()["error"]["code"] == "nonce_reused"

    assert (
        requests.post(
            second.url + "/api/v1/accounts",
            json={"account_id": ACCOUNT, "name": "主账户"},
            headers=admin,
            timeout=30,
        ).status_code
        == 201
    )
    assert (
        requests.put(
            first.url + "/api/v1/accounts/%s/follow/%s" % (ACCOUNT, STRATEGY),
            json={"ratio": 1.0},
            headers=admin,
            timeout=30,
        ).status_code
        == 200
    )
    token = {"Authorization": "Bearer %s" % instance.token("follow", ACCOUNT)}
    plan_path = "/api/v1/accounts/%s/plan" % ACCOUNT
    current = requests.get(first.url + plan_path, headers=token, timeout=30)
    etag = current.headers["ETag"]
    answer = {}
    waiting = threading.Event()

    def long_poll():
        waiting.set()
        answer["response"] = requests.get(
            first.url + plan_path + "?wait=25",
            timeout=40,
            headers=dict(token, **{"If-None-Match": etag}),
        )

    poller = threading.Thread(target=long_poll, daemon=True)
    poller.start()
    waiting.wait(10)
    _await_waiting_long_poll(first, admin)
    body, headers = _signed_upload(
        instance, [{"code": "600000.XSHG", "volume": 2000, "cost": 10.0}]
    )
    assert (
        requests.post(second.url + UPLOAD, data=body, headers=headers, timeout=30).status_code
        == 200
    )
    poller.join(45)
    response = answer["response"]
    figures("concurrency", cases=5, failures=0 if response.status_code == 200 else 1)
    assert response.status_code == 200, (
        "long-poll on process 1 did not wake on an upload to process 2"
    )
    assert response.headers["ETag"] != etag
    volumes_now = [p["volume"] for t in response.json()["targets"] for p in t["positions"]]
    assert volumes_now == [2000]
