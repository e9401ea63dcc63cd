"""/metrics, request metrics, notifications raised by requests, watchdog checks, logs."""

import json
import logging
import threading
from datetime import datetime, timedelta

import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from jq2qmt.logging_setup import redact, setup_logging
from jq2qmt.notify import settings as ns
from jq2qmt.notify import watchdog
from jq2qmt.notify.dispatcher import Notifier
from jq2qmt.store import accounts
from jq2qmt.store.db import Database

UPLOAD = "/api/v1/positions/update"


def samples(text):
    """{(name, frozenset(labels)): value} of a Prometheus text page."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(page, name, **labels):
    return samples(page).get((name, frozenset(labels.items())), 0.0)


def _body(name="alpha", volume=100):
    return json.dumps(
        {
            "strategy_name": name,
            "positions": [{"code": "600000.SH", "volume": volume, "cost": 10.0}],
        }
    ).encode()


def test_metrics_count_uploads_reads_304s_and_need_a_reader(instance, app_client):
    assert app_client.get("/metrics").status_code == 401
    headers = {"Authorization": "Bearer " + instance.reader_token()}

    body = _body()
    assert (
        app_client.post(
            UPLOAD, content=body, headers=instance.signed_headers("POST", UPLOAD, body)
        ).status_code
        == 200
    )
    tampered = _body(volume=200)  # signature no longer matches the body
    assert (
        app_client.post(
            UPLOAD, content=tampered, headers=instance.signed_headers("POST", UPLOAD, body)
        ).status_code
        == 401
    )
    first = app_client.get("/api/v1/positions/total", headers=headers)
    assert (
        app_client.get(
            "/api/v1/positions/total",
            headers=dict(headers, **{"If-None-Match": first.headers["ETag"]}),
        ).status_code
        == 304
    )

    page = app_client.get("/metrics", headers=headers)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
    text = page.text
    assert value(text, "jq2qmt_uploads_total", result="accepted") == 1
    assert value(text, "jq2qmt_uploads_total", result="401") == 1
    assert value(text, "jq2qmt_reads_total", endpoint="total") == 2
    assert value(text, "jq2qmt_not_modified_total", endpoint="total") == 1
    assert value(text, "jq2qmt_request_duration_seconds_count", method="POST", route=UPLOAD) == 2
    assert value(text, "jq2qmt_longpolls_waiting") == 0


def test_refused_upload_and_bad_rounds_notify(instance, app_client, receiver):
    ns.set_channel(instance.db(), "wx", "wecom", {"url": receiver.url + "/hook"})
    body = _body()
    assert (
        app_client.post(
            UPLOAD, content=_body(volume=7), headers=instance.signed_headers("POST", UPLOAD, body)
        ).status_code
        == 401
    )
    message = json.loads(receiver.next()["body"])["markdown"]["content"]
    assert message.startswith("**上传被拒绝") and "401" in message

    accounts.add_account(instance.db(), "acct-1", name="一号")
    token = accounts.create_follower_token(instance.db(), "acct-1")
    headers = {"Authorization": "Bearer " + token}
    report = {
        "kind": "round",
        "status": "ok",
        "round_id": "r1",
        "plan_version": "v1",
        "placed": [{"code": "600000.SH", "side": "buy", "volume": 100}],
        "rejected": [{"code": "688001.SH", "side": "buy", "reason": "资金不足"}],
        "errors": [],
    }
    assert (
        app_client.post("/api/v1/accounts/acct-1/reports", json=report, headers=headers).status_code
        == 200
    )
    message = json.loads(receiver.next()["body"])["markdown"]["content"]
    assert "acct-1" in message and "688001.SH buy: 资金不足" in message
    held = {
        "kind": "round",
        "status": "held",
        "round_id": "r2",
        "plan_version": "v2",
        "held_reason": "换手率超过 50%",
    }
    assert (
        app_client.post("/api/v1/accounts/acct-1/reports", json=held, headers=headers).status_code
        == 200
    )
    message = json.loads(receiver.next()["body"])["markdown"]["content"]
    assert "待确认" in message and "换手率超过 50%" in message

    page = app_client.get(
        "/metrics", headers={"Authorization": "Bearer " + instance.reader_token()}
    ).text
    assert value(page, "jq2qmt_follower_rounds_total", status="ok") == 1
    assert value(page, "jq2qmt_follower_rounds_total", status="held") == 1
    assert value(page, "jq2qmt_orders_total", outcome="placed") == 1
    assert value(page, "jq2qmt_orders_total", outcome="rejected") == 1
    assert receiver.pending() == 0


def test_long_poll_gauge(instance, live_server):
    accounts.add_account(instance.db(), "acct-1")
    token = accounts.create_follower_token(instance.db(), "acct-1")
    reader = {"Authorization": "Bearer " + instance.reader_token()}
    plan_url = live_server.url + "/api/v1/accounts/acct-1/plan"
    etag = requests.get(plan_url, headers={"Authorization": "Bearer " + token}, timeout=10).headers[
        "ETag"
    ]
    done = threading.Event()

    def poll():
        requests.get(
            plan_url + "?wait=20",
            headers={"Authorization": "Bearer " + token, "If-None-Match": etag},
            timeout=30,
        )
        done.set()

    threading.Thread(target=poll, daemon=True).start()
    gauge = live_server.app.state.ops_metrics.longpolls
    deadline = datetime.now() + timedelta(seconds=10)
    while gauge._value.get() != 1 and datetime.now() < deadline:
        done.wait(0.02)
    assert (
        requests.get(live_server.url + "/metrics", headers=reader, timeout=10).text.count(
            "jq2qmt_longpolls_waiting 1.0"
        )
        == 1
    )
    # A change to the followed set wakes the poll.
    accounts.set_follow(instance.db(), "acct-1", "alpha", ratio=1.0)
    assert done.wait(20)
    assert (
        value(
            requests.get(live_server.url + "/metrics", headers=reader, timeout=10).text,
            "jq2qmt_longpolls_waiting",
        )
        == 0
    )


def test_watchdog_silent_follower_in_session_only(instance, receiver):
    ns.set_channel(instance.db(), "wx", "wecom", {"url": receiver.url + "/hook"})
    db = instance.db()
    accounts.add_account(db, "acct-1")
    accounts.add_account(db, "acct-quiet")  # never reported: not watched
    accounts.save_report(db, "acct-1", {"kind": "heartbeat"})
    # Last report on Monday 2026-11-23 09:50 Beijing time (01:50 UTC).
    with db.write_once() as session:
        session.execute(
            update(accounts.Account)
            .where(accounts.Account.account_id == "acct-1")
            .values(last_seen=datetime(2026, 11, 23, 1, 50))
        )
    notifier = Notifier(db)
    beijing = lambda day, hour, minute: datetime(2026, 11, day, hour, minute)  # noqa: E731

    assert (
        watchdog.check_followers(notifier, beijing(23, 9, 55)) == []
    )  # 5 minutes: below the threshold
    assert watchdog.check_followers(notifier, beijing(23, 12, 30)) == []  # lunch break
    assert watchdog.check_followers(notifier, beijing(28, 10, 30)) == []  # Saturday
    assert receiver.pending() == 0
    assert watchdog.check_followers(notifier, beijing(23, 10, 30)) == ["acct-1"]
    message = json.loads(receiver.next()["body"])["markdown"]["content"]
    assert "acct-1" in message and "失联" in message and "40 分钟" in message
    # The next check inside the interval is merged, not sent.
    assert watchdog.check_followers(notifier, beijing(23, 10, 31)) == ["acct-1"]
    assert receiver.pending() == 0
    # Threshold from the settings; paused accounts are not watched.
    ns.set_event(db, "follower_silent", threshold_minutes=60)
    assert watchdog.check_followers(notifier, beijing(23, 10, 32)) == []
    ns.set_event(db, "follower_silent", threshold_minutes=10)
    accounts.update_account(db, "acct-1", {"paused": True})
    assert watchdog.check_followers(notifier, beijing(23, 10, 30)) == []


def test_database_unreachable_uses_last_known_channels(instance, receiver, tmp_path):
    ns.set_channel(instance.db(), "wx", "wecom", {"url": receiver.url + "/hook"})
    notifier = Notifier(instance.db())
    assert watchdog.check_database(notifier) is True
    assert (
        notifier.notify("plan_held", "warm-up", "t", "") == "sent"
    )  # reads and caches the settings
    receiver.next()
    broken = Database("mysql+pymysql://nobody@127.0.0.1:9/none?connect_timeout=2")
    notifier.db = broken
    try:
        assert watchdog.check_database(notifier) is False
        assert "数据库无法连接" in json.loads(receiver.next()["body"])["markdown"]["content"]
        assert watchdog.check_database(notifier) is False  # rate limited in memory meanwhile
        assert receiver.pending() == 0
    finally:
        broken.dispose()


def test_log_lines_are_single_and_never_hold_secrets(tmp_path):
    path = setup_logging(tmp_path, "info", console=False)
    log = logging.getLogger("jq2qmt.test")
    log.info("event=upload auth=Bearer abc.DEF-123 note=%s", "two\nlines")
    log.info(
        "event=x X-Internal-Password: hunter2 url=https://sctapi.ftqq.com/SCT999.send password=pw1 secret=s3"
    )
    for handler in logging.getLogger("jq2qmt").handlers:
        handler.flush()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    text = "\n".join(lines)
    for secret in ("abc.DEF-123", "hunter2", "SCT999", "pw1", "s3 "):
        assert secret not in text + " "
    assert "two\\nlines" in lines[0] and lines[0].split(" ")[1] == "INFO"
    assert redact("token=abcdef&x=1") == "token=***&x=1"
    setup_logging(tmp_path, "info", console=False)  # idempotent: still one handler
    assert sum(1 for h in logging.getLogger("jq2qmt").handlers if getattr(h, "_jq2qmt", False)) == 1
    for handler in list(logging.getLogger("jq2qmt").handlers):
        if getattr(handler, "_jq2qmt", False):
            logging.getLogger("jq2qmt").removeHandler(handler)
            handler.close()
    logging.getLogger("jq2qmt").propagate = True
