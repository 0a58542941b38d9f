"""How long each class of personal data is kept, and the job that deletes it when its
purpose has ended (law 09-08: data kept no longer than the purpose it was collected for).

The classes and their rules (``RULES`` says the same in words for the command's output):

* biometric templates — a released person's templates are deleted from the hub once
  ``[retention] templates_after_release_days`` (30) have passed since ``released_on``; the
  template bytes inside their stored ``enrolment.captured`` events go at the same time (the
  event keeps its modality and format). Kiosks drop a released person's row and templates
  at their next sync after the release (hub.roster.release notes the wing left); when the
  hub deletes the templates it notes the person again for every wing of the site, so that
  any kiosk still holding a copy (one moved, restored or long offline) drops it too.
* questionnaire drafts — a released person's drafts serve only to resume at a wing kiosk:
  deleted at the first run after the release, with the answers kept in their
  ``questionnaire.progress`` events (the event keeps its form and time).
* dead letters — the bytes of a message the hub could not accept (malformed, refused, or
  from a withdrawn kiosk) may hold answers or templates of anyone; they are kept
  ``[retention] dead_letter_days`` (180) for staff to investigate, then emptied. The row
  keeps its topic, reason, event id, time and hash (a copy sent again is still recognised).
* web sessions — ended ones (12 hours old or 30 minutes idle, hub.users) are deleted.
* login throttles — counters whose window has passed and whose lock has ended.

Kept on purpose, not touched by the job: the person's file (identity, facts, questionnaire
responses, screenings, training, movements, plan, consents), kept as long as the
establishment's records schedule says (to be set with DGAPR's counsel), and the audit log,
which is append-only and chained (hub.audit) and holds no answers, scores or templates.

Events are scrubbed, never deleted: their ids are how ingest recognises a copy sent again,
so a deleted row would let a late copy back in.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from time import perf_counter
from typing import Any, TypeVar

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from hub import roster
from hub.audit import Trail
from hub.config import RetentionConfig
from hub.models import (
    DeadLetter,
    Detainee,
    Event,
    LoginThrottle,
    QuestionnaireDraft,
    Template,
    WebSession,
)
from hub.users import IDLE, THROTTLE_WINDOW
from protocol.ids import utc_now

CHUNK = 500  # ids per IN (...) list
DELETED_ON = "deleted_on"  # set in a scrubbed event's body: what was removed and when

RULES: dict[str, str] = {
    "biometric_templates": "templates of people released more than {days} days ago",
    "enrolment_event_templates": "template bytes in their enrolment events",
    "kiosk_purge_notes": "people noted for every kiosk of their site, which drops them",
    "questionnaire_drafts": "questionnaires in progress of released people",
    "draft_event_answers": "answers in progress kept in their events",
    "dead_letter_payloads": "bytes of refused messages older than {dead_letter_days} days",
    "web_sessions": "ended hub sessions (12 hours old or 30 minutes idle)",
    "login_throttles": "failed-login counters past their window",
}

T = TypeVar("T")


@dataclass(frozen=True)
class RetentionReport:
    """What one run deleted (or, with ``dry_run``, would delete), per class of ``RULES``."""

    dry_run: bool
    counts: dict[str, int]
    templates_after_release_days: int
    dead_letter_days: int
    seconds: float


def _chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _released_before(cutoff: date) -> ColumnElement[bool]:
    """Released on or before ``cutoff``; a release without a date counts from the row's last
    change (a release always writes it)."""
    midnight = datetime.combine(cutoff + timedelta(days=1), time(), tzinfo=UTC)
    return and_(
        Detainee.state == "released",
        or_(
            Detainee.released_on <= cutoff,
            and_(Detainee.released_on.is_(None), Detainee.updated_at < midnight),
        ),
    )


def _scrubbed(body: dict[str, Any], field: str, empty: Any, today: date) -> dict[str, Any]:
    """The event body with ``field`` emptied and a note of what went and when."""
    return {**body, field: empty, DELETED_ON: {field: today.isoformat()}}


def _templates(session: Session, cutoff: date, today: date, dry_run: bool) -> dict[str, int]:
    rows = session.execute(
        select(Template.id, Detainee.id, Detainee.site)
        .join(Detainee, Detainee.id == Template.detainee_id)
        .where(_released_before(cutoff))
        .order_by(Template.id)
    ).all()
    people = sorted({(site, detainee_id) for _, detainee_id, site in rows})
    events = list(
        session.scalars(
            select(Event)
            .join(Detainee, Detainee.id == Event.subject)
            .where(
                Event.type == "enrolment.captured",
                Event.body["template"].as_string().is_not(None),
                _released_before(cutoff),
            )
        )
    )
    if not dry_run:
        for chunk in _chunks([template_id for template_id, _, _ in rows]):
            session.execute(delete(Template).where(Template.id.in_(chunk)))
        # Every wing of the site (wing None): one lock per site, one INSERT.
        roster.note_changes(session, ((site, None, "detainee", key) for site, key in people))
        for event in events:
            event.body = _scrubbed(event.body, "template", None, today)
    return {
        "biometric_templates": len(rows),
        "enrolment_event_templates": len(events),
        "kiosk_purge_notes": len(people),
    }


def _drafts(session: Session, today: date, dry_run: bool) -> dict[str, int]:
    drafts = session.execute(
        select(QuestionnaireDraft.detainee_id, QuestionnaireDraft.form_id)
        .join(Detainee, Detainee.id == QuestionnaireDraft.detainee_id)
        .where(Detainee.state == "released")
    ).all()
    events = list(
        session.scalars(
            select(Event)
            .join(Detainee, Detainee.id == Event.subject)
            .where(
                Event.type == "questionnaire.progress",
                Event.body[DELETED_ON].as_string().is_(None),
                Detainee.state == "released",
            )
        )
    )
    if not dry_run:
        for detainee_id, form_id in drafts:
            session.execute(
                delete(QuestionnaireDraft).where(
                    QuestionnaireDraft.detainee_id == detainee_id,
                    QuestionnaireDraft.form_id == form_id,
                )
            )
        for event in events:
            event.body = _scrubbed(event.body, "answers", {}, today)
    return {"questionnaire_drafts": len(drafts), "draft_event_answers": len(events)}


def _dead_letters(session: Session, cutoff: datetime, today: date, dry_run: bool) -> dict[str, int]:
    old = list(
        session.scalars(
            select(DeadLetter.id).where(DeadLetter.received_at < cutoff, DeadLetter.payload != b"")
        )
    )
    if not dry_run:
        for chunk in _chunks(old):
            session.execute(
                update(DeadLetter)
                .where(DeadLetter.id.in_(chunk))
                .values(
                    payload=b"",
                    reason=DeadLetter.reason + f" [its bytes deleted on {today} by retention]",
                )
            )
    return {"dead_letter_payloads": len(old)}


def _logins(session: Session, now: datetime, dry_run: bool) -> dict[str, int]:
    ended = or_(WebSession.expires_at <= now, WebSession.last_seen_at < now - IDLE)
    stale = and_(
        LoginThrottle.window_started_at < now - THROTTLE_WINDOW,
        or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until <= now),
    )
    tokens = list(session.scalars(select(WebSession.token_hash).where(ended)))
    keys = list(session.scalars(select(LoginThrottle.key).where(stale)))
    if not dry_run:
        for chunk in _chunks(tokens):
            session.execute(delete(WebSession).where(WebSession.token_hash.in_(chunk)))
        for chunk in _chunks(keys):
            session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(chunk)))
    return {"web_sessions": len(tokens), "login_throttles": len(keys)}


def apply(
    session: Session,
    trail: Trail,
    policy: RetentionConfig,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
) -> RetentionReport:
    """Delete what has outlived its purpose, in the caller's transaction, and write one
    ``retention.apply`` audit entry with the counts. ``dry_run`` counts and changes nothing
    (no audit entry either). Running it again right after deletes nothing more."""
    started = perf_counter()
    now = now or utc_now()
    today = now.astimezone(UTC).date()
    days = policy.templates_after_release_days
    counts = {
        **_templates(session, today - timedelta(days=days), today, dry_run),
        **_drafts(session, today, dry_run),
        **_dead_letters(session, now - timedelta(days=policy.dead_letter_days), today, dry_run),
        **_logins(session, now, dry_run),
    }
    counts = {name: counts[name] for name in RULES}
    if not dry_run:
        session.flush()
        trail.record(
            session,
            "retention.apply",
            None,
            {
                "counts": counts,
                "templates_after_release_days": days,
                "dead_letter_days": policy.dead_letter_days,
                "on": today.isoformat(),
            },
        )
    return RetentionReport(
        dry_run, counts, days, policy.dead_letter_days, round(perf_counter() - started, 3)
    )


def describe(report: RetentionReport) -> list[str]:
    """One line per class, for the command's output."""
    width = max(len(name) for name in RULES)
    days = {
        "days": report.templates_after_release_days,
        "dead_letter_days": report.dead_letter_days,
    }
    return [
        f"{name:<{width}}  {report.counts[name]:>6}  {rule.format(**days)}"
        for name, rule in RULES.items()
    ]
