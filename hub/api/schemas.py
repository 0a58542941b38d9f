"""What the API returns and accepts, beside the domain's own input models."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hub.models import as_utc
from hub.roles import Role

T = TypeVar("T", bound=BaseModel)


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    @field_validator("*", mode="after")
    @classmethod
    def _in_utc(cls, value: Any) -> Any:
        """SQLite hands back naive datetimes; the API promises RFC 3339 (with the offset)."""
        return as_utc(value) if isinstance(value, datetime) else value


def out(model: type[T], record: Any) -> T:
    """An API model from an ORM row or a dataclass."""
    return model.model_validate(record, from_attributes=True)


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str
    name: str = Field(max_length=200)
    role: Role
    password: str = Field(max_length=200)
    site: str | None = None
    partner: str | None = None
    language: Literal["fr", "ar"] = "fr"


class UserOut(Out):
    id: str
    username: str
    name: str
    role: str
    site: str | None
    partner: str | None
    language: str


class LoginOut(BaseModel):
    token: str = Field(description="send as 'Authorization: Bearer <token>' (also set as cookie)")
    csrf_token: str = Field(description="send in X-CSRF-Token with cookie-authenticated changes")
    user: UserOut


class DetaineeSummary(Out):
    id: str = Field(description="Masar pseudonymous id")
    prison_number: str
    name_latin: str
    name_arabic: str
    site: str
    wing: str | None
    state: str


class DetaineeOut(DetaineeSummary):
    birth_date: date | None
    nationality: str | None
    languages: list[str]
    literate: bool
    preferred_language: str
    cell: str | None
    admission_date: date | None
    expected_release_date: date | None
    released_on: date | None
    location: str | None


class SearchQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    q: str = Field(min_length=1, max_length=200, description="prison number or name")
    limit: int = Field(default=50, ge=1, le=200)


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    wing: str = Field(pattern=r"^[a-z0-9_-]{1,64}$")
    site: str | None = Field(default=None, pattern=r"^[a-z0-9_-]{1,64}$")
    cell: str | None = Field(default=None, max_length=32)


class ReleaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    released_on: date


class TimelineOut(Out):
    at: datetime
    by: str = Field(description="user:<id>, kiosk:<site>/<device> or system:<name>")
    action: str
    summary: dict[str, Any]


class FactOut(Out):
    id: int
    fact: str
    value: Any
    label: str | None = Field(default=None, description="ISCED level or ISCO group name")
    provenance: str
    source: str
    form_id: str | None
    form_version: str | None
    question: str | None
    recorded_at: datetime
    superseded_by: int | None


class FactCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: Any = Field(default=None, description="the corrected value; omit to confirm")
    document: bool = Field(default=False, description="backed by a document seen by staff")


class QuestionnaireOut(Out):
    form_id: str
    version: str
    titles: dict[str, Any]
    facts: list[dict[str, Any]]
    imported_at: datetime
    imported_by: str


class QuestionnaireDefinition(QuestionnaireOut):
    survey: dict[str, Any]


class PublishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site: str = Field(pattern=r"^[a-z0-9_-]{1,64}$")
    wing: str | None = Field(default=None, pattern=r"^[a-z0-9_-]{1,64}$")


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    form_id: str = Field(min_length=1, max_length=128)
    due_on: date
    detainee_id: str | None = None
    site: str | None = None
    wing: str | None = None


class AssignmentOut(Out):
    id: int
    form_id: str
    target_kind: str
    detainee_id: str | None
    site: str
    wing: str | None
    due_on: date


class DueOut(Out):
    assignment_id: int
    form_id: str
    due_on: date
    assigned_at: datetime
    state: Literal["done", "overdue", "open"]
    done_at: datetime | None


class AuditCheck(BaseModel):
    ok: bool
    entries: int
    problem: str | None


# --- the fleet -------------------------------------------------------------------------------


class ProvisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=10, max_length=200, description="the one-time enrolment token")
    csr: str = Field(
        min_length=100, max_length=10_000, description="PEM certificate request made on the kiosk"
    )


class BrokerAddress(BaseModel):
    host: str
    port: int


class ProvisionOut(BaseModel):
    site: str
    device: str
    wing: str
    mode: str
    certificate: str = Field(description="PEM: the kiosk's certificate, signed by the site CA")
    ca: str = Field(description="PEM: the site CA certificate")
    broker: BrokerAddress
    next_seq: int = Field(
        ge=1,
        description="the seq of the kiosk's next event: after every seq the hub holds from this "
        "device id, so that a kiosk replaced under the same name continues and never repeats",
    )


class DeviceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site: str = Field(min_length=1, max_length=64)
    device: str = Field(min_length=1, max_length=64)
    wing: str = Field(min_length=1, max_length=64)
    mode: Literal["self_service", "movement_check", "enrolment"] = "self_service"
    valid_hours: float = Field(default=24, gt=0, le=168, description="how long the token works")


class InvitationOut(BaseModel):
    site: str
    device: str
    token: str = Field(description="shown once: type it on the kiosk (masar kiosk provision)")
    expires_at: datetime
    command: str = Field(description="the command to run on the kiosk")


class KioskOut(Out):
    site: str
    device: str
    wing: str
    mode: str
    enrolment: Literal["registered", "invited", "enrolled", "revoked"]
    online: bool
    last_seen: datetime | None
    software_version: str | None
    outbox_depth: int | None
    last_sync_at: str | None
    model_hashes: dict[str, str]
    sensors: dict[str, Any]
    problems: list[str]


class CommandIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["sync", "wipe_caches", "set_mode", "rotate_cache_key"]
    mode: Literal["self_service", "movement_check", "enrolment"] | None = None


class RevocationOut(BaseModel):
    site: str
    device: str
    done: list[str] = Field(description="what happened beyond the database, in plain words")
