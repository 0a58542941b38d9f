"""Questionnaires as XLSForms: import and checks (`xlsform`), the profile facts answers map to
(`facts`), instrument scoring (`scoring`) and the forms Masar ships (`forms/`, written by
`build_forms`)."""

from hub.questionnaires.facts import FACTS
from hub.questionnaires.xlsform import (
    FORMS_DIR,
    FactMapping,
    Form,
    XLSFormError,
    load_xlsform,
    shipped_forms,
)

__all__ = [
    "FACTS",
    "FORMS_DIR",
    "FactMapping",
    "Form",
    "XLSFormError",
    "load_xlsform",
    "shipped_forms",
]
