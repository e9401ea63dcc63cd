"""Database faults: a private MariaDB / PostgreSQL is stopped under load and started again.

Never the machine's shared servers (other tests use them): `robust_dbservers` starts
a throw-away server per test. Under load (signed writers, token readers, through a
real HTTP server):
- while the database is down every answer is 503 ``database_unavailable`` with a
  Retry-After, never 500, and no request hangs past the client timeout;
- the server recovers by itself once the database is back (no restart);
- every upload that got 200 is in the stored history as sent (data lost = 0).
"""

import threading

import pytest
import requests
from robust_dbservers import SERVERS
from robust_load import Load, verify_history

pytestmark = pytest.mark.slow

STRATEGY = "故障策略"
ACCOUNT = "8886660057"
OUTAGES = 2


def _long_poll(live, instance):
    """A follower long-polling the plan when the database goes down: it must get an
    answer (503, or 304/200), never a 500 and never hang past the client timeout."""
    admin = instance.admin_headers()
    assert (
        requests.post(
            live.url + "/api/v1/accounts",
            json={"account_id": ACCOUNT, "name": "主账户"},
            headers=admin,
            timeout=30,
        ).status_code
        == 201
    )
    token = {"Authorization": "Bearer %s" % instance.token("follow", ACCOUNT)}
    path = live.url + "/api/v1/accounts/%s/plan" % ACCOUNT
    etag = requests.get(path, headers=token, timeout=30).headers["ETag"]
    answer = {}

    def run():
        try:
            answer["status"] = requests.get(
                path + "?wait=20", headers=dict(token, **{"If-None-Match": etag}), timeout=40
            ).status_code
        except requests.RequestException as exc:
            answer["status"] = type(exc).__name__

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, answer


@pytest.fixture(params=sorted(SERVERS))
def private_db(request):
    server = SERVERS[request.param]()
    try:
        server.start()
        server.create_database()
        yield server
    finally:
        server.remove()


def test_robust_database_stopped_under_load(private_db, live_server_factory, figures):
    live = live_server_factory(db_url=private_db.url)
    instance = live.instance
    reader = instance.reader_token()
    load = Load(live.url, instance, STRATEGY, writers=2, readers=2, reader_token=reader).start()
    outcomes = outcomes_during = load.outcomes
    poll = None
    try:
        for outage in range(OUTAGES):
            accepted_before = len(outcomes.accepted)
            outcomes.wait_for(lambda o: len(o.accepted) >= accepted_before + 5)
            if poll is None:
                poll = _long_poll(live, instance)
            private_db.stop()
            down_before = outcomes.count(status=503)
            outcomes.wait_for(
                lambda o: (
                    o.count("upload", 503) >= 3
                    and o.count("read", 503) >= 3
                    and o.count(status=503) >= down_before + 6
                )
            )
            # while down: the health check says why
            health = requests.get(live.url + "/healthz", timeout=30)
            assert health.status_code == 503 and health.json()["database"] == "unreachable"
            private_db.start()
            recovered_from = len(outcomes.accepted)
            outcomes.wait_for(lambda o: len(o.accepted) >= recovered_from + 5)
    finally:
        load.stop()
    assert requests.get(live.url + "/healthz", timeout=30).status_code == 200
    poll[0].join(45)
    assert poll[1]["status"] in (503, 304, 200), (
        "long-poll during the outage got %s" % poll[1]["status"]
    )
    during = [s for s in outcomes_during.statuses if s[1] == 503]
    assert all(reason == "database_unavailable" for _, _, reason in during)
    lost, problems = verify_history(instance.db(), STRATEGY, outcomes.accepted)
    figures(
        "database faults",
        cases=len(outcomes.statuses),
        failures=len(outcomes.bad),
        faults=OUTAGES,
        lost=lost,
    )
    assert not outcomes.bad, outcomes.bad[:10]
    assert lost == 0 and not problems, problems[:10]
    # 404: a read before the first upload; 409: an older as_of overtaken by another writer
    statuses = set(s for _, s, _ in outcomes.statuses)
    assert statuses <= {200, 404, 409, 503}, statuses
