"""Reintegration plans, consent to share with partners, and the partner's referral file
(PDF or CSV) holding only what the person consented to share, never health data."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask import Response
from pydantic import BaseModel, ConfigDict, Field

from hub import plans, referral_export
from hub.api.core import Api, ApiError, Call
from hub.api.schemas import Out, out

api = Api()


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    goals: list[str]
    steps: list[plans.Step]
    referrals: list[plans.Referral]


class PlanOut(Out):
    detainee_id: str
    goals: list[str]
    steps: list[plans.Step]
    referrals: list[plans.Referral]
    updated_by: str
    updated_at: datetime


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    partner: str
    sections: list[str] = Field(description=f"any of: {', '.join(plans.SECTIONS)}")


class ConsentOut(Out):
    id: int
    detainee_id: str
    partner: str
    sections: list[str]
    given_at: datetime
    recorded_by: str
    withdrawn_at: datetime | None


class ReferralQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    language: Literal["fr", "ar", "en"] = "fr"


@api.route(
    "GET",
    "/detainees/<detainee_id>/plan",
    permission="plans.read",
    summary="The person's reintegration plan",
    tag="reintegration",
    response=PlanOut,
)
def get_plan(call: Call, detainee_id: str) -> PlanOut:
    call.detainee(detainee_id)
    plan = plans.get_plan(call.session, detainee_id)
    if plan is None:
        raise ApiError(404, "no plan has been written for this person yet")
    return out(PlanOut, plan)


@api.route(
    "PUT",
    "/detainees/<detainee_id>/plan",
    permission="plans.write",
    summary="Write the plan: goals, steps, partner referrals (as one document)",
    tag="reintegration",
    body=PlanIn,
    response=PlanOut,
)
def put_plan(call: Call, detainee_id: str, body: PlanIn) -> PlanOut:
    call.detainee(detainee_id)
    plan = plans.put_plan(
        call.session,
        call.trail,
        detainee_id,
        goals=body.goals,
        steps=body.steps,
        referrals=body.referrals,
    )
    return out(PlanOut, plan)


@api.route(
    "POST",
    "/detainees/<detainee_id>/consents",
    permission="plans.write",
    summary="Record what the person agrees to share with one partner (never health)",
    tag="reintegration",
    body=ConsentIn,
    response=ConsentOut,
    status=201,
)
def give(call: Call, detainee_id: str, body: ConsentIn) -> ConsentOut:
    call.detainee(detainee_id)
    consent = plans.give_consent(call.session, call.trail, detainee_id, body.partner, body.sections)
    return out(ConsentOut, consent)


@api.route(
    "DELETE",
    "/detainees/<detainee_id>/consents/<partner>",
    permission="plans.write",
    summary="Withdraw the consent given to a partner",
    tag="reintegration",
    response=ConsentOut,
)
def withdraw(call: Call, detainee_id: str, partner: str) -> ConsentOut:
    call.detainee(detainee_id)
    return out(ConsentOut, plans.withdraw_consent(call.session, call.trail, detainee_id, partner))


def _partner(call: Call, partner: str) -> None:
    """A partner user sees only its own organisation's referrals."""
    if call.user.role == "partner" and call.user.partner != partner:
        raise ApiError(403, "you can only see your own organisation's referrals")


@api.route(
    "GET",
    "/referrals/<partner>",
    permission="referrals.read",
    summary="Masar ids of the people who consented to share with this partner",
    tag="reintegration",
    response=list[str],
)
def consented(call: Call, partner: str) -> list[str]:
    _partner(call, partner)
    return plans.consented_detainees(call.session, partner)


def _file(call: Call, partner: str, detainee_id: str) -> referral_export.ReferralFile:
    _partner(call, partner)
    return referral_export.referral_file(call.session, detainee_id, partner, trail=call.trail)


@api.route(
    "GET",
    "/referrals/<partner>/<detainee_id>/file.pdf",
    permission="referrals.read",
    summary="The referral file as PDF: only the consented sections",
    tag="reintegration",
    query=ReferralQuery,
    produces="application/pdf",
)
def referral_pdf(call: Call, partner: str, detainee_id: str, query: ReferralQuery) -> Response:
    document = referral_export.to_pdf(_file(call, partner, detainee_id), query.language)
    return Response(
        document,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="masar-{detainee_id}.pdf"'},
    )


@api.route(
    "GET",
    "/referrals/<partner>/<detainee_id>/file.csv",
    permission="referrals.read",
    summary="The referral file as CSV (UTF-8): only the consented sections",
    tag="reintegration",
    query=ReferralQuery,
    produces="text/csv",
)
def referral_csv(call: Call, partner: str, detainee_id: str, query: ReferralQuery) -> Response:
    document = referral_export.to_csv(_file(call, partner, detainee_id))
    return Response(
        document,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="masar-{detainee_id}.csv"'},
    )
