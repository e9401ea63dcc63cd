"""The follower's network calls off the caller's thread: QMT's one Python thread never waits.

All strategies of a QMT client share one Python thread, so a plan fetch or a report
that waits on the network stalls every strategy and the client's UI. BackgroundClient
wraps a PlanClient (same two calls) and hands the I/O to one worker thread:

- `fetch_plan(etag, wait)` returns at once. It hands over the finished answer of a
  request made with the same etag (a PlanResponse, or its FetchError raised) and
  starts the next request; with nothing finished it answers 304 "nothing new known
  yet" when the caller holds a plan (`etag` given) and raises FetchPending when it
  does not. A request in flight longer than `stale_after` (+ its long-poll wait)
  raises FetchError: the caller must not trade on an old plan while the server hangs.
- After a failure (network error, 5xx, 429; for reports also 401/403/408) no request
  at all is made for 1, 2, 4, 8, 16, then 30 s (reset by any answer of the server);
  meanwhile fetch_plan raises the last error at once. Until the server answers
  again, fetch_plan keeps raising that error.
- `send_report(payload)` queues the payload (bounded outbox, heartbeats dropped
  first when full) and returns True. The worker sends the outbox in order after the
  pending GET; a failed send stays at the head for after the backoff, a report the
  server refuses for good (other 4xx) is dropped.
- Mode "inline" is the fallback for a Python where threads do not run: the caller's
  thread makes the calls itself (the client's short timeout bounds them), still with
  the backoff (no I/O during it) and at most one report per call. "auto" uses the
  thread and falls back to inline when the thread cannot start or does not take its
  first job within `thread_probe` seconds.

Timing (backoff, staleness, log throttling) reads only the injected `clock` (seconds,
monotonic), and only on the caller's thread: a simulator's clock works. The worker
does HTTP and nothing else (no log, no broker call); results cross over under one lock.

Bundled into the exported QMT file: Python 3.6, stdlib only.
"""

import collections
import threading
import time

from .client import DEFAULT_TIMEOUT, FetchError, FetchPending, PlanResponse

BACKOFF = (1, 2, 4, 8, 16, 30)  # seconds before the next request after 1, 2, ... failures
LOG_EVERY = 60.0  # a repeating failure is logged at most once a minute
THREAD_PROBE = 5.0  # auto mode: seconds the worker has to take its first job
CLOSE_JOIN = 0.5  # close(): seconds to wait for the worker
RETRY_SEND_STATUSES = (401, 403, 408, 429)
STALE_MESSAGE = "服务器无应答 / server not answering"
MODES = ("auto", "thread", "inline")


def _failed_fetch(exc):
    """A GET failure that starts the backoff: no answer, 5xx or 429."""
    return exc.status is None or exc.status >= 500 or exc.status == 429


def _failed_send(exc):
    """A report the server may take later (kept at the head); others are dropped."""
    return _failed_fetch(exc) or exc.status in RETRY_SEND_STATUSES


class _Job(object):
    def __init__(self, kind, etag=None, wait=0, item=None, seen=None):
        self.kind = kind  # "get" or "post"
        self.etag = etag
        self.wait = wait
        self.item = item  # the outbox entry of a "post"
        self.seen = seen  # caller-clock time the job was first known to be under way


class _Item(object):
    """One outbox entry (compared by identity: equal payloads stay distinct)."""

    def __init__(self, payload):
        self.payload = payload
        self.heartbeat = isinstance(payload, dict) and payload.get("kind") == "heartbeat"


class BackgroundClient(object):
    def __init__(
        self,
        client,
        mode="auto",
        log=None,
        clock=None,
        max_outbox=100,
        stale_after=None,
        thread_probe=THREAD_PROBE,
    ):
        if mode not in MODES:
            raise ValueError(
                "mode 应为 auto/thread/inline / mode must be one of %s: %r"
                % (", ".join(MODES), mode)
            )
        if int(max_outbox) < 1:
            raise ValueError("max_outbox 至少为 1 / max_outbox must be >= 1")
        self.client = client
        self.log = log or (lambda message: None)
        self.clock = clock or time.monotonic
        self.max_outbox = int(max_outbox)
        timeout = float(getattr(client, "timeout", DEFAULT_TIMEOUT))
        # stale when older than this plus the request's long-poll wait
        self.stale_after = float(stale_after) if stale_after is not None else 3 * timeout + 1
        self.thread_probe = float(thread_probe)
        self._cond = threading.Condition()
        self._outbox = collections.deque()
        self._get_job = None  # GET handed to the worker, not taken yet
        self._running = None  # the job the worker is executing
        self._result = None  # (etag, PlanResponse or FetchError) of the last GET
        self._events = []  # outcomes the caller side has not accounted for yet
        self._hold = False  # a failure stopped all I/O until the backoff is over
        self._failures = 0
        self._backoff_until = None
        self._last_error = None  # the failure that started the backoff
        self._get_error = None  # the last GET's error, until a GET succeeds
        self._unhealthy = False  # a failure was logged; log the recovery
        self._log_at = None
        self._log_count = 0
        self.sent = 0
        self.dropped = 0
        self._closed = False
        self._thread = None
        self._auto = mode == "auto"
        self._picked = False  # the worker took a job: threads work here
        self._probe_since = None
        self.mode = "inline" if mode == "inline" else "thread"
        if self.mode == "thread":
            try:
                thread = threading.Thread(target=self._work, name="jq2qmt-http")
                thread.daemon = True
                thread.start()
                self._thread = thread
            except Exception as exc:
                if not self._auto:
                    raise
                with self._cond:
                    self._fall_back("%s: %s" % (type(exc).__name__, exc))

    # ---- the two calls of PlanClient -----------------------------------------------------
    def fetch_plan(self, etag=None, wait=0):
        with self._cond:
            now = self.clock()
            self._account(now)
            if self.mode == "thread":
                return self._fetch_threaded(etag, wait, now)
        return self._fetch_inline(etag)

    def send_report(self, payload):
        with self._cond:
            self._account(self.clock())
            self._enqueue(_Item(payload))
            self._offered()
            self._cond.notify_all()
            inline = self.mode == "inline"
        if inline:
            self._send_inline()
        return True

    # ---- control and diagnostics ---------------------------------------------------------
    def settle(self, timeout):
        """Wait (real time) until nothing is in flight and the outbox is empty: True.

        False when `timeout` passed first, or at once when the outbox waits for a
        backoff (only the clock can end it). Inline mode has nothing in flight.
        """
        end = time.monotonic() + max(0.0, float(timeout))
        with self._cond:
            while True:
                self._account(self.clock())
                busy = self._get_job is not None or self._running is not None
                if not busy and not self._outbox:
                    return True
                if self.mode == "inline" or (not busy and self._hold):
                    return False
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)

    def close(self, timeout=CLOSE_JOIN):
        """Stop the worker (it finishes its request first; a daemon thread either way)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def status(self):
        with self._cond:
            now = self.clock()
            self._account(now)
            seen = [
                job.seen
                for job in (self._running, self._get_job)
                if job is not None and job.seen is not None
            ]
            return {
                "mode": self.mode,
                "in_flight_seconds": (now - min(seen)) if seen else None,
                "failures": self._failures,
                "backoff_until": self._backoff_until,
                "outbox": len(self._outbox),
                "sent": self.sent,
                "dropped": self.dropped,
                "last_error": None if self._last_error is None else str(self._last_error),
            }

    # ---- thread mode ---------------------------------------------------------------------
    def _fetch_threaded(self, etag, wait, now):
        result, self._result = self._result, None
        if result is not None:
            result_etag, outcome = result
            if isinstance(outcome, FetchError):
                if not self._in_backoff(now):
                    self._dispatch(etag, wait, now)  # e.g. a 401: ask again at once
                raise outcome.with_traceback(None)
            if result_etag == etag:
                # the caller will normally ask with this etag next: ask the server now
                following = outcome.etag if outcome.status == 200 else etag
                if following is not None:
                    self._dispatch(following, wait, now)
                return outcome
            # an answer to another etag: the caller moved on, ask again for its etag
        if self._in_backoff(now):
            raise self._last_error.with_traceback(None)
        running = self._running
        if self._get_job is None and (running is None or running.kind != "get"):
            self._dispatch(etag, wait, now)
        if self._stale(now):
            self._note_failure(STALE_MESSAGE, now)
            raise FetchError(STALE_MESSAGE)
        error = self._get_error or (self._last_error if self._failures else None)
        if error is not None:
            raise error.with_traceback(None)
        if etag is not None:
            return PlanResponse(304, None, etag)
        raise FetchPending()

    def _dispatch(self, etag, wait, now):
        self._get_job = _Job("get", etag, max(0, int(wait or 0)), seen=now)
        self._offered()
        self._cond.notify_all()

    def _offered(self):
        if self.mode == "thread" and not self._picked and self._probe_since is None:
            self._probe_since = self.clock()

    def _stale(self, now):
        if self._auto and not self._picked:
            return False  # the thread probe decides first (falls back to inline)
        for job in (self._running, self._get_job):
            if (
                job is not None
                and job.seen is not None
                and now - job.seen > self.stale_after + job.wait
            ):
                return True
        return False

    def _work(self):
        while True:
            with self._cond:
                job = None
                while job is None:
                    if self._closed or self.mode != "thread":
                        return
                    job = self._next_job()
                    if job is None:
                        self._cond.wait()
                self._picked = True
                self._running = job
            outcome = self._execute(job)
            with self._cond:
                self._running = None
                self._finish(job, outcome)
                self._cond.notify_all()

    def _next_job(self):
        if self._hold:
            return None
        if self._get_job is not None:
            job, self._get_job = self._get_job, None
            return job
        if self._outbox:
            return _Job("post", item=self._outbox[0])
        return None

    # ---- inline mode ---------------------------------------------------------------------
    def _fetch_inline(self, etag):
        with self._cond:
            now = self.clock()
            self._result = None
            if self._in_backoff(now):
                raise self._last_error.with_traceback(None)
        job = _Job("get", etag)
        outcome = self._execute(job)  # bounded by the client's timeouts
        with self._cond:
            self._finish(job, outcome)
            self._result = None
            self._account(self.clock())
            more = bool(self._outbox) and not self._hold
        if isinstance(outcome, FetchError):
            raise outcome
        if more:
            self._send_inline()
        return outcome

    def _send_inline(self):
        """Send at most one queued report (none during a backoff)."""
        with self._cond:
            self._account(self.clock())
            if self._hold or self._in_backoff(self.clock()) or not self._outbox:
                return
            job = _Job("post", item=self._outbox[0])
        outcome = self._execute(job)
        with self._cond:
            self._finish(job, outcome)
            self._account(self.clock())

    def _fall_back(self, reason):
        self.mode = "inline"
        self._get_job = None
        self._cond.notify_all()
        self.log(
            "后台网络线程不可用，改为同步请求 / background thread unavailable, "
            "using inline requests: %s" % (reason,)
        )

    # ---- shared bookkeeping (under the lock) ---------------------------------------------
    def _execute(self, job):
        """Run one job on the wrapped client; never raises (no lock held)."""
        try:
            if job.kind == "get":
                return self.client.fetch_plan(job.etag, job.wait)
            self.client.send_report(job.item.payload)
            return True
        except FetchError as exc:
            return exc
        except Exception as exc:  # the worker must survive anything
            return FetchError("内部错误 / internal error: %s: %s" % (type(exc).__name__, exc))

    def _finish(self, job, outcome):
        if job.kind == "get":
            self._result = (job.etag, outcome)
            if isinstance(outcome, FetchError):
                self._get_error = outcome
                if _failed_fetch(outcome):
                    self._fail(outcome)
                    return
            else:
                self._get_error = None
            self._events.append(("ok", None))
            return
        if outcome is True:
            self._remove(job.item)
            self.sent += 1
        elif _failed_send(outcome):
            self._fail(outcome)
            return
        else:
            self._remove(job.item)  # the server will never take this one
            self.dropped += 1
            self._events.append(("drop", outcome))
        self._events.append(("ok", None))

    def _fail(self, exc):
        self._hold = True
        self._get_job = None  # asked again once the backoff is over
        self._events.append(("fail", exc))

    def _remove(self, item):
        try:
            self._outbox.remove(item)
        except ValueError:
            pass  # evicted while it was being sent

    def _enqueue(self, item):
        while len(self._outbox) >= self.max_outbox:
            busy = self._running.item if self._running is not None else None
            victims = [i for i in self._outbox if i is not busy]
            victim = next((i for i in victims if i.heartbeat), None) or (
                victims[0] if victims else None
            )
            if victim is None:
                break
            self._outbox.remove(victim)
            self.dropped += 1
        self._outbox.append(item)

    def _in_backoff(self, now):
        return self._backoff_until is not None and now < self._backoff_until

    def _account(self, now):
        """Caller side: turn finished outcomes into backoff and log lines; lift the hold."""
        events, self._events = self._events, []
        for kind, exc in events:
            if kind == "fail":
                self._failures += 1
                delay = BACKOFF[min(self._failures, len(BACKOFF)) - 1]
                self._backoff_until = now + delay
                self._last_error = exc
                self._note_failure(str(exc), now)
            elif kind == "drop":
                self.log(
                    "报告被服务器拒绝，已丢弃 / report refused by the server, dropped: %s" % (exc,)
                )
            elif kind == "ok":
                if self._unhealthy:
                    self.log(
                        "服务器恢复应答 / server answering again (%d 次失败 / failures)"
                        % (self._failures,)
                    )
                self._failures = 0
                self._backoff_until = None
                self._last_error = None
                self._unhealthy = False
                self._log_at = None
        if self._hold and not self._in_backoff(now):
            self._hold = False
            self._cond.notify_all()
        if self._running is not None and self._running.seen is None:
            self._running.seen = now
        if (
            self._auto
            and self.mode == "thread"
            and not self._picked
            and self._probe_since is not None
            and now - self._probe_since >= self.thread_probe
        ):
            self._fall_back(
                "%g 秒内没有开始 / no start within %g s" % (self.thread_probe, self.thread_probe)
            )

    def _note_failure(self, message, now):
        """Log the first failure, then at most once a minute with the count since."""
        self._unhealthy = True
        if self._log_at is None:
            self.log(message)
            self._log_at, self._log_count = now, 0
            return
        self._log_count += 1
        if now - self._log_at >= LOG_EVERY:
            self.log(
                "%s（%d 次 / %d times in %d s）"
                % (message, self._log_count, self._log_count, now - self._log_at)
            )
            self._log_at, self._log_count = now, 0
