"""The detainee search, the detainee file and the partners' referral files in Chromium, on the
seeded hub of tests/e2e/hub_site.py: search in Arabic and Latin script (with a spelling
variant), a kiosk questionnaire response in the timeline, a registrar verifying a fact,
health answers hidden from a trainer, and a partner who sees only consented files."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.audit import Trail, load_key
from hub.db import open_engine, session_factory
from hub.models import Detainee, Event, ProfileFact, QuestionnaireVersion
from hub.plans import give_consent
from hub.search import skeleton
from tests.e2e.conftest import SMALL, log_in
from tests.e2e.hub_site import PARTNER

# Latin spellings of one Arabic given name, each with another the search must find it by.
VARIANTS = {"Mohammed": "Muhammad", "Mohamed": "Mohammed", "Muhammad": "Mohamed"}


@contextmanager
def database(url: str) -> Iterator[Session]:
    engine = open_engine(url)
    try:
        with session_factory(engine).begin() as session:
            yield session
    finally:
        engine.dispose()


def _response(session: Session, form_id: str) -> Event:
    """A questionnaire response a kiosk sent for this form (the seed sends them)."""
    for found in session.scalars(
        select(Event).where(Event.type == "questionnaire.response").order_by(Event.id)
    ):
        if found.body["form_id"] == form_id and found.subject is not None:
            return found
    raise AssertionError(f"the seeded hub holds no {form_id} response")


def _search(page: Page, hub_url: str, words: str) -> None:
    page.goto(hub_url + "/detainees")
    page.fill("#f-q", words)
    page.click("#search-button")
    page.wait_for_load_state()


def test_search_finds_a_person_in_arabic_and_in_latin_script_with_a_variant(
    page: Page, hub_url: str, hub_database: str
) -> None:
    with database(hub_database) as session:
        people = session.scalars(select(Detainee).order_by(Detainee.prison_number)).all()
        arabic = people[0]
        latin = next(p for p in people if p.name_latin.split()[0] in VARIANTS)
        given, *rest = latin.name_latin.split()
        variant = " ".join([VARIANTS[given], *rest])
    assert (
        skeleton(VARIANTS[given].lower()) == skeleton(given.lower()) and variant != latin.name_latin
    )
    log_in(page, hub_url, "registrar")

    _search(page, hub_url, "")
    assert page.locator("#search-empty").count() == 1

    _search(page, hub_url, arabic.name_arabic)
    row = page.locator(f'tr[data-detainee-id="{arabic.id}"]')
    assert row.count() == 1
    assert row.locator('[lang="ar"][dir="rtl"]').inner_text() == arabic.name_arabic

    _search(page, hub_url, variant)
    assert page.locator(f'tr[data-detainee-id="{latin.id}"]').count() == 1
    page.click(f'tr[data-detainee-id="{latin.id}"] a >> nth=0')
    page.wait_for_load_state()
    assert page.url.endswith(f"/detainees/{latin.id}")
    assert page.locator("#prison-number").inner_text() == latin.prison_number

    _search(page, hub_url, "Qwzx Zyxw")
    assert page.locator("#search-none").count() == 1


def test_the_file_shows_a_kiosk_response_a_verified_fact_and_health_answers_to_the_nurse_only(
    browser: Browser, page: Page, hub_url: str, hub_database: str
) -> None:
    with database(hub_database) as session:
        screened = _response(session, "phq9").subject
        response = _response(session, "masar_intake")
        person = response.subject
        version = session.get(
            QuestionnaireVersion, (response.body["form_id"], response.body["form_version"])
        )
        assert version is not None and person is not None
        title = version.titles["fr"]
        kiosk = f"{response.site}/{response.device}"
        fact = session.scalars(
            select(ProfileFact)
            .where(
                ProfileFact.detainee_id == person,
                ProfileFact.provenance == "self_declared",
                ProfileFact.superseded_by.is_(None),
            )
            .order_by(ProfileFact.id)
        ).first()
        assert fact is not None
        fact_id = fact.id
    log_in(page, hub_url, "registrar")
    page.goto(f"{hub_url}/detainees/{person}")

    entry = page.locator(
        f'#timeline tr[data-action="questionnaire.response"][data-form="masar_intake"]'
        f'[data-kiosk="{kiosk}"]'
    )
    assert entry.count() == 1
    assert title in entry.inner_text() and kiosk in entry.inner_text()
    answered = page.locator('#questionnaires details[data-form="masar_intake"]')
    assert answered.count() == 1
    answered.locator("summary").click()
    assert answered.locator("tr[data-question]").count() >= 1

    badge = page.locator(f'#facts tr[data-fact-id="{fact_id}"] .badge')
    assert badge.get_attribute("data-provenance") == "self_declared"
    page.click(f'#facts tr[data-fact-id="{fact_id}"] button[data-verify]')
    page.wait_for_load_state()
    with database(hub_database) as session:
        verified = session.get(ProfileFact, fact_id)
        assert verified is not None and verified.superseded_by is not None
        new_id = verified.superseded_by
    assert page.locator(f'#facts tr[data-fact-id="{fact_id}"]').count() == 0
    new_badge = page.locator(f'#facts tr[data-fact-id="{new_id}"] .badge')
    assert new_badge.get_attribute("class") == "badge staff_verified"
    assert page.locator('#timeline tr[data-action="profile.verify"]').count() == 1

    # The trainer reads profiles and questionnaires, but no health answers.
    log_in(page, hub_url, "trainer")
    page.goto(f"{hub_url}/detainees/{screened}")
    assert page.locator("#identity").count() == 1 and page.locator("#facts").count() == 1
    assert page.locator("#questionnaires").count() == 1
    assert page.locator('[data-form="phq9"]').count() == 0
    assert page.locator('[data-question^="phq9"]').count() == 0
    assert "phq9" not in page.content()

    context = browser.new_context(viewport=SMALL, locale="fr-FR")
    nurse = context.new_page()
    try:
        log_in(nurse, hub_url, "nurse")
        nurse.goto(f"{hub_url}/detainees/{screened}")
        assert nurse.locator('#questionnaires [data-form="phq9"]').count() >= 1
        assert nurse.locator('[data-question="phq9_9"]').count() >= 1
        assert nurse.locator("#facts").count() == 0  # health staff do not read profiles
    finally:
        context.close()


def test_a_partner_sees_only_consented_files_and_cannot_open_detainees(
    page: Page, hub_url: str, hub_database: str
) -> None:
    key = load_key(Path(hub_database.removeprefix("sqlite:///")).with_name("audit.key"))
    with database(hub_database) as session:
        people = session.scalars(select(Detainee).order_by(Detainee.id).limit(3)).all()
        trail = Trail(key, "system:e2e")
        give_consent(session, trail, people[0].id, PARTNER, ["identity", "skills", "plan"])
        give_consent(session, trail, people[1].id, PARTNER, ["education"])
        give_consent(session, trail, people[2].id, "another-foundation", ["identity"])
        shared = {people[0].id, people[1].id}
    log_in(page, hub_url, "partner")
    assert page.url.endswith("/referrals")
    rows = page.locator("#partner-files tr[data-detainee-id]")
    assert {rows.nth(i).get_attribute("data-detainee-id") for i in range(rows.count())} == shared
    with page.expect_download() as download:
        page.click(f'tr[data-detainee-id="{people[0].id}"] a[data-export="pdf"]')
    assert download.value.suggested_filename == f"masar-{people[0].id}.pdf"

    refused = page.goto(hub_url + "/detainees")
    assert refused is not None and refused.status == 403
    refused = page.goto(f"{hub_url}/detainees/{people[0].id}")
    assert refused is not None and refused.status == 403
    assert page.locator('nav a[href="/detainees"]').count() == 0
    refused = page.goto(hub_url + "/fleet")
    assert refused is not None and refused.status == 403
