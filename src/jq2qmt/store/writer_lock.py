"""One SQLite writer at a time, handed over at once, across the processes of an instance.

SQLite lets one transaction write at a time. A writer that finds the database locked
waits in SQLite's busy handler, which sleeps between tries (1, 2, 5, 10 ... up to
100 ms): the writer is not woken when the lock is released, and a process whose own
threads keep writing takes the lock again before a sleeping one tries. With
``jq2qmt serve --workers 2`` the second process's uploads spent most of their time
in those sleeps (p99 of 16 concurrent uploads ~0.5 s).

`WriterLock` puts writers in a queue that wakes the next one when the lock is
released: an in-process lock for the threads of one process, then, for a database
file, an exclusive ``flock`` on a side file (``<database>-writer.lock``) for the
processes. The kernel wakes a blocked ``flock`` when it is released, and the waiting
thread holds no GIL. SQLite's own locking stays what guarantees one writer; this lock
only orders the writers that use it, so a process without it (an older version, the
``sqlite3`` shell) is still safe and waits in the busy handler as before.

Where ``fcntl`` does not exist (Windows) only the in-process lock is used: processes
then queue in SQLite's busy handler, as before. A lock file opened before a ``fork``
would be shared with the child (``flock`` belongs to the open file, not to the
process), so each process opens its own. Every `Database` of one process on the same
file shares one `WriterLock` (`for_database`): two locks on one file would block each
other inside one thread.
"""

import os
import threading
from typing import Any, Optional

fcntl: Optional[Any]
try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

SUFFIX = "-writer.lock"

_shared: dict[str, "WriterLock"] = {}
_shared_guard = threading.Lock()


def lock_path(database_path):
    """The side file whose ``flock`` orders the writers of `database_path`."""
    return str(database_path) + SUFFIX


def for_database(database_path):
    """The process's one `WriterLock` of the SQLite file `database_path`."""
    key = os.path.realpath(str(database_path))
    with _shared_guard:
        lock = _shared.get(key)
        if lock is None:
            lock = _shared[key] = WriterLock(lock_path(key))
        return lock


class WriterLock:
    """A re-entrant context manager: the threads of this process in turn, then (with a
    `path`, where ``flock`` exists) the processes that lock the same file."""

    def __init__(self, path=None):
        self._lock = threading.RLock()
        self._path = path if fcntl is not None else None
        self._depth = 0
        self._fd = None
        self._pid = None

    @property
    def crosses_processes(self):
        return self._path is not None

    def __enter__(self):
        self._lock.acquire()
        if self._depth == 0 and self._path is not None:
            try:
                fcntl.flock(self._file(), fcntl.LOCK_EX)
            except BaseException:
                self._lock.release()
                raise
        self._depth += 1
        return self

    def __exit__(self, *exc_info):
        self._depth -= 1
        try:
            if self._depth == 0 and self._path is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._lock.release()

    def _file(self):
        pid = os.getpid()
        if self._fd is None or self._pid != pid:
            # after a fork the inherited descriptor is the parent's open file: its
            # flock would be shared with the parent, so the child opens its own
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = pid
        return self._fd

    def close(self):
        """Close the lock file (when not held); the next use opens it again."""
        with self._lock:
            if self._depth == 0:
                if self._fd is not None and self._pid == os.getpid():
                    os.close(self._fd)
                self._fd = None
