"""The health and movements pages in Chromium, on the seeded hub: the nurse takes charge of
the urgent alert, a trainer is refused health pages (and the attempt is audited), and the
registrar and the admin follow live counts per wing and the movement log."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Page
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.db import open_engine, session_factory
from hub.models import AuditEntry, Detainee, Device, HealthAlert, Movement, Screening, User
from tests.e2e.conftest import log_in


@contextmanager
def database(url: str) -> Iterator[Session]:
    engine = open_engine(url)
    try:
        with session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


def user_id(url: str, username: str) -> str:
    with database(url) as session:
        found = session.scalar(select(User.id).where(User.username == username))
        assert found is not None
        return found


def nav_links(page: Page) -> set[str]:
    return {a.get_attribute("href") or "" for a in page.locator("header nav a").all()}


def test_the_nurse_acknowledges_the_urgent_alert(
    page: Page, hub_url: str, hub_database: str
) -> None:
    nurse = user_id(hub_database, "nurse")
    with database(hub_database) as session:
        alert = session.scalars(select(HealthAlert)).one()  # the seeded urgent PHQ-9
        assert alert.acknowledged_at is None
        alert_id, person_id = alert.id, alert.detainee_id
        screenings = session.scalar(select(func.count()).where(Screening.detainee_id == person_id))
    log_in(page, hub_url, "nurse")
    assert "/health" in nav_links(page)
    page.goto(hub_url + "/health")
    row = page.locator(f'#open-alerts tr[data-alert-id="{alert_id}"]')
    assert row.count() == 1
    assert row.locator("a[data-person]").get_attribute("href") == f"/detainees/{person_id}"
    assert row.locator(".badge.urgent").count() == 1
    assert page.locator("#recent-screenings tr[data-screening-id]").count() >= 1

    row.locator("textarea[name=note]").fill("Seen at the clinic; follow-up on Monday.")
    row.locator("button[name=acknowledge]").click()
    page.wait_for_load_state()
    assert page.locator("#open-alerts tr[data-alert-id]").count() == 0
    done = page.locator(f'#acknowledged-alerts tr[data-alert-id="{alert_id}"]')
    assert done.locator("[data-acknowledged-by]").inner_text() == "Nurse"
    with database(hub_database) as session:
        stored = session.get(HealthAlert, alert_id)
        assert stored is not None and stored.acknowledged_at is not None
        assert stored.acknowledged_by == f"user:{nurse}"
        assert stored.note == "Seen at the clinic; follow-up on Monday."

    done.locator(f'a[data-health-person="{person_id}"]').click()
    page.wait_for_load_state()
    assert page.locator("#health-person").get_attribute("data-person-id") == person_id
    assert page.locator("#screenings tr[data-screening-id]").count() == screenings
    assert page.locator(f'#acknowledged-alerts tr[data-alert-id="{alert_id}"]').count() == 1
    with database(hub_database) as session:
        reads = session.scalars(
            select(AuditEntry.details).where(
                AuditEntry.action == "health.read",
                AuditEntry.subject == person_id,
                AuditEntry.actor == f"user:{nurse}",
            )
        ).all()
        assert sorted(d["what"] for d in reads) == ["alerts", "screenings"]


def test_a_trainer_gets_the_refusal_page_for_health_and_the_attempt_is_audited(
    page: Page, hub_url: str, hub_database: str
) -> None:
    trainer = user_id(hub_database, "trainer")
    log_in(page, hub_url, "trainer")
    assert "/health" not in nav_links(page)
    answer = page.goto(hub_url + "/health")
    assert answer is not None and answer.status == 403
    assert page.locator(".trouble").count() == 1
    assert page.locator("#open-alerts").count() == 0
    with database(hub_database) as session:
        refused = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "health.refused")
        ).all()
        assert [(e.actor, e.details["path"], e.details["role"]) for e in refused] == [
            (f"user:{trainer}", "/health", "trainer")
        ]
        assert session.scalar(select(func.count()).where(AuditEntry.action == "health.read")) == 0


def wing_counts(url: str, site: str) -> dict[str, int]:
    """People in custody per wing of a site, and the site's kiosk wings with nobody."""
    with database(url) as session:
        rows = session.execute(
            select(Detainee.wing, func.count())
            .where(Detainee.site == site, Detainee.state == "in_custody")
            .where(Detainee.wing.is_not(None))
            .group_by(Detainee.wing)
        ).all()
        held = {str(wing): int(n) for wing, n in rows}
        for wing in session.scalars(select(Device.wing).where(Device.site == site)):
            held.setdefault(wing, 0)
        return dict(held)


def shown_counts(page: Page) -> dict[str, int]:
    return {
        row.get_attribute("data-wing") or "": int(
            row.locator("[data-in-custody]").get_attribute("data-in-custody") or -1
        )
        for row in page.locator("#wing-counts tr[data-wing]").all()
    }


def shown_events(page: Page) -> set[str]:
    return {
        row.get_attribute("data-event-id") or ""
        for row in page.locator("#movement-log tr[data-event-id]").all()
    }


def test_the_registrar_follows_live_counts_and_the_movement_log_but_not_health(
    page: Page, hub_url: str, hub_database: str
) -> None:
    with database(hub_database) as session:
        logged = session.execute(select(Movement.event_id, Movement.site, Movement.device)).all()
    assert len(logged) == 15  # the seed's movement.verified events
    log_in(page, hub_url, "registrar")
    links = nav_links(page)
    assert "/movements" in links and "/health" not in links

    page.goto(hub_url + "/movements")
    assert page.locator('meta[http-equiv="refresh"]').get_attribute("content") == "30"
    first = page.locator("#f-site").input_value()
    assert shown_counts(page) == wing_counts(hub_database, first)
    other = next(site for _e, site, _d in logged if site != first)
    page.select_option("#f-site", other)
    page.locator("#site-chooser button").click()
    page.wait_for_load_state()
    assert f"site={other}" in page.url
    assert shown_counts(page) == wing_counts(hub_database, other)

    page.click("#log-link")
    page.wait_for_load_state()
    assert shown_events(page) == {e for e, site, _d in logged if site == other}
    page.select_option("#f-site", "")  # every establishment
    page.locator("#log-filters button.primary").click()
    page.wait_for_load_state()
    assert shown_events(page) == {e for e, _s, _d in logged}
    rows = page.locator("#movement-log tr[data-event-id] a[data-person]")
    assert (rows.first.get_attribute("href") or "").startswith("/detainees/")
    wing = logged[0][2].split("-")[1]  # checked at wing-<wing>-2
    page.select_option("#f-wing", wing)
    page.locator("#log-filters button.primary").click()
    page.wait_for_load_state()
    assert shown_events(page) == {e for e, _s, d in logged if d.split("-")[1] == wing}

    page.context.clear_cookies()
    log_in(page, hub_url, "admin")
    assert "/health" not in nav_links(page)
    page.goto(hub_url + "/movements")
    first = page.locator("#f-site").input_value()
    assert shown_counts(page) == wing_counts(hub_database, first)
