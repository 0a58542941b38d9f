"""Reading a submitted form into a pydantic model, with each problem in plain words beside
its field and everything typed kept for the page shown again."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import request
from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


@dataclass
class Form:
    """What was typed, field by field, and what is wrong with it."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def value(self, name: str, default: Any = "") -> Any:
        return self.values.get(name, default)

    def error(self, name: str) -> str | None:
        return self.errors.get(name)

    def add_error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)


_WHOLE = _l("Write a whole number, in digits.")
_NUMBER = _l("Write a number, in digits.")
_DATE = _l("Write a date as YYYY-MM-DD, for example 2026-12-31.")
_BY_TYPE: dict[str, LazyString] = {
    "missing": _l("This field is required."),
    "int_parsing": _WHOLE,
    "int_from_float": _WHOLE,
    "int_type": _WHOLE,
    "float_parsing": _NUMBER,
    "float_type": _NUMBER,
    "decimal_parsing": _NUMBER,
    "date_parsing": _DATE,
    "date_from_datetime_parsing": _DATE,
    "date_type": _DATE,
    "greater_than_equal": _l("The number is too small."),
    "greater_than": _l("The number is too small."),
    "less_than_equal": _l("The number is too large."),
    "less_than": _l("The number is too large."),
    "literal_error": _l("Choose one of the options offered."),
    "enum": _l("Choose one of the options offered."),
}


def _message(problem: Any) -> str:
    """A pydantic problem in the interface's language; a validator's own words as they are."""
    kind = problem["type"]
    if kind == "string_too_short" and problem["ctx"].get("min_length") == 1:
        kind = "missing"
    if kind == "string_too_long":
        return str(
            _(
                "This is too long (%(limit)s characters at most).",
                limit=problem["ctx"]["max_length"],
            )
        )
    if kind in _BY_TYPE:
        return str(_BY_TYPE[kind])
    return str(problem["msg"]).removeprefix("Value error, ")


def read_form(model: type[M], lists: tuple[str, ...] = ()) -> tuple[M | None, Form]:
    """The submitted form as ``model`` (None if it has problems) and the ``Form`` to show
    again. Empty fields count as not given; fields in ``lists`` keep every value."""
    values: dict[str, Any] = {}
    for name in request.form:
        if name == "csrf_token":
            continue
        if name in lists:
            values[name] = [v for v in request.form.getlist(name) if v.strip()]
        else:
            values[name] = request.form.get(name, "").strip()
    form = Form(values)
    given = {k: v for k, v in values.items() if v not in ("", [])}
    try:
        return model.model_validate(given), form
    except ValidationError as exc:
        for problem in exc.errors(include_url=False):
            name = str(problem["loc"][0]) if problem["loc"] else "form"
            form.add_error(name, _message(problem))
        return None, form
