"""A hub for the browser tests: a SQLite database seeded with synthetic detainees through
the real seed and ingest paths, one user per role, an urgent PHQ-9 screening sent as a kiosk
would, and the hub served by ``masar hub web`` (gunicorn) on a free loopback port.

Built once per test session; each test gets a copy of the database, so a test that
approves a request or acknowledges an alert changes nothing for the next.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.audit import Trail, load_key
from hub.db import open_engine, session_factory, upgrade
from hub.ingest import apply_batch
from hub.models import Detainee
from hub.questionnaires.library import latest_version
from hub.seed import next_seqs, response_message, seed
from hub.users import create_user
from protocol.ids import utc_now

PASSWORD = "e2e-password-123"
PARTNER = "Fondation Mohammed VI"
# user name -> role; each user's name is its user name, title-cased.
USERS = {
    "admin": "admin",
    "registrar": "registrar",
    "officer": "wing_officer",
    "trainer": "trainer",
    "social": "social_worker",
    "nurse": "health_staff",
    "partner": "partner",
}
ARABIC_USER = "registrar.ar"  # a registrar whose interface is in Arabic


@dataclass(frozen=True)
class HubSite:
    folder: Path

    @property
    def config(self) -> Path:
        return self.folder / "hub.toml"

    @property
    def database(self) -> Path:
        return self.folder / "hub.db"

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.database}"

    @property
    def audit_key(self) -> Path:
        return self.folder / "audit.key"


def build_hub(folder: Path, detainees: int = 300) -> HubSite:
    folder.mkdir(parents=True, exist_ok=True)
    site = HubSite(folder)
    site.config.write_text(
        f'database_url = "{site.database_url}"\naudit_key_file = "{site.audit_key}"\n'
    )
    engine = open_engine(site.database_url)
    upgrade(engine)
    key = load_key(site.audit_key)
    seed(engine, detainees=detainees, key=key)
    sessions = session_factory(engine)
    trail = Trail(key, "system:e2e")
    with sessions.begin() as session:
        for username, role in USERS.items():
            create_user(
                session,
                trail,
                username=username,
                name=username.title(),
                role=role,
                password=PASSWORD,
                partner=PARTNER if role == "partner" else None,
            )
        create_user(
            session,
            trail,
            username=ARABIC_USER,
            name="أمينة الإدريسي",
            role="registrar",
            password=PASSWORD,
            language="ar",
        )
    _urgent_screening(sessions)
    engine.dispose()
    return site


def _urgent_screening(sessions: sessionmaker[Session]) -> None:
    """A PHQ-9 with thoughts of self-harm (item 9), sent as a kiosk sends it: an urgent alert."""
    with sessions.begin() as session:
        person = session.scalars(
            select(Detainee)
            .where(Detainee.state == "in_custody", Detainee.wing.is_not(None))
            .order_by(Detainee.prison_number)
        ).first()
        assert person is not None and person.wing is not None
        version = latest_version(session, "phq9")
        assert version is not None
        device = f"wing-{person.wing}-1"
        seq = next_seqs(session).get((person.site, device), 1)
        answers = {f"phq9_{i}": "2" for i in range(1, 9)} | {"phq9_9": "1", "phq9_difficulty": "2"}
        message = response_message(
            site=person.site,
            device=device,
            seq=seq,
            subject=person.id,
            at=utc_now() - timedelta(minutes=5),
            form_id="phq9",
            form_version=version.version,
            answers=answers,
            language=person.preferred_language,
        )
    with sessions.begin() as session:
        result = apply_batch(session, [message], worker="e2e")
        assert result.applied == 1, result


def copy_hub(built: HubSite, folder: Path) -> HubSite:
    folder.mkdir(parents=True, exist_ok=True)
    copy = HubSite(folder)
    shutil.copy(built.database, copy.database)
    shutil.copy(built.audit_key, copy.audit_key)
    copy.config.write_text(
        f'database_url = "{copy.database_url}"\naudit_key_file = "{copy.audit_key}"\n'
    )
    return copy


@contextmanager
def serve_hub(site: HubSite, port: int) -> Iterator[str]:
    """``masar hub web`` (gunicorn, one worker) until the block ends; yields the base URL."""
    masar = str(Path(sys.executable).with_name("masar"))
    command = [masar, "hub", "web", "--config", str(site.config), "--port", str(port)]
    log = site.folder / "gunicorn.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [*command, "--workers", "1"], stdout=subprocess.DEVNULL, stderr=stderr
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "/login", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the hub did not start:\n{log.read_text()}") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)
