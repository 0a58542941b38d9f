"""Import an XLSForm (.xlsx) with pyxform and refuse a faulty one naming sheet, row and column.

pyxform does the XLSForm conversion and its own checks; every error it raises becomes one
`XLSFormError`. Masar then checks what pyxform lets through but the kiosk and the hub need:

* languages: every translatable column a row fills (label, hint, constraint_message,
  required_message) must be filled for Arabic, French and Tamazight, in columns named
  ``<column>::<Language name> (<code>)`` with codes ``ar``, ``fr``, ``tzm`` — e.g.
  ``label::Arabic (ar)``, ``label::French (fr)``, ``label::Tamazight (tzm)`` (Tifinagh);
* expressions (relevant, constraint, calculation, choice_filter, repeat_count, an
  expression in required): parentheses and quotes closed, no dangling or doubled operator;
* settings: ``form_id`` and ``version`` are set, and the title is given per language in
  ``masar::title::<Language name> (<code>)`` columns.

Masar's own columns, ignored by pyxform and other XLSForm tools:

* survey sheet, ``masar::fact``: the profile fact the question's answer maps to, one of
  `hub.questionnaires.facts.FACTS` (e.g. ``education_level`` on the ISCED question);
* settings sheet, ``masar::title::<Language name> (<code>)``: the form title per language;
* settings sheet, ``masar::note``: a free note (licence, translation status).

Row numbers are spreadsheet rows: the header is row 1, the first question row 2.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

from pyxform.builder import create_survey_element_from_dict  # type: ignore[import-untyped]
from pyxform.errors import PyXFormError  # type: ignore[import-untyped]
from pyxform.parsing.expression import parse_expression  # type: ignore[import-untyped]
from pyxform.xls2json import workbook_to_json  # type: ignore[import-untyped]
from pyxform.xls2json_backends import get_xlsform  # type: ignore[import-untyped]

from hub.questionnaires.facts import FACTS

FORMS_DIR = Path(__file__).parent / "forms"
FACT_COLUMN = "masar::fact"
TITLE_COLUMN = "masar::title"
NOTE_COLUMN = "masar::note"
LANGUAGES = {"ar": "Arabic (ar)", "fr": "French (fr)", "tzm": "Tamazight (tzm)"}
TRANSLATABLE = ("label", "hint", "constraint_message", "required_message")
EXPRESSIONS = ("relevant", "constraint", "calculation", "choice_filter", "repeat_count")
FIRST_ROW = 2  # the header is row 1

_LANGUAGE_COLUMN = re.compile(r"^(?P<base>.+)::(?P<name>[^:]*\((?P<code>[A-Za-z-]+)\))$")
_PYXFORM_ROW = re.compile(r"\[row : (\d+)\]\s*")
_PYXFORM_SHEET_COLUMN = re.compile(r"On the '(\w+)' sheet, the '([^']+)' value")
_QUOTED = re.compile(r"'([^']+)'|: (\S+?)\.?$")
_BINARY = {"OPS_COMP", "OPS_BOOL", "OPS_MATH"}
_OPENING = {"OPEN_PAREN", "FUNC_CALL", "COMMA"}
_WORD_OPERATORS = {"and": "OPS_BOOL", "or": "OPS_BOOL", "div": "OPS_MATH", "mod": "OPS_MATH"}


class XLSFormError(ValueError):
    """A refused XLSForm; the message starts with where: "survey sheet, row 7, column 'x': "."""

    def __init__(self, message: str, sheet: str = "", row: int = 0, column: str = "") -> None:
        where = ", ".join(
            part
            for part in (
                f"{sheet} sheet" if sheet else "",
                f"row {row}" if row else "",
                f"column '{column}'" if column else "",
            )
            if part
        )
        super().__init__(f"{where}: {message}" if where else message)
        self.sheet, self.row, self.column, self.reason = sheet, row, column, message


@dataclass(frozen=True)
class FactMapping:
    """A question whose answer becomes a profile fact."""

    fact: str
    name: str
    path: str  # group/…/name inside the form
    type: str
    row: int


@dataclass(frozen=True)
class Form:
    """An imported XLSForm: what the hub stores and delivers to kiosks."""

    form_id: str
    version: str
    titles: Mapping[str, str]  # language code → title
    languages: Mapping[str, str]  # language code → pyxform's language key, "Arabic (ar)"
    facts: tuple[FactMapping, ...]
    survey: Mapping[str, Any]  # pyxform's JSON: survey.to_json_dict()
    note: str = ""
    warnings: tuple[str, ...] = ()


def load_xlsform(source: str | PathLike[str] | bytes) -> Form:
    """Read, convert and check an .xlsx XLSForm; raise `XLSFormError` on the first mistake."""
    try:
        workbook = get_xlsform(source, file_type=".xlsx")
    except Exception as error:  # a damaged file: zipfile, zlib and openpyxl raise many kinds
        raise XLSFormError(f"not a readable .xlsx XLSForm: {error}") from None
    survey_rows: Sequence[dict[str, str]] = workbook.survey or []
    choice_rows: Sequence[dict[str, str]] = workbook.choices or []
    settings: dict[str, str] = dict((workbook.settings or [{}])[0])

    warnings: list[str] = []
    try:
        pyxform_json = workbook_to_json(
            workbook_dict=copy.deepcopy(workbook),
            fallback_form_name=workbook.fallback_form_name,
            warnings=warnings,
        )
        survey = create_survey_element_from_dict(pyxform_json)
        survey.to_xml(validate=False, warnings=warnings)  # runs the reference checks
    except PyXFormError as error:
        raise _located(error, {"survey": survey_rows, "choices": choice_rows}) from None

    for sheet, rows in (("survey", survey_rows), ("choices", choice_rows)):
        _check_translations(sheet, _headers(workbook, sheet), rows)
    _check_expressions(survey_rows)
    facts = tuple(_fact_mappings(survey_rows))
    titles = _titles(settings)
    return Form(
        form_id=_setting(settings, "form_id"),
        version=_setting(settings, "version"),
        titles=titles,
        languages=_languages(_headers(workbook, "survey")),
        facts=facts,
        survey=_with_group_binds(survey.to_json_dict(), pyxform_json),
        note=settings.get(NOTE_COLUMN, ""),
        warnings=tuple(warnings),
    )


def shipped_forms() -> dict[str, Form]:
    """The questionnaires Masar ships, by form id."""
    forms = (load_xlsform(path) for path in sorted(FORMS_DIR.glob("*.xlsx")))
    return {form.form_id: form for form in forms}


def _with_group_binds(survey: dict[str, Any], source: Mapping[str, Any]) -> dict[str, Any]:
    """pyxform's ``to_json_dict`` drops a group's ``bind`` (its relevant), which the kiosk
    needs for skip logic over a whole group: copy it back from the converted workbook."""
    by_name = {child.get("name"): child for child in source.get("children", [])}
    for child in survey.get("children", []):
        original = by_name.get(child.get("name"), {})
        if child.get("type") in ("group", "repeat"):
            if original.get("bind") and not child.get("bind"):
                child["bind"] = copy.deepcopy(original["bind"])
            _with_group_binds(child, original)
    return survey


def _headers(workbook: Any, sheet: str) -> list[str]:
    header: Sequence[dict[str, Any]] = getattr(workbook, f"{sheet}_header") or [{}]
    return list(header[0])


def _located(error: Exception, sheets: Mapping[str, Sequence[dict[str, str]]]) -> XLSFormError:
    """Turn a pyxform error into an XLSFormError, finding sheet/row/column when not given."""
    context: dict[str, Any] = getattr(error, "context", None) or {}
    text = str(error)
    found = _PYXFORM_ROW.search(text)
    row = int(context.get("row") or (found.group(1) if found else 0))
    message = _PYXFORM_ROW.sub("", text, count=1).strip()
    named = _PYXFORM_SHEET_COLUMN.search(message)
    sheet = str(context.get("sheet") or (named.group(1) if named else "survey"))
    column = str(context.get("column") or (named.group(2) if named else ""))
    if not column:
        # pyxform named no column (or no row): find the cell holding the quoted value.
        tokens = [a or b for a, b in _QUOTED.findall(message)]
        row, column = _find_cell(sheets.get(sheet, []), tokens, row)
    return XLSFormError(message, sheet, row, column)


def _find_cell(rows: Sequence[dict[str, str]], tokens: list[str], row: int) -> tuple[int, str]:
    candidates = [row] if row else range(FIRST_ROW, FIRST_ROW + len(rows))
    for number in candidates:
        cells = rows[number - FIRST_ROW] if 0 <= number - FIRST_ROW < len(rows) else {}
        for column, value in cells.items():
            if any(re.search(rf"(?<![\w$]){re.escape(t)}(?!\w)", value) for t in tokens):
                return number, column
    return row, ""


def _language_columns(headers: Sequence[str], base: str) -> dict[str, str]:
    """Language code → column name, for the columns translating `base`."""
    found: dict[str, str] = {}
    for header in headers:
        match = _LANGUAGE_COLUMN.match(header)
        if match and match["base"] == base:
            found.setdefault(match["code"], header)
    return found


def _languages(survey_headers: Sequence[str]) -> dict[str, str]:
    columns = _language_columns(survey_headers, "label")
    return {code: column.split("::", 1)[1] for code, column in columns.items()}


def _check_translations(sheet: str, headers: Sequence[str], rows: Sequence[dict[str, str]]) -> None:
    """A translatable column filled in one language must be filled in all three."""
    for base in TRANSLATABLE:
        columns = _language_columns(headers, base)
        for number, cells in enumerate(rows, FIRST_ROW):
            if not any(v for c, v in cells.items() if c == base or c.startswith(f"{base}::")):
                continue
            for code, name in LANGUAGES.items():
                column = columns.get(code, f"{base}::{name}")
                if not cells.get(column):
                    raise XLSFormError(
                        f"missing the {name} translation; Masar forms need "
                        f"{', '.join(LANGUAGES)} in every {base}",
                        sheet,
                        number,
                        column,
                    )


def _check_expressions(rows: Sequence[dict[str, str]]) -> None:
    for number, cells in enumerate(rows, FIRST_ROW):
        for column in (*EXPRESSIONS, "required"):
            text = cells.get(column, "")
            if column == "required" and text.lower() in {"", "yes", "no", "true", "false"}:
                continue
            problem = _expression_problem(text) if text else None
            if problem:
                raise XLSFormError(
                    f"invalid expression {text!r}: {problem}", "survey", number, column
                )


def _expression_problem(text: str) -> str | None:
    """The first structural fault of an XPath expression, using pyxform's own lexer."""
    tokens = _merged_tokens(text)
    depth = 0
    previous = None
    for kind, value in tokens:
        if kind == "PYXFORM_REF_START":
            return "'${' is not closed by '}'"
        if kind == "OTHER" and value in {"'", '"'}:
            return f"the quote {value} is not closed"
        if kind in {"OPEN_PAREN", "FUNC_CALL"}:
            depth += 1
        elif kind == "CLOSE_PAREN":
            depth -= 1
            if depth < 0:
                return "')' without '('"
        binary = kind in _BINARY and value.strip() != "-"  # '-' may be a sign
        if binary and (previous is None or previous in _BINARY or previous in _OPENING):
            return f"operator '{value.strip()}' has no left operand"
        previous = kind
    if depth > 0:
        return "'(' is not closed"
    if previous in _BINARY:
        return "the expression ends with an operator"
    return None


def _merged_tokens(text: str) -> list[tuple[str, str]]:
    """pyxform's tokens without whitespace, '<' '=' joined into '<=' as XPath reads them."""
    merged: list[tuple[str, str]] = []
    for token in parse_expression(text):
        kind, value = str(token.type), str(token.value)
        if kind == "WHITESPACE":
            merged.append(("WHITESPACE", value))
            continue
        if kind == "NAME" and value in _WORD_OPERATORS:  # at either end, no space around it
            kind = _WORD_OPERATORS[value]
        if kind == "OPS_COMP" and value == "=" and merged and merged[-1][1] in {"<", ">", "!"}:
            merged[-1] = ("OPS_COMP", merged[-1][1] + "=")
            continue
        merged.append((kind, value))
    return [(kind, value) for kind, value in merged if kind != "WHITESPACE"]


def _fact_mappings(rows: Sequence[dict[str, str]]) -> Iterator[FactMapping]:
    groups: list[str] = []
    for number, cells in enumerate(rows, FIRST_ROW):
        kind = " ".join(cells.get("type", "").replace("_", " ").split())
        if kind.startswith(("begin group", "begin repeat")):
            groups.append(cells.get("name", ""))
        elif kind.startswith(("end group", "end repeat")) and groups:
            groups.pop()
        fact = cells.get(FACT_COLUMN, "")
        if not fact:
            continue
        if fact not in FACTS:
            raise XLSFormError(
                f"unknown fact {fact!r}; known: {', '.join(FACTS)}", "survey", number, FACT_COLUMN
            )
        if kind.startswith(("begin", "end")) or kind == "note":
            raise XLSFormError(
                f"a {kind} has no answer to map to {fact!r}", "survey", number, FACT_COLUMN
            )
        name = cells["name"]
        yield FactMapping(fact, name, "/".join([*groups, name]), cells["type"], number)


def _setting(settings: Mapping[str, str], column: str) -> str:
    value = settings.get(column, "")
    if not value:
        raise XLSFormError(
            "missing; the hub keeps every version of a form by id", "settings", FIRST_ROW, column
        )
    return value


def _titles(settings: Mapping[str, str]) -> dict[str, str]:
    columns = _language_columns(list(settings), TITLE_COLUMN)
    titles: dict[str, str] = {}
    for code, name in LANGUAGES.items():
        column = columns.get(code, f"{TITLE_COLUMN}::{name}")
        if not settings.get(column):
            raise XLSFormError(f"missing the {name} title", "settings", FIRST_ROW, column)
        titles[code] = settings[column]
    return titles
