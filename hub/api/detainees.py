"""Detainees: intake, identity, transfers, release, search, the file and the timeline;
profile facts and their verification; questionnaires assigned to a person."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from hub import assignments, detainees, profiles
from hub.api.core import Api, ApiError, Call
from hub.api.schemas import (
    DetaineeOut,
    DetaineeSummary,
    DueOut,
    FactCheck,
    FactOut,
    ReleaseIn,
    SearchQuery,
    TimelineOut,
    TransferIn,
    out,
)
from hub.classifications import isced_levels, isco_groups
from hub.models import ProfileFact
from hub.roles import allowed
from hub.search import find_detainees

api = Api()


class DetaineeFile(BaseModel):
    """Everything about one person that the caller's role may see."""

    detainee: DetaineeOut
    facts: list[FactOut] | None
    assignments: list[DueOut]
    timeline: list[TimelineOut]


def _label(fact: ProfileFact, language: str) -> str | None:
    code = str(fact.value)
    if fact.fact == "education_level" and code in isced_levels():
        level = isced_levels()[code]
        return level.title_ar if language == "ar" else level.title_fr
    if fact.fact == "occupation" and code in isco_groups():
        group = isco_groups()[code]
        return (group.title_ar if language == "ar" else group.title_fr) or group.title_en
    return None


def _fact(fact: ProfileFact, language: str) -> FactOut:
    return out(FactOut, fact).model_copy(update={"label": _label(fact, language)})


@api.route(
    "POST",
    "/detainees",
    permission="detainees.write",
    summary="Intake: a person arrives (a prison number already in use is refused)",
    tag="detainees",
    body=detainees.Intake,
    response=DetaineeOut,
    status=201,
)
def intake(call: Call, body: detainees.Intake) -> DetaineeOut:
    call.own_site(body.site)
    try:
        return out(DetaineeOut, detainees.admit(call.session, call.trail, body))
    except detainees.DuplicatePrisonNumber as exc:
        raise ApiError(409, str(exc), {"prison_number": str(exc)}) from None


@api.route(
    "GET",
    "/detainees",
    permission="detainees.read",
    summary="Search by prison number or name (Arabic or Latin script, spelling-tolerant)",
    tag="detainees",
    query=SearchQuery,
    response=list[DetaineeSummary],
)
def search(call: Call, query: SearchQuery) -> list[DetaineeSummary]:
    found = find_detainees(call.session, query.q, site=call.user.site, limit=query.limit)
    return [out(DetaineeSummary, d) for d in found]


@api.route(
    "GET",
    "/detainees/<detainee_id>",
    permission="detainees.read",
    summary="The detainee's file: identity, profile, questionnaires and recent timeline",
    tag="detainees",
    response=DetaineeFile,
)
def read_file(call: Call, detainee_id: str) -> DetaineeFile:
    detainee = call.detainee(detainee_id)
    language = call.user.language
    facts = None
    if allowed(call.user.role, "profiles.read"):
        facts = [_fact(f, language) for f in profiles.current_facts(call.session, detainee_id)]
    health = allowed(call.user.role, "health.read")
    return DetaineeFile(
        detainee=out(DetaineeOut, detainee),
        facts=facts,
        assignments=[out(DueOut, d) for d in assignments.assignments_of(call.session, detainee_id)],
        timeline=[
            out(TimelineOut, e)
            for e in detainees.timeline(call.session, detainee_id, include_health=health, limit=50)
        ],
    )


@api.route(
    "PATCH",
    "/detainees/<detainee_id>",
    permission="detainees.write",
    summary="Correct identity fields (each old and new value is kept in the timeline)",
    tag="detainees",
    body=detainees.Identity,
    response=DetaineeOut,
)
def correct(call: Call, detainee_id: str, body: detainees.Identity) -> DetaineeOut:
    call.detainee(detainee_id)
    return out(DetaineeOut, detainees.update_identity(call.session, call.trail, detainee_id, body))


@api.route(
    "POST",
    "/detainees/<detainee_id>/transfer",
    permission="detainees.write",
    summary="Transfer to another wing or establishment",
    tag="detainees",
    body=TransferIn,
    response=DetaineeOut,
)
def transfer(call: Call, detainee_id: str, body: TransferIn) -> DetaineeOut:
    call.detainee(detainee_id)
    moved = detainees.transfer(
        call.session, call.trail, detainee_id, wing=body.wing, site=body.site, cell=body.cell
    )
    return out(DetaineeOut, moved)


@api.route(
    "POST",
    "/detainees/<detainee_id>/release",
    permission="detainees.write",
    summary="Release: the wing's kiosks forget the person at their next sync",
    tag="detainees",
    body=ReleaseIn,
    response=DetaineeOut,
)
def release(call: Call, detainee_id: str, body: ReleaseIn) -> DetaineeOut:
    call.detainee(detainee_id)
    released = detainees.release(call.session, call.trail, detainee_id, body.released_on)
    return out(DetaineeOut, released)


@api.route(
    "GET",
    "/detainees/<detainee_id>/timeline",
    permission="detainees.read",
    summary="Every change and event, newest first: what, when, by whom, from which kiosk",
    tag="detainees",
    response=list[TimelineOut],
)
def timeline(call: Call, detainee_id: str) -> list[TimelineOut]:
    call.detainee(detainee_id)
    health = allowed(call.user.role, "health.read")
    entries = detainees.timeline(call.session, detainee_id, include_health=health)
    return [out(TimelineOut, e) for e in entries]


@api.route(
    "GET",
    "/detainees/<detainee_id>/facts",
    permission="profiles.read",
    summary="Every profile fact ever recorded, with provenance (superseded ones included)",
    tag="profiles",
    response=list[FactOut],
)
def fact_history(call: Call, detainee_id: str) -> list[FactOut]:
    call.detainee(detainee_id)
    return [_fact(f, call.user.language) for f in profiles.history(call.session, detainee_id)]


@api.route(
    "POST",
    "/facts/<int:fact_id>/verify",
    permission="profiles.verify",
    summary="Confirm or correct a fact; the old row is kept, superseded",
    tag="profiles",
    body=FactCheck,
    response=FactOut,
)
def verify_fact(call: Call, fact_id: int, body: FactCheck) -> FactOut:
    old = call.session.get(ProfileFact, fact_id)
    if old is None:
        raise ApiError(404, f"no profile fact {fact_id}")
    call.detainee(old.detainee_id)
    new = profiles.verify_fact(
        call.session, fact_id, user=call.user.id, value=body.value, document=body.document
    )
    details: dict[str, Any] = {
        "fact": old.fact,
        "old": old.value,
        "new": new.value,
        "provenance": new.provenance,
        "replaces": fact_id,
    }
    call.trail.record(call.session, "profile.verify", old.detainee_id, details)
    return _fact(new, call.user.language)


@api.route(
    "GET",
    "/detainees/<detainee_id>/assignments",
    permission="detainees.read",
    summary="Questionnaires assigned to the person (directly or through the wing) and whether done",
    tag="questionnaires",
    response=list[DueOut],
)
def due(call: Call, detainee_id: str) -> list[DueOut]:
    call.detainee(detainee_id)
    return [out(DueOut, d) for d in assignments.assignments_of(call.session, detainee_id)]
