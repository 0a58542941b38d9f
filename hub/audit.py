"""The audit trail: every change and every read of health data, append-only and chained.

Each entry carries an HMAC-SHA256 over its own content and the previous entry's MAC,
keyed with a secret kept outside the database (``audit_key_file``). Editing, inserting
or deleting any row breaks the chain from that row on; deleting the newest rows is
caught by ``audit_head``, updated in the same transaction. Someone with the database but
not the key cannot forge a consistent chain.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from hub.models import AuditEntry, AuditHead
from protocol import dumps
from protocol.ids import format_timestamp, utc_now

GENESIS = "0" * 64


def load_key(path: Path, *, create: bool = True) -> bytes:
    """The audit key (32 random bytes), created with mode 0600 on first use."""
    if not path.exists():
        if not create:
            raise FileNotFoundError(f"the audit key {path} is missing")
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(os.urandom(32))
    return path.read_bytes()


def _mac(
    key: bytes,
    previous: str,
    entry_id: int,
    at: datetime,
    actor: str,
    action: str,
    subject: str | None,
    details: dict[str, Any],
) -> str:
    content = dumps(
        {
            "id": entry_id,
            "at": format_timestamp(at),
            "actor": actor,
            "action": action,
            "subject": subject,
            "details": details,
            "previous": previous,
        }
    )
    return hmac.new(key, content, hashlib.sha256).hexdigest()


def record(
    session: Session,
    key: bytes,
    *,
    actor: str,
    action: str,
    subject: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction (so it commits with the change)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(7243003)"))  # one appender at a time
    head = session.get(AuditHead, 1, with_for_update=True)
    previous_id, previous = (0, GENESIS) if head is None else (head.last_id, head.last_mac)
    now = utc_now()
    at = now.replace(microsecond=now.microsecond // 1000 * 1000)  # what every database keeps
    details = details or {}
    entry = AuditEntry(at=at, actor=actor, action=action, subject=subject, details=details, mac="")
    session.add(entry)
    session.flush()  # assigns the id
    if entry.id <= previous_id:
        raise RuntimeError("audit ids went backwards; refusing to write")
    entry.mac = _mac(key, previous, entry.id, at, actor, action, subject, details)
    if head is None:
        session.add(AuditHead(id=1, last_id=entry.id, last_mac=entry.mac))
    else:
        head.last_id, head.last_mac = entry.id, entry.mac
    session.flush()
    return entry


@dataclass(frozen=True)
class Trail:
    """Who is acting, and the key to chain what they do: handed to every function that
    changes a record, so that each change is written to the audit log in its transaction.

    ``actor`` is "user:<id>", "kiosk:<site>/<device>" or "system:<name>".
    """

    key: bytes
    actor: str

    def record(
        self,
        session: Session,
        action: str,
        subject: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditEntry:
        return record(
            session, self.key, actor=self.actor, action=action, subject=subject, details=details
        )


@dataclass(frozen=True)
class Verification:
    ok: bool
    entries: int
    problem: str | None = None  # the first break, in plain words


def is_empty(session: Session) -> bool:
    return session.scalar(select(AuditEntry.id).limit(1)) is None


def verify(session: Session, key: bytes) -> Verification:
    """Recompute the chain; report the first row that was edited, inserted or deleted."""
    previous, count, last_id = GENESIS, 0, 0
    # Streamed (a server-side cursor on PostgreSQL), and closed even when we stop early.
    with session.execute(
        select(AuditEntry).order_by(AuditEntry.id).execution_options(yield_per=1000)
    ) as rows:
        for entry in rows.scalars():
            at = entry.at if entry.at.tzinfo else entry.at.replace(tzinfo=UTC)
            expected = _mac(
                key,
                previous,
                entry.id,
                at,
                entry.actor,
                entry.action,
                entry.subject,
                entry.details,
            )
            if not hmac.compare_digest(expected, entry.mac):
                return Verification(
                    False,
                    count,
                    f"audit entry {entry.id} was changed, or an entry before it was deleted",
                )
            previous, last_id, count = entry.mac, entry.id, count + 1
    head = session.get(AuditHead, 1)
    if head is None and count == 0:
        return Verification(True, 0)
    if head is None or (head.last_id, head.last_mac) != (last_id, previous):
        return Verification(False, count, "the newest audit entries were deleted")
    return Verification(True, count)
