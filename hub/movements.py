"""Movements: staff-verified comings and goings of detainees, and who is out of each wing.

A wing kiosk in movement-check mode sends a ``movement.verified`` event each time staff
check a person's identity at a checkpoint. The ingest worker stores it here, and a confirmed
movement sets where the person now is (``Detainee.location``). Events may arrive out of
order (a kiosk offline for a while), so only a newer movement moves the person.

Locations are the strings kiosks send ("workshop", "clinic", "court"...); a wing's own
location is its wing id ("wing-a").

Staff may also schedule a movement (``schedule_movement``): the wing's kiosks show it at the
checkpoint, and the confirmed movement of that person to that place, within
``SCHEDULE_WINDOW`` of the planned time, marks it done. The wing's kiosks show where a
person is and what is planned for them: scheduling and cancelling note the person in the
kiosks' change feed, and hub.ingest notes the subjects of movements once per batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub import roster
from hub.audit import Trail
from hub.db import dialect_insert
from hub.models import Detainee, Device, Movement, ScheduledMovement, as_utc
from protocol.events import EventBase, MovementVerifiedEvent
from protocol.ids import utc_now

MAX_LIMIT = 1000
MAX_LOCATION = 128  # movements.to_location, scheduled_movements.to_location
MAX_REASON = 200
# A movement this long before or after the planned time still fulfils the schedule: court
# runs late, the workshop starts early.
SCHEDULE_WINDOW = timedelta(hours=12)


class MovementError(ValueError):
    """The movement cannot be recorded or listed as asked; the message says why."""


def apply_movements_verified(session: Session, events: Sequence[EventBase]) -> None:
    """Ingest handler for a batch's ``movement.verified`` events, each applied once per event
    id, in a few statements whatever their number (500 kiosks at a checkpoint each minute).

    A movement naming a person the hub does not know is still stored (the check happened at
    the checkpoint) but moves nobody; a refused check is stored and moves nobody either.
    """
    for event in events:
        if not isinstance(event, MovementVerifiedEvent):
            raise TypeError(f"not a verified movement: {event.event_type}")
        if event.subject is None:
            raise MovementError("a movement must name its detainee (subject)")
    movements = [e for e in events if isinstance(e, MovementVerifiedEvent)]  # all (above)
    if not movements:
        return
    table = Movement.__table__
    rows = [
        {
            "event_id": event.id,
            "detainee_id": event.subject,
            "site": event.site,
            "device": event.device,
            "actor": event.actor,
            "from_location": event.body.from_location,
            "to_location": event.body.to_location,
            "reason": event.body.reason,
            "outcome": event.body.outcome,
            "modalities": list(event.body.modalities),
            "at": event.at,
        }
        for event in movements
    ]
    statement = (
        dialect_insert(session, table)
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(table.c.event_id)
    )
    inserted = set(session.execute(statement, rows).scalars())
    # A replay inserts nothing and changes nothing; a refused check moves nobody.
    confirmed = [e for e in movements if e.id in inserted and e.body.outcome == "confirmed"]
    if not confirmed:
        return
    subjects = sorted({str(e.subject) for e in confirmed})
    # Locked in id order, so that two workers applying movements of the same people keep
    # the newest and never wait on each other crosswise.
    people = {
        person.id: person
        for person in session.scalars(
            select(Detainee)
            .where(Detainee.id.in_(subjects))
            .order_by(Detainee.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    }
    plans = _pending_schedules(session, [e for e in confirmed if e.subject in people])
    for event in confirmed:
        detainee = people.get(str(event.subject))
        if detainee is None:
            continue
        _fulfil_schedule(plans, event)
        if detainee.location_at is None or event.at > as_utc(detainee.location_at):
            detainee.location, detainee.location_at = event.body.to_location, event.at


def _note(session: Session, detainee: Detainee) -> None:
    """The person's wing kiosks show where they are and what is planned for them."""
    if detainee.wing is not None:
        roster.note_change(session, detainee.site, detainee.wing, "detainee", detainee.id)


def _pending_schedules(
    session: Session, movements: Sequence[MovementVerifiedEvent]
) -> list[ScheduledMovement]:
    """The pending schedules these movements may fulfil (locked): one query for them all."""
    if not movements:
        return []
    moments = [event.at for event in movements]
    return list(
        session.scalars(
            select(ScheduledMovement)
            .where(
                ScheduledMovement.detainee_id.in_(sorted({str(e.subject) for e in movements})),
                ScheduledMovement.state == "pending",
                ScheduledMovement.to_location.in_(sorted({e.body.to_location for e in movements})),
                ScheduledMovement.at >= min(moments) - SCHEDULE_WINDOW,
                ScheduledMovement.at <= max(moments) + SCHEDULE_WINDOW,
            )
            .order_by(ScheduledMovement.id)
            .with_for_update()
        )
    )


def _fulfil_schedule(plans: Sequence[ScheduledMovement], event: MovementVerifiedEvent) -> None:
    """Mark done the pending schedule of this person to this place nearest in time to the
    movement, if one is within the window."""
    candidates = [
        plan
        for plan in plans
        if plan.state == "pending"
        and plan.detainee_id == event.subject
        and plan.to_location == event.body.to_location
        and abs(as_utc(plan.at) - event.at) <= SCHEDULE_WINDOW
    ]
    if candidates:
        nearest = min(candidates, key=lambda s: (abs(as_utc(s.at) - event.at), s.id))
        nearest.state, nearest.closed_at, nearest.closed_by = "done", event.at, f"event:{event.id}"


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise MovementError(f"ask for 1 to {MAX_LIMIT} movements at a time, not {limit}")
    return limit


def history(session: Session, detainee_id: str, limit: int = 200) -> list[Movement]:
    """A person's movements, refused checks included, newest first."""
    return list(
        session.scalars(
            select(Movement)
            .where(Movement.detainee_id == detainee_id)
            .order_by(Movement.at.desc(), Movement.event_id.desc())
            .limit(_limit(limit))
        )
    )


def movement_log(
    session: Session, site: str, since: datetime | None = None, limit: int = 200
) -> list[Movement]:
    """The movements checked at a site's kiosks, newest first; ``since`` keeps those at or
    after that moment (naive times are taken as UTC)."""
    query = select(Movement).where(Movement.site == site)
    if since is not None:
        query = query.where(Movement.at >= as_utc(since))
    return list(
        session.scalars(
            query.order_by(Movement.at.desc(), Movement.event_id.desc()).limit(_limit(limit))
        )
    )


class OutPerson(NamedTuple):
    detainee_id: str
    location: str
    since: datetime


@dataclass(frozen=True)
class WingCount:
    """A wing right now: how many people it holds and who of them is out, and where."""

    wing: str
    in_custody: int
    out: int
    out_people: list[OutPerson] = field(default_factory=list)


def live_counts(session: Session, site: str) -> list[WingCount]:
    """Per wing of the site, by wing id. The site's wings are those with a kiosk
    (``devices``) or with people in custody.

    A person is *out* when their last confirmed movement took them somewhere that is not a
    wing of the site: a workshop, the clinic, court. Someone who never had a confirmed
    movement is in. A movement into any wing of the site counts as being in: after a
    transfer (``hub.roster.transfer``) the old wing's name still stands as their location
    until the next checkpoint, and the person is housed, not out. The price is that a visit
    to another wing does not count as out; the movement log shows it.
    """
    housed = (
        Detainee.site == site,
        Detainee.state == "in_custody",
        Detainee.wing.is_not(None),
    )
    held: dict[str, int] = {
        str(wing): count
        for wing, count in session.execute(
            select(Detainee.wing, func.count()).where(*housed).group_by(Detainee.wing)
        ).all()
    }
    kiosk_wings = session.scalars(select(Device.wing).where(Device.site == site).distinct())
    wings = sorted(set(held) | set(kiosk_wings))
    out: dict[str, list[OutPerson]] = {wing: [] for wing in wings}
    # Counted in the database: only the few people out come back as rows.
    away = session.execute(
        select(Detainee.id, Detainee.wing, Detainee.location, Detainee.location_at)
        .where(
            *housed,
            Detainee.location.is_not(None),
            Detainee.location_at.is_not(None),  # set together, by a movement
            Detainee.location.not_in(wings),
        )
        .order_by(Detainee.wing, Detainee.id)
    ).all()
    for person in away:
        out[str(person.wing)].append(
            OutPerson(person.id, person.location, as_utc(person.location_at))
        )
    return [WingCount(wing, held.get(wing, 0), len(out[wing]), out[wing]) for wing in wings]


# --- schedules ---------------------------------------------------------------------------------


def _text(value: str, what: str, limit: int) -> str:
    text = value.strip()
    if not text:
        raise MovementError(f"{what} is empty; write it")
    if len(text) > limit:
        raise MovementError(f"{what} is {len(text)} characters long; shorten it to {limit}")
    return text


def schedule_movement(
    session: Session,
    trail: Trail,
    *,
    detainee_id: str,
    to_location: str,
    at: datetime,
    reason: str | None = None,
) -> ScheduledMovement:
    """Plan a movement of a person in custody to a place at a time (naive times are UTC)."""
    detainee = session.get(Detainee, detainee_id, with_for_update=True)
    if detainee is None:
        raise LookupError(f"no detainee {detainee_id!r}")
    if detainee.state != "in_custody":
        raise MovementError(f"{detainee.name_latin} was released; movements are for people held")
    place = _text(to_location, "the destination", MAX_LOCATION)
    why = None if reason is None or not reason.strip() else _text(reason, "the reason", MAX_REASON)
    schedule = ScheduledMovement(
        detainee_id=detainee_id,
        to_location=place,
        at=as_utc(at),
        reason=why,
        created_by=trail.actor,
        created_at=utc_now(),
        state="pending",
    )
    session.add(schedule)
    session.flush()
    trail.record(
        session,
        "movement.schedule",
        detainee_id,
        {"schedule_id": schedule.id, "to": place, "at": as_utc(at).isoformat(), "reason": why},
    )
    _note(session, detainee)
    return schedule


def cancel_movement(
    session: Session, trail: Trail, schedule_id: int, reason: str | None = None
) -> ScheduledMovement:
    """Call off a pending scheduled movement; the row is kept, cancelled."""
    schedule = session.get(ScheduledMovement, schedule_id, with_for_update=True)
    if schedule is None:
        raise LookupError(f"no scheduled movement {schedule_id}")
    if schedule.state != "pending":
        raise MovementError(
            f"scheduled movement {schedule_id} is already {schedule.state}; only a pending one "
            "can be cancelled"
        )
    why = None if reason is None or not reason.strip() else _text(reason, "the reason", MAX_REASON)
    schedule.state, schedule.closed_at, schedule.closed_by = "cancelled", utc_now(), trail.actor
    session.flush()
    trail.record(
        session,
        "movement.cancel",
        schedule.detainee_id,
        {"schedule_id": schedule.id, "to": schedule.to_location, "reason": why},
    )
    detainee = session.get(Detainee, schedule.detainee_id)
    if detainee is not None:
        _note(session, detainee)
    return schedule


def pending_schedules(
    session: Session, detainee_ids: Sequence[str], per_person: int = 10
) -> dict[str, list[ScheduledMovement]]:
    """Per person, their movements still planned, soonest first, at most ``per_person``."""
    found: dict[str, list[ScheduledMovement]] = {detainee_id: [] for detainee_id in detainee_ids}
    for schedule in session.scalars(
        select(ScheduledMovement)
        .where(
            ScheduledMovement.detainee_id.in_(list(found)),
            ScheduledMovement.state == "pending",
        )
        .order_by(ScheduledMovement.at, ScheduledMovement.id)
    ):
        if len(found[schedule.detainee_id]) < per_person:
            found[schedule.detainee_id].append(schedule)
    return found
