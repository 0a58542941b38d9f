"""Which of a person's events came last, when a kiosk's clock can be wrong.

A kiosk's clock may be a day off and be corrected later (no network time for a while, a
dead RTC battery). Ordering a person's drafts and responses by the kiosk's ``at`` then goes
wrong: answers given after the correction look older than a response stamped a day ahead,
and a questionnaire already sent comes back as a draft. So:

* two events of the same kiosk are ordered by its ``seq``, never by its clock;
* answers that went on from another kiosk's draft (the person resumed there what they began
  here) name that draft (``resumed``: its kiosk and seq) and come after it, and after
  anything of that kiosk up to it, whatever the clocks;
* otherwise events of two kiosks can only be ordered by time: the kiosk's time, but never
  later than when the hub received the event (the hub's clock is the reference: an event
  cannot have been made after it arrived). Two kiosks whose clocks disagree can still
  misorder drafts neither knew of; nothing better is known without a clock both trust.

Used by the hub (hub.drafts) and the kiosk (kiosk.drafts, kiosk.caches) alike; the hub
hands each draft and receipt's stamp to the kiosks in the person file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeGuard

from protocol.ids import format_timestamp


@dataclass(frozen=True, slots=True)
class Stamp:
    """Where and when an event was made. ``source`` is ``site/device`` (None when not known:
    a record kept before stamps existed, ordered by time only); ``at`` is already capped;
    ``resumed``: the (source, seq) of the other kiosk's draft it went on from."""

    source: str | None
    seq: int
    at: datetime
    resumed: tuple[str, int] | None = None

    def after(self, other: Stamp) -> bool:
        """Whether this event was made after ``other``."""
        if _went_on_from(self, other):
            return True
        if _went_on_from(other, self):
            return False
        if self.source is not None and self.source == other.source:
            return self.seq > other.seq
        return self.at > other.at

    def as_fields(self) -> dict[str, Any]:
        """The stamp as the person file carries it beside a draft or a receipt."""
        resumed = None if self.resumed is None else list(self.resumed)
        return {
            "source": self.source,
            "seq": self.seq,
            "ordered_at": format_timestamp(self.at),
            "resumed": resumed,
        }


def _went_on_from(later: Stamp, earlier: Stamp) -> bool:
    """``later`` went on from a draft of ``earlier``'s kiosk made at or after ``earlier``."""
    return (
        later.resumed is not None
        and earlier.source == later.resumed[0]
        and earlier.seq <= later.resumed[1]
    )


def source_of(site: str, device: str) -> str:
    return f"{site}/{device}"


def capped(at: datetime, received_at: datetime | None) -> datetime:
    """The kiosk's time of an event, no later than the hub's time of its arrival."""
    return at if received_at is None or at <= received_at else received_at


def stamp_from(fields: Mapping[str, Any], time_key: str) -> Stamp | None:
    """Read a stamp written by ``Stamp.as_fields`` (or, for records kept before stamps, only
    the time under ``time_key``); None when there is no readable time."""
    at = _moment(fields.get("ordered_at")) or _moment(fields.get(time_key))
    if at is None:
        return None
    source, seq = fields.get("source"), fields.get("seq")
    if not isinstance(source, str) or not _is_seq(seq):
        return Stamp(None, 0, at)
    return Stamp(source, seq, at, resumed_from(fields.get("resumed")))


def resumed_from(value: Any) -> tuple[str, int] | None:
    """A ``resumed`` link as the person file ([source, seq]) or an event body (DraftRef as a
    dict: site, device, seq) holds it; None when there is none or it is not one."""
    if isinstance(value, list | tuple) and len(value) == 2:
        source, seq = value
        if isinstance(source, str) and _is_seq(seq):
            return source, seq
    if isinstance(value, Mapping):
        site, device, seq = value.get("site"), value.get("device"), value.get("seq")
        if isinstance(site, str) and isinstance(device, str) and _is_seq(seq):
            return source_of(site, device), seq
    return None


def _is_seq(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _moment(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
