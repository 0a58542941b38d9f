"""The kiosk fleet as hub admins see and steer it: each kiosk's enrolment state joined with
its last status (online or offline from its status and Last Will), commands, and what has
to happen outside the database when a kiosk is withdrawn."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.commands import command_message
from hub.config import HubConfig
from hub.models import Device, KioskState, as_utc
from hub.mqtt import BrokerUnreachable, publish_once
from protocol import topics
from protocol.events import KioskMode
from provisioning.acl import render_acl
from provisioning.ca import SiteCA


class FleetError(RuntimeError):
    """A fleet action cannot be done as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Kiosk:
    site: str
    device: str
    wing: str
    mode: str
    enrolment: str  # registered, invited, enrolled, revoked
    online: bool
    last_seen: datetime | None
    software_version: str | None = None
    outbox_depth: int | None = None
    last_sync_at: str | None = None
    model_hashes: dict[str, str] = field(default_factory=dict)
    sensors: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def kiosks(session: Session, site: str | None = None) -> list[Kiosk]:
    statement = (
        select(Device, KioskState)
        .outerjoin(
            KioskState, (KioskState.site == Device.site) & (KioskState.device == Device.device)
        )
        .order_by(Device.site, Device.wing, Device.device)
    )
    if site is not None:
        statement = statement.where(Device.site == site)
    found = []
    for device, state in session.execute(statement).all():
        status = state.status if state is not None else {}
        found.append(
            Kiosk(
                site=device.site,
                device=device.device,
                wing=device.wing,
                mode=device.mode,
                enrolment=device.state,
                online=state is not None and state.state == "online",
                last_seen=as_utc(state.updated_at) if state is not None else None,
                software_version=status.get("software_version"),
                outbox_depth=status.get("outbox_depth"),
                last_sync_at=status.get("last_sync_at"),
                model_hashes=status.get("model_hashes") or {},
                sensors=status.get("sensors") or {},
                problems=status.get("problems") or [],
            )
        )
    return found


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.new")
    temporary.write_text(text)
    os.replace(temporary, path)


def site_ca(config: HubConfig) -> SiteCA:
    if config.fleet.ca_dir is None:
        raise FleetError(
            "this hub has no CA configured: set fleet.ca_dir in its configuration "
            "(create one with: masar provision ca init)"
        )
    return SiteCA.load(config.fleet.ca_dir)


def send_command(
    config: HubConfig, device: Device, kind: str, mode: KioskMode | None = None
) -> None:
    """Send a command to a registered kiosk; it runs it when it is next connected."""
    if device.state == "revoked":
        raise FleetError(f"kiosk {device.site}/{device.device} has been withdrawn")
    topic, payload = command_message(device.site, device.device, kind, mode)
    try:
        publish_once(config.broker, topic, payload)
    except BrokerUnreachable as error:
        raise FleetError(str(error)) from None


def after_revocation(
    config: HubConfig, site: str, device: str, withdrawn: set[tuple[str, str]]
) -> list[str]:
    """After a revocation (``withdrawn``: every revoked kiosk): the broker's ACL denies them
    everything and the broker re-reads it and its CRL, so the kiosk's open connection may
    publish nothing more and its next connection is refused; then its retained status is
    cleared. Returns what was done, or what is left for the admin, in plain words."""
    done = []
    if config.fleet.acl_file is not None:
        try:
            _write_atomically(config.fleet.acl_file, render_acl(withdrawn=sorted(withdrawn)))
            done.append("the broker's ACL now denies everything to withdrawn kiosks")
        except OSError as error:
            done.append(f"the broker's ACL file could not be written: {error}")
    if config.fleet.reload_broker:
        try:
            subprocess.run(config.fleet.reload_broker, check=True, timeout=15)  # nosec B603  # the admin's own fleet.reload_broker command from the hub config, no shell
            done.append("the broker re-read its certificate revocation list")
        except (OSError, subprocess.SubprocessError) as error:
            done.append(f"the broker could not be told to reload ({error}); reload it by hand")
    else:
        done.append("reload the broker now so that it reads the new revocation list")
    try:
        publish_once(config.broker, topics.status_topic(site, device), b"", retain=True)
        done.append("the kiosk's retained status was cleared")
    except BrokerUnreachable as error:
        done.append(f"the kiosk's retained status could not be cleared: {error}")
    return done
