"""Staff PINs on the kiosk (count, lock at five, unlock by a new PIN from the hub) and the
lock's way into the hub's audit log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub import audit
from hub.ingest import Incoming, apply_batch
from hub.models import AuditEntry, DeadLetter, Event
from kiosk import caches, outbox
from kiosk.staff_pins import LOCKED, MAX_WRONG_PINS, StaffPinError, check_pin, is_locked
from kiosk.store import Database, open_store, write
from kiosk.vault import TemplateVault
from protocol import ProtocolError, decode_event, encode, topics
from protocol.events import StaffPinLocked, StaffPinLockedEvent
from protocol.ids import utc_now, uuid7
from protocol.messages import Change
from protocol.pins import hash_pin

SITE, DEVICE, STAFF = "rabat-1", "wing-a-1", "s-7"
RIGHT, WRONG = "4821", "0000"


def put_officer(db: Database, vault: TemplateVault, pin: str = RIGHT) -> None:
    """What a sync from the hub does with the officer's staff record."""
    data = {"name": "Officer Amrani", "role": "wing_officer", "pin_hash": hash_pin(pin)}
    with write(db):
        caches.apply_change(db, vault, Change(kind="staff", op="upsert", key=STAFF, data=data))


@pytest.fixture
def vault(tmp_path: Path) -> TemplateVault:
    return TemplateVault(tmp_path / "cache.key")


@pytest.fixture
def db(tmp_path: Path, vault: TemplateVault) -> Iterator[Database]:
    store = open_store(tmp_path / "kiosk.db")
    put_officer(store, vault)
    yield store
    store.conn.close()


def check(db: Database, pin: str) -> tuple[bool, int]:
    result = check_pin(db, STAFF, pin, site=SITE, device=DEVICE)
    return result.accepted, result.tries_left


def lock(db: Database) -> None:
    for _ in range(MAX_WRONG_PINS):
        check(db, WRONG)


def test_right_pin_is_accepted(db: Database) -> None:
    assert check(db, RIGHT) == (True, MAX_WRONG_PINS)
    assert outbox.depth(db) == 0


def test_wrong_pins_count_down_and_the_fifth_locks(db: Database) -> None:
    results = [check_pin(db, STAFF, WRONG, site=SITE, device=DEVICE) for _ in range(5)]
    assert [r.tries_left for r in results] == [4, 3, 2, 1, 0]
    assert results[0].message() == "Wrong PIN. 4 more wrong PINs lock it."
    assert results[3].message() == "Wrong PIN. 1 more wrong PIN locks it."
    assert results[4].locked and results[4].message() == LOCKED
    assert is_locked(db, STAFF)


def test_right_pin_before_the_fifth_wrong_one_resets_the_count(db: Database) -> None:
    for _ in range(MAX_WRONG_PINS - 1):
        check(db, WRONG)
    assert check(db, RIGHT) == (True, MAX_WRONG_PINS)
    assert check(db, WRONG) == (False, MAX_WRONG_PINS - 1)
    assert not is_locked(db, STAFF)


def test_locked_pin_refuses_the_right_pin_and_reports_the_lock_once(db: Database) -> None:
    lock(db)
    assert check(db, RIGHT) == (False, 0)
    assert check(db, WRONG) == (False, 0)
    queued = outbox.pending(db)
    assert [e.type for e in queued] == ["staff.pin_locked"]
    event = decode_event(queued[0].payload)
    assert isinstance(event, StaffPinLockedEvent)
    assert (event.actor, event.subject, event.body.wrong_tries) == (STAFF, None, MAX_WRONG_PINS)


def test_lock_survives_a_restart_and_a_cache_wipe(
    tmp_path: Path, db: Database, vault: TemplateVault
) -> None:
    lock(db)
    (same_hash,) = db.execute("SELECT pin_hash FROM staff WHERE staff_id = ?", [STAFF]).fetchone()
    db.conn.close()
    reopened = open_store(tmp_path / "kiosk.db")
    try:
        assert is_locked(reopened, STAFF)
        with write(reopened):
            caches.wipe(reopened)
        # The next sync brings the same staff record, with the same PIN hash, back.
        row = {"name": "Officer Amrani", "role": "wing_officer", "pin_hash": same_hash}
        with write(reopened):
            caches.apply_change(
                reopened, vault, Change(kind="staff", op="upsert", key=STAFF, data=row)
            )
        assert is_locked(reopened, STAFF)
        assert check(reopened, RIGHT) == (False, 0)
    finally:
        reopened.conn.close()


def test_damaged_count_starts_again_instead_of_crashing(db: Database) -> None:
    check(db, WRONG)
    with write(db):
        caches.set_setting(db, f"staff_pin:{STAFF}", "{not json")
    assert not is_locked(db, STAFF)
    assert check(db, RIGHT) == (True, MAX_WRONG_PINS)


def test_new_pin_from_the_hub_lifts_the_lock(db: Database, vault: TemplateVault) -> None:
    lock(db)
    put_officer(db, vault, pin="7390")
    assert not is_locked(db, STAFF)
    assert check(db, RIGHT) == (False, MAX_WRONG_PINS - 1)  # the old PIN is simply wrong now
    assert check(db, "7390") == (True, MAX_WRONG_PINS)


@pytest.mark.parametrize("pin", ["", "12", "abcd", "123456789", "12 34", "١٢٣٤"])
def test_malformed_pin_is_refused_and_not_counted(db: Database, pin: str) -> None:
    with pytest.raises(StaffPinError, match="4 to 8 digits"):
        check(db, pin)
    assert check(db, WRONG) == (False, MAX_WRONG_PINS - 1)


def test_unknown_staff_member_gives_a_clear_error(db: Database) -> None:
    with pytest.raises(StaffPinError, match="not known on this kiosk"):
        check_pin(db, "s-404", RIGHT, site=SITE, device=DEVICE)
    with pytest.raises(StaffPinError, match="not known on this kiosk"):
        is_locked(db, "s-404")


def test_damaged_pin_hash_gives_a_clear_error_and_counts_nothing(db: Database) -> None:
    with write(db):
        db.execute("UPDATE staff SET pin_hash = 'md5$abc' WHERE staff_id = ?", [STAFF])
    with pytest.raises(StaffPinError, match="damaged"):
        check(db, RIGHT)
    assert not is_locked(db, STAFF) and outbox.depth(db) == 0


# --- the hub ---------------------------------------------------------------------------------


def lock_event(actor: str | None = STAFF) -> tuple[str, bytes]:
    event = StaffPinLockedEvent.model_construct(
        id=uuid7(),
        site=SITE,
        device=DEVICE,
        seq=1,
        at=utc_now(),
        subject=None,
        actor=actor,
        body=StaffPinLocked(wrong_tries=MAX_WRONG_PINS),
        v=1,
        type="staff.pin_locked",
    )
    return topics.event_topic(SITE, DEVICE, "staff.pin_locked"), encode(event)


def test_lock_without_a_staff_member_is_refused() -> None:
    topic, payload = lock_event(actor=None)
    with pytest.raises(ProtocolError, match="must name the staff member"):
        decode_event(payload, topic)


def test_pin_lock_goes_into_the_hub_audit_log_once(
    sessions: sessionmaker[Session], db: Database
) -> None:
    lock(db)
    queued = outbox.pending(db)[0]
    message = Incoming(topics.event_topic(SITE, DEVICE, queued.type), queued.payload)
    key = b"k" * 32
    for _ in range(2):  # the kiosk sends again when an ack is lost
        with sessions.begin() as session:
            apply_batch(session, [message], audit_key=key)
    with sessions() as session:
        entries = session.scalars(select(AuditEntry)).all()
        assert [(e.actor, e.action, e.subject) for e in entries] == [
            (f"kiosk:{SITE}/{DEVICE}", "staff.pin_locked", STAFF)
        ]
        assert entries[0].details["wrong_tries"] == MAX_WRONG_PINS
        assert entries[0].details["event_id"] == queued.id
        assert audit.verify(session, key).ok


def test_pin_lock_is_parked_not_half_applied_when_ingest_has_no_audit_key(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        result = apply_batch(session, [Incoming(*lock_event())])
    assert result.applied == 0 and result.dead_lettered == 1
    with sessions() as session:
        assert session.scalars(select(Event.type)).all() == []
        assert session.scalars(select(AuditEntry)).all() == []
        parked = session.scalars(select(DeadLetter.reason)).one()
        assert "started without the audit key" in parked
