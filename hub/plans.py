"""Reintegration plans (goals, steps, partner referrals) and what a detainee consents to share
with each partner organisation.

A partner sees a person's file only through a current consent, and only the sections named
in it (`hub.referral_export`). There is no health section: health and psychology data stay
with the health team, whatever anyone asks. A referral needs a current consent for its
partner, so that nobody is sent to a partner who may not see their file. Consents are never
deleted: a new one for the same partner, or a withdrawal, closes the old one, and the audit
log says who did it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import roster
from hub.audit import Trail
from hub.models import Consent, Detainee, as_utc
from hub.models import Plan as PlanRow
from protocol.ids import utc_now

SECTIONS = (
    "identity",
    "education",
    "qualifications",
    "work_history",
    "skills",
    "training",
    "wishes",
    "plan",
)
MAX_TEXT = 2000
MAX_ITEMS = 50
MAX_PARTNER = 128  # consents.partner and users.partner

ReferralState = Literal["proposed", "sent", "accepted", "declined"]


class PlanError(ValueError):
    """The plan or consent cannot be recorded as asked; the message says why and what to do."""


class Step(BaseModel):
    """One step towards the goals; ``due_on`` may be left open."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    text: str
    due_on: date | None = None
    done: bool = False


class Referral(BaseModel):
    """A partner organisation (its key, as in ``User.partner``) asked to do something."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    partner: str
    purpose: str
    state: ReferralState = "proposed"


@dataclass(frozen=True)
class Plan:
    detainee_id: str
    goals: tuple[str, ...]
    steps: tuple[Step, ...]
    referrals: tuple[Referral, ...]
    updated_by: str
    updated_at: datetime


def _detainee(session: Session, detainee_id: str, *, lock: bool = False) -> Detainee:
    """The person, locked when asked so that two changes to their plan or consents queue."""
    detainee = session.get(Detainee, detainee_id, with_for_update=lock)
    if detainee is None:
        raise LookupError(f"no detainee {detainee_id!r}")
    return detainee


def _text(value: str, what: str) -> str:
    text = value.strip()
    if not text:
        raise PlanError(f"{what} is empty; write it or remove it")
    if len(text) > MAX_TEXT:
        raise PlanError(f"{what} is {len(text)} characters long; shorten it to {MAX_TEXT} at most")
    return text


def _count(items: Sequence[Any], what: str) -> None:
    if len(items) > MAX_ITEMS:
        raise PlanError(f"the plan has {len(items)} {what}; keep {MAX_ITEMS} at most")


def _partner(partner: str, what: str = "the consent") -> str:
    key = partner.strip()
    if not key or len(key) > MAX_PARTNER:
        raise PlanError(
            f"{what} needs the partner organisation's key (1 to {MAX_PARTNER} characters)"
        )
    return key


def _as_plan(row: PlanRow) -> Plan:
    return Plan(
        detainee_id=row.detainee_id,
        goals=tuple(row.goals),
        steps=tuple(Step.model_validate(step) for step in row.steps),
        referrals=tuple(Referral.model_validate(referral) for referral in row.referrals),
        updated_by=row.updated_by,
        updated_at=as_utc(row.updated_at),
    )


def put_plan(
    session: Session,
    trail: Trail,
    detainee_id: str,
    *,
    goals: list[str],
    steps: list[Step],
    referrals: list[Referral],
) -> Plan:
    """Replace the person's plan as a whole (the social worker edits it as one document).

    The audit entry keeps the plan before and after, so the timeline shows what changed.
    Saving the same plan again changes nothing and writes no entry.
    """
    detainee = _detainee(session, detainee_id, lock=True)
    for what, items in (("goals", goals), ("steps", steps), ("referrals", referrals)):
        _count(items, what)
    clean_goals = [_text(goal, f"goal {n}") for n, goal in enumerate(goals, 1)]
    clean_steps = [
        step.model_copy(update={"text": _text(step.text, f"step {n}")})
        for n, step in enumerate(steps, 1)
    ]
    clean_referrals = []
    for n, referral in enumerate(referrals, 1):
        partner = _partner(referral.partner, f"referral {n}")
        purpose = _text(referral.purpose, f"the purpose of referral {n}")
        if current_consent(session, detainee_id, partner) is None:
            raise PlanError(
                f"{detainee.name_latin} has not consented to share anything with partner "
                f"{partner}; record their consent first"
            )
        clean_referrals.append(referral.model_copy(update={"partner": partner, "purpose": purpose}))
    step_rows = [step.model_dump(mode="json") for step in clean_steps]
    referral_rows = [referral.model_dump(mode="json") for referral in clean_referrals]
    after = {"goals": clean_goals, "steps": step_rows, "referrals": referral_rows}
    row = session.get(PlanRow, detainee_id)
    before = (
        None
        if row is None
        else {"goals": row.goals, "steps": row.steps, "referrals": row.referrals}
    )
    if row is not None and before == after:
        return _as_plan(row)
    if row is None:
        row = PlanRow(detainee_id=detainee_id)
        session.add(row)
    row.goals, row.steps, row.referrals = clean_goals, step_rows, referral_rows
    row.updated_by, row.updated_at = trail.actor, utc_now()
    session.flush()
    trail.record(session, "plan.put", detainee_id, {"before": before, "after": after})
    if detainee.wing is not None:  # the person sees their plan's steps at the wing's kiosks
        roster.note_change(session, detainee.site, detainee.wing, "detainee", detainee_id)
    return _as_plan(row)


def get_plan(session: Session, detainee_id: str) -> Plan | None:
    row = session.get(PlanRow, detainee_id)
    return None if row is None else _as_plan(row)


def plans_of(session: Session, detainee_ids: Sequence[str]) -> dict[str, Plan]:
    """The plans of those of these people who have one (the kiosks' sync)."""
    rows = session.scalars(select(PlanRow).where(PlanRow.detainee_id.in_(list(detainee_ids))))
    return {row.detainee_id: _as_plan(row) for row in rows}


# --- consent ---------------------------------------------------------------------------------


def _sections(sections: Iterable[str]) -> list[str]:
    """The asked sections in the order of SECTIONS; anything else, health above all, is refused."""
    asked = set()
    for name in sections:
        if name not in SECTIONS:
            raise PlanError(
                f"{name!r} is not a section a partner can receive: health data is never shared "
                f"with partners. Choose from {', '.join(SECTIONS)}"
            )
        asked.add(name)
    if not asked:
        raise PlanError(
            "a consent must name at least one section; to share nothing, withdraw the consent"
        )
    return [name for name in SECTIONS if name in asked]


def current_consent(session: Session, detainee_id: str, partner: str) -> Consent | None:
    """The consent in force for this partner, if any (older ones are kept, withdrawn)."""
    return session.scalars(
        select(Consent)
        .where(
            Consent.detainee_id == detainee_id,
            Consent.partner == partner,
            Consent.withdrawn_at.is_(None),
        )
        .order_by(Consent.id.desc())
        .limit(1)
    ).first()


def _close(consent: Consent, trail: Trail) -> None:
    consent.withdrawn_at, consent.withdrawn_by = utc_now(), trail.actor


def give_consent(
    session: Session, trail: Trail, detainee_id: str, partner: str, sections: Iterable[str]
) -> Consent:
    """Record what the person agrees to share with one partner. It replaces any consent in
    force for that partner (the old one is kept, marked withdrawn)."""
    _detainee(session, detainee_id, lock=True)
    key = _partner(partner)
    chosen = _sections(sections)
    old = current_consent(session, detainee_id, key)
    if old is not None:
        _close(old, trail)
    consent = Consent(
        detainee_id=detainee_id,
        partner=key,
        sections=chosen,
        given_at=utc_now(),
        recorded_by=trail.actor,
    )
    session.add(consent)
    session.flush()
    replaced = None if old is None else {"consent_id": old.id, "sections": old.sections}
    trail.record(
        session,
        "consent.give",
        detainee_id,
        {"consent_id": consent.id, "partner": key, "sections": chosen, "replaces": replaced},
    )
    return consent


def withdraw_consent(session: Session, trail: Trail, detainee_id: str, partner: str) -> Consent:
    """The person no longer shares anything with this partner. Always possible, even while
    the plan still refers them there (the plan then cannot be saved until that is fixed)."""
    detainee = _detainee(session, detainee_id, lock=True)
    key = _partner(partner)
    consent = current_consent(session, detainee_id, key)
    if consent is None:
        raise PlanError(
            f"{detainee.name_latin} has no consent in force for partner {key}; "
            "there is nothing to withdraw"
        )
    _close(consent, trail)
    session.flush()
    trail.record(
        session,
        "consent.withdraw",
        detainee_id,
        {"consent_id": consent.id, "partner": key, "sections": consent.sections},
    )
    return consent


def consented_detainees(session: Session, partner: str) -> list[str]:
    """The people whose file this partner may see now (sorted ids)."""
    return list(
        session.scalars(
            select(Consent.detainee_id)
            .where(Consent.partner == partner, Consent.withdrawn_at.is_(None))
            .distinct()
            .order_by(Consent.detainee_id)
        )
    )
