"""What the screens work with: the config, the store, the vault, the agent's sensors and the
one live session. Views ask this object; they hold no state of their own.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import current_app, session

from kiosk import caches, health, store, withdrawn
from kiosk.config import KioskConfig
from kiosk.sessions import Session, SessionManager
from kiosk.vault import TemplateVault

if TYPE_CHECKING:
    from sqlite_utils import Database

    from kiosk.ui.stations import Stations


@dataclass
class Kiosk:
    config: KioskConfig
    vault: TemplateVault
    sessions: SessionManager
    agent: Any = None  # kiosk.agent.Agent when running for real; sensors live there
    _local: threading.local = field(default_factory=threading.local)
    _stations: Stations | None = None

    @property
    def stations(self) -> Stations:
        """The identification / movement / enrolment flow on screen (made on first use)."""
        if self._stations is None:
            from kiosk.ui.stations import Stations

            self._stations = Stations(self)
        return self._stations

    def db(self) -> Database:
        """This thread's connection to the store (waitress serves from a few threads)."""
        db: Database | None = getattr(self._local, "db", None)
        if db is None:
            db = store.open_store(self.config.store_path)
            self._local.db = db
        return db

    def mode(self) -> str:
        return caches.get_setting(self.db(), "mode") or self.config.mode

    def withdrawn(self) -> bool:
        """The hub revoked this kiosk's certificate (kiosk.withdrawn): it serves nobody."""
        return withdrawn.withdrawal(self.config.data_dir) is not None

    def out_of_service(self) -> str | None:
        """Why no session may start now, in plain words; None when the kiosk is fit."""
        mark = withdrawn.withdrawal(self.config.data_dir)
        if mark is not None:
            return f"Out of service: this kiosk has been withdrawn ({mark.reason}). Call staff."
        return health.check(self.db(), self.config.data_dir).reason

    def sensors_down(self) -> list[str]:
        """The configured sensors that do not work now (camera, badge_reader, fingerprint)."""
        if self.agent is None:
            return []
        return [name for name, health in self.agent.sensor_health().items() if not health.ok]

    def hub_connected(self) -> bool:
        return bool(self.agent is not None and self.agent.bus.connected)

    def live_session(self) -> Session | None:
        """The session this browser belongs to; None after logout, timeout or for a page
        left over from someone else's session."""
        live = self.sessions.current()
        if live is None or not live.token or session.get("token") != live.token:
            return None
        return live


def kiosk() -> Kiosk:
    found: Kiosk = current_app.extensions["masar_kiosk"]
    return found
