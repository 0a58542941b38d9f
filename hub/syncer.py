"""Answers kiosks' sync requests from the master records.

Cursors (opaque to kiosks):
* none — start a full copy of the wing;
* ``s:<head>:<kind>:<after key>`` — a full copy in progress; ``head`` is the change-feed id
  taken when it began, so nothing changed meanwhile is missed: the copy ends with
* ``c:<id>`` — deltas: the feed's entries after ``id`` for this site and wing.

Each answer is bounded in count and bytes. A change names a record; the record is read
as it is now, so a detainee who left the wing (transfer, release) becomes a delete.
A "model" change carries a model file's manifest entry (hub.model_store), never its bytes:
the kiosk asks for those separately. A detainee's record carries their own file and
questionnaires in progress (hub.person_file).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from hub.model_store import manifest_entry
from hub.models import (
    Badge,
    Detainee,
    Device,
    ModelFile,
    Staff,
    SyncChange,
    SyncDocument,
    Template,
)
from hub.person_file import Sections
from hub.roster import DOCUMENT_KINDS
from protocol import SyncRequest, SyncResponse, dumps
from protocol.messages import Change

# New kinds go last: a full copy in progress under an older hub then still reaches them.
SNAPSHOT_KINDS = ("policy", "questionnaire", "programme", "staff", "detainee", "model", "media")
MAX_BYTES = 200_000  # stays under the 256 KiB message limit with the envelope around it


@dataclass
class _Page:
    limit: int
    changes: list[Change] = field(default_factory=list)
    size: int = 0

    def offer(self, change: Change) -> bool:
        """Add the change if there is room; a first record always fits (roster.py bounds a
        record's size). False: the page is full, the change was not added."""
        size = len(dumps(change.model_dump(mode="json")))
        if self.changes and (len(self.changes) >= self.limit or self.size + size > MAX_BYTES):
            return False
        self.changes.append(change)
        self.size += size
        return True


def answer(session: Session, request: SyncRequest) -> SyncResponse:
    """One bounded page of what the requesting kiosk must change."""
    device = session.get(Device, (request.site, request.device))
    base = {"site": request.site, "device": request.device, "cursor": request.cursor}
    if device is None:
        return SyncResponse(
            **base,
            next_cursor=request.cursor,
            more=False,
            error="this kiosk is not registered on the hub; ask a hub administrator",
        )
    head = _head(session, device.site)
    cursor = parse_cursor(request.cursor, device, head)
    if cursor is None:  # first sync, a new wing, or a position this hub never gave
        return _snapshot(session, device, request, base, head, SNAPSHOT_KINDS[0], "", reset=True)
    if cursor.phase == "s":
        return _snapshot(session, device, request, base, cursor.head, cursor.kind, cursor.after)
    return _delta(session, device, request, base, cursor.head)


def _head(session: Session, site: str) -> int:
    return int(session.scalar(select(func.max(SyncChange.id)).where(SyncChange.site == site)) or 0)


def _wing_tag(device: Device) -> str:
    """Cursors name the wing they were made for: a kiosk moved to another wing starts over."""
    return hashlib.sha256(device.wing.encode()).hexdigest()[:8]


@dataclass(frozen=True)
class Cursor:
    phase: str  # "s": full copy in progress, "c": deltas
    head: int  # the change id the copy started at, or the last change id sent
    kind: str = ""
    after: str = ""


def parse_cursor(text: str | None, device: Device, head: int) -> Cursor | None:
    """The cursor, or None when the kiosk must start a full copy (never an exception)."""
    if text is None:
        return None
    parts = text.split(":", 4)
    try:
        if parts[0] == "c" and len(parts) == 3:
            cursor = Cursor("c", int(parts[2]))
        elif parts[0] == "s" and len(parts) == 5 and parts[3] in SNAPSHOT_KINDS:
            cursor = Cursor("s", int(parts[2]), parts[3], parts[4])
        else:
            return None
    except ValueError:
        return None
    if parts[1] != _wing_tag(device) or not 0 <= cursor.head <= head:
        return None  # another wing's, or beyond this database's feed (a restored backup)
    return cursor


def _snapshot(
    session: Session,
    device: Device,
    request: SyncRequest,
    base: dict[str, Any],
    head: int,
    kind: str,
    after: str,
    *,
    reset: bool = False,
) -> SyncResponse:
    tag = _wing_tag(device)
    page = _Page(request.limit)
    for current in SNAPSHOT_KINDS[SNAPSHOT_KINDS.index(kind) :]:
        start = after if current == kind else ""
        while keys := _keys(session, device, current, start, request.limit):
            sections = Sections(session, keys if current == "detainee" else [])
            for key in keys:
                change = _current(session, device, current, key, sections)
                # A delete means it left the wing since it was listed: a copy skips it.
                if change.op == "upsert" and not page.offer(change):
                    return SyncResponse(
                        **base,
                        next_cursor=f"s:{tag}:{head}:{current}:{start}",
                        more=True,
                        reset=reset,
                        changes=page.changes,
                    )
                start = key
    return SyncResponse(
        **base, next_cursor=f"c:{tag}:{head}", more=True, reset=reset, changes=page.changes
    )


def _keys(session: Session, device: Device, kind: str, after: str, limit: int) -> list[str]:
    """Keys of the records of one kind that belong on this kiosk, in order, after ``after``."""
    statement: Any
    if kind == "detainee":
        statement = (
            select(Detainee.id)
            .where(
                Detainee.site == device.site,
                Detainee.wing == device.wing,
                Detainee.state == "in_custody",
                Detainee.id > after,
            )
            .order_by(Detainee.id)
        )
    elif kind == "model":  # every kiosk of every site gets every model
        statement = select(ModelFile.name).where(ModelFile.name > after).order_by(ModelFile.name)
    elif kind == "staff":
        statement = (
            select(Staff.id)
            .where(Staff.site == device.site, Staff.active.is_(True), Staff.id > after)
            .order_by(Staff.id)
        )
    else:
        statement = (
            select(SyncDocument.key)
            .where(
                SyncDocument.kind == kind,
                SyncDocument.site == device.site,
                or_(SyncDocument.wing.is_(None), SyncDocument.wing == device.wing),
                SyncDocument.active.is_(True),
                SyncDocument.key > after,
            )
            .order_by(SyncDocument.key)
        )
    return list(session.scalars(statement.limit(limit)))


def _delta(
    session: Session, device: Device, request: SyncRequest, base: dict[str, Any], after: int
) -> SyncResponse:
    rows = session.execute(
        select(SyncChange.id, SyncChange.kind, SyncChange.key)
        .where(
            SyncChange.site == device.site,
            or_(SyncChange.wing.is_(None), SyncChange.wing == device.wing),
            SyncChange.id > after,
        )
        .order_by(SyncChange.id)
        .limit(request.limit)
    ).all()
    page = _Page(request.limit)
    last = after
    seen: set[tuple[str, str]] = set()
    sections = Sections(session, [key for _, kind, key in rows if kind == "detainee"])
    for change_id, kind, key in rows:
        if (kind, key) not in seen:  # several notes of one record: it is read once, as it is now
            change = _current(session, device, kind, key, sections)
            if not page.offer(change):
                break
            seen.add((kind, key))
        last = change_id
    more = bool(rows) and (len(rows) == request.limit or last != rows[-1][0])
    return SyncResponse(
        **base, next_cursor=f"c:{_wing_tag(device)}:{last}", more=more, changes=page.changes
    )


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def _current(
    session: Session, device: Device, kind: str, key: str, sections: Sections | None = None
) -> Change:
    """The record as this kiosk should hold it now: an upsert, or a delete if it no longer
    belongs there. ``sections`` builds a detainee's own file (hub.person_file)."""
    gone = Change(kind=kind, op="delete", key=key)
    if kind == "detainee":
        person = session.get(Detainee, key)
        if (
            person is None
            or person.state != "in_custody"
            or (person.site, person.wing) != (device.site, device.wing)
        ):
            return gone
        templates = session.scalars(
            select(Template).where(Template.detainee_id == key).order_by(Template.id)
        )
        return Change(
            kind=kind,
            op="upsert",
            key=key,
            data={
                "prison_number": person.prison_number,
                "name_latin": person.name_latin,
                "name_arabic": person.name_arabic,
                "preferred_language": person.preferred_language,
                "literate": person.literate,
                "photo_thumbnail": _b64(person.photo_thumbnail),
                "badges": _badges(session, "detainee", key),
                "templates": [
                    {"id": t.id, "modality": t.modality, "format": t.format, "data": _b64(t.data)}
                    for t in templates
                ],
                **(sections or Sections(session, [key])).of(person),
            },
        )
    if kind == "staff":
        staff = session.get(Staff, key)
        if staff is None or not staff.active or staff.site != device.site:
            return gone
        return Change(
            kind=kind,
            op="upsert",
            key=key,
            data={
                "name": staff.name,
                "role": staff.role,
                "pin_hash": staff.pin_hash,
                "badges": _badges(session, "staff", key),
            },
        )
    if kind == "model":
        entry = manifest_entry(session, key)
        if entry is None:
            return gone
        return Change(kind=kind, op="upsert", key=key, data=entry.model_dump(mode="json"))
    if kind in DOCUMENT_KINDS:
        document = session.get(SyncDocument, (kind, key))
        if (
            document is None
            or not document.active
            or document.site != device.site
            or document.wing not in (None, device.wing)
        ):
            return gone
        return Change(kind=kind, op="upsert", key=key, data=document.data)
    return gone


def _badges(session: Session, owner_kind: str, owner_id: str) -> list[str]:
    return list(
        session.scalars(
            select(Badge.uid)
            .where(Badge.owner_kind == owner_kind, Badge.owner_id == owner_id)
            .order_by(Badge.uid)
        )
    )
