"""Properties of the wire codec, for any event or message hypothesis can build and any bytes
it can send: a valid event round-trips byte for byte whatever its key order or spacing, and
anything else is refused with ProtocolError only (never another exception), naming the
event's id whenever the id was readable — the hub parks it and tells the kiosk which one."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import MAX_PAYLOAD_BYTES, ProtocolError, decode_event, encode, topics, uuid7
from protocol.codec import decode_message
from protocol.events import (
    EVENT_TYPES,
    EnrolmentCaptured,
    EnrolmentCapturedEvent,
    EventBase,
    Identification,
    IdentificationEvent,
    ModalityCheck,
    MovementVerified,
    MovementVerifiedEvent,
    QuestionnaireProgress,
    QuestionnaireProgressEvent,
    QuestionnaireResponse,
    QuestionnaireResponseEvent,
    StaffPinLocked,
    StaffPinLockedEvent,
    TrainingEnrolmentRequested,
    TrainingEnrolmentRequestedEvent,
)
from protocol.messages import (
    MESSAGE_TYPES,
    Ack,
    Change,
    Command,
    Rejection,
    SensorHealth,
    Status,
    SyncRequest,
    SyncResponse,
)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- strategies -------------------------------------------------------------------------------

identifiers = st.from_regex(r"[a-z0-9_-]{1,64}", fullmatch=True)
event_ids = st.builds(uuid7, now_ms=st.integers(0, 2**48 - 1))
offsets = st.integers(-23 * 60, 23 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
moments = st.datetimes(
    min_value=datetime(2000, 1, 2), max_value=datetime(9999, 12, 30), timezones=offsets
)


def text(low: int, high: int) -> st.SearchStrategy[str]:
    """Any Unicode text (Arabic, Tifinagh, emoji, control characters and NUL included)."""
    return st.text(min_size=low, max_size=high)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text(0, 30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text(0, 10), inner, max_size=4),
    max_leaves=12,
)
answers = st.dictionaries(text(0, 20), json_values, max_size=6)
checks = st.builds(
    ModalityCheck,
    modality=st.sampled_from(["face", "fingerprint", "badge", "pin"]),
    comparison=st.sampled_from(["1:1", "1:N", "exact"]),
    matched=st.booleans(),
    score=st.none() | st.floats(allow_nan=False, allow_infinity=False),
    threshold=st.none() | st.floats(allow_nan=False, allow_infinity=False),
)
enrolments = st.one_of(
    st.builds(
        EnrolmentCaptured,
        modality=st.just("badge"),
        badge_uid=st.from_regex(r"[0-9A-F]{8,20}", fullmatch=True),
    ),
    st.builds(
        EnrolmentCaptured,
        modality=st.sampled_from(["face", "fingerprint"]),
        template=text(0, 200),
        template_format=text(0, 40),
        quality=st.none() | st.floats(allow_nan=False, allow_infinity=False),
    ),
)
BODIES: dict[type[EventBase], st.SearchStrategy[Any]] = {
    IdentificationEvent: st.builds(
        Identification,
        mode=st.sampled_from(["self_service", "movement_check", "enrolment"]),
        rule=text(1, 100),
        checks=st.lists(checks, min_size=1, max_size=4),
        outcome=st.sampled_from(["matched", "not_matched", "abandoned"]),
    ),
    QuestionnaireResponseEvent: st.builds(
        QuestionnaireResponse,
        form_id=text(1, 128),
        form_version=text(1, 64),
        language=text(2, 16),
        started_at=moments,
        completed_at=moments,
        answers=answers,
    ),
    QuestionnaireProgressEvent: st.builds(
        QuestionnaireProgress,
        form_id=text(1, 128),
        form_version=text(1, 64),
        language=text(2, 16),
        current=text(1, 128),
        answers=answers,
    ),
    TrainingEnrolmentRequestedEvent: st.builds(
        TrainingEnrolmentRequested,
        programme_id=text(1, 128),
        session_id=st.none() | text(0, 40),
        note=st.none() | text(0, 2000),
    ),
    MovementVerifiedEvent: st.builds(
        MovementVerified,
        from_location=text(1, 128),
        to_location=text(1, 128),
        reason=st.none() | text(0, 200),
        modalities=st.lists(st.sampled_from(["face", "fingerprint", "badge", "pin"]), min_size=1),
        outcome=st.sampled_from(["confirmed", "refused"]),
    ),
    EnrolmentCapturedEvent: enrolments,
    StaffPinLockedEvent: st.builds(StaffPinLocked, wrong_tries=st.integers(1, 1000)),
}


@st.composite
def events(draw: st.DrawFn) -> EventBase:
    model = draw(st.sampled_from(sorted(BODIES, key=lambda m: m.event_type)))
    actor = draw(text(0, 64) if model is StaffPinLockedEvent else st.none() | text(0, 64))
    return model(
        id=draw(event_ids),
        site=draw(identifiers),
        device=draw(identifiers),
        seq=draw(st.integers(1, 2**63 - 1)),
        at=draw(moments),
        subject=draw(st.none() | text(0, 64)),
        actor=actor,
        body=draw(BODIES[model]),
    )


MESSAGES = st.one_of(
    st.builds(
        Status,
        site=identifiers,
        device=identifiers,
        state=st.sampled_from(["online", "offline"]),
        at=st.none() | moments,
        software_version=st.none() | text(0, 20),
        model_hashes=st.dictionaries(text(0, 10), text(0, 64), max_size=3),
        outbox_depth=st.none() | st.integers(0, 10**9),
        sensors=st.dictionaries(
            text(0, 10), st.builds(SensorHealth, ok=st.booleans(), detail=text(0, 500)), max_size=3
        ),
        problems=st.lists(text(0, 500), max_size=3),
    ),
    st.builds(
        Ack,
        site=identifiers,
        device=identifiers,
        at=moments,
        committed=st.lists(event_ids, max_size=5),
        rejected=st.lists(st.builds(Rejection, id=event_ids, reason=text(0, 2000)), max_size=3),
    ),
    st.builds(
        SyncRequest,
        site=identifiers,
        device=identifiers,
        cursor=st.none() | text(0, 200),
        limit=st.integers(1, 5000),
    ),
    st.builds(
        SyncResponse,
        site=identifiers,
        device=identifiers,
        cursor=st.none() | text(0, 200),
        next_cursor=st.none() | text(0, 200),
        more=st.booleans(),
        reset=st.booleans(),
        changes=st.lists(
            st.builds(
                Change,
                kind=text(1, 64),
                op=st.sampled_from(["upsert", "delete"]),
                key=text(1, 200),
                data=st.none() | st.dictionaries(text(0, 10), json_values, max_size=4),
            ),
            max_size=4,
        ),
        error=st.none() | text(0, 500),
    ),
    st.builds(
        Command,
        id=event_ids,
        site=identifiers,
        device=identifiers,
        at=moments,
        kind=st.sampled_from(["sync", "wipe_caches", "set_mode", "rotate_cache_key"]),
        mode=st.none() | st.sampled_from(["self_service", "movement_check", "enrolment"]),
    ),
)


def has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(v) for v in value)
    return False


def topic_of(event: EventBase) -> str:
    return topics.event_topic(event.site, event.device, event.event_type)


def refused(payload: bytes | str, topic: str | None = None) -> ProtocolError:
    try:
        decode_event(payload, topic)
    except ProtocolError as error:
        return error
    raise AssertionError("the payload was accepted")


# --- valid events -----------------------------------------------------------------------------


@SETTINGS
@given(event=events())
def test_a_valid_event_round_trips_byte_for_byte_or_is_refused_for_nul(event: EventBase) -> None:
    payload = encode(event)
    if has_nul(json.loads(payload)):  # PostgreSQL cannot store NUL: refused everywhere
        error = refused(payload, topic_of(event))
        assert "NUL" in str(error) and error.event_id == event.id
        return
    if len(payload) > MAX_PAYLOAD_BYTES:
        assert refused(payload).event_id == event.id
        return
    decoded = decode_event(payload, topic_of(event))
    assert decoded == event
    assert encode(decoded) == payload


@SETTINGS
@given(event=events(), seed=st.integers(0, 2**32), indent=st.none() | st.integers(0, 4))
def test_key_order_spacing_and_escapes_do_not_change_the_event(
    event: EventBase, seed: int, indent: int | None
) -> None:
    """A kiosk's JSON library may order, space or escape differently: same event, same bytes."""
    data = json.loads(encode(event))
    if has_nul(data):
        return
    shuffler = random.Random(seed)

    def shuffled(value: Any) -> Any:
        if isinstance(value, dict):
            items = list(value.items())
            shuffler.shuffle(items)
            return {k: shuffled(v) for k, v in items}
        if isinstance(value, list):
            return [shuffled(v) for v in value]
        return value

    other = json.dumps(shuffled(data), indent=indent, ensure_ascii=shuffler.random() < 0.5)
    decoded = decode_event(other.encode())
    assert decoded == event
    assert encode(decoded) == encode(event)


@SETTINGS
@given(event=events(), site=identifiers, device=identifiers)
def test_an_event_on_another_kiosks_topic_is_refused_with_its_id(
    event: EventBase, site: str, device: str
) -> None:
    payload = encode(event)
    if has_nul(json.loads(payload)) or len(payload) > MAX_PAYLOAD_BYTES:
        return
    topic = topics.event_topic(site, device, event.event_type)
    if (site, device) == (event.site, event.device):
        assert decode_event(payload, topic) == event
    else:
        assert refused(payload, topic).event_id == event.id


@settings(max_examples=40, deadline=None)
@given(size=st.integers(MAX_PAYLOAD_BYTES - 300, MAX_PAYLOAD_BYTES + 300))
def test_the_size_limit_is_exact_and_an_oversized_event_keeps_its_id(size: int) -> None:
    base = QuestionnaireProgressEvent(
        id=uuid7(),
        site="rabat-1",
        device="wing-a-1",
        seq=1,
        at=datetime(2026, 11, 29, tzinfo=UTC),
        body=QuestionnaireProgress(
            form_id="f", form_version="1", language="ar", current="q", answers={"x": ""}
        ),
    )
    padding = size - len(encode(base))
    event = base.model_copy(
        update={"body": base.body.model_copy(update={"answers": {"x": "ب" * (padding // 2)}})}
    )
    payload = encode(event)
    if len(payload) <= MAX_PAYLOAD_BYTES:
        assert decode_event(payload) == event
    else:
        error = refused(payload)
        assert "256 KiB" in str(error) and error.event_id == event.id


@SETTINGS
@given(message=MESSAGES)
def test_every_message_round_trips(message: Any) -> None:
    payload = encode(message)
    if has_nul(json.loads(payload)):
        return
    decoded = decode_message(payload, type(message))
    assert decoded == message
    assert encode(decoded) == payload


# --- anything else ----------------------------------------------------------------------------


def decodes_or_refuses(payload: bytes | str) -> None:
    """The one contract of the decoder: an event that re-encodes to itself, or ProtocolError."""
    try:
        event = decode_event(payload)
    except ProtocolError as error:
        assert str(error)
    else:
        again = encode(event)
        assert decode_event(again) == event
        assert encode(decode_event(again)) == again
    for model in MESSAGE_TYPES.values():
        try:
            message = decode_message(payload, model)
        except ProtocolError as error:
            assert str(error)
        else:
            assert decode_message(encode(message), model) == message


@settings(max_examples=300, deadline=None)
@given(payload=st.binary(max_size=2000))
def test_any_bytes_are_refused_with_protocol_error_only(payload: bytes) -> None:
    decodes_or_refuses(payload)


MODELS = (*EVENT_TYPES.values(), *MESSAGE_TYPES.values())
FIELD_NAMES = sorted(
    {name for model in MODELS for name in model.model_fields}
    | {"type", "body", "answers", "modality", "checks", "badge_uid", "template"}
)
# Text that is not JSON, or JSON that Python and pydantic may read differently.
LEXEMES = st.sampled_from(
    [
        *("NaN", "-Infinity", "1e400", "1" * 4400, "-0", "1.0", "true", "null"),
        *('"\\u0000"', '"\\ud800"', '"\\u202e"', "[]", "{}", '"7"', "9" * 30),
    ]
)


@settings(max_examples=200, deadline=None)
@given(
    value=st.dictionaries(st.sampled_from(FIELD_NAMES) | text(0, 8), json_values, max_size=8),
    lexeme=LEXEMES,
    where=st.integers(0, 10_000),
)
def test_any_json_is_refused_with_protocol_error_only(value: Any, lexeme: str, where: int) -> None:
    decodes_or_refuses(json.dumps(value))
    text_ = json.dumps(value)
    spot = where % (len(text_) + 1)
    decodes_or_refuses(text_[:spot] + lexeme + text_[spot:])  # mostly invalid JSON, on purpose


@SETTINGS
@given(
    event=events(),
    path=st.lists(st.sampled_from(FIELD_NAMES), min_size=1, max_size=2),
    value=json_values | LEXEMES.map(lambda lexeme: ("raw", lexeme)),
)
def test_a_tampered_event_is_accepted_whole_or_refused_with_its_id(
    event: EventBase, path: list[str], value: Any
) -> None:
    """One field changed (or added) anywhere: never a half-read event, never another error."""
    data = json.loads(encode(event))
    if has_nul(data):
        return
    target = data
    for key in path[:-1]:
        child = target.get(key)
        if not isinstance(child, dict):
            break
        target = child
    marker = "\x1fMARK\x1f"
    target[path[-1]] = marker if isinstance(value, tuple) else value
    id_replaced = target is data and path[-1] == "id"
    payload = json.dumps(data)
    if isinstance(value, tuple):
        payload = payload.replace(json.dumps(marker), value[1])
    try:
        decoded = decode_event(payload)
    except ProtocolError as error:
        if id_replaced:
            assert error.event_id in (None, data["id"] if isinstance(data["id"], str) else None)
        elif len(payload.encode()) <= MAX_PAYLOAD_BYTES and _is_json(payload):
            assert error.event_id == event.id  # the id was still readable
        return
    assert encode(decode_event(encode(decoded))) == encode(decoded)


def _is_json(text_: str) -> bool:
    try:
        json.loads(text_, parse_constant=_no_constant, parse_float=_finite)
    except ValueError:
        return False
    return True


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def _finite(number: str) -> float:
    if not math.isfinite(float(number)):
        raise ValueError(number)
    return float(number)
