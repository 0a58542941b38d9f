"""Properties of the questionnaire runtime (protocol/questionnaire.py, protocol/xpath.py) on
forms hypothesis writes itself: expressions built from the XLSForm grammar, questions of
every type with skip logic, constraints and calculations that read each other (cycles
included), and malformed documents. A person can type anything; a form can say anything.

* every expression the grammar builds parses, and evaluates to an XPath value or raises
  ExpressionError, whatever the answers;
* a run never raises on an answer, a refused answer changes nothing, a draft restored from
  ``answers`` gives the same final answers, and the final answers travel through the codec;
* a malformed document is refused with FormError, never another exception.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import decode_event, encode, uuid7
from protocol.events import QuestionnaireResponse, QuestionnaireResponseEvent
from protocol.questionnaire import FormDefinition, FormError, FormRun, Problem
from protocol.xpath import FUNCTIONS, ExpressionError, Value, parse, to_string

TODAY = date(2026, 11, 29)
NAMES = [f"q{n}" for n in range(6)]
LANGUAGES = ("ar", "fr", "tzm", "en")
SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# --- expressions ------------------------------------------------------------------------------

SAFE_FUNCTIONS = sorted(name for name in FUNCTIONS if name != "regex")
PATTERNS = ["^[0-9]+$", "^\\p{L}", "[", "(a", "a{2,3}", "^$", "[٠-٩]", ".*"]
numbers = st.one_of(
    st.integers(0, 10**6).map(str),
    st.sampled_from(["0.5", ".5", "3.", "9" * 40, "0"]),  # XPath 1.0 has no 1e3
)
strings = st.text(
    alphabet=st.characters(blacklist_characters="'", blacklist_categories=["Cs"]), max_size=8
).map(lambda text: f"'{text}'")
references = st.sampled_from([f"${{{name}}}" for name in NAMES] + ["."])
atoms = st.one_of(numbers, strings, references, st.sampled_from(["true()", "false()", "today()"]))


def _combine(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    operators = ["+", "-", "*", "div", "mod", "=", "!=", "<", "<=", ">", ">=", "and", "or"]

    @st.composite
    def call(draw: st.DrawFn) -> str:
        name = draw(st.sampled_from([*SAFE_FUNCTIONS, "regex"]))
        function = FUNCTIONS[name]
        most = function.least + 3 if function.most is None else function.most
        count = draw(st.integers(function.least, most))
        arguments = [draw(inner) for _ in range(count)]
        if name == "regex":
            arguments[1] = "'" + draw(st.sampled_from(PATTERNS)) + "'"
        return f"{name}({', '.join(arguments)})"

    return st.one_of(
        st.tuples(inner, st.sampled_from(operators), inner).map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
        inner.map(lambda text: f"-{text}"),
        inner.map(lambda text: f"({text})"),
        call(),
    )


expressions = st.recursive(atoms, _combine, max_leaves=12)
answers_seen = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(),
    st.dates(),
    st.text(max_size=12),
    st.sampled_from(["", "12", "-3.5", "2024-02-29", "2024-02-30", "a b c", "١٢", "NaN"]),
    st.lists(st.sampled_from(["a", "b", "c"]), max_size=3),
)


def same(left: Value, right: Value) -> bool:
    both_nan = isinstance(left, float) and isinstance(right, float) and math.isnan(left)
    return (both_nan and math.isnan(right)) or left == right


@settings(max_examples=400, deadline=None)
@given(
    text=expressions,
    context=st.dictionaries(st.sampled_from([*NAMES, "."]), answers_seen),
    today=st.dates(),
)
def test_every_grammatical_expression_parses_and_evaluates_to_a_value(
    text: str, context: dict[str, Any], today: date
) -> None:
    expression = parse(text)
    assert expression.references <= set(NAMES)
    try:
        value = expression.evaluate(context, today=today)
    except ExpressionError as error:
        assert str(error)
        return
    assert isinstance(value, str | float | bool | date)
    shown = to_string(value)
    assert isinstance(shown, str)
    if isinstance(value, float) and math.isfinite(value):
        assert "e" not in shown.lower()  # never in exponent form
    assert same(parse(text).evaluate(context, today=today), value)  # no hidden state


# --- forms ------------------------------------------------------------------------------------

TYPES = ["integer", "decimal", "text", "date", "select_one", "select_multiple", "note", "calculate"]
CHOICES = ["a", "b", "c"]


def texts(name: str) -> dict[str, str]:
    return {
        "Arabic (ar)": f"سؤال {name} ${{q0}}",
        "French (fr)": f"Question {name}",
        "Tamazight (tzm)": f"ⴰⵙⵇⵙⵉ {name}",
    }


@st.composite
def questions(draw: st.DrawFn, name: str) -> dict[str, Any]:
    kind = draw(st.sampled_from(TYPES))
    bind: dict[str, Any] = {}
    if draw(st.booleans()):
        bind["relevant"] = draw(expressions)
    if kind == "calculate":
        bind["calculate"] = draw(expressions)
    elif kind != "note":
        if draw(st.booleans()):
            bind["constraint"] = draw(expressions)
            bind["jr:constraintMsg"] = {"French (fr)": "Non."}
        bind["required"] = draw(st.sampled_from(["yes", "no", "", True, False]) | expressions)
    element: dict[str, Any] = {"type": kind, "name": name, "label": texts(name), "bind": bind}
    if kind.startswith("select"):
        element["children"] = [{"name": c, "label": texts(c)} for c in CHOICES]
    if draw(st.booleans()):
        element["default"] = draw(st.sampled_from(["1", "a", "2024-01-01", "x y", ""]))
    return element


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(1, len(NAMES)))
    elements = [draw(questions(name)) for name in NAMES[:count]]
    split = draw(st.integers(0, count))
    if split < count and draw(st.booleans()):  # the tail inside a group with its own relevance
        group: dict[str, Any] = {"type": "group", "name": "g", "children": elements[split:]}
        if draw(st.booleans()):
            group["bind"] = {"relevant": draw(expressions)}
        elements = [*elements[:split], group]
    survey = {"type": "survey", "name": "data", "children": elements, "default_language": "fr"}
    return {"form_id": "generated", "version": "1", "titles": {"fr": "Titre"}, "survey": survey}


typed = st.one_of(
    st.sampled_from(["", " ", "0", "12", "-3", "3,5", "1e3", "99999999999999999", "١٢٫٥",
                     "2024-02-29", "2023-02-29", "a", "b c", "a a", "z", "\x00", "\u202e1"]),
    st.text(max_size=15),
    st.integers(-(10**20), 10**20),
    st.floats(),
    st.booleans(),
    st.none(),
    st.lists(st.sampled_from([*CHOICES, "z", "", 3]), max_size=4),
)  # fmt: skip


def snapshot(run: FormRun) -> tuple[Any, ...]:
    return run.answers, run.final_answers(), [q.name for q in run.relevant_screens()]


def wire_round_trip(run: FormRun) -> None:
    """The final answers are what a kiosk sends: they must pass the codec unchanged."""
    moment = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
    event = QuestionnaireResponseEvent(
        id=uuid7(),
        site="rabat-1",
        device="wing-a-1",
        seq=1,
        at=moment,
        subject="d-1",
        body=QuestionnaireResponse(
            form_id="generated",
            form_version="1",
            language="ar",
            started_at=moment,
            completed_at=moment,
            answers=run.final_answers(),
        ),
    )
    assert decode_event(encode(event)) == event


@SETTINGS
@given(
    document=documents(),
    steps=st.lists(st.tuples(st.sampled_from(NAMES), typed), max_size=12),
)
def test_a_run_on_any_generated_form_never_raises_and_resumes_from_its_draft(
    document: dict[str, Any], steps: list[tuple[str, Any]]
) -> None:
    definition = FormDefinition.from_document(document)  # grammatical: always readable
    run = FormRun(definition, today=TODAY)
    answerable = {q.name for q in definition.screens if q.type != "note"}
    for name, raw in steps:
        if name not in answerable:  # absent from this form, a note, or computed by it
            continue
        before = snapshot(run)
        problem = run.answer(name, raw)
        if problem is not None:
            assert isinstance(problem, Problem) and problem.question == name
            assert snapshot(run) == before  # a refused answer changes nothing
            assert all(problem.message(code).strip() for code in LANGUAGES)
    final = run.final_answers()
    relevant = {q.name for q in definition.questions if run.is_relevant(q.name)}
    assert set(final) <= relevant
    assert all(not (isinstance(v, float) and not math.isfinite(v)) for v in final.values())
    restored = FormRun(definition, run.answers, today=TODAY)
    assert restored.final_answers() == final
    assert restored.relevant_screens() == run.relevant_screens()
    for question in definition.screens:
        position, total = run.progress(question.name)
        assert 1 <= position <= total + 1
        for code in LANGUAGES:
            assert isinstance(run.label(question.name, code), str)
    first = run.check_all()
    assert first is None or (first[0] in answerable and run.is_relevant(first[0]))
    wire_round_trip(run)


# --- malformed documents ------------------------------------------------------------------

KEYS = ["type", "name", "label", "bind", "children", "choices", "itemset", "list_name",
        "relevant", "calculate", "constraint", "required", "control", "media", "hint",
        "default", "jr:preload", "audio", "bodyless", "appearance", "survey", "form_id",
        "version", "titles", "default_language"]  # fmt: skip
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False),
    st.sampled_from(["group", "repeat", "select_one", "integer", "calculate", "note", "${q0} >",
                     "q0", "(", "yes", "", "Arabic (ar)"]),
    st.text(max_size=6),
)  # fmt: skip
garbage = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), inner, max_size=6)
    ),
    max_leaves=25,
)


@settings(max_examples=250, deadline=None)
@given(
    document=garbage,
    survey=garbage,
    children=garbage,
    element=st.dictionaries(st.sampled_from(KEYS), garbage, max_size=6),
    kind=st.sampled_from(["group", "select_one", "select_multiple", "integer", "calculate"]),
)
def test_a_malformed_document_is_refused_with_form_error_only(
    document: Any, survey: Any, children: Any, element: dict[str, Any], kind: str
) -> None:
    nested = {"name": "x", **element, "type": kind}  # a known type, anything else
    candidates = [
        document,
        {"form_id": "f", "version": "1", "survey": survey},
        {"form_id": "f", "version": "1", "survey": {"children": children, "choices": survey}},
        {"form_id": "f", "version": "1", "survey": {"children": [nested], "choices": survey}},
    ]
    for candidate in candidates:
        try:
            definition = FormDefinition.from_document(candidate)
        except FormError as error:
            assert str(error)
            continue
        run = FormRun(definition, today=TODAY)  # a readable form runs
        for question in definition.screens:
            run.label(question.name, "ar")
            if question.type != "note":
                run.answer(question.name, "1")
        run.final_answers()
