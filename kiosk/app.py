"""The kiosk's Flask application factory (served by waitress, shown by Chromium)."""

from __future__ import annotations

from typing import Any

from flask import Flask, render_template

from kiosk import __version__, outbox, store
from kiosk.config import KioskConfig, load_config


def create_app(config: KioskConfig | None = None, agent: Any = None) -> Flask:
    """Build the app; with no config, read $MASAR_CONFIG (for ``waitress-serve --call``)."""
    config = config or load_config()
    app = Flask(__name__, template_folder="ui/templates")
    app.config["KIOSK"] = config
    app.config["AGENT"] = agent

    def status() -> dict[str, Any]:
        db = store.open_store(config.store_path)
        try:
            depth, rejected = outbox.depth(db), outbox.rejected_count(db)
        finally:
            db.close()
        return {
            "site": config.site,
            "device": config.device,
            "mode": config.mode,
            "version": __version__,
            "connected": bool(agent and agent.bus.connected),
            "outbox_depth": depth,
            "rejected": rejected,
            "problem": agent.problem if agent else None,
        }

    @app.get("/")
    def home() -> str:
        return render_template("status.html", status=status())

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return status()

    return app
