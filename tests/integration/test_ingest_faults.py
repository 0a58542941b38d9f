"""What an ingest worker does when the database, or the code applying an event, fails."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from hub import ingest
from hub.config import load_config
from hub.models import DeadLetter
from hub.worker import IngestWorker
from kiosk import outbox, store
from kiosk.agent import Agent
from protocol.events import EventBase, MovementVerifiedEvent
from provisioning.broker import LocalBroker
from tests.factories import MOVEMENT
from tests.integration.test_delivery import (
    DEVICE,
    SITE,
    assert_exactly_once,
    hub_count,
    kiosk_config,
    outbox_depth,
    record_events,
    running,
    wait_delivered,
    wait_until,
)

pytestmark = pytest.mark.integration


def dead_letters(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.scalars(select(DeadLetter.reason).order_by(DeadLetter.id)))


def test_a_database_outage_delays_events_but_loses_or_parks_none(
    tmp_path: Path,
    broker: LocalBroker,
    hub_config_file: Path,
    hub_db: Engine,
    spawn_worker: Callable[..., object],
) -> None:
    config = kiosk_config(tmp_path, broker, resend_after=2.0)
    spawn_worker(hub_config_file)
    record_events(config, 50, per_transaction=50)
    with running(Agent(config)):
        wait_until(lambda: hub_count(hub_db) == 50, 60, "the first 50 events")
        with hub_db.begin() as connection:  # the table disappears, as in a broken migration
            connection.execute(text("ALTER TABLE events RENAME TO events_away"))
        record_events(config, 50, per_transaction=10)
        time.sleep(4.0)
        assert outbox_depth(config) == 50
        assert dead_letters(hub_db) == []
        with hub_db.begin() as connection:
            connection.execute(text("ALTER TABLE events_away RENAME TO events"))
        wait_delivered(config, hub_db, 100, 60)
    assert_exactly_once(hub_db, 100)


@pytest.fixture
def worker_in_thread(hub_config_file: Path) -> Iterator[IngestWorker]:
    worker = IngestWorker(load_config(hub_config_file), name="in-thread")
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    assert worker.wait_connected(10)
    time.sleep(0.3)  # subscriptions granted
    yield worker
    worker.stop()
    thread.join(10)


def test_an_event_the_code_cannot_apply_is_parked_and_the_rest_flows(
    tmp_path: Path,
    broker: LocalBroker,
    hub_db: Engine,
    worker_in_thread: IngestWorker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def apply_movements(session: Session, events: Sequence[EventBase]) -> None:
        if any(event.subject == "d-poison" for event in events):
            raise RuntimeError("a bug met d-poison")  # not a refusal: the worker's fallback

    monkeypatch.setitem(ingest.BATCH_HANDLERS, "movement.verified", apply_movements)
    config = kiosk_config(tmp_path, broker)
    db = store.open_store(config.store_path)
    with store.write(db):
        for subject in ["d-1", "d-2", "d-poison", "d-3", "d-4"]:
            outbox.record(
                db, MovementVerifiedEvent, MOVEMENT, site=SITE, device=DEVICE, subject=subject
            )
    with running(Agent(config)):
        wait_until(lambda: outbox_depth(config) == 0, 60, "an empty outbox")
    assert hub_count(hub_db) == 4
    assert dead_letters(hub_db) == ["could not be applied: RuntimeError: a bug met d-poison"]
    assert (outbox.rejected_count(db), outbox.depth(db)) == (1, 0)
    with hub_db.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(DeadLetter)) == 1
    db.close()
