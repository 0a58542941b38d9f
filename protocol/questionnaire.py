"""Run an XLSForm one question per screen: skip logic, checks, calculations, labels.

The kiosk touchscreen and the hub's preview page both run a questionnaire from the document
the hub publishes — ``{"form_id", "version", "titles": {code: title}, "survey": …}`` where
``survey`` is pyxform's JSON (``survey.to_json_dict()``; ``workbook_to_json`` output reads
the same). `FormDefinition` reads that once; a `FormRun` holds one person's answers.

Answers are kept as the text a form field sends ("12", "3.5", "2024-03-15", "a b" for a
select_multiple) and typed only in `FormRun.final_answers`. An answer to a question that
became non-relevant is kept, so it comes back if the question does, but expressions see it
as '' and it is left out of the final answers and of the checks.
"""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from protocol.xpath import CURRENT, ExpressionError, Value, parse, to_string, truthy

log = logging.getLogger(__name__)

SELECT_ONE = "select_one"
SELECT_MULTIPLE = "select_multiple"
_TYPE_NAMES = {
    "select one": SELECT_ONE,
    "select all that apply": SELECT_MULTIPLE,
    "select multiple": SELECT_MULTIPLE,
    "int": "integer",
}
# Never shown: computed values and the metadata pyxform may add.
HIDDEN_TYPES = frozenset(
    {
        "calculate",
        "hidden",
        "start",
        "end",
        "today",
        "deviceid",
        "subscriberid",
        "simserial",
        "phonenumber",
        "username",
        "email",
        "audit",
        "start-geopoint",
        "background-audio",
        "background-geopoint",
        "xml-external",
        "csv-external",
    }
)
NOTE = "note"
DEFAULT_LANGUAGE_KEY = "default"  # pyxform's key for a text given without a language
MAX_INTEGER_DIGITS = 15  # exact as a float in expressions
MAX_DECIMAL_LENGTH = 30

ProblemKind = Literal["required", "constraint", "integer", "decimal", "date", "choice"]

# Plain words, for people who may read little; forms can give their own required and
# constraint messages. The Tamazight (Tifinagh) lines are a developer's draft for review.
DEFAULT_MESSAGES: dict[ProblemKind, dict[str, str]] = {
    "required": {
        "ar": "الجواب مطلوب.",
        "fr": "Une réponse est nécessaire.",
        "tzm": "ⵉⵍⴰⵇ ⴰⴷ ⵜⵔⴰⵔⴷ.",
        "en": "An answer is needed.",
    },
    "constraint": {
        "ar": "هذا الجواب غير مقبول.",
        "fr": "Cette réponse n'est pas acceptée.",
        "tzm": "ⵜⵉⵔⴰⵔⵉⵜ ⴰⴷ ⵓⵔ ⵜⵜⵡⴰⵇⴱⴰⵍ.",
        "en": "This answer is not accepted.",
    },
    "integer": {
        "ar": "اكتب عددا صحيحا، مثلا 12.",
        "fr": "Écrivez un nombre entier, par exemple 12.",
        "tzm": "ⴰⵔⵓ ⵢⴰⵏ ⵓⵎⴹⴰⵏ, ⴰⵎⵎ 12.",
        "en": "Write a whole number, for example 12.",
    },
    "decimal": {
        "ar": "اكتب عددا، مثلا 3,5.",
        "fr": "Écrivez un nombre, par exemple 3,5.",
        "tzm": "ⴰⵔⵓ ⵢⴰⵏ ⵓⵎⴹⴰⵏ, ⴰⵎⵎ 3,5.",
        "en": "Write a number, for example 3.5.",
    },
    "date": {
        "ar": "اكتب تاريخا صحيحا: سنة-شهر-يوم، مثلا 2024-03-15.",
        "fr": "Écrivez une vraie date : année-mois-jour, par exemple 2024-03-15.",
        "tzm": "ⴰⵔⵓ ⴰⵣⵎⵣ: ⴰⵙⴳⴳⵯⴰⵙ-ⴰⵢⵢⵓⵔ-ⴰⵙⵙ, ⴰⵎⵎ 2024-03-15.",
        "en": "Write a real date: year-month-day, for example 2024-03-15.",
    },
    "choice": {
        "ar": "اختر أحد الأجوبة المعروضة.",
        "fr": "Choisissez une des réponses proposées.",
        "tzm": "ⴼⵔⵏ ⵢⴰⵜ ⵙⴳ ⵜⵉⵔⴰⵔⵉⵏ ⴰⴷ.",
        "en": "Choose one of the answers shown.",
    },
}
_FALLBACK_LANGUAGE = "en"


class FormError(ValueError):
    """A questionnaire document the runtime cannot use; the message names the question."""


# --- the form ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """One answer of a select question; labels and audio by language code."""

    name: str
    labels: Mapping[str, str]
    audio: Mapping[str, str] = field(default_factory=dict)
    images: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Question:
    """One survey element: a question, a note or a calculation. Texts are keyed by language
    code ("ar"), or by "default" when the form gave a text without a language."""

    name: str
    path: str  # "group/sub/name"
    type: str  # select_one, select_multiple, integer, decimal, text, date, note, calculate, …
    labels: Mapping[str, str] = field(default_factory=dict)
    hints: Mapping[str, str] = field(default_factory=dict)
    choices: tuple[Choice, ...] = ()
    required: bool | str = False  # an expression when given as one
    required_messages: Mapping[str, str] = field(default_factory=dict)
    constraint: str | None = None
    constraint_messages: Mapping[str, str] = field(default_factory=dict)
    relevant: tuple[str, ...] = ()  # the enclosing groups' first, then its own
    calculation: str | None = None
    audio: Mapping[str, str] = field(default_factory=dict)
    images: Mapping[str, str] = field(default_factory=dict)
    groups: tuple[Mapping[str, str], ...] = ()  # labels of the enclosing labelled groups
    appearance: str = ""
    default: str = ""
    on_screen: bool = True  # False for calculations and metadata

    def choice(self, name: str) -> Choice:
        for choice in self.choices:
            if choice.name == name:
                return choice
        raise KeyError(f"question {self.name!r} has no choice {name!r}")


@dataclass(frozen=True)
class FormDefinition:
    """A published questionnaire, read once: its questions in order and what is shown."""

    form_id: str
    version: str
    titles: Mapping[str, str]
    languages: tuple[str, ...]  # codes found in the texts, e.g. ("ar", "fr", "tzm")
    default_language: str | None
    questions: tuple[Question, ...]  # all, in order, calculations included
    screens: tuple[Question, ...] = field(init=False)  # what is shown, in order
    _by_name: Mapping[str, Question] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name: dict[str, Question] = {}
        for question in self.questions:
            if question.name in by_name:
                raise FormError(
                    f"two questions are named {question.name!r} ({by_name[question.name].path} "
                    f"and {question.path}); answers are kept by name"
                )
            by_name[question.name] = question
        object.__setattr__(self, "_by_name", by_name)
        object.__setattr__(self, "screens", tuple(q for q in self.questions if q.on_screen))
        for question in self.questions:
            _check_expressions(question)

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> FormDefinition:
        """Read the document the hub publishes to kiosks."""
        if not isinstance(document, Mapping):
            raise FormError("the questionnaire document is not a JSON object")
        missing = [key for key in ("form_id", "version", "survey") if key not in document]
        if missing:
            raise FormError(f"the questionnaire document has no {', '.join(missing)}")
        return cls.from_survey(
            document["survey"],
            document.get("titles"),
            form_id=str(document["form_id"]),
            version=str(document["version"]),
        )

    @classmethod
    def from_survey(
        cls,
        survey: Mapping[str, Any],
        titles: Mapping[str, str] | None = None,
        *,
        form_id: str | None = None,
        version: str | None = None,
    ) -> FormDefinition:
        """Read pyxform's JSON of a survey; form id and version default to its own."""
        if not isinstance(survey, Mapping) or not isinstance(survey.get("children"), list):
            raise FormError("the survey is not pyxform JSON: it has no list of children")
        reader = _SurveyReader(survey)
        questions = tuple(reader.read(survey["children"]))
        default = survey.get("default_language")
        default_code = _code(default) if isinstance(default, str) else None
        return cls(
            form_id=form_id or str(survey.get("id_string") or survey.get("name") or ""),
            version=version if version is not None else str(survey.get("version") or ""),
            titles=dict(titles) if titles else _titles(survey),
            languages=tuple(reader.languages),
            default_language=None if default_code == DEFAULT_LANGUAGE_KEY else default_code,
            questions=questions,
        )

    def question(self, name: str) -> Question:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"questionnaire {self.form_id} has no question {name!r}") from None

    def get(self, name: str) -> Question | None:
        return self._by_name.get(name)

    def text(self, texts: Mapping[str, str], language: str) -> str:
        """The text in `language`, else the untranslated one, else the form's default
        language, else any: a screen shows something rather than nothing."""
        for key in (language, DEFAULT_LANGUAGE_KEY, self.default_language):
            if key and texts.get(key):
                return texts[key]
        return next((text for text in texts.values() if text), "")

    def title(self, language: str) -> str:
        return self.text(self.titles, language)


_LANGUAGE_CODE = re.compile(r"\(([^()]+)\)\s*$")


def _code(language: str) -> str:
    """pyxform's language key "Arabic (ar)" → "ar"; a key without a code stays as it is."""
    match = _LANGUAGE_CODE.search(language)
    return match.group(1).strip() if match else language


def _titles(survey: Mapping[str, Any]) -> dict[str, str]:
    title = survey.get("title")
    if isinstance(title, Mapping):
        return {_code(key): str(text) for key, text in title.items()}
    return {DEFAULT_LANGUAGE_KEY: str(title)} if title else {}


class _SurveyReader:
    """Walks pyxform's tree, carrying the enclosing groups' paths, labels and relevance."""

    def __init__(self, survey: Mapping[str, Any]) -> None:
        lists = survey.get("choices")
        self.choice_lists: Mapping[str, Any] = lists if isinstance(lists, Mapping) else {}
        self.languages: list[str] = []

    def texts(self, value: object) -> dict[str, str]:
        if isinstance(value, Mapping):
            found = {_code(str(key)): str(text) for key, text in value.items() if text}
        elif value:
            found = {DEFAULT_LANGUAGE_KEY: str(value)}
        else:
            found = {}
        for code in found:
            if code != DEFAULT_LANGUAGE_KEY and code not in self.languages:
                self.languages.append(code)
        return found

    def media(self, element: Mapping[str, Any], kind: str) -> dict[str, str]:
        media = element.get("media")
        return self.texts(media.get(kind)) if isinstance(media, Mapping) else {}

    def read(
        self,
        children: Sequence[Any],
        path: tuple[str, ...] = (),
        groups: tuple[Mapping[str, str], ...] = (),
        relevant: tuple[str, ...] = (),
        shown: bool = True,
    ) -> Iterator[Question]:
        if not isinstance(children, list):
            raise FormError(f"{'/'.join(path) or 'the survey'}: its children are not a list")
        for child in children:
            if not isinstance(child, Mapping):
                raise FormError(f"{'/'.join(path) or 'the survey'} has a child that is no object")
            kind = str(child.get("type", ""))
            name = str(child.get("name", ""))
            bind = _mapping(child.get("bind"))
            if kind == "repeat":
                raise FormError(f"{'/'.join((*path, name))}: repeats are not supported")
            if kind == "group":
                label = self.texts(child.get("label"))
                yield from self.read(
                    child.get("children") or [],
                    (*path, name),
                    (*groups, label) if label else groups,
                    (*relevant, *_present(bind.get("relevant"))),
                    shown and not _mapping(child.get("control")).get("bodyless"),
                )
                continue
            yield self.question(child, kind, name, path, groups, relevant, shown)

    def question(
        self,
        child: Mapping[str, Any],
        kind: str,
        name: str,
        path: tuple[str, ...],
        groups: tuple[Mapping[str, str], ...],
        relevant: tuple[str, ...],
        shown: bool,
    ) -> Question:
        if not name:
            raise FormError(f"{'/'.join(path) or 'the survey'} has a question without a name")
        kind = _TYPE_NAMES.get(kind, kind)
        bind = _mapping(child.get("bind"))
        calculation = _present(bind.get("calculate"))
        hidden = kind in HIDDEN_TYPES or "jr:preload" in bind or bool(calculation)
        return Question(
            name=name,
            path="/".join((*path, name)),
            type=kind,
            labels=self.texts(child.get("label")),
            hints=self.texts(child.get("hint")),
            choices=self.choices(child),
            required=_required(bind.get("required")),
            required_messages=self.texts(bind.get("jr:requiredMsg")),
            constraint=next(iter(_present(bind.get("constraint"))), None),
            constraint_messages=self.texts(bind.get("jr:constraintMsg")),
            relevant=(*relevant, *_present(bind.get("relevant"))),
            calculation=next(iter(calculation), None),
            audio=self.media(child, "audio"),
            images=self.media(child, "image"),
            groups=groups,
            appearance=str(_mapping(child.get("control")).get("appearance") or ""),
            default=str(child.get("default") or ""),
            on_screen=shown and not hidden,
        )

    def choices(self, child: Mapping[str, Any]) -> tuple[Choice, ...]:
        listed = child.get("itemset") or child.get("list_name")
        options = self.choice_lists.get(listed) if isinstance(listed, str) else None
        if not isinstance(options, list):
            options = child.get("children") or []
        if not isinstance(options, list):
            raise FormError(f"question {child.get('name')!r}: its choices are not a list")
        return tuple(
            Choice(
                name=str(option.get("name", "")),
                labels=self.texts(option.get("label")),
                audio=self.media(option, "audio"),
                images=self.media(option, "image"),
            )
            for option in options
            if isinstance(option, Mapping)
        )


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _present(value: object) -> tuple[str, ...]:
    """A bind expression as a 0- or 1-tuple (absent or blank gives none)."""
    return (str(value),) if value not in (None, "") and str(value).strip() else ()


def _required(value: object) -> bool | str:
    if isinstance(value, bool):
        return value
    text = str(value or "").strip()
    if text.lower() in {"yes", "true", "true()"}:
        return True
    if text.lower() in {"", "no", "false", "false()"}:
        return False
    return text


def _check_expressions(question: Question) -> None:
    """Read every expression now, so a faulty form fails when loaded, not mid-questionnaire."""
    expressions = {
        "relevant": question.relevant,
        "required": (question.required,) if isinstance(question.required, str) else (),
        "constraint": (question.constraint,) if question.constraint else (),
        "calculation": (question.calculation,) if question.calculation else (),
    }
    for column, texts in expressions.items():
        for text in texts:
            try:
                parse(text)
            except ExpressionError as error:
                raise FormError(f"question {question.path}, {column} {text!r}: {error}") from None


# --- problems ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """Why an answer was refused, to be said to the person in their language."""

    question: str
    kind: ProblemKind
    messages: Mapping[str, str] = field(default_factory=dict)  # the form's own, by language

    def message(self, language: str) -> str:
        """The form's message in `language` when it gives one, else Masar's plain words."""
        own = self.messages.get(language) or self.messages.get(DEFAULT_LANGUAGE_KEY)
        if own:
            return own
        defaults = DEFAULT_MESSAGES[self.kind]
        return defaults.get(language) or defaults[_FALLBACK_LANGUAGE]


# --- a run ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _State:
    """What the expressions see: relevance and values (non-relevant as '', calculations)."""

    relevant: Mapping[str, bool]
    values: Mapping[str, Value]


class FormRun:
    """One person's pass through a questionnaire; answers keyed by question name.

    `answers` restores a draft (values a form field sends; a select_multiple as a list or a
    space-separated string); values that do not fit their question are dropped. Without it,
    questions start at their XLSForm default. Methods never raise on what a person types:
    a refused answer comes back as a `Problem` and changes nothing.
    """

    def __init__(
        self,
        definition: FormDefinition,
        answers: Mapping[str, Any] | None = None,
        *,
        today: date | None = None,
    ) -> None:
        self.definition = definition
        self._today = today
        self._given: dict[str, str] = {}
        if answers is None:
            answers = {q.name: q.default for q in definition.questions if q.default}
        for name, raw in answers.items():
            question = definition.get(name)
            if question is None or not _answerable(question):
                continue
            value, problem = _coerce(question, raw)
            if problem is None and value:
                self._given[name] = value
        self._state = self._settle(self._given)

    # --- navigation -----------------------------------------------------------------------

    def is_relevant(self, name: str) -> bool:
        self.definition.question(name)
        return self._state.relevant[name]

    def relevant_screens(self) -> list[Question]:
        return [q for q in self.definition.screens if self._state.relevant[q.name]]

    def first(self) -> str | None:
        """The first screen to show, or None when nothing is relevant."""
        screens = self.relevant_screens()
        return screens[0].name if screens else None

    def next_after(self, name: str | None) -> str | None:
        """The next relevant screen after `name` (the first for None), or None at the end."""
        return self._step(name, self.definition.screens)

    def previous_before(self, name: str | None) -> str | None:
        """The relevant screen before `name` (the last for None: back from the end page), or
        None at the start."""
        return self._step(name, tuple(reversed(self.definition.screens)))

    def _step(self, name: str | None, order: Sequence[Question]) -> str | None:
        start = 0 if name is None else self._screen_index(name, order) + 1
        return next((q.name for q in order[start:] if self._state.relevant[q.name]), None)

    def _screen_index(self, name: str, order: Sequence[Question]) -> int:
        for index, question in enumerate(order):
            if question.name == name:
                return index
        self.definition.question(name)  # KeyError for an unknown name
        raise KeyError(f"{name!r} is not shown on a screen (a calculation or metadata)")

    def progress(self, name: str) -> tuple[int, int]:
        """(position of `name`, number of screens), counting the relevant screens only; a
        screen that is not relevant gets the position the next relevant one would have."""
        screens = self.definition.screens
        index = self._screen_index(name, screens)
        relevant = [self._state.relevant[q.name] for q in screens]
        return sum(relevant[:index]) + 1, sum(relevant)

    # --- answering ------------------------------------------------------------------------

    def answer(self, name: str, raw: Any) -> Problem | None:
        """Check and keep an answer; a Problem (and no change) when it is refused.

        The text is first read by type (whole number, decimal with '.' or ',', date
        YYYY-MM-DD, one of the choices), then the required rule and the constraint are
        checked with '.' as the new value. An empty answer clears an optional question.
        Notes take no answer: nothing is kept and None returned.
        """
        question = self.definition.question(name)
        if question.type == NOTE:
            return None
        if not _answerable(question):
            raise ValueError(f"{name!r} is computed by the form; it takes no answer")
        value, problem = _coerce(question, raw)
        if problem is not None:
            return problem
        candidate = dict(self._given)
        if value:
            candidate[name] = value
        else:
            candidate.pop(name, None)
        state = self._settle(candidate)
        problem = self._check(question, value, state)
        if problem is not None:
            return problem
        self._given, self._state = candidate, state
        return None

    def check_all(self) -> tuple[str, Problem] | None:
        """The first relevant question whose answer is missing or refused, for submitting."""
        for question in self.definition.screens:
            if not self._state.relevant[question.name] or not _answerable(question):
                continue
            problem = self._check(question, self._given.get(question.name, ""), self._state)
            if problem is not None:
                return question.name, problem
        return None

    def _check(self, question: Question, value: str, state: _State) -> Problem | None:
        if not value:
            if self._required(question, state):
                return Problem(question.name, "required", question.required_messages)
            return None
        if question.constraint and not self._holds(question.constraint, state.values, value):
            return Problem(question.name, "constraint", question.constraint_messages)
        return None

    def _required(self, question: Question, state: _State) -> bool:
        if isinstance(question.required, bool):
            return question.required
        return self._holds(question.required, state.values, "", on_error=False)

    def _holds(
        self, expression: str, values: Mapping[str, Value], current: str, on_error: bool = True
    ) -> bool:
        """Whether the expression is true; a form fault (a bad regex pattern) must not lock
        a person out, so it counts as `on_error` and is logged."""
        try:
            context = _WithCurrent(values, current)
            value = parse(expression).evaluate(context, today=self._today)
        except ExpressionError as error:
            log.warning("questionnaire %s: %r: %s", self.definition.form_id, expression, error)
            return on_error
        return truthy(value)

    # --- what was answered ------------------------------------------------------------------

    @property
    def answers(self) -> dict[str, str | list[str]]:
        """What was given, relevant or not, as JSON for a draft (FormRun(definition, it))."""
        return {
            name: value.split() if self.definition.question(name).type == SELECT_MULTIPLE else value
            for name, value in self._given.items()
        }

    def value(self, name: str) -> Value:
        """The value expressions see: '' when not relevant or not answered."""
        self.definition.question(name)
        return self._state.values.get(name, "")

    def final_answers(self) -> dict[str, int | float | str | list[str]]:
        """The relevant answers and calculations, typed, for a QuestionnaireResponse."""
        final: dict[str, int | float | str | list[str]] = {}
        for question in self.definition.questions:
            if not self._state.relevant[question.name]:
                continue
            if question.calculation is not None:
                result = _typed_result(self._state.values.get(question.name, ""))
                if result is not None:
                    final[question.name] = result
            elif _answerable(question) and question.name in self._given:
                final[question.name] = _typed(question, self._given[question.name])
        return final

    # --- texts ------------------------------------------------------------------------------

    def label(self, name: str, language: str) -> str:
        """The question's (or note's) label with ${name} replaced by that answer."""
        return self._fill(self.definition.question(name).labels, language)

    def hint(self, name: str, language: str) -> str:
        return self._fill(self.definition.question(name).hints, language)

    def choice_label(self, name: str, choice: str, language: str) -> str:
        return self._fill(self.definition.question(name).choice(choice).labels, language)

    def group_labels(self, name: str, language: str) -> tuple[str, ...]:
        """The labels of the groups around the question, outermost first, for a header."""
        return tuple(self._fill(g, language) for g in self.definition.question(name).groups)

    def _fill(self, texts: Mapping[str, str], language: str) -> str:
        text = self.definition.text(texts, language)
        return _REFERENCE.sub(lambda match: self._shown(match.group(1), language, match), text)

    def _shown(self, name: str, language: str, match: re.Match[str]) -> str:
        """An answer as a label shows it: a choice by its label, a number without '.0'."""
        question = self.definition.get(name)
        if question is None:
            return match.group(0)
        value = self._state.values.get(name, "")
        if question.type in (SELECT_ONE, SELECT_MULTIPLE) and question.choices:
            names = to_string(value).split()
            labels = {choice.name: choice.labels for choice in question.choices}
            return ", ".join(
                self.definition.text(labels[n], language) if n in labels else n for n in names
            )
        if isinstance(value, float) and math.isnan(value):
            return ""
        return to_string(value)

    # --- settling ---------------------------------------------------------------------------

    def _settle(self, given: Mapping[str, str]) -> _State:
        """Relevance and calculations for these answers, repeated until nothing changes (a
        calculation or relevance may read a question further down)."""
        questions = self.definition.questions
        values: dict[str, Value] = dict(given)
        previous: tuple[dict[str, bool], dict[str, Value]] | None = None
        relevant: dict[str, bool] = {}
        for _ in range(len(questions) + 2):
            relevant = {}
            for question in questions:
                shown = all(self._holds(text, values, "") for text in question.relevant)
                relevant[question.name] = shown
                if not shown:
                    values[question.name] = ""
                elif question.calculation is not None:
                    values[question.name] = self._calculate(question.calculation, values)
                else:
                    values[question.name] = given.get(question.name, "")
            if previous == (relevant, values):
                break
            previous = (relevant, dict(values))
        return _State(relevant, values)

    def _calculate(self, calculation: str, values: Mapping[str, Value]) -> Value:
        try:
            result = parse(calculation).evaluate(values, today=self._today)
        except ExpressionError as error:
            log.warning("questionnaire %s: %r: %s", self.definition.form_id, calculation, error)
            return ""
        if isinstance(result, float) and not math.isfinite(result):
            return ""  # NaN from an unanswered term: shown and sent as nothing
        return result


class _WithCurrent(Mapping[str, Value]):
    """The values with "." standing for the answer being checked."""

    def __init__(self, values: Mapping[str, Value], current: str) -> None:
        self.answers, self.current = values, current

    def __getitem__(self, name: str) -> Value:
        return self.current if name == CURRENT else self.answers[name]

    def __iter__(self) -> Iterator[str]:
        return iter((CURRENT, *self.answers))

    def __len__(self) -> int:
        return len(self.answers) + 1


_REFERENCE = re.compile(r"\$\{\s*([^}\s]+)\s*\}")


def _answerable(question: Question) -> bool:
    return question.on_screen and question.type != NOTE


# --- reading answers ------------------------------------------------------------------------

_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:[.,][0-9]*)?|[.,][0-9]+)")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


def _text(raw: Any) -> str:
    if raw is None:
        return ""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, float):
        return to_string(raw)
    if isinstance(raw, int):
        try:
            return str(raw)
        except ValueError:  # more digits than Python converts; no question takes it
            return "?"
    if isinstance(raw, list | tuple):
        return " ".join(_text(item) for item in raw)
    return str(raw)


def _printable(text: str) -> str:
    """Without control characters (NUL is refused on the wire) and lone surrogates (not
    UTF-8); newlines and tabs stay."""
    return "".join(
        char for char in text if char in "\n\t" or unicodedata.category(char) not in {"Cc", "Cs"}
    )


def _western_digits(text: str) -> str:
    """Arabic-Indic and other decimal digits as 0-9; the Arabic decimal separator as '.'."""
    return "".join(
        str(unicodedata.decimal(char)) if char.isdecimal() else "." if char == "٫" else char
        for char in text
    )


def _coerce(question: Question, raw: Any) -> tuple[str, Problem | None]:
    """The answer as kept (a normalised string, '' for none), or why it cannot be read."""
    text = _printable(_text(raw)).strip()
    kind = question.type
    if not text:
        return "", None
    if kind == "integer":
        number = _western_digits(text)
        if not _INTEGER.fullmatch(number) or len(number.lstrip("+-")) > MAX_INTEGER_DIGITS:
            return "", Problem(question.name, "integer")
        return str(int(number)), None
    if kind == "decimal":
        number = _western_digits(text)
        if not _DECIMAL.fullmatch(number) or len(number) > MAX_DECIMAL_LENGTH:
            return "", Problem(question.name, "decimal")
        return _plain_decimal(number.replace(",", ".")), None
    if kind == "date":
        match = _DATE.fullmatch(_western_digits(text))
        try:
            day = date(int(match[1]), int(match[2]), int(match[3])) if match else None
        except ValueError:
            day = None
        if day is None:
            return "", Problem(question.name, "date")
        return day.isoformat(), None
    if kind in (SELECT_ONE, SELECT_MULTIPLE):
        listed = isinstance(raw, list | tuple)
        items = [_printable(_text(item)).strip() for item in raw] if listed else text.split()
        names = list(dict.fromkeys(item for item in items if item))
        known = {choice.name for choice in question.choices}
        if (kind == SELECT_ONE and len(names) != 1) or (known and not set(names) <= known):
            return "", Problem(question.name, "choice")
        return " ".join(names), None
    return text, None


def _plain_decimal(number: str) -> str:
    """ "+3." → "3", "-.5" → "-0.5": a decimal as expressions and people read it."""
    sign = "-" if number.startswith("-") else ""
    whole, _, fraction = number.lstrip("+-").partition(".")
    whole = whole.lstrip("0") or "0"
    return f"{sign}{whole}.{fraction}" if fraction else f"{sign}{whole}"


def _typed(question: Question, value: str) -> int | float | str | list[str]:
    if question.type == "integer":
        return int(value)
    if question.type == "decimal":
        return float(value)
    if question.type == SELECT_MULTIPLE:
        return value.split()
    return value


def _typed_result(value: Value) -> int | float | str | None:
    """A calculation's result: a number as int or float, anything else as its text."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return int(value) if value.is_integer() else value
    text = to_string(value)
    return text or None
