"""Training: the programmes an establishment offers, requests to join them, decisions,
attendance and completion, and which programmes fit a detainee best (and why).

A request comes from a kiosk (a ``training.enrolment_requested`` event, applied by the
ingest worker) or from staff. Staff then approve, waitlist or decline it; an approved
person's attendance is kept per day, and the enrolment ends completed or dropped. Every
change made by a person writes its audit entry in the same transaction; the ingest path
has no Trail and writes none, because the stored event is its record.

The wing kiosks show each person their requests and the programmes they may ask for, so
every change to an enrolment notes that person in the kiosks' change feed, and a change to
who may join a programme notes everyone held in its establishment.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub import classifications, roster
from hub.audit import Trail
from hub.models import Attendance, Detainee, Enrolment, ProfileFact, Programme
from hub.profiles import current_facts
from protocol.events import EventBase, TrainingEnrolmentRequestedEvent
from protocol.ids import is_identifier, utc_now

Decision = Literal["approve", "waitlist", "decline"]
Outcome = Literal["completed", "dropped"]

TITLE_LANGUAGES = ("fr", "ar", "tzm")
MAX_TITLE = 200
MAX_PROVIDER = 200  # programmes.provider
MAX_SKILL = 64
MAX_TEXT = 2000  # a reason or a note
MAX_VIA = 200  # enrolments.requested_via
OPEN_STATES = ("requested", "waitlisted", "approved")
QUEUE_STATES = ("requested", "waitlisted")
# A place is held by an approved person, and by one who completed this run of the
# programme; a withdrawn or dropped person gives the place back.
PLACE_STATES = ("approved", "completed")
ISCED_LEVELS = frozenset(str(level) for level in range(9))  # 9 "not classified" cannot compare
WISHES_FORM = "masar_wishes"  # its "occupation" answers are wished jobs, not past ones
# What decides who may join (rank_programmes); titles, provider or capacity do not.
ELIGIBILITY_FIELDS = (
    "site",
    "starts_on",
    "ends_on",
    "min_isced",
    "requires_literacy",
    "min_days_before_release",
    "active",
)


class TrainingError(ValueError):
    """The training record cannot be changed as asked; the message says why and what to do."""


# --- programmes --------------------------------------------------------------------------------


def _text(value: str, what: str, limit: int) -> str:
    text = value.strip()
    if not text:
        raise TrainingError(f"{what} is empty; write it")
    if len(text) > limit:
        raise TrainingError(f"{what} is {len(text)} characters long; shorten it to {limit} at most")
    return text


def _optional(value: str | None, what: str) -> str | None:
    """Free text that may be left out: blank counts as none."""
    return None if value is None or not value.strip() else _text(value, what, MAX_TEXT)


def _titles(titles: dict[str, str]) -> dict[str, str]:
    unknown = sorted(set(titles) - set(TITLE_LANGUAGES))
    if unknown:
        raise TrainingError(
            f"titles in {', '.join(unknown)} are not used; give them in "
            f"{', '.join(TITLE_LANGUAGES)} only"
        )
    if "fr" not in titles:
        raise TrainingError("the programme needs a French title (fr); ar and tzm are optional")
    return {
        language: _text(titles[language], f"the {language} title", MAX_TITLE)
        for language in TITLE_LANGUAGES
        if language in titles
    }


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _fields(programme: Programme) -> dict[str, Any]:
    """What a programme says, as JSON: for the audit entry and for the kiosks."""
    return {
        "titles": dict(programme.titles),
        "provider": programme.provider,
        "site": programme.site,
        "capacity": programme.capacity,
        "starts_on": programme.starts_on.isoformat(),
        "ends_on": programme.ends_on.isoformat(),
        "min_isced": programme.min_isced,
        "requires_literacy": programme.requires_literacy,
        "min_days_before_release": programme.min_days_before_release,
        "isco_codes": list(programme.isco_codes),
        "skills": list(programme.skills),
        "active": programme.active,
    }


def put_programme(
    session: Session,
    trail: Trail,
    *,
    programme_id: str,
    titles: dict[str, str],
    provider: str,
    site: str,
    capacity: int,
    starts_on: date,
    ends_on: date,
    min_isced: int | None = None,
    requires_literacy: bool = False,
    min_days_before_release: int | None = None,
    isco_codes: Sequence[str] = (),
    skills: Sequence[str] = (),
    active: bool = True,
) -> Programme:
    """Create or update a programme and publish it to the kiosks of its establishment.

    Saving the same programme again changes nothing and writes no audit entry. The
    capacity cannot go below the places already given, so that nobody loses a place
    without a decision about them.
    """
    if not is_identifier(programme_id):
        raise TrainingError(
            f"programme id {programme_id!r} is not usable; use 1 to 64 lower-case letters, "
            "digits, '-' or '_' (for example 'welding-2026')"
        )
    if not is_identifier(site):
        raise TrainingError(
            f"establishment {site!r} is not an establishment id; use its lower-case id "
            "(for example 'rabat-1')"
        )
    clean_titles = _titles(titles)
    clean_provider = _text(provider, "the provider", MAX_PROVIDER)
    if capacity < 1:
        raise TrainingError(f"capacity {capacity} is not possible; a programme has 1 place or more")
    if ends_on < starts_on:
        raise TrainingError(
            f"the programme ends on {ends_on} before it starts on {starts_on}; correct the dates"
        )
    if min_isced is not None and not 0 <= min_isced <= 8:
        raise TrainingError(
            f"minimum education level {min_isced} is not an ISCED 2011 level; use 0 to 8, or none"
        )
    if min_days_before_release is not None and min_days_before_release < 0:
        raise TrainingError(
            f"{min_days_before_release} days before release is not possible; use 0 or more, or none"
        )
    for code in isco_codes:
        if code not in classifications.isco_groups():
            raise TrainingError(f"ISCO-08 has no group {code!r}; pick the occupation from ISCO-08")
    clean_skills = _unique(_text(skill, "a skill", MAX_SKILL) for skill in skills)

    programme = session.get(Programme, programme_id, with_for_update=True)
    before = None if programme is None else _fields(programme)
    if programme is not None:
        taken = places_taken(session, programme_id)
        if capacity < taken:
            raise TrainingError(
                f"{taken} places are already given, more than a capacity of {capacity}; "
                "withdraw some enrolments first or keep the capacity at "
                f"{taken} or more"
            )
    else:
        programme = Programme(id=programme_id)
        session.add(programme)
    programme.titles = clean_titles
    programme.provider = clean_provider
    programme.site = site
    programme.capacity = capacity
    programme.starts_on, programme.ends_on = starts_on, ends_on
    programme.min_isced = min_isced
    programme.requires_literacy = requires_literacy
    programme.min_days_before_release = min_days_before_release
    programme.isco_codes = _unique(isco_codes)
    programme.skills = clean_skills
    programme.active = active
    after = _fields(programme)
    if before == after:
        return programme
    programme.updated_at = utc_now()
    session.flush()
    changed = {
        name: {"before": None if before is None else before[name], "after": value}
        for name, value in after.items()
        if before is None or before[name] != value
    }
    trail.record(
        session, "programme.put", programme_id, {"created": before is None, "changed": changed}
    )
    kiosk_data = {"id": programme_id, **after}
    del kiosk_data["site"], kiosk_data["active"]
    roster.put_document(session, "programme", programme_id, kiosk_data, site=site, active=active)
    if before is None or any(before[name] != after[name] for name in ELIGIBILITY_FIELDS):
        sites = {site} if before is None else {site, before["site"]}
        for changed_site in sorted(sites):
            _note_establishment(session, changed_site)
    return programme


def _note_establishment(session: Session, site: str) -> None:
    """Tell the kiosks of everyone held at the site: who may join a programme changed."""
    people = session.execute(
        select(Detainee.id, Detainee.wing).where(
            Detainee.site == site, Detainee.state == "in_custody", Detainee.wing.is_not(None)
        )
    ).all()
    roster.note_changes(session, ((site, wing, "detainee", key) for key, wing in people))


def _note_person(session: Session, detainee_id: str) -> None:
    """The person's wing kiosks show their requests and what they may ask for."""
    detainee = session.get(Detainee, detainee_id)
    if detainee is not None and detainee.wing is not None:
        roster.note_change(session, detainee.site, detainee.wing, "detainee", detainee_id)


def get_programme(session: Session, programme_id: str) -> Programme:
    programme = session.get(Programme, programme_id)
    if programme is None:
        raise LookupError(f"no programme {programme_id!r}")
    return programme


def programmes(
    session: Session, site: str | None = None, *, include_inactive: bool = False
) -> list[Programme]:
    """The catalogue, of one establishment or all, soonest first."""
    query = select(Programme).order_by(Programme.starts_on, Programme.id)
    if site is not None:
        query = query.where(Programme.site == site)
    if not include_inactive:
        query = query.where(Programme.active.is_(True))
    return list(session.scalars(query))


# --- requests ----------------------------------------------------------------------------------


def request_enrolment(
    session: Session,
    trail: Trail | None,
    *,
    programme_id: str,
    detainee_id: str,
    via: str,
    event_id: str | None = None,
    note: str | None = None,
    requested_at: datetime | None = None,
) -> Enrolment:
    """A detainee asks to join a programme (``via`` "kiosk:site/device" or "user:id").

    Asking again while a request, a waitlisting or an approval is open returns that one,
    and the same kiosk event never makes two rows. ``trail`` is None on the ingest path.
    The note is not a column of its own: it stays in the audit entry, or in the event.
    """
    if event_id is not None:
        known = session.scalars(select(Enrolment).where(Enrolment.event_id == event_id)).first()
        if known is not None:
            return known
    detainee = session.get(Detainee, detainee_id, with_for_update=True)  # one request at a time
    if detainee is None:
        raise LookupError(f"no detainee {detainee_id!r}")
    programme = get_programme(session, programme_id)
    clean_via = _text(via, "where the request came from", MAX_VIA)
    clean_note = _optional(note, "the note")
    if detainee.state == "released":
        raise TrainingError(
            f"detainee {detainee_id} has been released; programmes are for people in custody"
        )
    if not programme.active:
        raise TrainingError(
            f"programme {programme_id} is no longer offered; choose another programme"
        )
    if programme.site != detainee.site:
        raise TrainingError(
            f"programme {programme_id} runs at {programme.site} but detainee {detainee_id} is "
            f"held at {detainee.site}; choose a programme of their establishment"
        )
    existing = session.scalars(
        select(Enrolment)
        .where(
            Enrolment.detainee_id == detainee_id,
            Enrolment.programme_id == programme_id,
            Enrolment.state.in_(OPEN_STATES),
        )
        .order_by(Enrolment.id)
    ).first()
    if existing is not None:
        return existing
    enrolment = Enrolment(
        programme_id=programme_id,
        detainee_id=detainee_id,
        state="requested",
        requested_at=requested_at or utc_now(),
        requested_via=clean_via,
        event_id=event_id,
    )
    session.add(enrolment)
    session.flush()
    if trail is not None:  # the ingest path is noted for the kiosks by hub.ingest
        _note_person(session, detainee_id)
        trail.record(
            session,
            "enrolment.request",
            detainee_id,
            {
                "enrolment_id": enrolment.id,
                "programme_id": programme_id,
                "via": clean_via,
                "note": clean_note,
            },
        )
    return enrolment


def apply_enrolment_request(session: Session, event: EventBase) -> None:
    """Ingest handler for ``training.enrolment_requested``. An unknown programme or person
    raises ValueError, so that the event is parked with the reason instead of lost."""
    if not isinstance(event, TrainingEnrolmentRequestedEvent):
        raise TypeError(f"not a training enrolment request: {event.event_type}")
    if event.subject is None:
        raise TrainingError("a training enrolment request must name its detainee (subject)")
    try:
        request_enrolment(
            session,
            None,
            programme_id=event.body.programme_id,
            detainee_id=event.subject,
            via=f"kiosk:{event.site}/{event.device}",
            event_id=event.id,
            note=event.body.note,
            requested_at=event.at,
        )
    except LookupError as error:
        raise TrainingError(
            f"{error.args[0]} on the hub, so the kiosk's enrolment request cannot be recorded; "
            "add the record, then replay the parked message"
        ) from None


# --- decisions -------------------------------------------------------------------------------


def get_enrolment(session: Session, enrolment_id: int, *, lock: bool = False) -> Enrolment:
    enrolment = session.get(Enrolment, enrolment_id, with_for_update=lock)
    if enrolment is None:
        raise LookupError(f"no enrolment {enrolment_id}")
    return enrolment


def places_taken(session: Session, programme_id: str) -> int:
    """Places held: approved people, and those who completed this run of the programme."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Enrolment)
            .where(Enrolment.programme_id == programme_id, Enrolment.state.in_(PLACE_STATES))
        )
        or 0
    )


STATE_WORDS = {
    "requested": "requested",
    "approved": "approved",
    "waitlisted": "on the waiting list",
    "declined": "declined",
    "withdrawn": "withdrawn",
    "completed": "completed",
    "dropped": "dropped",
}


def decide(
    session: Session,
    trail: Trail,
    enrolment_id: int,
    decision: Decision,
    reason: str | None,
) -> Enrolment:
    """Approve, waitlist or decline a request (or a waitlisted one). A decline needs a
    reason the person can be told; an approval needs a free place."""
    if decision not in ("approve", "waitlist", "decline"):
        raise TrainingError(f"{decision!r} is not a decision; approve, waitlist or decline")
    enrolment = get_enrolment(session, enrolment_id, lock=True)
    if enrolment.state not in QUEUE_STATES or (
        decision == "waitlist" and enrolment.state == "waitlisted"
    ):
        raise TrainingError(
            f"enrolment {enrolment_id} is already {STATE_WORDS[enrolment.state]}; only a "
            "requested or waitlisted enrolment can be decided"
        )
    clean_reason = _optional(reason, "the reason")
    if decision == "decline" and clean_reason is None:
        raise TrainingError("a decline needs a reason the person can be told; write one")
    if decision == "approve":
        # Locked, so that two registrars approving at once cannot overfill it.
        programme = session.get(Programme, enrolment.programme_id, with_for_update=True)
        if programme is None:
            raise LookupError(f"no programme {enrolment.programme_id!r}")
        if not programme.active:
            raise TrainingError(
                f"programme {programme.id} is no longer offered; decline the request or "
                "make the programme active again"
            )
        detainee = session.get(Detainee, enrolment.detainee_id)
        if detainee is not None and detainee.state == "released":
            raise TrainingError(
                f"detainee {detainee.id} has been released; decline or withdraw the request"
            )
        taken = places_taken(session, programme.id)
        if taken >= programme.capacity:
            raise TrainingError(
                f"{taken} of {programme.capacity} places are taken; waitlist the request or "
                "raise the capacity"
            )
    before = enrolment.state
    enrolment.state = {"approve": "approved", "waitlist": "waitlisted", "decline": "declined"}[
        decision
    ]
    enrolment.reason = clean_reason
    enrolment.decided_by, enrolment.decided_at = trail.actor, utc_now()
    session.flush()
    _note_person(session, enrolment.detainee_id)
    trail.record(
        session,
        "enrolment.decide",
        enrolment.detainee_id,
        {
            "enrolment_id": enrolment.id,
            "programme_id": enrolment.programme_id,
            "decision": decision,
            "before": before,
            "after": enrolment.state,
            "reason": clean_reason,
        },
    )
    return enrolment


def withdraw(
    session: Session, trail: Trail, enrolment_id: int, reason: str | None = None
) -> Enrolment:
    """The person no longer wants the place, or staff take the request back. An approved
    person's place is given back."""
    enrolment = get_enrolment(session, enrolment_id, lock=True)
    if enrolment.state not in OPEN_STATES:
        raise TrainingError(
            f"enrolment {enrolment_id} is already {STATE_WORDS[enrolment.state]}; only a "
            "requested, waitlisted or approved enrolment can be withdrawn"
        )
    clean_reason = _optional(reason, "the reason")
    before = enrolment.state
    enrolment.state, enrolment.reason = "withdrawn", clean_reason
    enrolment.decided_by, enrolment.decided_at = trail.actor, utc_now()
    session.flush()
    _note_person(session, enrolment.detainee_id)
    trail.record(
        session,
        "enrolment.withdraw",
        enrolment.detainee_id,
        {
            "enrolment_id": enrolment.id,
            "programme_id": enrolment.programme_id,
            "before": before,
            "reason": clean_reason,
        },
    )
    return enrolment


# --- attendance and completion ---------------------------------------------------------------


def record_attendance(
    session: Session, trail: Trail, enrolment_id: int, day: date, present: bool
) -> Attendance:
    """Mark an approved person present or absent on one day of the programme; marking the
    same day again corrects the mark (the audit entry keeps the old one)."""
    enrolment = get_enrolment(session, enrolment_id)
    if enrolment.state != "approved":
        raise TrainingError(
            f"enrolment {enrolment_id} is {STATE_WORDS[enrolment.state]}; attendance is kept "
            "for approved enrolments only"
        )
    programme = get_programme(session, enrolment.programme_id)
    if not programme.starts_on <= day <= programme.ends_on:
        raise TrainingError(
            f"{day} is outside the programme, which runs from {programme.starts_on} to "
            f"{programme.ends_on}; check the day"
        )
    mark = session.get(Attendance, (enrolment_id, day), with_for_update=True)
    before = None if mark is None else mark.present
    if mark is not None and mark.present == present:
        return mark
    if mark is None:
        mark = Attendance(enrolment_id=enrolment_id, day=day)
        session.add(mark)
    mark.present, mark.recorded_by, mark.recorded_at = present, trail.actor, utc_now()
    session.flush()
    trail.record(
        session,
        "attendance.record",
        enrolment.detainee_id,
        {
            "enrolment_id": enrolment_id,
            "programme_id": enrolment.programme_id,
            "day": day.isoformat(),
            "present": present,
            "before": before,
        },
    )
    return mark


def complete(session: Session, trail: Trail, enrolment_id: int, outcome: Outcome) -> Enrolment:
    """Close an approved enrolment: the person completed the programme or dropped out."""
    if outcome not in ("completed", "dropped"):
        raise TrainingError(f"{outcome!r} is not an outcome; use completed or dropped")
    enrolment = get_enrolment(session, enrolment_id, lock=True)
    if enrolment.state != "approved":
        raise TrainingError(
            f"enrolment {enrolment_id} is {STATE_WORDS[enrolment.state]}; only an approved "
            "enrolment can be completed or dropped"
        )
    enrolment.state, enrolment.completed_at = outcome, utc_now()
    session.flush()
    _note_person(session, enrolment.detainee_id)
    trail.record(
        session,
        "enrolment.complete",
        enrolment.detainee_id,
        {"enrolment_id": enrolment.id, "programme_id": enrolment.programme_id, "outcome": outcome},
    )
    return enrolment


# --- queries for the API and the pages -------------------------------------------------------


def programme_queue(session: Session, programme_id: str) -> list[Enrolment]:
    """Requests and waitlisted ones still to decide, oldest first."""
    get_programme(session, programme_id)
    return list(
        session.scalars(
            select(Enrolment)
            .where(Enrolment.programme_id == programme_id, Enrolment.state.in_(QUEUE_STATES))
            .order_by(Enrolment.requested_at, Enrolment.id)
        )
    )


def enrolments_of(session: Session, detainee_id: str) -> list[Enrolment]:
    """Everything a person asked for, in the order asked."""
    return list(
        session.scalars(
            select(Enrolment)
            .where(Enrolment.detainee_id == detainee_id)
            .order_by(Enrolment.requested_at, Enrolment.id)
        )
    )


@dataclass(frozen=True)
class SheetRow:
    """One enrolled person's marks: ``marks[day]`` is True present, False absent."""

    enrolment: Enrolment
    name_latin: str
    name_arabic: str
    marks: dict[date, bool]

    @property
    def days_present(self) -> int:
        return sum(self.marks.values())


@dataclass(frozen=True)
class AttendanceSheet:
    programme: Programme
    days: list[date]  # every day with at least one mark, in order
    rows: list[SheetRow]  # by Latin name


def attendance_sheet(session: Session, programme_id: str) -> AttendanceSheet:
    """Who was enrolled (approved, completed, dropped, or marked before a withdrawal) and
    their marks per day."""
    programme = get_programme(session, programme_id)
    marks: dict[int, dict[date, bool]] = {}
    for mark in session.scalars(
        select(Attendance)
        .join(Enrolment, Enrolment.id == Attendance.enrolment_id)
        .where(Enrolment.programme_id == programme_id)
    ):
        marks.setdefault(mark.enrolment_id, {})[mark.day] = mark.present
    rows = []
    for enrolment, detainee in session.execute(
        select(Enrolment, Detainee)
        .join(Detainee, Detainee.id == Enrolment.detainee_id)
        .where(Enrolment.programme_id == programme_id)
        .order_by(Detainee.name_latin, Enrolment.id)
    ):
        if enrolment.state in ("approved", "completed", "dropped") or enrolment.id in marks:
            own = dict(sorted(marks.get(enrolment.id, {}).items()))
            rows.append(SheetRow(enrolment, detainee.name_latin, detainee.name_arabic, own))
    days = sorted({day for own in marks.values() for day in own})
    return AttendanceSheet(programme, days, rows)


# --- ranking ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RankedProgramme:
    """A programme as it fits one person: rank 1 is the best; ``reasons`` say why."""

    programme: Programme
    rank: int
    eligible: bool
    score: int
    places_left: int
    reasons: list[str]


@dataclass(frozen=True)
class _Person:
    """What the ranking reads about a person, once."""

    detainee: Detainee
    isced: int | None  # highest recorded level 0-8
    wished_jobs: list[str]
    past_jobs: list[str]
    skills: set[str]
    wishes: set[str]
    open_enrolments: dict[str, Enrolment]


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold().strip())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _person(
    detainee: Detainee, facts: Sequence[ProfileFact], enrolments: Sequence[Enrolment]
) -> _Person:
    levels = [
        int(str(f.value))
        for f in facts
        if f.fact == "education_level" and str(f.value) in ISCED_LEVELS
    ]
    known = classifications.isco_groups()
    jobs = [f for f in facts if f.fact == "occupation" and str(f.value) in known]
    return _Person(
        detainee=detainee,
        isced=max(levels) if levels else None,
        wished_jobs=_unique(str(f.value) for f in jobs if f.form_id == WISHES_FORM),
        past_jobs=_unique(str(f.value) for f in jobs if f.form_id != WISHES_FORM),
        skills={_fold(str(f.value)) for f in facts if f.fact == "skill"},
        wishes={_fold(str(f.value)) for f in facts if f.fact == "wish"},
        open_enrolments={e.programme_id: e for e in enrolments if e.state in OPEN_STATES},
    )


def _isced_needed(level: int) -> str:
    return f"{classifications.isced(str(level)).title_en.lower()} (ISCED {level})"


def _isced_held(level: int) -> str:
    title = classifications.isced(str(level)).title_en.lower().removesuffix(" education")
    return f"{title} (ISCED {level})"


def _isco(code: str) -> str:
    return f"{classifications.isco(code).title_en} (ISCO {code})"


def _job_match(jobs: Sequence[str], programme: Programme) -> tuple[str, str] | None:
    """The first (person's code, programme's code) on the same ISCO path: "7" and "7212"."""
    for job in jobs:
        for code in programme.isco_codes:
            if job.startswith(code) or code.startswith(job):
                return job, code
    return None


def _job_words(job: str, code: str) -> str:
    return _isco(job) if job == code else f"{_isco(job)}: it prepares for {_isco(code)}"


def _assess(
    person: _Person, programme: Programme, places_left: int, today: date
) -> tuple[bool, int, list[str]]:
    eligible, score = True, 0
    problems: list[str] = []  # what speaks against it, said first
    notes: list[str] = []
    detainee = person.detainee

    if detainee.state == "released":
        eligible = False
        when = f" on {detainee.released_on}" if detainee.released_on else ""
        problems.append(f"You were released{when}; programmes are for people in custody.")

    if programme.min_isced is not None:
        needed = f"Needs at least {_isced_needed(programme.min_isced)}"
        if person.isced is None:
            score -= 1
            notes.append(f"{needed}; no education level is recorded yet, so check it first.")
        elif person.isced < programme.min_isced:
            eligible = False
            problems.append(
                f"{needed}; your highest recorded level is {_isced_held(person.isced)}."
            )
        else:
            notes.append(f"{needed}; your highest recorded level is {_isced_held(person.isced)}.")

    if programme.requires_literacy:
        if detainee.literate:
            notes.append("Needs reading and writing; your record says you can.")
        else:
            eligible = False
            problems.append("Needs reading and writing; your record says you cannot read yet.")

    release = detainee.expected_release_date
    minimum = programme.min_days_before_release
    if minimum is not None:
        start = max(programme.starts_on, today)
        if release is None:
            score -= 1
            notes.append(
                f"Needs at least {minimum} days before release, counted from {start}; "
                "no release date is recorded, so check it first."
            )
        elif (release - start).days < minimum:
            eligible = False
            left = (release - start).days
            when = f"{left} days later" if left > 0 else "before that"
            problems.append(
                f"Needs at least {minimum} days before release, counted from {start}; "
                f"your release is expected on {release}, {when}."
            )
    if release is not None and release < programme.ends_on:
        score -= 2
        days = (programme.ends_on - release).days
        problems.append(
            f"Your release is expected on {release}, {days} days before the programme ends "
            f"on {programme.ends_on}."
        )

    wished = _job_match(person.wished_jobs, programme)
    if wished is not None:
        score += 3
        notes.append(f"Matches your wish to work as {_job_words(*wished)}.")
    wished_skills = [s for s in programme.skills if _fold(s) in person.wishes]
    if wished_skills:
        score += 3
        notes.append(f"Matches your wish to train in {', '.join(wished_skills)}.")
    held = [s for s in programme.skills if _fold(s) in person.skills]
    if held:
        score += 2
        noun = "skill" if len(held) == 1 else "skills"
        notes.append(f"Builds on your {noun}: {', '.join(held)}.")
    past = _job_match(person.past_jobs, programme)
    if past is not None:
        score += 2
        notes.append(f"Builds on your past work as {_job_words(*past)}.")

    if places_left > 0:
        notes.append(f"{places_left} of {programme.capacity} places left.")
    else:
        score -= 2
        notes.append(
            f"No place left: {programme.capacity} of {programme.capacity} taken; a request "
            "would go on the waiting list."
        )
    open_one = person.open_enrolments.get(programme.id)
    if open_one is not None:
        notes.append(f"You have already asked to join: {STATE_WORDS[open_one.state]}.")
    return eligible, score, problems + notes


def rank_programmes(session: Session, detainee_id: str, today: date) -> list[RankedProgramme]:
    """Every active programme of the person's establishment that has not ended, best first.

    A programme is eligible unless a prerequisite is known to fail: education below its
    minimum ISCED level, reading and writing needed but the record says the person cannot,
    fewer days left before release (counted from the start, or from today once started)
    than it asks for, or the person released. Ineligible programmes come after all
    eligible ones. Within each group the score decides, then the earlier start:

    * +3 the person wishes to work in an occupation on the same ISCO-08 path as one the
      programme trains for (a kiosk's major group "7" matches "7212");
    * +3 the person wished for training in one of its skills;
    * +2 the person has one of its skills; +2 past work on the same ISCO-08 path;
    * -2 release expected before the programme ends; -2 no place left (waiting list);
    * -1 for each prerequisite that cannot be checked because the record lacks it.

    Education is the highest ISCED 0-8 level among the current profile facts.
    """
    detainee = session.get(Detainee, detainee_id)
    if detainee is None:
        raise LookupError(f"no detainee {detainee_id!r}")
    person = _person(
        detainee, current_facts(session, detainee_id), enrolments_of(session, detainee_id)
    )
    return _rank(person, _offered(session, detainee.site, today), today)


def _offered(session: Session, site: str, today: date) -> list[tuple[Programme, int]]:
    """The site's active programmes that have not ended, each with its places left."""
    offered = list(
        session.scalars(
            select(Programme).where(
                Programme.site == site,
                Programme.active.is_(True),
                Programme.ends_on >= today,
            )
        )
    )
    taken: dict[str, int] = {
        programme_id: held
        for programme_id, held in session.execute(
            select(Enrolment.programme_id, func.count())
            .where(
                Enrolment.programme_id.in_([p.id for p in offered]),
                Enrolment.state.in_(PLACE_STATES),
            )
            .group_by(Enrolment.programme_id)
        )
    }
    return [(p, max(p.capacity - taken.get(p.id, 0), 0)) for p in offered]


def _rank(
    person: _Person, offered: Sequence[tuple[Programme, int]], today: date
) -> list[RankedProgramme]:
    assessed = []
    for programme, left in offered:
        eligible, score, reasons = _assess(person, programme, left, today)
        assessed.append((programme, eligible, score, left, reasons))
    assessed.sort(key=lambda a: (not a[1], -a[2], a[0].starts_on, a[0].id))
    return [
        RankedProgramme(programme, rank, eligible, score, left, reasons)
        for rank, (programme, eligible, score, left, reasons) in enumerate(assessed, 1)
    ]


def eligible_programmes_many(
    session: Session,
    people: Sequence[Detainee],
    today: date,
    *,
    facts: Mapping[str, Sequence[ProfileFact]],
    enrolments: Mapping[str, Sequence[Enrolment]],
) -> dict[str, list[str]]:
    """Per person, the ids of the programmes they may ask to join, best fit first: the
    eligible ones of ``rank_programmes``, for many people at once (the kiosks' sync), from
    their current facts and enrolments already read."""
    offered: dict[str, list[tuple[Programme, int]]] = {}
    result = {}
    for detainee in people:
        if detainee.site not in offered:
            offered[detainee.site] = _offered(session, detainee.site, today)
        person = _person(detainee, facts.get(detainee.id, ()), enrolments.get(detainee.id, ()))
        ranked = _rank(person, offered[detainee.site], today)
        result[detainee.id] = [r.programme.id for r in ranked if r.eligible]
    return result


def enrolments_of_many(session: Session, detainee_ids: Sequence[str]) -> dict[str, list[Enrolment]]:
    """``enrolments_of`` for many people at once."""
    found: dict[str, list[Enrolment]] = {detainee_id: [] for detainee_id in detainee_ids}
    for enrolment in session.scalars(
        select(Enrolment)
        .where(Enrolment.detainee_id.in_(list(found)))
        .order_by(Enrolment.requested_at, Enrolment.id)
    ):
        found[enrolment.detainee_id].append(enrolment)
    return found
