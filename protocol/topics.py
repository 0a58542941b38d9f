"""Every MQTT topic string is built and parsed here, and only here.

Layout: ``masar/v1/{site}/kiosk/{device}/{channel}[/{event type}]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

from protocol.errors import ProtocolError
from protocol.ids import is_identifier

PREFIX = "masar/v1"
INGEST_GROUP = "hub-ingest"
Channel = Literal[
    "event",
    "status",
    "ack",
    "sync/request",
    "sync/response",
    "model/request",
    "model/response",
    "cmd",
]
CHANNELS: tuple[Channel, ...] = get_args(Channel)
_EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")


def _check(value: str, what: str) -> str:
    if not is_identifier(value):
        raise ProtocolError(f"{what} {value!r} is not a valid id (use a-z, 0-9, _ and -)")
    return value


def _kiosk(site: str, device: str) -> str:
    return f"{PREFIX}/{_check(site, 'site')}/kiosk/{_check(device, 'device')}"


def event_topic(site: str, device: str, event_type: str) -> str:
    if not _EVENT_TYPE.fullmatch(event_type):
        raise ProtocolError(f"event type {event_type!r} is not valid (e.g. questionnaire.response)")
    return f"{_kiosk(site, device)}/event/{event_type}"


def status_topic(site: str, device: str) -> str:
    return f"{_kiosk(site, device)}/status"


def ack_topic(site: str, device: str) -> str:
    return f"{_kiosk(site, device)}/ack"


def sync_request_topic(site: str, device: str) -> str:
    return f"{_kiosk(site, device)}/sync/request"


def sync_response_topic(site: str, device: str) -> str:
    return f"{_kiosk(site, device)}/sync/response"


def model_request_topic(site: str, device: str) -> str:
    """A kiosk asks the hub for a piece of a model file (MQTT v5 request/response)."""
    return f"{_kiosk(site, device)}/model/request"


def model_response_topic(site: str, device: str) -> str:
    return f"{_kiosk(site, device)}/model/response"


def cmd_topic(site: str, device: str) -> str:
    return f"{_kiosk(site, device)}/cmd"


def events_filter(site: str = "+") -> str:
    """All events of a site (or of every site)."""
    return f"{PREFIX}/{site}/kiosk/+/event/#"


def shared_events_filter(group: str = INGEST_GROUP, site: str = "+") -> str:
    """The MQTT v5 shared subscription that spreads events over ingest workers."""
    return f"$share/{group}/{events_filter(site)}"


def status_filter(site: str = "+") -> str:
    return f"{PREFIX}/{site}/kiosk/+/status"


def shared_status_filter(group: str = INGEST_GROUP, site: str = "+") -> str:
    """Statuses spread over the ingest workers like events (each is stored once)."""
    return f"$share/{group}/{status_filter(site)}"


def sync_requests_filter(site: str = "+") -> str:
    return f"{PREFIX}/{site}/kiosk/+/sync/request"


def shared_sync_requests_filter(group: str = INGEST_GROUP, site: str = "+") -> str:
    """Sync requests spread over the ingest workers, which answer them."""
    return f"$share/{group}/{sync_requests_filter(site)}"


def model_requests_filter(site: str = "+") -> str:
    return f"{PREFIX}/{site}/kiosk/+/model/request"


def shared_model_requests_filter(group: str = INGEST_GROUP, site: str = "+") -> str:
    """Model file requests spread over the ingest workers, which answer them."""
    return f"$share/{group}/{model_requests_filter(site)}"


@dataclass(frozen=True, slots=True)
class TopicParts:
    site: str
    device: str
    channel: Channel
    event_type: str | None = None


def parse_topic(topic: str) -> TopicParts:
    """Split a Masar topic; raise ProtocolError saying why a string is not one."""
    if not topic.startswith(PREFIX + "/"):
        raise ProtocolError(f"topic {topic!r} is not a Masar topic (must start with {PREFIX}/)")
    parts = topic[len(PREFIX) + 1 :].split("/")
    if len(parts) < 4 or parts[1] != "kiosk":
        raise ProtocolError(f"topic {topic!r} is not a Masar topic (expected site/kiosk/device/…)")
    site, _, device, *rest = parts
    _check(site, "site")
    _check(device, "device")
    channel = "/".join(rest)
    if rest[0] == "event" and len(rest) == 2:
        if not _EVENT_TYPE.fullmatch(rest[1]):
            raise ProtocolError(f"topic {topic!r} names an invalid event type {rest[1]!r}")
        return TopicParts(site, device, "event", rest[1])
    for known in CHANNELS:
        if channel == known and known != "event":
            return TopicParts(site, device, known)
    raise ProtocolError(f"topic {topic!r} has an unknown channel {channel!r}")
