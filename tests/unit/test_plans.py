"""Reintegration plans, consents and the partner export (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from hub import audit, plans, roster
from hub.audit import Trail
from hub.db import open_engine, session_factory, upgrade
from hub.models import (
    AuditEntry,
    Consent,
    Enrolment,
    Event,
    HealthAlert,
    Programme,
    QuestionnaireVersion,
    Screening,
)
from hub.plans import PlanError, Referral, Step
from hub.profiles import FactSource, record_fact
from hub.questionnaires import FORMS_DIR
from hub.questionnaires.library import import_form
from hub.referral_export import ReferralError, referral_file, to_csv, to_pdf
from protocol.ids import uuid7

PERSON = "m00042"
AMAL = "fondation-amal"
ATLAS = "atlas-emploi"
NASTY = '<b>Emploi</b> & "soudure"\'; DROP TABLE plans;--'
HEALTH_MARK = "ZQXHEALTH"  # in every piece of health data seeded, and never in an export


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = open_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


@pytest.fixture
def key(tmp_path: Path) -> bytes:
    return audit.load_key(tmp_path / "audit.key")


@pytest.fixture
def worker(key: bytes) -> Trail:
    return Trail(key, "user:sw-1")


def admit(session: Session, detainee_id: str = PERSON) -> None:
    roster.admit(
        session,
        detainee_id=detainee_id,
        prison_number=f"RB-2024-{detainee_id}",
        name_latin="Youssef Alami",
        name_arabic="يوسف العلمي",
        site="rabat-1",
        wing="wing-a",
    )
    roster.update_detainee(
        session,
        detainee_id,
        birth_date=date(1990, 4, 12),
        languages=["ar", "fr"],
        expected_release_date=date(2026, 9, 1),
        nationality="MA",
        cell="A-17",
    )


@pytest.fixture
def person(sessions: sessionmaker[Session]) -> str:
    with sessions.begin() as session:
        admit(session)
    return PERSON


def actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def chain_ok(session: Session, key: bytes) -> bool:
    return audit.verify(session, key).ok


# --- plans -------------------------------------------------------------------------------------


def test_a_plan_is_stored_returned_and_audited_with_what_changed(
    sessions: sessionmaker[Session], worker: Trail, key: bytes, person: str
) -> None:
    with sessions.begin() as session:
        plans.give_consent(session, worker, person, AMAL, ["identity", "plan"])
    steps = [Step(text="Obtenir la CIN", due_on=date(2026, 5, 1)), Step(text="CV", done=True)]
    referrals = [Referral(partner=AMAL, purpose=NASTY, state="sent")]
    with sessions.begin() as session:
        put = plans.put_plan(
            session, worker, person, goals=["  Travailler  ", NASTY], steps=steps,
            referrals=referrals,
        )  # fmt: skip
    assert put.goals == ("Travailler", NASTY)
    assert put.steps == tuple(steps) and put.referrals == tuple(referrals)
    assert put.updated_by == "user:sw-1"
    with sessions() as session:
        assert plans.get_plan(session, person) == put
        assert plans.get_plan(session, "m99999") is None
    with sessions.begin() as session:  # one goal changes
        plans.put_plan(session, worker, person, goals=["Travailler"], steps=steps, referrals=[])
    with sessions.begin() as session:  # the same plan again: nothing to record
        plans.put_plan(session, worker, person, goals=["Travailler"], steps=steps, referrals=[])
    with sessions() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "plan.put").order_by(AuditEntry.id)
        ).all()
        assert [e.subject for e in entries] == [person, person]
        assert entries[0].details["before"] is None
        assert entries[0].details["after"]["goals"] == ["Travailler", NASTY]
        assert entries[0].details["after"]["steps"][0] == {
            "text": "Obtenir la CIN",
            "due_on": "2026-05-01",
            "done": False,
        }
        assert entries[1].details["before"] == entries[0].details["after"]
        assert entries[1].details["after"]["referrals"] == []
        assert chain_ok(session, key)


def test_invalid_plans_are_refused_with_a_plain_message_and_change_nothing(
    sessions: sessionmaker[Session], worker: Trail, person: str
) -> None:
    with sessions.begin() as session:
        plans.give_consent(session, worker, person, AMAL, ["plan"])
        plans.put_plan(session, worker, person, goals=["Travailler"], steps=[], referrals=[])
    ok = Referral(partner=AMAL, purpose="Accompagnement")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"goals": ["  "]}, "goal 1 is empty; write it or remove it"),
        (
            {"goals": ["ok", "x" * 2001]},
            "goal 2 is 2001 characters long; shorten it to 2000 at most",
        ),
        ({"goals": ["g"] * 51}, "the plan has 51 goals; keep 50 at most"),
        ({"steps": [Step(text="s")] * 51}, "the plan has 51 steps; keep 50 at most"),
        ({"referrals": [ok] * 51}, "the plan has 51 referrals; keep 50 at most"),
        ({"steps": [Step(text="ok"), Step(text="")]}, "step 2 is empty; write it or remove it"),
        (
            {"referrals": [Referral(partner=AMAL, purpose=" ")]},
            "the purpose of referral 1 is empty; write it or remove it",
        ),
        (
            {"referrals": [Referral(partner=AMAL, purpose="p" * 2001)]},
            "the purpose of referral 1 is 2001 characters long; shorten it to 2000 at most",
        ),
        (
            {"referrals": [ok, Referral(partner=" ", purpose="p")]},
            "referral 2 needs the partner organisation's key (1 to 128 characters)",
        ),
        (
            {"referrals": [ok, Referral(partner=ATLAS, purpose="Emploi")]},
            f"Youssef Alami has not consented to share anything with partner {ATLAS}; "
            "record their consent first",
        ),
    ]
    for change, message in cases:
        asked: dict[str, Any] = {"goals": ["Nouveau"], "steps": [], "referrals": [], **change}
        with pytest.raises(PlanError, match=f"^{re.escape(message)}$"), sessions.begin() as s:
            plans.put_plan(s, worker, person, **asked)
    with pytest.raises(LookupError, match="no detainee 'm99999'"), sessions.begin() as session:
        plans.put_plan(session, worker, "m99999", goals=[], steps=[], referrals=[])
    with sessions() as session:
        plan = plans.get_plan(session, person)
        assert plan is not None and plan.goals == ("Travailler",)
        assert actions(session) == ["consent.give", "plan.put"]


def test_a_referral_state_outside_the_four_is_refused_by_the_model() -> None:
    with pytest.raises(ValueError, match="proposed"):
        Referral.model_validate({"partner": AMAL, "purpose": "p", "state": "lost"})
    assert Step.model_validate({"text": "t", "due_on": "2026-05-01"}).due_on == date(2026, 5, 1)


def test_a_referral_to_a_partner_whose_consent_was_withdrawn_is_refused(
    sessions: sessionmaker[Session], worker: Trail, key: bytes, person: str
) -> None:
    referral = Referral(partner=AMAL, purpose="Formation en soudure")
    with sessions.begin() as session:
        plans.give_consent(session, worker, person, AMAL, ["skills"])
        plans.put_plan(session, worker, person, goals=["g"], steps=[], referrals=[referral])
    with sessions.begin() as session:  # always possible, even while the plan refers there
        plans.withdraw_consent(session, worker, person, AMAL)
    refused = f"Youssef Alami has not consented to share anything with partner {AMAL}"
    with pytest.raises(PlanError, match=refused), sessions.begin() as session:
        plans.put_plan(session, worker, person, goals=["g2"], steps=[], referrals=[referral])
    with sessions.begin() as session:  # without the referral, the plan can be saved
        plans.put_plan(session, worker, person, goals=["g2"], steps=[], referrals=[])
    with sessions() as session:
        assert actions(session) == ["consent.give", "plan.put", "consent.withdraw", "plan.put"]
        assert chain_ok(session, key)


# --- consent -----------------------------------------------------------------------------------


def test_health_and_unknown_sections_are_refused_and_health_is_never_shared(
    sessions: sessionmaker[Session], worker: Trail, person: str
) -> None:
    health = (
        "'health' is not a section a partner can receive: health data is never shared with "
        "partners. Choose from identity, education, qualifications, work_history, skills, "
        "training, wishes, plan"
    )
    cases = [
        (AMAL, ["identity", "health"], health),
        (AMAL, ["medical"], "'medical' is not a section a partner can receive: health data"),
        (AMAL, [], "a consent must name at least one section; to share nothing, withdraw"),
        ("  ", ["identity"], "the consent needs the partner organisation's key"),
        ("p" * 129, ["identity"], "the consent needs the partner organisation's key"),
    ]
    for partner, sections, message in cases:
        with pytest.raises(PlanError, match=re.escape(message)), sessions.begin() as session:
            plans.give_consent(session, worker, person, partner, sections)
    with pytest.raises(LookupError, match="no detainee 'm99999'"), sessions.begin() as session:
        plans.give_consent(session, worker, "m99999", AMAL, ["identity"])
    assert "health" not in plans.SECTIONS
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Consent)) == 0
        assert actions(session) == []


def test_a_new_consent_replaces_the_one_in_force_and_both_are_kept(
    sessions: sessionmaker[Session], worker: Trail, key: bytes, person: str
) -> None:
    with sessions.begin() as session:
        first = plans.give_consent(session, worker, person, AMAL, ["identity"])
    with sessions.begin() as session:
        second = plans.give_consent(
            session, Trail(key, "user:sw-2"), person, AMAL, ["plan", "skills", "identity", "plan"]
        )
    assert second.sections == ["identity", "skills", "plan"]  # SECTIONS order, once each
    with sessions() as session:
        current = plans.current_consent(session, person, AMAL)
        assert current is not None and current.id == second.id
        kept = session.scalars(select(Consent).order_by(Consent.id)).all()
        assert [c.id for c in kept] == [first.id, second.id]
        assert kept[0].withdrawn_at is not None and kept[0].withdrawn_by == "user:sw-2"
        assert kept[1].withdrawn_at is None and kept[1].recorded_by == "user:sw-2"
        given = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        assert [(e.action, e.subject) for e in given] == [("consent.give", person)] * 2
        assert given[1].details == {
            "consent_id": second.id,
            "partner": AMAL,
            "sections": ["identity", "skills", "plan"],
            "replaces": {"consent_id": first.id, "sections": ["identity"]},
        }
        assert chain_ok(session, key)


def test_a_withdrawn_consent_is_kept_and_ends_the_partners_access(
    sessions: sessionmaker[Session], worker: Trail, key: bytes, person: str
) -> None:
    with sessions.begin() as session:
        given = plans.give_consent(session, worker, person, AMAL, ["identity"])
        assert plans.consented_detainees(session, AMAL) == [person]
    with sessions.begin() as session:
        withdrawn = plans.withdraw_consent(session, worker, person, AMAL)
    assert withdrawn.id == given.id and withdrawn.withdrawn_by == "user:sw-1"
    nothing = f"Youssef Alami has no consent in force for partner {AMAL}; there is nothing"
    with pytest.raises(PlanError, match=nothing), sessions.begin() as session:
        plans.withdraw_consent(session, worker, person, AMAL)
    with pytest.raises(LookupError, match="no detainee"), sessions.begin() as session:
        plans.withdraw_consent(session, worker, "m99999", AMAL)
    with sessions() as session:
        assert plans.current_consent(session, person, AMAL) is None
        assert plans.consented_detainees(session, AMAL) == []
        assert session.scalar(select(func.count()).select_from(Consent)) == 1
        with pytest.raises(ReferralError, match="no consent in force"):
            referral_file(session, person, AMAL)
        withdraw = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "consent.withdraw")
        ).one()
        assert withdraw.subject == person
        assert withdraw.details == {
            "consent_id": given.id,
            "partner": AMAL,
            "sections": ["identity"],
        }
        assert chain_ok(session, key)


def test_consented_detainees_lists_only_people_with_a_consent_in_force_for_that_partner(
    sessions: sessionmaker[Session], worker: Trail
) -> None:
    with sessions.begin() as session:
        for detainee_id in ("m00003", "m00001", "m00002"):
            admit(session, detainee_id)
        plans.give_consent(session, worker, "m00003", AMAL, ["identity"])
        plans.give_consent(session, worker, "m00003", AMAL, ["identity", "skills"])
        plans.give_consent(session, worker, "m00001", AMAL, ["skills"])
        plans.give_consent(session, worker, "m00002", ATLAS, ["skills"])
    with sessions() as session:
        assert plans.consented_detainees(session, AMAL) == ["m00001", "m00003"]
        assert plans.consented_detainees(session, ATLAS) == ["m00002"]
        assert plans.consented_detainees(session, "nobody") == []


# --- the partner's file --------------------------------------------------------------------------


def seed_file(session: Session, worker: Trail) -> None:
    """A person with facts from the intake and wishes forms, training and a plan."""
    admit(session)
    intake = import_form(session, (FORMS_DIR / "masar_intake.xlsx").read_bytes(), actor="r-1")
    wishes = import_form(session, (FORMS_DIR / "masar_wishes.xlsx").read_bytes(), actor="r-1")

    def kiosk(form: str, version: str, question: str) -> FactSource:
        return FactSource("self_declared", "kiosk:rabat-1/wing-a-1", form, version, question)

    at_intake = intake.form_id, intake.version
    at_wishes = wishes.form_id, wishes.version
    record_fact(session, PERSON, "education_level", "3", kiosk(*at_intake, "education_level"))
    record_fact(session, PERSON, "qualification", NASTY, kiosk(*at_intake, "qualification"))
    record_fact(session, PERSON, "occupation", "7", kiosk(*at_intake, "last_occupation"))
    record_fact(session, PERSON, "skill", "welding", kiosk(*at_intake, "skills"))
    record_fact(session, PERSON, "occupation", "2", kiosk(*at_wishes, "wished_occupation"))
    record_fact(session, PERSON, "wish", "computing", kiosk(*at_wishes, "training_wish"))
    record_fact(session, PERSON, "wish", '=HYPERLINK("x")', kiosk(*at_wishes, "wish_free"))
    record_fact(session, PERSON, "entrepreneurial_aptitude", 41, kiosk("masar_ent", "1", "e"))
    session.add(
        Programme(
            id="weld-2025",
            titles={"fr": "Soudure à l'arc", "ar": "اللحام بالقوس"},
            provider="OFPPT",
            site="rabat-1",
            capacity=12,
            starts_on=date(2025, 1, 6),
            ends_on=date(2025, 6, 30),
            isco_codes=["7212"],
            skills=["welding"],
            updated_at=datetime.now(UTC),
        )
    )
    session.add(
        Enrolment(
            programme_id="weld-2025",
            detainee_id=PERSON,
            state="completed",
            reason="approved by the training committee",
            requested_at=datetime(2024, 12, 1, tzinfo=UTC),
            requested_via="kiosk:rabat-1/wing-a-1",
            completed_at=datetime(2025, 6, 30, 12, tzinfo=UTC),
        )
    )
    plans.give_consent(session, worker, PERSON, ATLAS, ["identity"])
    plans.give_consent(session, worker, PERSON, AMAL, ["identity"])
    plans.put_plan(
        session,
        worker,
        PERSON,
        goals=["Travailler comme soudeur"],
        steps=[Step(text="Obtenir la CIN", due_on=date(2026, 5, 1))],
        referrals=[
            Referral(partner=AMAL, purpose="Accompagnement à l'emploi", state="sent"),
            Referral(partner=ATLAS, purpose="Placement chez un employeur"),
        ],
    )


def fields(items: list[Any]) -> list[tuple[str, str]]:
    return [(item["field"], item["value"]) for item in items]


def test_the_file_holds_exactly_the_consented_sections(
    sessions: sessionmaker[Session], worker: Trail
) -> None:
    with sessions.begin() as session:
        seed_file(session, worker)
        plans.give_consent(session, worker, PERSON, AMAL, ["plan", "wishes", "identity"])
    with sessions() as session:
        file = referral_file(session, PERSON, AMAL)
    assert file["masar_id"] == PERSON and file["partner"] == AMAL
    assert list(file["sections"]) == ["identity", "wishes", "plan"]
    identity = file["sections"]["identity"]
    assert fields(identity) == [
        ("masar_id", PERSON),
        ("name_latin", "Youssef Alami"),
        ("name_arabic", "يوسف العلمي"),
        ("birth_date", "1990-04-12"),
        ("language", "ar"),
        ("language", "fr"),
        ("expected_release_date", "2026-09-01"),
    ]
    assert identity[4]["labels"]["fr"] == "arabe"
    assert {item["provenance"] for item in identity} == {"prison_record"}
    wishes = file["sections"]["wishes"]
    assert fields(wishes) == [
        ("occupation", "2"),  # from the wishes form: a wished job, not work history
        ("wish", "computing"),
        ("wish", '=HYPERLINK("x")'),
    ]
    assert wishes[0]["labels"]["en"] == "Professionals"  # ISCO-08
    assert wishes[1]["labels"] == {"en": "Computing", "ar": "المعلوميات", "fr": "Informatique"}
    assert re.fullmatch(
        r"self_declared, masar_wishes \S+ wished_occupation, \d{4}-\d\d-\d\d",
        wishes[0]["provenance"],
    )
    plan = file["sections"]["plan"]
    assert fields(plan) == [
        ("goal", "Travailler comme soudeur"),
        ("step", "Obtenir la CIN"),
        ("step_due_on", "2026-05-01"),
        ("step_done", "no"),
        ("referral", "Accompagnement à l'emploi"),  # only this partner's referral
        ("referral_state", "sent"),
    ]
    text = json.dumps(file, ensure_ascii=False)
    for absent in ("RB-2024", "MA", "A-17", "wing-a", "Placement", ATLAS, "user:", "kiosk:"):
        assert absent not in text

    with sessions.begin() as session:
        plans.give_consent(
            session, worker, PERSON, AMAL, ["education", "work_history", "skills", "training"]
        )
    with sessions() as session:
        file = referral_file(session, PERSON, AMAL)
    sections = file["sections"]
    assert list(sections) == ["education", "work_history", "skills", "training"]
    assert fields(sections["education"]) == [("education_level", "3")]
    assert sections["education"][0]["labels"]["en"] == "Upper secondary education"
    assert fields(sections["work_history"]) == [("occupation", "7")]
    assert fields(sections["skills"]) == [("skill", "welding")]
    assert sections["skills"][0]["labels"]["fr"] == "Soudure, ferronnerie"
    assert fields(sections["training"]) == [
        ("programme", "Soudure à l'arc"),
        ("programme_start", "2025-01-06"),
        ("programme_end", "2025-06-30"),
        ("programme_state", "completed"),
        ("completed_on", "2025-06-30"),
    ]
    assert sections["training"][0]["provenance"] == "training_record, OFPPT"
    text = json.dumps(file, ensure_ascii=False)
    for absent in ("Youssef", "1990", "computing", "Travailler", "committee", "entrepreneur"):
        assert absent not in text


def test_without_a_consent_the_file_is_refused_alike_for_unknown_and_known_people(
    sessions: sessionmaker[Session], worker: Trail, person: str
) -> None:
    with sessions.begin() as session:
        plans.give_consent(session, worker, person, ATLAS, ["identity"])
    with sessions() as session:
        for detainee_id in (person, "m99999"):
            with pytest.raises(ReferralError) as refused:
                referral_file(session, detainee_id, AMAL)
            assert isinstance(refused.value, PermissionError)
            assert str(refused.value) == (
                f"there is no consent in force to share the file of {detainee_id} with {AMAL}; "
                "the person's social worker must record their consent first"
            )


def test_a_disclosure_can_be_written_to_the_audit_log(
    sessions: sessionmaker[Session], worker: Trail, key: bytes, person: str
) -> None:
    with sessions.begin() as session:
        plans.give_consent(session, worker, person, AMAL, ["identity", "skills"])
    with sessions.begin() as session:
        referral_file(session, person, AMAL, trail=Trail(key, "user:partner-1"))
    with sessions() as session:
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert entry is not None and entry.action == "referral.export"
        assert (entry.actor, entry.subject) == ("user:partner-1", person)
        assert entry.details == {"partner": AMAL, "sections": ["identity", "skills"]}
        assert chain_ok(session, key)


def seed_health(session: Session) -> None:
    """Health data of every kind the hub keeps, each carrying HEALTH_MARK."""
    now = datetime.now(UTC)
    screening = Screening(
        detainee_id=PERSON,
        instrument="PHQ-9",
        form_version="2025.1",
        score=23,
        band=f"severe {HEALTH_MARK}",
        items={"phq9_9": 3, "comment": HEALTH_MARK},
        source="kiosk:rabat-1/wing-a-1",
        taken_at=now,
    )
    session.add(screening)
    session.flush()
    session.add(
        HealthAlert(
            detainee_id=PERSON,
            screening_id=screening.id,
            reason=f"item 9 answered 3 {HEALTH_MARK}",
            raised_at=now,
            note=f"seen by Dr X {HEALTH_MARK}",
        )
    )
    session.add(
        Event(
            id=uuid7(),
            type="questionnaire.response",
            site="rabat-1",
            device="wing-a-1",
            seq=1,
            at=now,
            subject=PERSON,
            actor=None,
            body={"form_id": "phq9", "form_version": "2025.1", "answers": {"x": HEALTH_MARK}},
            received_at=now,
        )
    )
    # Defence in depth: a fact should a health form ever map one, and the health wish.
    origin = FactSource("self_declared", "kiosk:rabat-1/wing-a-1", "phq9", "2025.1", "phq9_9")
    record_fact(session, PERSON, "wish", HEALTH_MARK, origin)
    version = session.scalars(
        select(QuestionnaireVersion.version).where(QuestionnaireVersion.form_id == "masar_wishes")
    ).one()  # the imported wording, so the wish would be labelled if it were let through
    wishes = FactSource("self_declared", "kiosk:rabat-1/wing-a-1", "masar_wishes", version, "plans")
    record_fact(session, PERSON, "wish", "health", wishes)
    enrolment = session.scalars(select(Enrolment)).one()
    enrolment.reason = f"waits for the psychiatrist {HEALTH_MARK}"


def test_health_data_never_reaches_the_file_the_csv_or_the_pdf(
    engine: Engine, sessions: sessionmaker[Session], worker: Trail
) -> None:
    with sessions.begin() as session:
        seed_file(session, worker)
        seed_health(session)
        plans.give_consent(session, worker, PERSON, AMAL, plans.SECTIONS)
    statements: list[str] = []

    def remember(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement.lower())

    listener: Callable[..., None] = remember
    event.listen(engine, "before_cursor_execute", listener)
    try:
        with sessions() as session:
            file = referral_file(session, PERSON, AMAL)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    read = " ".join(statements)
    assert "profile_facts" in read and "enrolments" in read  # the listener did listen
    for table in ("screenings", "health_alerts", "events"):
        assert not re.search(rf"\b{table}\b", read), table
    assert list(file["sections"]) == list(plans.SECTIONS)
    csv_bytes = to_csv(file)
    pdf_text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(to_pdf(file))).pages)
    exports = [json.dumps(file, ensure_ascii=False), csv_bytes.decode("utf-8-sig"), pdf_text]
    for text in exports:
        assert HEALTH_MARK not in text and "PHQ" not in text
        for wording in ("Prendre soin de ma santé", "Look after my health", "الاعتناء بصحتي"):
            assert wording not in text
    assert HEALTH_MARK.encode() not in csv_bytes
    assert "Youssef Alami" in pdf_text


def test_the_csv_has_a_bom_one_row_per_item_and_keeps_metacharacters(
    sessions: sessionmaker[Session], worker: Trail
) -> None:
    with sessions.begin() as session:
        seed_file(session, worker)
        plans.give_consent(session, worker, PERSON, AMAL, ["identity", "qualifications", "wishes"])
    with sessions() as session:
        file = referral_file(session, PERSON, AMAL)
    data = to_csv(file)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["section", "field", "value", "provenance"]
    head = {row[1]: row[2] for row in rows[1:] if row[0] == "file"}
    assert head["partner"] == AMAL and head["masar_id"] == PERSON
    assert head["sections"] == "identity, qualifications, wishes"
    assert "ne contient que ce que la personne a accepté de partager" in head["notice"]
    items = [row for row in rows[1:] if row[0] != "file"]
    assert len(items) == sum(len(section) for section in file["sections"].values())
    assert ["identity", "name_arabic", "يوسف العلمي", "prison_record"] in items
    qualification = [row for row in items if row[1] == "qualification"]
    assert [row[2] for row in qualification] == [NASTY]  # unchanged
    assert qualification[0][3].startswith("self_declared, masar_intake ")
    wishes = {row[2] for row in items if row[0] == "wishes"}
    assert "computing – Informatique / المعلوميات" in wishes
    assert '\'=HYPERLINK("x")' in wishes  # Excel would run it as a formula otherwise


def test_the_pdf_names_partner_date_and_sections_in_french_arabic_and_english(
    sessions: sessionmaker[Session], worker: Trail, tmp_path: Path
) -> None:
    with sessions.begin() as session:
        seed_file(session, worker)
        plans.give_consent(session, worker, PERSON, AMAL, plans.SECTIONS)
    with sessions() as session:
        file = referral_file(session, PERSON, AMAL)
    today = datetime.now(UTC).date().isoformat()
    for language, words in (
        ("fr", ["Dossier d'orientation", "Partenaire", "Sections partagées", "Soudure à l'arc"]),
        ("en", ["Referral file", "Partner", "Sections shared", "Upper secondary education"]),
        ("ar", []),
    ):
        pdf = to_pdf(file, language)
        assert pdf.startswith(b"%PDF-")
        (tmp_path / f"file-{language}.pdf").write_bytes(pdf)
        text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
        for word in [*words, "Youssef Alami", AMAL, PERSON, today]:
            assert word in text, (language, word)
    french = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(to_pdf(file))).pages).replace(
        "\n", " "
    )
    assert "ne contient que ce que la personne a accepté de partager" in french
    assert "Identité, Études, Qualifications" in french
    with pytest.raises(ValueError, match="no PDF wording in 'de'"):
        to_pdf(file, "de")
