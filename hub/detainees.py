"""A detainee from intake to release, and the timeline of everything that happened to them.

Every change goes through these functions, which write the record, the kiosks' change feed
(hub.roster) and an audit entry in one transaction. The audit entries about a person, with
the events kiosks sent about them, are that person's timeline: what changed, when, by whom
and from which kiosk or user.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import roster
from hub.audit import Trail
from hub.models import AuditEntry, Detainee, Event, as_utc
from protocol.ids import IDENTIFIER_PATTERN

HEALTH_FORMS = frozenset({"phq9", "gad7"})
PrisonNumber = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=32, pattern=r"^[\w/.-]+$"),
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Code = Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN)]
Language = Annotated[str, StringConstraints(min_length=2, max_length=16)]


class DetaineeError(ValueError):
    """The change cannot be made as asked; the message says why and what to do."""


class DuplicatePrisonNumber(DetaineeError):
    """Another person already has this prison number."""


class Identity(BaseModel):
    """Fields a registrar may correct after intake. All optional: only those given change."""

    model_config = ConfigDict(extra="forbid")
    name_latin: Name | None = None
    name_arabic: Name | None = None
    birth_date: date | None = None
    nationality: Annotated[str, StringConstraints(min_length=2, max_length=64)] | None = None
    languages: list[Language] | None = Field(default=None, max_length=10)
    literate: bool | None = None
    preferred_language: Literal["ar", "fr", "tzm"] | None = None
    cell: Annotated[str, StringConstraints(max_length=32)] | None = None
    expected_release_date: date | None = None


class Intake(BaseModel):
    """What a registrar records when a person arrives."""

    model_config = ConfigDict(extra="forbid")
    prison_number: PrisonNumber
    name_latin: Name
    name_arabic: Name
    birth_date: date
    nationality: Annotated[str, StringConstraints(min_length=2, max_length=64)]
    languages: list[Language] = Field(default_factory=list, max_length=10)
    literate: bool = True
    preferred_language: Literal["ar", "fr", "tzm"] = "ar"
    site: Code = Field(description="establishment")
    wing: Code
    cell: Annotated[str, StringConstraints(max_length=32)] | None = None
    admission_date: date
    expected_release_date: date | None = None

    @model_validator(mode="after")
    def _dates_in_order(self) -> Intake:
        if self.birth_date >= self.admission_date:
            raise ValueError("the birth date must be before the admission date")
        if self.expected_release_date and self.expected_release_date < self.admission_date:
            raise ValueError("the expected release date must not be before the admission date")
        return self


def new_detainee_id() -> str:
    """Masar's pseudonymous id: random, meaningless outside Masar, keys the templates."""
    return "m" + base64.b32encode(secrets.token_bytes(10)).decode().lower()


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _get(session: Session, detainee_id: str) -> Detainee:
    detainee = session.get(Detainee, detainee_id, with_for_update=True)
    if detainee is None:
        raise LookupError(f"no detainee with Masar id {detainee_id!r}")
    return detainee


def admit(session: Session, trail: Trail, intake: Intake) -> Detainee:
    """Intake. A prison number already in use is refused, naming whose it is."""
    holder = session.scalar(select(Detainee).where(Detainee.prison_number == intake.prison_number))
    if holder is not None:
        raise DuplicatePrisonNumber(
            f"prison number {intake.prison_number} is already used by {holder.name_latin} "
            f"(Masar id {holder.id}); check the number, or open that person's file"
        )
    detainee_id = new_detainee_id()
    roster.admit(
        session,
        detainee_id=detainee_id,
        prison_number=intake.prison_number,
        name_latin=intake.name_latin,
        name_arabic=intake.name_arabic,
        site=intake.site,
        wing=intake.wing,
        preferred_language=intake.preferred_language,
        literate=intake.literate,
    )
    session.flush()
    detainee = _get(session, detainee_id)
    detainee.birth_date = intake.birth_date
    detainee.nationality = intake.nationality
    detainee.languages = list(intake.languages)
    detainee.cell = intake.cell
    detainee.admission_date = intake.admission_date
    detainee.expected_release_date = intake.expected_release_date
    trail.record(
        session, "detainee.intake", detainee_id, {k: _plain(v) for k, v in intake if v is not None}
    )
    return detainee


def update_identity(session: Session, trail: Trail, detainee_id: str, update: Identity) -> Detainee:
    """Correct identity fields; the audit entry keeps each old and new value."""
    detainee = _get(session, detainee_id)
    changes: dict[str, list[Any]] = {}
    for field in update.model_fields_set:
        new = getattr(update, field)
        if new is None and field in {"name_latin", "name_arabic", "literate", "languages"}:
            raise DetaineeError(f"{field} cannot be emptied")
        old = getattr(detainee, field)
        if old != new:
            changes[field] = [_plain(old), _plain(new)]
    if not changes:
        return detainee
    synced = {"name_latin", "name_arabic", "literate", "preferred_language"}
    kiosk_fields = {f: getattr(update, f) for f in changes if f in synced}
    if kiosk_fields:  # what the wing's kiosks hold: they hear of the change
        roster.update_detainee(session, detainee_id, **kiosk_fields)
    for field in changes.keys() - synced:
        setattr(detainee, field, getattr(update, field))
    trail.record(session, "detainee.update", detainee_id, {"changes": changes})
    return detainee


def transfer(
    session: Session,
    trail: Trail,
    detainee_id: str,
    *,
    wing: str,
    site: str | None = None,
    cell: str | None = None,
) -> Detainee:
    """To another wing, or another establishment. Both wings' kiosks hear of it."""
    detainee = _get(session, detainee_id)
    if detainee.state != "in_custody":
        raise DetaineeError(f"{detainee.name_latin} was released; a released person is not moved")
    before = {"site": detainee.site, "wing": detainee.wing, "cell": detainee.cell}
    roster.transfer(session, detainee_id, wing, site)
    detainee.cell = cell
    after = {"site": detainee.site, "wing": wing, "cell": cell}
    trail.record(session, "detainee.transfer", detainee_id, {"from": before, "to": after})
    return detainee


def release(session: Session, trail: Trail, detainee_id: str, released_on: date) -> Detainee:
    """The person leaves custody; the kiosks drop their row and templates at the next sync."""
    detainee = _get(session, detainee_id)
    if detainee.state != "in_custody":
        raise DetaineeError(f"{detainee.name_latin} was already released on {detainee.released_on}")
    wing = detainee.wing
    roster.release(session, detainee_id)
    detainee.released_on = released_on
    trail.record(
        session,
        "detainee.release",
        detainee_id,
        {"released_on": released_on.isoformat(), "site": detainee.site, "wing": wing},
    )
    return detainee


# --- timeline -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    by: str  # "user:<id>", "kiosk:<site>/<device>" or "system:<name>"
    action: str  # an audit action (detainee.transfer) or an event type (movement.verified)
    summary: dict[str, Any]


def _event_summary(event: Event) -> dict[str, Any]:
    """What the timeline shows of a kiosk event: never the answers themselves."""
    body = event.body
    if event.type == "questionnaire.response":
        return {"form_id": body.get("form_id"), "form_version": body.get("form_version")}
    if event.type == "movement.verified":
        keys = ("from_location", "to_location", "outcome", "reason")
        return {k: body.get(k) for k in keys}
    if event.type == "identification":
        return {"mode": body.get("mode"), "outcome": body.get("outcome")}
    if event.type == "training.enrolment_requested":
        return {"programme_id": body.get("programme_id")}
    if event.type == "enrolment.captured":
        return {"modality": body.get("modality")}
    return {}


def _is_health_event(event: Event) -> bool:
    return event.type == "questionnaire.response" and event.body.get("form_id") in HEALTH_FORMS


def timeline(
    session: Session, detainee_id: str, *, include_health: bool, limit: int = 500
) -> list[TimelineEntry]:
    """Newest first. Health screenings and reads of health data only for health staff."""
    entries: list[TimelineEntry] = []
    audit = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.subject == detainee_id)
        .order_by(AuditEntry.id.desc())
        .limit(limit)
    )
    for entry in audit:
        if entry.action.startswith("health.") and not include_health:
            continue
        entries.append(TimelineEntry(as_utc(entry.at), entry.actor, entry.action, entry.details))
    events = session.scalars(
        select(Event)
        .where(
            Event.subject == detainee_id,
            # Drafts (one per answer) are the kiosk's autosave, not something that happened:
            # the response, when sent, is the entry.
            Event.type != "questionnaire.progress",
        )
        .order_by(Event.at.desc())
        .limit(limit)
    )
    for event in events:
        if _is_health_event(event) and not include_health:
            continue
        via = f"kiosk:{event.site}/{event.device}"
        summary = _event_summary(event) | ({"staff": event.actor} if event.actor else {})
        entries.append(TimelineEntry(as_utc(event.at), via, event.type, summary))
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:limit]
