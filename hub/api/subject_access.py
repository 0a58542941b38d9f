"""A person's subject-access export (hub.subject_access): administrators only, audited."""

from __future__ import annotations

from hub import subject_access
from hub.api.core import Api, Call
from hub.subject_access import SubjectAccessExport

api = Api()


@api.route(
    "GET",
    "/detainees/<detainee_id>/subject-access",
    permission="subject_access.export",
    summary="Everything held on the person, health data included, templates described only "
    "(the export is audited, and so is its health read)",
    tag="data protection",
    response=SubjectAccessExport,
)
def subject_access_export(call: Call, detainee_id: str) -> SubjectAccessExport:
    call.detainee(detainee_id)  # an administrator tied to a site sees only its people
    return subject_access.export(call.session, call.trail, detainee_id)
