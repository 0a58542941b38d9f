"""Kiosk → real Mosquitto → `masar hub ingest` → database → ack → outbox, exactly once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine, func, select

from hub.models import DeadLetter, DeviceStream, Event, SeqGap
from kiosk import outbox, store
from kiosk.agent import Agent
from kiosk.config import BrokerConfig, KioskConfig, OutboxConfig
from protocol import topics
from protocol.events import MovementVerifiedEvent
from provisioning.broker import LocalBroker
from tests.factories import MOVEMENT

pytestmark = pytest.mark.integration
SITE, DEVICE = "rabat-1", "wing-a-1"


def kiosk_config(tmp_path: Path, broker: LocalBroker, resend_after: float = 3.0) -> KioskConfig:
    return KioskConfig(
        site=SITE,
        device=DEVICE,
        data_dir=tmp_path / "kiosk",
        broker=BrokerConfig(port=broker.port, keepalive=5),
        outbox=OutboxConfig(resend_after=resend_after),
    )


def record_events(
    config: KioskConfig, count: int, *, per_transaction: int = 1, pause: float = 0.0
) -> None:
    db = store.open_store(config.store_path)
    try:
        for start in range(0, count, per_transaction):
            with store.write(db):
                for _ in range(min(per_transaction, count - start)):
                    outbox.record(
                        db,
                        MovementVerifiedEvent,
                        MOVEMENT,
                        site=SITE,
                        device=DEVICE,
                        subject="d-00001",
                        actor="officer-7",
                    )
            if pause:
                time.sleep(pause)
    finally:
        db.close()


def hub_count(engine: Engine) -> int:
    try:
        with engine.connect() as connection:
            return int(connection.scalar(select(func.count()).select_from(Event)) or 0)
    except Exception:
        return 0  # tables not created yet


def outbox_depth(config: KioskConfig) -> int:
    db = store.open_store(config.store_path)
    try:
        return outbox.depth(db)
    finally:
        db.close()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def wait_delivered(config: KioskConfig, engine: Engine, count: int, timeout: float = 120) -> None:
    """Until the kiosk's outbox is empty and the hub holds ``count`` events."""
    wait_until(
        lambda: outbox_depth(config) == 0 and hub_count(engine) == count,
        timeout,
        f"{count} events at the hub and an empty outbox",
    )


@contextmanager
def running(agent: Agent) -> Iterator[Agent]:
    agent.start()
    try:
        yield agent
    finally:
        agent.stop()


def assert_exactly_once(engine: Engine, count: int, dead_letters: int = 0) -> None:
    with engine.connect() as connection:
        seqs = connection.scalars(
            select(Event.seq).where(Event.site == SITE, Event.device == DEVICE).order_by(Event.seq)
        ).all()
        gaps = connection.scalar(select(func.count()).select_from(SeqGap))
        stream = connection.execute(select(DeviceStream.max_seq, DeviceStream.event_count)).one()
        dead = connection.scalar(select(func.count()).select_from(DeadLetter))
    assert seqs == list(range(1, count + 1)), "every seq present, none twice"
    assert gaps == 0
    assert tuple(stream) == (count, count)
    assert dead == dead_letters


def test_events_arrive_exactly_once_through_broker_restart_and_worker_kill(
    tmp_path: Path,
    broker: LocalBroker,
    hub_config_file: Path,
    hub_db: Engine,
    spawn_worker: Callable[..., object],
) -> None:
    total = 1000
    config = kiosk_config(tmp_path, broker)
    store.open_store(config.store_path).close()
    worker = spawn_worker(hub_config_file)
    agent = Agent(config, status_every=1.0)
    agent.start()
    producer = threading.Thread(
        target=record_events, args=(config, total), kwargs={"per_transaction": 5, "pause": 0.01}
    )
    producer.start()
    try:
        wait_until(lambda: hub_count(hub_db) >= 250, 60, "the first events at the hub")
        broker.stop()  # clean stop mid-stream; the kiosk keeps recording offline
        time.sleep(1.0)
        broker.start()
        wait_until(lambda: hub_count(hub_db) >= 600, 60, "events after the broker restart")
        worker.kill()  # type: ignore[attr-defined]  # SIGKILL: no clean-up at all
        worker.wait()  # type: ignore[attr-defined]
        time.sleep(0.5)
        spawn_worker(hub_config_file)
        producer.join()
        wait_delivered(config, hub_db, total)
    finally:
        producer.join()
        agent.stop()
    assert outbox_depth(config) == 0
    assert_exactly_once(hub_db, total)


def test_two_workers_share_the_load_and_apply_each_event_once(
    tmp_path: Path,
    broker: LocalBroker,
    hub_config_file: Path,
    hub_db: Engine,
    spawn_worker: Callable[..., object],
) -> None:
    total = 2000
    config = kiosk_config(tmp_path, broker)
    record_events(config, total, per_transaction=100)
    spawn_worker(hub_config_file, name="1")
    spawn_worker(hub_config_file, name="2")
    with running(Agent(config)):
        wait_delivered(config, hub_db, total, 120)
    with hub_db.connect() as connection:
        per_worker = dict(
            connection.execute(select(Event.worker, func.count()).group_by(Event.worker)).all()
        )
    assert set(per_worker) == {"1", "2"} and sum(per_worker.values()) == total
    assert min(per_worker.values()) > total // 10, f"load not shared: {per_worker}"
    assert_exactly_once(hub_db, total)


def test_bad_messages_on_the_wire_are_parked_and_the_worker_keeps_going(
    tmp_path: Path,
    broker: LocalBroker,
    hub_config_file: Path,
    hub_db: Engine,
    spawn_worker: Callable[..., object],
) -> None:
    spawn_worker(hub_config_file)
    intruder = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="intruder", protocol=mqtt.MQTTv5)
    intruder.connect("127.0.0.1", broker.port)
    intruder.loop_start()
    topic = topics.event_topic(SITE, DEVICE, "movement.verified")
    for payload in (b"{oops", b'{"type": "movement.verified"}', b"x" * 300_000):
        intruder.publish(topic, payload, qos=1).wait_for_publish(5)
    intruder.disconnect()
    intruder.loop_stop()
    config = kiosk_config(tmp_path, broker)
    record_events(config, 20, per_transaction=20)
    with running(Agent(config)):
        wait_delivered(config, hub_db, 20, 60)
    with hub_db.connect() as connection:
        reasons = connection.scalars(select(DeadLetter.reason).order_by(DeadLetter.id)).all()
    assert reasons == [
        "invalid JSON at line 1 column 2: Expecting property name enclosed in double quotes",
        "missing field 'id' (and 5 more problem(s))",
        "payload is 300000 bytes; the limit is 262144 bytes (256 KiB)",
    ]
    assert_exactly_once(hub_db, 20, dead_letters=3)
