"""ORM models of the hub's records. Schema changes go through Alembic (hub/migrations)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
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
        Index("ix_events_type_at", "type", "at"),  # hub.dashboard: responses lately
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
    """A kiosk: where it stands decides which wing's roster it receives; its certificate
    (hub.devices) decides whether the broker and the hub let it in."""

    __tablename__ = "devices"
    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    device: Mapped[str] = mapped_column(String(64), primary_key=True)
    wing: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(32), default="self_service")
    # registered (no certificate from the hub yet), invited, enrolled, revoked
    state: Mapped[str] = mapped_column(String(16), default="registered")
    cert_serial: Mapped[str | None] = mapped_column(String(64))  # decimal: exceeds 64 bits
    enrolled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class EnrolmentToken(Base):
    """A one-time token a hub admin gives a new kiosk; only its SHA-256 is kept."""

    __tablename__ = "enrolment_tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    site: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("ix_enrolment_tokens_device", "site", "device"),)


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
    birth_date: Mapped[date | None] = mapped_column(Date)
    nationality: Mapped[str | None] = mapped_column(String(64))
    languages: Mapped[list[str]] = mapped_column(JsonType, default=list)
    cell: Mapped[str | None] = mapped_column(String(32))
    admission_date: Mapped[date | None] = mapped_column(Date)
    expected_release_date: Mapped[date | None] = mapped_column(Date)
    released_on: Mapped[date | None] = mapped_column(Date)
    location: Mapped[str | None] = mapped_column(String(128), doc="where the last movement led")
    location_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        Index("ix_detainees_wing", "site", "wing"),
        Index("ix_detainees_held", "state", "site", "wing", "id"),  # hub.dashboard
    )


# Byte order on PostgreSQL too, so that "starts with" is a range of the index (hub.search).
SearchText = String(200).with_variant(String(200, collation="C"), "postgresql")


class SearchWord(Base):
    """One word a detainee is found by: a folded name word, ``~`` a spelling skeleton, or
    ``#`` the prison number (hub.search builds them)."""

    __tablename__ = "detainee_search_words"
    word: Mapped[str] = mapped_column(SearchText, primary_key=True)
    detainee_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


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


class ModelFile(Base):
    """A model file kiosks download from the hub, checked against protocol.models.CATALOGUE
    when it was added. ``sha256`` and ``size`` describe ``data``; kiosks check both again."""

    __tablename__ = "model_files"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    role: Mapped[str] = mapped_column(String(64))
    input: Mapped[str] = mapped_column(Text)
    normalisation: Mapped[str] = mapped_column(Text)
    licence: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    added_by: Mapped[str] = mapped_column(String(128))


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
    __table_args__ = (Index("ix_audit_log_subject", "subject", "id"),)


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


# --- people who use the hub ------------------------------------------------------------------


class User(Base):
    """Someone who logs in to the hub. Only a scrypt hash of the password is kept."""

    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    site: Mapped[str | None] = mapped_column(String(64), doc="None: every establishment")
    partner: Mapped[str | None] = mapped_column(String(128), doc="a partner user's organisation")
    language: Mapped[str] = mapped_column(String(8), default="fr")
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WebSession(Base):
    """A logged-in browser or API client. The cookie holds a token; we keep its SHA-256."""

    __tablename__ = "web_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LoginThrottle(Base):
    """Failed logins per user name and per client address, to slow down guessing."""

    __tablename__ = "login_throttle"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# --- questionnaires given to people ----------------------------------------------------------


class QuestionnaireAssignment(Base):
    """A questionnaire to fill in by a date, for one detainee or a whole wing."""

    __tablename__ = "questionnaire_assignments"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    form_id: Mapped[str] = mapped_column(String(128))
    target_kind: Mapped[str] = mapped_column(String(16))  # detainee or wing
    detainee_id: Mapped[str | None] = mapped_column(String(64))
    site: Mapped[str] = mapped_column(String(64))
    wing: Mapped[str | None] = mapped_column(String(64))
    due_on: Mapped[date] = mapped_column(Date)
    assigned_by: Mapped[str] = mapped_column(String(128))
    assigned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    active: Mapped[bool] = mapped_column(default=True)
    __table_args__ = (
        Index("ix_assignments_detainee", "detainee_id"),
        Index("ix_assignments_wing", "site", "wing"),
    )


# --- training --------------------------------------------------------------------------------


class Programme(Base):
    """A training programme in an establishment, with who may join it."""

    __tablename__ = "programmes"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    titles: Mapped[dict[str, Any]] = mapped_column(JsonType)  # {"fr": …, "ar": …, "tzm": …}
    provider: Mapped[str] = mapped_column(String(200))
    site: Mapped[str] = mapped_column(String(64))
    capacity: Mapped[int] = mapped_column(Integer)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    min_isced: Mapped[int | None] = mapped_column(Integer)
    requires_literacy: Mapped[bool] = mapped_column(default=False)
    min_days_before_release: Mapped[int | None] = mapped_column(Integer)
    isco_codes: Mapped[list[str]] = mapped_column(JsonType, default=list)
    skills: Mapped[list[str]] = mapped_column(JsonType, default=list)
    active: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Enrolment(Base):
    """A request to join a programme and what became of it."""

    __tablename__ = "enrolments"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    programme_id: Mapped[str] = mapped_column(String(64))
    detainee_id: Mapped[str] = mapped_column(String(64))
    # requested, approved, waitlisted, declined, withdrawn, completed, dropped
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    requested_via: Mapped[str] = mapped_column(String(200))  # kiosk:site/device or user:id
    event_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        Index("ix_enrolments_programme", "programme_id", "state"),
        Index("ix_enrolments_detainee", "detainee_id"),
    )


class Attendance(Base):
    __tablename__ = "attendance"
    enrolment_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    present: Mapped[bool] = mapped_column()
    recorded_by: Mapped[str] = mapped_column(String(128))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# --- health and psychology (health roles only) -----------------------------------------------


class Screening(Base):
    """A scored screening (PHQ-9, GAD-7) from a kiosk questionnaire or entered by staff."""

    __tablename__ = "screenings"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    detainee_id: Mapped[str] = mapped_column(String(64), index=True)
    instrument: Mapped[str] = mapped_column(String(32))
    form_version: Mapped[str | None] = mapped_column(String(64))
    score: Mapped[int] = mapped_column(Integer)
    band: Mapped[str] = mapped_column(String(32))
    items: Mapped[dict[str, Any]] = mapped_column(JsonType)
    source: Mapped[str] = mapped_column(String(200))
    event_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    taken_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class HealthAlert(Base):
    """An urgent alert for health staff, and who acknowledged it when."""

    __tablename__ = "health_alerts"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    detainee_id: Mapped[str] = mapped_column(String(64), index=True)
    screening_id: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    acknowledged_by: Mapped[str | None] = mapped_column(String(128))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)


# --- movements -------------------------------------------------------------------------------


class Movement(Base):
    """A verified movement of a detainee, from a kiosk's ``movement.verified`` event."""

    __tablename__ = "movements"
    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    detainee_id: Mapped[str] = mapped_column(String(64))
    site: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str | None] = mapped_column(String(64))
    from_location: Mapped[str] = mapped_column(String(128))
    to_location: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(16))
    modalities: Mapped[list[str]] = mapped_column(JsonType)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("ix_movements_detainee", "detainee_id", "at"),)


class ScheduledMovement(Base):
    """A movement staff planned for a detainee (court, clinic, workshop). A kiosk in
    movement-check mode shows it; the verified movement to the same place marks it done."""

    __tablename__ = "scheduled_movements"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    detainee_id: Mapped[str] = mapped_column(String(64))
    to_location: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(16))  # pending, done, cancelled
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[str | None] = mapped_column(String(128), doc="user, or the movement event")
    __table_args__ = (Index("ix_scheduled_movements_detainee", "detainee_id", "state"),)


# --- questionnaires in progress --------------------------------------------------------------


class QuestionnaireDraft(Base):
    """The newest answers so far to a questionnaire not yet sent, per person and form, from a
    kiosk's ``questionnaire.progress`` events: the wing's kiosks resume from it."""

    __tablename__ = "questionnaire_drafts"
    detainee_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    form_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    form_version: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(16))
    current: Mapped[str] = mapped_column(String(128))
    answers: Mapped[dict[str, Any]] = mapped_column(JsonType)
    saved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), doc="the event's at")
    event_id: Mapped[str] = mapped_column(String(36))
    # The event's stamp (protocol.ordering): which draft or response came last.
    source: Mapped[str | None] = mapped_column(String(130), doc="site/device of the event")
    seq: Mapped[int] = mapped_column(BigInteger, server_default="0")
    ordered_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), doc="the event's at, capped at its arrival"
    )
    resumed_source: Mapped[str | None] = mapped_column(String(130), doc="went on from: kiosk")
    resumed_seq: Mapped[int | None] = mapped_column(BigInteger, doc="... and its seq")


# --- reintegration ---------------------------------------------------------------------------


class Plan(Base):
    """A detainee's reintegration plan: goals, steps and partner referrals."""

    __tablename__ = "plans"
    detainee_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    goals: Mapped[list[Any]] = mapped_column(JsonType)
    steps: Mapped[list[Any]] = mapped_column(JsonType)
    referrals: Mapped[list[Any]] = mapped_column(JsonType)
    updated_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Consent(Base):
    """What a detainee agreed to share with one partner; withdrawn consents are kept."""

    __tablename__ = "consents"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    detainee_id: Mapped[str] = mapped_column(String(64), index=True)
    partner: Mapped[str] = mapped_column(String(128))
    sections: Mapped[list[str]] = mapped_column(JsonType)
    given_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_by: Mapped[str] = mapped_column(String(128))
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    withdrawn_by: Mapped[str | None] = mapped_column(String(128))
