"""May this user do this? One answer for the JSON API and the web pages alike.

A refused attempt at health data is itself written to the audit log, in the caller's
transaction: whoever tried to look is known, even though they saw nothing.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from hub.audit import Trail
from hub.models import User
from hub.roles import PERMISSIONS


def refusal(
    session: Session,
    key: bytes,
    user: User,
    permission: str,
    *,
    method: str,
    path: str,
    subject: str | None = None,
) -> str | None:
    """Why ``user`` may not use ``permission`` (None if they may); audits health refusals."""
    if user.role in PERMISSIONS[permission]:
        return None
    if permission.startswith("health."):
        Trail(key, f"user:{user.id}").record(
            session, "health.refused", subject, {"method": method, "path": path, "role": user.role}
        )
    return f"your role ({user.role}) may not do this ({permission})"
