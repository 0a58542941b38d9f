"""A questionnaire response from a kiosk becomes profile facts, each self-declared and
traced to the kiosk, the form version, the question and the event. A health form (PHQ-9,
GAD-7) also becomes a scored screening, and an alert when it is urgent (``hub.health``).
For the whole batch, hub.ingest then drops the drafts the responses finish
(hub.drafts.drop_answered) and tells the people's wing kiosks that their file changed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from hub.health import HEALTH_FORMS, HealthError, record_screening
from hub.models import ProfileFact
from hub.profiles import FactSource, fact_row
from hub.questionnaires.library import find_version
from protocol.events import EventBase, QuestionnaireResponseEvent


def _values(answer: Any, question_type: str) -> list[Any]:
    """XForms send select_multiple answers as one space-separated string."""
    if isinstance(answer, list):
        return answer
    if question_type.startswith("select_multiple") and isinstance(answer, str):
        return answer.split()
    return [answer]


# A stored version never changes (a different file needs a new version), so what its answers
# map to can be kept for the life of the process instead of loaded for every response.
_MAPPINGS: dict[tuple[str, str, str], list[dict[str, Any]]] = {}


def _fact_mappings(session: Session, form_id: str, version: str) -> list[dict[str, Any]] | None:
    key = (str(session.get_bind().engine.url), form_id, version)
    if key not in _MAPPINGS:
        stored = find_version(session, form_id, version)
        if stored is None:
            return None
        _MAPPINGS[key] = list(stored.facts)
    return _MAPPINGS[key]


def apply_questionnaire_response(session: Session, event: EventBase) -> None:
    if not isinstance(event, QuestionnaireResponseEvent):
        raise TypeError(f"not a questionnaire response: {event.event_type}")
    if event.subject is None:
        raise ValueError("a questionnaire response must name its detainee (subject)")
    body = event.body
    facts = _fact_mappings(session, body.form_id, body.form_version)
    if facts is None:
        raise ValueError(
            f"questionnaire {body.form_id} version {body.form_version} is not on the hub; "
            "import it, then replay the parked message"
        )
    rows: list[dict[str, Any]] = []
    for mapping in facts:
        answer = body.answers.get(mapping["name"])
        if answer is None or answer == "":
            continue  # skipped or not relevant
        origin = FactSource(
            "self_declared",
            f"kiosk:{event.site}/{event.device}",
            body.form_id,
            body.form_version,
            mapping["name"],
            event.id,
        )
        rows += [
            fact_row(event.subject, mapping["fact"], value, origin)
            for value in _values(answer, mapping["type"])
        ]
    if rows:  # one statement for the whole response, no ids read back
        session.execute(insert(ProfileFact), rows)
    if body.form_id in HEALTH_FORMS:
        try:
            record_screening(
                session,
                detainee_id=event.subject,
                instrument_form_id=body.form_id,
                answers=body.answers,
                source=f"kiosk:{event.site}/{event.device}",
                taken_at=body.completed_at,
                form_version=body.form_version,
                event_id=event.id,
            )
        except LookupError as error:
            raise HealthError(
                f"{error.args[0]} on the hub, so the kiosk's {body.form_id} screening cannot be "
                "recorded; add the record, then replay the parked message"
            ) from None
