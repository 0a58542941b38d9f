"""The hub's configuration: TOML file ($MASAR_HUB_CONFIG) plus MASAR_HUB_* overrides."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from protocol.codec import explain


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TlsConfig(Section):
    cafile: Path
    certfile: Path
    keyfile: Path


class BrokerConfig(Section):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    tls: TlsConfig | None = None
    keepalive: Annotated[int, Field(ge=5, le=3600)] = 30


class IngestConfig(Section):
    batch: Annotated[int, Field(ge=1, le=1000, description="events committed together")] = 100
    session_expiry: Annotated[
        int,
        Field(
            ge=10,
            description="seconds the broker keeps a stopped worker's queue: long enough for a "
            "restart, short enough that a retired worker's share goes back to the others "
            "(kiosks resend what it held)",
        ),
    ] = 300


class FleetConfig(Section):
    """What enrolling and withdrawing kiosks needs (hub.devices)."""

    ca_dir: Path | None = Field(
        default=None,
        description="the site CA's folder (masar provision ca init); needed to enrol and revoke",
    )
    broker_host: str = Field(
        default="127.0.0.1", description="the broker address a newly enrolled kiosk is given"
    )
    broker_port: Annotated[int, Field(ge=1, le=65535)] = 8883
    acl_file: Path | None = Field(
        default=None,
        description="the broker's ACL file (masar provision mosquitto-config --acl-file): "
        "rewritten at each revocation so that a withdrawn kiosk's open connection may do "
        "nothing more",
    )
    reload_broker: list[str] = Field(
        default_factory=list,
        description="command that makes the broker re-read its CRL after a revocation, e.g. "
        '["systemctl", "reload", "mosquitto"]; empty: the admin is told to do it',
    )


class RetentionConfig(Section):
    """How long personal data is kept once its purpose has ended (hub.retention)."""

    templates_after_release_days: Annotated[
        int,
        Field(
            ge=0,
            le=3650,
            description="days a released person's biometric templates stay on the hub before "
            "`masar hub retention apply` deletes them (the kiosks drop them at release)",
        ),
    ] = 30
    dead_letter_days: Annotated[
        int,
        Field(
            ge=1,
            le=3650,
            description="days the bytes of a message the hub could not accept are kept for "
            "staff to investigate, before `masar hub retention apply` deletes them",
        ),
    ] = 180


class HubConfig(Section):
    database_url: str = Field(
        default="sqlite:///var/hub.db",
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user@host/db",
    )
    broker: BrokerConfig = BrokerConfig()
    ingest: IngestConfig = IngestConfig()
    fleet: FleetConfig = FleetConfig()
    retention: RetentionConfig = RetentionConfig()
    audit_key_file: Path = Field(
        default=Path("var/audit.key"),
        description="secret keying the audit chain; keep it off the database server",
    )


class ConfigError(ValueError):
    """The configuration is missing or wrong; the message says where."""


def load_config(path: Path | None = None) -> HubConfig:
    """Read the TOML file (if any), then apply MASAR_HUB_DATABASE_URL and friends."""
    data: dict[str, object] = {}
    path = path or (
        Path(os.environ["MASAR_HUB_CONFIG"]) if "MASAR_HUB_CONFIG" in os.environ else None
    )
    if path is not None:
        try:
            data = tomllib.loads(path.read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read hub configuration {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    if "MASAR_HUB_DATABASE_URL" in os.environ:
        data["database_url"] = os.environ["MASAR_HUB_DATABASE_URL"]
    if "MASAR_HUB_AUDIT_KEY_FILE" in os.environ:  # systemd: %d/audit.key (LoadCredential=)
        data["audit_key_file"] = os.environ["MASAR_HUB_AUDIT_KEY_FILE"]
    try:
        return HubConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(explain(exc))
        raise ConfigError(f"{path or 'hub configuration'}: {problems}") from None
