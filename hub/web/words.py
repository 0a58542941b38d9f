"""Names shown for the hub's codes (roles, provenance), in the interface's language."""

from __future__ import annotations

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

ROLE_NAMES: dict[str, LazyString] = {
    "admin": _l("administrator"),
    "registrar": _l("registrar"),
    "wing_officer": _l("wing officer"),
    "trainer": _l("trainer"),
    "social_worker": _l("social worker"),
    "health_staff": _l("health staff"),
    "partner": _l("partner"),
}

# Where a profile fact comes from, as its badge says.
PROVENANCE_NAMES: dict[str, LazyString] = {
    "self_declared": _l("self-declared"),
    "staff_verified": _l("staff-verified"),
    "document": _l("document"),
}


def role_name(role: str) -> str:
    return str(ROLE_NAMES.get(role, role))


def provenance_name(provenance: str) -> str:
    return str(PROVENANCE_NAMES.get(provenance, provenance))
