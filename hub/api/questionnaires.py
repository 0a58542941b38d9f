"""Questionnaires: import an XLSForm, list and read versions, publish to kiosks, assign."""

from __future__ import annotations

from hub import assignments
from hub.api.core import Api, ApiError, Call
from hub.api.schemas import (
    AssignIn,
    AssignmentOut,
    PublishIn,
    QuestionnaireDefinition,
    QuestionnaireOut,
    out,
)
from hub.questionnaires import XLSFormError, library

api = Api()
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_XLSX = 5 * 1024 * 1024


@api.route(
    "POST",
    "/questionnaires",
    permission="questionnaires.manage",
    summary="Import an XLSForm (.xlsx); a mistake is refused naming its sheet, row and column",
    tag="questionnaires",
    body_media=XLSX,
    response=QuestionnaireOut,
    status=201,
)
def import_xlsform(call: Call, body: bytes) -> QuestionnaireOut:
    if len(body) > MAX_XLSX:
        raise ApiError(413, f"the file is over {MAX_XLSX // 1024 // 1024} MB")
    try:
        version = library.import_form(call.session, body, actor=call.trail.actor)
    except XLSFormError as exc:
        raise ApiError(422, str(exc)) from None
    except library.QuestionnaireError as exc:
        raise ApiError(409, str(exc)) from None
    call.trail.record(
        call.session,
        "questionnaire.import",
        None,
        {"form_id": version.form_id, "version": version.version, "sha256": version.xlsx_sha256},
    )
    return out(QuestionnaireOut, version)


@api.route(
    "GET",
    "/questionnaires",
    permission="questionnaires.read",
    summary="The newest version of each questionnaire",
    tag="questionnaires",
    response=list[QuestionnaireOut],
)
def newest(call: Call) -> list[QuestionnaireOut]:
    return [out(QuestionnaireOut, v) for v in library.latest_versions(call.session)]


@api.route(
    "GET",
    "/questionnaires/<form_id>/<version>",
    permission="questionnaires.read",
    summary="One version with its full definition, as kiosks show it",
    tag="questionnaires",
    response=QuestionnaireDefinition,
)
def definition(call: Call, form_id: str, version: str) -> QuestionnaireDefinition:
    stored = library.find_version(call.session, form_id, version)
    if stored is None:
        raise ApiError(404, f"no version {version} of questionnaire {form_id}")
    return out(QuestionnaireDefinition, stored)


@api.route(
    "POST",
    "/questionnaires/<form_id>/<version>/publish",
    permission="questionnaires.manage",
    summary="Send this version to the kiosks of an establishment or of one wing",
    tag="questionnaires",
    body=PublishIn,
)
def publish(call: Call, form_id: str, version: str, body: PublishIn) -> None:
    call.own_site(body.site)
    library.publish(call.session, call.trail, form_id, version, site=body.site, wing=body.wing)


@api.route(
    "POST",
    "/assignments",
    permission="questionnaires.manage",
    summary="Assign a questionnaire to one detainee or a whole wing, with a due date",
    tag="questionnaires",
    body=AssignIn,
    response=AssignmentOut,
    status=201,
)
def assign(call: Call, body: AssignIn) -> AssignmentOut:
    if body.detainee_id is not None:
        call.detainee(body.detainee_id)
    else:
        call.own_site(body.site)
    assignment = assignments.assign(call.session, call.trail, **body.model_dump())
    return out(AssignmentOut, assignment)
