"""Delta sync of a wing's roster, templates encrypted at rest, and the hub's commands."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from hub import roster
from hub.commands import command_message
from hub.db import upgrade
from hub.models import KioskState
from kiosk import caches, drafts, outbox, store
from kiosk.agent import Agent
from kiosk.caches import load_gallery
from kiosk.config import BrokerConfig, KioskConfig
from kiosk.vault import TemplateVault, VaultError
from masar import scratch
from masar.scratch import random_face
from provisioning.broker import LocalBroker
from tests.integration.test_delivery import DEVICE, SITE, kiosk_config, running, wait_until

pytestmark = pytest.mark.integration
WING, OTHER_WING = "a", "b"


def admit_wing(engine: Engine, count: int) -> None:
    scratch.admit_wing(engine, SITE, DEVICE, WING, count)
    with Session(engine) as session, session.begin():
        roster.put_staff(
            session,
            staff_id="officer-7",
            name="Officer 7",
            role="wing_officer",
            site=SITE,
            pin_hash="scrypt$placeholder",
            badges=["FFFF0007"],
        )
        roster.put_document(
            session, "policy", "wing-a", {"self_service": "badge_face"}, site=SITE, wing=WING
        )


@pytest.fixture
def hub_with_wing(
    hub_db: Engine, hub_config_file: Path, spawn_worker: Callable[..., object]
) -> Engine:
    upgrade(hub_db)
    admit_wing(hub_db, 2000)
    spawn_worker(hub_config_file)
    return hub_db


@pytest.fixture
def agent(tmp_path: Path, broker: LocalBroker) -> Iterator[Agent]:
    running = Agent(kiosk_config(tmp_path, broker))
    running.start()
    yield running
    running.stop()


def wait_synced(agent: Agent) -> None:
    assert agent.caretaker.wait_idle(60), "the sync did not finish"
    assert agent.caretaker.last_error is None, agent.caretaker.last_error


def send(broker: LocalBroker, topic: str, payload: bytes) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-hub", protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    client.publish(topic, payload, qos=1).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


def file_bytes(config: KioskConfig) -> bytes:
    return b"".join(p.read_bytes() for p in config.data_dir.glob("kiosk.db*") if p.is_file())


def test_a_wing_syncs_then_deltas_remove_people_and_their_templates(
    hub_with_wing: Engine, agent: Agent, broker: LocalBroker
) -> None:
    config = agent.config
    wait_until(lambda: agent.caretaker.last_report is not None, 60, "the first sync")
    wait_synced(agent)
    db = store.open_store(config.store_path)
    assert caches.roster_size(db) == 2000
    gallery = load_gallery(db, agent.vault)
    assert len(gallery.detainee_ids) == 2000
    assert gallery.templates[7].tobytes() == random_face(7)
    assert caches.badge_owner(db, "FFFF0007") == ("staff", "officer-7")
    assert caches.document(db, "policy", "wing-a") == {"self_service": "badge_face"}
    removed = [f"m{n:05d}" for n in range(10)]
    sealed = {
        row[0]: bytes(row[1])
        for row in db.execute(
            "SELECT detainee_id, sealed FROM templates WHERE detainee_id IN "
            f"({','.join('?' * 10)})",
            removed,
        ).fetchall()
    }
    with Session(hub_with_wing) as session, session.begin():
        for detainee_id in removed[:5]:
            roster.release(session, detainee_id)
        for detainee_id in removed[5:]:
            roster.transfer(session, detainee_id, OTHER_WING)
        for n in range(100, 150):
            roster.update_detainee(session, f"m{n:05d}", name_latin=f"Renamed {n}")
    send(broker, *command_message(SITE, DEVICE, "sync"))
    wait_until(lambda: caches.roster_size(db) == 1990, 30, "the delta")
    wait_synced(agent)
    report = agent.caretaker.last_report
    assert report is not None and (report.upserts, report.deletes) == (50, 10)
    renamed = db.execute("SELECT name_latin FROM roster WHERE detainee_id = 'm00120'").fetchone()
    assert renamed[0] == "Renamed 120"
    gallery = load_gallery(db, agent.vault)
    assert not set(removed) & set(gallery.detainee_ids)
    assert all(caches.badge_owner(db, f"{n:08X}") is None for n in range(10))
    content = file_bytes(config)
    for detainee_id, ciphertext in sealed.items():
        assert ciphertext not in content, f"{detainee_id}'s template is still in the file"
    db.close()


def test_cached_templates_are_never_in_clear(hub_with_wing: Engine, agent: Agent) -> None:
    wait_until(lambda: agent.caretaker.last_report is not None, 60, "the first sync")
    wait_synced(agent)
    content = file_bytes(agent.config)
    for n in range(0, 2000, 97):
        assert random_face(n) not in content
        assert random_face(n)[:64] not in content  # not even a fragment of the float32 vector
    db = store.open_store(agent.config.store_path)
    other_key = agent.config.data_dir / "someone-elses.key"
    with pytest.raises(VaultError):
        load_gallery(db, TemplateVault(other_key))
    db.close()


def test_commands_take_effect_and_another_kiosks_are_ignored(
    hub_with_wing: Engine, agent: Agent, broker: LocalBroker
) -> None:
    wait_until(lambda: agent.caretaker.last_report is not None, 60, "the first sync")
    wait_synced(agent)
    db = store.open_store(agent.config.store_path)
    our_topic = command_message(SITE, DEVICE, "sync")[0]
    for kind, mode in (("set_mode", "enrolment"), ("wipe_caches", None)):
        # Addressed to another kiosk, even if it arrives on our topic: ignored.
        send(broker, our_topic, command_message(SITE, "wing-z-9", kind, mode)[1])  # type: ignore[arg-type]
    send(broker, *command_message(SITE, DEVICE, "set_mode", "movement_check"))
    wait_synced(agent)
    assert agent.mode(db) == "movement_check"
    assert caches.roster_size(db) == 2000
    wait_until(lambda: _hub_mode(hub_with_wing) == "movement_check", 20, "the new mode at the hub")

    key_before = agent.config.key_path.read_bytes()
    send(broker, *command_message(SITE, DEVICE, "rotate_cache_key"))
    wait_until(lambda: agent.config.key_path.read_bytes() != key_before, 20, "a new key")
    wait_synced(agent)
    assert load_gallery(db, agent.vault).templates[3].tobytes() == random_face(3)
    old = agent.config.data_dir / "old.key"
    old.write_bytes(key_before)
    with pytest.raises(VaultError):
        load_gallery(db, TemplateVault(old))

    with store.write(db):
        db.execute(
            "INSERT INTO outbox(seq, id, type, payload, created_at) "
            "VALUES (999999, 'unsent', 'identification', x'7b7d', 'now')"
        )
    send(broker, *command_message(SITE, DEVICE, "wipe_caches"))
    wait_until(lambda: caches.roster_size(db) == 0, 20, "the wipe")
    assert db.execute("SELECT count(*) FROM templates").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM outbox WHERE id = 'unsent'").fetchone()[0] == 1
    db.close()


def _hub_mode(engine: Engine) -> str | None:
    with Session(engine) as session:
        state = session.scalar(select(KioskState).where(KioskState.device == DEVICE))
        return None if state is None else state.status.get("mode")


def test_a_draft_saved_on_one_kiosk_resumes_on_another_kiosk_of_the_wing(
    tmp_path: Path,
    broker: LocalBroker,
    hub_db: Engine,
    hub_config_file: Path,
    spawn_worker: Callable[..., object],
) -> None:
    upgrade(hub_db)
    scratch.admit_wing(hub_db, SITE, DEVICE, WING, 20)
    other = "wing-a-9"
    with Session(hub_db) as session, session.begin():
        roster.register_device(session, SITE, other, WING, "self_service")
    spawn_worker(hub_config_file)
    second = KioskConfig(
        site=SITE,
        device=other,
        data_dir=tmp_path / "second",
        broker=BrokerConfig(port=broker.port, keepalive=5),
    )
    with running(Agent(kiosk_config(tmp_path, broker))) as first, running(Agent(second)) as later:
        wait_until(lambda: first.caretaker.last_report is not None, 60, "the first's sync")
        wait_until(lambda: later.caretaker.last_report is not None, 60, "the second's sync")
        wait_synced(first)
        wait_synced(later)
        db = store.open_store(first.config.store_path)
        drafts.save_progress(
            db,
            first.vault,
            site=SITE,
            device=DEVICE,
            detainee_id="m00003",
            form_id="masar_wishes",
            version="2025.1",
            language="ar",
            current="wish_training",
            answers={"wish_job": "7"},
        )
        wait_until(lambda: outbox.depth(db) == 0, 30, "the draft at the hub")
        db.close()
        send(broker, *command_message(SITE, other, "sync"))
        there = store.open_store(second.store_path)

        def resumed() -> drafts.Draft | None:
            return drafts.load_draft(there, later.vault, "m00003", "masar_wishes")

        wait_until(lambda: resumed() is not None, 30, "the draft on the other kiosk")
        draft = resumed()
        assert draft is not None
        assert (draft.source, draft.current, draft.answers) == (
            "hub",
            "wish_training",
            {"wish_job": "7"},
        )
        assert b"wish_training" not in file_bytes(second)  # sealed there too
        there.close()
