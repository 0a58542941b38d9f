"""Profile facts with provenance: self-declared at a kiosk, verified by staff, or backed by a
document. A verification or correction adds a row that supersedes the old one, so the
history keeps both and says who did what. A person sees their facts at their wing's kiosks,
so each new fact notes them in the kiosks' change feed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import roster
from hub.models import Detainee, ProfileFact
from hub.questionnaires import FACTS
from protocol.ids import utc_now

Provenance = Literal["self_declared", "staff_verified", "document"]


@dataclass(frozen=True)
class FactSource:
    provenance: Provenance
    source: str  # "kiosk:<site>/<device>" or "user:<id>"
    form_id: str | None = None
    form_version: str | None = None
    question: str | None = None
    event_id: str | None = None


def fact_row(detainee_id: str, fact: str, value: Any, origin: FactSource) -> dict[str, Any]:
    """A ``profile_facts`` row, checked, for an insert of many facts at once (ingest)."""
    if fact not in FACTS:
        raise ValueError(f"unknown profile fact {fact!r}; known: {', '.join(FACTS)}")
    return {
        "detainee_id": detainee_id,
        "fact": fact,
        "value": value,
        "provenance": origin.provenance,
        "source": origin.source,
        "form_id": origin.form_id,
        "form_version": origin.form_version,
        "question": origin.question,
        "event_id": origin.event_id,
        "recorded_at": utc_now(),
    }


def record_fact(
    session: Session, detainee_id: str, fact: str, value: Any, origin: FactSource
) -> ProfileFact:
    """Add one fact and return its row (with its id)."""
    row = ProfileFact(**fact_row(detainee_id, fact, value, origin))
    session.add(row)
    session.flush()
    detainee = session.get(Detainee, detainee_id)
    if detainee is not None and detainee.wing is not None:
        roster.note_change(session, detainee.site, detainee.wing, "detainee", detainee_id)
    return row


def verify_fact(
    session: Session, fact_id: int, *, user: str, value: Any = None, document: bool = False
) -> ProfileFact:
    """Staff confirm a fact (``value`` None) or correct it; the old row is kept, superseded."""
    old = session.get(ProfileFact, fact_id, with_for_update=True)
    if old is None:
        raise LookupError(f"no profile fact {fact_id}")
    if old.superseded_by is not None:
        raise ValueError(f"profile fact {fact_id} was already superseded by {old.superseded_by}")
    new = record_fact(
        session,
        old.detainee_id,
        old.fact,
        old.value if value is None else value,
        FactSource(
            "document" if document else "staff_verified",
            f"user:{user}",
            old.form_id,
            old.form_version,
            old.question,
        ),
    )
    old.superseded_by = new.id
    return new


def current_facts(session: Session, detainee_id: str) -> list[ProfileFact]:
    """What is believed now (superseded rows are history)."""
    return list(
        session.scalars(
            select(ProfileFact)
            .where(ProfileFact.detainee_id == detainee_id, ProfileFact.superseded_by.is_(None))
            .order_by(ProfileFact.fact, ProfileFact.id)
        )
    )


def current_facts_many(
    session: Session, detainee_ids: Sequence[str]
) -> dict[str, list[ProfileFact]]:
    """``current_facts`` for many people at once (the kiosks' sync)."""
    found: dict[str, list[ProfileFact]] = {detainee_id: [] for detainee_id in detainee_ids}
    for fact in session.scalars(
        select(ProfileFact)
        .where(ProfileFact.detainee_id.in_(list(found)), ProfileFact.superseded_by.is_(None))
        .order_by(ProfileFact.fact, ProfileFact.id)
    ):
        found[fact.detainee_id].append(fact)
    return found


def history(session: Session, detainee_id: str) -> list[ProfileFact]:
    return list(
        session.scalars(
            select(ProfileFact)
            .where(ProfileFact.detainee_id == detainee_id)
            .order_by(ProfileFact.id)
        )
    )
