"""Load for the concurrency and database-fault suites: signed writers, token readers,
and the check that every accepted upload is in the stored history.

Each upload carries a unique snapshot (the writer's number and a sequence in the
volumes) and a strictly increasing `as_of` per writer, so every 200 names exactly one
stored version whose positions can be compared with what was sent.
"""

import datetime
import itertools
import json
import threading

import requests

from jq2qmt.store import repo

UPLOAD = "/api/v1/positions/update"
REQUEST_TIMEOUT = 30  # a request that takes longer counts as a hang
_AS_OF = datetime.datetime(2026, 11, 25, 9, 31, 0)
_clock = itertools.count(1)
_clock_lock = threading.Lock()


def next_as_of():
    """A strictly increasing strategy clock shared by all writers of a test."""
    with _clock_lock:
        return (_AS_OF + datetime.timedelta(milliseconds=next(_clock))).isoformat()


def snapshot_body(strategy, writer, seq):
    positions = [
        {"code": "600000.XSHG", "volume": 100 * (writer * 100000 + seq), "cost": 10.5},
        {"code": "000001.XSHE", "volume": 100 * (seq % 7 + 1), "cost": 12.0},
    ]
    return {
        "strategy_name": strategy,
        "positions": positions,
        "as_of": next_as_of(),
        "portfolio": {"total_value": 1000000.0, "cash": 1000.0},
    }


def volumes(positions):
    """{six-digit code: volume}, whatever code form the server stored."""
    return {p["code"][:6]: p["volume"] for p in positions}


class Outcomes:
    """Thread-safe record of what each request got; wakes waiters on every answer."""

    def __init__(self):
        self.changed = threading.Condition()
        self.statuses = []  # (kind, status or "timeout"/"error", reason code)
        self.accepted = []  # (version, created, sent volumes) of every 200 upload
        self.bad = []  # descriptions of 5xx other than 503, hangs, bad 503s
        self.reads = []  # (version, volumes) of every 200 read, when recorded

    def add(self, kind, status, reason, accepted=None, bad=None, read=None):
        with self.changed:
            self.statuses.append((kind, status, reason))
            if read is not None:
                self.reads.append(read)
            if accepted is not None:
                self.accepted.append(accepted)
            if bad:
                self.bad.append(bad)
            self.changed.notify_all()

    def count(self, kind=None, status=None):
        return sum(
            1
            for k, s, _ in self.statuses
            if (kind is None or k == kind) and (status is None or s == status)
        )

    def wait_for(self, predicate, timeout=120):
        with self.changed:
            assert self.changed.wait_for(lambda: predicate(self), timeout), (
                "load did not reach the expected state"
            )


def _reason(response):
    try:
        return response.json()["error"]["code"]
    except Exception:
        return None


def _judge(kind, response):
    """None if the answer is acceptable for a robust server, else why not."""
    if response.status_code == 503:
        return (
            None
            if _reason(response) == "database_unavailable"
            else "503 without reason: %s" % response.text[:200]
        )
    if response.status_code >= 500:
        return "%s got %d: %s" % (kind, response.status_code, response.text[:200])
    return None


class Load:
    """`writers` signed uploaders on one strategy and `readers` token readers."""

    def __init__(
        self,
        base_url,
        instance,
        strategy,
        writers,
        readers,
        reader_token,
        max_uploads=None,
        record_reads=False,
    ):
        self.record_reads = record_reads
        self.url = base_url
        self.instance = instance
        self.strategy = strategy
        self.writers = writers
        self.readers = readers
        self.reader_token = reader_token
        self.max_uploads = max_uploads
        self.stop_event = threading.Event()
        self.outcomes = Outcomes()
        self.threads = []

    def start(self):
        for number in range(self.writers):
            self.threads.append(
                threading.Thread(target=self._write, args=(number + 1,), daemon=True)
            )
        for _ in range(self.readers):
            self.threads.append(threading.Thread(target=self._read, daemon=True))
        for thread in self.threads:
            thread.start()
        return self

    def stop(self):
        self.stop_event.set()
        for thread in self.threads:
            thread.join(REQUEST_TIMEOUT + 10)
        assert not any(t.is_alive() for t in self.threads), "a load thread hung"

    def _request(self, kind, session, method, path, **kwargs):
        try:
            response = session.request(method, self.url + path, timeout=REQUEST_TIMEOUT, **kwargs)
        except requests.Timeout:
            self.outcomes.add(
                kind, "timeout", None, bad="%s hung past %d s" % (kind, REQUEST_TIMEOUT)
            )
            return None
        except requests.RequestException as exc:
            self.outcomes.add(
                kind, "error", None, bad="%s connection error %s" % (kind, type(exc).__name__)
            )
            return None
        return response

    def _write(self, writer):
        session = requests.Session()
        for seq in itertools.count(1):
            if self.stop_event.is_set() or (self.max_uploads and seq > self.max_uploads):
                return
            payload = snapshot_body(self.strategy, writer, seq)
            body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            headers = self.instance.signed_headers("POST", UPLOAD, body)
            headers["Content-Type"] = "application/json"
            response = self._request("upload", session, "POST", UPLOAD, data=body, headers=headers)
            if response is None:
                continue
            accepted = None
            if response.status_code == 200:
                answer = response.json()
                accepted = (answer["version"], answer["created"], volumes(payload["positions"]))
            self.outcomes.add(
                "upload",
                response.status_code,
                _reason(response),
                accepted,
                _judge("upload", response),
            )

    def _read(self):
        session = requests.Session()
        session.headers["Authorization"] = "Bearer %s" % self.reader_token
        path = "/api/v1/positions/strategy/%s" % requests.utils.quote(self.strategy, safe="")
        while not self.stop_event.is_set():
            response = self._request("read", session, "GET", path)
            if response is None:
                continue
            read = None
            if self.record_reads and response.status_code == 200:
                answer = response.json()
                read = (answer["version"], volumes(answer["positions"]))
            self.outcomes.add(
                "read",
                response.status_code,
                _reason(response),
                None,
                _judge("read", response),
                read,
            )

    def writers_done(self):
        return all(not t.is_alive() for t in self.threads[: self.writers])


def verify_history(db, strategy, accepted):
    """Compare the stored history with the accepted uploads.

    Returns (lost, problems): `lost` counts accepted snapshots missing from history;
    `problems` lists broken invariants (gaps in versions, current != newest version).
    """
    problems = []
    with db.read() as session:
        current = repo.get_strategy(session, strategy)
        newest = current["version"]
        stored = {}
        for version in range(1, newest + 1):
            try:
                stored[version] = volumes(repo.get_version(session, strategy, version)["positions"])
            except repo.NotFoundError:
                problems.append("version %d missing: history has a gap" % version)
    lost = 0
    for version, created, sent in accepted:
        if stored.get(version) != sent:
            lost += 1
            problems.append(
                "accepted version %d (created=%s) not stored as sent" % (version, created)
            )
    created_versions = sorted(v for v, created, _ in accepted if created)
    if len(created_versions) != len(set(created_versions)):
        problems.append("two accepted uploads were given the same new version")
    if volumes(current["positions"]) != stored.get(newest):
        problems.append("stored current snapshot differs from the newest version")
    return lost, problems
