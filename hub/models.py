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


# --- master records the kiosks sync (the master-records issue extends these) -----------------


class Device(Base):
    """A kiosk: where it stands decides which wing's roster it receives."""

    __tablename__ = "devices"
    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    device: Mapped[str] = mapped_column(String(64), primary_key=True)
    wing: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(32), default="self_service")


class Detainee(Base):
    """A person in custody, keyed by a Masar pseudonymous id (never a national id number)."""

    __tablename__ = "detainees"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    prison_number: Mapped[str] = mapped_column(String(64), unique=True)
    name_latin: Mapped[str] = mapped_column(String(200))
    name_arabic: Mapped[str] = mapped_column(String(200))
    preferred_language: Mapped[str] = mapped_column(String(16), default="ar")
    literate: Mapped[bool] = mapped_column(default=True)
    photo_thumbnail: Mapped[bytes | None] = mapped_column(LargeBinary)
    site: Mapped[str] = mapped_column(String(64))
    wing: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="in_custody")  # or released
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("ix_detainees_wing", "site", "wing"),)


class Badge(Base):
    """A card UID and whose it is (a detainee or a staff member)."""

    __tablename__ = "badges"
    uid: Mapped[str] = mapped_column(String(20), primary_key=True)
    owner_kind: Mapped[str] = mapped_column(String(16))
    owner_id: Mapped[str] = mapped_column(String(64), index=True)


class Template(Base):
    """A biometric template of a detainee (float32 bytes for faces)."""

    __tablename__ = "templates"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    detainee_id: Mapped[str] = mapped_column(String(64), index=True)
    modality: Mapped[str] = mapped_column(String(16))
    format: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Staff(Base):
    """A staff member who may open kiosk sessions (PIN hash only, never the PIN)."""

    __tablename__ = "staff"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    site: Mapped[str] = mapped_column(String(64))
    pin_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)


class SyncDocument(Base):
    """Questionnaires, the training catalogue and kiosk policies, as kiosks receive them."""

    __tablename__ = "sync_documents"
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    site: Mapped[str] = mapped_column(String(64))
    wing: Mapped[str | None] = mapped_column(String(64), doc="None: every wing of the site")
    data: Mapped[dict[str, Any]] = mapped_column(JsonType)
    active: Mapped[bool] = mapped_column(default=True)


class SyncChange(Base):
    """The change feed: 'look again at (kind, key) in this site/wing'. Its id is the cursor.

    Rows carry no data: the syncer reads the current record, so a change to a record that
    has since left the wing becomes a delete for that wing's kiosks.
    """

    __tablename__ = "sync_changes"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    site: Mapped[str] = mapped_column(String(64))
    wing: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("ix_sync_changes_site", "site", "id"),)


class AuditEntry(Base):
    """Append-only, hash-chained: each row's MAC covers its content and the previous MAC."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JsonType)
    mac: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The newest entry's id and MAC, so that deleting the last rows is seen too."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1
    last_id: Mapped[int] = mapped_column(BigInteger)
    last_mac: Mapped[str] = mapped_column(String(64))


class QuestionnaireVersion(Base):
    """One version of an imported XLSForm, kept for ever: answers refer to their version."""

    __tablename__ = "questionnaire_versions"
    form_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    titles: Mapped[dict[str, Any]] = mapped_column(JsonType)
    survey: Mapped[dict[str, Any]] = mapped_column(JsonType)
    facts: Mapped[list[dict[str, Any]]] = mapped_column(JsonType)
    xlsx_sha256: Mapped[str] = mapped_column(String(64))
    xlsx: Mapped[bytes] = mapped_column(LargeBinary)
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    imported_by: Mapped[str] = mapped_column(String(128))


class ProfileFact(Base):
    """What is known about a person, with where it came from. Never updated in place: a
    correction or a verification is a new row that supersedes the old one."""

    __tablename__ = "profile_facts"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    detainee_id: Mapped[str] = mapped_column(String(64))
    fact: Mapped[str] = mapped_column(String(64))
    value: Mapped[Any] = mapped_column(JsonType)
    provenance: Mapped[str] = mapped_column(String(16))  # self_declared, staff_verified, document
    source: Mapped[str] = mapped_column(String(200))  # "kiosk:site/device" or "user:id"
    form_id: Mapped[str | None] = mapped_column(String(128))
    form_version: Mapped[str | None] = mapped_column(String(64))
    question: Mapped[str | None] = mapped_column(String(128))
    event_id: Mapped[str | None] = mapped_column(String(36))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    superseded_by: Mapped[int | None] = mapped_column(BigInteger)
    __table_args__ = (Index("ix_profile_facts_detainee", "detainee_id", "fact"),)
