"""The durable outbox: every event waits here until the hub's ack names it.

Call ``record`` inside ``store.write(db)`` together with the state change it
describes: both commit, or neither does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from protocol import MAX_PAYLOAD_BYTES, ProtocolError, Rejection, encode
from protocol.events import EventBase, WireModel
from protocol.ids import format_timestamp, utc_now, uuid7


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    seq: int
    id: str
    type: str
    payload: bytes


def last_seq(db: Database) -> int:
    """The seq of the last event recorded here (0: none yet)."""
    row = db.execute("SELECT value FROM counters WHERE name = 'seq'").fetchone()
    return 0 if row is None else int(row[0])


def raise_seq(db: Database, at_least: int) -> None:
    """Make the last seq at least ``at_least`` (never lower it). Needs an open write()."""
    db.execute(
        "INSERT INTO counters(name, value) VALUES ('seq', ?) "
        "ON CONFLICT(name) DO UPDATE SET value = max(value, excluded.value)",
        [at_least],
    )


def _next_seq(db: Database) -> int:
    value = last_seq(db) + 1
    raise_seq(db, value)
    return value


def record(
    db: Database,
    event_class: type[EventBase],
    body: WireModel,
    *,
    site: str,
    device: str,
    subject: str | None = None,
    actor: str | None = None,
    now: Callable[[], datetime] = utc_now,
    new_id: Callable[[], str] = uuid7,
) -> EventBase:
    """Build, validate and queue one event with the next ``seq``. Needs an open write()."""
    if not db.conn.in_transaction:
        raise RuntimeError("outbox.record must run inside store.write(db)")
    fields: dict[str, Any] = {
        "id": new_id(),
        "site": site,
        "device": device,
        "seq": _next_seq(db),
        "at": now(),
        "subject": subject,
        "actor": actor,
        "body": body,
    }
    event = event_class(**fields)
    payload = encode(event)
    if len(payload) > MAX_PAYLOAD_BYTES:
        # The hub would refuse it; say so now, while the person is still at the kiosk.
        raise ProtocolError(
            f"this {event.event_type} event is {len(payload)} bytes; "
            f"the limit is {MAX_PAYLOAD_BYTES} bytes (256 KiB)"
        )
    db.execute(
        "INSERT INTO outbox(seq, id, type, payload, created_at) VALUES (?, ?, ?, ?, ?)",
        [event.seq, event.id, event.event_type, payload, format_timestamp(event.at)],
    )
    return event


def pending(db: Database, *, after_seq: int = 0, limit: int = 100) -> list[OutboxEvent]:
    """Queued events after ``after_seq``, oldest first."""
    rows = db.execute(
        "SELECT seq, id, type, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
        [after_seq, limit],
    ).fetchall()
    return [OutboxEvent(seq, id_, type_, bytes(payload)) for seq, id_, type_, payload in rows]


def confirm(db: Database, event_ids: Iterable[str]) -> int:
    """Delete events the hub has committed. Unknown ids are ignored (acks may repeat)."""
    ids = list(event_ids)
    deleted = 0
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        deleted += db.execute(f"DELETE FROM outbox WHERE id IN ({marks})", chunk).rowcount  # nosec B608  # only "?" placeholders are joined in; the ids are parameters
    return deleted


def reject(db: Database, rejections: Iterable[Rejection], *, now: datetime | None = None) -> int:
    """Move events the hub parked as invalid out of the queue, keeping them and the reason."""
    moved = 0
    at = format_timestamp(now or utc_now())
    for rejection in rejections:
        row = db.execute(
            "SELECT seq, type, payload FROM outbox WHERE id = ?", [rejection.id]
        ).fetchone()
        if row is None:
            continue
        db.execute(
            "INSERT OR REPLACE INTO rejected_events(id, seq, type, payload, reason, rejected_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [rejection.id, row[0], row[1], row[2], rejection.reason, at],
        )
        db.execute("DELETE FROM outbox WHERE id = ?", [rejection.id])
        moved += 1
    return moved


def depth(db: Database) -> int:
    count: int = db.execute("SELECT count(*) FROM outbox").fetchone()[0]
    return count


def rejected_count(db: Database) -> int:
    count: int = db.execute("SELECT count(*) FROM rejected_events").fetchone()[0]
    return count
