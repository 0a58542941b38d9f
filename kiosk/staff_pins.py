"""Staff PINs at the kiosk: checked against the hashes the hub sent, locked after 5 wrong.

A staff badge opens a session only with its owner's PIN (kiosk.policy: staff badge, then
PIN). The hash arrives from the hub with the staff record (kiosk.caches); the PIN itself is
never stored and never sent.

Five wrong PINs in a row lock that staff member's PIN on this kiosk. The count and the lock
are kept in the kiosk store (``settings``: they survive a restart and a cache wipe), and
the lock is queued for the hub as a ``staff.pin_locked`` event in the same transaction; the
hub writes it to its audit log. A right PIN before the fifth wrong one resets the count.

Unlocking: a lock belongs to the PIN hash it was earned against. An administrator sets a
new PIN on the hub (``hub.roster.put_staff``); when the new hash reaches the kiosk by sync,
it is not locked and its count starts from zero. Waiting does not unlock: five guesses per
wait would add up on a lost badge. Until then the locked-out officer uses a colleague's
badge and PIN.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlite_utils import Database

from kiosk import outbox
from kiosk.caches import get_setting, set_setting
from kiosk.store import write
from protocol.events import StaffPinLocked, StaffPinLockedEvent
from protocol.ids import format_timestamp, utc_now
from protocol.pins import PIN_PATTERN, PinError, verify_pin

logger = logging.getLogger(__name__)

MAX_WRONG_PINS = 5
LOCKED = (
    "This PIN is locked after 5 wrong tries. An administrator must set a new PIN on the "
    "hub; until then, use a colleague's badge and PIN."
)


class StaffPinError(ValueError):
    """The PIN could not be checked at all; the message is shown on the screen as it is."""


@dataclass(frozen=True)
class PinCheck:
    accepted: bool
    tries_left: int  # wrong PINs still allowed before the lock; 0 once locked

    @property
    def locked(self) -> bool:
        return not self.accepted and self.tries_left == 0

    def message(self) -> str:
        """What the screen says after this check (empty when the PIN was right)."""
        if self.accepted:
            return ""
        if self.locked:
            return LOCKED
        tries = (
            "1 more wrong PIN locks it"
            if self.tries_left == 1
            else (f"{self.tries_left} more wrong PINs lock it")
        )
        return f"Wrong PIN. {tries}."


@dataclass(frozen=True)
class _Count:
    wrong: int
    locked: bool


def _setting_name(staff_id: str) -> str:
    return f"staff_pin:{staff_id}"


def _hash_id(pin_hash: str) -> str:
    """Names the hash a count belongs to, without copying the hash into the settings."""
    return hashlib.sha256(pin_hash.encode()).hexdigest()[:32]


def _count(db: Database, staff_id: str, pin_hash: str) -> _Count:
    saved = get_setting(db, _setting_name(staff_id))
    if saved is None:
        return _Count(0, False)
    try:
        state = json.loads(saved)
        if state["hash"] != _hash_id(pin_hash):
            return _Count(0, False)  # the hub has sent a new PIN since
        return _Count(int(state["wrong"]), state["locked_at"] is not None)
    except (ValueError, KeyError, TypeError):
        # A damaged count (the store was damaged) starts again from zero rather than lock
        # this person out for good: no new PIN from the hub could then lift the lock.
        logger.warning("the PIN count of staff member %s was damaged; it starts again", staff_id)
        return _Count(0, False)


def _pin_hash(db: Database, staff_id: str) -> str:
    row = db.execute("SELECT pin_hash FROM staff WHERE staff_id = ?", [staff_id]).fetchone()
    if row is None:
        raise StaffPinError(
            "This staff member is not known on this kiosk; the hub has not sent their record."
        )
    return str(row[0])


def is_locked(db: Database, staff_id: str) -> bool:
    """True if this staff member's PIN is locked here: ask for no PIN, show LOCKED."""
    return _count(db, staff_id, _pin_hash(db, staff_id)).locked


def check_pin(
    db: Database,
    staff_id: str,
    pin: str,
    *,
    site: str,
    device: str,
    now: Callable[[], datetime] = utc_now,
) -> PinCheck:
    """Check ``pin`` for ``staff_id``, count a wrong one, lock and report at the fifth.

    Opens its own write transaction (not inside the caller's): the hash check takes tens of
    milliseconds and must not hold the store's write lock. A malformed PIN is refused with
    StaffPinError and not counted; a locked PIN is not even checked.
    """
    pin_hash = _pin_hash(db, staff_id)
    if not PIN_PATTERN.fullmatch(pin):
        raise StaffPinError("A PIN is 4 to 8 digits.")
    if _count(db, staff_id, pin_hash).locked:
        return PinCheck(accepted=False, tries_left=0)
    try:
        accepted = verify_pin(pin, pin_hash)
    except PinError:
        raise StaffPinError(
            "This staff member's PIN record on the kiosk is damaged; "
            "an administrator must set a new PIN on the hub."
        ) from None
    with write(db):
        count = _count(db, staff_id, pin_hash)  # again: another check may have counted since
        if count.locked:
            return PinCheck(accepted=False, tries_left=0)
        if accepted:
            set_setting(db, _setting_name(staff_id), None)
            return PinCheck(accepted=True, tries_left=MAX_WRONG_PINS)
        wrong = count.wrong + 1
        locked_at = now() if wrong >= MAX_WRONG_PINS else None
        state = {
            "hash": _hash_id(pin_hash),
            "wrong": wrong,
            "locked_at": None if locked_at is None else format_timestamp(locked_at),
        }
        set_setting(db, _setting_name(staff_id), json.dumps(state))
        if locked_at is not None:
            outbox.record(
                db,
                StaffPinLockedEvent,
                StaffPinLocked(wrong_tries=wrong),
                site=site,
                device=device,
                actor=staff_id,
                now=lambda: locked_at,
            )
    return PinCheck(accepted=False, tries_left=max(0, MAX_WRONG_PINS - wrong))
