"""Questionnaires given to a detainee or to a whole wing, to fill in by a due date.

An assignment is done for a person once a kiosk has sent a response to that questionnaire
after it was assigned; past its due date and not done, it is overdue. The wing's kiosks show
each person what they were given, so an assignment notes every person it reaches in the
kiosks' change feed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from hub import roster
from hub.audit import Trail
from hub.models import Detainee, Event, QuestionnaireAssignment, QuestionnaireVersion, as_utc
from protocol.ids import utc_now


class AssignmentError(ValueError):
    """The assignment cannot be made as asked; the message says why."""


def assign(
    session: Session,
    trail: Trail,
    *,
    form_id: str,
    due_on: date,
    detainee_id: str | None = None,
    site: str | None = None,
    wing: str | None = None,
    today: date | None = None,
) -> QuestionnaireAssignment:
    """To one detainee (``detainee_id``) or to everyone in a wing (``site`` and ``wing``)."""
    if (detainee_id is None) == (wing is None):
        raise AssignmentError("assign to one detainee or to one wing, not both and not neither")
    if (
        session.scalar(
            select(QuestionnaireVersion.form_id)
            .where(QuestionnaireVersion.form_id == form_id)
            .limit(1)
        )
        is None
    ):
        raise AssignmentError(f"there is no questionnaire {form_id!r}; import it first")
    if due_on < (today or date.today()):
        raise AssignmentError(f"the due date {due_on.isoformat()} has already passed")
    if detainee_id is not None:
        detainee = session.get(Detainee, detainee_id)
        if detainee is None:
            raise LookupError(f"no detainee with Masar id {detainee_id!r}")
        if detainee.state != "in_custody":
            raise AssignmentError(f"{detainee.name_latin} was released")
        site, kind = detainee.site, "detainee"
    else:
        if site is None:
            raise AssignmentError("a wing assignment needs the establishment (site)")
        kind = "wing"
    assignment = QuestionnaireAssignment(
        form_id=form_id,
        target_kind=kind,
        detainee_id=detainee_id,
        site=site,
        wing=wing,
        due_on=due_on,
        assigned_by=trail.actor,
        assigned_at=utc_now(),
        active=True,
    )
    session.add(assignment)
    session.flush()
    _note_people(session, site, wing, detainee_id)
    trail.record(
        session,
        "questionnaire.assign",
        detainee_id,
        {
            "assignment": assignment.id,
            "form_id": form_id,
            "due_on": due_on.isoformat(),
            "site": site,
            "wing": wing,
        },
    )
    return assignment


def _note_people(session: Session, site: str, wing: str | None, detainee_id: str | None) -> None:
    """Tell the kiosks of each person the assignment reaches (one, or everyone in the wing)."""
    query = select(Detainee.id, Detainee.wing).where(
        Detainee.state == "in_custody", Detainee.wing.is_not(None)
    )
    if detainee_id is not None:
        query = query.where(Detainee.id == detainee_id)
    else:
        query = query.where(Detainee.site == site, Detainee.wing == wing)
    people = session.execute(query).all()
    roster.note_changes(session, ((site, wing, "detainee", key) for key, wing in people))


@dataclass(frozen=True)
class Due:
    assignment_id: int
    form_id: str
    due_on: date
    assigned_at: datetime
    state: str  # done, overdue, open
    done_at: datetime | None


def assignments_of(session: Session, detainee_id: str, today: date | None = None) -> list[Due]:
    """What this person was asked to fill in, directly or through their wing, and whether
    they did."""
    detainee = session.get(Detainee, detainee_id)
    if detainee is None:
        raise LookupError(f"no detainee with Masar id {detainee_id!r}")
    return assignments_of_many(session, [detainee], today)[detainee_id]


def assignments_of_many(
    session: Session, people: Sequence[Detainee], today: date | None = None
) -> dict[str, list[Due]]:
    """``assignments_of`` for many people at once, in two queries (the kiosks' sync)."""
    today = today or date.today()
    result: dict[str, list[Due]] = {person.id: [] for person in people}
    if not people:
        return result
    wings: dict[str, set[str]] = {}
    for person in people:
        if person.wing is not None:
            wings.setdefault(person.site, set()).add(person.wing)
    targets = [QuestionnaireAssignment.detainee_id.in_(list(result))] + [
        (QuestionnaireAssignment.target_kind == "wing")
        & (QuestionnaireAssignment.site == site)
        & QuestionnaireAssignment.wing.in_(sorted(site_wings))
        for site, site_wings in sorted(wings.items())
    ]
    rows = session.scalars(
        select(QuestionnaireAssignment)
        .where(QuestionnaireAssignment.active.is_(True), or_(*targets))
        .order_by(QuestionnaireAssignment.due_on, QuestionnaireAssignment.id)
    ).all()
    if not rows:
        return result
    answered: dict[tuple[str, str], list[datetime]] = {}
    for subject, form_id, at in session.execute(
        select(Event.subject, Event.body["form_id"].as_string(), Event.at).where(
            Event.subject.in_(list(result)), Event.type == "questionnaire.response"
        )
    ):
        answered.setdefault((subject, form_id), []).append(as_utc(at))
    for person in people:
        for row in rows:
            mine = row.detainee_id == person.id or (
                row.target_kind == "wing" and (row.site, row.wing) == (person.site, person.wing)
            )
            if not mine:
                continue
            assigned = as_utc(row.assigned_at)
            done = min(
                (at for at in answered.get((person.id, row.form_id), []) if at >= assigned),
                default=None,
            )
            state = "done" if done else ("overdue" if row.due_on < today else "open")
            result[person.id].append(Due(row.id, row.form_id, row.due_on, assigned, state, done))
    return result
