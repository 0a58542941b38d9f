"""XLSForm import: the shipped forms load; a faulty form is refused naming sheet, row, column."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from hub.questionnaires import FACTS, XLSFormError, build_forms, load_xlsform, shipped_forms
from hub.questionnaires.xlsform import LANGUAGES, _expression_problem

Tables = dict[str, list[list[str]]]

LABELS = ["label::Arabic (ar)", "label::French (fr)", "label::Tamazight (tzm)"]
MINIMAL: Tables = {
    "survey": [
        ["type", "name", *LABELS, "relevant", "masar::fact"],
        ["select_one yes_no", "worked", "هل عملت؟", "Avez-vous travaillé ?", "ⵉⵙ ⵜⵅⴷⵎⴷ?", "", ""],
        ["text", "job", "ما العمل؟", "Quel métier ?", "ⵎⴰⵜⵜⴰ ⵜⴰⵡⵓⵔⵉ?", "${worked} = 'yes'", "wish"],
    ],
    "choices": [
        ["list_name", "name", *LABELS],
        ["yes_no", "yes", "نعم", "Oui", "ⵢⴰⵀ"],
        ["yes_no", "no", "لا", "Non", "ⵓⵀⵓ"],
    ],
    "settings": [
        ["form_id", "version", "masar::title::Arabic (ar)", "masar::title::French (fr)",
         "masar::title::Tamazight (tzm)"],
        ["test_form", "1", "عمل", "Travail", "ⵜⴰⵡⵓⵔⵉ"],
    ],
}  # fmt: skip


def with_cell(sheet: str, row: int, column: str, value: str) -> bytes:
    """MINIMAL as .xlsx with one cell changed; `row` is the spreadsheet row (header = 1)."""
    tables = copy.deepcopy(MINIMAL)
    header = tables[sheet][0]
    if column not in header:
        for number, cells in enumerate(tables[sheet]):
            cells.append(column if number == 0 else "")
    tables[sheet][row - 1][header.index(column)] = value
    return build_forms.workbook_bytes(tables)


def refusal(source: bytes) -> str:
    with pytest.raises(XLSFormError) as caught:
        load_xlsform(source)
    return str(caught.value)


def test_a_correct_form_loads_with_its_facts_titles_and_languages(tmp_path: Path) -> None:
    path = tmp_path / "test_form.xlsx"
    path.write_bytes(build_forms.workbook_bytes(MINIMAL))
    form = load_xlsform(path)
    assert (form.form_id, form.version) == ("test_form", "1")
    assert form.titles == {"ar": "عمل", "fr": "Travail", "tzm": "ⵜⴰⵡⵓⵔⵉ"}
    assert form.languages == {code: name for code, name in LANGUAGES.items()}
    [mapping] = form.facts
    assert (mapping.fact, mapping.name, mapping.path, mapping.row) == ("wish", "job", "job", 3)
    assert [child["name"] for child in form.survey["children"]][:2] == ["worked", "job"]
    assert load_xlsform(path.read_bytes()) == form


def test_every_shipped_form_loads_in_the_three_languages() -> None:
    forms = shipped_forms()
    assert set(forms) == {"masar_intake", "masar_entrepreneurship", "masar_wishes", "phq9", "gad7"}
    for form in forms.values():
        assert {"ar", "fr", "tzm"} <= set(form.languages), form.form_id
        assert set(form.titles) == {"ar", "fr", "tzm"}, form.form_id
        assert form.warnings == (), form.form_id
        assert "native speakers" in form.note, form.form_id
    assert "Pfizer" in forms["phq9"].note and "Pfizer" in forms["gad7"].note


def test_shipped_forms_map_answers_to_the_profile_facts() -> None:
    facts = {
        form_id: {(m.fact, m.path) for m in form.facts} for form_id, form in shipped_forms().items()
    }
    assert ("education_level", "education/education_level") in facts["masar_intake"]
    assert ("occupation", "work/last_occupation") in facts["masar_intake"]
    assert ("occupation", "after_release/wished_occupation") in facts["masar_wishes"]
    assert facts["masar_entrepreneurship"] == {("entrepreneurial_aptitude", "ent_score")}
    used = {fact for pairs in facts.values() for fact, _ in pairs}
    assert used == set(FACTS)


def test_the_isced_question_offers_levels_0_to_8() -> None:
    intake = shipped_forms()["masar_intake"].survey
    assert [c["name"] for c in intake["choices"]["isced"]] == [str(level) for level in range(9)]


def test_shipped_xlsx_files_match_their_python_definitions() -> None:
    for form in build_forms.FORMS:
        path = build_forms.FORMS_DIR / f"{form.form_id}.xlsx"
        assert build_forms.read_sheets(path) == build_forms.sheets(form), (
            f"{path.name} is stale: run python -m hub.questionnaires.build_forms"
        )


def test_select_one_naming_a_missing_choice_list_is_refused() -> None:
    assert refusal(with_cell("survey", 2, "type", "select_one yes_non")) == (
        "survey sheet, row 2, column 'type': List name not in choices sheet: yes_non"
    )


def test_relevant_naming_an_unknown_question_is_refused() -> None:
    assert refusal(with_cell("survey", 3, "relevant", "${workd} = 'yes'")) == (
        "survey sheet, row 3, column 'relevant': On the 'survey' sheet, the 'relevant' value is "
        "invalid. Reference variables must contain a name from the 'survey' sheet. Could not "
        "find the name 'workd'."
    )


def test_relevant_with_a_doubled_operator_is_refused() -> None:
    assert refusal(with_cell("survey", 3, "relevant", "${worked} = = 'yes'")) == (
        "survey sheet, row 3, column 'relevant': invalid expression \"${worked} = = 'yes'\": "
        "operator '=' has no left operand"
    )


def test_an_unknown_question_type_is_located_although_pyxform_gives_no_row() -> None:
    assert refusal(with_cell("survey", 3, "type", "txet")) == (
        "survey sheet, row 3, column 'type': Unknown question type 'txet'."
    )


def test_an_unknown_fact_tag_is_refused() -> None:
    assert refusal(with_cell("survey", 3, "masar::fact", "educaton_level")) == (
        "survey sheet, row 3, column 'masar::fact': unknown fact 'educaton_level'; known: "
        + ", ".join(FACTS)
    )


def test_a_missing_tamazight_label_is_refused() -> None:
    assert refusal(with_cell("survey", 3, "label::Tamazight (tzm)", "")) == (
        "survey sheet, row 3, column 'label::Tamazight (tzm)': missing the Tamazight (tzm) "
        "translation; Masar forms need ar, fr, tzm in every label"
    )


def test_a_missing_arabic_choice_label_is_refused() -> None:
    assert refusal(with_cell("choices", 3, "label::Arabic (ar)", "")) == (
        "choices sheet, row 3, column 'label::Arabic (ar)': missing the Arabic (ar) "
        "translation; Masar forms need ar, fr, tzm in every label"
    )


def test_a_hint_in_one_language_only_is_refused() -> None:
    assert refusal(with_cell("survey", 2, "hint::French (fr)", "Oui ou non")) == (
        "survey sheet, row 2, column 'hint::Arabic (ar)': missing the Arabic (ar) "
        "translation; Masar forms need ar, fr, tzm in every hint"
    )


def test_a_form_without_version_or_title_is_refused() -> None:
    assert refusal(with_cell("settings", 2, "version", "")) == (
        "settings sheet, row 2, column 'version': missing; the hub keeps every version of a "
        "form by id"
    )
    assert refusal(with_cell("settings", 2, "masar::title::French (fr)", "")) == (
        "settings sheet, row 2, column 'masar::title::French (fr)': missing the French (fr) title"
    )


def test_a_file_that_is_not_an_xlsx_is_refused() -> None:
    assert refusal(b"type,name\ntext,a\n").startswith("not a readable .xlsx XLSForm: ")


@pytest.mark.parametrize(
    "expression",
    [
        ". >= 0 and . <= 30",
        "count-selected(.) <= 3",
        "selected(${skills}, 'other')",
        "if(${t} >= 20, 'severe', if(${t} >= 15, 'moderately severe', 'minimal'))",
        "${a} * -${b} != 2",
        "(6 - ${ent_4}) + ${ent_5}",
    ],
)
def test_well_formed_expressions_pass(expression: str) -> None:
    assert _expression_problem(expression) is None


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("selected(${a}, 'x'", "'(' is not closed"),
        ("${a} = 1)", "')' without '('"),
        ("${a} = 'yes", "the quote ' is not closed"),
        ("${a} > 1 and", "the expression ends with an operator"),
        ("${a = 1", "'${' is not closed by '}'"),
        ("and ${a}", "operator 'and' has no left operand"),
    ],
)
def test_malformed_expressions_are_named(expression: str, problem: str) -> None:
    assert _expression_problem(expression) == problem


def test_a_group_keeps_its_relevant_so_the_kiosk_skips_the_whole_group() -> None:
    from protocol.questionnaire import FormDefinition, FormRun

    tables = copy.deepcopy(MINIMAL)
    tables["survey"][2:] = [
        ["begin_group", "past_job", "عمل", "Emploi", "ⵜⴰⵡⵓⵔⵉ", "${worked} = 'yes'", ""],
        ["text", "job", "ما العمل؟", "Quel métier ?", "ⵎⴰⵜⵜⴰ ⵜⴰⵡⵓⵔⵉ?", "", ""],
        ["end_group", "", "", "", "", "", ""],
    ]
    form = load_xlsform(build_forms.workbook_bytes(tables))
    run = FormRun(FormDefinition.from_survey(form.survey, form_id="t", version="1"))
    assert not run.is_relevant("job")
    assert run.answer("worked", "yes") is None
    assert run.is_relevant("job")
