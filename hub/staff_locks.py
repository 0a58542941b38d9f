"""Staff PIN locks reported by kiosks, written to the audit log.

A kiosk locks a staff member's PIN after five wrong PINs in a row and reports it with a
``staff.pin_locked`` event (kiosk/staff_pins.py). The audit entry tells an administrator
who was locked out, at which kiosk and when; setting a new PIN for that person
(``hub.roster.put_staff``) lifts the lock once the kiosks sync.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from hub.audit import Trail
from protocol.events import EventBase, StaffPinLockedEvent
from protocol.ids import format_timestamp


def record_pin_lock(audit_key: bytes, session: Session, event: EventBase) -> None:
    """Ingest handler for ``staff.pin_locked``, applied once per event id."""
    if not isinstance(event, StaffPinLockedEvent):
        raise TypeError(f"not a PIN lock: {event.event_type}")
    Trail(audit_key, f"kiosk:{event.site}/{event.device}").record(
        session,
        "staff.pin_locked",
        event.actor,
        {
            "event_id": event.id,
            "locked_at": format_timestamp(event.at),
            "wrong_tries": event.body.wrong_tries,
        },
    )
