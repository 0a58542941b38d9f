"""The training pages in Chromium, on the seeded hub of tests/e2e/hub_site.py: a trainer
approves a waiting request and finds a decline without a reason refused beside its field,
keeps an attendance sheet and closes an enrolment, and a registrar reads the queue without
the buttons and sees whom the programme should be offered to."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

from playwright.sync_api import Page
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub import recommendations, training
from hub.audit import Trail, load_key
from hub.db import open_engine, session_factory
from hub.models import Attendance, Enrolment, Programme
from tests.e2e.conftest import log_in


@contextmanager
def database(url: str) -> Iterator[Session]:
    engine = open_engine(url)
    try:
        with session_factory(engine).begin() as session:
            yield session
    finally:
        engine.dispose()


def _trail(url: str) -> Trail:
    """The hub's own audit trail: its key lies beside its database."""
    return Trail(load_key(Path(url.removeprefix("sqlite:///")).parent / "audit.key"), "system:e2e")


def _waiting(session: Session) -> Enrolment:
    """The seed's request still waiting for a decision."""
    waiting = session.scalars(
        select(Enrolment).where(Enrolment.state == "requested").order_by(Enrolment.id)
    ).first()
    assert waiting is not None, "the seeded hub holds no waiting request"
    return waiting


def _enrolment(url: str, enrolment_id: int) -> Enrolment:
    with database(url) as session:
        found = session.get(Enrolment, enrolment_id)
        assert found is not None
        return found


def test_a_trainer_approves_a_request_and_a_decline_needs_a_reason(
    page: Page, hub_url: str, hub_database: str
) -> None:
    today = date.today()
    with database(hub_database) as session:
        first = _waiting(session)
        programme = training.get_programme(session, first.programme_id)
        if training.places_taken(session, programme.id) >= programme.capacity:
            programme.capacity += 2  # a free place, so that the approval can be given
        offered = recommendations.recommend(session, programme.id, today, limit=1)
        assert offered, "nobody else may join the programme"
        second = training.request_enrolment(
            session,
            _trail(hub_database),
            programme_id=programme.id,
            detainee_id=offered[0].detainee.id,
            via="kiosk:e2e/wing-a-1",
        )
        programme_id, first_id, second_id = programme.id, first.id, second.id

    log_in(page, hub_url, "trainer")
    page.goto(hub_url + "/training")
    page.click(f'#programmes tr[data-programme-id="{programme_id}"] a')
    page.wait_for_load_state()
    assert page.locator("#programme-title").get_attribute("data-programme-id") == programme_id
    row = page.locator(f'#queue tr[data-enrolment-id="{first_id}"]')
    assert row.get_attribute("data-state") == "requested"
    assert row.locator("a").first.get_attribute("href") == f"/detainees/{first.detainee_id}"

    row.locator('button[data-decision="approve"]').click()
    page.wait_for_load_state()
    assert page.locator("p.notice").count() == 1
    assert page.locator(f'#queue tr[data-enrolment-id="{first_id}"]').count() == 0
    decided = page.locator(f'#decisions tr[data-enrolment-id="{first_id}"]')
    assert decided.get_attribute("data-state") == "approved"
    assert _enrolment(hub_database, first_id).state == "approved"

    other = page.locator(f'#queue tr[data-enrolment-id="{second_id}"]')
    assert other.locator('td[data-via="kiosk"]').count() == 1
    other.locator('button[data-decision="decline"]').click()  # no reason written
    page.wait_for_load_state()
    other = page.locator(f'#queue tr[data-enrolment-id="{second_id}"]')
    error = other.locator(f"#reason-{second_id}-error")
    assert error.is_visible() and error.inner_text().strip()
    assert other.locator(f"#reason-{second_id}").get_attribute("aria-invalid") == "true"
    assert page.locator("p.notice").count() == 0
    assert _enrolment(hub_database, second_id).state == "requested"  # nothing changed

    other.locator(f"#reason-{second_id}").fill("Le programme ne correspond pas au projet.")
    other.locator('button[data-decision="decline"]').click()
    page.wait_for_load_state()
    assert (
        page.locator(f'#decisions tr[data-enrolment-id="{second_id}"]').get_attribute("data-state")
        == "declined"
    )
    declined = _enrolment(hub_database, second_id)
    assert declined.state == "declined"
    assert declined.reason == "Le programme ne correspond pas au projet."


def test_a_trainer_keeps_the_attendance_sheet_and_closes_an_enrolment(
    page: Page, hub_url: str, hub_database: str
) -> None:
    today = date.today()
    with database(hub_database) as session:
        running = session.execute(
            select(Programme.id, func.count())
            .join(Enrolment, Enrolment.programme_id == Programme.id)
            .where(
                Enrolment.state == "approved",
                Programme.starts_on < today,
                Programme.ends_on >= today,
            )
            .group_by(Programme.id)
            .order_by(func.count().desc(), Programme.id)
        ).first()
        assert running is not None and running[1] >= 2, "no running programme with two people"
        programme_id = running[0]
        first, second = session.scalars(
            select(Enrolment.id)
            .where(Enrolment.programme_id == programme_id, Enrolment.state == "approved")
            .order_by(Enrolment.id)
            .limit(2)
        ).all()
    day = (today - timedelta(days=1)).isoformat()

    log_in(page, hub_url, "trainer")
    page.goto(f"{hub_url}/training/{programme_id}")
    page.click("#attendance-link")
    page.wait_for_load_state()
    assert page.locator("#attendance-title").get_attribute("data-day") == today.isoformat()
    page.fill("#f-day", day)
    page.click("#show-day")
    page.wait_for_load_state()
    assert page.locator("#attendance-title").get_attribute("data-day") == day
    page.check(f'input[data-present="{first}"]')
    page.check(f'input[data-absent="{second}"]')
    page.click("#save-attendance")
    page.wait_for_load_state()
    assert page.locator("p.notice").count() == 1
    assert page.locator("#attendance-title").get_attribute("data-day") == day
    sheet = page.locator("#attendance")
    assert sheet.locator(f'tr[data-enrolment-id="{first}"]').get_attribute("data-mark") == "present"
    assert sheet.locator(f'tr[data-enrolment-id="{second}"]').get_attribute("data-mark") == "absent"
    assert page.is_checked(f'input[data-present="{first}"]')
    with database(hub_database) as session:
        marks = {
            mark.enrolment_id: mark.present
            for mark in session.scalars(
                select(Attendance).where(
                    Attendance.enrolment_id.in_([first, second]),
                    Attendance.day == date.fromisoformat(day),
                )
            )
        }
    assert marks == {first: True, second: False}

    page.select_option(f"#outcome-{first}", "completed")
    page.click(f'button[data-complete="{first}"]')
    page.wait_for_load_state()
    assert page.locator("p.notice").count() == 1
    closed = page.locator(f'#closed tr[data-enrolment-id="{first}"]')
    assert closed.get_attribute("data-state") == "completed"
    assert page.locator(f'#attendance tr[data-enrolment-id="{first}"]').count() == 0
    done = _enrolment(hub_database, first)
    assert done.state == "completed" and done.completed_at is not None


def test_a_registrar_reads_the_queue_without_buttons_and_sees_whom_to_offer_it_to(
    page: Page, hub_url: str, hub_database: str
) -> None:
    today = date.today()
    with database(hub_database) as session:
        waiting = _waiting(session)
        programme_id = waiting.programme_id

    log_in(page, hub_url, "registrar")
    page.goto(f"{hub_url}/training/{programme_id}")
    assert page.locator(f'#queue tr[data-enrolment-id="{waiting.id}"]').count() == 1
    assert page.locator("button[data-decision]").count() == 0
    assert page.locator("button[data-ask]").count() == 0
    shown = page.locator("#recommendations tr[data-detainee-id]")
    assert shown.count() > 0
    people = [shown.nth(n).get_attribute("data-detainee-id") for n in range(shown.count())]
    scores = [int(shown.nth(n).get_attribute("data-score") or "") for n in range(shown.count())]
    assert scores == sorted(scores, reverse=True)  # best fit first
    with database(hub_database) as session:
        asked = set(
            session.scalars(
                select(Enrolment.detainee_id).where(Enrolment.programme_id == programme_id)
            )
        )
        for person in people:
            assert person is not None and person not in asked
            fits = {r.programme.id: r for r in training.rank_programmes(session, person, today)}
            assert fits[programme_id].eligible, person

    page.click("#attendance-link")
    page.wait_for_load_state()
    assert page.locator("#attendance-form").count() == 0
    assert page.locator("button[data-complete]").count() == 0
