"""The questionnaire runtime on the shipped XLSForms and on a small form of every feature."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.questionnaires import build_forms, load_xlsform, scoring
from hub.questionnaires.xlsform import Form, shipped_forms
from protocol.codec import decode_message, dumps
from protocol.events import QuestionnaireProgress, QuestionnaireResponse
from protocol.questionnaire import (
    DEFAULT_MESSAGES,
    FormDefinition,
    FormError,
    FormRun,
    Problem,
    Question,
)

LANGUAGES = ("ar", "fr", "tzm")
SHIPPED: dict[str, Form] = shipped_forms()


def published(form: Form) -> dict[str, Any]:
    """The document hub/questionnaires/library.py `publish` sends to kiosks."""
    return {
        "form_id": form.form_id,
        "version": form.version,
        "titles": dict(form.titles),
        "survey": form.survey,
    }


DEFINITIONS = {
    form_id: FormDefinition.from_document(published(f)) for form_id, f in SHIPPED.items()
}

L = ["label::Arabic (ar)", "label::French (fr)", "label::Tamazight (tzm)"]
H = ["hint::Arabic (ar)", "hint::French (fr)", "hint::Tamazight (tzm)"]
R = [
    "required_message::Arabic (ar)",
    "required_message::French (fr)",
    "required_message::Tamazight (tzm)",
]
C = [
    "constraint_message::Arabic (ar)",
    "constraint_message::French (fr)",
    "constraint_message::Tamazight (tzm)",
]
COLUMNS = [
    "type",
    "name",
    *L,
    *H,
    "required",
    *R,
    "relevant",
    "constraint",
    *C,
    "calculation",
    "media::audio::Arabic (ar)",
    "default",
    "appearance",
]


def row(
    kind: str, name: str, label: tuple[str, str, str] = ("", "", ""), **cells: str
) -> list[str]:
    values = {"type": kind, "name": name, **dict(zip(L, label, strict=True)), **cells}
    for base, columns in (("hint", H), ("required_message", R), ("constraint_message", C)):
        if base in values:
            text = values.pop(base)
            values.update({column: f"{text} {column[-4:].strip('()')}" for column in columns})
    return [values.get(column, "") for column in COLUMNS]


EVERYTHING: dict[str, list[list[str]]] = {
    "survey": [
        COLUMNS,
        row("note", "hello",
            ("مرحبا ${first_name}", "Bonjour ${first_name}", "ⴰⵣⵓⵍ ${first_name}")),
        row("text", "first_name", ("الاسم", "Prénom", "ⵉⵙⵎ"), required="yes",
            required_message="name please"),
        row("integer", "age", ("العمر", "Âge", "ⴰⵡⵜⴰⵢ"), required="yes", constraint=". >= 18",
            hint="in years"),
        row("decimal", "weight", ("الوزن", "Poids", "ⵜⴰⵥⴰⵢⵜ"), required="${age} > 60",
            default="70.5"),
        row("date", "release", ("الإفراج", "Libération", "ⴰⴼⵙⵙⴰⵢ"),
            constraint=". > today()", constraint_message="after today"),
        row("select_one yes_no", "smokes", ("تدخن؟", "Fumez-vous ?", "ⵜⵜⴽⵎⴰⴹ?"),
            required="yes", **{"media::audio::Arabic (ar)": "smokes_ar.mp3"}),
        row("text", "why", ("لماذا يا ${first_name}؟", "Pourquoi, ${first_name} ?",
                            "ⵎⴰⵖⴼ, ${first_name}?"), relevant="${smokes} = 'yes'"),
        row("select_multiple langs", "langs", ("اللغات", "Langues", "ⵜⵓⵜⵍⴰⵢⵉⵏ"),
            constraint="count-selected(.) <= 2", appearance="minimal"),
        row("note", "summary", ("${smokes} ${langs}", "${smokes} ${langs}", "${smokes} ${langs}")),
        row("calculate", "days_to_release", calculation="${release} - today()"),
        row("calculate", "bmi_band", calculation="if(${weight} > 100, 'high', 'usual')"),
        row("today", "today"),
        row("start", "start"),
    ],
    "choices": [
        ["list_name", "name", *L, "media::audio::French (fr)"],
        ["yes_no", "yes", "نعم", "Oui", "ⵢⴰⵀ", "oui.mp3"],
        ["yes_no", "no", "لا", "Non", "ⵓⵀⵓ", ""],
        ["langs", "ar", "العربية", "Arabe", "ⵜⴰⵄⵔⴰⴱⵜ", ""],
        ["langs", "fr", "الفرنسية", "Français", "ⵜⴰⴼⵔⴰⵏⵙⵉⵙⵜ", ""],
        ["langs", "tzm", "الأمازيغية", "Tamazight", "ⵜⴰⵎⴰⵣⵉⵖⵜ", ""],
    ],
    "settings": [
        ["form_id", "version", "masar::title::Arabic (ar)", "masar::title::French (fr)",
         "masar::title::Tamazight (tzm)"],
        ["everything", "3", "كل شيء", "Tout", "ⴽⵓⵍⵍⵓ"],
    ],
}  # fmt: skip
TODAY = date(2026, 1, 15)


@pytest.fixture(scope="module")
def everything() -> FormDefinition:
    return FormDefinition.from_document(
        published(load_xlsform(build_forms.workbook_bytes(EVERYTHING)))
    )


def response(run: FormRun, language: str = "fr") -> QuestionnaireResponse:
    """The final answers through the wire's own strict validation."""
    body = {
        "form_id": run.definition.form_id,
        "form_version": run.definition.version,
        "language": language,
        "started_at": "2026-01-15T09:00:00.000Z",
        "completed_at": "2026-01-15T09:20:00.000Z",
        "answers": run.final_answers(),
    }
    return decode_message(dumps(body), QuestionnaireResponse)


def an_accepted_answer(run: FormRun, question: Question) -> None:
    """Answer with the first value the question takes."""
    candidates = [c.name for c in question.choices] or ["5", "2000", "2030-06-01", "texte"]
    for candidate in candidates:
        if run.answer(question.name, candidate) is None:
            return
    raise AssertionError(f"no candidate answer accepted by {question.name}")


# --- the shipped forms ------------------------------------------------------------------------


def test_the_shipped_forms_read_with_their_ids_versions_titles_and_languages() -> None:
    assert set(DEFINITIONS) == {"masar_intake", "masar_wishes", "masar_entrepreneurship", "phq9",
                                "gad7"}  # fmt: skip
    for form_id, definition in DEFINITIONS.items():
        assert definition.form_id == form_id
        assert definition.version == SHIPPED[form_id].version
        assert set(LANGUAGES) <= set(definition.languages)
        assert all(definition.title(code) for code in LANGUAGES)
        hidden = {q.name for q in definition.questions} - {q.name for q in definition.screens}
        assert "instanceID" in hidden  # pyxform's metadata is never a screen
        assert all(q.type != "calculate" for q in definition.screens)
    phq9 = DEFINITIONS["phq9"]
    assert phq9.question("phq9_1").type == "select_one"
    assert [c.name for c in phq9.question("phq9_1").choices] == ["0", "1", "2", "3"]
    assert phq9.question("phq9_1").path == "items/phq9_1"
    assert phq9.question("phq9_1").groups[0]["fr"].startswith("Au cours des 2 dernières")
    assert DEFINITIONS["masar_intake"].question("skills").type == "select_multiple"


def test_every_screen_has_its_texts_in_every_language() -> None:
    for definition in DEFINITIONS.values():
        run = FormRun(definition)
        for question in definition.screens:
            for language in LANGUAGES:
                assert question.labels[language].strip(), (question.path, language)
                assert run.label(question.name, language).strip()
                for choice in question.choices:
                    assert choice.labels[language].strip(), (question.path, choice.name)
                    assert run.choice_label(question.name, choice.name, language).strip()


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("form_id", sorted(SHIPPED))
def test_walking_every_screen_to_the_end(form_id: str, language: str) -> None:
    definition = DEFINITIONS[form_id]
    run = FormRun(definition)
    name, walked = run.first(), list[str]()
    while name is not None:
        position, count = run.progress(name)
        assert position == len(walked) + 1 and position <= count
        assert run.label(name, language).strip()
        question = definition.question(name)
        if question.type != "note":
            an_accepted_answer(run, question)
        assert run.previous_before(name) == (walked[-1] if walked else None)
        walked.append(name)
        name = run.next_after(name)
    assert run.progress(walked[-1]) == (len(walked), len(walked))
    assert run.previous_before(None) == walked[-1]  # back from the end page
    assert run.next_after(None) == walked[0]
    assert run.check_all() is None
    assert response(run, language).answers == run.final_answers()


def test_skip_logic_hides_and_brings_back_a_question_with_its_answer() -> None:
    run = FormRun(DEFINITIONS["masar_intake"])
    # relevant: ${literacy} != 'none'
    assert run.is_relevant("literacy_languages")  # '' != 'none'
    assert run.answer("literacy", "both") is None
    assert run.answer("literacy_languages", ["ar", "fr"]) is None
    assert run.next_after("literacy") == "literacy_languages"
    assert run.answer("literacy", "none") is None
    assert not run.is_relevant("literacy_languages")
    assert run.next_after("literacy") == "education_level"
    assert run.previous_before("education_level") == "literacy"
    assert "literacy_languages" not in run.final_answers()
    assert run.answers["literacy_languages"] == ["ar", "fr"]  # kept for a change of mind
    assert run.answer("literacy", "read") is None
    assert run.final_answers()["literacy_languages"] == ["ar", "fr"]


def test_a_hidden_required_question_does_not_block_submitting() -> None:
    run = FormRun(DEFINITIONS["masar_wishes"])
    # training_wish_other: required, relevant: selected(${training_wish}, 'other')
    assert run.answer("training_wish", "other") is None
    found = run.check_all()
    assert found is not None and found[0] == "training_wish_other"
    assert run.answer("training_wish", ["computing"]) is None
    found = run.check_all()
    assert found is not None and found[0] == "wished_occupation"


def test_a_refused_constraint_says_the_forms_message_in_each_language() -> None:
    run = FormRun(DEFINITIONS["masar_intake"])
    assert run.answer("education_level", "3") is None
    problem = run.answer("school_years", "31")  # constraint: . >= 0 and . <= 30
    assert problem is not None and problem.kind == "constraint"
    assert problem.message("ar") == "بين 0 و30 سنة."
    assert problem.message("fr") == "Entre 0 et 30 ans."
    assert problem.message("tzm") == "ⴳⵔ 0 ⴷ 30 ⵏ ⵉⵙⴳⴳⵯⴰⵙⵏ."
    assert "school_years" not in run.answers  # a refused answer changes nothing
    assert run.answer("school_years", "12") is None
    assert run.answer("school_years", "-1") is not None
    assert run.answers["school_years"] == "12"


def test_count_selected_constraint_on_a_select_multiple() -> None:
    run = FormRun(DEFINITIONS["masar_wishes"])
    choices = [c.name for c in DEFINITIONS["masar_wishes"].question("plans").choices]
    problem = run.answer("plans", choices[:4])
    assert problem is not None and problem.message("fr") == "Choisissez trois réponses au plus."
    assert run.answer("plans", " ".join(choices[:3])) is None
    assert run.final_answers()["plans"] == choices[:3]


def test_a_required_question_left_empty_says_so_in_plain_words() -> None:
    run = FormRun(DEFINITIONS["gad7"])
    problem = run.answer("gad7_1", "  ")
    assert problem == Problem("gad7_1", "required")
    assert problem.message("ar") == "الجواب مطلوب."
    assert problem.message("fr") == "Une réponse est nécessaire."
    assert problem.message("tzm") == "ⵉⵍⴰⵇ ⴰⴷ ⵜⵔⴰⵔⴷ."
    assert problem.message("xx") == "An answer is needed."
    assert run.check_all() == ("gad7_1", problem)


@pytest.mark.parametrize(
    ("form_id", "total", "band"),
    [("phq9", "phq9_total", "phq9_band"), ("gad7", "gad7_total", "gad7_band")],
)
def test_total_score_calculations_match_a_hand_sum_and_the_hubs_scoring(
    form_id: str, total: str, band: str
) -> None:
    definition = DEFINITIONS[form_id]
    items = [q.name for q in definition.screens if q.name.startswith(f"{form_id}_")]
    items = [name for name in items if name[len(form_id) + 1 :].isdigit()]
    given = {item: str(index % 4) for index, item in enumerate(items)}
    run = FormRun(definition)
    assert total not in run.final_answers()  # unanswered items: no total yet
    for item, value in given.items():
        assert run.answer(item, value) is None
    final = run.final_answers()
    assert final[total] == sum(int(v) for v in given.values())
    score = (scoring.phq9 if form_id == "phq9" else scoring.gad7)(given)
    assert (final[total], final[band]) == (score.total, score.band)
    if form_id == "phq9":
        assert final["phq9_urgent"] == ("yes" if score.urgent else "no")
        # phq9_difficulty is asked only when the total is above 0 (relevant: ${phq9_total} > 0)
        assert run.is_relevant("phq9_difficulty")
        for item in items:
            run.answer(item, "0")
        assert not run.is_relevant("phq9_difficulty")
        assert run.final_answers()["phq9_total"] == 0


def test_the_aptitude_score_counts_reversed_items_as_the_hub_does() -> None:
    run = FormRun(DEFINITIONS["masar_entrepreneurship"])
    given = {f"ent_{i}": str(i % 5 + 1) for i in range(1, 11)}
    for item, value in given.items():
        assert run.answer(item, value) is None
    assert run.final_answers()["ent_score"] == scoring.entrepreneurial_aptitude(given)


def test_a_draft_restores_the_same_run() -> None:
    definition = DEFINITIONS["masar_intake"]
    run = FormRun(definition)
    for name, value in {"literacy": "read", "literacy_languages": "fr ar", "skills": ["other"],
                        "other_skill": "  soudure  ", "has_worked": "no"}.items():  # fmt: skip
        assert run.answer(name, value) is None, name
    saved = decode_message(
        dumps(
            {
                "form_id": "masar_intake",
                "form_version": "1",
                "language": "fr",
                "current": "has_worked",
                "answers": run.answers,
            }
        ),
        QuestionnaireProgress,
    )
    restored = FormRun(definition, saved.answers)
    assert restored.answers == run.answers
    assert restored.final_answers() == run.final_answers()
    assert restored.final_answers()["other_skill"] == "soudure"
    assert FormRun(definition, {"literacy": "nonsense", "gone": "x"}).answers == {}


# --- every feature, on a form made for it -----------------------------------------------------


def test_answers_are_read_by_type(everything: FormDefinition) -> None:
    run = FormRun(everything, today=TODAY)
    for raw, kept in [(" +42 ", "42"), ("١٩", "19"), (19, "19")]:
        assert run.answer("age", raw) is None
        assert run.answers["age"] == kept
    for raw in ["4.5", "12a", "1e3", "--3", "1" * 16, 10**5000]:
        problem = run.answer("age", raw)
        assert problem is not None and problem.kind == "integer", raw
        assert problem.message("fr") == DEFAULT_MESSAGES["integer"]["fr"]
    assert run.answers["age"] == "19"
    for raw, kept in [("3,5", "3.5"), ("3.5", "3.5"), ("+007.", "7"), (".5", "0.5")]:
        assert run.answer("weight", raw) is None
        assert run.answers["weight"] == kept
    assert run.answer("weight", "3,5,1") == Problem("weight", "decimal")
    assert run.answer("release", "2026-02-30") == Problem("release", "date")
    assert run.answer("release", "15/02/2026") == Problem("release", "date")
    assert run.answer("release", "2026-02-28") is None
    assert run.answer("smokes", "maybe") == Problem("smokes", "choice")
    assert run.answer("smokes", "yes no") == Problem("smokes", "choice")
    assert run.answer("langs", ["ar", "xx"]) == Problem("langs", "choice")
    assert run.answer("langs", "fr ar fr") is None
    assert run.answers["langs"] == ["fr", "ar"]
    assert run.answer("first_name", " Ami\x00na\ud800\n") is None
    assert run.answers["first_name"] == "Amina"  # NUL is refused on the wire, a lone
    # surrogate is no UTF-8
    assert run.answer("hello", "anything") is None  # a note keeps nothing
    with pytest.raises(ValueError, match="computed by the form"):
        run.answer("bmi_band", "x")
    with pytest.raises(KeyError, match="no question 'nope'"):
        run.answer("nope", "x")


def test_constraint_required_expression_and_messages(everything: FormDefinition) -> None:
    run = FormRun(everything, today=TODAY)
    problem = run.answer("first_name", "")
    assert problem is not None and problem.message("fr") == "name please fr"
    assert problem.message("tzm") == "name please tzm"
    problem = run.answer("age", "17")  # constraint without a message of its own
    assert problem is not None and problem.message("tzm") == DEFAULT_MESSAGES["constraint"]["tzm"]
    problem = run.answer("release", "2026-01-15")  # . > today()
    assert problem is not None and problem.message("ar") == "after today ar"
    # weight: required when ${age} > 60; it starts at its default 70.5
    assert run.answers["weight"] == "70.5"
    assert run.answer("weight", "") is None
    assert run.answer("age", "61") is None
    assert run.answer("weight", "") == Problem("weight", "required")
    found = run.check_all()
    assert found is not None and found[0] == "first_name"


def test_calculations_use_dates_and_are_typed(everything: FormDefinition) -> None:
    run = FormRun(everything, today=TODAY)
    assert run.final_answers() == {"weight": 70.5, "bmi_band": "usual"}
    assert run.answer("release", "2026-02-14") is None
    assert run.answer("weight", "101") is None
    assert run.final_answers()["days_to_release"] == 30
    assert run.final_answers()["bmi_band"] == "high"
    assert run.value("days_to_release") == 30.0


def test_labels_show_answers_and_choice_labels(everything: FormDefinition) -> None:
    run = FormRun(everything, today=TODAY)
    assert run.label("hello", "fr") == "Bonjour "
    assert run.answer("first_name", "Amina") is None
    assert run.label("hello", "fr") == "Bonjour Amina"
    assert run.label("hello", "tzm") == "ⴰⵣⵓⵍ Amina"
    assert run.answer("smokes", "yes") is None
    assert run.answer("langs", ["tzm", "ar"]) is None
    assert run.label("summary", "fr") == "Oui Tamazight, Arabe"
    assert run.label("summary", "ar") == "نعم الأمازيغية, العربية"
    assert run.label("why", "fr") == "Pourquoi, Amina ?"
    assert run.hint("age", "fr") == "in years fr"
    assert run.choice_label("smokes", "no", "tzm") == "ⵓⵀⵓ"
    question = everything.question("smokes")
    assert question.audio == {"ar": "smokes_ar.mp3"}
    assert question.choice("yes").audio == {"fr": "oui.mp3"}
    assert everything.question("langs").appearance == "minimal"
    assert everything.title("tzm") == "ⴽⵓⵍⵍⵓ"


def test_metadata_and_calculations_are_not_screens(everything: FormDefinition) -> None:
    names = [q.name for q in everything.screens]
    assert names == ["hello", "first_name", "age", "weight", "release", "smokes", "why", "langs",
                     "summary"]  # fmt: skip
    assert {"days_to_release", "bmi_band", "today", "start", "instanceID"} <= {
        q.name for q in everything.questions
    }
    run = FormRun(everything, today=TODAY)
    assert run.next_after("smokes") == "langs"  # why: only when smoking
    run.answer("smokes", "yes")
    assert run.next_after("smokes") == "why"
    assert run.progress("why") == (7, 9)
    run.answer("smokes", "no")
    assert run.progress("why") == (7, 8)  # where it would be
    assert run.progress("langs") == (7, 8)
    with pytest.raises(KeyError, match="not shown on a screen"):
        run.next_after("bmi_band")


def test_a_group_relevance_hides_every_question_inside() -> None:
    # pyxform's to_json_dict drops a group's bind; its workbook_to_json keeps it, like this.
    survey = {
        "type": "survey",
        "name": "data",
        "id_string": "grouped",
        "version": "2",
        "title": "Grouped",
        "children": [
            {"type": "integer", "name": "age", "label": {"French (fr)": "Âge"}},
            {
                "type": "group",
                "name": "adult",
                "label": {"French (fr)": "Adulte"},
                "bind": {"relevant": "${age} >= 18"},
                "children": [
                    {
                        "type": "text",
                        "name": "job",
                        "label": {"French (fr)": "Métier"},
                        "bind": {"relevant": "${age} < 65", "required": "yes"},
                    },
                ],
            },
        ],
    }
    definition = FormDefinition.from_survey(survey)
    assert (definition.form_id, definition.version, definition.title("ar")) == (
        "grouped",
        "2",
        "Grouped",
    )
    assert definition.question("job").relevant == ("${age} >= 18", "${age} < 65")
    assert definition.question("job").groups == ({"fr": "Adulte"},)
    run = FormRun(definition)
    assert run.answer("age", "12") is None
    assert not run.is_relevant("job") and run.check_all() is None
    assert run.answer("age", "30") is None
    assert run.check_all() == ("job", Problem("job", "required"))
    assert run.label("job", "ar") == "Métier"  # no Arabic text: the one there is
    assert run.answer("age", "70") is None and run.check_all() is None


def test_faulty_documents_are_refused_naming_the_question() -> None:
    with pytest.raises(FormError, match="has no survey"):
        FormDefinition.from_document({"form_id": "x", "version": "1"})
    survey = copy.deepcopy(SHIPPED["masar_intake"].survey)
    survey["children"][1]["children"][1]["bind"]["relevant"] = "${literacy} != 'none"
    with pytest.raises(FormError, match=r"question education/literacy_languages, relevant .*quote"):
        FormDefinition.from_survey(survey)
    with pytest.raises(FormError, match="repeats are not supported"):
        FormDefinition.from_survey({"children": [{"type": "repeat", "name": "kids"}]})


# --- properties -------------------------------------------------------------------------------


def typed_text(definition: FormDefinition) -> st.SearchStrategy[Any]:
    names = sorted({c.name for q in definition.screens for c in q.choices})
    plausible = ["", "0", "3", "-1", "3,5", "2024-02-30", "2030-01-01", "99999", " ", "١٢", "a\x00"]
    words = st.sampled_from(names + plausible)
    return st.one_of(st.text(max_size=20), words, st.lists(words, max_size=4))


@pytest.mark.parametrize("form_id", [*sorted(SHIPPED), "everything"])
def test_a_run_never_raises_on_whatever_is_typed(form_id: str, everything: FormDefinition) -> None:
    definition = everything if form_id == "everything" else DEFINITIONS[form_id]
    screens = [q.name for q in definition.screens]

    @settings(max_examples=40, deadline=None)
    @given(st.lists(st.tuples(st.sampled_from(screens), typed_text(definition)), max_size=25))
    def check(steps: list[tuple[str, Any]]) -> None:
        run = FormRun(definition, today=TODAY)
        for name, raw in steps:
            before = run.answers
            problem = run.answer(name, raw)
            assert problem is None or isinstance(problem, Problem)
            if problem is not None:
                assert run.answers == before
                assert all(problem.message(code).strip() for code in LANGUAGES)
        for name in screens:
            run.progress(name)
            run.next_after(name)
            run.previous_before(name)
            assert isinstance(run.label(name, "tzm"), str)
        found = run.check_all()
        assert found is None or found[0] in screens
        response(run)
        assert FormRun(definition, run.answers, today=TODAY).final_answers() == run.final_answers()

    check()
