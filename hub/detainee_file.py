"""Batched queries behind the staff's detainee file page and the partners' referral list.

The file must open in well under half a second among 100,000 people, so every list here is
limited and each asks the database once for all its rows (programme titles, user names,
questionnaire wordings), never once per row. Questionnaire versions never change once
imported, so their parsed wording is kept per process, keyed by the file's digest.

Which permission covers which timeline entry is decided here too (``permission_for``): the
timeline mixes every area of work, and each entry is shown only to roles that may see that
area (a wing officer sees movements, not plans or profile facts).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session, defer

from hub import profiles
from hub.audit import Trail
from hub.detainees import HEALTH_FORMS
from hub.models import (
    Consent,
    Detainee,
    Event,
    ProfileFact,
    Programme,
    QuestionnaireVersion,
    User,
    as_utc,
)
from protocol.questionnaire import SELECT_MULTIPLE, SELECT_ONE, FormDefinition, FormError

RESPONSES_SHOWN = 20
PARTNERS_SHOWN = 200
_CACHE_LIMIT = 256

# Timeline actions (audit actions and kiosk event types) by the permission that covers them;
# exact names first, then the part before the first dot. Anything else: detainees.read.
_EXACT = {
    "enrolment.captured": "detainees.read",  # biometric enrolment at a station, not training
    "identification": "detainees.read",
}
_AREAS = {
    "profile": "profiles.read",
    "plan": "plans.read",
    "consent": "plans.read",
    "referral": "plans.read",
    "enrolment": "training.read",
    "attendance": "training.read",
    "training": "training.read",
    "programme": "training.read",
    "movement": "movements.read",
    "questionnaire": "questionnaires.read",
    "health": "health.read",
}


def permission_for(action: str) -> str:
    """The permission a user needs to see a timeline entry of this kind."""
    if action in _EXACT:
        return _EXACT[action]
    return _AREAS.get(action.split(".", 1)[0], "detainees.read")


# --- questionnaires --------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    question: str  # the field name
    label: str  # the question as the form words it, else its name
    value: str  # choices by their labels


@dataclass(frozen=True)
class Response:
    """One questionnaire a person sent from a kiosk."""

    event_id: str
    form_id: str
    form_version: str
    at: datetime
    kiosk: str  # "site/device"
    language: str
    answers: dict[str, Any]

    @property
    def health(self) -> bool:
        return self.form_id in HEALTH_FORMS


def responses(
    session: Session, detainee_id: str, *, include_health: bool, limit: int = RESPONSES_SHOWN
) -> list[Response]:
    """The person's newest questionnaire responses; health forms only if ``include_health``
    (left out by the database, so they do not even leave it for other roles)."""
    query = select(Event).where(
        Event.subject == detainee_id, Event.type == "questionnaire.response"
    )
    if not include_health:
        form = Event.body["form_id"].as_string()
        query = query.where(form.not_in(sorted(HEALTH_FORMS)))
    found = []
    for event in session.scalars(query.order_by(Event.at.desc()).limit(limit)):
        body = event.body
        found.append(
            Response(
                event_id=event.id,
                form_id=str(body.get("form_id", "")),
                form_version=str(body.get("form_version", "")),
                at=as_utc(event.at),
                kiosk=f"{event.site}/{event.device}",
                language=str(body.get("language", "")),
                answers=dict(body.get("answers") or {}),
            )
        )
    return found


_DEFINITIONS: dict[tuple[str, str, str], FormDefinition | None] = {}


def definitions(
    session: Session, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], FormDefinition | None]:
    """The wording of these (form id, version) pairs; None for a version the hub does not
    hold or cannot read. One small query, and a second only for wordings not yet parsed."""
    wanted = sorted({key for key in keys if key[0] and key[1]})
    if not wanted:
        return {}
    pair = tuple_(QuestionnaireVersion.form_id, QuestionnaireVersion.version)
    digests = {
        (form_id, version): digest
        for form_id, version, digest in session.execute(
            select(
                QuestionnaireVersion.form_id,
                QuestionnaireVersion.version,
                QuestionnaireVersion.xlsx_sha256,
            ).where(pair.in_(wanted))
        )
    }
    missing = [key for key, digest in digests.items() if (*key, digest) not in _DEFINITIONS]
    if missing:
        if len(_DEFINITIONS) > _CACHE_LIMIT:
            _DEFINITIONS.clear()
        rows = session.execute(
            select(
                QuestionnaireVersion.form_id,
                QuestionnaireVersion.version,
                QuestionnaireVersion.xlsx_sha256,
                QuestionnaireVersion.survey,
                QuestionnaireVersion.titles,
            ).where(pair.in_(missing))
        )
        for form_id, version, digest, survey, titles in rows:
            try:
                parsed: FormDefinition | None = FormDefinition.from_survey(
                    survey, titles, form_id=form_id, version=version
                )
            except FormError:
                parsed = None
            _DEFINITIONS[(form_id, version, digest)] = parsed
    return {
        key: _DEFINITIONS.get((*key, digests[key])) if key in digests else None for key in wanted
    }


def _values(value: Any) -> list[str]:
    """An answer as its parts: a multiple choice arrives as a list or as "a b c"."""
    if isinstance(value, list):
        return [str(v) for v in value]
    return str(value).split() if isinstance(value, str) else [str(value)]


def _choice_text(definition: FormDefinition, question: str, value: Any, language: str) -> str:
    asked = definition.get(question)
    if asked is None or asked.type not in (SELECT_ONE, SELECT_MULTIPLE) or not asked.choices:
        return _plain(value)
    labels = {choice.name: choice.labels for choice in asked.choices}
    return ", ".join(
        definition.text(labels[name], language) if name in labels else name
        for name in _values(value)
    )


def answers_worded(
    definition: FormDefinition | None, answers: dict[str, Any], language: str
) -> list[Answer]:
    """The answers in the form's order, each question and choice in ``language`` (the form's
    own fallbacks otherwise); without the form's wording, the field names and raw values."""
    if definition is None:
        return [Answer(name, name, _plain(value)) for name, value in answers.items()]
    shown: list[Answer] = []
    for question in definition.questions:
        if question.name in answers:
            label = definition.text(question.labels, language) or question.name
            value = _choice_text(definition, question.name, answers[question.name], language)
            shown.append(Answer(question.name, label, value))
    known = {answer.question for answer in shown}
    shown += [Answer(n, n, _plain(v)) for n, v in answers.items() if n not in known]
    return shown


def _plain(value: Any) -> str:
    return ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)


def choice_label(
    definition: FormDefinition | None, question: str | None, value: Any, language: str
) -> str | None:
    """A profile fact's value as the question's choice label, if it is one of its choices."""
    if definition is None or question is None:
        return None
    asked = definition.get(question)
    if asked is None or not asked.choices:
        return None
    for choice in asked.choices:
        if choice.name == str(value):
            return definition.text(choice.labels, language)
    return None


# --- names and titles, in one query each ------------------------------------------------------


def user_names(session: Session, actors: Iterable[str]) -> dict[str, str]:
    """``user:<id>`` actors by the user's name."""
    ids = sorted({actor.removeprefix("user:") for actor in actors if actor.startswith("user:")})
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.name).where(User.id.in_(ids)))
    return {f"user:{user_id}": name for user_id, name in rows}


def programme_titles(session: Session, ids: Iterable[str]) -> dict[str, dict[str, str]]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = session.execute(select(Programme.id, Programme.titles).where(Programme.id.in_(wanted)))
    return {programme_id: dict(titles) for programme_id, titles in rows}


# --- profile facts ---------------------------------------------------------------------------


def verify(session: Session, trail: Trail, detainee_id: str, fact_id: int) -> ProfileFact:
    """A member of staff confirms one of this person's facts, as the API's verify does: the
    fact becomes staff-verified (the old row kept, superseded) and the audit log says who.
    LookupError if the fact is not this person's; ValueError if it was already replaced."""
    old = session.get(ProfileFact, fact_id)
    if old is None or old.detainee_id != detainee_id:
        raise LookupError(f"no profile fact {fact_id} in this file")
    user = trail.actor.removeprefix("user:")
    new = profiles.verify_fact(session, fact_id, user=user)
    details = {
        "fact": old.fact,
        "old": old.value,
        "new": new.value,
        "provenance": new.provenance,
        "replaces": fact_id,
    }
    trail.record(session, "profile.verify", detainee_id, details)
    return new


# --- consents and referral files -------------------------------------------------------------


def current_consents(session: Session, detainee_id: str) -> list[Consent]:
    """The consents in force for this person, one per partner."""
    return list(
        session.scalars(
            select(Consent)
            .where(Consent.detainee_id == detainee_id, Consent.withdrawn_at.is_(None))
            .order_by(Consent.partner, Consent.id)
        )
    )


def partners_with_consent(session: Session, site: str | None = None) -> list[str]:
    """Partners that at least one person (of ``site``, if given) shares a file with now."""
    query = select(Consent.partner).where(Consent.withdrawn_at.is_(None))
    if site is not None:
        query = query.join(Detainee, Detainee.id == Consent.detainee_id).where(
            Detainee.site == site
        )
    return list(session.scalars(query.distinct().order_by(Consent.partner).limit(PARTNERS_SHOWN)))


def consented_files(
    session: Session, partner: str, *, site: str | None = None, offset: int = 0, limit: int = 50
) -> tuple[int, list[tuple[Consent, Detainee]]]:
    """One page of the people sharing their file with ``partner`` now (the same people as
    ``hub.plans.consented_detainees``, in the same order), with the consent in force and the
    person; and how many there are in all. ``site`` keeps one establishment's people."""
    current = (Consent.partner == partner, Consent.withdrawn_at.is_(None))
    query = select(Consent, Detainee).join(Detainee, Detainee.id == Consent.detainee_id)
    counted = select(func.count(func.distinct(Consent.detainee_id))).where(*current)
    if site is not None:
        query = query.where(Detainee.site == site)
        counted = counted.join(Detainee, Detainee.id == Consent.detainee_id).where(
            Detainee.site == site
        )
    total = int(session.scalar(counted) or 0)
    rows = session.execute(
        query.options(defer(Detainee.photo_thumbnail))
        .where(*current)
        .order_by(Consent.detainee_id, Consent.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return total, [(consent, person) for consent, person in rows]
