"""What the training pages read beside hub.training: places and requests per programme, the
queue with who asked and from where, the latest decisions, and the people a programme should
be offered to (the reverse of ``training.rank_programmes``: one programme, many people).

Recommendations must stay fast with 100,000 detainees, so SQL does the sifting: people held
at the programme's establishment who have never asked for it and pass its prerequisites,
with an estimate of the ranking's score from indexed look-ups of their current facts. Only
the best few of those are read in full and scored by hub.training's own ranking, which
decides who is shown and in what order.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal,
    not_,
    or_,
    select,
)
from sqlalchemy.orm import Session

from hub import classifications, training
from hub.models import Detainee, Enrolment, ProfileFact, Programme, User
from hub.profiles import current_facts_many

LIMIT = 50  # people recommended for one programme
WINDOW = 2  # SQL hands this many times LIMIT people to the exact ranking
DECISIONS = 20  # latest decisions shown on a programme's page


# --- counts and the queue ------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    taken: int  # places held (training.PLACE_STATES)
    waiting: int  # requests and waitlisted ones still to decide


def programme_counts(session: Session, programme_ids: Sequence[str]) -> dict[str, Counts]:
    """Places taken and requests waiting for many programmes, in one query."""
    found: dict[str, dict[str, int]] = {pid: {} for pid in programme_ids}
    for programme_id, state, number in session.execute(
        select(Enrolment.programme_id, Enrolment.state, func.count())
        .where(
            Enrolment.programme_id.in_(list(found)),
            Enrolment.state.in_(training.PLACE_STATES + training.QUEUE_STATES),
        )
        .group_by(Enrolment.programme_id, Enrolment.state)
    ):
        found[programme_id][state] = int(number)

    def total(states: dict[str, int], wanted: Collection[str]) -> int:
        return sum(n for state, n in states.items() if state in wanted)

    return {
        pid: Counts(total(states, training.PLACE_STATES), total(states, training.QUEUE_STATES))
        for pid, states in found.items()
    }


@dataclass(frozen=True)
class Row:
    """An enrolment with its person and where the request came from."""

    enrolment: Enrolment
    detainee: Detainee
    via_kiosk: str | None  # "site/device" for a kiosk's request
    via_staff: str | None  # the staff member's name (or id if unknown) for a staff request


def _rows(session: Session, enrolments: Sequence[Enrolment]) -> list[Row]:
    """The people and staff names for a page of enrolments: two queries, whatever the page."""
    people = {
        d.id: d
        for d in session.scalars(
            select(Detainee).where(Detainee.id.in_({e.detainee_id for e in enrolments}))
        )
    }
    staff_ids = {
        e.requested_via.removeprefix("user:")
        for e in enrolments
        if e.requested_via.startswith("user:")
    }
    names = {
        user_id: name
        for user_id, name in session.execute(
            select(User.id, User.name).where(User.id.in_(staff_ids))
        )
    }
    rows = []
    for enrolment in enrolments:
        via = enrolment.requested_via
        kiosk = via.removeprefix("kiosk:") if via.startswith("kiosk:") else None
        staff = None
        if kiosk is None:
            staff_id = via.removeprefix("user:")
            staff = names.get(staff_id, staff_id)
        rows.append(Row(enrolment, people[enrolment.detainee_id], kiosk, staff))
    return rows


@dataclass(frozen=True)
class QueuePage:
    rows: list[Row]
    waiting: int  # requests and waitlisted ones in all
    page: int  # the page shown, from 1 (a page past the end shows the last)
    pages: int


def queue_page(session: Session, programme_id: str, page: int, size: int) -> QueuePage:
    """One page of the programme's queue, oldest first."""
    queue = training.programme_queue(session, programme_id)
    pages = max((len(queue) + size - 1) // size, 1)
    page = min(max(page, 1), pages)
    rows = _rows(session, queue[(page - 1) * size : page * size])
    return QueuePage(rows, len(queue), page, pages)


def latest_decisions(session: Session, programme_id: str, limit: int = DECISIONS) -> list[Row]:
    """The programme's enrolments decided last, newest first, in the state they are now."""
    decided = session.scalars(
        select(Enrolment)
        .where(Enrolment.programme_id == programme_id, Enrolment.decided_at.is_not(None))
        .order_by(Enrolment.decided_at.desc(), Enrolment.id.desc())
        .limit(limit)
    ).all()
    return _rows(session, decided)


def prison_numbers(session: Session, detainee_ids: Sequence[str]) -> dict[str, str]:
    """Prison numbers for the people on a sheet, in one query."""
    return {
        detainee_id: number
        for detainee_id, number in session.execute(
            select(Detainee.id, Detainee.prison_number).where(Detainee.id.in_(set(detainee_ids)))
        )
    }


# --- recommendations -------------------------------------------------------------------------
#
# The exact ranking (hub.training._assess) needs a person's facts, and reading the facts of
# every person held at a large establishment costs too much for a page. Two cheap queries
# find who can be near the top, and only they are read in full:
#
# * people with something that speaks for the programme in their facts (a wished or past
#   job on its ISCO path, a wished or held skill): one pass over the current facts, keeping
#   only such people, best estimated score first;
# * when those are not enough to fill the list with scores above what a person with nothing
#   for or against them gets, the others, ordered by what their own record says against the
#   programme (release before it ends, no release date) and then by name.
#
# SQL leaves out whoever fails a prerequisite it can check (establishment, custody, reading,
# days before release, a recorded education level below the minimum) or already asked.

POINTS = {"wished_job": 3, "past_job": 2, "wish": 3, "skill": 2}  # as training._assess
FACTS = {"wished_job": "occupation", "past_job": "occupation", "wish": "wish", "skill": "skill"}


@dataclass(frozen=True)
class Recommendation:
    """Someone who may join the programme and has not asked, with what speaks for it."""

    detainee: Detainee
    score: int  # hub.training's ranking score for this programme
    isced: int | None  # highest recorded ISCED level
    wished_job: str | None  # an ISCO-08 code the person wishes to work in, on the path
    past_job: str | None  # an ISCO-08 code the person worked in, on the path
    wished_skills: list[str]  # the programme's skills the person wished to train in
    held_skills: list[str]  # the programme's skills the person has
    release_before_end: bool  # release expected before the programme ends


def _path_codes(programme: Programme) -> list[str]:
    """Every ISCO-08 group on the same path as one of the programme's (as _job_match)."""
    return [
        group
        for group in classifications.isco_groups()
        if any(group.startswith(code) or code.startswith(group) for code in programme.isco_codes)
    ]


def _spellings(words: Sequence[str]) -> list[str]:
    """The spellings a stored fact most likely has for these words; SQL cannot fold text as
    hub.training does, so this is for the estimate only."""
    found: set[str] = set()
    for word in words:
        for form in (word.strip(), word.strip().lower(), training._fold(word)):
            found |= {form, form.capitalize(), form.upper()}
    return sorted(found)


def _matches(
    fact: str, values: Sequence[object], *also: ColumnElement[bool]
) -> ColumnElement[bool]:
    """A fact row is ``fact`` with one of ``values`` (JSON equality)."""
    # Typed as the column, so both sides are JSON (JSONB on PostgreSQL).
    typed = bindparam(None, list(values), expanding=True, type_=ProfileFact.value.type)
    return and_(ProfileFact.fact == fact, ProfileFact.value.in_(typed), *also)


def _levels(lowest: int) -> list[object]:
    """ISCED levels from ``lowest`` to 8 as facts may hold them: text or number."""
    return [*(str(level) for level in range(lowest, 9)), *range(lowest, 9)]


def _signals(programme: Programme) -> dict[str, ColumnElement[bool]]:
    """What speaks for the programme in one fact row, by name (POINTS)."""
    found: dict[str, ColumnElement[bool]] = {}
    if programme.isco_codes:
        codes = _path_codes(programme)
        wished = ProfileFact.form_id == training.WISHES_FORM
        past = or_(ProfileFact.form_id.is_(None), ProfileFact.form_id != training.WISHES_FORM)
        found["wished_job"] = _matches("occupation", codes, wished)
        found["past_job"] = _matches("occupation", codes, past)
    if programme.skills:
        words = _spellings(programme.skills)
        found["wish"] = _matches("wish", words)
        found["skill"] = _matches("skill", words)
    return found


def _points(condition: ColumnElement[bool], points: int) -> ColumnElement[int]:
    return case((condition, points), else_=0)


def _own_record(
    programme: Programme, today: date
) -> tuple[list[ColumnElement[bool]], ColumnElement[int]]:
    """Who may join by their own record and has never asked, and the points their record
    takes off (release before the end, no release date when one is needed)."""
    release = Detainee.expected_release_date
    asked = exists(
        select(Enrolment.id).where(
            Enrolment.detainee_id == Detainee.id, Enrolment.programme_id == programme.id
        )
    )
    conditions: list[ColumnElement[bool]] = [
        Detainee.site == programme.site,
        Detainee.state == "in_custody",
        not_(asked),
    ]
    score: ColumnElement[int] = literal(0) - _points(
        and_(release.is_not(None), release < programme.ends_on), 2
    )
    if programme.requires_literacy:
        conditions.append(Detainee.literate.is_(True))
    if programme.min_days_before_release is not None:
        earliest = max(programme.starts_on, today) + timedelta(
            days=programme.min_days_before_release
        )
        conditions.append(or_(release.is_(None), release >= earliest))
        score = score - _points(release.is_(None), 1)
    return conditions, score


def _fact_points(signals: dict[str, ColumnElement[bool]]) -> ColumnElement[int]:
    """The points a person's facts give (POINTS), read by one look-up of the (person, fact)
    index."""
    points: ColumnElement[int] = literal(0)
    for name, weight in POINTS.items():
        if name in signals:
            points = points + func.max(_points(signals[name], 1)) * weight
    return (
        select(func.coalesce(points, 0))
        .where(
            ProfileFact.detainee_id == Detainee.id,
            ProfileFact.superseded_by.is_(None),
            ProfileFact.fact.in_(sorted({FACTS[name] for name in signals})),
        )
        .scalar_subquery()
    )


def _level(minimum: int) -> ColumnElement[int]:
    """2: an education level at or above ``minimum`` is recorded; 1: only lower ones;
    0: none."""
    enough = _matches("education_level", _levels(minimum))
    known = _matches("education_level", _levels(0))
    return (
        select(func.coalesce(func.max(case((enough, 2), (known, 1), else_=0)), 0))
        .where(
            ProfileFact.detainee_id == Detainee.id,
            ProfileFact.superseded_by.is_(None),
            ProfileFact.fact == "education_level",
        )
        .scalar_subquery()
    )


def _with_something_for(
    session: Session, programme: Programme, today: date, limit: int
) -> list[str]:
    """People whose facts speak for the programme, best estimated score first.

    Each person held there is looked up once in the facts' (person, fact) index; the
    results are materialized, so that neither database reads them twice or plans a scan of
    every fact per condition.
    """
    signals = _signals(programme)
    if not signals:
        return []
    conditions, own = _own_record(programme, today)
    columns = [
        Detainee.id,
        Detainee.name_latin,
        own.label("own"),
        _fact_points(signals).label("points"),
    ]
    if programme.min_isced is not None:
        columns.append(_level(programme.min_isced).label("level"))
    people = select(*columns).where(*conditions).cte("people").prefix_with("MATERIALIZED")
    wanted = [people.c.points > 0]
    score = people.c.own + people.c.points
    if programme.min_isced is not None:
        wanted.append(people.c.level != 1)  # a recorded level below the minimum
        score = score - _points(people.c.level == 0, 1)  # -1 when no level is recorded
    return list(
        session.scalars(
            select(people.c.id)
            .where(*wanted)
            .order_by(score.desc(), people.c.name_latin, people.c.id)
            .limit(limit)
        )
    )


def _by_own_record(
    session: Session, programme: Programme, today: date, limit: int, offset: int
) -> list[str]:
    """Everyone who may join by their own record, what it takes off first, then by name."""
    conditions, score = _own_record(programme, today)
    return list(
        session.scalars(
            select(Detainee.id)
            .where(*conditions)
            .order_by(score.desc(), Detainee.name_latin, Detainee.id)
            .limit(limit)
            .offset(offset)
        )
    )


def _assessed(
    session: Session, programme: Programme, ids: Sequence[str], left: int, today: date
) -> list[Recommendation]:
    """The eligible ones among ``ids``, scored by hub.training's ranking."""
    people = session.scalars(select(Detainee).where(Detainee.id.in_(list(ids)))).all()
    facts = current_facts_many(session, ids)
    enrolments = training.enrolments_of_many(session, ids)
    found = []
    for detainee in people:
        person = training._person(detainee, facts[detainee.id], enrolments[detainee.id])
        eligible, score, _ = training._assess(person, programme, left, today)
        if not eligible:
            continue
        wished = training._job_match(person.wished_jobs, programme)
        past = training._job_match(person.past_jobs, programme)
        release = detainee.expected_release_date
        found.append(
            Recommendation(
                detainee=detainee,
                score=score,
                isced=person.isced,
                wished_job=None if wished is None else wished[0],
                past_job=None if past is None else past[0],
                wished_skills=[s for s in programme.skills if training._fold(s) in person.wishes],
                held_skills=[s for s in programme.skills if training._fold(s) in person.skills],
                release_before_end=release is not None and release < programme.ends_on,
            )
        )
    return found


def _ranked(found: list[Recommendation]) -> list[Recommendation]:
    return sorted(found, key=lambda r: (-r.score, r.detainee.name_latin, r.detainee.id))


def recommend(
    session: Session, programme_id: str, today: date, limit: int = LIMIT
) -> list[Recommendation]:
    """Up to ``limit`` people held at the programme's establishment who may join it and have
    not asked, best fit first by hub.training's ranking (then by name). None for a programme
    that is no longer offered or has ended."""
    programme = training.get_programme(session, programme_id)
    if not programme.active or programme.ends_on < today:
        return []
    left = max(programme.capacity - training.places_taken(session, programme_id), 0)
    window = limit * WINDOW
    first = _with_something_for(session, programme, today, window)
    found = _ranked(_assessed(session, programme, first, left, today))
    neutral = -2 if left == 0 else 0  # the score of someone with nothing for or against
    seen = set(first)
    offset, others = 0, 0
    while len(found) < limit or found[limit - 1].score <= neutral:
        ids = _by_own_record(session, programme, today, window, offset)
        fresh = [i for i in ids if i not in seen]
        seen.update(fresh)
        more = _assessed(session, programme, fresh, left, today)
        found, others = _ranked(found + more), others + len(more)
        offset += window
        if len(ids) < window or others >= limit or offset >= window * 5:
            break
    return found[:limit]
