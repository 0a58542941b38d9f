"""Questionnaires in progress: a kiosk saves a person's answers at every answer (a
``questionnaire.progress`` event), and the hub keeps the newest per person and form, so that
any kiosk of the wing resumes where the person stopped.

Events of one person may arrive out of order (two kiosks, one offline for a while), so the
draft with the latest ``at`` wins, and a draft older than a response the hub already holds
for that form is not brought back: the person finished it since.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from hub.db import dialect_insert
from hub.models import Base, Detainee, Event, QuestionnaireDraft, as_utc
from protocol.events import EventBase, QuestionnaireProgressEvent, QuestionnaireResponseEvent


class DraftError(ValueError):
    """The draft cannot be recorded; the message says why."""


def _answered_since(session: Session, detainee_id: str, form_id: str, at: datetime) -> bool:
    """Whether the hub holds a response to this form sent at or after ``at``."""
    return bool(
        session.scalar(
            select(
                exists().where(
                    Event.subject == detainee_id,
                    Event.type == "questionnaire.response",
                    Event.body["form_id"].as_string() == form_id,
                    Event.at >= at,
                )
            )
        )
    )


def apply_questionnaire_progress(session: Session, event: EventBase) -> None:
    """Ingest handler for ``questionnaire.progress``: keep the draft if it is the newest.
    (hub.ingest notes the person for their wing's kiosks, once per batch.)

    A draft of a person the hub does not know changes nothing (the event itself is kept).
    """
    if not isinstance(event, QuestionnaireProgressEvent):
        raise TypeError(f"not a questionnaire progress: {event.event_type}")
    if event.subject is None:
        raise DraftError("a questionnaire in progress must name its detainee (subject)")
    body = event.body
    known = session.scalar(select(exists().where(Detainee.id == event.subject)))
    if not known or _answered_since(session, event.subject, body.form_id, event.at):
        return
    table = QuestionnaireDraft.__table__
    draft = {
        "form_version": body.form_version,
        "language": body.language,
        "current": body.current,
        "answers": dict(body.answers),
        "saved_at": event.at,
        "event_id": event.id,
    }
    insert = dialect_insert(session, QuestionnaireDraft).values(
        detainee_id=event.subject, form_id=body.form_id, **draft
    )
    newer = (table.c.saved_at < insert.excluded.saved_at) | (
        (table.c.saved_at == insert.excluded.saved_at)
        & (table.c.event_id < insert.excluded.event_id)
    )
    session.execute(
        insert.on_conflict_do_update(
            index_elements=["detainee_id", "form_id"],
            set_={name: insert.excluded[name] for name in draft},
            where=newer,
        )
    )


def drop_answered(session: Session, responses: Sequence[EventBase]) -> None:
    """Responses arrived (a batch's, from hub.ingest): each person's draft of the form they
    answered is done with, unless it is newer than the response (they began it again since).
    One query for the whole batch; a delete only where there is a draft to drop."""
    answered: dict[tuple[str, str], datetime] = {}
    for event in responses:
        if isinstance(event, QuestionnaireResponseEvent) and event.subject is not None:
            key = (event.subject, event.body.form_id)
            answered[key] = max(event.at, answered.get(key, event.at))
    if not answered:
        return
    table = Base.metadata.tables[QuestionnaireDraft.__tablename__]  # Core: no ORM work
    drafts = session.execute(
        select(table.c.detainee_id, table.c.form_id, table.c.saved_at).where(
            table.c.detainee_id.in_(sorted({subject for subject, _ in answered}))
        )
    ).all()
    for detainee_id, form_id, saved_at in drafts:
        sent = answered.get((detainee_id, form_id))
        if sent is not None and as_utc(saved_at) <= sent:
            session.execute(
                delete(table).where(
                    table.c.detainee_id == detainee_id,
                    table.c.form_id == form_id,
                    table.c.saved_at <= sent,
                )
            )


def drafts_of(session: Session, detainee_ids: Sequence[str]) -> dict[str, list[QuestionnaireDraft]]:
    """Per person, their drafts, the most recently saved first."""
    found: dict[str, list[QuestionnaireDraft]] = {detainee_id: [] for detainee_id in detainee_ids}
    for draft in session.scalars(
        select(QuestionnaireDraft)
        .where(QuestionnaireDraft.detainee_id.in_(list(found)))
        .order_by(QuestionnaireDraft.saved_at.desc(), QuestionnaireDraft.form_id)
    ):
        found[draft.detainee_id].append(draft)
    return found
