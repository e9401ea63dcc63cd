"""The app factory: every part is installed, and the background work the parts register
(the notification watchdog) runs exactly while the app runs."""

import asyncio
import threading

from fastapi.testclient import TestClient

from jq2qmt.server import app as app_module
from jq2qmt.server.routes import ops


def test_the_watchdog_runs_while_the_app_runs(instance, monkeypatch):
    started, cancelled = threading.Event(), threading.Event()

    async def watch(notifier):
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    monkeypatch.setattr(ops, "watch", watch)
    app = app_module.create_app(instance.settings)
    # the watchdog, and the fresh reads' connection closed at shutdown (test_fresh_reads)
    assert len(app.state.background_tasks) == 2
    with TestClient(app) as client:
        assert started.wait(5) and not cancelled.is_set()
        assert client.get("/healthz").status_code == 200
    assert cancelled.wait(5)


def test_every_part_is_installed(instance):
    # each part answers on its own path (a refusal, a redirect to the login or data)
    parts = (
        "/healthz",
        "/api/v1/positions/total",
        "/api/v1/accounts/x/plan",
        "/api/v1/accounts/x/quality",
        "/api/v1/notify",
        "/metrics",
        "/openapi.json",
        "/accounts",
    )
    with TestClient(app_module.create_app(instance.settings)) as client:
        for path in parts:
            response = client.get(path, follow_redirects=False)
            assert response.status_code != 404, path
