"""Questionnaires in progress: a kiosk saves a person's answers at every answer (a
``questionnaire.progress`` event), and the hub keeps the newest per person and form, so that
any kiosk of the wing resumes where the person stopped.

Events of one person may arrive out of order (two kiosks, one offline for a while) and a
kiosk's clock may be wrong, so "newest" follows protocol.ordering: by seq within a kiosk,
after the other kiosk's draft it went on from, else by time capped at arrival. A draft that
is not newer than a response the hub already holds for that form is not brought back: the
person finished it since. hub.ingest locks the batch's people first, so two workers never
decide from what the other has not committed.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.db import dialect_insert
from hub.models import Detainee, Event, QuestionnaireDraft, as_utc
from protocol.events import EventBase, QuestionnaireProgressEvent, QuestionnaireResponseEvent
from protocol.ids import utc_now
from protocol.ordering import Stamp, capped, resumed_from, source_of

# Set by hub.ingest.apply_batch in the session's info: when the batch arrived.
RECEIVED_AT = "masar.received_at"


class DraftError(ValueError):
    """The draft cannot be recorded; the message says why."""


def arrival_stamp(session: Session, event: EventBase) -> Stamp:
    """The stamp of an event arriving now: its time capped at the batch's arrival time
    (``RECEIVED_AT`` in the session's info, as the events table records it), and the draft
    it went on from."""
    received = session.info.get(RECEIVED_AT) or utc_now()
    resumed = getattr(getattr(event, "body", None), "resumed", None)  # progress, response
    return Stamp(
        source_of(event.site, event.device),
        event.seq,
        capped(event.at, received),
        None if resumed is None else (source_of(resumed.site, resumed.device), resumed.seq),
    )


def stamp_of(draft: QuestionnaireDraft) -> Stamp:
    """A kept draft's stamp, as it was when it arrived."""
    resumed = (
        None
        if draft.resumed_source is None or draft.resumed_seq is None
        else (draft.resumed_source, int(draft.resumed_seq))
    )
    return Stamp(draft.source, int(draft.seq), as_utc(draft.ordered_at), resumed)


def _responses(session: Session, keys: set[tuple[str, str]]) -> dict[tuple[str, str], list[Stamp]]:
    """The stamps of the responses the hub holds (this batch's included), per (person, form)
    of ``keys``: one query for a whole batch."""
    found: dict[tuple[str, str], list[Stamp]] = {}
    rows = session.execute(
        select(
            Event.subject,
            Event.body["form_id"].as_string(),
            Event.site,
            Event.device,
            Event.seq,
            Event.at,
            Event.received_at,
            Event.body["resumed"],
        ).where(
            Event.subject.in_(sorted({subject for subject, _ in keys})),
            Event.type == "questionnaire.response",
        )
    )
    for subject, form_id, site, device, seq, at, received_at, resumed in rows:
        if (subject, form_id) in keys:
            at = capped(as_utc(at), as_utc(received_at))
            stamp = Stamp(source_of(site, device), seq, at, resumed_from(resumed))
            found.setdefault((subject, form_id), []).append(stamp)
    return found


def _wins(new: tuple[str, Stamp], kept: tuple[str, Stamp]) -> bool:
    """Which of two drafts (event id, stamp) of one person and form is kept: Stamp.after, a
    tie to the later event id."""
    return new[1].after(kept[1]) or (not kept[1].after(new[1]) and new[0] > kept[0])


def apply_questionnaire_progresses(session: Session, events: Sequence[EventBase]) -> None:
    """Ingest handler for a batch's ``questionnaire.progress`` events (one at every answer a
    person gives): each person's newest draft of each form is kept (protocol.ordering,
    against the one the hub holds) unless a response the hub holds is not older; four
    statements for the whole batch. hub.ingest has locked the people, so what is read here
    stays true until the batch commits; it also notes them for their wing's kiosks.

    A draft of a person the hub does not know changes nothing (the event itself is kept).
    """
    for event in events:
        if not isinstance(event, QuestionnaireProgressEvent):
            raise TypeError(f"not a questionnaire progress: {event.event_type}")
        if event.subject is None:
            raise DraftError("a questionnaire in progress must name its detainee (subject)")
    progresses = [e for e in events if isinstance(e, QuestionnaireProgressEvent)]  # all
    subjects = sorted({str(e.subject) for e in progresses})
    if not subjects:
        return
    known = set(session.scalars(select(Detainee.id).where(Detainee.id.in_(subjects))))
    drafts = [e for e in progresses if e.subject in known]
    keys = {(str(e.subject), e.body.form_id) for e in drafts}
    answered = _responses(session, keys)
    newest: dict[tuple[str, str], tuple[str, Stamp]] = {
        (kept.detainee_id, kept.form_id): (kept.event_id, stamp_of(kept))
        for kept in session.scalars(
            select(QuestionnaireDraft)
            .where(QuestionnaireDraft.detainee_id.in_(subjects))
            .execution_options(populate_existing=True)  # the upserts below are Core
        )
    }
    chosen: dict[tuple[str, str], QuestionnaireProgressEvent] = {}
    for event in drafts:
        key = (str(event.subject), event.body.form_id)
        candidate = (event.id, arrival_stamp(session, event))
        if any(not candidate[1].after(response) for response in answered.get(key, [])):
            continue  # sent since (or at the same moment): not brought back
        if key not in newest or _wins(candidate, newest[key]):
            newest[key], chosen[key] = candidate, event
    if not chosen:
        return
    rows = []
    for (subject, form_id), event in sorted(chosen.items()):
        stamp = newest[(subject, form_id)][1]
        rows.append(
            {
                "detainee_id": subject,
                "form_id": form_id,
                "form_version": event.body.form_version,
                "language": event.body.language,
                "current": event.body.current,
                "answers": dict(event.body.answers),
                "saved_at": event.at,
                "event_id": event.id,
                "source": stamp.source,
                "seq": stamp.seq,
                "ordered_at": stamp.at,
                "resumed_source": None if stamp.resumed is None else stamp.resumed[0],
                "resumed_seq": None if stamp.resumed is None else stamp.resumed[1],
            }
        )
    insert = dialect_insert(session, QuestionnaireDraft.__table__)
    updated = [name for name in rows[0] if name not in ("detainee_id", "form_id")]
    session.execute(
        insert.on_conflict_do_update(
            index_elements=["detainee_id", "form_id"],
            set_={name: insert.excluded[name] for name in updated},
        ),
        rows,
    )


def drop_answered(session: Session, responses: Sequence[EventBase]) -> None:
    """Responses arrived (a batch's, from hub.ingest): each person's draft of the form they
    answered is done with, unless it is newer than every such response (they began it again
    since). One query for the whole batch; a delete only where there is a draft to drop."""
    answered: dict[tuple[str, str], list[Stamp]] = {}
    for event in responses:
        if isinstance(event, QuestionnaireResponseEvent) and event.subject is not None:
            key = (event.subject, event.body.form_id)
            answered.setdefault(key, []).append(arrival_stamp(session, event))
    if not answered:
        return
    drafts = session.scalars(
        select(QuestionnaireDraft)
        .where(QuestionnaireDraft.detainee_id.in_(sorted({subject for subject, _ in answered})))
        .execution_options(populate_existing=True)  # as the batch's upserts left them
    ).all()
    for draft in drafts:
        sent = answered.get((draft.detainee_id, draft.form_id), [])
        if any(not stamp_of(draft).after(response) for response in sent):
            session.delete(draft)


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
