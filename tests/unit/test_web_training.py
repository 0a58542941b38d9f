"""The training pages through Flask's test client, and the recommendations behind them, on
SQLite and PostgreSQL: the catalogue with its counts, deciding requests (a decline needs a
reason, an approval a free place), who may only read, the attendance sheet and completion,
and recommendations that agree with hub.training's ranking of each person."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from hub import profiles, recommendations, training
from hub.audit import Trail
from hub.models import Attendance, AuditEntry, Detainee, Enrolment
from tests import factories
from tests.web_hub import WebHub, seeded_hub, token_of

KEY = bytes(range(32))
TODAY = date.today()
USERS: dict[str, dict[str, Any]] = {
    "tom": {"role": "trainer"},
    "rita": {"role": "registrar"},
    "amal": {"role": "registrar", "language": "ar"},
    "tina": {"role": "trainer", "site": "oujda-1"},
    "nora": {"role": "health_staff"},
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hub(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebHub]:
    """One seeded hub per database for the module; each test makes its own programme."""
    folder = tmp_path_factory.mktemp("web-training")
    with seeded_hub(request.param, folder, USERS) as hub:
        yield hub


def _programme(hub: WebHub, programme_id: str, capacity: int, people: int) -> tuple[str, list[int]]:
    """A running programme without prerequisites at the site with the most people held, and
    requests from ``people`` of them (the first from staff, the others from a kiosk)."""
    with hub.sessions.begin() as session:
        held = session.scalars(
            select(Detainee)
            .where(Detainee.state == "in_custody", Detainee.site == "casablanca-1")
            .order_by(Detainee.prison_number)
        ).all()
        assert len(held) >= people
        training.put_programme(
            session,
            hub.trail(),
            programme_id=programme_id,
            titles={"fr": f"Titre {programme_id}", "ar": f"عنوان {programme_id}"},
            provider="CFP",
            site="casablanca-1",
            capacity=capacity,
            starts_on=TODAY - timedelta(days=10),
            ends_on=TODAY + timedelta(days=30),
        )
        ids = [
            training.request_enrolment(
                session,
                hub.trail() if n == 0 else None,
                programme_id=programme_id,
                detainee_id=person.id,
                via="user:nobody-known" if n == 0 else "kiosk:casablanca-1/wing-a-1",
            ).id
            for n, person in enumerate(held[:people])
        ]
        return programme_id, ids


def _state(hub: WebHub, enrolment_id: int) -> str:
    with hub.sessions() as session:
        enrolment = session.get(Enrolment, enrolment_id)
        assert enrolment is not None
        return enrolment.state


def _row(page: str, table: str, enrolment_id: int) -> str | None:
    """The ``<tr>`` of an enrolment in one table of the page, if shown there."""
    part = page.split(f'id="{table}"', 1)
    if len(part) < 2:
        return None
    body = part[1].split("</table>", 1)[0]
    found = re.search(rf'<tr data-enrolment-id="{enrolment_id}".*?</tr>', body, re.S)
    return found.group(0) if found else None


def test_the_catalogue_shows_counts_titles_in_the_users_language_and_only_ones_site(
    hub: WebHub,
) -> None:
    programme_id, ids = _programme(hub, "catalogue-test", capacity=5, people=3)
    with hub.sessions.begin() as session:
        training.decide(session, hub.trail(), ids[0], "approve", None)
    page = hub.client("tom").get("/training").text
    row = re.search(rf'<tr data-programme-id="{programme_id}".*?</tr>', page, re.S)
    assert row is not None
    assert "Titre catalogue-test" in row.group(0)
    assert re.search(r"data-capacity>5<", row.group(0))
    assert re.search(r"data-taken>1<", row.group(0))
    assert re.search(r"data-waiting><strong>2</strong><", row.group(0))
    assert 'data-programme-id="alphabetisation-oujda-1"' in page

    arabic = hub.client("amal").get("/training").text
    assert "عنوان catalogue-test" in arabic and "Titre catalogue-test" not in arabic

    local = hub.client("tina")  # a trainer of oujda-1 sees only its programmes
    mine = local.get("/training").text
    assert 'data-programme-id="alphabetisation-oujda-1"' in mine
    assert f'data-programme-id="{programme_id}"' not in mine
    assert local.get(f"/training/{programme_id}").status_code == 404
    assert local.get(f"/training/{programme_id}/attendance").status_code == 404
    assert hub.client("nora").get("/training").status_code == 403
    assert hub.client("tom").get("/training/no-such-programme").status_code == 404


def test_a_trainer_decides_requests_and_a_registrar_only_reads_them(hub: WebHub) -> None:
    programme_id, (first, second, third) = _programme(hub, "decide-test", capacity=1, people=3)
    url = f"/training/{programme_id}"
    trainer = hub.client("tom")
    page = trainer.get(url).text
    for enrolment_id in (first, second, third):
        row = _row(page, "queue", enrolment_id)
        assert row is not None and 'data-state="requested"' in row
        assert 'data-decision="approve"' in row and 'href="/detainees/' in row
    assert 'data-via="staff"' in (_row(page, "queue", first) or "")
    assert 'data-via="kiosk"' in (_row(page, "queue", second) or "")
    token = token_of(page)

    def decide(enrolment_id: int, **form: str) -> Any:
        target = f"{url}/enrolments/{enrolment_id}/decision"
        return trainer.post(target, data={"csrf_token": token, **form})

    with hub.sessions() as session:
        audited = len(session.scalars(select(AuditEntry)).all())
    refused = decide(third, decision="decline", reason="   ")
    assert refused.status_code == 422
    assert f'id="reason-{third}-error"' in refused.text
    assert _state(hub, third) == "requested"
    with hub.sessions() as session:
        assert len(session.scalars(select(AuditEntry)).all()) == audited  # nothing written

    approved = decide(first, decision="approve")
    assert approved.status_code == 302 and approved.headers["Location"].endswith(url)
    after = trainer.get(url).text
    assert 'class="notice"' in after
    assert _row(after, "queue", first) is None
    assert 'data-state="approved"' in (_row(after, "decisions", first) or "")
    assert 'data-taken="1"' in after
    assert _state(hub, first) == "approved"

    full = decide(second, decision="approve")  # one place, and it is taken
    assert full.status_code == 422
    assert f'id="decision-{second}-error"' in full.text
    assert _state(hub, second) == "requested"
    assert decide(second, decision="waitlist").status_code == 302
    assert 'data-state="waitlisted"' in (_row(trainer.get(url).text, "queue", second) or "")
    assert decide(third, decision="decline", reason="Pas de place").status_code == 302
    with hub.sessions() as session:
        declined = session.get(Enrolment, third)
        assert declined is not None and declined.state == "declined"
        assert declined.reason == "Pas de place"
    again = decide(third, decision="approve")  # already decided: said, nothing changes
    assert again.status_code == 422 and 'role="alert"' in again.text
    assert _state(hub, third) == "declined"

    assert trainer.post(f"{url}/enrolments/{second}/decision").status_code == 400  # no CSRF
    registrar = hub.client("rita")
    read = registrar.get(url)
    assert read.status_code == 200
    assert _row(read.text, "queue", second) is not None
    assert "data-decision" not in read.text and "data-ask" not in read.text
    refused_role = registrar.post(
        f"{url}/enrolments/{second}/decision",
        data={"csrf_token": token_of(read.text), "decision": "approve"},
    )
    assert refused_role.status_code == 403
    assert _state(hub, second) == "waitlisted"


def test_the_programme_page_reads_a_bounded_number_of_statements(hub: WebHub) -> None:
    programme_id, _ = _programme(hub, "queries-test", capacity=30, people=10)
    statements: list[str] = []
    writer = hub.app.extensions["masar_engines"][1]
    client = hub.client("tom")

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(writer, "before_cursor_execute", count)
    try:
        page = client.get(f"/training/{programme_id}")
    finally:
        event.remove(writer, "before_cursor_execute", count)
    assert page.status_code == 200
    assert page.text.count("<tr data-enrolment-id=") == 10
    assert len(statements) <= 25, statements
    with hub.sessions() as session:  # the queue comes a page at a time, oldest first
        whole = recommendations.queue_page(session, programme_id, 1, 50)
        second = recommendations.queue_page(session, programme_id, 2, 4)
        past_the_end = recommendations.queue_page(session, programme_id, 99, 4)
    assert whole.waiting == 10 and whole.pages == 1 and second.pages == 3
    oldest_first = [row.enrolment.id for row in whole.rows]
    assert [row.enrolment.id for row in second.rows] == oldest_first[4:8]
    assert past_the_end.page == 3 and len(past_the_end.rows) == 2


def test_staff_ask_for_a_place_for_a_recommended_person(hub: WebHub) -> None:
    programme_id, _ = _programme(hub, "ask-test", capacity=30, people=1)
    trainer = hub.client("tom")
    page = trainer.get(f"/training/{programme_id}").text
    recommended = re.findall(r'data-ask="([^"]+)"', page)
    assert recommended, "nobody recommended"
    person = recommended[0]
    done = trainer.post(
        f"/training/{programme_id}/requests",
        data={"csrf_token": token_of(page), "detainee_id": person},
    )
    assert done.status_code == 302
    after = trainer.get(f"/training/{programme_id}").text
    assert f'data-ask="{person}"' not in after  # asked now: in the queue instead
    with hub.sessions() as session:
        asked = session.scalars(
            select(Enrolment).where(
                Enrolment.programme_id == programme_id, Enrolment.detainee_id == person
            )
        ).one()
        assert asked.state == "requested" and asked.requested_via.startswith("user:")
    assert _row(after, "queue", asked.id) is not None


def test_attendance_for_a_day_and_completion(hub: WebHub) -> None:
    programme_id, (first, second, third) = _programme(hub, "attend-test", capacity=5, people=3)
    with hub.sessions.begin() as session:
        for enrolment_id in (first, second):
            training.decide(session, hub.trail(), enrolment_id, "approve", None)
    url = f"/training/{programme_id}/attendance"
    trainer = hub.client("tom")
    page = trainer.get(url).text
    assert f'data-day="{TODAY.isoformat()}"' in page  # today by default
    assert _row(page, "attendance", third) is None  # only approved people are on the sheet
    token = token_of(page)
    day = (TODAY - timedelta(days=2)).isoformat()

    def save(**form: str) -> Any:
        return trainer.post(url, data={"csrf_token": token, **form})

    nothing = save(day=day)
    assert nothing.status_code == 422 and 'id="form-error"' in nothing.text
    outside = save(day=(TODAY + timedelta(days=90)).isoformat(), **{f"present-{first}": "1"})
    assert outside.status_code == 422 and 'id="day-error"' in outside.text
    assert f'data-present="{first}" checked' in outside.text  # what was chosen is kept
    bad = save(day="12/31/2026", **{f"present-{first}": "1"})
    assert bad.status_code == 422 and 'id="day-error"' in bad.text
    done = save(day=day, **{f"present-{first}": "1", f"present-{second}": "0"})
    assert done.status_code == 302 and done.headers["Location"].endswith(f"day={day}")
    with hub.sessions() as session:
        marks = {
            a.enrolment_id: a.present
            for a in session.scalars(
                select(Attendance).where(Attendance.enrolment_id.in_([first, second]))
            )
        }
    assert marks == {first: True, second: False}
    shown = trainer.get(url, query_string={"day": day}).text
    assert 'data-mark="present"' in (_row(shown, "attendance", first) or "")
    assert 'data-mark="absent"' in (_row(shown, "attendance", second) or "")
    assert 'data-days-present="1"' in (_row(shown, "attendance", first) or "")
    other_day = trainer.get(url, query_string={"day": TODAY.isoformat()}).text
    assert 'data-mark="none"' in (_row(other_day, "attendance", first) or "")
    wrong = trainer.get(url, query_string={"day": "yesterday"})
    assert wrong.status_code == 200 and 'id="day-error"' in wrong.text

    complete = f"/training/{programme_id}/enrolments/{first}/completion"
    missing = trainer.post(complete, data={"csrf_token": token, "day": day})
    assert missing.status_code == 422 and f'id="outcome-{first}-error"' in missing.text
    assert _state(hub, first) == "approved"
    closed = trainer.post(complete, data={"csrf_token": token, "day": day, "outcome": "completed"})
    assert closed.status_code == 302
    assert _state(hub, first) == "completed"
    after = trainer.get(url, query_string={"day": day}).text
    assert 'data-state="completed"' in (_row(after, "closed", first) or "")
    assert _row(after, "attendance", first) is None

    registrar = hub.client("rita").get(url, query_string={"day": day}).text
    assert _row(registrar, "attendance", second) is not None
    assert 'id="attendance-form"' not in registrar and "data-complete" not in registrar


# --- recommendations against the ranking of each person ---------------------------------------


SITE = "testville-1"


def _people(session: Session, rng: random.Random) -> None:
    """Forty people at one site with facts that speak for or against a welding programme,
    in the spellings and types facts arrive in, and a few elsewhere or released."""
    for n in range(40):
        person = f"p{n:02d}"
        site = SITE if n < 36 else "elsewhere-1"
        factories.admit(session, person, site=site, literate=rng.random() < 0.8)
        detainee = session.get(Detainee, person)
        assert detainee is not None
        detainee.name_latin = rng.choice(["Amine", "Badr", "Chaima", "Driss"]) + f" {n % 7}"
        detainee.expected_release_date = rng.choice(
            [
                None,
                TODAY + timedelta(days=20),
                TODAY + timedelta(days=70),
                TODAY + timedelta(days=900),
            ]
        )
        if n in (5, 6):
            detainee.state = "released"

        def fact(name: str, value: Any, form: str = "masar_intake", person: str = person) -> None:
            origin = profiles.FactSource("self_declared", f"kiosk:{SITE}/wing-a-1", form, "1", name)
            profiles.record_fact(session, person, name, value, origin)

        if rng.random() < 0.8:
            fact("education_level", rng.choice(["0", "1", "2", "3", "5", 1, 4]))
        for _ in range(rng.randint(0, 2)):
            fact("occupation", rng.choice(["7212", "72", "7", "5120", "9111"]))
        if rng.random() < 0.4:
            fact("occupation", rng.choice(["7212", "7", "5120"]), "masar_wishes")
        for _ in range(rng.randint(0, 2)):
            fact("skill", rng.choice(["welding", "Welding", "WELDING", "cooking"]))
        if rng.random() < 0.4:
            fact("wish", rng.choice(["welding", "cooking", "farming"]), "masar_wishes")


def _exact(session: Session, programme_id: str) -> list[tuple[str, int]]:
    """Everyone who may join and has not asked, ranked by rank_programmes for each person."""
    programme = training.get_programme(session, programme_id)
    asked = set(
        session.scalars(select(Enrolment.detainee_id).where(Enrolment.programme_id == programme_id))
    )
    found = []
    for person in session.scalars(
        select(Detainee).where(Detainee.site == programme.site, Detainee.state == "in_custody")
    ):
        if person.id in asked:
            continue
        for ranked in training.rank_programmes(session, person.id, TODAY):
            if ranked.programme.id == programme_id and ranked.eligible:
                found.append((person.name_latin, person.id, ranked.score))
    found.sort(key=lambda f: (-f[2], f[0], f[1]))
    return [(person_id, score) for _, person_id, score in found]


def test_recommendations_follow_the_ranking_of_each_person(
    sessions: sessionmaker[Session],
) -> None:
    rng = random.Random(11)
    trail = Trail(KEY, "system:test")
    with sessions.begin() as session:
        _people(session, rng)

        def programme(programme_id: str, capacity: int = 10, **rules: Any) -> None:
            training.put_programme(
                session,
                trail,
                programme_id=programme_id,
                titles={"fr": programme_id},
                provider="CFP",
                site=SITE,
                capacity=capacity,
                starts_on=TODAY + timedelta(days=5),
                ends_on=TODAY + timedelta(days=60),
                **rules,
            )

        programme(
            "welding",
            min_isced=2,
            requires_literacy=True,
            min_days_before_release=30,
            isco_codes=("7212",),
            skills=("welding",),
        )
        programme("kitchen", isco_codes=("5120",), skills=("cooking",))
        programme("open")  # nothing for or against anyone but release dates
        programme("full", capacity=1, skills=("welding",))
        programme("gone", active=False)
        training.request_enrolment(
            session, trail, programme_id="welding", detainee_id="p01", via="user:x"
        )
        taken = training.request_enrolment(
            session, trail, programme_id="full", detainee_id="p02", via="user:x"
        )
        training.decide(session, trail, taken.id, "approve", None)

    with sessions() as session:
        for programme_id in ("welding", "kitchen", "open", "full"):
            exact = _exact(session, programme_id)
            assert exact, programme_id
            for limit in (1, 2, 3, 5, 50):
                found = recommendations.recommend(session, programme_id, TODAY, limit)
                got = [(r.detainee.id, r.score) for r in found]
                assert got == exact[:limit], (programme_id, limit)
        welding = recommendations.recommend(session, "welding", TODAY)
        assert "p01" not in {r.detainee.id for r in welding}  # already asked
        assert all(r.detainee.site == SITE and r.detainee.literate for r in welding)
        top = welding[0]
        assert top.wished_job or top.past_job or top.wished_skills or top.held_skills
        assert recommendations.recommend(session, "gone", TODAY) == []
