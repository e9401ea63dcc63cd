"""Notification channels against local receivers, exact payloads, and the DB rate limit."""

import base64
import hashlib
import hmac
import json
from email import message_from_bytes
from email.policy import default as email_policy
from urllib.parse import parse_qs, unquote_plus, urlsplit

from click.testing import CliRunner
from sqlalchemy import select, update

from jq2qmt.cli import main
from jq2qmt.notify import settings as ns
from jq2qmt.notify.dispatcher import Notifier
from jq2qmt.notify.store import NotifyLog, NotifyThrottle
from jq2qmt.store.db import Database
from jq2qmt.store.models import utcnow

TEST_TITLE = "jq2qmt 测试消息 / test message"


def cli(instance, *args):
    return CliRunner().invoke(
        main, list(args) + ["--instance", str(instance.path)], catch_exceptions=False
    )


def test_dingtalk_markdown_signed_per_its_documentation(instance, receiver):
    secret = "SEC0123456789abcdef"
    result = cli(
        instance,
        "notify",
        "set",
        "ding",
        "--kind",
        "dingtalk",
        "--url",
        receiver.url + "/robot/send?access_token=tok123",
        "--secret",
        secret,
    )
    assert result.exit_code == 0, result.output
    result = cli(instance, "notify", "test", "--channel", "ding")
    assert result.exit_code == 0, result.output

    request = receiver.next()
    parts = urlsplit(request["path"])
    assert parts.path == "/robot/send"
    query = parse_qs(parts.query)
    assert query["access_token"] == ["tok123"]
    timestamp = query["timestamp"][0]
    # The sign is urlencoded in the query; its decoded form is the base64 HMAC.
    raw_sign = parts.query.split("sign=")[1]
    expected = base64.b64encode(
        hmac.new(
            secret.encode(), ("%s\n%s" % (timestamp, secret)).encode(), hashlib.sha256
        ).digest()
    ).decode()
    assert unquote_plus(raw_sign) == expected
    assert request["headers"]["Content-Type"] == "application/json"
    body = json.loads(request["body"])
    assert body == {
        "msgtype": "markdown",
        "markdown": {
            "title": TEST_TITLE,
            "text": "#### %s\n\n这是一条测试通知，说明渠道 ding 配置正确。" % TEST_TITLE,
        },
    }
    assert secret not in result.output


def test_wecom_markdown(instance, receiver):
    assert (
        cli(
            instance,
            "notify",
            "set",
            "wx",
            "--kind",
            "wecom",
            "--url",
            receiver.url + "/cgi-bin/webhook/send?key=K1",
        ).exit_code
        == 0
    )
    assert cli(instance, "notify", "test").exit_code == 0
    request = receiver.next()
    assert request["path"] == "/cgi-bin/webhook/send?key=K1"
    assert json.loads(request["body"]) == {
        "msgtype": "markdown",
        "markdown": {"content": "**%s**\n这是一条测试通知，说明渠道 wx 配置正确。" % TEST_TITLE},
    }


def test_feishu_text_with_and_without_secret(instance, receiver):
    receiver.reply = {"code": 0, "msg": "success"}
    secret = "feishu-secret"
    assert (
        cli(
            instance,
            "notify",
            "set",
            "fs",
            "--kind",
            "feishu",
            "--url",
            receiver.url + "/open-apis/bot/v2/hook/H",
            "--secret",
            secret,
        ).exit_code
        == 0
    )
    assert cli(instance, "notify", "test", "--channel", "fs").exit_code == 0
    body = json.loads(receiver.next()["body"])
    timestamp = body.pop("timestamp")
    sign = body.pop("sign")
    assert isinstance(timestamp, str) and timestamp.isdigit()
    key = ("%s\n%s" % (timestamp, secret)).encode()
    assert sign == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    assert body == {
        "msg_type": "text",
        "content": {"text": "%s\n这是一条测试通知，说明渠道 fs 配置正确。" % TEST_TITLE},
    }

    assert (
        cli(
            instance, "notify", "set", "fs", "--kind", "feishu", "--url", receiver.url + "/hook2"
        ).exit_code
        == 0
    )
    assert cli(instance, "notify", "test", "--channel", "fs").exit_code == 0
    assert json.loads(receiver.next()["body"]) == {
        "msg_type": "text",
        "content": {"text": "%s\n这是一条测试通知，说明渠道 fs 配置正确。" % TEST_TITLE},
    }


def test_serverchan_form_post(instance, receiver):
    receiver.reply = {"code": 0, "message": "", "data": {}}
    assert (
        cli(
            instance,
            "notify",
            "set",
            "sc",
            "--kind",
            "serverchan",
            "--url",
            receiver.url + "/SCT123.send",
        ).exit_code
        == 0
    )
    assert cli(instance, "notify", "test").exit_code == 0
    request = receiver.next()
    assert request["path"] == "/SCT123.send"
    assert request["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    form = parse_qs(request["body"].decode())
    assert form == {"title": [TEST_TITLE], "desp": ["这是一条测试通知，说明渠道 sc 配置正确。"]}
    listing = cli(instance, "notify", "list")
    assert "serverchan http://127.0.0.1/…" in listing.output and "SCT123" not in listing.output


def test_email_over_smtp(instance, smtp_sink):
    result = cli(
        instance,
        "notify",
        "set",
        "mail",
        "--kind",
        "email",
        "--smtp-host",
        "127.0.0.1",
        "--smtp-port",
        str(smtp_sink.port),
        "--smtp-security",
        "none",
        "--sender",
        "jq2qmt@example.com",
        "--to",
        "trader@example.com",
        "--to",
        "ops@example.com",
    )
    assert result.exit_code == 0, result.output
    assert cli(instance, "notify", "test").exit_code == 0
    envelope = smtp_sink.messages.get(timeout=10)
    assert envelope.mail_from == "jq2qmt@example.com"
    assert envelope.rcpt_tos == ["trader@example.com", "ops@example.com"]
    message = message_from_bytes(envelope.original_content, policy=email_policy)
    assert message["Subject"] == "[jq2qmt] " + TEST_TITLE
    assert message.get_content().strip() == "这是一条测试通知，说明渠道 mail 配置正确。"


def test_rejecting_service_is_a_one_line_error_without_secrets(instance, receiver):
    receiver.reply = {"errcode": 310000, "errmsg": "sign not match"}
    cli(
        instance,
        "notify",
        "set",
        "ding",
        "--kind",
        "dingtalk",
        "--url",
        receiver.url + "/send?access_token=T",
        "--secret",
        "TOPSECRET",
    )
    result = cli(instance, "notify", "test")
    assert result.exit_code == 1
    assert "310000" in result.output and "TOPSECRET" not in result.output
    listing = cli(instance, "notify", "list")
    assert listing.exit_code == 0 and "ding" in listing.output
    assert "TOPSECRET" not in listing.output and "access_token=T" not in listing.output


def test_bad_settings_write_nothing(instance):
    result = cli(instance, "notify", "set", "x", "--kind", "dingtalk", "--url", "ftp://nope")
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    result = cli(instance, "notify", "set", "m", "--kind", "email", "--smtp-host", "h")
    assert result.exit_code == 1
    with instance.db().read() as session:
        assert ns.channels(session) == []
    assert cli(instance, "notify", "test").exit_code == 1
    for args in (["notify", "--help"], ["notify", "set", "--help"], ["notify", "event", "--help"]):
        assert CliRunner().invoke(main, args).exit_code == 0


def test_rate_limit_holds_across_processes(db_url, instance, receiver):
    """Two dispatchers on separate connections (as two server processes): one message."""
    ns.set_channel(instance.db(), "wx", "wecom", {"url": receiver.url + "/hook"})
    first, second = Notifier(Database(db_url)), Notifier(Database(db_url))
    try:
        statuses = [
            n.notify("database_unreachable", "database", "数据库无法连接", "x")
            for _ in range(5)
            for n in (first, second)
        ]
        assert statuses.count("sent") == 1 and statuses.count("suppressed") == 9
        assert receiver.next()["path"] == "/hook" and receiver.pending() == 0

        # Another subject is limited separately.
        assert first.notify("follower_silent", "acct-1", "失联", "") == "sent"
        receiver.next()
        # Once the interval has passed, the next message says how many were merged.
        with instance.db().write_once() as session:
            session.execute(
                update(NotifyThrottle)
                .where(NotifyThrottle.event == "database_unreachable")
                .values(last_sent_at=utcnow() - _hours(1))
            )
        assert (
            second.notify("database_unreachable", "database", "数据库无法连接", "again") == "sent"
        )
        content = json.loads(receiver.next()["body"])["markdown"]["content"]
        assert "9" in content and "merged" in content

        ns.set_event(instance.db(), "database_unreachable", enabled=False)
        assert first.notify("database_unreachable", "database", "t", "") == "disabled"
        with instance.db().read() as session:
            statuses = [
                row.status for row in session.scalars(select(NotifyLog).order_by(NotifyLog.id))
            ]
        assert statuses.count("sent") == 3 and statuses.count("suppressed") == 9
    finally:
        first.db.dispose()
        second.db.dispose()
    assert receiver.pending() == 0


def _hours(n):
    from datetime import timedelta

    return timedelta(hours=n)
