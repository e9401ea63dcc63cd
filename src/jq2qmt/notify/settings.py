"""Notification settings in the database, so every server process sees the same."""

import json

from sqlalchemy import delete, select

from jq2qmt.notify.channels import make_channel
from jq2qmt.notify.events import EVENTS, check_event
from jq2qmt.notify.store import NotifyChannel, NotifyEvent
from jq2qmt.store.models import utcnow


def set_channel(db, name, kind, config, enabled=True):
    """Create or replace channel `name`; the config is checked first (ConfigProblem)."""
    make_channel(kind, config)
    text = json.dumps(config, ensure_ascii=False, sort_keys=True)

    def write(session):
        row = session.scalars(
            select(NotifyChannel).where(NotifyChannel.name == name).with_for_update()
        ).first()
        if row is None:
            row = NotifyChannel(name=name)
            session.add(row)
        row.kind, row.config_json, row.enabled, row.updated_at = kind, text, enabled, utcnow()

    db.write(write)


def remove_channel(db, name):
    """True if a channel was removed."""
    return db.write(
        lambda s: s.execute(delete(NotifyChannel).where(NotifyChannel.name == name)).rowcount > 0
    )


def channels(session, only_enabled=False):
    """[(name, enabled, channel object)] in name order."""
    query = select(NotifyChannel).order_by(NotifyChannel.name)
    if only_enabled:
        query = query.where(NotifyChannel.enabled.is_(True))
    return [
        (row.name, row.enabled, make_channel(row.kind, json.loads(row.config_json)))
        for row in session.scalars(query)
    ]


def set_event(db, event, enabled=None, interval_seconds=None, threshold_minutes=None):
    default = check_event(event)

    def write(session):
        row = session.get(NotifyEvent, event, with_for_update=True)
        if row is None:
            row = NotifyEvent(
                event=event,
                enabled=default.enabled,
                interval_seconds=default.interval_seconds,
                threshold_minutes=default.threshold_minutes,
            )
            session.add(row)
        if enabled is not None:
            row.enabled = enabled
        if interval_seconds is not None:
            row.interval_seconds = interval_seconds
        if threshold_minutes is not None:
            row.threshold_minutes = threshold_minutes
        row.updated_at = utcnow()

    db.write(write)


def event_settings(session):
    """{event: {"enabled", "interval_seconds", "threshold_minutes", "label"}} with defaults filled in."""
    stored = {row.event: row for row in session.scalars(select(NotifyEvent))}
    result = {}
    for name, default in EVENTS.items():
        row = stored.get(name)
        result[name] = {
            "label": default.label,
            "enabled": row.enabled if row else default.enabled,
            "interval_seconds": row.interval_seconds if row else default.interval_seconds,
            "threshold_minutes": (
                row.threshold_minutes
                if row and row.threshold_minutes is not None
                else default.threshold_minutes
            ),
        }
    return result
