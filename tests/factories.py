"""Real events for tests, built through the protocol models."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub import roster
from hub.ingest import Incoming
from protocol import encode, topics, uuid7
from protocol.events import EventBase, MovementVerified, MovementVerifiedEvent
from protocol.ids import utc_now

MOVEMENT = MovementVerified(
    from_location="wing-a",
    to_location="workshop",
    modalities=["badge", "face"],
    outcome="confirmed",
)


def movement(
    seq: int, *, site: str = "rabat-1", device: str = "wing-a-1", event_id: str | None = None
) -> MovementVerifiedEvent:
    return MovementVerifiedEvent(
        id=event_id or uuid7(),
        site=site,
        device=device,
        seq=seq,
        at=utc_now(),
        subject=f"d-{seq:05d}",
        actor="officer-7",
        body=MOVEMENT,
    )


def wire(event: EventBase) -> tuple[str, bytes]:
    """(topic, payload) exactly as a kiosk publishes it."""
    return topics.event_topic(event.site, event.device, event.event_type), encode(event)


def incoming(event: EventBase) -> Incoming:
    """The event as the ingest worker receives it."""
    return Incoming(*wire(event))


def count(session: Session, model: type) -> int:
    """How many rows a table holds."""
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def admit(
    session: Session,
    detainee_id: str,
    *,
    site: str = "rabat-1",
    wing: str = "wing-a",
    literate: bool = True,
) -> None:
    """A detainee in the roster with a prison number and names made from their id."""
    roster.admit(
        session,
        detainee_id=detainee_id,
        prison_number=f"P-{detainee_id}",
        name_latin=f"Name {detainee_id}",
        name_arabic="اسم",
        site=site,
        wing=wing,
        literate=literate,
    )
    session.flush()
