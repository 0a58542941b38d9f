"""Health screenings and urgent alerts: health staff only. Every read is written to the
audit log, and so is every refused attempt (see hub/api/core.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from hub import health
from hub.api.core import Api, Call
from hub.api.schemas import Out, out
from hub.models import HealthAlert

api = Api()


class ScreeningOut(Out):
    id: int
    detainee_id: str
    instrument: str
    form_version: str | None
    score: int
    band: str
    items: dict[str, Any]
    source: str
    taken_at: datetime


class ScreeningIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    instrument: str = Field(description="phq9 or gad7")
    answers: dict[str, int]
    taken_at: AwareDatetime


class AlertOut(Out):
    id: int
    detainee_id: str
    screening_id: int
    reason: str
    raised_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    note: str | None


class AcknowledgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, max_length=2000)


@api.route(
    "GET",
    "/detainees/<detainee_id>/screenings",
    permission="health.read",
    summary="The person's screenings with scores and bands (the read is audited)",
    tag="health",
    response=list[ScreeningOut],
)
def screenings(call: Call, detainee_id: str) -> list[ScreeningOut]:
    call.detainee(detainee_id)
    found = health.screenings_of(call.session, detainee_id)
    call.trail.record(
        call.session, "health.read", detainee_id, {"what": "screenings", "count": len(found)}
    )
    return [out(ScreeningOut, s) for s in found]


@api.route(
    "POST",
    "/detainees/<detainee_id>/screenings",
    permission="health.write",
    summary="Enter a screening taken on paper; an urgent score raises an alert",
    tag="health",
    body=ScreeningIn,
    response=ScreeningOut,
    status=201,
)
def enter_screening(call: Call, detainee_id: str, body: ScreeningIn) -> ScreeningOut:
    call.detainee(detainee_id)
    screening = health.record_screening(
        call.session,
        detainee_id=detainee_id,
        instrument_form_id=body.instrument,
        answers=body.answers,
        source=call.trail.actor,
        taken_at=body.taken_at,
        trail=call.trail,
    )
    return out(ScreeningOut, screening)


@api.route(
    "GET",
    "/health/alerts",
    permission="health.read",
    summary="Open urgent alerts, newest first (the read is audited)",
    tag="health",
    response=list[AlertOut],
)
def open_alerts(call: Call) -> list[AlertOut]:
    found = health.open_alerts(call.session, call.user.site)
    call.trail.record(
        call.session, "health.read", None, {"what": "open alerts", "count": len(found)}
    )
    return [out(AlertOut, a) for a in found]


@api.route(
    "POST",
    "/health/alerts/<int:alert_id>/acknowledge",
    permission="health.write",
    summary="Take charge of an alert: who and when are recorded",
    tag="health",
    body=AcknowledgeIn,
    response=AlertOut,
)
def acknowledge(call: Call, alert_id: int, body: AcknowledgeIn) -> AlertOut:
    alert = call.session.get(HealthAlert, alert_id)
    if alert is not None:
        call.detainee(alert.detainee_id)
    return out(AlertOut, health.acknowledge_alert(call.session, call.trail, alert_id, body.note))
