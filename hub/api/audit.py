"""Checking the audit chain from the API (admins)."""

from __future__ import annotations

from hub import audit
from hub.api.core import Api, Call
from hub.api.schemas import AuditCheck

api = Api()


@api.route(
    "GET",
    "/audit/verify",
    permission="audit.read",
    summary="Recompute the audit chain; report the first edited, inserted or deleted entry",
    tag="audit",
    response=AuditCheck,
)
def verify(call: Call) -> AuditCheck:
    result = audit.verify(call.session, call.trail.key)
    return AuditCheck(ok=result.ok, entries=result.entries, problem=result.problem)
