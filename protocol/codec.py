"""Canonical JSON on the wire, and decoding that explains what is wrong.

Canonical form: UTF-8, keys sorted, no spaces. The same event always encodes to
the same bytes, so hashes and duplicates compare byte for byte. Decoding
validates in pydantic's strict JSON mode, so what passes is what the JSON
Schemas in protocol/schemas/ allow. Whatever is wrong, decoding raises only
ProtocolError.
"""

from __future__ import annotations

import contextlib
import json
import math
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from protocol.errors import ProtocolError
from protocol.events import EVENT_TYPES, Event, EventBase
from protocol.ids import is_event_id
from protocol.topics import parse_topic

MAX_PAYLOAD_BYTES = 256 * 1024
# Oversized payloads up to this size are still read for their event id, so that the hub
# can tell the kiosk which event it refused instead of leaving it to resend forever.
_READ_ID_UP_TO = 16 * MAX_PAYLOAD_BYTES
M = TypeVar("M", bound=BaseModel)


def dumps(data: Any) -> bytes:
    """Canonical JSON bytes for plain data."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def encode(message: BaseModel) -> bytes:
    """Canonical JSON bytes for an event or message."""
    return dumps(message.model_dump(mode="json"))


def _event_id_of(data: object) -> str | None:
    value = data.get("id") if isinstance(data, dict) else None
    return value if is_event_id(value) else None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"the number {text[:20]} is too large")
    return number


def _parse(text: str) -> Any:
    """Standard JSON only: NaN, Infinity and numbers past a double's range are refused, as
    the JSON Schemas do (they would come back as null once re-encoded)."""
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite)
    except json.JSONDecodeError as exc:
        raise ProtocolError(
            f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise ProtocolError("invalid JSON: nested too deeply") from None
    except ValueError as exc:  # an integer of more than 4300 digits, NaN, 1e400
        raise ProtocolError(f"invalid JSON: {exc}") from None


def _load_object(payload: bytes | str) -> tuple[str, dict[str, Any]]:
    """The text and the parsed object, or ProtocolError saying why there is none."""
    raw = payload.encode() if isinstance(payload, str) else payload
    try:
        # Decode explicitly: json.loads(bytes) would guess UTF-16/32 from the first bytes.
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"invalid JSON: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    if len(raw) > MAX_PAYLOAD_BYTES:
        event_id = None
        if len(raw) <= _READ_ID_UP_TO:
            with contextlib.suppress(ProtocolError):
                event_id = _event_id_of(_parse(text))
        raise ProtocolError(
            f"payload is {len(raw)} bytes; the limit is {MAX_PAYLOAD_BYTES} bytes (256 KiB)",
            event_id=event_id,
        )
    data = _parse(text)
    if "\\u0000" in text and _has_nul(data):
        # PostgreSQL cannot store NUL in text or JSONB; refuse it the same way everywhere.
        raise ProtocolError(
            "invalid text: NUL characters (\\u0000) are not allowed", event_id=_event_id_of(data)
        )
    if not isinstance(data, dict):
        raise ProtocolError(f"invalid message: expected a JSON object, got {type(data).__name__}")
    return text, data


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
        field = ".".join(str(part) for part in problem["loc"])
        message = problem["msg"].removeprefix("Value error, ")
        if not field:  # a rule about several fields together
            sentences.append(message)
        elif problem["type"] == "missing":
            sentences.append(f"missing field {field!r}")
        elif problem["type"] == "extra_forbidden":
            sentences.append(f"unknown field {field!r}")
        else:
            sentences.append(f"field {field!r}: {message}")
    return sentences


def _validate(model: type[M], text: str, event_id: str | None) -> M:
    try:
        return model.model_validate_json(text, strict=True)
    except ValidationError as exc:
        sentences = explain(exc)
        more = f" (and {len(sentences) - 1} more problem(s))" if len(sentences) > 1 else ""
        raise ProtocolError(sentences[0] + more, event_id=event_id) from None
    except Exception as exc:  # a validator bug must not take a worker down
        raise ProtocolError(f"could not be read: {exc}", event_id=event_id) from None


def decode_event(payload: bytes | str, topic: str | None = None) -> Event:
    """Validate an event; if a topic is given, it must agree with the envelope."""
    text, data = _load_object(payload)
    event_id = _event_id_of(data)
    if "type" not in data:
        raise ProtocolError("missing field 'type'", event_id=event_id)
    event_type = data["type"]
    if not isinstance(event_type, str):
        raise ProtocolError("field 'type': Input should be a valid string", event_id=event_id)
    model = EVENT_TYPES.get(event_type)
    if model is None:
        raise ProtocolError(
            f"unknown event type {event_type!r}; known types: {', '.join(sorted(EVENT_TYPES))}",
            event_id=event_id,
        )
    event: Event = _validate(model, text, event_id)  # type: ignore[assignment]
    if topic is not None:
        check_topic(event, topic)
    return event


def check_topic(event: EventBase, topic: str) -> None:
    """The broker ACL stops impersonation; this check makes the hub refuse it too."""
    try:
        parts = parse_topic(topic)
    except ProtocolError as exc:
        raise ProtocolError(str(exc), event_id=event.id) from None
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
    text, _ = _load_object(payload)
    return _validate(model, text, None)
