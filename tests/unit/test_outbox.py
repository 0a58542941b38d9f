"""The kiosk's durable outbox on a real SQLite file."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from sqlite_utils import Database

from kiosk import caches, outbox, store
from kiosk.agent import Inflight
from kiosk.vault import TemplateVault
from protocol import MAX_PAYLOAD_BYTES, ProtocolError, Rejection, decode_event, topics, utc_now
from protocol.events import (
    MovementVerifiedEvent,
    QuestionnaireResponse,
    QuestionnaireResponseEvent,
)
from protocol.messages import Change
from tests.factories import MOVEMENT

SITE, DEVICE = "rabat-1", "wing-a-1"


def record(db: Database) -> MovementVerifiedEvent:
    event = outbox.record(
        db,
        MovementVerifiedEvent,
        MOVEMENT,
        site=SITE,
        device=DEVICE,
        subject="d-1",
        actor="officer-7",
    )
    assert isinstance(event, MovementVerifiedEvent)
    return event


def test_store_uses_wal_and_full_sync(tmp_path: Path) -> None:
    db = store.open_store(tmp_path / "kiosk.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_recorded_events_get_consecutive_seqs_across_restarts(tmp_path: Path) -> None:
    db = store.open_store(tmp_path / "kiosk.db")
    with store.write(db):
        first, second = record(db), record(db)
    db.close()
    db = store.open_store(tmp_path / "kiosk.db")
    with store.write(db):
        third = record(db)
    assert [first.seq, second.seq, third.seq] == [1, 2, 3]
    queued = outbox.pending(db, limit=10)
    assert [e.seq for e in queued] == [1, 2, 3]
    topic = topics.event_topic(SITE, DEVICE, "movement.verified")
    assert decode_event(queued[0].payload, topic) == first


def test_a_failed_transaction_leaves_no_event_and_no_used_seq(tmp_path: Path) -> None:
    db = store.open_store(tmp_path / "kiosk.db")
    with pytest.raises(ZeroDivisionError), store.write(db):
        record(db)
        1 / 0  # noqa: B018 - the state change that fails after the event was queued
    assert outbox.depth(db) == 0
    with store.write(db):
        assert record(db).seq == 1


def test_record_outside_a_transaction_is_refused(tmp_path: Path) -> None:
    db = store.open_store(tmp_path / "kiosk.db")
    with pytest.raises(RuntimeError, match=r"must run inside store\.write"):
        record(db)


def test_confirm_deletes_named_events_and_ignores_repeats(tmp_path: Path) -> None:
    db = store.open_store(tmp_path / "kiosk.db")
    with store.write(db):
        events = [record(db) for _ in range(3)]
    with store.write(db):
        assert outbox.confirm(db, [events[0].id, events[2].id, "unknown"]) == 2
        assert outbox.confirm(db, [events[0].id]) == 0
    assert [e.id for e in outbox.pending(db)] == [events[1].id]
    assert [e.id for e in outbox.pending(db, after_seq=2)] == []


def test_rejected_events_leave_the_queue_but_are_kept_with_the_reason(tmp_path: Path) -> None:
    db = store.open_store(tmp_path / "kiosk.db")
    with store.write(db):
        event = record(db)
    with store.write(db):
        assert outbox.reject(db, [Rejection(id=event.id, reason="unknown event type")]) == 1
    assert outbox.depth(db) == 0 and outbox.rejected_count(db) == 1
    row = db.execute("SELECT reason, seq FROM rejected_events").fetchone()
    assert tuple(row) == ("unknown event type", 1)


def test_an_event_over_the_wire_limit_is_refused_when_recorded(tmp_path: Path) -> None:
    db = store.open_store(tmp_path / "kiosk.db")
    huge = QuestionnaireResponse(
        form_id="intake",
        form_version="1",
        language="fr",
        started_at=utc_now(),
        completed_at=utc_now(),
        answers={"story": "x" * MAX_PAYLOAD_BYTES},
    )
    with (
        pytest.raises(ProtocolError, match=r"the limit is 262144 bytes \(256 KiB\)"),
        store.write(db),
    ):
        outbox.record(db, QuestionnaireResponseEvent, huge, site=SITE, device=DEVICE)
    assert outbox.depth(db) == 0


def test_resends_back_off_per_event() -> None:
    inflight = Inflight(resend_after=10)
    inflight.sent("a", 1, at=0.0)
    inflight.sent("b", 2, at=5.0)
    assert inflight.overdue(10.5) == ["a"]
    inflight.sent("a", 1, at=10.5)  # second send: next wait is 20 s
    assert inflight.overdue(25.5) == ["b"]
    assert inflight.overdue(31.0) == ["a", "b"]
    for _ in range(10):
        inflight.sent("a", 1, at=100.0)
    assert inflight.overdue(399.0) == ["b"] and inflight.overdue(401.0) == ["a", "b"]
    assert inflight.done("a") == 100.0 and len(inflight) == 1


def _sealed_store(tmp_path: Path) -> tuple[Database, TemplateVault, bytes]:
    db = store.open_store(tmp_path / "kiosk.db")
    vault = TemplateVault(tmp_path / "cache.key")
    clear = bytes(range(256)) * 8
    change = Change(
        kind="detainee",
        op="upsert",
        key="m1",
        data={
            "prison_number": "P1",
            "name_latin": "A",
            "name_arabic": "ا",
            "preferred_language": "ar",
            "literate": True,
            "photo_thumbnail": None,
            "badges": ["0A0B0C0D"],
            "templates": [
                {
                    "id": "t1",
                    "modality": "face",
                    "format": "f32",
                    "data": base64.b64encode(clear).decode(),
                }
            ],
        },
    )
    with store.write(db):
        caches.apply_change(db, vault, change)
    return db, vault, clear


def test_a_crash_after_reencryption_commits_finishes_the_rotation(tmp_path: Path) -> None:
    db, vault, clear = _sealed_store(tmp_path)
    new_key = vault.begin_rotation()
    with store.write(db):
        caches.reencrypt_sealed(db, vault, new_key)
    # crash here: the new key is still only in cache.key.next
    restarted = TemplateVault(tmp_path / "cache.key")
    caches.settle_rotation(db, restarted)
    assert not restarted.next_file.exists() and restarted.current_id == new_key
    again = TemplateVault(tmp_path / "cache.key")
    assert caches.load_gallery(db, again).templates[0].tobytes() == clear


def test_a_crash_before_reencryption_commits_drops_the_unused_key(tmp_path: Path) -> None:
    db, vault, clear = _sealed_store(tmp_path)
    old_key = vault.current_id
    vault.begin_rotation()
    restarted = TemplateVault(tmp_path / "cache.key")
    caches.settle_rotation(db, restarted)
    assert not restarted.next_file.exists() and restarted.current_id == old_key
    assert caches.load_gallery(db, restarted).templates[0].tobytes() == clear
