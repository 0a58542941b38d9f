"""Everything the hub holds on one person, as one JSON document: their right of access
(law 09-08, art. 7).

It is complete on purpose: identity and photo, badges, every profile fact with its
provenance (superseded ones too), questionnaire responses with their answers (worded in
the person's language where the form's wording is held) and drafts, health screenings and
alerts, training with attendance, movements verified and planned, questionnaires assigned,
the plan, every consent (withdrawn ones too), the events kiosks sent about them and the
audit entries about them. Biometric templates are described (id, modality, format, size),
never copied: the vectors stay in the hub's template store, and the template bytes of
enrolment events are left out the same way.

The export holds health data, so it is for a role holding ``subject_access.export`` (the
hub's administrators, who answer for the data controller) and it writes two audit entries
in the caller's transaction: ``subject_access.export`` with what it held, and
``health.read``, so the health team's trail shows the read like any other.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session
from typing_extensions import TypedDict  # pydantic reads it on Python 3.11 (the API schema)

from hub import detainee_file, health, plans, profiles
from hub.audit import Trail
from hub.detainees import HEALTH_FORMS
from hub.models import (
    Attendance,
    AuditEntry,
    Badge,
    Base,
    Consent,
    Detainee,
    Enrolment,
    Event,
    Movement,
    Programme,
    QuestionnaireAssignment,
    QuestionnaireDraft,
    ScheduledMovement,
    Template,
    as_utc,
)
from protocol.ids import utc_now

FORMAT = "masar.subject_access/1"
WITHHELD = "biometric template: kept in the hub's template store, never exported"
NOTICE = (
    "Everything Masar holds on this person on the date above. Biometric templates are "
    "described, never copied. Health data is included: hand this file to the person only."
)


class Health(TypedDict):
    screenings: list[dict[str, Any]]
    alerts: list[dict[str, Any]]


class SubjectAccessExport(TypedDict):
    format: str
    notice: str
    detainee_id: str
    generated_at: str
    generated_by: str
    identity: dict[str, Any]
    badges: list[str]
    biometric_templates: list[dict[str, Any]]
    profile_facts: list[dict[str, Any]]
    questionnaire_responses: list[dict[str, Any]]
    questionnaire_drafts: list[dict[str, Any]]
    questionnaire_assignments: list[dict[str, Any]]
    health: Health
    training: list[dict[str, Any]]
    movements: list[dict[str, Any]]
    scheduled_movements: list[dict[str, Any]]
    plan: dict[str, Any] | None
    consents: list[dict[str, Any]]
    kiosk_events: list[dict[str, Any]]
    audit_entries: list[dict[str, Any]]
    audit_entry_id: int  # the export's own entry, written after the rest was read


def _plain(value: Any) -> Any:
    """A stored value as JSON: UTC times, ISO dates, bytes in base64."""
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def _row(record: Base, leave_out: Iterable[str] = ()) -> dict[str, Any]:
    """Every column of a record, so that nothing held is forgotten when a column is added."""
    skipped = set(leave_out)
    return {
        column.key: _plain(getattr(record, column.key))
        for column in inspect(record).mapper.column_attrs
        if column.key not in skipped
    }


def _event(event: Event) -> dict[str, Any]:
    row = _row(event, ("subject", "worker", "received_at"))
    if event.type == "enrolment.captured" and event.body.get("template") is not None:
        row["body"] = {**event.body, "template": WITHHELD}
    return row


def _templates(session: Session, detainee_id: str) -> list[dict[str, Any]]:
    size = func.length(Template.data)  # counted by the database: the bytes never leave it
    rows = session.execute(
        select(Template.id, Template.modality, Template.format, size)
        .where(Template.detainee_id == detainee_id)
        .order_by(Template.id)
    )
    return [
        {"id": tid, "modality": modality, "format": form, "bytes": length, "data": WITHHELD}
        for tid, modality, form, length in rows
    ]


def _responses(session: Session, events: list[Event], language: str) -> list[dict[str, Any]]:
    """Each response with its answers as sent, and worded as the form words them."""
    keys = [(str(e.body.get("form_id", "")), str(e.body.get("form_version", ""))) for e in events]
    wordings = detainee_file.definitions(session, keys)
    found = []
    for event, key in zip(events, keys, strict=True):
        answers = dict(event.body.get("answers") or {})
        worded = detainee_file.answers_worded(wordings.get(key), answers, language)
        found.append(
            {
                "event_id": event.id,
                "form_id": key[0],
                "form_version": key[1],
                "health": key[0] in HEALTH_FORMS,
                "kiosk": f"{event.site}/{event.device}",
                "at": _plain(event.at),
                "language": event.body.get("language"),
                "answers": answers,
                "worded": [
                    {"question": a.question, "label": a.label, "value": a.value} for a in worded
                ],
            }
        )
    return found


def _training(session: Session, detainee_id: str) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Enrolment, Programme)
        .outerjoin(Programme, Programme.id == Enrolment.programme_id)
        .where(Enrolment.detainee_id == detainee_id)
        .order_by(Enrolment.requested_at, Enrolment.id)
    ).all()
    marks: dict[int, list[dict[str, Any]]] = {}
    ids = [enrolment.id for enrolment, _ in rows]
    if ids:
        for mark in session.scalars(
            select(Attendance)
            .where(Attendance.enrolment_id.in_(ids))
            .order_by(Attendance.enrolment_id, Attendance.day)
        ):
            marks.setdefault(mark.enrolment_id, []).append(_row(mark, ("enrolment_id",)))
    return [
        {
            **_row(enrolment),
            "programme": None
            if programme is None
            else {"titles": programme.titles, "provider": programme.provider},
            "attendance": marks.get(enrolment.id, []),
        }
        for enrolment, programme in rows
    ]


def _all(session: Session, model: type[Base], *where: Any, order: Any) -> list[dict[str, Any]]:
    return [_row(record) for record in session.scalars(select(model).where(*where).order_by(order))]


def export(session: Session, trail: Trail, detainee_id: str) -> SubjectAccessExport:
    """Everything held on the person, read in the caller's transaction and audited in it.
    Raises LookupError for an unknown id."""
    person = session.get(Detainee, detainee_id)
    if person is None:
        raise LookupError(f"no detainee with Masar id {detainee_id!r}")
    events = list(
        session.scalars(
            select(Event).where(Event.subject == detainee_id).order_by(Event.at, Event.id)
        )
    )
    responses = [e for e in events if e.type == "questionnaire.response"]
    plan = plans.get_plan(session, detainee_id)
    document: SubjectAccessExport = {
        "format": FORMAT,
        "notice": NOTICE,
        "detainee_id": detainee_id,
        "generated_at": utc_now().isoformat(timespec="seconds"),
        "generated_by": trail.actor,
        "identity": _row(person),
        "badges": list(
            session.scalars(
                select(Badge.uid)
                .where(Badge.owner_kind == "detainee", Badge.owner_id == detainee_id)
                .order_by(Badge.uid)
            )
        ),
        "biometric_templates": _templates(session, detainee_id),
        "profile_facts": [_row(fact) for fact in profiles.history(session, detainee_id)],
        "questionnaire_responses": _responses(session, responses, person.preferred_language),
        "questionnaire_drafts": _all(
            session,
            QuestionnaireDraft,
            QuestionnaireDraft.detainee_id == detainee_id,
            order=QuestionnaireDraft.form_id,
        ),
        "questionnaire_assignments": _all(
            session,
            QuestionnaireAssignment,
            QuestionnaireAssignment.detainee_id == detainee_id,
            order=QuestionnaireAssignment.id,
        ),
        "health": {
            "screenings": [_row(s) for s in reversed(health.screenings_of(session, detainee_id))],
            "alerts": [_row(a) for a in reversed(health.alerts_of(session, detainee_id))],
        },
        "training": _training(session, detainee_id),
        "movements": _all(
            session, Movement, Movement.detainee_id == detainee_id, order=Movement.at
        ),
        "scheduled_movements": _all(
            session,
            ScheduledMovement,
            ScheduledMovement.detainee_id == detainee_id,
            order=ScheduledMovement.id,
        ),
        "plan": None
        if plan is None
        else {
            "goals": list(plan.goals),
            "steps": [step.model_dump(mode="json") for step in plan.steps],
            "referrals": [referral.model_dump(mode="json") for referral in plan.referrals],
            "updated_by": plan.updated_by,
            "updated_at": _plain(plan.updated_at),
        },
        "consents": _all(session, Consent, Consent.detainee_id == detainee_id, order=Consent.id),
        "kiosk_events": [_event(e) for e in events if e.type != "questionnaire.response"],
        "audit_entries": [
            _row(entry, ("mac", "subject"))
            for entry in session.scalars(
                select(AuditEntry).where(AuditEntry.subject == detainee_id).order_by(AuditEntry.id)
            )
        ],
        "audit_entry_id": 0,
    }
    health_forms = sum(1 for r in document["questionnaire_responses"] if r["health"])
    held = {
        "screenings": len(document["health"]["screenings"]),
        "alerts": len(document["health"]["alerts"]),
        "health_responses": health_forms,
    }
    trail.record(session, "health.read", detainee_id, {"what": "subject access export", **held})
    counts = {name: len(value) for name, value in document.items() if isinstance(value, list)}
    counts |= held | {"plan": int(plan is not None)}
    entry = trail.record(session, "subject_access.export", detainee_id, {"held": counts})
    document["audit_entry_id"] = entry.id
    return document
