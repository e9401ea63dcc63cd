"""Notification tables (defined with the other tables in jq2qmt.store.notifications,
so that the store registers every table without importing notify)."""

from jq2qmt.store.notifications import NotifyChannel, NotifyEvent, NotifyLog, NotifyThrottle

__all__ = ["NotifyChannel", "NotifyEvent", "NotifyLog", "NotifyThrottle"]
