"""Questionnaires given to a detainee or to a whole wing, to fill in by a due date.

An assignment is done for a person once a kiosk has sent a response to that questionnaire
after it was assigned; past its due date and not done, it is overdue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

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
    today = today or date.today()
    rows = session.scalars(
        select(QuestionnaireAssignment)
        .where(
            QuestionnaireAssignment.active.is_(True),
            or_(
                QuestionnaireAssignment.detainee_id == detainee_id,
                (QuestionnaireAssignment.site == detainee.site)
                & (QuestionnaireAssignment.wing == detainee.wing),
            ),
        )
        .order_by(QuestionnaireAssignment.due_on)
    ).all()
    answered: dict[str, list[datetime]] = {}
    for form_id, at in session.execute(
        select(Event.body["form_id"].as_string(), Event.at).where(
            Event.subject == detainee_id, Event.type == "questionnaire.response"
        )
    ):
        answered.setdefault(form_id, []).append(as_utc(at))
    result = []
    for row in rows:
        assigned = as_utc(row.assigned_at)
        done = min((at for at in answered.get(row.form_id, []) if at >= assigned), default=None)
        state = "done" if done else ("overdue" if row.due_on < today else "open")
        result.append(Due(row.id, row.form_id, row.due_on, assigned, state, done))
    return result
