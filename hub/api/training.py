"""Training: programmes, enrolment requests and decisions, attendance, completion, and the
programmes ranked for one person with the reasons."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from hub import training
from hub.api.core import Api, ApiError, Call
from hub.api.schemas import Out, out
from hub.models import Enrolment, Programme

api = Api()
Code = Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,64}$")]


class ProgrammeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    titles: dict[str, str] = Field(description='{"fr": …, "ar": …, "tzm": …}; "fr" required')
    provider: str
    site: Code
    capacity: int
    starts_on: date
    ends_on: date
    min_isced: int | None = None
    requires_literacy: bool = False
    min_days_before_release: int | None = None
    isco_codes: list[str] = Field(default_factory=list)
    skills: list[str] = Field(default_factory=list)
    active: bool = True


class ProgrammeOut(Out):
    id: str
    titles: dict[str, str]
    provider: str
    site: str
    capacity: int
    starts_on: date
    ends_on: date
    min_isced: int | None
    requires_literacy: bool
    min_days_before_release: int | None
    isco_codes: list[str]
    skills: list[str]
    active: bool


class EnrolmentOut(Out):
    id: int
    programme_id: str
    detainee_id: str
    state: str
    reason: str | None
    requested_at: datetime
    requested_via: str
    decided_by: str | None
    decided_at: datetime | None
    completed_at: datetime | None


class RequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    detainee_id: str
    note: str | None = Field(default=None, max_length=2000)


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: training.Decision
    reason: str | None = Field(default=None, max_length=2000)


class AttendanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    day: date
    present: bool


class CompletionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: training.Outcome


class SheetRowOut(BaseModel):
    enrolment_id: int
    detainee_id: str
    name_latin: str
    name_arabic: str
    marks: dict[date, bool]
    days_present: int


class SheetOut(BaseModel):
    programme_id: str
    days: list[date]
    rows: list[SheetRowOut]


class RankedOut(BaseModel):
    rank: int
    eligible: bool
    score: int
    places_left: int
    reasons: list[str] = Field(description="why this rank, in plain words")
    programme: ProgrammeOut


def _programme_here(call: Call, programme_id: str) -> Programme:
    programme = training.get_programme(call.session, programme_id)
    if call.user.site is not None and programme.site != call.user.site:
        raise ApiError(404, f"no programme {programme_id!r}")
    return programme


def _enrolment(call: Call, enrolment_id: int) -> Enrolment:
    enrolment = training.get_enrolment(call.session, enrolment_id)
    call.detainee(enrolment.detainee_id)
    return enrolment


@api.route(
    "GET",
    "/programmes",
    permission="training.read",
    summary="Programmes of your establishment (all for hub-wide users)",
    tag="training",
    response=list[ProgrammeOut],
)
def list_programmes(call: Call) -> list[ProgrammeOut]:
    return [out(ProgrammeOut, p) for p in training.programmes(call.session, call.user.site)]


@api.route(
    "PUT",
    "/programmes/<programme_id>",
    permission="training.manage",
    summary="Create or change a programme; kiosks of its establishment receive it",
    tag="training",
    body=ProgrammeIn,
    response=ProgrammeOut,
)
def put_programme(call: Call, programme_id: str, body: ProgrammeIn) -> ProgrammeOut:
    call.own_site(body.site)
    programme = training.put_programme(
        call.session, call.trail, programme_id=programme_id, **body.model_dump()
    )
    return out(ProgrammeOut, programme)


@api.route(
    "GET",
    "/programmes/<programme_id>/queue",
    permission="training.read",
    summary="Requests and waiting list, oldest first",
    tag="training",
    response=list[EnrolmentOut],
)
def queue(call: Call, programme_id: str) -> list[EnrolmentOut]:
    _programme_here(call, programme_id)
    return [out(EnrolmentOut, e) for e in training.programme_queue(call.session, programme_id)]


@api.route(
    "POST",
    "/programmes/<programme_id>/requests",
    permission="training.manage",
    summary="Ask for a place for a detainee (kiosks send their own requests as events)",
    tag="training",
    body=RequestIn,
    response=EnrolmentOut,
    status=201,
)
def request_place(call: Call, programme_id: str, body: RequestIn) -> EnrolmentOut:
    _programme_here(call, programme_id)
    call.detainee(body.detainee_id)
    enrolment = training.request_enrolment(
        call.session,
        call.trail,
        programme_id=programme_id,
        detainee_id=body.detainee_id,
        via=call.trail.actor,
        note=body.note,
    )
    return out(EnrolmentOut, enrolment)


@api.route(
    "POST",
    "/enrolments/<int:enrolment_id>/decision",
    permission="training.manage",
    summary="Approve, waitlist or decline (a decline needs a reason)",
    tag="training",
    body=DecisionIn,
    response=EnrolmentOut,
)
def decide(call: Call, enrolment_id: int, body: DecisionIn) -> EnrolmentOut:
    _enrolment(call, enrolment_id)
    decided = training.decide(call.session, call.trail, enrolment_id, body.decision, body.reason)
    return out(EnrolmentOut, decided)


@api.route(
    "POST",
    "/enrolments/<int:enrolment_id>/attendance",
    permission="training.manage",
    summary="Mark present or absent on one day",
    tag="training",
    body=AttendanceIn,
)
def attendance(call: Call, enrolment_id: int, body: AttendanceIn) -> None:
    _enrolment(call, enrolment_id)
    training.record_attendance(call.session, call.trail, enrolment_id, body.day, body.present)


@api.route(
    "POST",
    "/enrolments/<int:enrolment_id>/completion",
    permission="training.manage",
    summary="Close an approved enrolment: completed or dropped",
    tag="training",
    body=CompletionIn,
    response=EnrolmentOut,
)
def completion(call: Call, enrolment_id: int, body: CompletionIn) -> EnrolmentOut:
    _enrolment(call, enrolment_id)
    done = training.complete(call.session, call.trail, enrolment_id, body.outcome)
    return out(EnrolmentOut, done)


@api.route(
    "GET",
    "/programmes/<programme_id>/attendance",
    permission="training.read",
    summary="The attendance sheet: each enrolled person's marks per day",
    tag="training",
    response=SheetOut,
)
def sheet(call: Call, programme_id: str) -> SheetOut:
    _programme_here(call, programme_id)
    found = training.attendance_sheet(call.session, programme_id)
    return SheetOut(
        programme_id=programme_id,
        days=found.days,
        rows=[
            SheetRowOut(
                enrolment_id=r.enrolment.id,
                detainee_id=r.enrolment.detainee_id,
                name_latin=r.name_latin,
                name_arabic=r.name_arabic,
                marks=r.marks,
                days_present=r.days_present,
            )
            for r in found.rows
        ],
    )


@api.route(
    "GET",
    "/detainees/<detainee_id>/enrolments",
    permission="training.read",
    summary="The person's requests and training followed",
    tag="training",
    response=list[EnrolmentOut],
)
def enrolments(call: Call, detainee_id: str) -> list[EnrolmentOut]:
    call.detainee(detainee_id)
    return [out(EnrolmentOut, e) for e in training.enrolments_of(call.session, detainee_id)]


@api.route(
    "GET",
    "/detainees/<detainee_id>/programmes",
    permission="training.read",
    summary="Programmes ranked by fit for this person, each with the reasons",
    tag="training",
    response=list[RankedOut],
)
def ranked(call: Call, detainee_id: str) -> list[RankedOut]:
    call.detainee(detainee_id)
    return [
        RankedOut(
            rank=r.rank,
            eligible=r.eligible,
            score=r.score,
            places_left=r.places_left,
            reasons=r.reasons,
            programme=out(ProgrammeOut, r.programme),
        )
        for r in training.rank_programmes(call.session, detainee_id, date.today())
    ]
