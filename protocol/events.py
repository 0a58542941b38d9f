"""The envelope every kiosk event travels in, and one model per event type.

Each event type is a subclass of ``EventBase`` whose ``type`` is a literal and
whose ``body`` is a model of its own, so an event is validated whole in one step
and its JSON Schema says exactly what each type carries.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)

from protocol.ids import IDENTIFIER_PATTERN, UUID7_PATTERN, format_timestamp


def _require_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("must carry a timezone (RFC 3339, e.g. 2026-11-29T05:02:50.123Z)")
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None
    if not 2000 <= utc.year <= 9999:
        raise ValueError("must be between the years 2000 and 9999")
    # The wire carries milliseconds; truncating here makes encode/decode round-trip exactly.
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


Timestamp = Annotated[
    datetime,
    AfterValidator(_require_utc),
    PlainSerializer(format_timestamp, return_type=str),
    Field(description="RFC 3339 time in UTC, e.g. 2026-11-29T05:02:50.123Z"),
]
Identifier = Annotated[
    str,
    Field(pattern=IDENTIFIER_PATTERN, description="lower-case id issued at provisioning"),
]
EventId = Annotated[str, Field(pattern=UUID7_PATTERN, description="UUIDv7, lower case")]
Modality = Literal["face", "fingerprint", "badge", "pin"]
KioskMode = Literal["self_service", "movement_check", "enrolment"]


class WireModel(BaseModel):
    """Unknown fields are refused and models are immutable. Decoding validates JSON in strict
    mode (codec.py), so "3" is not an integer and true is not 1, as the JSON Schemas say."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _not_a_boolean(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("must be the number 1")
    return value


Version = Annotated[Literal[1], BeforeValidator(_not_a_boolean), Field(description="always 1")]


# --- event bodies ---------------------------------------------------------------------------


class ModalityCheck(WireModel):
    """One factor of an identification: what was compared, how, and with what result."""

    modality: Modality
    comparison: Literal["1:1", "1:N", "exact"] = Field(
        description="1:1 against the claimed person, 1:N against the wing, exact for badge/PIN"
    )
    matched: bool
    score: float | None = Field(default=None, description="matcher score, if a matcher ran")
    threshold: float | None = Field(default=None, description="the threshold in force")


class Identification(WireModel):
    """Someone was identified (or not) at a kiosk, under a named policy rule."""

    mode: KioskMode
    rule: Annotated[str, Field(min_length=1, max_length=100, description="policy rule applied")]
    checks: list[ModalityCheck] = Field(min_length=1, description="every factor, in order")
    outcome: Literal["matched", "not_matched", "abandoned"]


class DraftRef(WireModel):
    """Which draft a questionnaire's answers went on from, when it was saved at another
    kiosk: whatever the two kiosks' clocks say, they come after it (protocol.ordering)."""

    site: Identifier
    device: Identifier
    seq: Annotated[int, Field(ge=1, description="that kiosk's seq of the draft's event")]


class QuestionnaireResponse(WireModel):
    """A completed questionnaire; answers are keyed by the XLSForm field name."""

    form_id: Annotated[str, Field(min_length=1, max_length=128)]
    form_version: Annotated[str, Field(min_length=1, max_length=64)]
    language: Annotated[str, Field(min_length=2, max_length=16)]
    started_at: Timestamp
    completed_at: Timestamp
    answers: dict[str, Any]
    resumed: DraftRef | None = Field(
        default=None, description="the other kiosk's draft these answers went on from, if any"
    )


class QuestionnaireProgress(WireModel):
    """A questionnaire not yet sent: the answers so far and the question on screen, saved
    the moment each answer is given, so that any kiosk of the wing can resume it there."""

    form_id: Annotated[str, Field(min_length=1, max_length=128)]
    form_version: Annotated[str, Field(min_length=1, max_length=64)]
    language: Annotated[str, Field(min_length=2, max_length=16)]
    current: Annotated[
        str, Field(min_length=1, max_length=128, description="the question shown (field name)")
    ]
    answers: dict[str, Any]
    resumed: DraftRef | None = Field(
        default=None, description="the other kiosk's draft these answers went on from, if any"
    )


class TrainingEnrolmentRequested(WireModel):
    """A detainee asked to join a training programme."""

    programme_id: Annotated[str, Field(min_length=1, max_length=128)]
    session_id: str | None = None
    note: Annotated[str, Field(max_length=2000)] | None = None


class MovementVerified(WireModel):
    """Staff checked a detainee's identity at a movement."""

    from_location: Annotated[str, Field(min_length=1, max_length=128)]
    to_location: Annotated[str, Field(min_length=1, max_length=128)]
    reason: Annotated[str, Field(max_length=200)] | None = None
    modalities: list[Modality] = Field(min_length=1)
    outcome: Literal["confirmed", "refused"]


class EnrolmentCaptured(WireModel):
    """A biometric sample or badge was enrolled for a detainee at an enrolment station."""

    modality: Literal["face", "fingerprint", "badge"]
    template: str | None = Field(default=None, description="base64 template (face, fingerprint)")
    template_format: str | None = Field(default=None, description="e.g. model name and dtype")
    quality: float | None = None
    badge_uid: Annotated[str, Field(pattern=r"^[0-9A-F]{8,20}$")] | None = None

    @model_validator(mode="after")
    def _modality_carries_its_data(self) -> EnrolmentCaptured:
        if self.modality == "badge" and self.badge_uid is None:
            raise ValueError("a badge enrolment needs badge_uid")
        if self.modality != "badge" and (self.template is None or self.template_format is None):
            raise ValueError(f"a {self.modality} enrolment needs template and template_format")
        return self


class StaffPinLocked(WireModel):
    """A staff member's PIN was locked on a kiosk after too many wrong PINs in a row.

    The staff member is the event's ``actor``. The kiosk lifts the lock when the hub sends
    that staff member a new PIN hash (an administrator sets a new PIN).
    """

    wrong_tries: int = Field(ge=1, le=1000, description="wrong PINs in a row that locked it")


# --- envelope --------------------------------------------------------------------------------


class EventBase(WireModel):
    """The envelope: who sent what, when, in which order, about whom."""

    event_type: ClassVar[str]
    v: Version = 1
    id: EventId
    site: Identifier
    device: Identifier
    seq: int = Field(ge=1, description="per-device counter, starts at 1, never reused")
    at: Timestamp
    subject: Annotated[str, Field(max_length=64)] | None = Field(
        default=None, description="Masar detainee id, if any"
    )
    actor: Annotated[str, Field(max_length=64)] | None = Field(
        default=None, description="staff id, if staff acted"
    )


class IdentificationEvent(EventBase):
    event_type: ClassVar[str] = "identification"
    type: Literal["identification"] = "identification"
    body: Identification


class QuestionnaireResponseEvent(EventBase):
    event_type: ClassVar[str] = "questionnaire.response"
    type: Literal["questionnaire.response"] = "questionnaire.response"
    body: QuestionnaireResponse


class QuestionnaireProgressEvent(EventBase):
    event_type: ClassVar[str] = "questionnaire.progress"
    type: Literal["questionnaire.progress"] = "questionnaire.progress"
    body: QuestionnaireProgress


class TrainingEnrolmentRequestedEvent(EventBase):
    event_type: ClassVar[str] = "training.enrolment_requested"
    type: Literal["training.enrolment_requested"] = "training.enrolment_requested"
    body: TrainingEnrolmentRequested


class MovementVerifiedEvent(EventBase):
    event_type: ClassVar[str] = "movement.verified"
    type: Literal["movement.verified"] = "movement.verified"
    body: MovementVerified


class EnrolmentCapturedEvent(EventBase):
    event_type: ClassVar[str] = "enrolment.captured"
    type: Literal["enrolment.captured"] = "enrolment.captured"
    body: EnrolmentCaptured


class StaffPinLockedEvent(EventBase):
    event_type: ClassVar[str] = "staff.pin_locked"
    type: Literal["staff.pin_locked"] = "staff.pin_locked"
    body: StaffPinLocked

    @model_validator(mode="after")
    def _names_the_staff_member(self) -> StaffPinLockedEvent:
        if self.actor is None:
            raise ValueError("a PIN lock must name the staff member (actor)")
        return self


Event = (
    IdentificationEvent
    | QuestionnaireResponseEvent
    | QuestionnaireProgressEvent
    | TrainingEnrolmentRequestedEvent
    | MovementVerifiedEvent
    | EnrolmentCapturedEvent
    | StaffPinLockedEvent
)

EVENT_TYPES: dict[str, type[EventBase]] = {
    model.event_type: model
    for model in (
        IdentificationEvent,
        QuestionnaireResponseEvent,
        QuestionnaireProgressEvent,
        TrainingEnrolmentRequestedEvent,
        MovementVerifiedEvent,
        EnrolmentCapturedEvent,
        StaffPinLockedEvent,
    )
}

BODY_TYPES: dict[str, type[WireModel]] = {
    name: model.model_fields["body"].annotation  # type: ignore[misc]
    for name, model in EVENT_TYPES.items()
}
