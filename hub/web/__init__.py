"""The hub's web pages for staff: server-rendered HTML in French or Arabic (right to left),
one Flask blueprint per area of work (``PAGES``), on the same records and rules as the JSON
API. Every page goes through ``hub.web.access.page``: login, role, CSRF, one transaction.

Charts are drawn on the server as SVG with their table beside them, so nothing is fetched
from the internet and a page still reads without scripts or images.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
from typing import Any

from flask import Flask, g
from flask_babel import Babel
from sqlalchemy.orm import Session, sessionmaker

from hub.web import language
from hub.web.access import Web, csrf_token
from hub.web.nav import navigation
from hub.web.words import provenance_name, role_name

# The page modules, each with a blueprint ``bp`` and its ``NAV`` entries.
PAGES = (
    "auth",
    "home",
    "dashboard",
    "fleet",
    "health",
    "movements",
    "detainees",
    "partners",
    "questionnaires",
    "training",
)


def install_web(app: Flask, sessions: sessionmaker[Session], audit_key: bytes) -> None:
    # Flask's signed cookie (flash messages, the login form's CSRF token) is keyed from the
    # audit key, so a hub has one secret to keep, not two.
    app.secret_key = hmac.new(audit_key, b"masar web cookie", hashlib.sha256).digest()
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = "web/translations"
    app.config["BABEL_DEFAULT_LOCALE"] = language.DEFAULT
    Babel(app, locale_selector=language.selected)
    modules = [importlib.import_module(f"hub.web.{name}") for name in PAGES]
    for module in modules:
        app.register_blueprint(module.bp)
    entries = [entry for module in modules for entry in getattr(module, "NAV", ())]
    app.extensions["masar_web"] = Web(sessions, audit_key, entries)

    # Globals, not context: macros imported from _form.html see them too.
    app.jinja_env.globals.update(
        csrf_token=csrf_token, role_name=role_name, provenance_name=provenance_name
    )

    @app.context_processor
    def page_context() -> dict[str, Any]:
        user = g.get("user")
        current = language.selected()
        return {
            "lang": current,
            "dir": language.DIRECTION[current],
            "languages": language.NAMES,
            "user": user,
            "nav": navigation(entries, user.role) if user is not None else [],
        }
