"""The dashboard's figures (hub.dashboard) on a small seeded hub, on SQLite and PostgreSQL:
each one equals a direct count of the rows, made here the slow and obvious way; and the page
shows the health alert count only to health staff."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub import dashboard
from hub.app import create_app
from hub.assignments import assign, assignments_of_many
from hub.audit import Trail, load_key
from hub.config import HubConfig
from hub.db import session_factory
from hub.health import HEALTH_FORMS
from hub.ingest import apply_batch
from hub.models import (
    Detainee,
    Enrolment,
    Event,
    KioskState,
    ProfileFact,
    Programme,
    as_utc,
)
from hub.profiles import verify_fact
from hub.questionnaires.library import latest_version
from hub.seed import next_seqs, response_message, seed
from hub.training import WISHES_FORM
from hub.users import create_user
from protocol.ids import utc_now

PASSWORD = "dashboard password 1"
SITE = "rabat-1"


def _send(sessions: sessionmaker[Session], person: Detainee, form_id: str, answers: Any) -> None:
    """A questionnaire response from the person's wing kiosk, through the real ingest."""
    with sessions() as session:
        version = latest_version(session, form_id)
        assert version is not None
        device = f"wing-{person.wing}-1"
        message = response_message(
            site=person.site,
            device=device,
            seq=next_seqs(session).get((person.site, device), 1),
            subject=person.id,
            at=utc_now(),
            form_id=form_id,
            form_version=version.version,
            answers=answers,
        )
    with sessions.begin() as session:
        assert apply_batch(session, [message], worker="test").applied == 1


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    load_key(tmp_path / "audit.key")
    return tmp_path / "audit.key"


@pytest.fixture
def hub(sessions: sessionmaker[Session], key_file: Path) -> sessionmaker[Session]:
    """120 seeded people, then what the seed does not make: a second intake that changes a
    person's education level, a corrected occupation, questionnaires assigned to a wing and
    to one person (some sent since), an urgent PHQ-9, and three kiosks' states."""
    key = load_key(key_file)
    seed(sessions, detainees=120, key=key)
    trail = Trail(key, "user:test")
    with sessions() as session:
        held = session.scalars(
            select(Detainee)
            .where(Detainee.state == "in_custody", Detainee.site == SITE)
            .order_by(Detainee.prison_number)
        ).all()
        wing = held[0].wing
        assert wing is not None
        in_wing = [p for p in held if p.wing == wing]
        other = next(p for p in held if p.wing != wing)
    with sessions.begin() as session:
        yesterday = date.today() - timedelta(days=1)
        assign(  # made two days ago, due yesterday: the wing's people who did not send it
            session,
            trail,
            form_id="masar_wishes",
            due_on=yesterday,
            site=SITE,
            wing=wing,
            today=yesterday - timedelta(days=1),
        )
        assign(session, trail, form_id="masar_intake", due_on=date.today(), detainee_id=other.id)
        occupation = session.scalars(
            select(ProfileFact).where(
                ProfileFact.fact == "occupation", ProfileFact.form_id == "masar_intake"
            )
        ).first()
        assert occupation is not None
        verify_fact(session, occupation.id, user="test", value="2")
        now = utc_now()
        for device, state, status in (
            ("wing-a-1", "online", {"outbox_depth": 4, "problems": []}),
            ("wing-b-1", "online", {"outbox_depth": 2, "problems": ["camera: no picture"]}),
            ("wing-c-1", "offline", {"outbox_depth": None}),
        ):
            session.add(
                KioskState(site=SITE, device=device, state=state, status=status, updated_at=now)
            )
    _send(sessions, in_wing[0], "masar_wishes", {"training_wish": "welding"})
    _send(sessions, other, "masar_intake", {"education_level": "6"})
    _send(sessions, other, "masar_intake", {"education_level": "7"})  # the newest counts
    urgent = {f"phq9_{i}": "1" for i in range(1, 10)} | {"phq9_difficulty": "1"}
    _send(sessions, in_wing[-1], "phq9", urgent)
    return sessions


def direct(session: Session, site: str | None, today: date) -> dict[str, Any]:
    """Every figure, counted row by row in Python."""
    held = {
        p.id: p
        for p in session.scalars(select(Detainee).where(Detainee.state == "in_custody"))
        if site is None or p.site == site
    }
    newest: dict[tuple[str, str], ProfileFact] = {}
    worked: set[tuple[str, str]] = set()
    for fact in session.scalars(select(ProfileFact).where(ProfileFact.superseded_by.is_(None))):
        if fact.detainee_id not in held:
            continue
        if fact.fact == "occupation" and fact.form_id != WISHES_FORM:
            worked.add((fact.detainee_id, str(fact.value)[0]))
        key = (fact.detainee_id, fact.fact)
        if key not in newest or newest[key].id < fact.id:
            newest[key] = fact
    scores = [
        int(str(f.value)) for (_, kind), f in newest.items() if kind == "entrepreneurial_aptitude"
    ]
    programmes = [
        p
        for p in session.scalars(select(Programme))
        if p.active and p.ends_on >= today and (site is None or p.site == site)
    ]
    enrolments = Counter((e.programme_id, e.state) for e in session.scalars(select(Enrolment)))
    forms: dict[str, Counter[str]] = {}
    for dues in assignments_of_many(session, list(held.values()), today).values():
        for due in dues:
            forms.setdefault(due.form_id, Counter())[due.state] += 1
    since = utc_now() - timedelta(days=dashboard.RESPONSE_DAYS)
    responses = Counter(
        e.body["form_id"]
        for e in session.scalars(select(Event).where(Event.type == "questionnaire.response"))
        if as_utc(e.at) >= since and (site is None or e.site == site)
    )
    kiosks = [k for k in session.scalars(select(KioskState)) if site is None or k.site == site]
    return {
        "wings": Counter((p.site, p.wing) for p in held.values()),
        "education": Counter(
            str(f.value) for (_, kind), f in newest.items() if kind == "education_level"
        ),
        "occupations": Counter(major for _, major in worked),
        "aptitude": [
            sum(low <= s <= high for s in scores)
            for low, high in [
                (10, 14),
                (15, 19),
                (20, 24),
                (25, 29),
                (30, 34),
                (35, 39),
                (40, 44),
                (45, 50),
            ]
        ],
        "training": {
            p.id: (
                p.capacity,
                enrolments[(p.id, "requested")] + enrolments[(p.id, "waitlisted")],
                enrolments[(p.id, "approved")],
            )
            for p in programmes
        },
        "completion": {
            form: (sum(states.values()), states["done"], states["overdue"])
            for form, states in forms.items()
        },
        "responses": dict(responses),
        "fleet": (
            sum(k.state == "online" for k in kiosks),
            sum(k.state != "online" for k in kiosks),
            sum(k.status.get("outbox_depth") or 0 for k in kiosks),
            sorted(k.device for k in kiosks if k.status.get("problems")),
        ),
        "people": len(held),
    }


def check_figures(session: Session, site: str | None) -> None:
    today = date.today()
    shown = dashboard.dashboard(session, site, health=True, today=today)
    expected = direct(session, site, today)
    assert {(w.site, w.wing): w.people for w in shown.wings} == expected["wings"]
    assert shown.in_custody == expected["people"] == shown.profiles.people
    assert shown.profiles.education == expected["education"]
    assert shown.profiles.education_unknown == expected["people"] - sum(
        expected["education"].values()
    )
    assert shown.profiles.occupations == expected["occupations"]
    assert [n for _, _, n in shown.profiles.aptitude] == expected["aptitude"]
    assert sum(expected["aptitude"]) > 0 and len(shown.profiles.education) > 3
    assert {p.id: (p.capacity, p.waiting, p.approved) for p in shown.training} == expected[
        "training"
    ]
    assert {f.form_id: (f.assigned, f.done, f.overdue) for f in shown.completion} == expected[
        "completion"
    ]
    assert shown.completion and all(f.assigned for f in shown.completion)
    assert any(f.done for f in shown.completion) and any(f.overdue for f in shown.completion)
    assert shown.responses == expected["responses"]
    fleet = shown.fleet
    troubled = sorted(k.device for k in fleet.troubled)
    assert (fleet.online, fleet.offline, fleet.outbox, troubled) == expected["fleet"]
    assert shown.urgent_alerts == 1


def test_every_figure_equals_a_direct_count(hub: sessionmaker[Session]) -> None:
    """For all establishments and for one; health figures only with ``health``; the
    population profile kept by ProfileCache until it is ``max_age`` old."""
    with hub() as session:
        for site in (None, SITE):
            check_figures(session, site)
        without = dashboard.dashboard(session, None, health=False)
        assert without.urgent_alerts is None
        assert not set(without.responses) & set(HEALTH_FORMS)
        assert not {f.form_id for f in without.completion} & set(HEALTH_FORMS)
        assert "phq9" in dashboard.dashboard(session, None, health=True).responses

        moment = [0.0]
        cache = dashboard.ProfileCache(max_age=60, clock=lambda: moment[0])
        first = cache.get(session, SITE)
        person = session.scalars(
            select(Detainee).where(Detainee.state == "in_custody", Detainee.site == SITE)
        ).first()
        assert person is not None
    _send(hub, person, "masar_intake", {"education_level": "8"})
    with hub() as session:
        moment[0] = 59
        assert cache.get(session, SITE) is first
        moment[0] = 61
        fresh = cache.get(session, SITE)
        assert fresh.education == dashboard.profiles(session, SITE).education != first.education


@pytest.fixture
def app(hub: sessionmaker[Session], database_url: str, key_file: Path) -> Iterator[Flask]:
    trail = Trail(load_key(key_file), "system:test")
    with hub.begin() as session:
        for username, role, site in (
            ("nurse", "health_staff", None),
            ("trainer", "trainer", None),
            ("rabat", "registrar", SITE),
        ):
            create_user(
                session,
                trail,
                username=username,
                name=username.title(),
                role=role,
                password=PASSWORD,
                site=site,
            )
    app = create_app(HubConfig(database_url=database_url, audit_key_file=key_file))
    yield app
    for engine in app.extensions["masar_engines"]:
        engine.dispose()


def page_of(app: Flask, username: str) -> str:
    client = app.test_client()
    login = client.post("/api/v1/session", json={"username": username, "password": PASSWORD})
    assert login.status_code in (200, 201), login.get_json()
    answer = client.get("/dashboard")
    assert answer.status_code == 200
    return answer.text


def test_the_page_shows_each_user_their_scope_and_health_only_to_health_staff(
    app: Flask,
) -> None:
    nurse, trainer, rabat = (page_of(app, name) for name in ("nurse", "trainer", "rabat"))
    assert re.search(r'id="tile-health-alerts" data-count="1"', nurse)
    assert 'href="/health"' in nurse
    assert "tile-health-alerts" not in trainer and 'href="/health"' not in trainer
    assert 'href="/training"' in trainer and 'href="/fleet"' not in trainer
    assert "phq9" not in trainer and "phq9" in nurse
    charts = ["sites", "wings", "education", "occupations", "aptitude", "training"]
    charts += ["completion", "responses", "fleet"]
    for page in (nurse, trainer, rabat):
        shown = re.findall(r'<figure class="chart" id="chart-([a-z]+)"', page)
        assert shown == [c for c in charts if page is not rabat or c != "sites"]
        assert page.count('role="img"') == page.count("<details>") == len(shown)
    assert 'id="chart-sites"' not in rabat  # one establishment: its wings only
    wings = re.findall(r'<tr data-key="([^"/]+)/[^"]*"><td>', rabat)
    assert wings and set(wings) == {SITE}
    with session_factory(app.extensions["masar_engines"][1])() as session:
        held = session.scalars(
            select(Detainee.id).where(Detainee.state == "in_custody", Detainee.site == SITE)
        ).all()
    assert f'id="in-custody" data-count="{len(held)}"' in rabat
