"""SQLite writers of several processes queue on one lock that wakes the next writer
when it is released (`jq2qmt.store.writer_lock`), instead of sleeping in SQLite's
busy handler; where ``flock`` does not exist the in-process lock alone is used."""

import os
import subprocess
import sys
import textwrap
import time
import warnings

import pytest
from sqlalchemy import text

from jq2qmt.store import writer_lock
from jq2qmt.store.db import Database
from jq2qmt.store.writer_lock import WriterLock

posix_only = pytest.mark.skipif(writer_lock.fcntl is None, reason="flock is POSIX only")

CHILD_WRITE = textwrap.dedent(
    """
    import sys
    from sqlalchemy import text
    from jq2qmt.store.db import Database

    db = Database(sys.argv[1])
    print("ready", flush=True)
    db.write(lambda session: session.execute(text("INSERT INTO marks (who) VALUES ('child')")))
    print("written", flush=True)
    """
)


def _marks(db):
    with db.read() as session:
        return [row[0] for row in session.execute(text("SELECT who FROM marks ORDER BY id"))]


def _database(tmp_path):
    db = Database("sqlite:///%s" % (tmp_path / "w.db"))
    db.write(
        lambda session: session.execute(
            text("CREATE TABLE marks (id INTEGER PRIMARY KEY, who TEXT NOT NULL)")
        )
    )
    return db


@posix_only
def test_another_process_writes_only_after_the_lock_is_released(tmp_path):
    db = _database(tmp_path)
    path = tmp_path / "w.db"
    holder = writer_lock.for_database(path)
    assert holder is db._writer  # one lock per file in a process: re-entrant below
    with holder:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD_WRITE, "sqlite:///%s" % path],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout.readline().strip() == "ready"
            # the child's write has had time to run; SQLite itself is not locked, so
            # only the writer lock can hold it back
            time.sleep(0.5)
            assert _marks(db) == []
            assert child.poll() is None
            db.write(
                lambda session: session.execute(text("INSERT INTO marks (who) VALUES ('holder')"))
            )
        except BaseException:
            child.kill()
            child.communicate()
            raise
    rest, _ = child.communicate(timeout=60)
    assert child.returncode == 0
    assert rest.strip() == "written"
    assert _marks(db) == ["holder", "child"]
    if os.name == "posix":
        assert os.stat(writer_lock.lock_path(path)).st_mode & 0o777 == 0o600
    db.dispose()


@posix_only
@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_a_forked_process_does_not_share_the_lock_of_its_parent(tmp_path):
    lock = WriterLock(str(tmp_path / "x.lock"))
    with lock:  # the parent's lock file is open before the fork
        pass
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    done_r, done_w = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork beside threads
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.write(ready_w, b"r")
            os.read(go_r, 1)
            with lock:
                os.write(done_w, b"d")
        finally:
            os._exit(0)
    try:
        assert os.read(ready_r, 1) == b"r"
        with lock:
            os.write(go_w, b"g")
            os.set_blocking(done_r, False)
            time.sleep(0.5)
            with pytest.raises(BlockingIOError):
                os.read(done_r, 1)  # the child is still waiting for the lock
        os.set_blocking(done_r, True)
        assert os.read(done_r, 1) == b"d"
    finally:
        os.waitpid(pid, 0)
        for fd in (ready_r, ready_w, go_r, go_w, done_r, done_w):
            os.close(fd)
        lock.close()


def test_the_lock_is_reentrant_and_in_process_only_without_a_file(tmp_path):
    lock = WriterLock()
    assert not lock.crosses_processes
    with lock:
        with lock:
            pass
    memory = Database("sqlite://")
    assert not memory._writer.crosses_processes
    memory.dispose()
    on_disk = Database("sqlite:///%s" % (tmp_path / "d.db"))
    assert on_disk._writer.crosses_processes == (writer_lock.fcntl is not None)
    on_disk.dispose()
