"""The health and movements pages through Flask's test client, on SQLite and PostgreSQL: a
person's health page is audited, acknowledging needs the form's CSRF token and is refused
whole without it, and the movements pages keep a user to their establishment."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from hub import health, movements, roster
from hub.audit import Trail, verify
from hub.ingest import apply_batch
from hub.models import AuditEntry, HealthAlert
from hub.questionnaires import scoring
from protocol import uuid7
from protocol.events import MovementVerified, MovementVerifiedEvent
from protocol.ids import utc_now
from tests.api_client import Hub, running_hub
from tests.factories import admit
from tests.factories import incoming as wire
from tests.web_hub import logged_in, token_of

NASTY = "<script>alert('x')</script> \"; DROP TABLE health_alerts;-- & 1=1"


@pytest.fixture
def hub(database_url: str, tmp_path: Path) -> Iterator[Hub]:
    with running_hub(database_url, tmp_path) as running:
        yield running


def log_in(hub: Hub, username: str) -> FlaskClient:
    return logged_in(hub.app, username)


def urgent_person(hub: Hub) -> tuple[str, int]:
    """A detainee with an urgent PHQ-9 (item 9 above 0) from a kiosk: (id, alert id)."""
    with hub.sessions.begin() as session:
        admit(session, "d-1", site="rabat-1", wing="a")
        answers = dict.fromkeys(scoring.PHQ9_ITEMS, "1")
        health.record_screening(
            session,
            detainee_id="d-1",
            instrument_form_id="phq9",
            answers=answers,
            source="kiosk:rabat-1/wing-a-1",
            taken_at=utc_now() - timedelta(hours=1),
        )
        alert = session.scalars(select(HealthAlert)).one()
        return "d-1", alert.id


def entries(hub: Hub, action: str) -> list[AuditEntry]:
    with hub.sessions() as session:
        query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        return list(session.scalars(query))


def alert_state(hub: Hub, alert_id: int) -> tuple[Any, ...]:
    with hub.sessions() as session:
        alert = session.get(HealthAlert, alert_id)
        assert alert is not None
        return alert.acknowledged_by, alert.acknowledged_at, alert.note


def test_reading_a_persons_health_page_writes_an_audit_entry(hub: Hub) -> None:
    nurse = hub.add_user("nurse", "health_staff")
    trainer = hub.add_user("trainer", "trainer")
    detainee_id, alert_id = urgent_person(hub)
    client = log_in(hub, "nurse")

    answer = client.get(f"/health/{detainee_id}")
    assert answer.status_code == 200
    assert f'data-alert-id="{alert_id}"' in answer.text
    assert 'data-screening-id="' in answer.text
    reads = entries(hub, "health.read")
    assert [(e.actor, e.subject, e.details["what"]) for e in reads] == [
        (f"user:{nurse}", detainee_id, "screenings"),
        (f"user:{nurse}", detainee_id, "alerts"),
    ]
    assert [e.details["count"] for e in reads] == [1, 1]

    assert client.get("/health/nobody").status_code == 404
    assert client.get("/health").status_code == 200  # the list of everyone's alerts too
    overview = entries(hub, "health.read")[-1]
    assert (overview.subject, overview.details["open_alerts"]) == (None, 1)

    refused = log_in(hub, "trainer").get(f"/health/{detainee_id}")
    assert refused.status_code == 403
    assert "data-alert-id" not in refused.text
    [attempt] = entries(hub, "health.refused")
    assert (attempt.actor, attempt.subject) == (f"user:{trainer}", detainee_id)
    assert attempt.details["path"] == f"/health/{detainee_id}"
    assert len(entries(hub, "health.read")) == 3  # the refused attempt read nothing
    with hub.sessions() as session:
        assert verify(session, hub.key).ok


def test_acknowledge_without_csrf_token_is_refused_and_changes_nothing(hub: Hub) -> None:
    nurse = hub.add_user("nurse", "health_staff")
    _detainee_id, alert_id = urgent_person(hub)
    client = log_in(hub, "nurse")
    action = f"/health/alerts/{alert_id}/acknowledge"
    token = token_of(client.get("/health").text)
    before = alert_state(hub, alert_id)
    assert before == (None, None, None)

    for sent in ({"note": "seen"}, {"note": "seen", "csrf_token": "forged"}):
        answer = client.post(action, data=sent)
        assert answer.status_code == 400
        assert alert_state(hub, alert_id) == before
    assert entries(hub, "health.alert.acknowledge") == []
    unknown = client.post(f"/health/alerts/{alert_id + 1}/acknowledge", data={"csrf_token": token})
    assert unknown.status_code == 404

    too_long = "x" * (health.MAX_NOTE + 1)
    answer = client.post(action, data={"note": too_long, "csrf_token": token})
    assert answer.status_code == 422  # shown again, with the note as typed
    assert f'id="note-{alert_id}-error"' in answer.text and too_long in answer.text
    assert alert_state(hub, alert_id) == before

    answer = client.post(action, data={"note": NASTY, "csrf_token": token, "back": "person"})
    assert answer.status_code == 302 and answer.location.endswith("/health/d-1")
    by, at, note = alert_state(hub, alert_id)
    assert (by, note) == (f"user:{nurse}", NASTY) and at is not None
    [done] = entries(hub, "health.alert.acknowledge")
    assert done.actor == f"user:{nurse}" and NASTY not in str(done.details)
    page = client.get("/health/d-1").text
    assert 'data-state="acknowledged"' in page and 'data-state="open"' not in page
    assert NASTY not in page and "&lt;script&gt;" in page  # the note shown, escaped

    again = client.post(action, data={"csrf_token": token})
    assert again.status_code == 302  # already acknowledged: nothing changes
    assert alert_state(hub, alert_id) == (by, at, note)


def moved(person: str, to: str, at: datetime, device: str, seq: int) -> MovementVerifiedEvent:
    site, wing = "rabat-1", device.split("-")[1]
    return MovementVerifiedEvent(
        id=uuid7(),
        site=site,
        device=device,
        seq=seq,
        at=at,
        subject=person,
        actor="officer-7",
        body=MovementVerified(
            from_location=wing,
            to_location=to,
            modalities=["badge", "face"],
            outcome="confirmed",
        ),
    )


def test_movement_pages_count_wings_list_the_log_and_keep_a_user_to_their_site(
    hub: Hub,
) -> None:
    hub.add_user("officer", "wing_officer", site="rabat-1")
    hub.add_user("admin", "admin")
    today = datetime.combine(utc_now().date(), time(), UTC)
    with hub.sessions.begin() as session:
        roster.register_device(session, "rabat-1", "wing-a-2", "a", "movement_check")
        roster.register_device(session, "rabat-1", "wing-b-2", "b", "movement_check")
        for n, wing in enumerate("aab"):
            admit(session, f"r-{n}", site="rabat-1", wing=wing)
        admit(session, "f-0", site="fes-2", wing="a")
        movements.schedule_movement(
            session,
            Trail(hub.key, "system:test"),
            detainee_id="r-1",
            to_location="court",
            at=today + timedelta(hours=23, minutes=59),
        )
    yesterday = today - timedelta(hours=12)
    events = [
        moved("r-0", "workshop", yesterday, "wing-a-2", 1),
        moved("r-2", "clinic", yesterday - timedelta(days=1), "wing-b-2", 1),
    ]
    with hub.sessions.begin() as session:
        apply_batch(session, [wire(e) for e in events])

    officer = log_in(hub, "officer")
    page = officer.get("/movements").text
    assert '<meta http-equiv="refresh" content="30">' in page
    assert 'id="site-chooser"' not in page  # tied to rabat-1
    wing_a = re.search(r'data-wing="a">.*?data-in-custody="(\d+)".*?data-out="(\d+)"', page, re.S)
    assert wing_a is not None and wing_a.groups() == ("2", "1")
    assert 'data-place="workshop"' in page and 'data-place="clinic"' in page
    assert 'data-schedule-id="' in page  # court, planned late today
    assert officer.get("/movements?site=fes-2").status_code == 403
    assert officer.get("/movements/log?site=fes-2").status_code == 403

    log = officer.get("/movements/log").text
    assert log.count("data-event-id=") == 2
    assert officer.get("/movements/log?wing=b").text.count("data-event-id=") == 1
    day = yesterday.date().isoformat()
    on_day = officer.get(f"/movements/log?day={day}").text
    assert re.findall(r'data-event-id="([^"]+)"', on_day) == [events[0].id]
    bad = officer.get("/movements/log?day=yesterday")
    assert bad.status_code == 422 and 'id="day-error"' in bad.text

    admin = log_in(hub, "admin")
    chooser = admin.get("/movements").text
    assert 'id="site-chooser"' in chooser and 'value="fes-2"' in chooser
    assert admin.get("/movements?site=nowhere").status_code == 404
    assert admin.get("/movements?site=fes-2").text.count("data-wing=") == 1
