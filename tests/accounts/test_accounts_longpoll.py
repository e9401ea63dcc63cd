"""Long-polling the plan through a real server: woken by an upload, by a write to
another server process on the same database, 304 at the timeout, not woken by
changes that do not concern the account."""

import threading

import requests

PLAN = "/api/v1/accounts/%s/plan"


class Waiter(threading.Thread):
    """A follower's long-poll in a thread; `.response` when done."""

    def __init__(self, url, token, etag, wait):
        threading.Thread.__init__(self, daemon=True)
        self.args = (url, token, etag, wait)
        self.response = None

    def run(self):
        url, token, etag, wait = self.args
        self.response = requests.get(
            url,
            params={"wait": str(wait)},
            timeout=wait + 10,
            headers={"Authorization": "Bearer " + token, "If-None-Match": etag},
        )


def parked(server, waiter):
    """Block until the server holds a long-poll (its change watcher exists)."""
    while getattr(server.app.state, "change_watcher", None) is None:
        waiter.join(0.02)
        assert waiter.is_alive(), "the long-poll returned before waiting"


def first_plan(server, token, account):
    response = requests.get(
        server.url + PLAN % account, headers={"Authorization": "Bearer " + token}, timeout=10
    )
    assert response.status_code == 200
    return response


def _server_with_account(live_server, acc):
    instance = live_server.instance
    acc.store_account(instance, follow={acc.STRATEGY: 1})
    return acc.follower_token(instance)


def test_long_poll_wakes_on_an_upload(live_server, acc):
    token = _server_with_account(live_server, acc)
    etag = first_plan(live_server, token, acc.ACCOUNT).headers["ETag"]
    waiter = Waiter(live_server.url + PLAN % acc.ACCOUNT, token, etag, 30)
    waiter.start()
    parked(live_server, waiter)
    acc.upload_http(live_server.url, live_server.instance, positions={"600000.XSHG": 700})
    waiter.join(30)
    assert waiter.response.status_code == 200
    plan = waiter.response.json()
    assert waiter.response.headers["ETag"] != etag
    assert plan["targets"][0]["positions"][0]["volume"] == 700


def test_long_poll_wakes_on_a_write_to_another_server_process(live_server, acc):
    token = _server_with_account(live_server, acc)
    other = type(live_server)(live_server.instance).start()  # second process, same database
    try:
        etag = first_plan(live_server, token, acc.ACCOUNT).headers["ETag"]
        waiter = Waiter(live_server.url + PLAN % acc.ACCOUNT, token, etag, 30)
        waiter.start()
        parked(live_server, waiter)
        response = requests.patch(
            other.url + "/api/v1/accounts/%s" % acc.ACCOUNT,
            json={"dry_run": True},
            headers=live_server.instance.admin_headers(),
            timeout=10,
        )
        assert response.status_code == 200
        waiter.join(30)
        assert waiter.response.status_code == 200 and waiter.response.json()["dry_run"] is True
    finally:
        other.stop()


def test_long_poll_times_out_with_304_and_ignores_other_accounts(live_server, acc):
    token = _server_with_account(live_server, acc)
    acc.store_account(live_server.instance, account_id=acc.OTHER)
    etag = first_plan(live_server, token, acc.ACCOUNT).headers["ETag"]
    waiter = Waiter(live_server.url + PLAN % acc.ACCOUNT, token, etag, 2)
    waiter.start()
    parked(live_server, waiter)
    response = requests.post(
        live_server.url + "/api/v1/accounts/%s/pause" % acc.OTHER,
        headers=live_server.instance.admin_headers(),
        timeout=10,
    )
    assert response.status_code == 200
    waiter.join(30)
    assert waiter.response.status_code == 304 and waiter.response.headers["ETag"] == etag
    assert waiter.response.content == b""


def test_wait_above_30_is_refused(live_server, acc):
    token = _server_with_account(live_server, acc)
    etag = first_plan(live_server, token, acc.ACCOUNT).headers["ETag"]
    response = requests.get(
        live_server.url + PLAN % acc.ACCOUNT,
        params={"wait": "31"},
        timeout=10,
        headers={"Authorization": "Bearer " + token, "If-None-Match": etag},
    )
    assert acc.error_of(response, 422, "wait")


def test_long_poll_wakes_on_confirming_the_account(live_server, acc):
    """A follower waiting in preflight sees the confirmation at once, through the fast
    path's memo of the plan version as well."""
    instance = live_server.instance
    acc.store_account(instance, follow={acc.STRATEGY: 1}, confirmed=False)
    token = acc.follower_token(instance)
    first = first_plan(live_server, token, acc.ACCOUNT)
    assert first.json()["preflight"] is True
    etag = first.headers["ETag"]
    again = requests.get(
        live_server.url + PLAN % acc.ACCOUNT,
        timeout=10,
        headers={"Authorization": "Bearer " + token, "If-None-Match": etag},
    )
    assert again.status_code == 304
    waiter = Waiter(live_server.url + PLAN % acc.ACCOUNT, token, etag, 30)
    waiter.start()
    parked(live_server, waiter)
    confirmed = requests.post(
        live_server.url + "/api/v1/accounts/%s/confirm" % acc.ACCOUNT,
        timeout=10,
        headers=instance.admin_headers(),
    )
    assert confirmed.status_code == 200 and confirmed.json()["confirmed"] is True
    waiter.join(30)
    assert waiter.response.status_code == 200 and waiter.response.headers["ETag"] != etag
    assert waiter.response.json()["preflight"] is False
    stale = requests.get(
        live_server.url + PLAN % acc.ACCOUNT,
        timeout=10,
        headers={"Authorization": "Bearer " + token, "If-None-Match": etag},
    )
    assert stale.status_code == 200 and stale.json()["preflight"] is False
