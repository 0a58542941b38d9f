"""Exporting a questionnaire's answers, on SQLite and PostgreSQL: one row per kiosk response
with a column per question of any version, CSV cells that a spreadsheet cannot run as
formulas, XLSX text kept as text, only the user's establishment, health forms for health
staff only, and every export in the audit log."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Any

import openpyxl
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub import assignments
from hub.audit import Trail
from hub.ingest import apply_batch
from hub.models import AuditEntry
from hub.questionnaires import FORMS_DIR, build_forms
from hub.questionnaires.completion import Totals, completion, totals
from hub.questionnaires.export import (
    FIXED,
    Answers,
    ExportRefused,
    csv_safe,
    export,
    filename,
    read_answers,
    to_csv,
)
from hub.questionnaires.library import import_form
from hub.seed import response_message
from protocol.ids import utc_now
from tests.factories import admit

KEY = b"k" * 32
LABELS = ["label::Arabic (ar)", "label::French (fr)", "label::Tamazight (tzm)"]
TITLES = ["masar::title::Arabic (ar)", "masar::title::French (fr)", "masar::title::Tamazight (tzm)"]


def workbook(version: str, *, extra: bool = False) -> bytes:
    """A small form; version 2 adds a question at the end."""
    survey = [
        ["type", "name", *LABELS, "relevant"],
        ["note", "intro", "مرحبا", "Bonjour", "ⴰⵣⵓⵍ", ""],
        ["select_one yes_no", "worked", "عمل؟", "Travaillé ?", "ⵜⵅⴷⵎⴷ?", ""],
        ["text", "job", "العمل؟", "Métier ?", "ⵜⴰⵡⵓⵔⵉ?", "${worked} = 'yes'"],
        ["select_multiple skills", "skills", "مهارات", "Savoir-faire", "ⵜⵉⵣⵎⵔⵜ", ""],
        ["integer", "years", "سنوات", "Années", "ⵉⵙⴳⴳⵯⴰⵙⵏ", ""],
    ]
    if extra:
        survey.append(["text", "remark", "ملاحظة", "Remarque", "ⴰⵎⴰⵢⵏⵓ", ""])
    tables = {
        "survey": survey,
        "choices": [
            ["list_name", "name", *LABELS],
            ["yes_no", "yes", "نعم", "Oui", "ⵢⴰⵀ"],
            ["yes_no", "no", "لا", "Non", "ⵓⵀⵓ"],
            ["skills", "cooking", "طبخ", "Cuisine", "ⴰⵙⵏⵡⵓ"],
            ["skills", "welding", "لحام", "Soudure", "ⴰⵙⵏⴷⴰ"],
        ],
        "settings": [
            ["form_id", "version", *TITLES],
            ["export_test", version, "تجربة", "Essai", "ⴰⵔⵎ"],
        ],
    }
    return build_forms.workbook_bytes(tables)


ANSWERS: dict[str, dict[str, Any]] = {
    "p1": {"worked": "yes", "job": '=HYPERLINK("http://x")', "skills": "cooking welding"},
    "p2": {"worked": "no", "skills": "welding", "years": 3},
    "p3": {"worked": "yes", "job": "-2+3", "skills": "cooking", "remark": "@SUM(A1) نجار"},
    "p4": {"worked": "yes", "job": "soudeur", "skills": "cooking"},  # another establishment
}


def _respond(
    session: Session, person: str, form_id: str, version: str, seq: int, **kw: Any
) -> None:
    site = "casablanca-1" if person == "p4" else "rabat-1"
    message = response_message(
        site=site,
        device="wing-a-1",
        seq=seq,
        subject=person,
        at=kw.get("at") or utc_now() - timedelta(minutes=10 - seq),
        form_id=form_id,
        form_version=version,
        answers=kw.get("answers", ANSWERS.get(person, {})),
        language="fr" if person == "p2" else "ar",
    )
    result = apply_batch(session, [message], worker="test")
    assert result.applied == 1, result


@pytest.fixture
def filled(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """Four people answered export_test (p3 on version 2); p1 also sent a PHQ-9."""
    with sessions.begin() as session:
        import_form(session, workbook("1"), actor="user:test")
        import_form(session, workbook("2", extra=True), actor="user:test")
        import_form(session, (FORMS_DIR / "phq9.xlsx").read_bytes(), actor="user:test")
        for person in ANSWERS:
            admit(session, person, site="casablanca-1" if person == "p4" else "rabat-1")
    with sessions.begin() as session:
        for seq, person in enumerate(ANSWERS, 1):
            _respond(session, person, "export_test", "2" if person == "p3" else "1", seq)
        phq9 = {f"phq9_{i}": "0" for i in range(1, 10)}
        _respond(session, "p1", "phq9", "2025.1", 9, answers=phq9)
    return sessions


def test_csv_has_one_row_per_response_and_no_runnable_formula(
    filled: sessionmaker[Session],
) -> None:
    with filled.begin() as session:
        data, answers = export(
            session, Trail(KEY, "user:rita"), "export_test", "csv", role="registrar"
        )
        audit = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "questionnaire.export")
        ).all()
    assert data.startswith(b"\xef\xbb\xbf")  # spreadsheets then read the Arabic right
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    # The newest version's questions in order, its new one included; never the note.
    assert header == [*FIXED, "worked", "job", "skills", "years", "remark"]
    by_person = {row[1]: dict(zip(header, row, strict=True)) for row in body}
    assert list(by_person) == ["p1", "p2", "p3", "p4"]  # oldest first
    first = by_person["p1"]
    assert first["prison_number"] == "P-p1" and first["form_version"] == "1"
    assert first["language"] == "ar" and first["kiosk"] == "rabat-1/wing-a-1"
    assert first["completed_at"].startswith(str(utc_now().year))
    assert first["job"] == '\'=HYPERLINK("http://x")'
    assert first["skills"] == "cooking welding" and first["years"] == ""
    assert by_person["p2"]["years"] == "3" and by_person["p2"]["language"] == "fr"
    assert by_person["p3"]["job"] == "'-2+3"
    assert by_person["p3"]["remark"] == "'@SUM(A1) نجار"
    assert by_person["p3"]["form_version"] == "2"
    assert len(answers.rows) == 4 and not answers.truncated
    [entry] = audit
    assert entry.actor == "user:rita"
    assert entry.details["form_id"] == "export_test" and entry.details["responses"] == 4


def test_xlsx_keeps_numbers_as_numbers_and_text_as_text(filled: sessionmaker[Session]) -> None:
    with filled.begin() as session:
        data, _answers = export(
            session, Trail(KEY, "user:rita"), "export_test", "xlsx", role="social_worker"
        )
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    rows = list(sheet.iter_rows())
    header = [cell.value for cell in rows[0]]
    assert header[: len(FIXED)] == list(FIXED)
    first = {name: cell for name, cell in zip(header, rows[1], strict=True)}
    # Stored as text: the spreadsheet shows it and never runs it, so no quote is needed.
    assert first["job"].value == '=HYPERLINK("http://x")' and first["job"].data_type == "s"
    second = {name: cell.value for name, cell in zip(header, rows[2], strict=True)}
    assert second["years"] == 3 and second["masar_id"] == "p2"
    assert len(rows) == 5


def test_a_user_of_one_establishment_exports_only_its_people(
    filled: sessionmaker[Session],
) -> None:
    with filled.begin() as session:
        mine = read_answers(session, "export_test", role="registrar", site="rabat-1")
        theirs = read_answers(session, "export_test", role="registrar", site="casablanca-1")
        first_two = read_answers(session, "export_test", role="registrar", limit=2)
    assert [row[1] for row in mine.rows] == ["p1", "p2", "p3"]
    assert [row[1] for row in theirs.rows] == ["p4"]
    assert [row[1] for row in first_two.rows] == ["p1", "p2"] and first_two.truncated
    assert filename(first_two, "xlsx", utc_now()).endswith("-first-2.xlsx")
    assert not filename(mine, "csv", utc_now()).count("first")


def test_health_form_answers_are_refused_without_health_read(
    filled: sessionmaker[Session],
) -> None:
    for role in ("admin", "registrar", "social_worker", "trainer"):
        with filled.begin() as session, pytest.raises(ExportRefused):
            export(session, Trail(KEY, f"user:{role}"), "phq9", "csv", role=role)
    with filled.begin() as session:
        refused = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "questionnaire.export")
        ).all()
        assert refused == []  # nothing was exported
        data, answers = export(
            session, Trail(KEY, "user:nurse"), "phq9", "csv", role="health_staff"
        )
    assert [row[1] for row in answers.rows] == ["p1"]
    header = next(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert "phq9_9" in header and "phq9_total" in header  # calculations are columns too


def test_only_text_that_starts_like_a_formula_is_quoted() -> None:
    for text in ("=1+1", "+33 6", "-5", "@A1", "\tx", "\rx"):
        assert csv_safe(text) == "'" + text
    for value in ("1+1", "a=b", "محمد", "", -5, 2.5):
        assert csv_safe(value) == value
    empty = Answers("nothing", list(FIXED), [], truncated=False)
    assert to_csv(empty).decode("utf-8-sig").splitlines() == [",".join(FIXED)]


def test_completion_counts_who_answered_since_each_assignment(
    sessions: sessionmaker[Session],
) -> None:
    trail, today = Trail(KEY, "user:rita"), date.today()
    with sessions.begin() as session:
        import_form(session, workbook("1"), actor="user:test")
        for person in ("p1", "p2", "p3"):
            admit(session, person)  # rabat-1, wing-a
        admit(session, "p4", site="casablanca-1")
        # Sent before the questionnaire was assigned: it does not count.
        _respond(session, "p1", "export_test", "1", 1, at=utc_now() - timedelta(hours=1))
    with sessions.begin() as session:
        wing = assignments.assign(
            session,
            trail,
            form_id="export_test",
            due_on=today - timedelta(days=1),
            site="rabat-1",
            wing="wing-a",
            today=today - timedelta(days=5),  # made last week, due yesterday
        ).id
        one = assignments.assign(
            session, trail, form_id="export_test", due_on=today, detainee_id="p4"
        ).id
    with sessions.begin() as session:
        _respond(session, "p2", "export_test", "1", 2, at=utc_now())
        _respond(session, "p4", "export_test", "1", 3, at=utc_now())
    with sessions.begin() as session:
        rows = {row.assignment_id: row for row in completion(session)}
        theirs = completion(session, site="casablanca-1")
    assert (rows[wing].assigned, rows[wing].answered, rows[wing].overdue) == (3, 1, 2)
    assert (rows[one].assigned, rows[one].answered, rows[one].overdue) == (1, 1, 0)
    assert rows[one].prison_number == "P-p4" and rows[wing].prison_number is None
    assert list(rows) == [one, wing]  # newest first
    assert [row.assignment_id for row in theirs] == [one]
    assert totals(rows.values()) == {"export_test": Totals(2, 4, 2, 2)}
