"""The wire protocol: round trips, topics, and one exact message per bad-input class."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import MAX_PAYLOAD_BYTES, ProtocolError, decode_event, encode, topics, uuid7
from protocol.events import (
    EnrolmentCaptured,
    EnrolmentCapturedEvent,
    Identification,
    IdentificationEvent,
    ModalityCheck,
    MovementVerified,
    MovementVerifiedEvent,
    QuestionnaireResponse,
    QuestionnaireResponseEvent,
    TrainingEnrolmentRequested,
    TrainingEnrolmentRequestedEvent,
)

AT = datetime(2026, 11, 29, 5, 2, 50, 123000, tzinfo=UTC)
EVENT_ID = "019ace4f-1c3b-7d2e-9a41-0123456789ab"
ENVELOPE = {"id": EVENT_ID, "site": "rabat-1", "device": "wing-a-1", "seq": 7, "at": AT}
TOPIC = "masar/v1/rabat-1/kiosk/wing-a-1/event/identification"


def identification(**changes: object) -> IdentificationEvent:
    body = Identification(
        mode="self_service",
        rule="self_service.badge_face",
        checks=[
            ModalityCheck(modality="badge", comparison="exact", matched=True),
            ModalityCheck(
                modality="face", comparison="1:1", matched=True, score=0.71, threshold=0.42
            ),
        ],
        outcome="matched",
    )
    return IdentificationEvent(**{**ENVELOPE, "body": body, "subject": "d-0001", **changes})


def payload(**changes: object) -> bytes:
    data = json.loads(encode(identification()))
    data.update(changes)
    return json.dumps(data).encode()


ALL_EVENTS = [
    identification(),
    QuestionnaireResponseEvent(
        **ENVELOPE,
        subject="d-1",
        body=QuestionnaireResponse(
            form_id="intake",
            form_version="2026-11",
            language="ar",
            started_at=AT,
            completed_at=AT,
            answers={"education": "isced_3", "skills": ["welding", "بناء"], "age": 31},
        ),
    ),
    TrainingEnrolmentRequestedEvent(
        **ENVELOPE, subject="d-1", body=TrainingEnrolmentRequested(programme_id="welding-1")
    ),
    MovementVerifiedEvent(
        **ENVELOPE,
        subject="d-1",
        actor="officer-7",
        body=MovementVerified(
            from_location="wing-a",
            to_location="workshop",
            modalities=["badge", "pin"],
            outcome="confirmed",
        ),
    ),
    EnrolmentCapturedEvent(
        **ENVELOPE,
        subject="d-1",
        body=EnrolmentCaptured(modality="badge", badge_uid="04A1B2C3D4E5F6"),
    ),
]


@pytest.mark.parametrize("event", ALL_EVENTS, ids=lambda e: e.event_type)
def test_every_event_type_round_trips_through_its_topic(event: IdentificationEvent) -> None:
    topic = topics.event_topic(event.site, event.device, event.event_type)
    assert decode_event(encode(event), topic) == event


def test_encoding_is_canonical() -> None:
    encoded = encode(identification())
    assert (
        encoded
        == json.dumps(
            json.loads(encoded), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    )
    assert b'"at":"2026-11-29T05:02:50.123Z"' in encoded


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            b'{"v": 1,',
            "invalid JSON at line 1 column 9: Expecting property name enclosed in double quotes",
        ),
        (b"\xff\xfe", "invalid JSON: not UTF-8 (invalid start byte at byte 0)"),
        (b"[1, 2]", "invalid message: expected a JSON object, got list"),
        (
            payload(type="parole.granted"),
            "unknown event type 'parole.granted'; known types: enrolment.captured, identification, "
            "movement.verified, questionnaire.progress, questionnaire.response, "
            "staff.pin_locked, training.enrolment_requested",
        ),
        (
            json.dumps({k: v for k, v in json.loads(payload()).items() if k != "type"}).encode(),
            "missing field 'type'",
        ),
        (
            json.dumps({k: v for k, v in json.loads(payload()).items() if k != "seq"}).encode(),
            "missing field 'seq'",
        ),
        (
            payload(seq="seven"),
            "field 'seq': Input should be a valid integer",
        ),
        (payload(seq=0), "field 'seq': Input should be greater than or equal to 1"),
        (
            payload(id="not-a-uuid"),
            "field 'id': String should match pattern "
            "'^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'",
        ),
        (
            payload(at="2026-11-29T05:02:50"),
            "field 'at': must carry a timezone (RFC 3339, e.g. 2026-11-29T05:02:50.123Z)",
        ),
        (
            payload(body={"mode": "self_service", "rule": "r", "checks": [], "outcome": "matched"}),
            "field 'body.checks': List should have at least 1 item after validation, not 0",
        ),
        (payload(extra=1), "unknown field 'extra'"),
        (payload(seq=True), "field 'seq': Input should be a valid integer"),
        (payload(v=True), "field 'v': must be the number 1"),
        (payload(type=5), "field 'type': Input should be a valid string"),
        (payload(at="0001-01-01T00:00:00+01:00"), "field 'at': is out of range"),
        (payload(at="0999-01-01T00:00:00Z"), "field 'at': must be between the years 2000 and 9999"),
        (
            payload(device="wing-a-1\n"),
            "field 'device': String should match pattern '^[a-z0-9_-]{1,64}$'",
        ),
        (payload(subject="x\u0000y"), "invalid text: NUL characters (\\u0000) are not allowed"),
    ],
    ids=[
        "invalid-json",
        "not-utf8",
        "not-object",
        "unknown-type",
        "missing-type",
        "missing-field",
        "wrong-type",
        "out-of-range",
        "bad-id",
        "naive-time",
        "bad-body",
        "extra-field",
        "nul",
        "bool-as-int",
        "bool-as-version",
        "type-not-string",
        "time-overflow",
        "year-999",
        "trailing-newline",
    ],
)
def test_bad_input_names_the_problem(raw: bytes, message: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_event(raw)
    assert str(caught.value) == message


def test_payload_over_256_kib_is_refused_but_its_id_is_still_read() -> None:
    big = payload(subject="x" * MAX_PAYLOAD_BYTES)
    with pytest.raises(ProtocolError) as caught:
        decode_event(big)
    assert str(caught.value) == f"payload is {len(big)} bytes; the limit is 262144 bytes (256 KiB)"
    assert caught.value.event_id == EVENT_ID


def test_an_id_with_a_trailing_newline_is_not_an_event_id() -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_event(payload(id=EVENT_ID + "\n"))
    assert caught.value.event_id is None


@pytest.mark.parametrize(
    ("topic", "message"),
    [
        (
            "masar/v1/casa-2/kiosk/wing-a-1/event/identification",
            "topic site 'casa-2' differs from the envelope's site 'rabat-1'",
        ),
        (
            "masar/v1/rabat-1/kiosk/wing-b-9/event/identification",
            "topic device 'wing-b-9' differs from the envelope's device 'wing-a-1'",
        ),
        (
            "masar/v1/rabat-1/kiosk/wing-a-1/event/movement.verified",
            "topic 'masar/v1/rabat-1/kiosk/wing-a-1/event/movement.verified' does not carry events "
            "of type 'identification'",
        ),
        (
            "other/v1/rabat-1/kiosk/wing-a-1/event/identification",
            "topic 'other/v1/rabat-1/kiosk/wing-a-1/event/identification' is not a Masar topic "
            "(must start with masar/v1/)",
        ),
    ],
)
def test_topic_must_agree_with_the_envelope(topic: str, message: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_event(encode(identification()), topic)
    assert str(caught.value) == message
    if "Masar topic" not in message:
        assert caught.value.event_id == EVENT_ID


def test_error_keeps_the_event_id_when_it_was_readable() -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_event(payload(seq="seven"))
    assert caught.value.event_id == EVENT_ID


def test_enrolment_needs_the_data_of_its_modality() -> None:
    data = json.loads(encode(ALL_EVENTS[-1]))
    data["type"] = "enrolment.captured"
    data["body"] = {"modality": "face"}
    with pytest.raises(ProtocolError) as caught:
        decode_event(json.dumps(data))
    assert str(caught.value) == (
        "field 'body': a face enrolment needs template and template_format"
    )


ids = st.from_regex(r"[a-z0-9_-]{1,20}", fullmatch=True)


@given(
    site=ids,
    device=ids,
    seq=st.integers(1, 2**53),
    subject=st.none() | st.text(max_size=64),
    score=st.floats(-1, 1),
)
def test_identification_round_trips_for_any_values(
    site: str, device: str, seq: int, subject: str | None, score: float
) -> None:
    subject = None if subject is None else subject.replace("\x00", "")
    event = identification(
        site=site,
        device=device,
        seq=seq,
        subject=subject,
        body=Identification(
            mode="movement_check",
            rule="movement_check.face_1n",
            checks=[
                ModalityCheck(
                    modality="face", comparison="1:N", matched=False, score=score, threshold=0.4
                )
            ],
            outcome="not_matched",
        ),
    )
    assert decode_event(encode(event), topics.event_topic(site, device, "identification")) == event


@given(
    site=ids,
    device=ids,
    event_type=st.from_regex(r"[a-z][a-z0-9_]{0,10}(\.[a-z][a-z0-9_]{0,10})?", fullmatch=True),
)
def test_topic_builders_and_parser_agree(site: str, device: str, event_type: str) -> None:
    parts = topics.parse_topic(topics.event_topic(site, device, event_type))
    assert (parts.site, parts.device, parts.channel, parts.event_type) == (
        site,
        device,
        "event",
        event_type,
    )
    for build, channel in [
        (topics.status_topic, "status"),
        (topics.ack_topic, "ack"),
        (topics.cmd_topic, "cmd"),
        (topics.sync_request_topic, "sync/request"),
        (topics.sync_response_topic, "sync/response"),
    ]:
        assert topics.parse_topic(build(site, device)) == topics.TopicParts(site, device, channel)


def test_identifiers_in_topics_are_checked() -> None:
    with pytest.raises(ProtocolError) as caught:
        topics.status_topic("Rabat 1", "k1")
    assert str(caught.value) == "site 'Rabat 1' is not a valid id (use a-z, 0-9, _ and -)"


def test_uuid7_is_version_7_and_sorts_by_time() -> None:
    first, second = uuid7(now_ms=1_700_000_000_000), uuid7(now_ms=1_700_000_000_001)
    assert first[14] == "7" and first[19] in "89ab"
    assert first < second
    assert len({uuid7() for _ in range(1000)}) == 1000
