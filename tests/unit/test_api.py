"""The hub's JSON API on SQLite and PostgreSQL: login, sessions, CSRF, throttling, roles,
intake, search, the timeline, profile facts and questionnaires. Every answer is checked
against the OpenAPI document (tests/api_client.py)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openapi_spec_validator import validate
from sqlalchemy import select

from hub.api import PREFIX, openapi
from hub.audit import verify
from hub.ingest import Incoming, apply_batch
from hub.models import AuditEntry, SyncDocument
from hub.questionnaires import FORMS_DIR
from protocol import encode, topics, uuid7
from protocol.events import (
    MovementVerified,
    MovementVerifiedEvent,
    QuestionnaireProgress,
    QuestionnaireProgressEvent,
)
from protocol.ids import utc_now
from tests.api_client import Hub, running_hub

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NASTY = "<script>alert('x')</script>'; DROP TABLE detainees; --"


@pytest.fixture
def hub(database_url: str, tmp_path: Path) -> Iterator[Hub]:
    with running_hub(database_url, tmp_path) as running:
        running.add_user("admin", "admin")
        running.add_user("amina", "registrar", site="rabat-1")
        running.add_user("karim", "trainer")
        running.add_user("salma", "social_worker")
        running.add_user("partner1", "partner", partner="fondation-x")
        yield running


def intake(**overrides: Any) -> dict[str, Any]:
    person = {
        "prison_number": "2026/00123",
        "name_latin": "Mohammed El Alaoui",
        "name_arabic": "محمد العلوي",
        "birth_date": "1994-03-02",
        "nationality": "MA",
        "languages": ["ar", "tzm"],
        "literate": True,
        "preferred_language": "ar",
        "site": "rabat-1",
        "wing": "a",
        "cell": "A-12",
        "admission_date": "2026-10-01",
        "expected_release_date": "2027-06-30",
    }
    return person | overrides


def test_the_openapi_document_is_valid_and_matches_the_live_routes(hub: Hub) -> None:
    document = hub.client().get(f"{PREFIX}/openapi.json").get_json()
    assert document == openapi()
    validate(document)
    live = {
        (method.lower(), re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule))
        for rule in hub.app.url_map.iter_rules()
        if rule.rule.startswith(PREFIX) and rule.rule != f"{PREFIX}/openapi.json"
        for method in rule.methods or ()
        if method not in {"HEAD", "OPTIONS"}
    }
    documented = {(m, p) for p, ops in document["paths"].items() for m in ops}
    assert live == documented


def test_every_route_but_login_refuses_a_caller_who_is_not_logged_in(hub: Hub) -> None:
    client = hub.client()
    for path, operations in openapi()["paths"].items():
        for method, operation in operations.items():
            if not operation["security"]:
                continue
            answer = client.call(method.upper(), re.sub(r"\{[a-z_]+\}", "1", path))
            assert answer.status_code == 401, (method, path, answer.get_json())
            assert answer.get_json() == {"error": "log in first"}


def test_a_wrong_password_is_refused_and_five_failures_lock_the_name(hub: Hub) -> None:
    client = hub.client()
    for _ in range(5):
        refused = client.login("amina", "wrong password!")
        assert refused.status_code == 401
        assert refused.get_json() == {"error": "the user name or the password is wrong"}
    locked = client.login("amina")  # even the right password, while locked
    assert locked.status_code == 429
    assert locked.get_json()["error"] == "too many failed logins; try again in 15 minute(s)"
    assert int(locked.headers["Retry-After"]) > 800
    assert client.login("karim").status_code == 200  # another name is not locked


def test_a_cookie_session_needs_the_csrf_token_for_any_change(hub: Hub) -> None:
    client = hub.client()
    planted = "planted-before-login"
    client.client.set_cookie("masar_session", planted)
    answer = client.login("admin")
    cookie = client.client.get_cookie("masar_session")
    assert cookie is not None and cookie.value != planted and cookie.http_only
    assert "SameSite=Strict" in answer.headers["Set-Cookie"]
    csrf = answer.get_json()["csrf_token"]
    body = {"username": "nadia", "name": "Nadia", "role": "trainer", "password": "x" * 12}
    refused = client.call("POST", f"{PREFIX}/users", bearer=False, json=body)
    assert refused.status_code == 403
    assert refused.get_json()["error"].startswith("the form is out of date (CSRF check failed)")
    done = client.call(
        "POST", f"{PREFIX}/users", bearer=False, json=body, headers={"X-CSRF-Token": csrf}
    )
    assert done.status_code == 201
    assert client.call("GET", f"{PREFIX}/me", bearer=False).status_code == 200  # reads need none
    client.call("DELETE", f"{PREFIX}/session", bearer=False, headers={"X-CSRF-Token": csrf})
    client.client.set_cookie("masar_session", cookie.value)
    assert client.call("GET", f"{PREFIX}/me", bearer=False).status_code == 401


def test_roles_decide_what_each_user_may_do(hub: Hub) -> None:
    trainer = hub.client("karim")
    body = {"username": "x1", "name": "X", "role": "admin", "password": "x" * 12}
    refused = trainer.post(f"{PREFIX}/users", json=body)
    assert refused.status_code == 403
    assert refused.get_json() == {"error": "your role (trainer) may not do this (users.manage)"}
    assert trainer.post(f"{PREFIX}/detainees", json=intake()).status_code == 403
    partner = hub.client("partner1")
    assert partner.get(f"{PREFIX}/detainees?q=moh").status_code == 403
    registrar = hub.client("amina")  # tied to rabat-1
    elsewhere = registrar.post(f"{PREFIX}/detainees", json=intake(site="fes-2"))
    assert elsewhere.status_code == 403
    assert elsewhere.get_json()["error"] == "you work at rabat-1; fes-2 is another establishment"


def test_intake_refuses_a_duplicate_prison_number_and_bad_fields_in_plain_words(hub: Hub) -> None:
    registrar = hub.client("amina")
    first = registrar.post(f"{PREFIX}/detainees", json=intake())
    assert first.status_code == 201
    person = first.get_json()
    assert person["id"].startswith("m") and person["id"] != person["prison_number"]
    again = registrar.post(f"{PREFIX}/detainees", json=intake(name_latin="Someone Else"))
    assert again.status_code == 409
    assert again.get_json()["error"] == (
        f"prison number 2026/00123 is already used by Mohammed El Alaoui (Masar id {person['id']});"
        " check the number, or open that person's file"
    )
    bad = registrar.post(
        f"{PREFIX}/detainees",
        json=intake(prison_number="2026/9", birth_date="2027-01-01", wing="A wing", extra=1),
    )
    assert bad.status_code == 422
    fields = bad.get_json()["fields"]
    assert set(fields) == {"wing", "extra"}  # the date order is checked once fields are right
    assert registrar.get(f"{PREFIX}/detainees?q=2026/9").get_json() == []  # nothing stored
    late = registrar.post(
        f"{PREFIX}/detainees", json=intake(prison_number="2026/9", birth_date="2027-01-01")
    )
    assert late.status_code == 422
    assert late.get_json() == {
        "error": "the birth date must be before the admission date",
        "fields": {"form": "the birth date must be before the admission date"},
    }


def test_names_with_markup_and_sql_are_stored_and_returned_unchanged(hub: Hub) -> None:
    registrar = hub.client("amina")
    created = registrar.post(
        f"{PREFIX}/detainees", json=intake(name_latin=NASTY, name_arabic="علي <b>'--")
    ).get_json()
    file = registrar.get(f"{PREFIX}/detainees/{created['id']}").get_json()
    assert file["detainee"]["name_latin"] == NASTY
    assert file["detainee"]["name_arabic"] == "علي <b>'--"
    assert [d["id"] for d in registrar.get(f"{PREFIX}/detainees?q=DROP").get_json()] == [
        created["id"]
    ]


def test_search_finds_names_across_spellings_and_scripts(hub: Hub) -> None:
    registrar = hub.client("amina")
    ids = {}
    for number, latin, arabic in (
        ("2026/1", "Mohammed El Alaoui", "مُحَمَّد العلوي"),
        ("2026/2", "Youssef Benali", "يوسف بنعلي"),
        ("2026/3", "Fatima Zahra Chaoui", "فاطمة الزهراء الشاوي"),
    ):
        answer = registrar.post(
            f"{PREFIX}/detainees",
            json=intake(prison_number=number, name_latin=latin, name_arabic=arabic),
        )
        ids[number] = answer.get_json()["id"]

    def found(q: str) -> set[str]:
        return {
            d["id"] for d in registrar.get(f"{PREFIX}/detainees", query_string={"q": q}).get_json()
        }

    assert found("Muhammad Alaoui") == {ids["2026/1"]}
    assert found("mohamed") == {ids["2026/1"]}
    assert found("محمد") == {ids["2026/1"]}  # without the vowel marks
    assert found("علوي") == {ids["2026/1"]}  # without the article
    assert found("Yusuf") == {ids["2026/2"]}
    assert found("Youcef") == {ids["2026/2"]}
    assert found("shaoui fatima") == {ids["2026/3"]}
    assert found("2026/") == set(ids.values())
    assert found("Zzz") == set()
    assert found("%") == set()


def movement_event(detainee_id: str, seq: int) -> Incoming:
    event = MovementVerifiedEvent(
        id=uuid7(),
        site="rabat-1",
        device="wing-a-1",
        seq=seq,
        at=utc_now(),
        subject=detainee_id,
        actor="officer-7",
        body=MovementVerified(
            from_location="a", to_location="workshop", modalities=["badge"], outcome="confirmed"
        ),
    )
    return Incoming(topics.event_topic("rabat-1", "wing-a-1", event.event_type), encode(event))


def test_the_timeline_shows_every_change_with_who_and_from_where(hub: Hub) -> None:
    registrar = hub.client("amina")
    person = registrar.post(f"{PREFIX}/detainees", json=intake()).get_json()
    path = f"{PREFIX}/detainees/{person['id']}"
    corrected = registrar.call("PATCH", path, json={"cell": "A-14", "name_latin": "Mohamed Alaoui"})
    assert corrected.status_code == 200
    assert registrar.post(f"{path}/transfer", json={"wing": "b", "cell": "B-2"}).status_code == 200
    draft = QuestionnaireProgressEvent(
        id=uuid7(),
        site="rabat-1",
        device="wing-a-1",
        seq=2,
        at=utc_now(),
        subject=person["id"],
        body=QuestionnaireProgress(
            form_id="masar_intake", form_version="1", language="ar", current="x", answers={}
        ),
    )
    autosave = Incoming(topics.event_topic("rabat-1", "wing-a-1", draft.event_type), encode(draft))
    with hub.sessions.begin() as session:
        apply_batch(session, [movement_event(person["id"], 1), autosave])
    released = registrar.post(f"{path}/release", json={"released_on": "2026-12-01"})
    assert released.get_json()["state"] == "released" and released.get_json()["wing"] is None
    again = registrar.post(f"{path}/release", json={"released_on": "2026-12-02"})
    assert again.status_code == 400
    assert again.get_json()["error"] == ("Mohamed Alaoui was already released on 2026-12-01")
    timeline = registrar.get(f"{path}/timeline").get_json()
    actions = [entry["action"] for entry in timeline]
    assert actions[0] == "detainee.release"
    assert set(actions) == {
        "detainee.intake",
        "detainee.update",
        "detainee.transfer",
        "movement.verified",
        "detainee.release",
    }  # not the questionnaire.progress autosave: the response is the entry, once sent
    amina = registrar.get(f"{PREFIX}/me").get_json()["id"]
    by = {entry["action"]: entry for entry in timeline}
    assert by["detainee.update"]["by"] == f"user:{amina}"
    assert by["detainee.update"]["summary"]["changes"] == {
        "cell": ["A-12", "A-14"],
        "name_latin": ["Mohammed El Alaoui", "Mohamed Alaoui"],
    }
    assert by["detainee.transfer"]["summary"] == {
        "from": {"site": "rabat-1", "wing": "a", "cell": "A-14"},
        "to": {"site": "rabat-1", "wing": "b", "cell": "B-2"},
    }
    assert by["movement.verified"]["by"] == "kiosk:rabat-1/wing-a-1"
    assert by["movement.verified"]["summary"]["to_location"] == "workshop"
    with hub.sessions() as session:
        assert verify(session, hub.key).ok


def test_staff_verify_a_fact_and_the_history_keeps_both(hub: Hub) -> None:
    from hub.profiles import FactSource, record_fact

    registrar = hub.client("amina")
    person = registrar.post(f"{PREFIX}/detainees", json=intake()).get_json()
    with hub.sessions.begin() as session:
        fact = record_fact(
            session,
            person["id"],
            "education_level",
            "2",
            FactSource("self_declared", "kiosk:rabat-1/wing-a-1", "masar_intake", "2025.1"),
        )
        fact_id = fact.id
    social = hub.client("salma")
    corrected = social.post(f"{PREFIX}/facts/{fact_id}/verify", json={"value": "3"})
    assert corrected.status_code == 200
    assert corrected.get_json()["provenance"] == "staff_verified"
    assert corrected.get_json()["label"]  # the ISCED level's name
    history = social.get(f"{PREFIX}/detainees/{person['id']}/facts").get_json()
    assert [(f["value"], f["superseded_by"]) for f in history] == [
        ("2", corrected.get_json()["id"]),
        ("3", None),
    ]
    twice = social.post(f"{PREFIX}/facts/{fact_id}/verify", json={})
    assert twice.status_code == 400
    timeline = social.get(f"{PREFIX}/detainees/{person['id']}/timeline").get_json()
    assert timeline[0]["action"] == "profile.verify"
    assert timeline[0]["summary"]["old"] == "2" and timeline[0]["summary"]["new"] == "3"


def test_an_xlsform_with_a_mistake_is_refused_naming_sheet_row_and_column(hub: Hub) -> None:
    registrar = hub.client("salma")
    book = openpyxl.load_workbook(FORMS_DIR / "masar_wishes.xlsx")
    survey = book["survey"]
    header = [cell.value for cell in survey[1]]
    survey.cell(row=3, column=header.index("type") + 1, value="select_one no_such_list")
    broken = io.BytesIO()
    book.save(broken)
    answer = registrar.post(f"{PREFIX}/questionnaires", data=broken.getvalue(), content_type=XLSX)
    assert answer.status_code == 422
    assert "survey" in answer.get_json()["error"] and "row 3" in answer.get_json()["error"]
    wrong_type = registrar.post(f"{PREFIX}/questionnaires", data=b"{}", content_type="text/csv")
    assert wrong_type.status_code == 415


def test_a_questionnaire_is_imported_published_assigned_and_done(hub: Hub) -> None:
    social = hub.client("salma")
    imported = social.post(
        f"{PREFIX}/questionnaires",
        data=(FORMS_DIR / "masar_wishes.xlsx").read_bytes(),
        content_type=XLSX,
    )
    assert imported.status_code == 201
    form_id, version = imported.get_json()["form_id"], imported.get_json()["version"]
    listed = social.get(f"{PREFIX}/questionnaires").get_json()
    assert [(q["form_id"], q["version"]) for q in listed] == [(form_id, version)]
    definition = social.get(f"{PREFIX}/questionnaires/{form_id}/{version}").get_json()
    assert definition["survey"]
    published = social.post(
        f"{PREFIX}/questionnaires/{form_id}/{version}/publish", json={"site": "rabat-1"}
    )
    assert published.status_code == 204
    with hub.sessions() as session:
        document = session.scalar(select(SyncDocument).where(SyncDocument.kind == "questionnaire"))
        assert document is not None and document.data["version"] == version
    person = hub.client("amina").post(f"{PREFIX}/detainees", json=intake()).get_json()
    past = social.post(
        f"{PREFIX}/assignments",
        json={"form_id": form_id, "detainee_id": person["id"], "due_on": "2020-01-01"},
    )
    assert past.status_code == 400
    assert past.get_json()["error"] == "the due date 2020-01-01 has already passed"
    assigned = social.post(
        f"{PREFIX}/assignments",
        json={"form_id": form_id, "site": "rabat-1", "wing": "a", "due_on": "2099-01-01"},
    )
    assert assigned.status_code == 201
    due = social.get(f"{PREFIX}/detainees/{person['id']}/assignments").get_json()
    assert [(d["form_id"], d["state"]) for d in due] == [(form_id, "open")]


def test_secure_headers_and_plain_errors_outside_the_api(hub: Hub) -> None:
    client = hub.client()
    answer = client.client.get(f"{PREFIX}/no/such/thing")
    assert answer.status_code == 404
    assert answer.get_json() == {"error": "there is nothing at this address"}
    page = client.client.get("/no/such/page")  # outside the API: a page in plain words
    assert page.status_code == 404 and "card trouble" in page.text
    for name in ("X-Content-Type-Options", "X-Frame-Options", "Content-Security-Policy"):
        assert name in answer.headers
    social = hub.client("salma")
    big = social.post(f"{PREFIX}/questionnaires", data=b"x" * (7 * 1024 * 1024), content_type=XLSX)
    assert big.status_code == 413
    assert big.get_json() == {"error": "the upload is too large (6 MB at most)"}


def test_every_api_change_leaves_a_verifiable_audit_chain(hub: Hub) -> None:
    registrar = hub.client("amina")
    registrar.post(f"{PREFIX}/detainees", json=intake())
    admin = hub.client("admin")
    assert admin.get(f"{PREFIX}/audit/verify").get_json()["ok"] is True
    with hub.sessions.begin() as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "detainee.intake"))
        assert entry is not None
        entry.details = entry.details | {"name_latin": "Someone Else"}
    checked = admin.get(f"{PREFIX}/audit/verify").get_json()
    assert checked["ok"] is False and "was changed" in checked["problem"]
