"""The hub's Flask application factory (``gunicorn 'hub.app:create_app()'``)."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, render_template
from sqlalchemy import func, select
from werkzeug.exceptions import HTTPException

from hub import __version__
from hub.api import install_api
from hub.audit import load_key
from hub.config import HubConfig, load_config
from hub.db import open_engine, session_factory, upgrade
from hub.models import DeadLetter, DeviceStream, Event, KioskState, SeqGap, as_utc
from protocol.ids import format_timestamp


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
    app = Flask(__name__)
    app.extensions["masar_engines"] = (reader, writer)  # tests dispose of them
    app.config["HUB"] = config
    app.config["MAX_CONTENT_LENGTH"] = 6 * 1024 * 1024
    # API calls may write (an audit entry for every read of health data, a login), so on
    # SQLite they take the write lock from the start rather than fail to upgrade a read.
    install_api(app, session_factory(writer), load_key(config.audit_key_file))

    @app.after_request
    def secure_headers(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; frame-ancestors 'none'; form-action 'self'"
        )
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[Response, int]:
        """Errors outside the API's own handling (404, 405, 413) in plain words, as JSON."""
        messages = {
            404: "there is nothing at this address",
            405: "this address does not accept that method",
            413: "the upload is too large (6 MB at most)",
        }
        status = error.code or 500
        return jsonify({"error": messages.get(status, error.description or "error")}), status

    def overview() -> dict[str, Any]:
        with sessions() as session:
            by_type = dict(
                session.execute(select(Event.type, func.count()).group_by(Event.type)).all()
            )
            streams = session.execute(
                select(DeviceStream).order_by(DeviceStream.site, DeviceStream.device)
            ).scalars()
            gaps = session.execute(select(SeqGap).order_by(SeqGap.site, SeqGap.device)).scalars()
            states = session.execute(select(KioskState)).scalars()
            dead = session.execute(
                select(DeadLetter).order_by(DeadLetter.id.desc()).limit(20)
            ).scalars()
            return {
                "version": __version__,
                "events_by_type": by_type,
                "events_total": sum(by_type.values()),
                "streams": [
                    {
                        "site": s.site,
                        "device": s.device,
                        "max_seq": s.max_seq,
                        "event_count": s.event_count,
                    }
                    for s in streams
                ],
                "gaps": [
                    {"site": g.site, "device": g.device, "first": g.first_seq, "last": g.last_seq}
                    for g in gaps
                ],
                "kiosks": [
                    {
                        "site": k.site,
                        "device": k.device,
                        "state": k.state,
                        "outbox_depth": k.status.get("outbox_depth"),
                        "mode": k.status.get("mode"),
                        "last_sync_at": k.status.get("last_sync_at"),
                        "problems": k.status.get("problems") or [],
                        "updated_at": format_timestamp(as_utc(k.updated_at)),
                    }
                    for k in states
                ],
                "dead_letters": [{"id": d.id, "topic": d.topic, "reason": d.reason} for d in dead],
                "dead_letters_total": session.scalar(select(func.count()).select_from(DeadLetter)),
            }

    @app.get("/")
    def home() -> str:
        return render_template("overview.html", o=overview())

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return overview()

    return app
