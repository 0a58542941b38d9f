"""The kiosk's Flask application factory (served by waitress, shown by Chromium)."""

from __future__ import annotations

from typing import Any

from flask import Flask, render_template

from kiosk import __version__, caches, health, outbox, store
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

    @app.get("/")
    def home() -> str:
        return render_template("status.html", status=status())

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return status()

    return app
