"""ORM models of the hub's records. Schema changes go through Alembic (hub/migrations)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

JsonType = JSON().with_variant(JSONB(), "postgresql")


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every time the hub stores is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class Event(Base):
    """Every event a kiosk sent, exactly once (the primary key is the event id)."""

    __tablename__ = "events"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    site: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    subject: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[str | None] = mapped_column(String(64))
    body: Mapped[dict[str, Any]] = mapped_column(JsonType)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    worker: Mapped[str | None] = mapped_column(String(64), doc="the ingest worker that applied it")
    __table_args__ = (
        Index("ix_events_device_seq", "site", "device", "seq"),
        Index("ix_events_subject", "subject"),
    )


class DeviceStream(Base):
    """Per-device bookkeeping of ``seq``: the highest seen and how many arrived."""

    __tablename__ = "device_streams"
    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    device: Mapped[str] = mapped_column(String(64), primary_key=True)
    max_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    event_count: Mapped[int] = mapped_column(BigInteger, default=0)
    last_received_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SeqGap(Base):
    """A run of ``seq`` numbers not (yet) received from a device; filled runs are removed."""

    __tablename__ = "seq_gaps"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(64))
    first_seq: Mapped[int] = mapped_column(BigInteger)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    noted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("ix_seq_gaps_device", "site", "device", "first_seq"),)


class DeadLetter(Base):
    """A message that could not be accepted, kept with the reason and the raw bytes."""

    __tablename__ = "dead_letters"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    payload_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    topic: Mapped[str] = mapped_column(Text)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    reason: Mapped[str] = mapped_column(Text)
    event_id: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class KioskState(Base):
    """The last status each kiosk published (retained on the broker)."""

    __tablename__ = "kiosk_states"
    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    device: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    status: Mapped[dict[str, Any]] = mapped_column(JsonType)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
