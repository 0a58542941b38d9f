"""Questionnaire versions and profile facts with provenance (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hub import profiles
from hub.questionnaires import FORMS_DIR
from hub.questionnaires.library import QuestionnaireError, find_version, import_form

INTAKE = FORMS_DIR / "masar_intake.xlsx"


def test_a_form_version_is_kept_and_cannot_be_silently_replaced(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        version = import_form(session, INTAKE.read_bytes(), actor="registrar-1")
        assert (version.form_id, version.version) == ("masar_intake", "2025.1")
    with sessions.begin() as session:  # the same file again: nothing changes
        import_form(session, INTAKE.read_bytes(), actor="registrar-1")
    with sessions.begin() as session:
        stored = find_version(session, "masar_intake", "2025.1")
        assert stored is not None and stored.xlsx == INTAKE.read_bytes()
        assert {f["fact"] for f in stored.facts} >= {"education_level", "occupation", "skill"}
        stored.xlsx_sha256 = "0" * 64  # as if another file had been imported as 2025.1
    refused = "version 2025.1 of questionnaire masar_intake already exists with other content"
    with pytest.raises(QuestionnaireError, match=refused), sessions.begin() as session:
        import_form(session, INTAKE.read_bytes(), actor="registrar-1")


def test_staff_verify_or_correct_a_fact_and_the_history_keeps_both(
    sessions: sessionmaker[Session],
) -> None:
    kiosk = profiles.FactSource(
        "self_declared", "kiosk:rabat-1/wing-a-1", "masar_intake", "2025.1", "education_level", None
    )
    with sessions.begin() as session:
        first = profiles.record_fact(session, "m00001", "education_level", "3", kiosk)
        text = profiles.record_fact(
            session,
            "m00001",
            "qualification",
            "<b>CAP</b> soudure'; DROP TABLE profile_facts;--",
            kiosk,
        )
    with sessions.begin() as session:
        corrected = profiles.verify_fact(session, first.id, user="registrar-1", value="2")
        assert corrected.provenance == "staff_verified" and corrected.source == "user:registrar-1"
    with sessions() as session:
        now = {f.fact: f.value for f in profiles.current_facts(session, "m00001")}
        assert now == {
            "education_level": "2",
            "qualification": "<b>CAP</b> soudure'; DROP TABLE profile_facts;--",
        }
        assert [
            (f.value, f.provenance)
            for f in profiles.history(session, "m00001")
            if f.fact == "education_level"
        ] == [("3", "self_declared"), ("2", "staff_verified")]
    with sessions.begin() as session, pytest.raises(ValueError, match="already superseded"):
        profiles.verify_fact(session, first.id, user="registrar-1")
    with sessions.begin() as session, pytest.raises(ValueError, match="unknown profile fact"):
        profiles.record_fact(session, "m00001", "shoe_size", 42, kiosk)
    assert text.id
