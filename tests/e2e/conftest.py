"""Browser tests: the real kiosk (agent, sensors on replay, waitress) driven by Playwright in
Debian's Chromium (/usr/bin/chromium; `playwright install` is never run).

The wing is built once per test session (tests/e2e/wing.py: hub records, the real sync,
a calibration measured on faces-dev) and copied for each test, so that every test starts
from the same synced kiosk and its outbox holds only what that test did.

The set-up is plain functions (``build_wing``, ``run_kiosk``, ``launch_chromium``) under thin
fixtures, so tests/e2e/screenshots.py builds the same wing and kiosks outside pytest.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from waitress import create_server

from kiosk import store
from kiosk.agent import Agent
from kiosk.app import create_app
from kiosk.config import load_config
from kiosk.model_files import models_dir
from kiosk.recognition.face import FacePipeline
from kiosk.vault import TemplateVault
from tests.e2e import hub_site, wing
from tests.shared_data import MODELS

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SMALL = {"width": 800, "height": 480}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(
    folder: Path, *, camera: Path, inactivity: float, mode: str, port: int = 0
) -> Path:
    path = folder / "kiosk.toml"
    path.write_text(
        f'site = "{wing.SITE}"\ndevice = "{wing.DEVICE}"\nwing = "{wing.WING}"\n'
        f'data_dir = "{folder / "data"}"\nmode = "{mode}"\n\n'
        # Nothing listens there: the kiosk works offline and keeps its events.
        f'[broker]\nhost = "127.0.0.1"\nport = {free_port()}\n\n'
        f"[ui]\nport = {port}\ninactivity_timeout = {inactivity}\n\n"
        f'[camera]\ndriver = "replay"\npath = "{camera}"\nfps = 15\n'
    )
    return path


@dataclass
class BuiltWing:
    folder: Path  # data/ holds the synced store, key, models and calibration
    people: list[wing.Person]


def build_wing(folder: Path) -> BuiltWing:
    """The hub's records, the face calibration (about 40 s) and the kiosk's synced copy."""
    pipeline = FacePipeline.open(MODELS)
    people = wing.build_hub(folder / "hub.db", pipeline, folder / "probes")
    pipeline.close()
    config_file = write_config(folder, camera=people[0].probes, inactivity=60, mode="x")
    config_file.write_text(config_file.read_text().replace('mode = "x"\n', ""))
    config = load_config(config_file)
    models = models_dir(config.data_dir)
    models.mkdir(parents=True)
    for model in MODELS.glob("*.onnx"):
        (models / model.name).symlink_to(model)
    wing.calibrate(config_file)
    wing.sync_kiosk(folder / "hub.db", config.store_path, TemplateVault(config.key_path))
    return BuiltWing(folder, people)


@pytest.fixture(scope="session")
def built_wing() -> Iterator[BuiltWing]:
    folder = Path(tempfile.mkdtemp(prefix="masar-e2e-wing-"))
    try:
        yield build_wing(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class RunningKiosk:
    url: str
    app: Flask
    agent: Agent
    config_file: Path
    server: Any = None  # waitress's server
    thread: threading.Thread | None = None

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        """The outbox, oldest first, as the hub will receive it."""
        import json

        db = store.open_store(self.agent.config.store_path)
        try:
            rows = db.execute("SELECT payload FROM outbox ORDER BY seq").fetchall()
        finally:
            db.close()
        events = [json.loads(row[0]) for row in rows]
        return [e for e in events if event_type is None or e["type"] == event_type]

    def tap_badge(self, uid: str) -> None:
        """What the badge reader's thread does when a badge is laid on it."""
        self.app.extensions["masar_kiosk"].stations.present_badge(uid)

    def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        if self.thread is not None:
            self.thread.join(timeout=5)
        self.agent.camera and self.agent.camera.close()


def run_kiosk(
    built: BuiltWing,
    folder: Path,
    *,
    camera: Path | None = None,
    inactivity: float = 60,
    mode: str = "self_service",
) -> RunningKiosk:
    """A kiosk on a copy of the wing's data in ``folder``, served by waitress on a free port
    (its agent is not started: no broker; ``stop()`` ends it)."""
    shutil.copytree(built.folder / "data", folder / "data", symlinks=True)
    config_file = write_config(
        folder, camera=camera or built.people[0].probes, inactivity=inactivity, mode=mode
    )
    config = load_config(config_file)
    agent = Agent(config)
    app = create_app(config, agent)
    server = create_server(app, host="127.0.0.1", port=0, threads=8)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.effective_port}"
    return RunningKiosk(url, app, agent, config_file, server, thread)


@pytest.fixture
def start_kiosk(built_wing: BuiltWing, tmp_path: Path) -> Iterator[Any]:
    """start_kiosk(camera=person folder, inactivity=60, mode="self_service") -> RunningKiosk"""
    started: list[RunningKiosk] = []

    def start(
        *, camera: Path | None = None, inactivity: float = 60, mode: str = "self_service"
    ) -> RunningKiosk:
        folder = tmp_path / f"kiosk-{len(started)}"
        kiosk = run_kiosk(built_wing, folder, camera=camera, inactivity=inactivity, mode=mode)
        started.append(kiosk)
        return kiosk

    yield start
    for kiosk in started:
        kiosk.stop()


def launch_chromium(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless, with nothing reaching out of the machine."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=SMALL, locale="fr-FR")
    yield context.new_page()
    context.close()


# --- the hub's web pages ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def built_hub() -> Iterator[hub_site.HubSite]:
    with tempfile.TemporaryDirectory(prefix="masar-e2e-hub-") as folder:
        yield hub_site.build_hub(Path(folder))


@pytest.fixture
def hub_url(built_hub: hub_site.HubSite, tmp_path: Path) -> Iterator[str]:
    """The base URL of a hub (gunicorn) on this test's own copy of the seeded database."""
    site = hub_site.copy_hub(built_hub, tmp_path / "hub")
    with hub_site.serve_hub(site, free_port()) as url:
        yield url


@pytest.fixture
def hub_database(hub_url: str, tmp_path: Path) -> str:
    """The URL of the database behind ``hub_url``, to check what the pages wrote."""
    return hub_site.HubSite(tmp_path / "hub").database_url


def log_in(page: Page, hub_url: str, username: str) -> None:
    """Log in through the login page as one of hub_site.USERS (or ARABIC_USER)."""
    page.goto(hub_url + "/login")
    page.fill("#f-username", username)
    page.fill("#f-password", hub_site.PASSWORD)
    page.click("button.primary")
    page.wait_for_load_state()
