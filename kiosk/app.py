"""The kiosk's Flask application factory (served by waitress, shown by Chromium)."""

from __future__ import annotations

import secrets
from datetime import date
from typing import Any

from flask import Flask, render_template
from werkzeug.wrappers import Response

from kiosk import __version__, caches, health, outbox, store
from kiosk.config import KioskConfig, load_config
from kiosk.sessions import SessionManager
from kiosk.ui import home, i18n, identify_screens, questionnaire_screens, staff_screens
from kiosk.ui.context import Kiosk, kiosk
from kiosk.vault import TemplateVault

# Nothing is cached, framed or sent elsewhere: the screen is shared by many people.
SECURITY_HEADERS = {
    "Cache-Control": "no-store, max-age=0",
    "Pragma": "no-cache",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; media-src 'self'; "
        "script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
        "frame-ancestors 'none'; form-action 'self'"
    ),
}


def create_app(config: KioskConfig | None = None, agent: Any = None) -> Flask:
    """Build the app; with no config, read $MASAR_CONFIG (for ``waitress-serve --call``)."""
    config = config or load_config()
    app = Flask(__name__, template_folder="ui/templates", static_folder="ui/static")
    app.config["KIOSK"] = config
    app.config["AGENT"] = agent
    # A new secret each start: a restart ends every browser session (nothing personal is in
    # the cookie: the session token and the language).
    app.secret_key = secrets.token_bytes(32)
    app.config["SESSION_COOKIE_SAMESITE"] = "Strict"
    app.config["DEFAULT_LANGUAGE"] = config.ui.default_language
    vault = agent.vault if agent is not None else TemplateVault(config.key_path)
    sessions = SessionManager(
        inactivity_timeout=config.ui.inactivity_timeout,
        fit_for_service=lambda: here.out_of_service(),
    )
    here = Kiosk(config=config, vault=vault, sessions=sessions, agent=agent)
    app.extensions["masar_kiosk"] = here
    if agent is not None:
        here.stations  # noqa: B018 - made now, so that the badge reader is watched from the start
    i18n.init_app(app)
    for module in (home, questionnaire_screens, identify_screens, staff_screens):
        app.register_blueprint(module.bp)

    @app.context_processor
    def session_context() -> dict[str, Any]:
        live = kiosk().live_session()
        return {
            "session_live": live is not None,
            "session_timeout": config.ui.inactivity_timeout,
            "session_remaining": round(kiosk().sessions.remaining(), 1) if live else 0,
            "this_year": date.today().year,
        }

    @app.errorhandler(403)
    @app.errorhandler(404)
    @app.errorhandler(500)
    def trouble(error: Exception) -> tuple[str, int]:
        """Never a bare error page on the touchscreen: plain words and a way back. A storage
        failure says out of service (what was saved before is kept)."""
        code = getattr(error, "code", 500) or 500
        reason = kiosk().out_of_service() if code == 500 else None
        return render_template("trouble.html", code=code, out_of_service=reason), code

    @app.after_request
    def no_cache(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    def status() -> dict[str, Any]:
        db = store.open_store(config.store_path)
        try:
            depth, rejected = outbox.depth(db), outbox.rejected_count(db)
            fitness = health.check(db, config.data_dir)
            mode = caches.get_setting(db, "mode") or config.mode  # the hub may have changed it
            people = caches.roster_size(db)
            last_sync = caches.get_setting(db, "last_sync_at")
        finally:
            db.close()
        return {
            "site": config.site,
            "device": config.device,
            "mode": mode,
            "people": people,
            "last_sync_at": last_sync,
            "version": __version__,
            "connected": bool(agent and agent.bus.connected),
            "outbox_depth": depth,
            "rejected": rejected,
            "problem": agent.problem if agent else None,
            "in_service": fitness.in_service,
            "out_of_service": fitness.reason,
        }

    @app.get("/status")
    def status_page() -> str:
        """For staff and the hub admin: the kiosk's own state (no personal data)."""
        return render_template("status.html", status=status())

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return status()

    return app
