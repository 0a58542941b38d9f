"""Applying kiosk events to the master records, exactly once.

``apply_batch`` commits a batch of messages in one transaction: new events are
inserted keyed by id (a duplicate is skipped, not applied twice), their effects
run through HANDLERS in the same transaction, seqs are booked, and anything
invalid is parked in ``dead_letters`` with its reason and raw bytes. The caller
publishes acks only after this returns.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub import roster
from hub.db import dialect_insert
from hub.devices import revoked_devices
from hub.drafts import RECEIVED_AT, apply_questionnaire_progresses, drop_answered
from hub.models import DeadLetter, Detainee, Event, KioskState
from hub.movements import apply_movements_verified
from hub.responses import apply_questionnaire_response
from hub.sequences import record_seqs
from hub.staff_locks import record_pin_lock
from hub.training import apply_enrolment_request
from protocol import ProtocolError, Status, decode_event, decode_message, topics
from protocol.events import EventBase
from protocol.ids import is_event_id, utc_now

# Domain effects per event type, run in the same transaction as the insert. Types without
# an entry are stored in `events` (and so in the detainee's timeline) and nothing more yet.
HANDLERS: dict[str, Callable[[Session, EventBase], None]] = {
    "questionnaire.response": apply_questionnaire_response,
    "training.enrolment_requested": apply_enrolment_request,
}
# Handlers that take all of a batch's events of their type at once: a few statements per
# batch instead of a few per event (a fleet's checkpoints send many movements a second).
# They run after the per-event handlers, whose effects they neither read nor write.
BATCH_HANDLERS: dict[str, Callable[[Session, Sequence[EventBase]], None]] = {
    "questionnaire.progress": apply_questionnaire_progresses,
    "movement.verified": apply_movements_verified,
}
# Events that change what their subject's wing kiosks show (drafts, facts, receipts,
# requests, where the person is): the subjects are noted in the kiosks' change feed once
# per batch, in its transaction, after the handlers and after the drafts the batch's
# responses finish are dropped (hub.drafts.drop_answered).
NOTED = frozenset(
    (
        "questionnaire.response",
        "questionnaire.progress",
        "training.enrolment_requested",
        "movement.verified",
    )
)
# Effects that write the audit log, so they need its key: run when apply_batch has it.
AUDITED_HANDLERS: dict[str, Callable[[bytes, Session, EventBase], None]] = {
    "staff.pin_locked": record_pin_lock,
}


@dataclass(frozen=True, slots=True)
class Incoming:
    topic: str
    payload: bytes


@dataclass
class Rejected:
    site: str
    device: str
    event_id: str
    reason: str


@dataclass
class BatchResult:
    """What to acknowledge: per (site, device), the committed and the parked event ids."""

    committed: dict[tuple[str, str], list[str]] = field(default_factory=lambda: defaultdict(list))
    rejected: list[Rejected] = field(default_factory=list)
    applied: int = 0
    duplicates: int = 0
    dead_lettered: int = 0


def apply_batch(
    session: Session,
    messages: Sequence[Incoming],
    *,
    now: datetime | None = None,
    worker: str | None = None,
    audit_key: bytes | None = None,
) -> BatchResult:
    """Validate and commit a batch of event messages. Call inside ``session.begin()``.

    The AUDITED_HANDLERS (a staff PIN lock goes into the audit log) need ``audit_key``;
    without it such an event is refused and parked, never half-applied.
    """
    now = now or utc_now()
    result = BatchResult()
    decoded: list[tuple[Incoming, EventBase]] = []
    dead: list[tuple[Incoming, ProtocolError]] = []
    for message in messages:
        try:
            decoded.append((message, decode_event(message.payload, message.topic)))
        except ProtocolError as error:
            dead.append((message, error))
    withdrawn = revoked_devices(session) if decoded else set()
    if withdrawn:
        accepted = []
        for message, event in decoded:
            if (event.site, event.device) in withdrawn:
                reason = f"kiosk {event.site}/{event.device} has been withdrawn (revoked)"
                dead.append((message, ProtocolError(reason, event_id=event.id)))
            else:
                accepted.append((message, event))
        decoded = accepted
    events: dict[str, EventBase] = {}
    for _, event in decoded:
        events.setdefault(event.id, event)

    if events:
        rows = [
            {
                "id": e.id,
                "type": e.event_type,
                "site": e.site,
                "device": e.device,
                "seq": e.seq,
                "at": e.at,
                "subject": e.subject,
                "actor": e.actor,
                "body": e.model_dump(mode="json")["body"],
                "received_at": now,
                "worker": worker,
            }
            for e in sorted(events.values(), key=lambda e: e.id)  # same lock order everywhere
        ]
        table = Event.__table__
        statement = (
            dialect_insert(session, table)
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(table.c.id)
        )
        # executemany ("insertmanyvalues"): one cached statement, whatever the batch size.
        inserted = set(session.connection().execute(statement, rows).scalars())
        result.applied = len(inserted)
        result.duplicates = len(events) - len(inserted)
        by_device: dict[tuple[str, str], list[int]] = defaultdict(list)
        ordered = [
            events[i] for i in sorted(inserted, key=lambda i: (events[i].site, events[i].device))
        ]
        handlers = dict(HANDLERS)
        for audited, handler in AUDITED_HANDLERS.items():
            handlers[audited] = _no_audit_key if audit_key is None else partial(handler, audit_key)
        _lock_people(session, {e.subject for e in ordered if e.subject})
        session.info[RECEIVED_AT] = now  # the arrival time drafts and responses are capped at
        try:
            refused = _apply_effects(session, ordered, handlers)
            applied = [e for e in ordered if e.id not in refused]
            drop_answered(session, applied)
        finally:
            session.info.pop(RECEIVED_AT, None)
        _note_subjects(session, {e.subject for e in applied if e.event_type in NOTED and e.subject})
        for new in ordered:
            if new.id not in refused:
                by_device[(new.site, new.device)].append(new.seq)
        if refused:  # parked below, with the reason; the kiosk is told
            session.execute(delete(Event).where(Event.id.in_(refused)))
            inserted -= refused.keys()
            result.applied -= len(refused)
        record_seqs(session, by_device, now)  # locks device rows in one global order
        owners = {i: (e.site, e.device) for i, e in events.items() if i in inserted}
        repeated = [i for i in events if i not in inserted]
        if repeated:
            stored = session.execute(
                select(Event.id, Event.site, Event.device).where(Event.id.in_(repeated))
            ).all()
            owners.update({row.id: (row.site, row.device) for row in stored})
        for message, event in decoded:
            if event.id in refused:
                dead.append((message, ProtocolError(refused[event.id], event_id=event.id)))
            elif owners.get(event.id) == (event.site, event.device):
                result.committed[(event.site, event.device)].append(event.id)
            else:  # an id another kiosk already used: never acknowledge it as this one's
                reason = f"event id {event.id} was already used by another kiosk"
                dead.append((message, ProtocolError(reason, event_id=event.id)))

    for message, problem in dead:
        _park_into(result, session, message, problem, now)
    return result


_REFUSALS = (ValueError, LookupError)


def _lock_people(session: Session, subjects: set[str]) -> None:
    """Lock the batch's people (PostgreSQL; SQLite has one writer at a time) before any
    handler reads: two workers sharing one kiosk's events must not both decide from what the
    other has not committed yet (a draft and the response that ends it, applied side by
    side, would leave the draft). One statement, in id order, so they never deadlock."""
    if subjects:
        session.execute(
            select(Detainee.id)
            .where(Detainee.id.in_(sorted(subjects)))
            .order_by(Detainee.id)
            .with_for_update()
        )


def _no_audit_key(session: Session, event: EventBase) -> None:
    raise ValueError(
        f"this ingest was started without the audit key, so {event.event_type} cannot be "
        "written to the audit log; it is kept in dead_letters with the whole message"
    )


def _apply_effects(
    session: Session,
    new: Sequence[EventBase],
    handlers: dict[str, Callable[[Session, EventBase], None]],
) -> dict[str, str]:
    """Run the handlers of new events; return the refused ones' ids with the reason.

    A refusal (ValueError or LookupError: an unknown form, programme or person) must undo
    only its own event's effects. All handlers first run together in one savepoint (one
    flush for the whole batch; BATCH_HANDLERS once per type); only if one refuses are they
    run again, each event in its own savepoint, to find which. Any other error is a bug and
    fails the batch.
    """
    handled = [e for e in new if e.event_type in handlers or e.event_type in BATCH_HANDLERS]
    if not handled:
        return {}
    try:
        with session.begin_nested():
            for event in handled:
                if event.event_type in handlers:
                    handlers[event.event_type](session, event)
            for event_type, batch_handler in BATCH_HANDLERS.items():
                group = [event for event in handled if event.event_type == event_type]
                if group:
                    batch_handler(session, group)
        return {}
    except _REFUSALS:
        pass
    refused = {}
    for event in handled:
        try:
            with session.begin_nested():
                if event.event_type in handlers:
                    handlers[event.event_type](session, event)
                else:
                    BATCH_HANDLERS[event.event_type](session, [event])
        except _REFUSALS as refusal:
            refused[event.id] = f"could not be applied: {str(refusal).strip(chr(39))}"
    return refused


def _note_subjects(session: Session, subjects: set[str]) -> None:
    """Tell the wing kiosks of these people (those in custody) that their file changed."""
    if not subjects:
        return
    people = session.execute(
        select(Detainee.site, Detainee.wing, Detainee.id).where(
            Detainee.id.in_(sorted(subjects)), Detainee.wing.is_not(None)
        )
    ).all()
    roster.note_changes(session, ((site, wing, "detainee", key) for site, wing, key in people))


def park_refused(session: Session, message: Incoming, error: ProtocolError) -> BatchResult:
    """Park a message the database itself refused, and say so to its kiosk."""
    result = BatchResult()
    _park_into(result, session, message, error, utc_now())
    return result


def _park_into(
    result: BatchResult, session: Session, message: Incoming, error: ProtocolError, now: datetime
) -> None:
    park(session, message, str(error), error.event_id, now)
    result.dead_lettered += 1
    rejected = _rejection(message.topic, error)
    if rejected is not None:
        result.rejected.append(rejected)


def park(
    session: Session, message: Incoming, reason: str, event_id: str | None, now: datetime
) -> None:
    """Keep a message we cannot accept. The same bytes are parked once."""
    digest = hashlib.sha256(message.topic.encode() + b"\0" + message.payload).hexdigest()
    statement = (
        dialect_insert(session, DeadLetter)
        .values(
            payload_sha256=digest,
            topic=message.topic,
            payload=message.payload,
            reason=reason,
            event_id=event_id[:64] if event_id else None,
            received_at=now,
        )
        .on_conflict_do_nothing(index_elements=["payload_sha256"])
    )
    session.execute(statement)


def _rejection(topic: str, error: ProtocolError) -> Rejected | None:
    """Tell the publishing kiosk (the topic's device, per the ACL) which event we parked."""
    if not is_event_id(error.event_id):
        return None
    try:
        parts = topics.parse_topic(topic)
    except ProtocolError:
        return None
    return Rejected(parts.site, parts.device, str(error.event_id), str(error))


def apply_status(session: Session, message: Incoming, *, now: datetime | None = None) -> None:
    """Store a kiosk's status; an older status never overwrites a newer one. An empty
    message is the hub clearing a withdrawn kiosk's retained status, and a withdrawn kiosk's
    status changes nothing: it stays revoked."""
    now = now or utc_now()
    if not message.payload:
        return
    try:
        parts = topics.parse_topic(message.topic)
        status = decode_message(message.payload, Status)
        if (parts.site, parts.device) != (status.site, status.device):
            raise ProtocolError(
                f"status topic names {parts.site}/{parts.device} but the message "
                f"{status.site}/{status.device}"
            )
    except ProtocolError as error:
        park(session, message, str(error), None, now)
        return
    current = session.get(KioskState, (status.site, status.device), with_for_update=True)
    if current is not None and current.state == "revoked":
        return
    document = status.model_dump(mode="json")
    if current is None:
        session.add(
            KioskState(
                site=status.site,
                device=status.device,
                state=status.state,
                status=document,
                updated_at=now,
            )
        )
        return
    newer = (
        status.at is None
        or current.status.get("at") is None
        or (document["at"] >= current.status["at"])
    )
    if newer:
        current.state = status.state
        current.status = document
        current.updated_at = now
