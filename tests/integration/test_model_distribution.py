"""Model files from the hub's store to a kiosk through a real Mosquitto and `masar hub ingest`:
the manifest comes with sync, the bytes in pieces on request, and a file lands in the kiosk's
models folder only once its SHA-256 checks out. Small models keep it quick: fr_eye (207 kB)
and YuNet (233 kB), each more than one piece."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from hub import roster
from hub.audit import Trail
from hub.db import open_engine, upgrade
from hub.model_store import add_model
from hub.models import KioskState, ModelFile
from kiosk import model_files
from kiosk.agent import Agent
from kiosk.caretaker import Job
from kiosk.config import RecordedFingerConfig, ReplayConfig
from protocol.models import CATALOGUE
from provisioning.broker import LocalBroker
from tests.conftest import write_hub_config
from tests.integration.test_delivery import DEVICE, SITE, kiosk_config, wait_until
from tests.shared_data import FINGERS, MODELS

pytestmark = pytest.mark.integration
FACES = MODELS.parent / "data" / "faces-dev" / "Hugo_Chavez"
EYE, YUNET = "fr_eye.onnx", "face_detection_yunet_2023mar.onnx"
TRAIL = Trail(b"k" * 32, "user:hub-admin")


@pytest.fixture
def hub(
    tmp_path: Path, broker: LocalBroker, spawn_worker: Callable[..., object]
) -> Iterator[Engine]:
    """A hub on SQLite (the store itself is tested on PostgreSQL too, in the unit tests)
    holding fr_eye and YuNet, with our kiosk registered and one ingest worker running."""
    url = f"sqlite:///{tmp_path}/hub.db"
    engine = open_engine(url)
    upgrade(engine)
    with Session(engine) as session, session.begin():
        roster.register_device(session, SITE, DEVICE, "a", "self_service")
        for name in (EYE, YUNET):
            add_model(session, TRAIL, MODELS / name)
    spawn_worker(write_hub_config(tmp_path / "hub.toml", url, broker))
    yield engine
    engine.dispose()


@pytest.fixture
def agent(tmp_path: Path, broker: LocalBroker) -> Iterator[Agent]:
    config = kiosk_config(tmp_path, broker).model_copy(
        update={
            "camera": ReplayConfig(path=FACES, fps=5.0),
            "fingerprint": RecordedFingerConfig(path=FINGERS / "FVC2002DB1_103"),
        }
    )
    running = Agent(config, status_every=1.0)
    yield running
    running.stop()


def wait_for_sync(agent: Agent) -> None:
    assert agent.caretaker.wait_idle(60), "the sync did not finish"


def hub_status(engine: Engine) -> dict[str, Any]:
    with Session(engine) as session:
        state = session.scalar(select(KioskState).where(KioskState.device == DEVICE))
        return {} if state is None else dict(state.status)


def folder_of(agent: Agent) -> Path:
    return model_files.models_dir(agent.config.data_dir)


def test_a_kiosk_downloads_verified_models_reports_them_and_keeps_them_offline(
    hub: Engine, agent: Agent, broker: LocalBroker
) -> None:
    agent.start()
    wait_until(lambda: agent.caretaker.last_report is not None, 60, "the first sync")
    wait_for_sync(agent)
    assert agent.caretaker.last_error is None, agent.caretaker.last_error
    report = agent.caretaker.last_report
    assert report is not None and sorted(report.models_fetched) == [YUNET, EYE]
    folder = folder_of(agent)
    for name in (EYE, YUNET):
        assert (folder / name).read_bytes() == (MODELS / name).read_bytes()
    assert sorted(p.name for p in folder.iterdir()) == [YUNET, EYE]  # no .part left
    expected = {name: CATALOGUE[name].sha256 for name in (EYE, YUNET)}
    wait_until(
        lambda: hub_status(hub).get("model_hashes") == expected, 20, "the hashes in the status"
    )
    assert hub_status(hub)["sensors"] == {
        "camera": {"ok": True, "detail": ""},
        "fingerprint": {"ok": True, "detail": ""},
    }

    agent.caretaker.request(Job("sync"))  # nothing changed: nothing is fetched again
    wait_for_sync(agent)
    assert agent.caretaker.last_report.models_fetched == ()  # type: ignore[union-attr]

    broker.stop()  # the kiosk is cut off: it keeps working with the models it has
    wait_until(lambda: not agent.bus.connected, 20, "the kiosk to notice")
    agent.caretaker.request(Job("sync"))
    wait_for_sync(agent)
    assert "no connection to the hub" in str(agent.caretaker.last_error)
    assert model_files.present_models(folder) == expected
    for name in (EYE, YUNET):
        assert (folder / name).read_bytes() == (MODELS / name).read_bytes()


def test_a_damaged_copy_on_the_hub_is_refused_and_the_kiosk_keeps_its_file(
    hub: Engine, agent: Agent, caplog: pytest.LogCaptureFixture
) -> None:
    damaged = bytearray((MODELS / EYE).read_bytes())
    damaged[1000] ^= 0xFF
    with hub.begin() as connection:  # someone edited the row: same name, hash and size
        connection.execute(update(ModelFile).where(ModelFile.name == EYE).values(data=damaged))
    folder = folder_of(agent)
    folder.mkdir(parents=True)
    old = b"the kiosk's earlier fr_eye.onnx"
    (folder / EYE).write_bytes(old)

    caplog.set_level(logging.ERROR, logger="kiosk.sync")
    agent.start()
    wait_until(lambda: agent.caretaker.last_error is not None, 60, "the refusal")
    wait_for_sync(agent)
    error = str(agent.caretaker.last_error)
    assert error.startswith("fr_eye.onnx from the hub has SHA-256 "), error
    assert "expected 1afcea006abc…; this is not the file Masar was tested with" in error
    assert "keeps its current file" in error
    assert any("model refused: fr_eye.onnx" in r.getMessage() for r in caplog.records)
    assert (folder / EYE).read_bytes() == old
    assert (folder / YUNET).read_bytes() == (MODELS / YUNET).read_bytes()  # the good one came
    assert sorted(p.name for p in folder.iterdir()) == [YUNET, EYE]
    wait_until(
        lambda: any(error[:60] in p for p in hub_status(hub).get("problems", [])),
        20,
        "the refusal in the kiosk's status",
    )

    with Session(hub) as session, session.begin():  # the hub admin adds the file again
        assert add_model(session, TRAIL, MODELS / EYE).outcome == "updated"
    agent.caretaker.request(Job("sync"))
    wait_for_sync(agent)
    assert agent.caretaker.last_error is None, agent.caretaker.last_error
    assert (folder / EYE).read_bytes() == (MODELS / EYE).read_bytes()
