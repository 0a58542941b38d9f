"""A person's subject-access export (hub.subject_access): administrators only, audited."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from hub import subject_access
from hub.api.core import Api, Call

api = Api()


class HealthOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    screenings: list[dict[str, Any]]
    alerts: list[dict[str, Any]]


class SubjectAccessOut(BaseModel):
    """Every section of ``hub.subject_access.SubjectAccessExport``; a new one must be added
    here too (extra keys are refused, so the API test says so)."""

    model_config = ConfigDict(extra="forbid")
    format: str
    notice: str
    detainee_id: str
    generated_at: str
    generated_by: str
    identity: dict[str, Any]
    badges: list[str]
    biometric_templates: list[dict[str, Any]]
    profile_facts: list[dict[str, Any]]
    questionnaire_responses: list[dict[str, Any]]
    questionnaire_drafts: list[dict[str, Any]]
    questionnaire_assignments: list[dict[str, Any]]
    health: HealthOut
    training: list[dict[str, Any]]
    movements: list[dict[str, Any]]
    scheduled_movements: list[dict[str, Any]]
    plan: dict[str, Any] | None
    consents: list[dict[str, Any]]
    kiosk_events: list[dict[str, Any]]
    audit_entries: list[dict[str, Any]]
    audit_entry_id: int


@api.route(
    "GET",
    "/detainees/<detainee_id>/subject-access",
    permission="subject_access.export",
    summary="Everything held on the person, health data included, templates described only "
    "(the export is audited, and so is its health read)",
    tag="data protection",
    response=SubjectAccessOut,
)
def subject_access_export(call: Call, detainee_id: str) -> SubjectAccessOut:
    call.detainee(detainee_id)  # an administrator tied to a site sees only its people
    document = subject_access.export(call.session, call.trail, detainee_id)
    return SubjectAccessOut.model_validate(document)
