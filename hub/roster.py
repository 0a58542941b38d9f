"""Writing the records kiosks cache, and noting each change in the sync feed.

Every function here runs inside the caller's transaction and appends to
``sync_changes`` in that same transaction, so a change and its note commit together.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, text
from sqlalchemy.orm import Session

from hub.models import Badge, Detainee, Device, Staff, SyncChange, SyncDocument, Template
from hub.search import index_detainee
from protocol.ids import utc_now

DOCUMENT_KINDS = ("policy", "questionnaire", "programme", "media")
# A detainee's record must fit in one sync message (256 KiB) with room to spare.
MAX_PHOTO_BYTES = 64 * 1024
MAX_TEMPLATES = 10
MAX_TEMPLATE_BYTES = 8 * 1024


def _check_sizes(photo: bytes | None, templates: Sequence[TemplateRecord]) -> None:
    if photo is not None and len(photo) > MAX_PHOTO_BYTES:
        raise ValueError(f"the photo thumbnail is {len(photo)} bytes; at most {MAX_PHOTO_BYTES}")
    if len(templates) > MAX_TEMPLATES:
        raise ValueError(f"{len(templates)} templates for one person; at most {MAX_TEMPLATES}")
    for template in templates:
        if len(template.data) > MAX_TEMPLATE_BYTES:
            raise ValueError(f"template {template.id} is over {MAX_TEMPLATE_BYTES} bytes")


def _lock_feed(session: Session, site: str) -> None:
    """On PostgreSQL, one writer per site's change feed at a time (until the transaction
    ends), so that change ids commit in order and a kiosk's cursor never jumps over a late
    commit."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(7243002, hashtext(:site))"), {"site": site}
        )


def note_change(session: Session, site: str, wing: str | None, kind: str, key: str) -> None:
    """Append to the change feed (under the site's lock, ``_lock_feed``)."""
    _lock_feed(session, site)
    session.add(SyncChange(site=site, wing=wing, kind=kind, key=key, at=utc_now()))


def note_changes(session: Session, notes: Iterable[tuple[str, str | None, str, str]]) -> int:
    """Append many (site, wing, kind, key) notes to the change feed: each site's lock taken
    once, in site order (two writers never wait on each other crosswise), then one INSERT.
    Returns how many were noted."""
    unique = sorted(set(notes), key=lambda note: (note[0], note[3]))
    for site in sorted({site for site, _, _, _ in unique}):
        _lock_feed(session, site)
    if unique:
        moment = utc_now()
        session.execute(
            insert(SyncChange),
            [
                {"site": site, "wing": wing, "kind": kind, "key": key, "at": moment}
                for site, wing, kind, key in unique
            ],
        )
    return len(unique)


def register_device(session: Session, site: str, device: str, wing: str, mode: str) -> None:
    existing = session.get(Device, (site, device))
    if existing is None:
        session.add(Device(site=site, device=device, wing=wing, mode=mode))
    else:
        existing.wing, existing.mode = wing, mode


@dataclass(frozen=True)
class TemplateRecord:
    id: str
    modality: str
    format: str
    data: bytes


def _add_templates(session: Session, detainee_id: str, templates: Sequence[TemplateRecord]) -> None:
    for template in templates:
        session.add(
            Template(
                id=template.id,
                detainee_id=detainee_id,
                modality=template.modality,
                format=template.format,
                data=template.data,
            )
        )


def admit(
    session: Session,
    *,
    detainee_id: str,
    prison_number: str,
    name_latin: str,
    name_arabic: str,
    site: str,
    wing: str,
    preferred_language: str = "ar",
    literate: bool = True,
    photo_thumbnail: bytes | None = None,
    badges: Sequence[str] = (),
    templates: Sequence[TemplateRecord] = (),
    now: datetime | None = None,
) -> None:
    """A detainee arrives: identity, wing, badges and templates."""
    _check_sizes(photo_thumbnail, templates)
    detainee = Detainee(
        id=detainee_id,
        prison_number=prison_number,
        name_latin=name_latin,
        name_arabic=name_arabic,
        preferred_language=preferred_language,
        literate=literate,
        photo_thumbnail=photo_thumbnail,
        site=site,
        wing=wing,
        state="in_custody",
        updated_at=now or utc_now(),
    )
    session.add(detainee)
    index_detainee(session, detainee)
    for uid in badges:
        session.add(Badge(uid=uid, owner_kind="detainee", owner_id=detainee_id))
    _add_templates(session, detainee_id, templates)
    note_change(session, site, wing, "detainee", detainee_id)


def _detainee(session: Session, detainee_id: str) -> Detainee:
    detainee = session.get(Detainee, detainee_id)
    if detainee is None:
        raise LookupError(f"no detainee {detainee_id!r}")
    return detainee


def update_detainee(session: Session, detainee_id: str, **fields: Any) -> None:
    """Change identity fields. Where a person is held changes only by transfer or release,
    so that the wing they leave hears of it too."""
    moves = {"site", "wing", "state"} & set(fields)
    if moves:
        raise ValueError(f"use transfer() or release() to change {', '.join(sorted(moves))}")
    if "photo_thumbnail" in fields:
        _check_sizes(fields["photo_thumbnail"], [])
    detainee = _detainee(session, detainee_id)
    for name, value in fields.items():
        setattr(detainee, name, value)
    if {"prison_number", "name_latin", "name_arabic"} & set(fields):
        index_detainee(session, detainee)
    detainee.updated_at = utc_now()
    note_change(session, detainee.site, detainee.wing, "detainee", detainee_id)


def transfer(session: Session, detainee_id: str, wing: str, site: str | None = None) -> None:
    """Move a detainee to another wing, or another establishment (``site``): the kiosks of
    the wing left and of the wing joined both hear of it."""
    detainee = _detainee(session, detainee_id)
    old_site, old_wing = detainee.site, detainee.wing
    detainee.site, detainee.wing = site or old_site, wing
    detainee.updated_at = utc_now()
    note_change(session, old_site, old_wing, "detainee", detainee_id)
    note_change(session, detainee.site, wing, "detainee", detainee_id)


def release(session: Session, detainee_id: str) -> None:
    """A detainee leaves custody: the wing's kiosks drop their cached row and templates."""
    detainee = _detainee(session, detainee_id)
    wing = detainee.wing
    detainee.state, detainee.wing, detainee.updated_at = "released", None, utc_now()
    note_change(session, detainee.site, wing, "detainee", detainee_id)


def replace_templates(
    session: Session, detainee_id: str, templates: Sequence[TemplateRecord]
) -> None:
    _check_sizes(None, templates)
    detainee = _detainee(session, detainee_id)
    session.execute(delete(Template).where(Template.detainee_id == detainee_id))
    _add_templates(session, detainee_id, templates)
    note_change(session, detainee.site, detainee.wing, "detainee", detainee_id)


def put_staff(
    session: Session,
    *,
    staff_id: str,
    name: str,
    role: str,
    site: str,
    pin_hash: str,
    badges: Sequence[str] = (),
    active: bool = True,
) -> None:
    """Create or update a staff member who may open sessions on the site's kiosks."""
    staff = session.get(Staff, staff_id)
    if staff is None:
        session.add(
            Staff(id=staff_id, name=name, role=role, site=site, pin_hash=pin_hash, active=active)
        )
    else:
        staff.name, staff.role, staff.pin_hash, staff.active = name, role, pin_hash, active
    session.execute(delete(Badge).where(Badge.owner_kind == "staff", Badge.owner_id == staff_id))
    for uid in badges:
        session.add(Badge(uid=uid, owner_kind="staff", owner_id=staff_id))
    note_change(session, site, None, "staff", staff_id)


def put_document(
    session: Session,
    kind: str,
    key: str,
    data: dict[str, Any],
    *,
    site: str,
    wing: str | None = None,
    active: bool = True,
) -> None:
    """A questionnaire, its recorded audio (hub.questionnaires.media), a training programme or
    a policy, for a site or one wing."""
    if kind not in DOCUMENT_KINDS:
        raise ValueError(f"unknown document kind {kind!r}; use one of {', '.join(DOCUMENT_KINDS)}")
    document = session.get(SyncDocument, (kind, key))
    if document is None:
        session.add(
            SyncDocument(kind=kind, key=key, site=site, wing=wing, data=data, active=active)
        )
    else:
        old_site, old_wing = document.site, document.wing
        document.site, document.wing, document.data, document.active = site, wing, data, active
        if (old_site, old_wing) != (site, wing):
            note_change(session, old_site, old_wing, kind, key)
    note_change(session, site, wing, kind, key)


def wing_of(session: Session, site: str, device: str) -> Device | None:
    return session.execute(
        select(Device).where(Device.site == site, Device.device == device)
    ).scalar_one_or_none()
