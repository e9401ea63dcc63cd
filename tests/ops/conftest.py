"""Fixtures for the operations tests: empty server databases for restores."""

import pytest
from sqlalchemy import MetaData

from jq2qmt.store.db import Database
from testkit import backend_url


def drop_everything(url):
    """Leave the database with no tables at all (the shared fixtures rebuild it later)."""
    db = Database(url)
    try:
        metadata = MetaData()
        metadata.reflect(db.engine)
        metadata.drop_all(db.engine)
    finally:
        db.dispose()


@pytest.fixture
def mysql_server_url():
    """The MariaDB/MySQL test URL (skip, or fail when all backends are required)."""
    return backend_url("mysql")


@pytest.fixture
def empty_database():
    """factory(backend) -> URL of an emptied MySQL/PostgreSQL test database."""
    used = []

    def factory(backend):
        url = backend_url(backend)
        drop_everything(url)
        used.append(url)
        return url

    yield factory
    for url in used:
        drop_everything(url)


# ---- local receivers for notification channels --------------------------------------------

import json as _json
import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST and answers `reply` (JSON)."""

    def __init__(self):
        self.requests = queue.Queue()
        self.reply = {"errcode": 0, "errmsg": "ok"}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                receiver.requests.put(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                data = _json.dumps(receiver.reply).encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def next(self, timeout=10):
        """The next recorded request (waits for it)."""
        return self.requests.get(timeout=timeout)

    def pending(self):
        return self.requests.qsize()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    rec = Receiver()
    yield rec
    rec.close()


class SmtpSink:
    """aiosmtpd on 127.0.0.1 keeping every message it receives."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.messages = queue.Queue()
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                sink.messages.put(envelope)
                return "250 OK"

        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def close(self):
        self.controller.stop()


@pytest.fixture
def smtp_sink():
    sink = SmtpSink()
    yield sink
    sink.close()
