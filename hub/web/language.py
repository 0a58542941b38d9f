"""The web pages' language: the logged-in user's own choice (``users.language``), else the
browser's preference between French and Arabic, else French."""

from __future__ import annotations

from flask import g, request

NAMES = {"fr": "Français", "ar": "العربية"}
DIRECTION = {"fr": "ltr", "ar": "rtl"}
DEFAULT = "fr"
COOKIE = "masar_lang"


def selected() -> str:
    user = g.get("user")
    if user is not None and user.language in NAMES:
        return str(user.language)
    chosen = request.cookies.get(COOKIE, "")
    if chosen in NAMES:
        return chosen
    return request.accept_languages.best_match(list(NAMES)) or DEFAULT
