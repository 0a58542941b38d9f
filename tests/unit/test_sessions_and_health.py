"""Sessions (one person, inactivity logout, nothing kept) and out-of-service detection."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from kiosk import health, outbox, store
from kiosk.sessions import SessionManager, SessionRefused
from protocol.events import MovementVerifiedEvent
from protocol.pins import PinError, hash_pin, verify_pin
from tests.factories import MOVEMENT


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_person_at_a_time_and_logout_after_inactivity() -> None:
    clock = Clock()
    sessions = SessionManager(inactivity_timeout=90, clock=clock)
    first = sessions.start("m00001", "detainee")
    first.data["answers"] = {"education": "isced_3"}
    with pytest.raises(SessionRefused, match="Someone is using this kiosk"):
        sessions.start("m00002", "detainee")
    clock.now += 60
    assert sessions.touch() is first
    clock.now += 89
    assert sessions.current() is first
    clock.now += 2
    assert sessions.current() is None
    assert first.data == {} and first.person_id == ""  # nothing of them kept in memory
    assert sessions.start("m00002", "detainee").person_id == "m00002"


def test_logout_forgets_the_person() -> None:
    sessions = SessionManager()
    session = sessions.start("m00001", "detainee")
    session.data["photo"] = b"..."
    sessions.end()
    assert sessions.current() is None and session.data == {}


def test_no_session_starts_while_out_of_service() -> None:
    sessions = SessionManager(fit_for_service=lambda: "Out of service: the disk is full.")
    with pytest.raises(SessionRefused) as refused:
        sessions.start("m00001", "detainee")
    assert str(refused.value) == "Out of service: the disk is full."


def record(db: Database) -> None:
    with store.write(db):
        outbox.record(db, MovementVerifiedEvent, MOVEMENT, site="s", device="k", subject="m1")


def test_a_full_store_writes_nothing_half_and_puts_the_kiosk_out_of_service(
    tmp_path: Path,
) -> None:
    db = store.open_store(tmp_path / "kiosk.db")
    record(db)
    assert health.check(db, tmp_path) == health.Health(True)
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")  # the storage is now full
    with pytest.raises(sqlite3.OperationalError) as full:
        for _ in range(1000):
            record(db)
    depth = outbox.depth(db)
    seq = db.execute("SELECT value FROM counters WHERE name = 'seq'").fetchone()[0]
    assert seq == depth  # the failed transaction took no seq and left no row
    assert [e.seq for e in outbox.pending(db, limit=2000)] == list(range(1, depth + 1))
    message = "Out of service: the kiosk's storage is full. Nothing was lost; call staff."
    assert health.explain_storage_error(full.value) == message
    assert health.check(db, tmp_path) == health.Health(False, message)
    assert not db.conn.in_transaction


def test_a_read_only_store_puts_the_kiosk_out_of_service(tmp_path: Path) -> None:
    store.open_store(tmp_path / "kiosk.db").close()
    read_only = sqlite3.connect(
        f"file:{tmp_path / 'kiosk.db'}?mode=ro", uri=True, isolation_level=None
    )
    result = health.check(Database(read_only), tmp_path)
    assert result == health.Health(
        False,
        "Out of service: the kiosk's storage has become read-only. Nothing was lost; call staff.",
    )


def test_little_free_space_is_out_of_service(tmp_path: Path) -> None:
    db = store.open_store(tmp_path / "kiosk.db")
    result = health.check(db, tmp_path, min_free_bytes=2**62)
    assert not result.in_service and "almost full" in str(result.reason)


def test_pins_are_hashed_and_checked() -> None:
    encoded = hash_pin("4821")
    assert "4821" not in encoded and encoded.startswith("scrypt$")
    assert verify_pin("4821", encoded) and not verify_pin("4822", encoded)
    assert hash_pin("4821") != encoded  # salted
    with pytest.raises(PinError, match="a PIN is 4 to 8 digits"):
        hash_pin("12a4")
    with pytest.raises(PinError, match="not in a format"):
        verify_pin("4821", "plain:4821")
