"""Connections to MySQL/PostgreSQL are reused under concurrent requests instead of
being closed and opened again for every request (a new PyMySQL connection builds a
TLS context: ~10 ms of CPU each)."""

import threading

import pytest
from sqlalchemy import event, text

from jq2qmt.store.db import SERVER_POOL_SIZE, Database


def test_concurrent_sessions_reuse_their_connections(db_url):
    if db_url.startswith("sqlite"):
        pytest.skip("SQLite connections are local files: the pool size does not matter")
    db = Database(db_url)
    opened = []
    event.listen(db.engine, "connect", lambda *args: opened.append(1))
    threads_per_round, rounds = 16, 5
    assert threads_per_round <= SERVER_POOL_SIZE
    errors = []

    def reader(barrier):
        try:
            barrier.wait()
            with db.read() as session:
                session.execute(text("SELECT 1")).scalar()
                barrier.wait()  # every thread holds its connection at the same moment
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    try:
        for _ in range(rounds):
            barrier = threading.Barrier(threads_per_round)
            threads = [
                threading.Thread(target=reader, args=(barrier,)) for _ in range(threads_per_round)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
    finally:
        db.dispose()
    assert not errors
    # 16 connections at once, opened in the first round and reused by the next four
    # (SQLAlchemy's default pool kept 5 and reopened 11 per round: 55+ opens)
    assert len(opened) == threads_per_round
