"""A questionnaire's answers as a table to download, CSV or XLSX: one row per response sent
by a kiosk, then one column per question of any version of the form.

The answers are personal data, so every export is written to the audit log, and a health
form (PHQ-9, GAD-7) is exported only for a role holding ``health.read``. A cell a
spreadsheet would read as a formula (text starting with = + - @, a tab or a carriage
return) is written with a leading ' in CSV; in XLSX every text cell is stored as text,
never as a formula. At most ``LIMITS[kind]`` responses, oldest first, go into one file:
openpyxl writes about 2,000 rows a second, so an XLSX file is kept to what a request can
build well within gunicorn's 30 s.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.cell import WriteOnlyCell  # type: ignore[import-untyped]
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE  # type: ignore[import-untyped]
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.audit import Trail
from hub.detainees import HEALTH_FORMS
from hub.models import Detainee, Event, QuestionnaireVersion, as_utc
from hub.roles import allowed
from protocol.ids import format_timestamp
from protocol.questionnaire import NOTE, FormDefinition, FormError

LIMITS = {"csv": 100_000, "xlsx": 20_000}  # responses in one file
FIXED = ("prison_number", "masar_id", "form_version", "language", "completed_at", "kiosk")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
Format = Literal["csv", "xlsx"]
Cell = str | int | float
MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class ExportRefused(PermissionError):
    """This role may not export this form's answers."""


@dataclass(frozen=True)
class Answers:
    form_id: str
    header: list[str]
    rows: list[list[Cell]]
    truncated: bool  # more responses than the limit: the newest were left out


def may_export(role: str, form_id: str) -> bool:
    """Answers to a health form are health data."""
    return form_id not in HEALTH_FORMS or allowed(role, "health.read")


def question_names(session: Session, form_id: str) -> list[str]:
    """The answer columns: every question and calculation of the newest version in its order,
    then those only older versions had."""
    names: dict[str, None] = {}
    for survey, version in session.execute(
        select(QuestionnaireVersion.survey, QuestionnaireVersion.version)
        .where(QuestionnaireVersion.form_id == form_id)
        .order_by(QuestionnaireVersion.imported_at.desc())
    ):
        try:
            definition = FormDefinition.from_survey(survey, form_id=form_id, version=version)
        except FormError:
            continue  # a version kiosks cannot run sent no answers
        for question in definition.questions:
            if question.calculation is not None or (question.on_screen and question.type != NOTE):
                names.setdefault(question.name, None)
    return list(names)


def read_answers(
    session: Session,
    form_id: str,
    *,
    role: str,
    site: str | None = None,
    limit: int = LIMITS["csv"],
) -> Answers:
    """The responses to ``form_id`` (of people of ``site`` when given), oldest first."""
    if not may_export(role, form_id):
        raise ExportRefused(f"the answers to {form_id} are health data")
    names = question_names(session, form_id)
    columns = (Event.subject, Event.site, Event.device, Event.at, Event.body)
    query = (
        select(*columns, Detainee.prison_number)
        .outerjoin(Detainee, Detainee.id == Event.subject)
        .where(Event.type == "questionnaire.response", Event.body["form_id"].as_string() == form_id)
        .order_by(Event.at, Event.id)
        .limit(limit + 1)
    )
    if site is not None:
        query = query.where(Detainee.site == site)
    rows: list[list[Cell]] = []
    truncated = False
    # Streamed (a server-side cursor on PostgreSQL), and closed even when we stop early.
    with session.execute(query.execution_options(yield_per=1000)) as result:
        for subject, event_site, device, at, body, number in result:
            if len(rows) == limit:
                truncated = True
                break
            answers = body.get("answers") or {}
            fixed: list[Cell] = [
                number or "",
                subject or "",
                str(body.get("form_version", "")),
                str(body.get("language", "")),
                str(body.get("completed_at") or format_timestamp(as_utc(at))),
                f"{event_site}/{device}",
            ]
            rows.append(fixed + [_cell(answers.get(name)) for name in names])
    return Answers(form_id, [*FIXED, *names], rows, truncated)


def export(
    session: Session,
    trail: Trail,
    form_id: str,
    kind: Format,
    *,
    role: str,
    site: str | None = None,
    limit: int | None = None,
) -> tuple[bytes, Answers]:
    """The file's bytes, after writing to the audit log who took which answers."""
    limit = LIMITS[kind] if limit is None else limit
    answers = read_answers(session, form_id, role=role, site=site, limit=limit)
    trail.record(
        session,
        "questionnaire.export",
        None,
        {
            "form_id": form_id,
            "format": kind,
            "site": site,
            "responses": len(answers.rows),
            "truncated": answers.truncated,
        },
    )
    return (to_csv(answers) if kind == "csv" else to_xlsx(answers)), answers


def _cell(value: Any) -> Cell:
    """An answer as one cell: a select_multiple as its choices separated by spaces, as
    XLSForm tools export it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    if isinstance(value, list | tuple):
        return " ".join(str(item) for item in value)
    return str(value)


def csv_safe(value: Cell) -> Cell:
    """Text a spreadsheet would run as a formula, made inert with a leading '."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def to_csv(answers: Answers) -> bytes:
    """UTF-8 with a byte order mark, so that spreadsheets read Arabic right."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in _all_rows(answers):
        writer.writerow([csv_safe(value) for value in row])
    return buffer.getvalue().encode("utf-8-sig")


def to_xlsx(answers: Answers) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(answers.form_id[:31] or "answers")
    for row in _all_rows(answers):
        sheet.append([_xlsx_cell(sheet, value) for value in row])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _xlsx_cell(sheet: Any, value: Cell) -> Cell | WriteOnlyCell:
    if not isinstance(value, str):
        return value
    text = ILLEGAL_CHARACTERS_RE.sub("", value)
    if not text.startswith("="):
        return text
    cell = WriteOnlyCell(sheet, value=text)  # openpyxl would write "=…" as a formula
    cell.data_type = "s"
    return cell


def _all_rows(answers: Answers) -> Iterator[Sequence[Cell]]:
    yield answers.header
    yield from answers.rows


def filename(answers: Answers, kind: Format, now: datetime) -> str:
    """Says when the file holds only the first responses."""
    part = f"-first-{len(answers.rows)}" if answers.truncated else ""
    return f"{answers.form_id}-answers-{now:%Y%m%d-%H%M}{part}.{kind}"
