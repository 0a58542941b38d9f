"""The API over training, health, movements and reintegration (SQLite and PostgreSQL):
role checks, the audit of health reads and refusals, and the partner's export."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from hub.api import PREFIX
from hub.audit import verify
from hub.ingest import apply_batch
from hub.models import AuditEntry
from hub.questionnaires import FORMS_DIR
from hub.questionnaires.library import import_form
from tests.api_client import Hub, running_hub
from tests.factories import incoming as wire
from tests.unit.test_api import intake, movement_event
from tests.unit.test_health import kiosk_response, phq9


@pytest.fixture
def hub(database_url: str, tmp_path: Path) -> Iterator[Hub]:
    with running_hub(database_url, tmp_path) as running:
        running.add_user("amina", "registrar", site="rabat-1")
        running.add_user("karim", "trainer")
        running.add_user("salma", "social_worker")
        running.add_user("nour", "health_staff")
        running.add_user("omar", "wing_officer", site="rabat-1")
        running.add_user("fx", "partner", partner="fondation-x")
        running.add_user("fy", "partner", partner="fondation-y")
        yield running


def admit(hub: Hub, number: str = "2026/1", **fields: object) -> str:
    answer = hub.client("amina").post(
        f"{PREFIX}/detainees", json=intake(prison_number=number, **fields)
    )
    assert answer.status_code == 201, answer.get_json()
    return str(answer.get_json()["id"])


def audited(hub: Hub, action: str) -> list[AuditEntry]:
    with hub.sessions() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_a_trainer_reading_health_data_gets_403_and_an_audit_entry(hub: Hub) -> None:
    person = admit(hub)
    with hub.sessions.begin() as session:
        import_form(session, (FORMS_DIR / "phq9.xlsx").read_bytes(), actor="test")
    with hub.sessions.begin() as session:  # a kiosk PHQ-9 with item 9 above 0
        apply_batch(session, [wire(kiosk_response(person, phq9(6, item9=1)))])
    trainer = hub.client("karim")
    refused = trainer.get(f"{PREFIX}/detainees/{person}/screenings")
    assert refused.status_code == 403
    assert refused.get_json() == {"error": "your role (trainer) may not do this (health.read)"}
    [entry] = audited(hub, "health.refused")
    karim = trainer.get(f"{PREFIX}/me").get_json()["id"]
    assert (entry.actor, entry.subject, entry.details["role"]) == (
        f"user:{karim}",
        person,
        "trainer",
    )
    assert trainer.get(f"{PREFIX}/health/alerts").status_code == 403
    # The timeline hides the screening from everyone but health staff.
    actions = {e["action"] for e in trainer.get(f"{PREFIX}/detainees/{person}/timeline").get_json()}
    assert "questionnaire.response" not in actions and "health.refused" not in actions

    nurse = hub.client("nour")
    [screening] = nurse.get(f"{PREFIX}/detainees/{person}/screenings").get_json()
    assert (screening["instrument"], screening["score"], screening["band"]) == ("phq9", 6, "mild")
    [alert] = nurse.get(f"{PREFIX}/health/alerts").get_json()
    assert "item 9" in alert["reason"]
    taken = nurse.post(
        f"{PREFIX}/health/alerts/{alert['id']}/acknowledge", json={"note": "seen today"}
    )
    assert taken.get_json()["acknowledged_by"].startswith("user:")
    assert taken.get_json()["acknowledged_at"] is not None
    assert nurse.get(f"{PREFIX}/health/alerts").get_json() == []
    again = nurse.post(f"{PREFIX}/health/alerts/{alert['id']}/acknowledge", json={})
    assert again.status_code == 400 and "already acknowledged" in again.get_json()["error"]
    assert len(audited(hub, "health.read")) == 3  # every read of health data
    timeline = nurse.get(f"{PREFIX}/detainees/{person}/timeline").get_json()
    assert "questionnaire.response" in {e["action"] for e in timeline}
    with hub.sessions() as session:
        assert verify(session, hub.key).ok


def test_training_from_programme_to_completion_with_ranked_reasons(hub: Hub) -> None:
    person = admit(hub, expected_release_date="2030-01-01")
    trainer = hub.client("karim")
    start = date.today() + timedelta(days=10)
    programme = {
        "titles": {"fr": "Soudure", "ar": "اللحام"},
        "provider": "OFPPT <Rabat>",
        "site": "rabat-1",
        "capacity": 1,
        "starts_on": start.isoformat(),
        "ends_on": (start + timedelta(days=60)).isoformat(),
        "requires_literacy": True,
    }
    put = trainer.call("PUT", f"{PREFIX}/programmes/welding-1", json=programme)
    assert put.status_code == 200 and put.get_json()["provider"] == "OFPPT <Rabat>"
    bad = trainer.call("PUT", f"{PREFIX}/programmes/welding-2", json=programme | {"capacity": 0})
    assert bad.status_code == 400
    [ranked] = trainer.get(f"{PREFIX}/detainees/{person}/programmes").get_json()
    assert ranked["rank"] == 1 and ranked["eligible"] and ranked["reasons"]
    asked = trainer.post(f"{PREFIX}/programmes/welding-1/requests", json={"detainee_id": person})
    assert asked.status_code == 201 and asked.get_json()["state"] == "requested"
    queue = trainer.get(f"{PREFIX}/programmes/welding-1/queue").get_json()
    assert [e["id"] for e in queue] == [asked.get_json()["id"]]
    enrolment = asked.get_json()["id"]
    no_reason = trainer.post(
        f"{PREFIX}/enrolments/{enrolment}/decision", json={"decision": "decline"}
    )
    assert no_reason.status_code == 400
    approved = trainer.post(
        f"{PREFIX}/enrolments/{enrolment}/decision", json={"decision": "approve"}
    )
    assert approved.get_json()["state"] == "approved"
    other = admit(hub, "2026/2", name_latin="Youssef Benali", name_arabic="يوسف بنعلي")
    second = trainer.post(
        f"{PREFIX}/programmes/welding-1/requests", json={"detainee_id": other}
    ).get_json()["id"]
    full = trainer.post(f"{PREFIX}/enrolments/{second}/decision", json={"decision": "approve"})
    assert full.status_code == 400
    assert "1 of 1 places are taken" in full.get_json()["error"]
    marked = trainer.post(
        f"{PREFIX}/enrolments/{enrolment}/attendance",
        json={"day": start.isoformat(), "present": True},
    )
    assert marked.status_code == 204
    sheet = trainer.get(f"{PREFIX}/programmes/welding-1/attendance").get_json()
    assert sheet["rows"][0]["days_present"] == 1
    done = trainer.post(
        f"{PREFIX}/enrolments/{enrolment}/completion", json={"outcome": "completed"}
    )
    assert done.get_json()["state"] == "completed"
    history = trainer.get(f"{PREFIX}/detainees/{person}/enrolments").get_json()
    assert [e["state"] for e in history] == ["completed"]
    assert hub.client("omar").get(f"{PREFIX}/programmes").status_code == 403


def test_movements_and_the_live_count_per_wing(hub: Hub) -> None:
    person = admit(hub)
    with hub.sessions.begin() as session:
        apply_batch(session, [movement_event(person, 1)])
    officer = hub.client("omar")
    wings = officer.get(f"{PREFIX}/sites/rabat-1/wings").get_json()
    [wing_a] = [w for w in wings if w["wing"] == "a"]
    assert (wing_a["in_custody"], wing_a["out"]) == (1, 1)
    assert wing_a["out_people"][0]["location"] == "workshop"
    [moved] = officer.get(f"{PREFIX}/detainees/{person}/movements").get_json()
    assert moved["to_location"] == "workshop" and moved["device"] == "wing-a-1"
    assert len(officer.get(f"{PREFIX}/sites/rabat-1/movements").get_json()) == 1
    elsewhere = officer.get(f"{PREFIX}/sites/fes-2/wings")
    assert elsewhere.status_code == 403


def test_the_partner_export_holds_only_what_was_consented_and_never_health(hub: Hub) -> None:
    person = admit(hub, name_latin="Mohammed <b>Alaoui</b>")
    with hub.sessions.begin() as session:
        import_form(session, (FORMS_DIR / "phq9.xlsx").read_bytes(), actor="test")
    with hub.sessions.begin() as session:
        apply_batch(session, [wire(kiosk_response(person, phq9(21, item9=2)))])
    social = hub.client("salma")
    health = social.post(
        f"{PREFIX}/detainees/{person}/consents",
        json={"partner": "fondation-x", "sections": ["identity", "health"]},
    )
    assert health.status_code == 400 and "health" in health.get_json()["error"]
    refer = {
        "goals": ["open a tailoring workshop"],
        "steps": [{"text": "CAP couture"}],
        "referrals": [{"partner": "fondation-x", "purpose": "micro-credit"}],
    }
    early = social.call("PUT", f"{PREFIX}/detainees/{person}/plan", json=refer)
    assert early.status_code == 400 and "consent" in early.get_json()["error"]
    given = social.post(
        f"{PREFIX}/detainees/{person}/consents",
        json={"partner": "fondation-x", "sections": ["identity", "plan"]},
    )
    assert given.status_code == 201
    assert social.call("PUT", f"{PREFIX}/detainees/{person}/plan", json=refer).status_code == 200
    assert social.get(f"{PREFIX}/detainees/{person}/plan").get_json()["goals"] == refer["goals"]

    partner = hub.client("fx")
    assert partner.get(f"{PREFIX}/referrals/fondation-x").get_json() == [person]
    csv = partner.get(f"{PREFIX}/referrals/fondation-x/{person}/file.csv")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    text = csv.data.decode("utf-8-sig")
    assert "Mohammed <b>Alaoui</b>" in text and "tailoring" in text
    for secret in ("phq9", "PHQ", "2026/1", "severe"):
        assert secret not in text
    pdf = partner.get(f"{PREFIX}/referrals/fondation-x/{person}/file.pdf?language=ar")
    assert pdf.data.startswith(b"%PDF")
    extracted = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.data)).pages)
    assert "Alaoui" in extracted and "PHQ" not in extracted
    assert len(audited(hub, "referral.export")) == 2
    other = hub.client("fy")
    assert other.get(f"{PREFIX}/referrals/fondation-x/{person}/file.csv").status_code == 403
    nothing = other.get(f"{PREFIX}/referrals/fondation-y/{person}/file.csv")
    assert nothing.status_code == 403
    assert hub.client("karim").get(f"{PREFIX}/referrals/fondation-x").status_code == 403
    withdrawn = social.call("DELETE", f"{PREFIX}/detainees/{person}/consents/fondation-x")
    assert withdrawn.status_code == 200
    assert partner.get(f"{PREFIX}/referrals/fondation-x/{person}/file.csv").status_code == 403
