"""A detainee's own file as their wing's kiosks show it to them: what they were asked to fill
in, their training requests and what they may ask for, what the hub knows of them, receipts
of what they sent, their plan, where they are and what is planned, and their questionnaires
in progress. The syncer adds it to the person's kiosk record; kiosks keep it sealed.

Purpose-bound: nothing about health or psychology goes to a kiosk. Profile facts pass only
if their kind is in ``KIOSK_FACTS`` and they did not come from a health form, and drafts of
health forms stay off the kiosks (the kiosk where they were typed keeps its own copy).

The record must fit one sync message beside the photo and templates (hub.roster bounds
those), so every list is capped and long texts are cut; drafts fill what room is left,
the most recently saved first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub import classifications
from hub.assignments import assignments_of_many
from hub.drafts import drafts_of, stamp_of
from hub.health import HEALTH_FORMS
from hub.models import Detainee, Device, Enrolment, Event, QuestionnaireDraft, as_utc
from hub.movements import pending_schedules
from hub.plans import Plan, plans_of
from hub.profiles import current_facts_many
from hub.training import eligible_programmes_many, enrolments_of_many
from protocol import dumps
from protocol.ids import format_timestamp
from protocol.ordering import Stamp, capped, resumed_from, source_of

# Facts a person is shown at a kiosk: named one by one, so that a fact added later reaches
# kiosks only once someone decides it may.
KIOSK_FACTS = frozenset(
    ("education_level", "qualification", "occupation", "skill", "entrepreneurial_aptitude", "wish")
)
# The photo (64 KiB, 87 KiB in base64) and ten templates (8 KiB each, 109 KiB in base64)
# leave about 60 KB of a 256 KiB message: the file and drafts take at most this.
MAX_SECTIONS_BYTES = 48_000
MAX_ASSIGNMENTS = 20
MAX_TRAINING = 20
MAX_ELIGIBLE = 30
MAX_FACTS = 40
MAX_RECEIPTS = 20
MAX_GOALS = 10
MAX_STEPS = 30
MAX_SCHEDULED = 5
MAX_DRAFTS = 10
MAX_TEXT = 200  # characters of a fact's value, a goal, a step or a reason
CHUNK = 50  # people whose sections are built together


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _labels(fact: str, value: Any) -> dict[str, str]:
    """What a coded fact means, in Arabic and French, for the person's own screen."""
    code = str(value)
    try:
        if fact == "education_level":
            level = classifications.isced(code)
            return {"ar": level.title_ar, "fr": level.title_fr}
        if fact == "occupation":
            group = classifications.isco(code)
            return {
                lang: title
                for lang, title in (("ar", group.title_ar), ("fr", group.title_fr))
                if title
            }
    except (KeyError, LookupError, ValueError):
        pass
    return {}


def _moment(value: datetime | None) -> str | None:
    return None if value is None else format_timestamp(as_utc(value))


def kiosk_sections(session: Session, person: Detainee, today: date | None = None) -> dict[str, Any]:
    """``out`` (whether the person is away from the wings now), ``file`` and ``drafts``."""
    return _build(session, [person], today or date.today())[person.id]


class Sections:
    """Builds the sections of the people of one sync page a chunk at a time, in a few queries
    per chunk rather than a dozen per person. A page often fills before its last key (photos
    and templates are large), so later chunks are built only if reached."""

    def __init__(self, session: Session, keys: Sequence[str], today: date | None = None) -> None:
        self._session = session
        self._keys = list(dict.fromkeys(keys))
        self._position = {key: n for n, key in enumerate(self._keys)}
        self._today = today or date.today()
        self._built: dict[str, dict[str, Any]] = {}
        # Held, so that the session's (weak) identity map keeps them for the syncer's get().
        self._people: list[Detainee] = []

    def of(self, person: Detainee) -> dict[str, Any]:
        """The person's sections; someone not among the keys is built alone."""
        if person.id not in self._built:
            position = self._position.get(person.id)
            if position is None:
                return _build(self._session, [person], self._today)[person.id]
            start = position - position % CHUNK
            chunk = self._keys[start : start + CHUNK]
            people = self._session.scalars(select(Detainee).where(Detainee.id.in_(chunk))).all()
            self._people += people
            self._built.update(_build(self._session, [*people, person], self._today))
        return self._built[person.id]


def is_out(person: Detainee, wings: set[tuple[str, str]]) -> bool:
    """Away from the wings: the last confirmed movement led somewhere that is not one of the
    site's ``wings`` (a workshop, the clinic, court), as ``hub.movements.live_counts`` counts."""
    return person.location is not None and (person.site, person.location) not in wings


def _wings_among(session: Session, people: Sequence[Detainee]) -> set[tuple[str, str]]:
    """Which of these people's locations are wings of their site: a wing has a kiosk or
    people in custody."""
    places = {(p.site, p.location) for p in people if p.location not in (None, p.wing)}
    wings = {(p.site, str(p.wing)) for p in people if p.wing is not None}
    if not places:
        return wings
    sites = sorted({site for site, _ in places})
    names = sorted({str(place) for _, place in places})
    kiosks = select(Device.site, Device.wing).where(Device.site.in_(sites), Device.wing.in_(names))
    held = (
        select(Detainee.site, Detainee.wing)
        .where(Detainee.site.in_(sites), Detainee.wing.in_(names), Detainee.state == "in_custody")
        .distinct()
    )
    for query in (kiosks, held):
        wings.update((site, str(wing)) for site, wing in session.execute(query))
    return wings


def _build(session: Session, people: Sequence[Detainee], today: date) -> dict[str, dict[str, Any]]:
    people = list({person.id: person for person in people}.values())
    ids = [person.id for person in people]
    facts = current_facts_many(session, ids)
    enrolments = enrolments_of_many(session, ids)
    assignments = assignments_of_many(session, people, today)
    eligible = eligible_programmes_many(session, people, today, facts=facts, enrolments=enrolments)
    plans = plans_of(session, ids)
    receipts = _receipts(session, ids)
    schedules = pending_schedules(session, ids, MAX_SCHEDULED)
    drafts = drafts_of(session, ids)
    wings = _wings_among(session, people)
    built = {}
    for person in people:
        file = {
            "assignments": [
                {"form_id": due.form_id, "due_on": due.due_on.isoformat(), "state": due.state}
                for due in assignments[person.id][-MAX_ASSIGNMENTS:]
            ],
            "training": [_enrolment(e) for e in enrolments[person.id][-MAX_TRAINING:]],
            "eligible_programmes": eligible[person.id][:MAX_ELIGIBLE],
            "facts": [
                {
                    "fact": fact.fact,
                    "value": _cut(fact.value) if isinstance(fact.value, str) else fact.value,
                    "provenance": fact.provenance,
                    "labels": _labels(fact.fact, fact.value),
                }
                for fact in facts[person.id]
                if fact.fact in KIOSK_FACTS and fact.form_id not in HEALTH_FORMS
            ][:MAX_FACTS],
            "receipts": receipts.get(person.id, []),
            "plan": _plan(plans.get(person.id)),
            "training_followed": [
                {"programme_id": e.programme_id, "completed_at": _moment(e.completed_at)}
                for e in enrolments[person.id]
                if e.state == "completed"
            ][-MAX_TRAINING:],
            "location": person.location,
            "scheduled_movements": [
                {"id": s.id, "to": s.to_location, "at": _moment(s.at), "reason": s.reason}
                for s in schedules[person.id]
            ],
        }
        built[person.id] = {
            "out": is_out(person, wings),
            "file": file,
            "drafts": _drafts(drafts[person.id], MAX_SECTIONS_BYTES - len(dumps(file))),
        }
    return built


def _enrolment(enrolment: Enrolment) -> dict[str, Any]:
    return {
        "programme_id": enrolment.programme_id,
        "status": enrolment.state,
        "requested_at": _moment(enrolment.requested_at),
        "decided_at": _moment(enrolment.decided_at),
        "reason": None if enrolment.reason is None else _cut(enrolment.reason),
        "completed_at": _moment(enrolment.completed_at),
    }


def _plan(plan: Plan | None) -> dict[str, Any] | None:
    if plan is None:
        return None
    return {
        "goals": [_cut(goal) for goal in plan.goals[:MAX_GOALS]],
        "steps": [
            {
                "text": _cut(step.text),
                "due_on": None if step.due_on is None else step.due_on.isoformat(),
                "done": step.done,
            }
            for step in plan.steps[:MAX_STEPS]
        ],
        "updated_at": _moment(plan.updated_at),
    }


def _receipts(session: Session, detainee_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Per person, the questionnaire responses the hub holds from them, newest first: proof
    that what they sent arrived. Never the answers."""
    newest = (
        select(
            Event.subject,
            Event.id,
            Event.body["form_id"].as_string().label("form_id"),
            Event.body["completed_at"].as_string().label("completed_at"),
            Event.received_at,
            Event.site,
            Event.device,
            Event.seq,
            Event.at,
            Event.body["resumed"].label("resumed"),
            func.row_number()
            .over(partition_by=Event.subject, order_by=(Event.at.desc(), Event.id.desc()))
            .label("n"),
        )
        .where(Event.subject.in_(list(detainee_ids)), Event.type == "questionnaire.response")
        .subquery()
    )
    found: dict[str, list[dict[str, Any]]] = {}
    for row in session.execute(
        select(newest).where(newest.c.n <= MAX_RECEIPTS).order_by(newest.c.subject, newest.c.n)
    ):
        received_at = as_utc(row.received_at)
        at = capped(as_utc(row.at), received_at)
        stamp = Stamp(source_of(row.site, row.device), row.seq, at, resumed_from(row.resumed))
        found.setdefault(row.subject, []).append(
            {
                "event_id": row.id,
                "form_id": row.form_id,
                "completed_at": row.completed_at,
                "received_at": _moment(received_at),
                **stamp.as_fields(),
            }
        )
    return found


def _drafts(drafts: Sequence[QuestionnaireDraft], room: int) -> list[dict[str, Any]]:
    """The questionnaires in progress that fit in ``room`` bytes, most recently saved first;
    never a health form's."""
    kept: list[dict[str, Any]] = []
    for draft in drafts:
        if draft.form_id in HEALTH_FORMS:
            continue
        entry = {
            "form_id": draft.form_id,
            "form_version": draft.form_version,
            "language": draft.language,
            "current": draft.current,
            "answers": draft.answers,
            "saved_at": _moment(draft.saved_at),
            **stamp_of(draft).as_fields(),
        }
        size = len(dumps(entry)) + 1
        if size <= room:
            kept.append(entry)
            room -= size
        if len(kept) == MAX_DRAFTS:
            break
    return kept
