"""Movements: a person's movement history, the live count of who is out of each wing, and
an establishment's movement log."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from hub import movements
from hub.api.core import Api, Call
from hub.api.schemas import Out, out

api = Api()


class MovementOut(Out):
    event_id: str
    detainee_id: str
    site: str
    device: str
    actor: str | None
    from_location: str
    to_location: str
    reason: str | None
    outcome: str
    modalities: list[str]
    at: datetime


class OutPersonOut(BaseModel):
    detainee_id: str
    location: str
    since: datetime


class WingCountOut(BaseModel):
    wing: str
    in_custody: int
    out: int
    out_people: list[OutPersonOut]


class LogQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    since: AwareDatetime | None = None
    limit: int = Field(default=200, ge=1, le=1000)


@api.route(
    "GET",
    "/detainees/<detainee_id>/movements",
    permission="movements.read",
    summary="The person's verified movements, newest first",
    tag="movements",
    response=list[MovementOut],
)
def history(call: Call, detainee_id: str) -> list[MovementOut]:
    call.detainee(detainee_id)
    return [out(MovementOut, m) for m in movements.history(call.session, detainee_id)]


@api.route(
    "GET",
    "/sites/<site>/wings",
    permission="movements.read",
    summary="Each wing now: people held, and who is out and where",
    tag="movements",
    response=list[WingCountOut],
)
def live(call: Call, site: str) -> list[WingCountOut]:
    call.own_site(site)
    return [
        WingCountOut(
            wing=w.wing,
            in_custody=w.in_custody,
            out=w.out,
            out_people=[
                OutPersonOut(detainee_id=p.detainee_id, location=p.location, since=p.since)
                for p in w.out_people
            ],
        )
        for w in movements.live_counts(call.session, site)
    ]


@api.route(
    "GET",
    "/sites/<site>/movements",
    permission="movements.read",
    summary="The establishment's movement log, newest first",
    tag="movements",
    query=LogQuery,
    response=list[MovementOut],
)
def log(call: Call, site: str, query: LogQuery) -> list[MovementOut]:
    call.own_site(site)
    found = movements.movement_log(call.session, site, query.since, query.limit)
    return [out(MovementOut, m) for m in found]
