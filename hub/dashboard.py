"""The dashboard's figures for one establishment or all: who is held where, what people
know and did before (education, occupations, entrepreneurial aptitude), training demand
against places, questionnaire completion, the kiosk fleet and open alerts.

Every figure is an aggregate computed by the database (GROUP BY over indexed columns, see
migration 0010); nothing here walks through people one by one. The population profile
(education, occupations, aptitude) is the one costly part — it reads the current profile
facts of everyone in custody — so ``ProfileCache`` keeps it for a minute; every other figure
is read afresh at each request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, String, and_, cast, distinct, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from hub.classifications import isced_levels, isco_groups
from hub.health import HEALTH_FORMS, open_alerts
from hub.models import (
    Detainee,
    Enrolment,
    Event,
    KioskState,
    ProfileFact,
    Programme,
    QuestionnaireAssignment,
    QuestionnaireVersion,
)
from hub.questionnaires.scoring import ENTREPRENEURIAL_ITEMS, LIKERT_MAX, LIKERT_MIN
from hub.training import OPEN_STATES, QUEUE_STATES, WISHES_FORM
from protocol.ids import utc_now

PROFILE_MAX_AGE = 60.0  # seconds the population profile may be kept (ProfileCache)
RESPONSE_DAYS = 30  # "responses received lately"
APTITUDE_BAND = 5  # points of the aptitude score per bar
APTITUDE_LOW = len(ENTREPRENEURIAL_ITEMS) * LIKERT_MIN  # 10
APTITUDE_HIGH = len(ENTREPRENEURIAL_ITEMS) * LIKERT_MAX  # 50
RESPONSE = "questionnaire.response"


@dataclass(frozen=True)
class WingCount:
    site: str
    wing: str | None
    people: int


@dataclass(frozen=True)
class Profiles:
    """What the people in custody declared, each person counted once per bar."""

    people: int  # in custody, in scope
    education: dict[str, int]  # ISCED level -> people, by their newest current level
    occupations: dict[str, int]  # ISCO major group -> people who worked in it (not wishes)
    aptitude: list[tuple[int, int, int]]  # (lowest, highest score, people), newest score
    at: datetime  # when these figures were read

    @property
    def education_unknown(self) -> int:
        return max(self.people - sum(self.education.values()), 0)

    @property
    def aptitude_scored(self) -> int:
        return sum(people for _, _, people in self.aptitude)


@dataclass(frozen=True)
class ProgrammeDemand:
    id: str
    titles: dict[str, Any]
    site: str
    capacity: int
    waiting: int  # requested or on the waiting list
    approved: int

    @property
    def demand(self) -> int:
        return self.waiting + self.approved


@dataclass(frozen=True)
class FormCompletion:
    """Per questionnaire: people it was given to (once per assignment), how many sent it."""

    form_id: str
    assigned: int
    done: int
    overdue: int  # not done and past the due date

    @property
    def open(self) -> int:
        return self.assigned - self.done


@dataclass(frozen=True)
class KioskTrouble:
    site: str
    device: str
    state: str
    problems: list[str]


@dataclass(frozen=True)
class Fleet:
    online: int
    offline: int
    outbox: int  # events waiting on the kiosks, summed
    troubled: list[KioskTrouble]  # kiosks reporting a problem


@dataclass(frozen=True)
class Dashboard:
    site: str | None  # None: every establishment
    wings: list[WingCount]
    profiles: Profiles
    training: list[ProgrammeDemand]
    completion: list[FormCompletion]
    responses: dict[str, int]  # form id -> responses received in the last RESPONSE_DAYS
    form_titles: dict[str, dict[str, str]]  # form id -> its newest version's titles
    fleet: Fleet
    urgent_alerts: int | None  # None: the user may not know (no health.read)

    @property
    def in_custody(self) -> int:
        return sum(w.people for w in self.wings)

    @property
    def sites(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for w in self.wings:
            found[w.site] = found.get(w.site, 0) + w.people
        return found


# --- who is held where -------------------------------------------------------------------------


def _held(site: str | None) -> list[ColumnElement[bool]]:
    held = [Detainee.state == "in_custody"]
    if site is not None:
        held.append(Detainee.site == site)
    return held


def custody(session: Session, site: str | None) -> list[WingCount]:
    """People in custody per establishment and wing (index ix_detainees_held)."""
    rows = session.execute(
        select(Detainee.site, Detainee.wing, func.count())
        .where(*_held(site))
        .group_by(Detainee.site, Detainee.wing)
        .order_by(Detainee.site, Detainee.wing)
    )
    return [WingCount(s, w, int(n)) for s, w, n in rows]


# --- the population profile --------------------------------------------------------------------


def _code() -> ColumnElement[str]:
    """A fact's value as plain text: "3" and 3 both read 3 (codes and scores only)."""
    return func.replace(cast(ProfileFact.value, String), '"', "")


def _newest_current(fact: str) -> list[ColumnElement[bool]]:
    """The person's newest current fact of this kind: a person re-answering a questionnaire
    adds a fact without superseding the old one, and is counted once, as they are now."""
    newer = aliased(ProfileFact)
    return [
        ProfileFact.fact == fact,
        ProfileFact.superseded_by.is_(None),
        ~exists().where(
            newer.fact == fact,
            newer.detainee_id == ProfileFact.detainee_id,
            newer.superseded_by.is_(None),
            newer.id > ProfileFact.id,
        ),
    ]


def _by_code(
    session: Session,
    site: str | None,
    code: ColumnElement[str],
    where: Sequence[ColumnElement[bool]],
    *,
    distinct_people: bool = False,
) -> dict[str, int]:
    """People in custody per code of their current facts (``distinct_people``: a person with
    two facts under one code counts once)."""
    facts = (
        select(code.label("code"), ProfileFact.detainee_id.label("person"))
        .select_from(Detainee)
        .join(ProfileFact, ProfileFact.detainee_id == Detainee.id)
        .where(*_held(site), *where)
        .subquery()  # PostgreSQL groups by a column, not by an expression bound twice
    )
    people = func.count(distinct(facts.c.person)) if distinct_people else func.count()
    rows = session.execute(select(facts.c.code, people).group_by(facts.c.code))
    return {str(c): int(n) for c, n in rows if c is not None}


def profiles(session: Session, site: str | None) -> Profiles:
    """Education, past occupations and aptitude of the people in custody (four queries)."""
    people = int(
        session.scalar(select(func.count()).select_from(Detainee).where(*_held(site))) or 0
    )
    education = _by_code(session, site, _code(), _newest_current("education_level"))
    majors = _by_code(
        session,
        site,
        func.substr(_code(), 1, 1),
        [
            ProfileFact.fact == "occupation",
            ProfileFact.superseded_by.is_(None),
            or_(ProfileFact.form_id.is_(None), ProfileFact.form_id != WISHES_FORM),
        ],
        distinct_people=True,
    )
    scores = _by_code(session, site, _code(), _newest_current("entrepreneurial_aptitude"))
    lows = range(APTITUDE_LOW, APTITUDE_HIGH, APTITUDE_BAND)  # 10, 15, … 45; 45-50 is last
    bands = dict.fromkeys(lows, 0)
    for score, n in scores.items():
        if score.isdigit() and APTITUDE_LOW <= int(score) <= APTITUDE_HIGH:
            bands[min(int(score) - (int(score) - APTITUDE_LOW) % APTITUDE_BAND, lows[-1])] += n
    aptitude = [
        (low, APTITUDE_HIGH if low == lows[-1] else low + APTITUDE_BAND - 1, n)
        for low, n in bands.items()
    ]
    return Profiles(
        people=people,
        education={c: n for c, n in sorted(education.items()) if c in isced_levels()},
        occupations={c: n for c, n in sorted(majors.items()) if c in isco_groups()},
        aptitude=aptitude,
        at=utc_now(),
    )


@dataclass
class ProfileCache:
    """The population profile of each scope, kept ``max_age`` seconds in this process.

    Why a cache: at 100,000 detainees (bench/bench_web.py) reading it takes about 1.1 s on
    SQLite and 0.6 s on PostgreSQL (all establishments, 2-core development machine), beyond
    the page's 500 ms, because it joins every current fact of everyone in custody; a
    covering index on profile_facts only halved it on SQLite. It changes only as
    questionnaires arrive, so a minute-old picture serves a manager as well, and the page
    says when it was read. Every other figure is read at each request.
    """

    max_age: float = PROFILE_MAX_AGE
    clock: Callable[[], float] = time.monotonic
    _kept: dict[tuple[str, str | None], tuple[float, Profiles]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, session: Session, site: str | None) -> Profiles:
        key = (str(session.get_bind().engine.url), site)
        now = self.clock()
        with self._lock:
            kept = self._kept.get(key)
        if kept is not None and now - kept[0] < self.max_age:
            return kept[1]
        fresh = profiles(session, site)
        with self._lock:
            self._kept[key] = (now, fresh)
        return fresh

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()


# --- training ----------------------------------------------------------------------------------


def training_demand(session: Session, site: str | None, today: date) -> list[ProgrammeDemand]:
    """Active programmes not yet ended: people waiting or approved against the places."""
    query = select(Programme).where(Programme.active.is_(True), Programme.ends_on >= today)
    if site is not None:
        query = query.where(Programme.site == site)
    offered = list(
        session.scalars(query.order_by(Programme.site, Programme.starts_on, Programme.id))
    )
    counts: dict[tuple[str, str], int] = {}
    if offered:
        for programme_id, state, n in session.execute(
            select(Enrolment.programme_id, Enrolment.state, func.count())
            .where(
                Enrolment.programme_id.in_([p.id for p in offered]),
                Enrolment.state.in_(OPEN_STATES),
            )
            .group_by(Enrolment.programme_id, Enrolment.state)
        ):
            counts[(programme_id, state)] = int(n)
    return [
        ProgrammeDemand(
            id=p.id,
            titles=dict(p.titles),
            site=p.site,
            capacity=p.capacity,
            waiting=sum(counts.get((p.id, state), 0) for state in QUEUE_STATES),
            approved=counts.get((p.id, "approved"), 0),
        )
        for p in offered
    ]


# --- questionnaires ----------------------------------------------------------------------------


def _form_id() -> ColumnElement[str]:
    form_id: ColumnElement[str] = Event.body["form_id"].as_string()
    return form_id


def completion(
    session: Session, site: str | None, today: date, wings: Sequence[WingCount]
) -> list[FormCompletion]:
    """Per questionnaire, the active assignments' people (a wing's as it is now, counted from
    ``wings``) and those who sent a response since it was assigned (hub.assignments' rule)."""
    A = QuestionnaireAssignment
    query = select(A.id, A.form_id, A.target_kind, A.site, A.wing, A.due_on, A.assigned_at).where(
        A.active.is_(True)
    )
    if site is not None:
        query = query.where(A.site == site)
    given = session.execute(query).all()
    if not given:
        return []
    population = {(w.site, w.wing): w.people for w in wings}
    held_people = set(
        session.scalars(
            select(A.id)
            .join(Detainee, Detainee.id == A.detainee_id)
            .where(A.active.is_(True), A.target_kind == "detainee", *_held(site))
        )
    )
    reached = {
        a.id: population.get((a.site, a.wing), 0)
        if a.target_kind == "wing"
        else int(a.id in held_people)
        for a in given
    }
    since = min(a.assigned_at for a in given)
    ids = [a.id for a in given]
    done: dict[int, int] = {}
    for reaches in (  # two joins on equal columns rather than one on an OR: hash-joinable
        and_(A.target_kind == "wing", A.site == Detainee.site, A.wing == Detainee.wing),
        and_(A.target_kind == "detainee", A.detainee_id == Detainee.id),
    ):
        done.update(
            (int(assignment), int(n))
            for assignment, n in session.execute(
                select(A.id, func.count(distinct(Detainee.id)))
                .select_from(Event)
                .join(Detainee, Detainee.id == Event.subject)
                .join(A, and_(reaches, A.form_id == _form_id(), Event.at >= A.assigned_at))
                .where(Event.type == RESPONSE, Event.at >= since, A.id.in_(ids), *_held(site))
                .group_by(A.id)
            )
        )
    forms: dict[str, list[int]] = {}
    for a in given:
        totals = forms.setdefault(a.form_id, [0, 0, 0])
        sent = min(done.get(a.id, 0), reached[a.id])
        totals[0] += reached[a.id]
        totals[1] += sent
        if a.due_on < today:
            totals[2] += reached[a.id] - sent
    return [FormCompletion(form_id, *totals) for form_id, totals in sorted(forms.items())]


def responses_since(session: Session, site: str | None, since: datetime) -> dict[str, int]:
    """Questionnaire responses received per form since ``since`` (index ix_events_type_at)."""
    query = select(_form_id().label("form_id")).where(Event.type == RESPONSE, Event.at >= since)
    if site is not None:
        query = query.where(Event.site == site)
    sent = query.subquery()  # PostgreSQL groups by a column, not by an expression re-bound
    return {
        str(form_id): int(n)
        for form_id, n in session.execute(
            select(sent.c.form_id, func.count()).group_by(sent.c.form_id).order_by(sent.c.form_id)
        )
    }


def form_titles(session: Session, form_ids: Sequence[str]) -> dict[str, dict[str, str]]:
    """Each questionnaire's titles by language, from its newest version (titles only: the
    stored forms themselves are not read)."""
    titles: dict[str, dict[str, str]] = {}
    if form_ids:
        for form_id, found in session.execute(
            select(QuestionnaireVersion.form_id, QuestionnaireVersion.titles)
            .where(QuestionnaireVersion.form_id.in_(sorted(set(form_ids))))
            .order_by(QuestionnaireVersion.imported_at)
        ):
            titles[form_id] = {str(k): str(v) for k, v in found.items()}
    return titles


# --- kiosks and alerts -------------------------------------------------------------------------


def fleet(session: Session, site: str | None) -> Fleet:
    """The kiosks' last reported states (one row per kiosk: a few dozen, not people)."""
    query = select(KioskState).order_by(KioskState.site, KioskState.device)
    if site is not None:
        query = query.where(KioskState.site == site)
    online = offline = outbox = 0
    troubled = []
    for kiosk in session.scalars(query):
        if kiosk.state == "online":
            online += 1
        else:
            offline += 1
        depth = kiosk.status.get("outbox_depth")
        outbox += depth if isinstance(depth, int) else 0
        problems = [str(p) for p in kiosk.status.get("problems") or []]
        if problems:
            troubled.append(KioskTrouble(kiosk.site, kiosk.device, kiosk.state, problems))
    return Fleet(online, offline, outbox, troubled)


def dashboard(
    session: Session,
    site: str | None,
    *,
    health: bool,
    today: date | None = None,
    now: datetime | None = None,
    cache: ProfileCache | None = None,
) -> Dashboard:
    """Everything the dashboard shows. ``health``: the user holds health.read, so the count
    of urgent alerts and the health questionnaires' figures are included."""
    now = now or utc_now()
    today = today or now.date()
    wings = custody(session, site)
    forms = completion(session, site, today, wings)
    responses = responses_since(session, site, now - timedelta(days=RESPONSE_DAYS))
    if not health:
        forms = [f for f in forms if f.form_id not in HEALTH_FORMS]
        responses = {k: n for k, n in responses.items() if k not in HEALTH_FORMS}
    return Dashboard(
        site=site,
        wings=wings,
        profiles=cache.get(session, site) if cache is not None else profiles(session, site),
        training=training_demand(session, site, today),
        completion=forms,
        responses=responses,
        form_titles=form_titles(session, [f.form_id for f in forms] + list(responses)),
        fleet=fleet(session, site),
        urgent_alerts=len(open_alerts(session, site)) if health else None,
    )
