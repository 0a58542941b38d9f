"""Hub ingest on SQLite and PostgreSQL: exactly once, seq gaps, dead letters, statuses."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.db import open_engine, session_factory, upgrade
from hub.ingest import Incoming, apply_batch, apply_status
from hub.models import DeadLetter, DeviceStream, Event, KioskState
from hub.sequences import missing_seqs
from protocol import Status, encode, topics
from tests.factories import movement, wire


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = open_engine(database_url)
    upgrade(engine)
    upgrade(engine)  # a second run is a no-op
    yield session_factory(engine)
    engine.dispose()


def ingest(sessions: sessionmaker[Session], *messages: tuple[str, bytes]):  # type: ignore[no-untyped-def]
    with sessions.begin() as session:
        return apply_batch(session, [Incoming(t, p) for t, p in messages])


def count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_duplicate_is_acknowledged_but_stored_once(sessions: sessionmaker[Session]) -> None:
    event = movement(1)
    first = ingest(sessions, wire(event), wire(event))
    second = ingest(sessions, wire(event))
    assert first.applied == 1 and second.applied == 0 and second.duplicates == 1
    assert second.committed[("rabat-1", "wing-a-1")] == [event.id]
    assert count(sessions, Event) == 1
    with sessions() as session:
        stream = session.get(DeviceStream, ("rabat-1", "wing-a-1"))
        assert stream is not None and stream.event_count == 1 and stream.max_seq == 1


def test_out_of_order_seqs_leave_no_gap_once_all_arrived(sessions: sessionmaker[Session]) -> None:
    ingest(sessions, wire(movement(1)), wire(movement(5)))
    with sessions() as session:
        assert missing_seqs(session, "rabat-1", "wing-a-1") == [(2, 4)]
    ingest(sessions, wire(movement(3)))
    with sessions() as session:
        assert missing_seqs(session, "rabat-1", "wing-a-1") == [(2, 2), (4, 4)]
    ingest(sessions, wire(movement(4)), wire(movement(2)), wire(movement(6)))
    with sessions() as session:
        assert missing_seqs(session, "rabat-1", "wing-a-1") == []
        stream = session.get(DeviceStream, ("rabat-1", "wing-a-1"))
        assert stream is not None and (stream.max_seq, stream.event_count) == (6, 6)


def test_a_device_first_seen_mid_stream_has_its_earlier_events_missing(
    sessions: sessionmaker[Session],
) -> None:
    ingest(sessions, wire(movement(4, device="wing-b-2")))
    with sessions() as session:
        assert missing_seqs(session, "rabat-1", "wing-b-2") == [(1, 3)]


def test_invalid_messages_are_parked_with_reason_and_bytes(sessions: sessionmaker[Session]) -> None:
    good = movement(1)
    impostor = movement(2)
    topic, payload = wire(impostor)
    forged_topic = topic.replace("wing-a-1", "wing-z-9")
    result = ingest(
        sessions,
        wire(good),
        (topic, b"{not json"),
        (forged_topic, payload),
        (forged_topic, payload),  # the same bytes again are parked once
    )
    assert result.applied == 1 and result.dead_lettered == 3
    assert count(sessions, DeadLetter) == 2
    with sessions() as session:
        reasons = session.scalars(select(DeadLetter.reason).order_by(DeadLetter.id)).all()
        raw = session.scalars(select(DeadLetter.payload).order_by(DeadLetter.id)).all()
    assert reasons == [
        "invalid JSON at line 1 column 2: Expecting property name enclosed in double quotes",
        "topic device 'wing-z-9' differs from the envelope's device 'wing-a-1'",
    ]
    assert raw == [b"{not json", payload]
    # The forging topic's own device is told that its event was parked.
    assert [(r.device, r.event_id) for r in result.rejected] == [("wing-z-9", impostor.id)] * 2


def test_unknown_event_type_is_parked_not_dropped(sessions: sessionmaker[Session]) -> None:
    data = json.loads(wire(movement(1))[1])
    data["type"] = "parole.granted"
    topic = topics.event_topic("rabat-1", "wing-a-1", "parole.granted")
    result = ingest(sessions, (topic, json.dumps(data).encode()))
    assert result.dead_lettered == 1 and result.rejected[0].event_id == data["id"]
    assert count(sessions, Event) == 0 and count(sessions, DeadLetter) == 1


def test_a_newer_status_wins_and_an_older_one_is_ignored(sessions: sessionmaker[Session]) -> None:
    topic = topics.status_topic("rabat-1", "wing-a-1")
    newer = Status(
        site="rabat-1",
        device="wing-a-1",
        state="online",
        at="2026-11-29T06:00:00.000Z",
        outbox_depth=3,
    )  # type: ignore[arg-type]
    older = newer.model_copy(update={"outbox_depth": 99, "at": newer.at.replace(hour=5)})  # type: ignore[union-attr]
    for status in (newer, older):
        with sessions.begin() as session:
            apply_status(session, Incoming(topic, encode(status)))
    with sessions() as session:
        state = session.get(KioskState, ("rabat-1", "wing-a-1"))
        assert state is not None and state.status["outbox_depth"] == 3
    offline = Status(site="rabat-1", device="wing-a-1", state="offline")
    with sessions.begin() as session:
        apply_status(session, Incoming(topic, encode(offline)))
    with sessions() as session:
        state = session.get(KioskState, ("rabat-1", "wing-a-1"))
        assert state is not None and state.state == "offline"


def test_an_event_id_already_used_by_another_kiosk_is_parked_not_acknowledged(
    sessions: sessionmaker[Session],
) -> None:
    original = movement(1, device="wing-a-1")
    ingest(sessions, wire(original))
    copycat = movement(1, device="wing-b-2", event_id=original.id)
    result = ingest(sessions, wire(copycat))
    assert dict(result.committed) == {}
    assert [(r.device, r.event_id) for r in result.rejected] == [("wing-b-2", original.id)]
    assert result.rejected[0].reason == f"event id {original.id} was already used by another kiosk"
    with sessions() as session:
        stored = session.get(Event, original.id)
        assert stored is not None and stored.device == "wing-a-1"
