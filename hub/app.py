"""The hub's Flask application factory (``gunicorn 'hub.app:create_app()'``)."""

from __future__ import annotations

from typing import Any

from flask import Flask, render_template
from sqlalchemy import func, select

from hub import __version__
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
    sessions = session_factory(open_engine(config.database_url, writer=False))
    app = Flask(__name__)
    app.config["HUB"] = config

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
