"""Questionnaires in progress: a kiosk saves a person's answers at every answer (a
``questionnaire.progress`` event), and the hub keeps the newest per person and form, so that
any kiosk of the wing resumes where the person stopped.

Events of one person may arrive out of order (two kiosks, one offline for a while) and a
kiosk's clock may be wrong, so "newest" follows protocol.ordering: by seq within a kiosk, by
time capped at arrival between kiosks. A draft that is not newer than a response the hub
already holds for that form is not brought back: the person finished it since.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, case, delete, exists, or_, select
from sqlalchemy.orm import Session

from hub.db import dialect_insert
from hub.models import Base, Detainee, Event, QuestionnaireDraft, as_utc
from protocol.events import EventBase, QuestionnaireProgressEvent, QuestionnaireResponseEvent
from protocol.ids import utc_now
from protocol.ordering import Stamp, capped, source_of


class DraftError(ValueError):
    """The draft cannot be recorded; the message says why."""


def arrival_stamp(event: EventBase) -> Stamp:
    """The stamp of an event arriving now (its time capped at the hub's clock)."""
    return Stamp(source_of(event.site, event.device), event.seq, capped(event.at, utc_now()))


def _answered_since(session: Session, event: EventBase, form_id: str, stamp: Stamp) -> bool:
    """Whether the hub holds a response to this form that the draft ``event`` is not newer
    than (protocol.ordering: the same kiosk's by seq, another's by capped time)."""
    response_at = case((Event.at <= Event.received_at, Event.at), else_=Event.received_at)
    same_kiosk = and_(Event.site == event.site, Event.device == event.device)
    return bool(
        session.scalar(
            select(
                exists().where(
                    Event.subject == event.subject,
                    Event.type == "questionnaire.response",
                    Event.body["form_id"].as_string() == form_id,
                    or_(
                        and_(same_kiosk, Event.seq > event.seq),
                        and_(~same_kiosk, response_at >= stamp.at),
                    ),
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
    stamp = arrival_stamp(event)
    known = session.scalar(select(exists().where(Detainee.id == event.subject)))
    if not known or _answered_since(session, event, body.form_id, stamp):
        return
    table = QuestionnaireDraft.__table__
    draft = {
        "form_version": body.form_version,
        "language": body.language,
        "current": body.current,
        "answers": dict(body.answers),
        "saved_at": event.at,
        "event_id": event.id,
        "source": stamp.source,
        "seq": stamp.seq,
        "ordered_at": stamp.at,
    }
    insert = dialect_insert(session, QuestionnaireDraft).values(
        detainee_id=event.subject, form_id=body.form_id, **draft
    )
    new = insert.excluded
    newer = (  # Stamp.after, in SQL: the arriving draft is newer than the one kept
        (table.c.source == new.source) & (table.c.seq < new.seq)
    ) | (
        table.c.source.is_distinct_from(new.source)
        & (
            (table.c.ordered_at < new.ordered_at)
            | ((table.c.ordered_at == new.ordered_at) & (table.c.event_id < new.event_id))
        )
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
    answered is done with, unless it is newer than every such response (they began it again
    since). One query for the whole batch; a delete only where there is a draft to drop."""
    answered: dict[tuple[str, str], list[Stamp]] = {}
    for event in responses:
        if isinstance(event, QuestionnaireResponseEvent) and event.subject is not None:
            key = (event.subject, event.body.form_id)
            answered.setdefault(key, []).append(arrival_stamp(event))
    if not answered:
        return
    table = Base.metadata.tables[QuestionnaireDraft.__tablename__]  # Core: no ORM work
    drafts = session.execute(
        select(
            table.c.detainee_id,
            table.c.form_id,
            table.c.event_id,
            table.c.source,
            table.c.seq,
            table.c.ordered_at,
        ).where(table.c.detainee_id.in_(sorted({subject for subject, _ in answered})))
    ).all()
    for detainee_id, form_id, event_id, source, seq, ordered_at in drafts:
        draft = Stamp(source, seq, as_utc(ordered_at))
        sent = answered.get((detainee_id, form_id), [])
        if any(not draft.after(response) for response in sent):
            session.execute(
                delete(table).where(
                    table.c.detainee_id == detainee_id,
                    table.c.form_id == form_id,
                    table.c.event_id == event_id,
                )
            )


def drafts_of(session: Session, detainee_ids: Sequence[str]) -> dict[str, list[QuestionnaireDraft]]:
    """Per person, their drafts, the most recently saved first."""
    found: dict[str, list[QuestionnaireDraft]] = {detainee_id: [] for detainee_id in detainee_ids}
    for draft in session.scalars(
        select(QuestionnaireDraft)
        .where(QuestionnaireDraft.detainee_id.in_(list(found)))
        .order_by(QuestionnaireDraft.ordered_at.desc(), QuestionnaireDraft.form_id)
    ):
        found[draft.detainee_id].append(draft)
    return found
