"""The hub's Flask application factory (``gunicorn 'hub.app:create_app()'``)."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, abort, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from hub.api import PREFIX, install_api
from hub.audit import load_key
from hub.config import HubConfig, load_config
from hub.db import open_engine, session_factory, upgrade
from hub.overview import overview
from hub.web import install_web
from hub.web.access import trouble

UPLOAD_LIMIT_MB = 6


def create_app(config: HubConfig | None = None) -> Flask:
    """Build the app; with no config, read $MASAR_HUB_CONFIG and MASAR_HUB_* variables."""
    config = config or load_config()
    upgrade_engine = open_engine(config.database_url)
    upgrade(upgrade_engine)
    upgrade_engine.dispose()
    reader, writer = (
        open_engine(config.database_url, writer=False),
        open_engine(config.database_url),
    )
    sessions = session_factory(reader)
    app = Flask(__name__, template_folder="web/templates", static_folder="web/static")
    app.extensions["masar_engines"] = (reader, writer)  # tests dispose of them
    app.config["HUB"] = config
    app.config["MAX_CONTENT_LENGTH"] = UPLOAD_LIMIT_MB * 1024 * 1024
    audit_key = load_key(config.audit_key_file)
    app.extensions["masar_audit_key"] = audit_key  # kiosk enrolment audits without a user
    # API calls and pages may write (an audit entry for every read of health data, a login),
    # so on SQLite they take the write lock from the start rather than fail to upgrade a read.
    install_api(app, session_factory(writer), audit_key)
    install_web(app, session_factory(writer), audit_key)

    @app.before_request
    def no_nul_in_addresses() -> None:
        """PostgreSQL cannot hold NUL, so no record is named with one: such an address is
        nothing (not a database error)."""
        if "\x00" in request.path:
            abort(404)

    @app.after_request
    def secure_headers(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"
        )
        response.headers.setdefault("Cache-Control", "no-store")
        if request.is_secure:  # gunicorn serving TLS itself (masar hub serve --certfile)
            response.headers["Strict-Transport-Security"] = "max-age=31536000"
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> ResponseReturnValue:
        """Errors outside a route's own handling (404, 405, 413) in plain words: JSON under
        the API, a page elsewhere."""
        status = error.code or 500
        if request.path.startswith(PREFIX + "/") or request.path == PREFIX:
            messages = {
                404: "there is nothing at this address",
                405: "this address does not accept that method",
                413: f"the upload is too large ({UPLOAD_LIMIT_MB} MB at most)",
            }
            return jsonify({"error": messages.get(status, error.description or "error")}), status
        pages = {
            404: _("There is nothing at this address."),
            405: _("This page cannot be used that way."),
            413: _("The file is too large (%(limit)s MB at most).", limit=UPLOAD_LIMIT_MB),
        }
        return trouble(status, pages.get(status, _("Something went wrong.")))

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        with sessions() as session:
            return overview(session)

    return app
