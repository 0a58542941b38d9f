"""Canonical JSON on the wire, and decoding that explains what is wrong.

Canonical form: UTF-8, keys sorted, no spaces. The same event always encodes to
the same bytes, so hashes and duplicates compare byte for byte.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from protocol.errors import ProtocolError
from protocol.events import EVENT_TYPES, Event, EventBase
from protocol.topics import parse_topic

MAX_PAYLOAD_BYTES = 256 * 1024
M = TypeVar("M", bound=BaseModel)


def dumps(data: Any) -> bytes:
    """Canonical JSON bytes for plain data."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def encode(message: BaseModel) -> bytes:
    """Canonical JSON bytes for an event or message."""
    return dumps(message.model_dump(mode="json"))


def _load_object(payload: bytes | str) -> dict[str, Any]:
    size = len(payload.encode() if isinstance(payload, str) else payload)
    if size > MAX_PAYLOAD_BYTES:
        raise ProtocolError(
            f"payload is {size} bytes; the limit is {MAX_PAYLOAD_BYTES} bytes (256 KiB)"
        )
    try:
        # Decode explicitly: json.loads(bytes) would guess UTF-16/32 from the first bytes.
        text = payload.decode("utf-8") if isinstance(payload, bytes) else payload
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"invalid JSON: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProtocolError(
            f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    if "\\u0000" in text and _has_nul(data):
        # PostgreSQL cannot store NUL in text or JSONB; refuse it the same way everywhere.
        raise ProtocolError("invalid text: NUL characters (\\u0000) are not allowed")
    if not isinstance(data, dict):
        raise ProtocolError(f"invalid message: expected a JSON object, got {type(data).__name__}")
    return data


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def explain(error: ValidationError) -> list[str]:
    """One plain sentence per problem, each naming its field (also used for config files)."""
    sentences = []
    for problem in error.errors(include_url=False):
        field = ".".join(str(part) for part in problem["loc"]) or "message"
        if problem["type"] == "missing":
            sentences.append(f"missing field {field!r}")
        elif problem["type"] == "extra_forbidden":
            sentences.append(f"unknown field {field!r}")
        else:
            sentences.append(f"field {field!r}: {problem['msg']}")
    return sentences


def _describe(error: ValidationError, event_id: str | None) -> ProtocolError:
    """The first problem, and how many more there are."""
    sentences = explain(error)
    text = sentences[0]
    if len(sentences) > 1:
        text += f" (and {len(sentences) - 1} more problem(s))"
    return ProtocolError(text, event_id=event_id)


def decode_event(payload: bytes | str, topic: str | None = None) -> Event:
    """Validate an event; if a topic is given, it must agree with the envelope."""
    data = _load_object(payload)
    raw_id = data.get("id")
    event_id = raw_id if isinstance(raw_id, str) else None
    if "type" not in data:
        raise ProtocolError("missing field 'type'", event_id=event_id)
    event_type = data["type"]
    model = EVENT_TYPES.get(event_type) if isinstance(event_type, str) else None
    if model is None:
        raise ProtocolError(
            f"unknown event type {event_type!r}; known types: {', '.join(sorted(EVENT_TYPES))}",
            event_id=event_id,
        )
    try:
        event: Event = model.model_validate(data)  # type: ignore[assignment]
    except ValidationError as exc:
        raise _describe(exc, event_id) from None
    if topic is not None:
        check_topic(event, topic)
    return event


def check_topic(event: EventBase, topic: str) -> None:
    """The broker ACL stops impersonation; this check makes the hub refuse it too."""
    parts = parse_topic(topic)
    for name, from_topic, from_envelope in (
        ("site", parts.site, event.site),
        ("device", parts.device, event.device),
    ):
        if from_topic != from_envelope:
            raise ProtocolError(
                f"topic {name} {from_topic!r} differs from the envelope's {name} {from_envelope!r}",
                event_id=event.id,
            )
    if parts.channel != "event" or parts.event_type != event.event_type:
        raise ProtocolError(
            f"topic {topic!r} does not carry events of type {event.event_type!r}",
            event_id=event.id,
        )


def decode_message(payload: bytes | str, model: type[M]) -> M:
    """Validate a non-event message (status, ack, sync, cmd)."""
    data = _load_object(payload)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _describe(exc, None) from None
