"""What the questionnaire pages need from the records besides the library: every version of
one form, where each form is published, the wings a form can go to, and per assignment how
many people it reaches, how many answered since it was given and how many are late.

An assignment counts as done for a person as hub.assignments says: a questionnaire.response
to that form arrived after the assignment was made. A wing assignment reaches the people now
in custody in that wing. The counts take three grouped queries, whatever the number of
people or assignments.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, distinct, func, select, tuple_
from sqlalchemy.orm import Session, defer

from hub.models import (
    Detainee,
    Device,
    Event,
    QuestionnaireAssignment,
    QuestionnaireVersion,
    SyncDocument,
    as_utc,
)

ASSIGNMENTS_SHOWN = 100  # newest first on a form's page


def versions(session: Session, form_id: str) -> list[QuestionnaireVersion]:
    """Every imported version of one form, newest first (without the spreadsheet bytes)."""
    return list(
        session.scalars(
            select(QuestionnaireVersion)
            .options(defer(QuestionnaireVersion.xlsx))
            .where(QuestionnaireVersion.form_id == form_id)
            .order_by(QuestionnaireVersion.imported_at.desc())
        )
    )


@dataclass(frozen=True)
class Publication:
    site: str
    wing: str | None  # None: every wing of the site
    version: str


def publications(
    session: Session, *, form_id: str | None = None, site: str | None = None
) -> dict[str, list[Publication]]:
    """Form id → where its kiosks have it (site, or one wing) and which version."""
    query = select(SyncDocument).where(
        SyncDocument.kind == "questionnaire", SyncDocument.active.is_(True)
    )
    if site is not None:
        query = query.where(SyncDocument.site == site)
    found: dict[str, list[Publication]] = {}
    for document in session.scalars(query.order_by(SyncDocument.site, SyncDocument.wing)):
        form = str(document.data.get("form_id", ""))
        if form_id is None or form == form_id:
            found.setdefault(form, []).append(
                Publication(document.site, document.wing, str(document.data.get("version", "")))
            )
    return found


def wings(session: Session, site: str | None = None) -> list[tuple[str, str]]:
    """(site, wing) of every wing with a kiosk: where a questionnaire can be filled in."""
    query = select(Device.site, Device.wing).distinct().order_by(Device.site, Device.wing)
    if site is not None:
        query = query.where(Device.site == site)
    return [(row_site, row_wing) for row_site, row_wing in session.execute(query)]


def person_numbered(
    session: Session, prison_number: str, site: str | None = None
) -> Detainee | None:
    """The detainee with this prison number (within ``site`` when given)."""
    query = (
        select(Detainee)
        .options(defer(Detainee.photo_thumbnail))
        .where(Detainee.prison_number == prison_number)
    )
    if site is not None:
        query = query.where(Detainee.site == site)
    return session.scalars(query).first()


@dataclass(frozen=True)
class Completion:
    """One assignment and how far the people it reaches got."""

    assignment_id: int
    form_id: str
    target_kind: str  # wing or detainee
    site: str
    wing: str | None
    detainee_id: str | None
    prison_number: str | None  # for a detainee assignment
    due_on: date
    assigned_at: datetime
    assigned: int  # people it reaches now
    answered: int  # of them, those who sent the form since it was assigned
    overdue: int  # not answered and past the due date


def completion(
    session: Session,
    *,
    form_id: str | None = None,
    site: str | None = None,
    today: date | None = None,
    limit: int | None = ASSIGNMENTS_SHOWN,
) -> list[Completion]:
    """The active assignments (of one form, in one site), newest first, with their counts."""
    a = QuestionnaireAssignment
    query = (
        select(a, Detainee.prison_number, Detainee.state)
        .outerjoin(Detainee, Detainee.id == a.detainee_id)
        .where(a.active.is_(True))
        .order_by(a.assigned_at.desc(), a.id.desc())
    )
    if form_id is not None:
        query = query.where(a.form_id == form_id)
    if site is not None:
        query = query.where(a.site == site)
    if limit is not None:
        query = query.limit(limit)
    rows = session.execute(query).all()
    wings = _wing_counts(session, {(row.site, row.wing) for row, *_ in rows if row.wing})
    answered = _answered(session, [row for row, *_ in rows])
    today = today or date.today()
    found = []
    for assignment, number, state in rows:
        if assignment.wing is not None:  # a wing assignment
            reached = wings.get((assignment.site, assignment.wing), 0)
        else:
            reached = 1 if state == "in_custody" else 0
        done = answered.get(assignment.id, 0)
        found.append(
            Completion(
                assignment_id=assignment.id,
                form_id=assignment.form_id,
                target_kind=assignment.target_kind,
                site=assignment.site,
                wing=assignment.wing,
                detainee_id=assignment.detainee_id,
                prison_number=number,
                due_on=assignment.due_on,
                assigned_at=as_utc(assignment.assigned_at),
                assigned=reached,
                answered=done,
                overdue=reached - done if assignment.due_on < today else 0,
            )
        )
    return found


@dataclass(frozen=True)
class Totals:
    assignments: int = 0
    assigned: int = 0
    answered: int = 0
    overdue: int = 0


def totals(rows: Iterable[Completion]) -> dict[str, Totals]:
    """Form id → the sums over its assignments (a person given a form twice counts twice)."""
    sums: dict[str, Totals] = {}
    for row in rows:
        old = sums.get(row.form_id, Totals())
        sums[row.form_id] = Totals(
            old.assignments + 1,
            old.assigned + row.assigned,
            old.answered + row.answered,
            old.overdue + row.overdue,
        )
    return sums


def _wing_counts(session: Session, wings: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """People now in each wing, counted from the wing index alone: a released person's row
    has no wing (hub.roster.release), so everyone with one is in custody."""
    if not wings:
        return {}
    query = (
        select(Detainee.site, Detainee.wing, func.count())
        .where(tuple_(Detainee.site, Detainee.wing).in_(sorted(wings)))
        .group_by(Detainee.site, Detainee.wing)
    )
    return {(site, wing): count for site, wing, count in session.execute(query) if wing}


def _answered(session: Session, assignments: Sequence[QuestionnaireAssignment]) -> dict[int, int]:
    """Assignment id → people it reaches who sent the form since it was assigned. The join
    starts from the responses (one per person and form at most, usually), not from the
    people a wing holds."""
    a = QuestionnaireAssignment
    found: dict[int, int] = {}
    response = and_(
        Event.type == "questionnaire.response",
        Event.body["form_id"].as_string() == a.form_id,
        Event.at >= a.assigned_at,
    )
    by_kind = {
        "wing": and_(Detainee.site == a.site, Detainee.wing == a.wing),
        "detainee": and_(Detainee.id == a.detainee_id, Detainee.state == "in_custody"),
    }
    for kind, reach in by_kind.items():
        ids = [row.id for row in assignments if row.target_kind == kind]
        if not ids:
            continue
        query = (
            select(a.id, func.count(distinct(Event.subject)))
            .select_from(Event)
            .join(Detainee, Detainee.id == Event.subject)
            .join(a, and_(reach, response))
            .where(a.id.in_(ids))
            .group_by(a.id)
        )
        for assignment_id, count in session.execute(query):
            found[assignment_id] = count
    return found
