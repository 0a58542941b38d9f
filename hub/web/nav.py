"""The navigation bar: each page module lists its entries; a user sees only those their role
may open (hub.roles), in a fixed order."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from flask_babel import LazyString

from hub.roles import allowed


@dataclass(frozen=True)
class NavEntry:
    order: int  # left to right (right to left in Arabic)
    endpoint: str  # "training.queue"
    label: LazyString
    permission: str


def navigation(entries: Iterable[NavEntry], role: str) -> list[NavEntry]:
    return sorted(
        (entry for entry in entries if allowed(role, entry.permission)), key=lambda e: e.order
    )


def first_page(entries: Iterable[NavEntry], role: str) -> str | None:
    """Where a user lands after logging in: the first page of the bar they may open."""
    mine = navigation(entries, role)
    return mine[0].endpoint if mine else None
