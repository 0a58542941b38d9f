"""A partner's referral file never holds health data (SQLite and PostgreSQL), on seeded
people who do have PHQ-9 and GAD-7 screenings, an urgent alert and facts from health
forms; and the file holds only what a consent in force allows.

Should anyone add a field, a section or a key to the partner file, these tests fail until it
is listed below as not health data: a health field cannot slip in unnoticed.
"""

from __future__ import annotations

import ast
import io
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from hub import health, plans, referral_export
from hub.audit import Trail, load_key
from hub.db import open_engine, session_factory, upgrade
from hub.ingest import apply_batch
from hub.models import Detainee, HealthAlert, QuestionnaireVersion
from hub.plans import PlanError
from hub.profiles import FactSource, record_fact
from hub.questionnaires import FACTS
from hub.questionnaires.scoring import GAD7_ITEMS, PHQ9_ITEMS
from hub.referral_export import ReferralError, referral_file, to_csv, to_pdf
from hub.seed import next_seqs, response_message, seed
from protocol.ids import utc_now

SEEDED = 300
PEOPLE = 12
PARTNER = "fondation-amal"
MARK = "QZHEALTHMARK"  # in every health value this test writes
# What the partner file may say, today. None of it is health data; a new name must be
# judged, then added here.
TOP_KEYS = {"masar_id", "partner", "generated_at", "consent_given_at", "sections"}
ITEM_KEYS = {"field", "value", "labels", "provenance"}
FIELDS = {
    "identity": {
        "masar_id",
        "name_latin",
        "name_arabic",
        "birth_date",
        "language",
        "expected_release_date",
    },
    "education": {"education_level"},
    "qualifications": {"qualification"},
    "work_history": {"occupation"},
    "skills": {"skill"},
    "training": {"programme", "programme_start", "programme_end", "programme_state"}
    | {"completed_on"},
    "wishes": {"occupation", "wish"},
    "plan": {"goal", "step", "step_due_on", "step_done", "referral", "referral_state"},
}
HEALTHY_WORDS = re.compile(
    r"health|sant[eé]|صح|phq|gad|screen|alert|score|band|mood|psych|medic|diagnos|treat|"
    r"depress|anxi|suicid|self.?harm",
    re.IGNORECASE,
)


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
    return load_key(tmp_path / "audit.key")


def add_health(session: Session, key: bytes, people: list[str]) -> set[str]:
    """Every kind of health data the hub keeps, for each person: an urgent PHQ-9 from the
    kiosk, a GAD-7 entered by a nurse, the alert acknowledged with a note, and facts as if
    a health form had mapped some. Returns the texts that must never reach a partner."""
    nurse = Trail(key, "user:nurse-1")
    version = session.scalars(
        select(QuestionnaireVersion.version).where(QuestionnaireVersion.form_id == "phq9")
    ).one()
    seqs = next_seqs(session)
    messages = []
    for person in people:
        detainee = session.get(Detainee, person)
        assert detainee is not None
        device = f"wing-{detainee.wing}-1"
        seq = seqs.get((detainee.site, device), 1)
        seqs[(detainee.site, device)] = seq + 1
        answers = {item: "3" for item in PHQ9_ITEMS} | {"phq9_difficulty": "3"}
        messages.append(
            response_message(
                site=detainee.site,
                device=device,
                seq=seq,
                subject=person,
                at=utc_now(),
                form_id="phq9",
                form_version=version,
                answers=answers,
            )
        )
    result = apply_batch(session, messages, worker="test")
    assert result.applied == len(people) and not result.rejected
    needles = {MARK}
    for n, person in enumerate(people):
        health.record_screening(
            session,
            detainee_id=person,
            instrument_form_id="gad7",
            answers={item: 2 for item in GAD7_ITEMS},
            source=f"user:nurse-{MARK}",
            taken_at=utc_now(),
            trail=nurse,
        )
        for fact in FACTS:  # defence in depth: facts a health form might one day map
            origin = FactSource("self_declared", "kiosk:x/y", "gad7", "1", f"gad7_{n % 7 + 1}")
            record_fact(session, person, fact, f"{MARK}-{fact}-{n}", origin)
        wishes = session.scalars(
            select(QuestionnaireVersion.version).where(
                QuestionnaireVersion.form_id == "masar_wishes"
            )
        ).one()
        origin = FactSource("self_declared", "kiosk:x/y", "masar_wishes", wishes, "plans")
        record_fact(session, person, "wish", "health", origin)  # "look after my health"
    alerts = session.scalars(select(HealthAlert).where(HealthAlert.detainee_id.in_(people))).all()
    assert len(alerts) >= len(people)
    for alert in alerts:
        if alert.acknowledged_at is None:
            health.acknowledge_alert(session, nurse, alert.id, f"seen by the psychiatrist {MARK}")
        needles.add(alert.reason)
    for screening in health.screenings_of(session, people[0]):
        needles.add(screening.band)
    needles |= {"Look after my health", "Prendre soin de ma santé", "الاعتناء بصحتي"}
    return needles


def consenting_people(sessions: sessionmaker[Session], key: bytes) -> tuple[list[str], set[str]]:
    seed(sessions, detainees=SEEDED, key=key)
    worker = Trail(key, "user:sw-1")
    with sessions.begin() as session:
        people = list(
            session.scalars(
                select(Detainee.id)
                .where(Detainee.state == "in_custody")
                .order_by(Detainee.id)
                .limit(PEOPLE)
            )
        )
        needles = add_health(session, key, people)
        for person in people:
            plans.give_consent(session, worker, person, PARTNER, plans.SECTIONS)
            plans.put_plan(
                session,
                worker,
                person,
                goals=["Ouvrir un atelier"],
                steps=[plans.Step(text="Obtenir la CIN")],
                referrals=[plans.Referral(partner=PARTNER, purpose="Accompagnement")],
            )
    return people, needles


def keys_of(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for name, inner in value.items():
            yield str(name)
            yield from keys_of(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from keys_of(inner)


def test_no_health_field_reaches_a_partner_file_csv_or_pdf(
    engine: Engine, sessions: sessionmaker[Session], key: bytes
) -> None:
    people, needles = consenting_people(sessions, key)
    with sessions() as session:
        assert plans.consented_detainees(session, PARTNER) == sorted(people)
    statements: list[str] = []

    def remember(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement.lower())

    listener: Callable[..., None] = remember
    event.listen(engine, "before_cursor_execute", listener)
    try:
        with sessions() as session:
            files = [referral_file(session, person, PARTNER) for person in people]
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    read = " ".join(statements)
    assert "profile_facts" in read  # the listener did listen
    for table in ("screenings", "health_alerts", "events", "questionnaire_drafts"):
        assert not re.search(rf"\b{table}\b", read), f"the partner file read {table}"

    texts = []
    for file in files:
        assert set(file) == TOP_KEYS
        assert list(file["sections"]) == list(plans.SECTIONS)
        for section, items in file["sections"].items():
            for item in items:
                assert set(item) == ITEM_KEYS
                assert item["field"] in FIELDS[section], (section, item["field"])
                assert set(item["labels"]) <= set(referral_export.LANGUAGES)
        for name in keys_of(file):
            assert not HEALTHY_WORDS.search(name), name
        assert any(item["field"] == "goal" for item in file["sections"]["plan"])
        texts += [json.dumps(file, ensure_ascii=False), to_csv(file).decode("utf-8-sig")]
    for language in ("fr", "ar"):  # PDFs are slow to make: one person's, in two languages
        pdf = PdfReader(io.BytesIO(to_pdf(files[0], language)))
        texts.append("\n".join(page.extract_text() for page in pdf.pages))
    for text in texts:
        for needle in needles:
            assert needle not in text, needle
        for asked in (*PHQ9_ITEMS, *GAD7_ITEMS):
            assert not re.search(rf"\b{asked}\b", text), asked
        assert not re.search(r"phq|gad-?7", text, re.IGNORECASE)


def test_the_partner_module_reads_no_health_record_and_consent_decides_the_rest(
    sessions: sessionmaker[Session], key: bytes
) -> None:
    source = Path(referral_export.__file__)
    imported = set()
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
    for health_source in ("hub.health", "hub.models.Screening", "hub.models.HealthAlert"):
        assert not any(name.startswith(health_source) for name in imported), health_source
    assert "hub.models.Event" not in imported  # questionnaire answers, health ones included

    people, _ = consenting_people(sessions, key)
    worker = Trail(key, "user:sw-1")
    with sessions.begin() as session:
        with pytest.raises(PlanError, match="health data is never shared"):
            plans.give_consent(session, worker, people[0], PARTNER, ["identity", "health"])
        plans.give_consent(session, worker, people[1], PARTNER, ["identity"])
        plans.withdraw_consent(session, worker, people[2], PARTNER)
    with sessions() as session:
        assert list(referral_file(session, people[1], PARTNER)["sections"]) == ["identity"]
        for refused in (people[2], "nobody"):
            with pytest.raises(ReferralError, match="no consent in force"):
                referral_file(session, refused, PARTNER)
        with pytest.raises(ReferralError):
            referral_file(session, people[0], "another-partner")
        assert people[2] not in plans.consented_detainees(session, PARTNER)
