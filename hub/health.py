"""Health and psychology screenings (PHQ-9, GAD-7) and the urgent alerts they raise.

A screening comes from a kiosk questionnaire (applied by the ingest worker through
``hub.responses``) or is entered by health staff. The hub scores the answers itself
(``hub.questionnaires.scoring``), never trusting the form's own calculations. A PHQ-9 with
item 9 above 0, or a total of 20 or more, raises an alert that stays open until a health
worker acknowledges it; who did and when is kept on the alert and in the audit log.

Only health roles may read any of this; the API layer enforces that. The audit entries say
what was done and to which record, never the answers, scores or notes, because the audit
log is read by administrators too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.audit import Trail
from hub.models import Detainee, HealthAlert, Screening, as_utc
from hub.questionnaires import scoring
from protocol.ids import format_timestamp, utc_now

# The shipped forms' ids (hub/questionnaires/build_forms.py) and how each is scored.
HEALTH_FORMS: dict[str, Callable[[scoring.Answers], scoring.Score]] = {
    "phq9": scoring.phq9,
    "gad7": scoring.gad7,
}
HEALTH_ITEMS: dict[str, tuple[str, ...]] = {
    "phq9": scoring.PHQ9_ITEMS,
    "gad7": scoring.GAD7_ITEMS,
}
MAX_SOURCE = 200  # screenings.source
MAX_VERSION = 64  # screenings.form_version
MAX_NOTE = 2000


class HealthError(ValueError):
    """The screening or alert cannot be recorded as asked; the message says why and what to do."""


def _items(instrument_form_id: str, answers: Mapping[str, Any]) -> dict[str, int | str]:
    """The instrument's item answers, refusing anything that is not a whole number by name
    (scoring itself would let 2.7 through as 2, or fail on a list with a TypeError)."""
    items: dict[str, int | str] = {}
    for item in HEALTH_ITEMS[instrument_form_id]:
        value = answers.get(item)
        if value is None or value == "":
            raise HealthError(f"{item} has no answer; every item must be answered 0, 1, 2 or 3")
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise HealthError(f"{item}: {value!r} is not a number; answer 0, 1, 2 or 3")
        items[item] = value
    return items


def _score(
    instrument_form_id: str, answers: Mapping[str, Any]
) -> tuple[scoring.Score, dict[str, int]]:
    if instrument_form_id not in HEALTH_FORMS:
        raise HealthError(
            f"{instrument_form_id!r} is not a screening the hub scores; "
            f"use one of {', '.join(HEALTH_FORMS)}"
        )
    items = _items(instrument_form_id, answers)
    try:
        score = HEALTH_FORMS[instrument_form_id](items)
    except ValueError as error:  # names the item: "phq9_9: 4 is outside 0–3"
        raise HealthError(
            f"the {instrument_form_id} answers cannot be scored: {error}; "
            "each item is answered 0, 1, 2 or 3"
        ) from None
    return score, {item: int(value) for item, value in items.items()}


def _alert_reason(score: scoring.Score) -> str:
    return f"{score.instrument} total {score.total} ({score.band}): {'; '.join(score.reasons)}"


def record_screening(
    session: Session,
    *,
    detainee_id: str,
    instrument_form_id: str,
    answers: Mapping[str, Any],
    source: str,
    taken_at: datetime,
    form_version: str | None = None,
    event_id: str | None = None,
    trail: Trail | None = None,
) -> Screening:
    """Score and store a screening; raise an alert if it is urgent.

    The same ``event_id`` again returns the stored screening and raises no second alert, so a
    replayed kiosk message changes nothing. Staff entries pass a ``trail`` and are audited;
    the ingest path passes none, because the stored event is its record.
    """
    if event_id is not None:
        existing = session.scalar(select(Screening).where(Screening.event_id == event_id))
        if existing is not None:
            return existing
    score, items = _score(instrument_form_id, answers)
    if taken_at.tzinfo is None:
        raise HealthError("the time the screening was taken has no timezone; give it in UTC")
    if not source.strip() or len(source) > MAX_SOURCE:
        raise HealthError(
            f"the source of a screening must be 1 to {MAX_SOURCE} characters "
            "(for example 'kiosk:rabat-1/wing-a-1' or 'user:nurse-1')"
        )
    if form_version is not None and not 1 <= len(form_version) <= MAX_VERSION:
        raise HealthError(f"the form version must be 1 to {MAX_VERSION} characters, or none")
    if session.get(Detainee, detainee_id) is None:
        raise LookupError(f"no detainee {detainee_id!r}")
    screening = Screening(
        detainee_id=detainee_id,
        instrument=instrument_form_id,
        form_version=form_version,
        score=score.total,
        band=score.band,
        items=items,
        source=source,
        event_id=event_id,
        taken_at=taken_at,
    )
    session.add(screening)
    session.flush()  # assigns the id the alert refers to
    alert = None
    if score.urgent:
        alert = HealthAlert(
            detainee_id=detainee_id,
            screening_id=screening.id,
            reason=_alert_reason(score),
            raised_at=utc_now(),
        )
        session.add(alert)
        session.flush()
    if trail is not None:
        trail.record(
            session,
            "health.screening",
            detainee_id,
            {
                "screening_id": screening.id,
                "instrument": instrument_form_id,
                "form_version": form_version,
                "alert_id": None if alert is None else alert.id,
            },
        )
    return screening


def acknowledge_alert(
    session: Session, trail: Trail, alert_id: int, note: str | None = None
) -> HealthAlert:
    """A health worker takes charge of an alert. It is acknowledged once: the first
    acknowledgement is who answers for the follow-up, so a second one is refused."""
    clean_note = None if note is None or not note.strip() else note.strip()
    if clean_note is not None and len(clean_note) > MAX_NOTE:
        raise HealthError(
            f"the note is {len(clean_note)} characters long; shorten it to {MAX_NOTE} at most"
        )
    alert = session.get(HealthAlert, alert_id, with_for_update=True, populate_existing=True)
    if alert is None:
        raise LookupError(f"no health alert {alert_id}")
    if alert.acknowledged_at is not None:
        raise HealthError(
            f"alert {alert_id} was already acknowledged by {alert.acknowledged_by} "
            f"at {format_timestamp(as_utc(alert.acknowledged_at))}"
        )
    alert.acknowledged_by = trail.actor
    alert.acknowledged_at = utc_now()
    alert.note = clean_note
    trail.record(
        session,
        "health.alert.acknowledge",
        alert.detainee_id,
        {"alert_id": alert.id, "screening_id": alert.screening_id},
    )
    return alert


def open_alerts(session: Session, site: str | None = None) -> list[HealthAlert]:
    """Alerts nobody has acknowledged yet, newest first; ``site`` keeps those of people now
    held in that establishment."""
    query = select(HealthAlert).where(HealthAlert.acknowledged_at.is_(None))
    if site is not None:
        query = query.join(Detainee, Detainee.id == HealthAlert.detainee_id).where(
            Detainee.site == site
        )
    return list(
        session.scalars(query.order_by(HealthAlert.raised_at.desc(), HealthAlert.id.desc()))
    )


def screenings_of(session: Session, detainee_id: str) -> list[Screening]:
    """A person's screenings, the most recently taken first."""
    return list(
        session.scalars(
            select(Screening)
            .where(Screening.detainee_id == detainee_id)
            .order_by(Screening.taken_at.desc(), Screening.id.desc())
        )
    )


def alerts_of(session: Session, detainee_id: str) -> list[HealthAlert]:
    """A person's alerts, open and acknowledged, newest first."""
    return list(
        session.scalars(
            select(HealthAlert)
            .where(HealthAlert.detainee_id == detainee_id)
            .order_by(HealthAlert.raised_at.desc(), HealthAlert.id.desc())
        )
    )
