"""Who may do what on the hub. Every API route names one permission; a role has a fixed set.

Health data is separate: only health staff hold ``health.read``/``health.write``, and a
refused attempt to read it is itself written to the audit log (see hub/api).
"""

from __future__ import annotations

from typing import Literal, get_args

Role = Literal[
    "admin",
    "registrar",
    "wing_officer",
    "trainer",
    "social_worker",
    "health_staff",
    "partner",
]
ROLES: tuple[str, ...] = get_args(Role)

# Permission -> roles holding it. Read this table to know who can do what.
PERMISSIONS: dict[str, frozenset[str]] = {
    "session.own": frozenset(ROLES),
    "users.manage": frozenset({"admin"}),
    "audit.read": frozenset({"admin"}),
    "subject_access.export": frozenset({"admin"}),  # holds health data: audited
    "fleet.read": frozenset({"admin"}),
    "fleet.manage": frozenset({"admin"}),
    "dashboard.read": frozenset(
        {"admin", "registrar", "wing_officer", "trainer", "social_worker", "health_staff"}
    ),
    "detainees.read": frozenset(
        {"admin", "registrar", "wing_officer", "trainer", "social_worker", "health_staff"}
    ),
    "detainees.write": frozenset({"admin", "registrar"}),
    "profiles.read": frozenset({"admin", "registrar", "trainer", "social_worker"}),
    "profiles.verify": frozenset({"registrar", "trainer", "social_worker"}),
    "questionnaires.read": frozenset(
        {"admin", "registrar", "trainer", "social_worker", "health_staff"}
    ),
    "questionnaires.manage": frozenset({"admin", "registrar", "social_worker"}),
    "training.read": frozenset({"admin", "registrar", "trainer", "social_worker"}),
    "training.manage": frozenset({"admin", "trainer"}),
    "movements.read": frozenset({"admin", "registrar", "wing_officer"}),
    "health.read": frozenset({"health_staff"}),
    "health.write": frozenset({"health_staff"}),
    "plans.read": frozenset({"admin", "registrar", "social_worker", "trainer"}),
    "plans.write": frozenset({"social_worker"}),
    "referrals.read": frozenset({"social_worker", "partner"}),
}


def allowed(role: str, permission: str) -> bool:
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")
    return role in PERMISSIONS[permission]
