"""Fresh reads of the recent change numbers (`accounts.recent_changes_of`), shared by
the requests of one process.

The conditional reads (server/fastpath.py) and the long-polls of the plan route
(plans.ChangeWatcher) decide "unchanged" from these numbers, so a read must start after
the request arrived: a change committed by any server process before that is then
always seen. `FreshReads.get()` gives exactly that, and requests that arrive together
share one read.

How the read runs depends on the backend (`fresh_reads_for`):

- SQLite: on the event loop, on a connection of its own (a read of a local WAL file
  that never waits for writers is cheaper than a hand-off to a thread).
- MySQL/MariaDB and PostgreSQL: on the event loop through an async driver
  (store.loop_connections), on a connection of its own, reconnecting after a failure.
  Whenever that cannot serve a read (a URL option the async driver cannot take, a loop
  it cannot run on, a failed connect, no answer within `READ_TIMEOUT`), the read runs
  in a worker thread on the pool as before, so the async path only ever saves time.
  Every conditional read and long-poll of the process waits for this one read, so a
  kept connection whose peer went silent (dropped by a NAT or a firewall while idle:
  no error, no answer, until TCP gives up many minutes later) must not hold them.
- Anything else: in a worker thread.
"""

import asyncio
import logging

from starlette.concurrency import run_in_threadpool

from jq2qmt.store import accounts as account_store
from jq2qmt.store import loop_connections

log = logging.getLogger("jq2qmt.server")

THREAD = "thread"  # `read()` runs in a worker thread
INLINE = "inline"  # `read()` runs on the event loop at its next step
ASYNC = "async"  # `await read()` on the event loop

# After a failed connect of the async driver, reads take the worker thread for this
# long before connecting is tried again (a database that is down is not asked twice
# per request).
RETRY_AFTER = 5.0
# A change-number read answers in about a millisecond; one that has not answered in
# this many seconds (connect included) is abandoned and its connection dropped.
READ_TIMEOUT = 3.0


class FreshReads:
    """`await get()` returns the value of `read()` from a call that started after
    `get()` was called; callers that arrive meanwhile share it.

    THREAD and ASYNC: while a read runs, later callers share the next one, so there
    is at most one read running and one queued per process, whatever the number of
    callers. INLINE: the read runs on the event loop at its next step, shared by
    every caller that arrived before that step."""

    def __init__(self, read, mode=THREAD):
        if mode not in (THREAD, INLINE, ASYNC):
            raise ValueError("unknown mode %r" % (mode,))
        self.read = read
        self.mode = mode
        self._loop = None
        self._running = None
        self._queued = None
        self._last = None

    async def get(self):
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (a restarted server in tests)
            self._loop, self._running, self._queued = loop, None, None
        if self.mode == INLINE:
            if self._queued is None:
                self._queued = _shared_future(loop)
                loop.call_soon(self._read_inline, self._queued)
            future = self._queued
        elif self._running is None:
            future = self._running = self._start(loop, _shared_future(loop))
        else:
            if self._queued is None:
                self._queued = _shared_future(loop)
            future = self._queued
        return await asyncio.shield(future)

    async def close(self):
        """Close the reader's own connection (at shutdown)."""
        close = getattr(self.read, "close", None)
        if close is not None:
            await close()

    def _publish(self, future, value):
        if value == self._last:
            value = self._last  # the same object: memo checks are then an identity test
        self._last = value
        future.set_result(value)

    def _read_inline(self, future):
        if self._queued is future:
            self._queued = None
        try:
            value = self.read()
        except Exception as exc:  # the callers see it (and pass the read on to the route)
            future.set_exception(exc)
            return
        self._publish(future, value)

    def _start(self, loop, future):
        loop.create_task(self._run(loop, future))
        return future

    async def _run(self, loop, future):
        try:
            try:
                if self.mode == ASYNC:
                    value = await self.read()
                else:
                    value = await run_in_threadpool(self.read)
            except Exception as exc:
                future.set_exception(exc)
            else:
                self._publish(future, value)
        finally:
            if not future.done():  # cancelled with the event loop
                future.cancel()
            if self._loop is loop:
                queued, self._queued = self._queued, None
                self._running = queued
                if queued is not None and not loop.is_closed():
                    self._start(loop, queued)


def _shared_future(loop):
    future = loop.create_future()
    future.add_done_callback(_consume)
    return future


def _consume(future):
    """Mark a shared future's exception as retrieved (its callers may all be gone)."""
    if not future.cancelled():
        future.exception()


class _LoopReader:
    """The recent change numbers read on the event loop (SQLite), on a connection of
    its own: a pooled one could make the loop wait while worker threads hold every
    connection of the pool. A connection that failed is replaced on the next read."""

    def __init__(self, db):
        self.db = db
        self._connection = None

    def __call__(self):
        if self._connection is None:
            self._connection = self.db.private_connection()
        try:
            return account_store.recent_changes_of(self.db, self._connection)
        except Exception:
            self._drop()
            raise

    async def close(self):
        self._drop()

    def _drop(self):
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:
                pass


class ReadTimeout(Exception):
    """The async change-number read did not answer in time."""


class _AsyncReader:
    """The recent change numbers read on the event loop through `driver`
    (store.loop_connections) on a connection of its own, with the statement of
    `recent_changes_of`; `fallback` (the worker-thread read) answers whenever the
    driver cannot (see the module docstring).

    FreshReads calls it once at a time. A kept connection that fails (closed by the
    server while idle, a database restart) is replaced and the read tried once more
    at once; both reads start after the call, so either answer is fresh."""

    def __init__(self, driver, sql, fallback):
        self.driver = driver
        self.sql = sql
        self.fallback = fallback
        self._connection = None
        self._loop = None
        self._failed_at = None  # loop time of the last failure, while failing
        self._abandoned = set()  # reads past READ_TIMEOUT, ending on their own

    async def __call__(self):
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # a former loop's connection cannot serve this one (its loop has ended)
            self._connection, self._loop, self._failed_at = None, loop, None
        if not self.driver.works_on(loop) or (
            self._failed_at is not None and loop.time() - self._failed_at < RETRY_AFTER
        ):
            return await run_in_threadpool(self.fallback)
        try:
            value = await self._read_in_time()
        except Exception as exc:
            if self._failed_at is None:
                log.warning(
                    "event=fresh_read_fallback driver=%s error=%s detail=%s",
                    type(self.driver).__name__,
                    type(exc).__name__,
                    exc,
                )
            self._failed_at = loop.time()
            return await run_in_threadpool(self.fallback)
        if self._failed_at is not None:
            log.info("event=fresh_read_async_again driver=%s", type(self.driver).__name__)
            self._failed_at = None
        return value

    async def _read_in_time(self):
        """`_read()`, or `ReadTimeout` after READ_TIMEOUT seconds. A late read is
        cancelled but not waited for (a driver may take seconds to give up a silent
        connection): it ends on its own and closes its connection; the next read
        connects anew."""
        task = asyncio.ensure_future(self._read())
        done, _ = await asyncio.wait({task}, timeout=READ_TIMEOUT)
        if task in done:
            return task.result()
        self._connection = None  # the late read closes it
        self._abandoned.add(task)
        task.add_done_callback(self._forget)
        task.cancel()
        raise ReadTimeout("no answer in %.1f s" % READ_TIMEOUT)

    def _forget(self, task):
        self._abandoned.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: it was reported as the timeout

    async def _read(self):
        connection = self._connection
        if connection is not None:
            try:
                return await self._fetch(connection)
            except Exception:
                pass  # a new connection below
        connection = self._connection = await self.driver.connect()
        return await self._fetch(connection)

    async def _fetch(self, connection):
        try:
            return frozenset(await self.driver.fetch_column(connection, self.sql))
        except BaseException:  # failed or cancelled mid-statement: the connection is spent
            if self._connection is connection:
                self._connection = None
            await self._close(connection)
            raise

    async def _close(self, connection):
        try:
            await self.driver.close(connection)
        except Exception:
            pass

    async def close(self):
        connection, self._connection = self._connection, None
        if connection is not None:
            await self._close(connection)
        for task in list(self._abandoned):
            task.cancel()


def fresh_reads_for(db):
    """The `FreshReads` of the recent change numbers for `db` (a `Database`)."""

    def in_thread():
        return account_store.recent_changes_of(db)

    if db.backend == "sqlite":
        if db.engine.url.database in (None, "", ":memory:"):
            return FreshReads(in_thread)  # a memory database is private to its connection
        return FreshReads(_LoopReader(db), INLINE)
    driver = loop_connections.loop_driver(db)
    if driver is None:
        return FreshReads(in_thread)
    return FreshReads(_AsyncReader(driver, account_store.recent_changes_sql(db), in_thread), ASYNC)


def for_app(app):
    """The app's `FreshReads` (one per process, shared by every part that reads)."""
    fresh = getattr(app.state, "fresh_reads", None)
    if fresh is None:
        fresh = app.state.fresh_reads = fresh_reads_for(app.state.db)
    return fresh


def install(app):
    """Create the app's `FreshReads` and close its connection when the app stops."""
    fresh = for_app(app)

    async def close_at_shutdown():
        try:
            await asyncio.get_running_loop().create_future()  # until cancelled at shutdown
        finally:
            await fresh.close()

    app.state.background_tasks.append(close_at_shutdown)
