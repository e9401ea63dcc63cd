"""Notification tables: channel settings, per-event switches, a cross-process
rate limit and a log of what was sent or suppressed (read and written by jq2qmt.notify)."""

from datetime import datetime
from typing import Optional

from sqlalchemy import Boolean, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jq2qmt.store.models import Base, BigId, Name, Timestamp, utcnow


class NotifyChannel(Base):
    """One configured channel; `config_json` holds its URL/secret/SMTP settings."""

    __tablename__ = "notify_channels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Name, unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # dingtalk|wecom|feishu|serverchan|email
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    config_json: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class NotifyEvent(Base):
    """Per-event switch and minimum interval between two messages of one subject."""

    __tablename__ = "notify_events"

    event: Mapped[str] = mapped_column(String(32), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    interval_seconds: Mapped[int] = mapped_column(Integer)
    threshold_minutes: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class NotifyThrottle(Base):
    """Last send per (event, subject); the rate limit every server process shares."""

    __tablename__ = "notify_throttle"
    __table_args__ = (UniqueConstraint("event", "subject", name="uq_notify_throttle"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(Name)
    last_sent_at: Mapped[datetime] = mapped_column(Timestamp)
    suppressed: Mapped[int] = mapped_column(Integer, default=0)


class NotifyLog(Base):
    """What happened to each notification: sent, suppressed (rate limit), failed."""

    __tablename__ = "notify_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    event: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(Name)
    status: Mapped[str] = mapped_column(String(16))  # sent|suppressed|failed|no_channel
    title: Mapped[str] = mapped_column(String(200))
    detail: Mapped[Optional[str]] = mapped_column(Text, nullable=True)
