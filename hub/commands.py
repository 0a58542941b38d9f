"""Orders from the hub to one kiosk, on that kiosk's ``cmd`` topic."""

from __future__ import annotations

from protocol import Command, encode, topics, utc_now, uuid7
from protocol.events import KioskMode

KINDS = ("sync", "wipe_caches", "set_mode", "rotate_cache_key")


def command_message(
    site: str, device: str, kind: str, mode: KioskMode | None = None
) -> tuple[str, bytes]:
    """(topic, payload) of a command; set_mode needs ``mode``."""
    if kind not in KINDS:
        raise ValueError(f"unknown command {kind!r}; use one of {', '.join(KINDS)}")
    if (kind == "set_mode") != (mode is not None):
        raise ValueError("set_mode needs --mode, and only set_mode takes one")
    command = Command.model_validate(
        {"id": uuid7(), "site": site, "device": device, "at": utc_now(), "kind": kind, "mode": mode}
    )
    return topics.cmd_topic(site, device), encode(command)
