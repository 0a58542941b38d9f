"""Answers kiosks' sync requests from the master records.

Cursors (opaque to kiosks):
* none — start a full copy of the wing;
* ``s:<head>:<kind>:<after key>`` — a full copy in progress; ``head`` is the change-feed id
  taken when it began, so nothing changed meanwhile is missed: the copy ends with
* ``c:<id>`` — deltas: the feed's entries after ``id`` for this site and wing.

Each answer is bounded in count and bytes. A change names a record; the record is read
as it is now, so a detainee who left the wing (transfer, release) becomes a delete.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from hub.models import Badge, Detainee, Device, Staff, SyncChange, SyncDocument, Template
from hub.roster import DOCUMENT_KINDS
from protocol import SyncRequest, SyncResponse, dumps
from protocol.messages import Change

SNAPSHOT_KINDS = ("policy", "questionnaire", "programme", "staff", "detainee")
MAX_BYTES = 200_000  # stays under the 256 KiB message limit with the envelope around it


class CursorError(ValueError):
    """A cursor this hub did not issue."""


@dataclass
class _Page:
    limit: int
    changes: list[Change] = field(default_factory=list)
    size: int = 0

    def full(self) -> bool:
        return len(self.changes) >= self.limit or self.size >= MAX_BYTES

    def add(self, change: Change) -> None:
        self.changes.append(change)
        self.size += len(dumps(change.model_dump(mode="json")))


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
    try:
        if request.cursor is None or request.cursor.startswith("s:"):
            return _snapshot(session, device, request, base)
        if request.cursor.startswith("c:"):
            return _delta(session, device, request, base)
        raise CursorError(request.cursor)
    except (CursorError, ValueError):
        return SyncResponse(
            **base,
            next_cursor=None,
            more=False,
            error="the kiosk's sync position is unknown to the hub; wipe and sync again",
        )


def _head(session: Session, site: str) -> int:
    return int(session.scalar(select(func.max(SyncChange.id)).where(SyncChange.site == site)) or 0)


def _snapshot(
    session: Session, device: Device, request: SyncRequest, base: dict[str, Any]
) -> SyncResponse:
    if request.cursor is None:
        head, kind, after = _head(session, device.site), SNAPSHOT_KINDS[0], ""
    else:
        _, head_text, kind, after = request.cursor.split(":", 3)
        head = int(head_text)
        if kind not in SNAPSHOT_KINDS:
            raise CursorError(request.cursor)
    page = _Page(request.limit)
    for current in SNAPSHOT_KINDS[SNAPSHOT_KINDS.index(kind) :]:
        start = after if current == kind else ""
        while keys := _keys(session, device, current, start, request.limit):
            for key in keys:
                change = _current(session, device, current, key)
                if change.op == "upsert":  # it may have left the wing since it was listed
                    page.add(change)
                if page.full():
                    return SyncResponse(
                        **base,
                        next_cursor=f"s:{head}:{current}:{key}",
                        more=True,
                        reset=request.cursor is None,
                        changes=page.changes,
                    )
                start = key
    return SyncResponse(
        **base,
        next_cursor=f"c:{head}",
        more=True,
        reset=request.cursor is None,
        changes=page.changes,
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
    session: Session, device: Device, request: SyncRequest, base: dict[str, Any]
) -> SyncResponse:
    after = int(str(request.cursor)[2:])
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
    for change_id, kind, key in rows:
        if (kind, key) not in seen:  # several notes of one record: it is read once, as it is now
            seen.add((kind, key))
            page.add(_current(session, device, kind, key))
        last = change_id
        if page.size >= MAX_BYTES:
            break
    more = len(rows) == request.limit or last != (rows[-1][0] if rows else after)
    return SyncResponse(**base, next_cursor=f"c:{last}", more=more, changes=page.changes)


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def _current(session: Session, device: Device, kind: str, key: str) -> Change:
    """The record as this kiosk should hold it now: an upsert, or a delete if it no longer
    belongs there."""
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
