"""The detainee search, the detainee file and the partners' referral list through Flask's test
client, on SQLite and PostgreSQL, on a small seeded hub: who may open what, which sections
each role sees, site scoping, health answers for health staff only, verifying a fact, and a
partner who sees only the people who consented."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from hub.audit import Trail
from hub.detainee_file import consented_files
from hub.models import AuditEntry, Detainee, Event, ProfileFact
from hub.plans import consented_detainees, give_consent
from tests.web_hub import WebHub, seeded_hub, token_of

PARTNER = "fondation-x"
SITE_OF_OFFICER = "rabat-1"


USERS: dict[str, dict[str, Any]] = {
    "rita": {"role": "registrar"},
    "omar": {"role": "wing_officer", "site": SITE_OF_OFFICER},
    "tom": {"role": "trainer"},
    "nora": {"role": "health_staff"},
    "sami": {"role": "social_worker"},
    "fx": {"role": "partner", "partner": PARTNER},
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hub(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebHub]:
    """One seeded hub per database for the whole module (seeding and password hashing are
    what cost): each test works on its own people, partners and facts, so order is free."""
    folder = tmp_path_factory.mktemp("web-detainees")
    with seeded_hub(request.param, folder, USERS) as hub:
        yield hub


def _responder(session: Session, form_id: str) -> str:
    """Someone who sent this questionnaire from a kiosk."""
    for found in session.scalars(select(Event).where(Event.type == "questionnaire.response")):
        if found.body["form_id"] == form_id and found.subject is not None:
            return found.subject
    raise AssertionError(f"the seed sent no {form_id} response")


def _ids(page: str) -> set[str]:
    return set(re.findall(r'<tr data-detainee-id="([^"]+)"', page))


def test_search_finds_by_number_and_names_within_the_users_site(hub: WebHub) -> None:
    with hub.sessions() as session:
        person = session.scalars(select(Detainee).order_by(Detainee.prison_number)).first()
        assert person is not None
        elsewhere = session.scalars(
            select(Detainee).where(Detainee.site != SITE_OF_OFFICER).limit(1)
        ).one()
    registrar = hub.client("rita")
    assert 'id="search-empty"' in registrar.get("/detainees").text
    assert 'id="search-none"' in registrar.get("/detainees?q=Zzyzx Qwrtp").text
    by_number = registrar.get("/detainees", query_string={"q": person.prison_number}).text
    assert _ids(by_number) == {person.id}
    by_arabic = registrar.get("/detainees", query_string={"q": person.name_arabic}).text
    assert person.id in _ids(by_arabic)
    assert f'lang="ar" dir="rtl">{person.name_arabic}<' in by_arabic
    assert f'href="/detainees/{person.id}"' in by_arabic

    officer = hub.client("omar")  # tied to one establishment: never sees another's people
    other = officer.get("/detainees", query_string={"q": elsewhere.prison_number}).text
    assert elsewhere.id not in _ids(other)
    assert officer.get(f"/detainees/{elsewhere.id}").status_code == 404

    partner = hub.client("fx")
    assert partner.get("/detainees").status_code == 403
    assert partner.get(f"/detainees/{person.id}").status_code == 403


def test_each_role_sees_only_the_sections_its_permissions_cover(hub: WebHub) -> None:
    with hub.sessions() as session:
        screened = _responder(session, "phq9")
        local = session.scalars(
            select(Detainee.id).where(Detainee.site == SITE_OF_OFFICER).limit(1)
        ).one()
    sections = ("facts", "questionnaires", "training", "movements", "plan", "referrals")

    def shown(page: str) -> set[str]:
        return {s for s in sections if f'id="{s}"' in page}

    officer = hub.client("omar").get(f"/detainees/{local}").text
    assert 'id="identity"' in officer and shown(officer) == {"movements"}
    trainer = hub.client("tom").get(f"/detainees/{screened}")
    assert trainer.status_code == 200
    assert 'id="identity"' in trainer.text and 'id="timeline"' in trainer.text
    assert shown(trainer.text) == {"facts", "questionnaires", "training", "plan", "referrals"}
    assert "phq9" not in trainer.text  # neither answers, nor the response, nor its timeline entry

    nurse = hub.client("nora").get(f"/detainees/{screened}").text
    assert shown(nurse) == {"questionnaires"}
    assert 'data-form="phq9"' in nurse and 'data-question="phq9_9"' in nurse
    with hub.sessions() as session:
        read = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "health.read", AuditEntry.subject == screened
            )
        ).all()
        assert [entry.actor.startswith("user:") for entry in read] == [True]


def test_the_file_takes_a_bounded_number_of_queries(hub: WebHub) -> None:
    with hub.sessions() as session:
        person = _responder(session, "masar_intake")
    client = hub.client("sami")
    statements: list[str] = []
    writer = hub.app.extensions["masar_engines"][1]

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(writer, "before_cursor_execute", count)
    try:
        page = client.get(f"/detainees/{person}")
    finally:
        event.remove(writer, "before_cursor_execute", count)
    assert page.status_code == 200
    assert 'data-action="questionnaire.response"' in page.text
    assert len(statements) <= 25, statements


def test_a_registrar_verifies_a_self_declared_fact(hub: WebHub) -> None:
    with hub.sessions() as session:
        fact = session.scalars(
            select(ProfileFact)
            .where(ProfileFact.provenance == "self_declared", ProfileFact.superseded_by.is_(None))
            .order_by(ProfileFact.id)
        ).first()
        assert fact is not None
        person, fact_id = fact.detainee_id, fact.id
    registrar = hub.client("rita")
    page = registrar.get(f"/detainees/{person}").text
    assert f'data-verify="{fact_id}"' in page
    target = f"/detainees/{person}/facts/{fact_id}/verify"
    assert registrar.post(target).status_code == 400  # no CSRF token: refused
    assert hub.client("omar").post(target, data={"csrf_token": "x"}).status_code == 403
    done = registrar.post(target, data={"csrf_token": token_of(page)})
    assert done.status_code == 302 and done.headers["Location"].endswith(
        f"/detainees/{person}#facts"
    )
    with hub.sessions() as session:
        old = session.get(ProfileFact, fact_id)
        assert old is not None and old.superseded_by is not None
        new = session.get(ProfileFact, old.superseded_by)
        assert new is not None and new.provenance == "staff_verified" and new.value == old.value
        audit = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "profile.verify")
        ).one()
        assert audit.subject == person and audit.details["replaces"] == fact_id
    after = registrar.get(f"/detainees/{person}").text
    assert re.search(
        rf'data-fact-id="{old.superseded_by}".*?class="badge staff_verified"', after, re.S
    )
    again = registrar.post(target, data={"csrf_token": token_of(page)})
    assert again.status_code == 409
    elsewhere = f"/detainees/{person}x/facts/{fact_id}/verify"
    assert registrar.post(elsewhere, data={"csrf_token": token_of(page)}).status_code == 404


def test_a_partner_sees_only_the_people_who_consented_to_share_with_it(hub: WebHub) -> None:
    with hub.sessions.begin() as session:
        people = session.scalars(select(Detainee).order_by(Detainee.id).limit(3)).all()
        trail = Trail(hub.key, "system:test")
        give_consent(session, trail, people[0].id, PARTNER, ["identity", "skills"])
        give_consent(session, trail, people[1].id, PARTNER, ["skills"])
        give_consent(session, trail, people[2].id, "another-partner", ["identity"])
        shared = consented_detainees(session, PARTNER)
        total, rows = consented_files(session, PARTNER)
        assert total == 2 and [person.id for _consent, person in rows] == shared
        named, unnamed = people[0], people[1]
    partner = hub.client("fx")
    assert partner.get("/").headers["Location"] == "/referrals"
    page = partner.get("/referrals").text
    assert _ids(page) == set(shared)
    assert named.name_latin in page and unnamed.name_latin not in page  # identity not shared
    assert unnamed.prison_number not in page and named.prison_number not in page
    link = re.search(rf'href="(/api/v1/referrals/[^"]+/{named.id}/file.pdf[^"]*)"', page)
    assert link is not None
    pdf = partner.get(link.group(1).replace("&amp;", "&"))
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert partner.get(f"/api/v1/referrals/{PARTNER}/{people[2].id}/file.csv").status_code == 403

    social = hub.client("sami")
    chooser = social.get("/referrals").text
    assert 'id="f-partner"' in chooser and "another-partner" in chooser
    other = social.get("/referrals", query_string={"partner": "another-partner"}).text
    assert _ids(other) == {people[2].id}
    assert 'data-export="pdf"' in social.get(f"/detainees/{named.id}").text
    trainer = hub.client("tom")  # reads plans and consents, but exports nothing
    assert trainer.get("/referrals").status_code == 403
    on_file = trainer.get(f"/detainees/{named.id}").text
    assert 'id="referrals"' in on_file and f'data-partner="{PARTNER}"' in on_file
    assert "data-export" not in on_file
    assert partner.get("/fleet").status_code == 403
