"""Messages that are not events: status, ack, sync, model files and commands."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from protocol.events import EventId, Identifier, KioskMode, Timestamp, Version, WireModel


class SensorHealth(WireModel):
    ok: bool
    detail: Annotated[str, Field(max_length=500)] = ""


class Status(WireModel):
    """The kiosk's retained status; the Last Will carries the same shape with state offline."""

    v: Version = 1
    site: Identifier
    device: Identifier
    state: Literal["online", "offline"]
    at: Timestamp | None = None
    software_version: str | None = None
    mode: KioskMode | None = None
    model_hashes: dict[str, str] = Field(
        default_factory=dict,
        description="model file name -> SHA-256 of that file in the kiosk's models folder",
    )
    outbox_depth: int | None = Field(default=None, ge=0)
    last_sync_at: Timestamp | None = None
    sensors: dict[str, SensorHealth] = Field(default_factory=dict)
    problems: list[Annotated[str, Field(max_length=500)]] = Field(
        default_factory=list, description="what is wrong on the kiosk now, in plain words"
    )


class Rejection(WireModel):
    id: EventId
    reason: Annotated[str, Field(max_length=2000)]


class Ack(WireModel):
    """End-to-end acknowledgement: the hub has committed (or durably parked) these events."""

    v: Version = 1
    site: Identifier
    device: Identifier
    at: Timestamp
    committed: list[EventId] = Field(default_factory=list)
    rejected: list[Rejection] = Field(
        default_factory=list,
        description="events kept in the hub's dead-letter table; the kiosk stops resending them",
    )


class SyncRequest(WireModel):
    """Ask for what changed since ``cursor`` (None: everything)."""

    v: Version = 1
    site: Identifier
    device: Identifier
    cursor: Annotated[str, Field(max_length=200)] | None = None
    limit: int = Field(default=500, ge=1, le=5000)


class Change(WireModel):
    kind: Annotated[str, Field(min_length=1, max_length=64, description="e.g. roster, policy")]
    op: Literal["upsert", "delete"]
    key: Annotated[str, Field(min_length=1, max_length=200)]
    data: dict[str, Any] | None = None


class SyncResponse(WireModel):
    v: Version = 1
    site: Identifier
    device: Identifier
    cursor: Annotated[str, Field(max_length=200)] | None = Field(
        description="the cursor the request carried"
    )
    next_cursor: Annotated[str, Field(max_length=200)] | None
    more: bool = Field(description="true when the kiosk should ask again at once")
    reset: bool = Field(
        default=False,
        description="first page of a full copy: drop every cached record before applying",
    )
    changes: list[Change] = Field(default_factory=list)
    error: Annotated[str, Field(max_length=500)] | None = Field(
        default=None, description="why the hub could not answer, in plain words"
    )


Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="hex SHA-256 of a file")]
ModelName = Annotated[
    str,
    Field(pattern=r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$", description="a file name, no folder"),
]
MAX_MODEL_CHUNK_BYTES = 128 * 1024
"""One answer's share of a model file: in base64 with its envelope it stays well under the
256 KiB message limit (protocol.codec.MAX_PAYLOAD_BYTES)."""


class ModelManifestEntry(WireModel):
    """A model file the hub holds, as kiosks learn of it through sync (kind "model", keyed by
    file name): what to fetch and check, never the bytes."""

    sha256: Sha256
    size: int = Field(ge=1)
    role: Annotated[str, Field(max_length=64)]
    input: Annotated[str, Field(max_length=500)]
    normalisation: Annotated[str, Field(max_length=500)]
    licence: Annotated[str, Field(max_length=500)]


class ModelChunkRequest(WireModel):
    """Ask the hub for ``length`` bytes of one version of a model file from ``offset``."""

    v: Version = 1
    site: Identifier
    device: Identifier
    name: ModelName
    sha256: Sha256 = Field(description="the version the kiosk's manifest names")
    offset: int = Field(ge=0)
    length: int = Field(default=MAX_MODEL_CHUNK_BYTES, ge=1, le=MAX_MODEL_CHUNK_BYTES)


class ModelChunk(WireModel):
    """A piece of a model file; an empty ``data`` at ``offset`` == ``size`` ends the file."""

    v: Version = 1
    site: Identifier
    device: Identifier
    name: ModelName
    sha256: Sha256
    offset: int = Field(ge=0)
    size: int = Field(ge=0, description="the whole file's size in bytes")
    data: Annotated[str, Field(max_length=(MAX_MODEL_CHUNK_BYTES + 2) // 3 * 4)] = Field(
        default="", description="the bytes from offset, base64"
    )
    error: Annotated[str, Field(max_length=500)] | None = Field(
        default=None, description="why the hub could not answer, in plain words"
    )


class Command(WireModel):
    """An order from the hub to one kiosk."""

    v: Version = 1
    id: EventId
    site: Identifier
    device: Identifier
    at: Timestamp
    kind: Literal["sync", "wipe_caches", "set_mode", "rotate_cache_key"]
    mode: KioskMode | None = None


MESSAGE_TYPES: dict[str, type[WireModel]] = {
    "status": Status,
    "ack": Ack,
    "sync.request": SyncRequest,
    "sync.response": SyncResponse,
    "model.request": ModelChunkRequest,
    "model.response": ModelChunk,
    "cmd": Command,
}
