"""The questionnaire pages in Chromium, on the seeded hub: an XLSForm upload refused at its
row then accepted, the kiosk preview stepping through a shipped form (skip logic, required
and constraint messages, Arabic right to left), publishing and assigning with errors beside
the fields, and the answers exported (CSV, XLSX; health forms for health staff only)."""

from __future__ import annotations

import copy
import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import openpyxl
from playwright.sync_api import Page
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.db import open_engine, session_factory
from hub.models import AuditEntry, Detainee, Event, QuestionnaireAssignment, SyncDocument
from hub.questionnaires import build_forms
from tests.e2e.conftest import log_in

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
LABELS = ["label::Arabic (ar)", "label::French (fr)", "label::Tamazight (tzm)"]
TITLES = ["masar::title::Arabic (ar)", "masar::title::French (fr)", "masar::title::Tamazight (tzm)"]
FORM: dict[str, list[list[str]]] = {
    "survey": [
        ["type", "name", *LABELS, "relevant", "required"],
        ["select_one yes_no", "worked", "هل عملت؟", "Travaillé ?", "ⵉⵙ ⵜⵅⴷⵎⴷ?", "", "yes"],
        ["text", "job", "ما العمل؟", "Quel métier ?", "ⵎⴰⵜⵜⴰ ⵜⴰⵡⵓⵔⵉ?", "${worked} = 'yes'", "yes"],
        ["integer", "age", "العمر", "Âge", "ⴰⵡⵜⵜⴰⵙ", "", ""],
    ],
    "choices": [
        ["list_name", "name", *LABELS],
        ["yes_no", "yes", "نعم", "Oui", "ⵢⴰⵀ"],
        ["yes_no", "no", "لا", "Non", "ⵓⵀⵓ"],
    ],
    "settings": [
        ["form_id", "version", *TITLES],
        ["e2e_form", "1", "تجربة", "Essai", "ⴰⵔⵎ"],
    ],
}  # fmt: skip


def xlsform(sheet: str = "", row: int = 0, column: str = "", value: str = "") -> bytes:
    """FORM as .xlsx, with one cell (spreadsheet row: header = 1) changed when given."""
    tables = copy.deepcopy(FORM)
    if sheet:
        tables[sheet][row - 1][tables[sheet][0].index(column)] = value
    return build_forms.workbook_bytes(tables)


@contextmanager
def database(url: str) -> Iterator[Session]:
    engine = open_engine(url)
    try:
        with session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


def upload(page: Page, hub_url: str, name: str, content: bytes) -> None:
    page.goto(hub_url + "/questionnaires/upload")
    page.set_input_files("#f-file", {"name": name, "mimeType": XLSX, "buffer": content})
    page.click("#send")
    page.wait_for_load_state()


def screen(page: Page) -> str:
    return page.locator("#preview").get_attribute("data-screen") or ""


def choose(page: Page, value: str) -> None:
    page.locator(f"#question label.choice:has(input[value='{value}'])").click()


def test_an_xlsform_is_refused_at_its_row_then_accepted_and_previewed(
    page: Page, hub_url: str
) -> None:
    log_in(page, hub_url, "social")
    # A select_one naming a choice list the choices sheet does not have (row 2).
    upload(page, hub_url, "broken.xlsx", xlsform("survey", 2, "type", "select_one yes_non"))
    error = page.locator(".field:has(#f-file) #file-error")  # beside the file field
    assert error.count() == 1
    assert (error.get_attribute("data-sheet"), error.get_attribute("data-row")) == ("survey", "2")
    assert "survey" in error.inner_text() and "2" in error.inner_text()
    assert page.get_attribute("#f-file", "aria-invalid") == "true"
    # A relevant expression with a doubled operator (row 3).
    upload(page, hub_url, "broken.xlsx", xlsform("survey", 3, "relevant", "${worked} = = 'yes'"))
    error = page.locator(".field:has(#f-file) #file-error")
    assert (error.get_attribute("data-row"), error.get_attribute("data-column")) == (
        "3",
        "relevant",
    )
    assert page.locator("tr[data-form-id='e2e_form']").count() == 0

    upload(page, hub_url, "good.xlsx", xlsform())
    assert page.url.endswith("/questionnaires/e2e_form")
    assert page.locator("p.notice").count() == 1
    assert page.locator("#versions tr[data-version='1']").count() == 1
    page.goto(hub_url + "/questionnaires")
    assert page.locator("tr[data-form-id='e2e_form'] td[data-version='1']").count() == 1

    # Its preview: "no" skips the job question, straight to the age, then Done.
    page.goto(hub_url + "/questionnaires/e2e_form")
    page.click("#versions a.preview[data-lang='fr']")
    assert screen(page) == "worked"
    choose(page, "no")
    page.click("#next")
    assert screen(page) == "age"
    page.fill("#answer", "douze")  # not a whole number: the kiosk's own message
    page.click("#next")
    assert screen(page) == "age" and page.locator("#problem").count() == 1
    page.fill("#answer", "34")
    page.click("#next")
    assert screen(page) == "_end"
    assert page.locator("#final-answers dd[data-name='age']").inner_text() == "34"
    assert page.locator("#final-answers dd[data-name='worked']").count() == 1
    assert page.locator("#final-answers dd[data-name='job']").count() == 0
    page.click("#back")
    assert screen(page) == "age" and page.input_value("#answer") == "34"


def test_the_preview_steps_through_a_shipped_form_as_the_kiosk(page: Page, hub_url: str) -> None:
    log_in(page, hub_url, "registrar")
    page.goto(hub_url + "/questionnaires/masar_intake/2025.1/preview?lang=fr")
    assert screen(page) == "intro"  # a note: nothing to answer
    assert page.locator("#back").count() == 0
    page.click("#next")
    assert screen(page) == "literacy"
    page.click("#next")  # nothing chosen: required
    assert screen(page) == "literacy" and page.locator("#problem").count() == 1
    choose(page, "none")
    page.click("#next")
    assert screen(page) == "education_level"  # "Dans quelles langues ?" is skipped
    page.click("#back")
    assert screen(page) == "literacy"
    assert page.locator("#question input[value='none']").is_checked()  # the answer came back
    choose(page, "both")
    page.click("#next")
    assert screen(page) == "literacy_languages"  # relevant again
    position = page.locator("#progress")
    assert int(position.get_attribute("data-position") or 0) == 3
    choose(page, "ar")
    page.click("#next")
    choose(page, "3")
    page.click("#next")
    assert screen(page) == "school_years"
    page.fill("#answer", "99")  # the form's constraint: 0 to 30 years
    page.click("#next")
    assert screen(page) == "school_years" and page.locator("#problem").count() == 1
    page.fill("#answer", "12")
    page.click("#next")
    assert screen(page) == "has_qualification"

    # In Arabic the screen reads right to left; the hub's own page keeps its language.
    page.click(".preview-languages a[data-lang='ar']")
    preview = page.locator("#preview")
    assert (preview.get_attribute("dir"), preview.get_attribute("lang")) == ("rtl", "ar")
    html = page.locator("html")
    assert (html.get_attribute("dir"), html.get_attribute("lang")) == ("ltr", "fr")
    page.click("#next")
    choose(page, "none")
    page.click("#next")
    assert screen(page) == "education_level"


def test_publish_and_assign_with_errors_beside_the_fields(
    page: Page, hub_url: str, hub_database: str
) -> None:
    with database(hub_database) as session:
        in_wing = session.scalar(
            select(func.count()).where(
                Detainee.site == "rabat-1", Detainee.wing == "a", Detainee.state == "in_custody"
            )
        )
        number = session.scalar(
            select(Detainee.prison_number)
            .where(Detainee.site == "fes-2", Detainee.state == "in_custody")
            .order_by(Detainee.prison_number)
        )
    log_in(page, hub_url, "social")
    page.goto(hub_url + "/questionnaires/masar_wishes")
    page.click("#publish")  # no place chosen
    assert page.locator("#publish-form #place-error").count() == 1
    page.select_option("#f-place", "rabat-1/a")
    page.click("#publish")
    assert page.locator("p.notice").count() == 1
    assert page.locator("#published li[data-place='rabat-1/a']").count() == 1

    past = (date.today() - timedelta(days=1)).isoformat()
    page.select_option("#f-wing", "rabat-1/a")
    page.fill("#f-due_on", past)
    page.click("#assign")
    assert page.locator("#assign-form #due_on-error").count() == 1
    assert page.input_value("#f-wing") == "rabat-1/a"  # what was chosen is kept
    assert page.input_value("#f-due_on") == past
    due = (date.today() + timedelta(days=10)).isoformat()
    page.fill("#f-due_on", due)
    page.click("#assign")
    assert page.locator("p.notice").count() == 1
    row = page.locator("#completion tr[data-target='wing'][data-place='rabat-1/a']")
    assert row.locator("td[data-assigned]").get_attribute("data-assigned") == str(in_wing)
    assert row.locator("td[data-answered]").get_attribute("data-answered") == "0"

    page.fill("#f-prison_number", "0000/NOBODY")
    page.fill("#f-due_on", due)
    page.click("#assign")
    assert page.locator("#assign-form #prison_number-error").count() == 1
    assert page.input_value("#f-prison_number") == "0000/NOBODY"
    page.fill("#f-prison_number", str(number))
    page.click("#assign")
    person = page.locator(f"#completion tr[data-prison-number='{number}']")
    assert person.locator("td[data-assigned]").get_attribute("data-assigned") == "1"

    page.goto(hub_url + "/questionnaires")
    totals = page.locator("tr[data-form-id='masar_wishes'] td[data-assigned]")
    assert totals.get_attribute("data-assigned") == str(in_wing + 1)
    with database(hub_database) as session:
        document = session.get(SyncDocument, ("questionnaire", "masar_wishes@rabat-1/a"))
        assert document is not None and document.wing == "a"
        kinds = session.scalars(
            select(QuestionnaireAssignment.target_kind).where(
                QuestionnaireAssignment.form_id == "masar_wishes"
            )
        ).all()
        assert sorted(kinds) == ["detainee", "wing"]


def test_answers_are_exported_and_health_answers_only_to_health_staff(
    page: Page, hub_url: str, hub_database: str, tmp_path: Path
) -> None:
    with database(hub_database) as session:
        responses = session.execute(
            select(Detainee.prison_number, Event.body["form_id"].as_string())
            .join(Detainee, Detainee.id == Event.subject)
            .where(Event.type == "questionnaire.response")
        ).all()
    intake = sorted(number for number, form in responses if form == "masar_intake")
    phq9 = sorted(number for number, form in responses if form == "phq9")
    assert intake and phq9

    log_in(page, hub_url, "admin")
    page.goto(hub_url + "/questionnaires/masar_intake")
    with page.expect_download() as download:
        page.click("#export-csv")
    saved = tmp_path / "intake.csv"
    download.value.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text("utf-8-sig"))))
    assert sorted(row["prison_number"] for row in rows) == intake
    assert all(row["education_level"] for row in rows)
    again = page.request.get(hub_url + "/questionnaires/masar_intake/answers.csv")
    assert again.headers["content-type"] == "text/csv; charset=utf-8"

    page.goto(hub_url + "/questionnaires/phq9")  # the admin holds no health.read
    assert page.locator("#export-refused").count() == 1
    assert page.locator("#export-csv").count() == 0
    refused = page.request.get(hub_url + "/questionnaires/phq9/answers.csv")
    assert refused.status == 403
    with database(hub_database) as session:
        audited = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "health.refused")
        ).all()
        assert any(e.details["path"] == "/questionnaires/phq9/answers.csv" for e in audited)

    page.context.clear_cookies()
    log_in(page, hub_url, "nurse")
    page.goto(hub_url + "/questionnaires/phq9")
    with page.expect_download() as download:
        page.click("#export-xlsx")
    saved = tmp_path / "phq9.xlsx"
    download.value.save_as(saved)
    sheet = openpyxl.load_workbook(saved).active
    numbers = sorted(str(row[0]) for row in sheet.iter_rows(min_row=2, values_only=True))
    assert numbers == phq9
    with database(hub_database) as session:
        exports = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "questionnaire.export")
        ).all()
        assert [(e.details["form_id"], e.details["format"]) for e in exports] == [
            ("masar_intake", "csv"),
            ("masar_intake", "csv"),  # fetched again for its headers
            ("phq9", "xlsx"),
        ]
