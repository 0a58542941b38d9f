"""Kiosk enrolment (unauthenticated: the one-time token is the credential) and the fleet:
the kiosks, commands to them, and withdrawal."""

from __future__ import annotations

from datetime import timedelta

from flask import Response, current_app, request
from sqlalchemy.orm import Session

from hub import devices, fleet
from hub.api.core import Api, ApiError, Call
from hub.api.schemas import (
    BrokerAddress,
    CommandIn,
    DeviceIn,
    InvitationOut,
    KioskOut,
    ProvisionIn,
    ProvisionOut,
    RevocationOut,
    out,
)
from hub.config import HubConfig
from hub.models import Device
from provisioning.ca import SiteCA

api = Api()


def _config() -> HubConfig:
    config: HubConfig = current_app.config["HUB"]
    return config


def _ca() -> SiteCA:
    try:
        return fleet.site_ca(_config())
    except fleet.FleetError as error:
        raise ApiError(503, str(error)) from None


@api.route(
    "GET",
    "/provision/ca",
    permission=None,
    summary="The site CA certificate (a new kiosk checks it against its token's pin)",
    tag="fleet",
    produces="application/x-pem-file",
)
def provision_ca(session: Session) -> Response:
    return Response(_ca().cert_path.read_bytes(), mimetype="application/x-pem-file")


@api.route(
    "POST",
    "/provision",
    permission=None,
    summary="Enrol a kiosk: a one-time token and its certificate request give its certificate",
    tag="fleet",
    body=ProvisionIn,
    response=ProvisionOut,
)
def provision(session: Session, body: ProvisionIn) -> ProvisionOut:
    key: bytes = current_app.extensions["masar_audit_key"]
    try:
        enrolled = devices.redeem(session, key, _ca(), body.token, body.csr.encode())
    except devices.EnrolmentRefused as refused:
        raise ApiError(refused.status, str(refused)) from None
    config = _config()
    return ProvisionOut(
        site=enrolled.site,
        device=enrolled.device,
        wing=enrolled.wing,
        mode=enrolled.mode,
        certificate=enrolled.certificate.decode(),
        ca=enrolled.ca.decode(),
        broker=BrokerAddress(host=config.fleet.broker_host, port=config.fleet.broker_port),
        next_seq=enrolled.next_seq,
    )


@api.route(
    "GET",
    "/devices",
    permission="fleet.read",
    summary="Every kiosk: enrolment, online or offline, outbox, versions, sensors, problems",
    tag="fleet",
    response=list[KioskOut],
)
def list_devices(call: Call) -> list[KioskOut]:
    return [out(KioskOut, k) for k in fleet.kiosks(call.session, call.user.site)]


@api.route(
    "POST",
    "/devices",
    permission="fleet.manage",
    summary="Register a kiosk and make its one-time enrolment token",
    tag="fleet",
    body=DeviceIn,
    response=InvitationOut,
    status=201,
)
def invite_device(call: Call, body: DeviceIn) -> InvitationOut:
    call.own_site(body.site)
    try:
        invitation = devices.invite(
            call.session,
            call.trail,
            _ca(),
            site=body.site,
            device=body.device,
            wing=body.wing,
            mode=body.mode,
            lifetime=timedelta(hours=body.valid_hours),
        )
    except devices.EnrolmentRefused as refused:
        raise ApiError(refused.status, str(refused)) from None
    return InvitationOut(
        site=invitation.site,
        device=invitation.device,
        token=invitation.token,
        expires_at=invitation.expires_at,
        command=invitation.command(request.host_url.rstrip("/")),
    )


def _device(call: Call, site: str, device: str) -> Device:
    call.own_site(site)
    row = call.session.get(Device, (site, device))
    if row is None:
        raise ApiError(404, f"no kiosk {site}/{device}")
    return row


@api.route(
    "POST",
    "/devices/<site>/<device>/commands",
    permission="fleet.manage",
    summary="Send a command (sync, wipe caches, change mode, rotate the cache key)",
    tag="fleet",
    body=CommandIn,
)
def command_device(call: Call, site: str, device: str, body: CommandIn) -> None:
    row = _device(call, site, device)
    try:
        fleet.send_command(_config(), row, body.kind, body.mode)
    except ValueError as error:
        raise ApiError(422, str(error)) from None
    except fleet.FleetError as error:
        raise ApiError(409 if row.state == "revoked" else 503, str(error)) from None
    call.trail.record(
        call.session, "device.command", None, {"site": site, "device": device, "kind": body.kind}
    )


@api.route(
    "POST",
    "/devices/<site>/<device>/revoke",
    permission="fleet.manage",
    summary="Withdraw a kiosk: CRL, broker reload, its events refused, its status cleared",
    tag="fleet",
    response=RevocationOut,
)
def revoke_device(call: Call, site: str, device: str) -> RevocationOut:
    _device(call, site, device)
    # The CRL is written first: should the commit fail, the kiosk is shut out all the same
    # (fail closed) and revoking again finishes the job.
    devices.revoke(call.session, call.trail, _ca(), site, device)
    withdrawn = devices.revoked_devices(call.session)
    done = fleet.after_revocation(_config(), site, device, withdrawn)
    return RevocationOut(site=site, device=device, done=done)
