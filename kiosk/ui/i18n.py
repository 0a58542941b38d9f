"""The touchscreen's three languages: Arabic (right to left), French, Tamazight in Tifinagh.

The UI's own words come from gettext catalogues (``kiosk/ui/translations``, Flask-Babel);
a questionnaire's words come from the form's own translations. The language is kept in the
browser's signed cookie with nothing else personal, so it can change at any moment, and it
goes back to the kiosk's default when a session ends.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, request, session
from flask_babel import Babel


@dataclass(frozen=True)
class Language:
    code: str
    name: str  # in its own script, as shown on the switch button
    direction: str  # "rtl" or "ltr"


LANGUAGES = {
    "ar": Language("ar", "العربية", "rtl"),
    "fr": Language("fr", "Français", "ltr"),
    "tzm": Language("tzm", "ⵜⴰⵎⴰⵣⵉⵖⵜ", "ltr"),
}
DEFAULT_LANGUAGE = "ar"


def current_language() -> Language:
    code = session.get("lang")
    return LANGUAGES.get(code if isinstance(code, str) else "", LANGUAGES[_default()])


def set_language(code: str) -> None:
    if code not in LANGUAGES:
        raise ValueError(f"unknown language {code!r}; use one of {', '.join(LANGUAGES)}")
    session["lang"] = code


def _default() -> str:
    from flask import current_app

    code = str(current_app.config.get("DEFAULT_LANGUAGE", DEFAULT_LANGUAGE))
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


def init_app(app: Flask) -> None:
    """Flask-Babel with our catalogues; ``lang``, ``dir`` and ``languages`` in every page."""
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", "ui/translations")
    Babel(app, locale_selector=lambda: current_language().code if request else None)

    @app.context_processor
    def language_context() -> dict[str, object]:
        language = current_language()
        return {"lang": language.code, "dir": language.direction, "languages": LANGUAGES}


def in_language(texts: dict[str, str]) -> str:
    """A title given per language (programme, form): the screen's, else French, else any."""
    lang = current_language().code
    return texts.get(lang) or texts.get("fr") or next(iter(texts.values()), "")
