"""Kiosk identities: a hub admin invites a kiosk with a one-time token; the kiosk, holding a
key it generated itself, redeems the token with a certificate request and gets its
certificate; revoking puts the certificate on the CRL and the hub refuses its events.

The token is ``<secret>.<pin>``: the secret (120 random bits, only its SHA-256 kept here)
proves the kiosk was invited; the pin (128 bits of the SHA-256 of the CA certificate) lets
the kiosk check the hub's CA before it sends the secret anywhere, so a new kiosk trusts
the right hub without any certificate installed beforehand.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.audit import Trail
from hub.models import Device, DeviceStream, EnrolmentToken, KioskState, as_utc
from hub.roster import register_device
from protocol.ids import format_timestamp, is_identifier, utc_now
from provisioning.ca import CAError, SiteCA, device_identity

TOKEN_LIFETIME = timedelta(hours=24)
MODES = ("self_service", "movement_check", "enrolment")


class EnrolmentRefused(ValueError):
    """A token or request the hub will not honour; ``status`` is the HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def ca_pin(ca_pem: bytes) -> str:
    """What a token carries to identify the CA: the first 128 bits of its DER's SHA-256."""
    der = x509.load_pem_x509_certificate(ca_pem).public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()[:32]


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.strip().lower().encode()).hexdigest()


@dataclass(frozen=True)
class Invitation:
    site: str
    device: str
    token: str
    expires_at: datetime

    def command(self, hub_url: str) -> str:
        """What to type on the kiosk."""
        return f"masar kiosk provision --hub {hub_url} --token {self.token}"


def invite(
    session: Session,
    trail: Trail,
    ca: SiteCA,
    *,
    site: str,
    device: str,
    wing: str,
    mode: str = "self_service",
    lifetime: timedelta = TOKEN_LIFETIME,
    now: datetime | None = None,
) -> Invitation:
    """Register the kiosk (or re-register it) and make its one-time token; earlier unused
    tokens of the same kiosk stop working."""
    for what, value in (("establishment", site), ("kiosk", device), ("wing", wing)):
        if not is_identifier(value):
            message = f"the {what} id {value!r} is not valid (use a-z, 0-9, _ and -)"
            raise EnrolmentRefused(400, message)
    if mode not in MODES:
        raise EnrolmentRefused(400, f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
    if lifetime <= timedelta(0) or lifetime > timedelta(days=7):
        raise EnrolmentRefused(400, "a token is valid for a few minutes up to 7 days")
    now = now or utc_now()
    register_device(session, site, device, wing, mode)
    row = session.get(Device, (site, device))
    assert row is not None
    if row.state != "enrolled":
        row.state = "invited"
    session.execute(
        delete(EnrolmentToken).where(
            EnrolmentToken.site == site,
            EnrolmentToken.device == device,
            EnrolmentToken.used_at.is_(None),
        )
    )
    secret = base64.b32encode(secrets.token_bytes(15)).decode().lower()
    expires_at = now + lifetime
    session.add(
        EnrolmentToken(
            token_hash=_hash(secret),
            site=site,
            device=device,
            created_by=trail.actor,
            created_at=now,
            expires_at=expires_at,
        )
    )
    trail.record(
        session,
        "device.invite",
        None,
        {
            "site": site,
            "device": device,
            "wing": wing,
            "mode": mode,
            "expires_at": format_timestamp(expires_at),
        },
    )
    pin = ca_pin(ca.cert_path.read_bytes())
    return Invitation(site, device, f"{secret}.{pin}", expires_at)


@dataclass(frozen=True)
class Enrolled:
    site: str
    device: str
    wing: str
    mode: str
    certificate: bytes  # PEM
    ca: bytes  # PEM
    next_seq: int  # after every seq the hub holds from this device id (a replaced kiosk)


def redeem(
    session: Session,
    audit_key: bytes,
    ca: SiteCA,
    token: str,
    csr_pem: bytes,
    *,
    now: datetime | None = None,
) -> Enrolled:
    """Sign the kiosk's request if the token is known, unused and in date; it then is used."""
    now = now or utc_now()
    secret = token.strip().rsplit(".", 1)[0]
    row = session.get(EnrolmentToken, _hash(secret), with_for_update=True)
    again = "ask the hub admin for a new one"
    if row is None:
        raise EnrolmentRefused(
            404, f"this enrolment token is not known: check it was copied whole, or {again}"
        )
    if row.used_at is not None:
        used = format_timestamp(as_utc(row.used_at))
        raise EnrolmentRefused(409, f"this enrolment token was already used ({used}); {again}")
    if as_utc(row.expires_at) <= now:
        expired = format_timestamp(as_utc(row.expires_at))
        raise EnrolmentRefused(410, f"this enrolment token expired at {expired}; {again}")
    device = session.get(Device, (row.site, row.device), with_for_update=True)
    if device is None:
        raise EnrolmentRefused(404, f"kiosk {row.site}/{row.device} is no longer registered")
    try:
        issued = ca.sign_device(csr_pem, device_identity(row.site, row.device))
    except CAError as error:
        raise EnrolmentRefused(400, str(error)) from None
    if device.cert_serial is not None and device.state == "enrolled":
        ca.revoke(int(device.cert_serial))  # a re-enrolled kiosk's old key is shut out
    row.used_at = now
    device.state, device.cert_serial = "enrolled", str(issued.serial)
    device.enrolled_at, device.revoked_at = now, None
    Trail(audit_key, f"kiosk:{row.site}/{row.device}").record(
        session,
        "device.enrol",
        None,
        {"site": row.site, "device": row.device, "serial": str(issued.serial)},
    )
    stream = session.get(DeviceStream, (row.site, row.device))
    return Enrolled(
        row.site,
        row.device,
        device.wing,
        device.mode,
        issued.pem,
        ca.cert_path.read_bytes(),
        next_seq=(0 if stream is None else int(stream.max_seq)) + 1,
    )


def revoke(session: Session, trail: Trail, ca: SiteCA, site: str, device: str) -> Device:
    """Withdraw a kiosk: its certificate goes on the CRL, its unused tokens are dropped, its
    state is revoked (ingest refuses its events from now on). The caller then has the
    broker reload its CRL and clears the kiosk's retained status."""
    row = session.get(Device, (site, device), with_for_update=True)
    if row is None:
        raise LookupError(f"no kiosk {site}/{device}")
    if row.state == "revoked":
        return row
    if row.cert_serial is not None:
        ca.revoke(int(row.cert_serial))
    row.state, row.revoked_at = "revoked", utc_now()
    session.execute(
        delete(EnrolmentToken).where(EnrolmentToken.site == site, EnrolmentToken.device == device)
    )
    status = session.get(KioskState, (site, device))
    if status is not None:
        status.state = "revoked"
    trail.record(session, "device.revoke", None, {"site": site, "device": device})
    return row


def revoked_devices(session: Session) -> set[tuple[str, str]]:
    """The kiosks whose events ingest refuses."""
    rows = session.execute(
        select(Device.site, Device.device).where(Device.state == "revoked")
    ).all()
    return {(site, device) for site, device in rows}
