"""A person's questionnaires in progress, what they sent, and their training requests, as
this kiosk keeps them between the person's touch and the hub's answer.

Every answer is kept the moment it is given: the draft is sealed here and a
``questionnaire.progress`` event is queued in the outbox in the same transaction, so the hub
hands it to the other kiosks of the wing and a session that timed out resumes at the same
question on any of them. Sending records one ``questionnaire.response`` and drops the
drafts; its event id is the person's receipt. The tables are kiosk.caches', which drops
them with the person, on a wipe, and re-encrypts them with the cache key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlite_utils import Database

from kiosk import caches, outbox, store
from kiosk.vault import TemplateVault
from protocol.events import (
    DraftRef,
    QuestionnaireProgress,
    QuestionnaireProgressEvent,
    QuestionnaireResponse,
    QuestionnaireResponseEvent,
    TrainingEnrolmentRequested,
    TrainingEnrolmentRequestedEvent,
)
from protocol.ids import format_timestamp, utc_now
from protocol.ordering import Stamp, source_of, stamp_from


@dataclass(frozen=True)
class Draft:
    """A questionnaire as far as the person got: the answers and the question on screen."""

    form_id: str
    version: str
    language: str
    current: str
    answers: dict[str, Any]
    saved_at: datetime
    source: str  # "kiosk": typed here; "hub": from the hub, perhaps typed at another kiosk
    stamp: Stamp  # which came last (protocol.ordering): by seq within a kiosk, not by clock


def _draft_context(detainee_id: str, form_id: str) -> str:
    return f"draft:{detainee_id}:{form_id}"


def _receipt_context(detainee_id: str, event_id: str) -> str:
    return f"receipt:{detainee_id}:{event_id}"


def save_progress(
    db: Database,
    vault: TemplateVault,
    *,
    site: str,
    device: str,
    detainee_id: str,
    form_id: str,
    version: str,
    language: str,
    current: str,
    answers: Mapping[str, Any],
) -> None:
    """Keep the answers so far and the question to show next, here and (through the outbox)
    at the hub, in one transaction; they name the other kiosk's draft they went on from."""
    with store.write(db):
        body = QuestionnaireProgress(
            form_id=form_id,
            form_version=version,
            language=language,
            current=current,
            answers=dict(answers),
            resumed=_went_on_from(db, vault, detainee_id, form_id, source_of(site, device)),
        )
        event = outbox.record(
            db, QuestionnaireProgressEvent, body, site=site, device=device, subject=detainee_id
        )
        draft = {
            "form_id": form_id,
            "form_version": version,
            "language": language,
            "current": current,
            "answers": body.answers,
            "saved_at": format_timestamp(event.at),  # as the hub will know it
            "event_id": event.id,  # to cap its stamp when the hub acknowledges it
            **_stamp(event.site, event.device, event.seq, event.at, body.resumed).as_fields(),
        }
        db.execute(
            "INSERT OR REPLACE INTO local_drafts(detainee_id, form_id, sealed) VALUES (?, ?, ?)",
            [detainee_id, form_id, caches.seal(vault, draft, _draft_context(detainee_id, form_id))],
        )


def _stamp(site: str, device: str, seq: int, at: datetime, resumed: DraftRef | None) -> Stamp:
    """This kiosk's stamp of its own event (its clock is all it has; the hub caps it)."""
    went_on = None if resumed is None else (source_of(resumed.site, resumed.device), resumed.seq)
    return Stamp(source_of(site, device), seq, at, went_on)


def _went_on_from(
    db: Database, vault: TemplateVault, detainee_id: str, form_id: str, here: str
) -> DraftRef | None:
    """The other kiosk's draft that answers given now go on from (protocol.ordering): the
    draft the person sees, if another kiosk's, or else the one that draft went on from."""
    seen = load_draft(db, vault, detainee_id, form_id)
    if seen is None:
        return None
    stamp = seen.stamp
    if stamp.source is not None and stamp.source != here:
        source, seq = stamp.source, stamp.seq
    elif stamp.resumed is not None:
        source, seq = stamp.resumed
    else:
        return None
    site, _, device = source.partition("/")
    try:
        return DraftRef(site=site, device=device, seq=seq)
    except ValidationError:  # a stamp this kiosk cannot name: order by time as before
        return None


def _as_draft(data: Mapping[str, Any], source: str) -> Draft | None:
    saved = caches.parse_moment(data.get("saved_at"))
    stamp = stamp_from(data, "saved_at")
    if saved is None or stamp is None:
        return None
    return Draft(
        form_id=str(data["form_id"]),
        version=str(data["form_version"]),
        language=str(data["language"]),
        current=str(data["current"]),
        answers=dict(data["answers"]),
        saved_at=saved,
        source=source,
        stamp=stamp,
    )


def load_draft(db: Database, vault: TemplateVault, detainee_id: str, form_id: str) -> Draft | None:
    """The newest of this kiosk's draft and the hub's, or None when there is none or the
    person has sent the form since."""
    candidates: list[Draft | None] = []
    row = db.execute(
        "SELECT sealed FROM local_drafts WHERE detainee_id = ? AND form_id = ?",
        [detainee_id, form_id],
    ).fetchone()
    if row is not None:
        local = caches.unseal(vault, row[0], _draft_context(detainee_id, form_id))
        candidates.append(_as_draft(local, "kiosk"))
    candidates += [
        _as_draft(draft, "hub")
        for draft in caches.hub_drafts(db, vault, detainee_id)
        if draft.get("form_id") == form_id
    ]
    found = [draft for draft in candidates if draft is not None]
    if not found:
        return None
    newest = found[0]  # the first wins a tie: this kiosk's
    for draft in found[1:]:
        if draft.stamp.after(newest.stamp):
            newest = draft
    sent = [
        stamp_from(r, "completed_at")
        for r in receipts(db, vault, detainee_id)
        if r["form_id"] == form_id
    ]
    if any(stamp is not None and not newest.stamp.after(stamp) for stamp in sent):
        return None
    return newest


def submit(
    db: Database,
    vault: TemplateVault,
    *,
    site: str,
    device: str,
    detainee_id: str,
    form_id: str,
    version: str,
    language: str,
    started_at: datetime | str,
    answers: Mapping[str, Any],
) -> str:
    """Send the completed questionnaire: one ``questionnaire.response`` in the outbox, both
    drafts dropped and a receipt kept, in one transaction. Returns the event id (the
    receipt). ``started_at`` may be an RFC 3339 string."""
    started = datetime.fromisoformat(started_at) if isinstance(started_at, str) else started_at
    with store.write(db):
        body = QuestionnaireResponse(
            form_id=form_id,
            form_version=version,
            language=language,
            started_at=started,
            completed_at=utc_now(),
            answers=dict(answers),
            resumed=_went_on_from(db, vault, detainee_id, form_id, source_of(site, device)),
        )
        event = outbox.record(
            db, QuestionnaireResponseEvent, body, site=site, device=device, subject=detainee_id
        )
        db.execute(
            "DELETE FROM local_drafts WHERE detainee_id = ? AND form_id = ?",
            [detainee_id, form_id],
        )
        caches.drop_hub_draft(db, vault, detainee_id, form_id)
        receipt = {
            "form_id": form_id,
            "completed_at": format_timestamp(body.completed_at),
            **_stamp(site, device, event.seq, event.at, body.resumed).as_fields(),
        }
        db.execute(
            "INSERT INTO local_receipts(event_id, detainee_id, sealed) VALUES (?, ?, ?)",
            [
                event.id,
                detainee_id,
                caches.seal(vault, receipt, _receipt_context(detainee_id, event.id)),
            ],
        )
    return event.id


def cap_at_arrival(
    db: Database, vault: TemplateVault, event_ids: Sequence[str], hub_at: datetime
) -> int:
    """The hub acknowledged these events at ``hub_at`` (its clock): the stamps of this kiosk's
    drafts and receipts made by them are capped there, as the hub caps them, so that a clock
    running ahead here does not make them look newer than another kiosk's (protocol.ordering).
    Nothing to do unless this kiosk's clock is ahead of the hub's. Needs an open write();
    returns how many were capped."""
    if not event_ids or utc_now() <= hub_at:
        return 0
    acknowledged, capped = set(event_ids), 0
    marks = ",".join("?" * len(acknowledged))
    receipts = db.execute(
        f"SELECT event_id, detainee_id, sealed FROM local_receipts WHERE event_id IN ({marks})",  # nosec B608  # only "?" placeholders are joined in
        sorted(acknowledged),
    ).fetchall()
    for event_id, detainee_id, sealed in receipts:
        context = _receipt_context(detainee_id, event_id)
        kept = _capped(caches.unseal(vault, sealed, context), "completed_at", hub_at)
        if kept is not None:
            db.execute(
                "UPDATE local_receipts SET sealed = ? WHERE event_id = ?",
                [caches.seal(vault, kept, context), event_id],
            )
            capped += 1
    drafts = db.execute("SELECT detainee_id, form_id, sealed FROM local_drafts").fetchall()
    for detainee_id, form_id, sealed in drafts:
        context = _draft_context(detainee_id, form_id)
        data = caches.unseal(vault, sealed, context)
        kept = _capped(data, "saved_at", hub_at) if data.get("event_id") in acknowledged else None
        if kept is not None:
            db.execute(
                "UPDATE local_drafts SET sealed = ? WHERE detainee_id = ? AND form_id = ?",
                [caches.seal(vault, kept, context), detainee_id, form_id],
            )
            capped += 1
    return capped


def _capped(data: dict[str, Any], time_key: str, hub_at: datetime) -> dict[str, Any] | None:
    """``data`` with its stamp's time capped at ``hub_at``; None when it is not later."""
    stamp = stamp_from(data, time_key)
    if stamp is None or stamp.at <= hub_at:
        return None
    return {**data, "ordered_at": format_timestamp(hub_at)}


def receipts(db: Database, vault: TemplateVault, detainee_id: str) -> list[dict[str, Any]]:
    """What the person sent, newest first: ``event_id``, ``form_id``, ``completed_at``,
    ``received_at`` and ``state``: "waiting" (kept here, to be sent), "sent" (the hub
    acknowledged it or holds it aside, but this kiosk's copy of the file does not list it
    yet) or "received" (the hub's file lists it)."""
    found = {
        r["event_id"]: {**r, "state": "received"}
        for r in caches.person_file(db, vault, detainee_id)["receipts"]
    }
    rows = db.execute(
        "SELECT r.event_id, r.sealed, o.id IS NOT NULL FROM local_receipts r "
        "LEFT JOIN outbox o ON o.id = r.event_id WHERE r.detainee_id = ?",
        [detainee_id],
    ).fetchall()
    for event_id, sealed, queued in rows:
        if event_id in found:
            continue
        local = caches.unseal(vault, sealed, _receipt_context(detainee_id, event_id))
        found[event_id] = {
            **local,
            "event_id": event_id,
            "received_at": None,
            "state": "waiting" if queued else "sent",
        }
    return sorted(found.values(), key=lambda r: str(r["completed_at"]), reverse=True)


def request_training(
    db: Database, *, site: str, device: str, detainee_id: str, programme_id: str
) -> str:
    """Ask to join a programme: the event in the outbox and a marker, so that the screens
    show "requested" until the hub's answer arrives. Returns the event id."""
    body = TrainingEnrolmentRequested(programme_id=programme_id)
    with store.write(db):
        event = outbox.record(
            db,
            TrainingEnrolmentRequestedEvent,
            body,
            site=site,
            device=device,
            subject=detainee_id,
        )
        db.execute(
            "INSERT INTO training_requests(event_id, detainee_id, programme_id, requested_at) "
            "VALUES (?, ?, ?, ?)",
            [event.id, detainee_id, programme_id, format_timestamp(event.at)],
        )
    return event.id


def pending_requests(db: Database, detainee_id: str) -> list[str]:
    """Programmes the person asked for here that the hub's file does not show yet (a request
    the hub refused to record is not one)."""
    rows = db.execute(
        "SELECT DISTINCT t.programme_id FROM training_requests t "
        "LEFT JOIN rejected_events r ON r.id = t.event_id "
        "WHERE t.detainee_id = ? AND r.id IS NULL ORDER BY t.programme_id",
        [detainee_id],
    ).fetchall()
    return [str(row[0]) for row in rows]
