"""Send an event to every enabled channel, at most once per interval per subject.

The rate limit lives in the database (`notify_throttle`): a process sends only
after it has claimed the (event, subject) row in a transaction, so several server
processes — or a hundred failing requests — produce one message per interval. The
messages suppressed meanwhile are counted and mentioned in the next one.

When the database itself is unreachable, the last channel settings this process
read and an in-memory throttle are used instead (that event is about the database).
"""

import logging
import threading
import time
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from jq2qmt.notify import settings as notify_settings
from jq2qmt.notify.channels import ChannelError
from jq2qmt.notify.events import EVENTS, TEST_EVENT
from jq2qmt.notify.store import NotifyLog, NotifyThrottle
from jq2qmt.store.models import utcnow

log = logging.getLogger("jq2qmt.notify")


class Notifier:
    """The dispatcher one server (or CLI) process uses."""

    def __init__(self, db, server_name="jq2qmt"):
        self.db = db
        self.server_name = server_name
        self._cached_channels = []
        self._cached_events = None
        self._local_sent = {}  # (event, subject) -> monotonic time, used while the DB is down
        self._lock = threading.Lock()

    # ---- public -----------------------------------------------------------------------------

    def notify(self, event, subject, title, text=""):
        """Deliver one event; returns "sent", "suppressed", "disabled", "no_channel" or "failed"."""
        subject = (subject or "-")[:64]
        try:
            return self._notify_with_db(event, subject, title, text)
        except (
            SQLAlchemyError,
            OSError,
        ) as exc:  # database trouble: fall back to what this process knows
            log.warning(
                "event=notify_db_unavailable notify_event=%s error=%s", event, type(exc).__name__
            )
            return self._notify_without_db(event, subject, title, text)

    def test(self, channel_name=None):
        """Send a test message to every channel (or one); returns [(name, error or None)]."""
        with self.db.read() as session:
            found = [c for c in notify_settings.channels(session) if channel_name in (None, c[0])]
        results: list[tuple[str, str | None]] = []
        for name, _enabled, channel in found:
            try:
                channel.send(
                    "jq2qmt 测试消息 / test message",
                    "这是一条测试通知，说明渠道 %s 配置正确。" % name,
                )
                results.append((name, None))
            except ChannelError as exc:
                results.append((name, str(exc)))
        self._log_row(
            TEST_EVENT,
            channel_name or "*",
            "sent" if all(e is None for _, e in results) else "failed",
            "test",
            "; ".join("%s: %s" % (n, e or "ok") for n, e in results),
        )
        return results

    # ---- internals --------------------------------------------------------------------------

    def _notify_with_db(self, event, subject, title, text):
        with self.db.read() as session:
            events = notify_settings.event_settings(session)
            chans = notify_settings.channels(session, only_enabled=True)
        with self._lock:
            self._cached_events, self._cached_channels = events, chans
        setting = events[event]
        if not setting["enabled"]:
            return "disabled"
        if not chans:
            return "no_channel"
        claimed, suppressed = self._claim(event, subject, setting["interval_seconds"])
        if not claimed:
            self._log_row(event, subject, "suppressed", title, None)
            log.info("event=notify_suppressed notify_event=%s subject=%s", event, subject)
            return "suppressed"
        if suppressed:
            text += "\n\n（此前 %d 条同类提醒已合并 / %d similar alerts were merged）" % (
                suppressed,
                suppressed,
            )
        status, detail = self._send_all(chans, title, text)
        self._log_row(event, subject, status, title, detail)
        return status

    def _notify_without_db(self, event, subject, title, text):
        with self._lock:
            events, chans = self._cached_events, list(self._cached_channels)
            setting = (events or {}).get(event) or {
                "enabled": EVENTS[event].enabled,
                "interval_seconds": EVENTS[event].interval_seconds,
            }
            if not setting["enabled"] or not chans:
                return "disabled" if not setting["enabled"] else "no_channel"
            key = (event, subject)
            last = self._local_sent.get(key)
            if last is not None and time.monotonic() - last < setting["interval_seconds"]:
                return "suppressed"
            self._local_sent[key] = time.monotonic()
        return self._send_all(chans, title, text)[0]

    def _claim(self, event, subject, interval_seconds):
        """(claimed, suppressed count) — claim the right to send, in one transaction."""

        def write(session):
            now = utcnow()
            row = session.scalars(
                select(NotifyThrottle)
                .where(NotifyThrottle.event == event, NotifyThrottle.subject == subject)
                .with_for_update()
            ).first()
            if row is None:
                session.add(
                    NotifyThrottle(event=event, subject=subject, last_sent_at=now, suppressed=0)
                )
                session.flush()  # a concurrent insert fails here and the write is retried
                return True, 0
            if now - row.last_sent_at >= timedelta(seconds=interval_seconds):
                suppressed = row.suppressed
                row.last_sent_at, row.suppressed = now, 0
                return True, suppressed
            row.suppressed += 1
            return False, row.suppressed

        return self.db.write(write)

    def _send_all(self, chans, title, text):
        text = "%s\n\n— %s" % (text, self.server_name) if text else "— %s" % self.server_name
        errors = []
        for name, _enabled, channel in chans:
            try:
                channel.send(title, text)
                log.info("event=notify_sent channel=%s kind=%s", name, channel.kind)
            except ChannelError as exc:
                errors.append("%s: %s" % (name, exc))
                log.warning(
                    "event=notify_failed channel=%s kind=%s error=%s", name, channel.kind, exc
                )
        if errors and len(errors) == len(chans):
            return "failed", "; ".join(errors)
        return "sent", "; ".join(errors) or None

    def _log_row(self, event, subject, status, title, detail):
        try:
            self.db.write(
                lambda s: s.add(
                    NotifyLog(
                        event=event,
                        subject=subject[:64],
                        status=status,
                        title=title[:200],
                        detail=detail,
                    )
                )
            )
        except Exception as exc:
            log.warning("event=notify_log_failed error=%s", type(exc).__name__)


def recent_log(session, limit=20):
    rows = session.scalars(select(NotifyLog).order_by(NotifyLog.id.desc()).limit(limit)).all()
    return [
        {
            "at": r.created_at,
            "event": r.event,
            "subject": r.subject,
            "status": r.status,
            "title": r.title,
            "detail": r.detail,
        }
        for r in rows
    ]
