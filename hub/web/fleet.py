"""The kiosk fleet for hub admins: every kiosk with its enrolment, online or offline (from
its status and Last Will), last seen, outbox depth, software and model versions, last sync,
sensors and problems; inviting a kiosk (one-time token as text and QR code), commands, and
withdrawal. Below: event streams, missing seqs and messages parked as invalid."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

import segno
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from pydantic import BaseModel, Field

from hub import devices, fleet
from hub.api.core import ApiError, Call
from hub.config import HubConfig
from hub.models import Device
from hub.overview import overview
from hub.roles import allowed
from hub.web.access import ShowAgain, page
from hub.web.forms import Form, read_form
from hub.web.nav import NavEntry

bp = Blueprint("fleet", __name__)
NAV = [NavEntry(90, "fleet.fleet_page", _l("Kiosks"), "fleet.read")]
Mode = Literal["self_service", "movement_check", "enrolment"]


NO_CA = _l(
    "This hub has no site CA yet, so it cannot enrol kiosks. An administrator creates one "
    "with “masar provision ca init” and names its folder in the hub's configuration "
    "(fleet.ca_dir)."
)


class InviteForm(BaseModel):
    site: str = Field(min_length=1, max_length=64)
    device: str = Field(min_length=1, max_length=64)
    wing: str = Field(min_length=1, max_length=64)
    mode: Mode = "self_service"
    valid_hours: float = Field(default=24, gt=0, le=168)


class CommandForm(BaseModel):
    kind: Literal["sync", "wipe_caches", "set_mode"]
    mode: Mode | None = None


def _config() -> HubConfig:
    config: HubConfig = current_app.config["HUB"]
    return config


def _fleet_page(
    call: Call, form: Form | None = None, invitation: dict[str, str] | None = None
) -> str:
    return render_template(
        "fleet.html",
        o=overview(call.session),
        kiosks=fleet.kiosks(call.session, call.user.site),
        can_manage=allowed(call.user.role, "fleet.manage"),
        can_enrol=_config().fleet.ca_dir is not None,
        no_ca=NO_CA,
        form=form or Form({"site": call.user.site or "", "valid_hours": "24"}),
        invitation=invitation,
    )


@bp.get("/fleet")
@page("fleet.read")
def fleet_page(call: Call) -> ResponseReturnValue:
    return _fleet_page(call)


@bp.post("/fleet/invite")
@page("fleet.manage")
def invite(call: Call) -> ResponseReturnValue:
    wanted, form = read_form(InviteForm)
    if wanted is not None and call.user.site not in (None, wanted.site):
        form.add_error("site", _("You work at %(site)s.", site=call.user.site))
        wanted = None
    if wanted is not None and _config().fleet.ca_dir is None:
        form.add_error("form", str(NO_CA))
        wanted = None
    if wanted is None:
        raise ShowAgain(_fleet_page(call, form))
    try:
        invitation = devices.invite(
            call.session,
            call.trail,
            fleet.site_ca(_config()),
            site=wanted.site,
            device=wanted.device,
            wing=wanted.wing,
            mode=wanted.mode,
            lifetime=timedelta(hours=wanted.valid_hours),
        )
    except devices.EnrolmentRefused as refused:
        form.add_error("device", str(refused))
        raise ShowAgain(_fleet_page(call, form)) from None
    except fleet.FleetError as error:
        form.add_error("form", str(error))
        raise ShowAgain(_fleet_page(call, form)) from None
    command = invitation.command(request.host_url.rstrip("/"))
    shown = {
        "site": invitation.site,
        "device": invitation.device,
        "token": invitation.token,
        "expires_at": f"{invitation.expires_at:%Y-%m-%d %H:%M} UTC",
        "command": command,
        # segno writes the SVG itself from the command text: nothing of the page's input
        # reaches it unescaped.
        "qr": Markup(segno.make(command, error="m").svg_inline(scale=4)),  # nosec B704  # segno writes the SVG itself from the command text
    }
    return _fleet_page(call, invitation=shown)


def _device(call: Call, site: str, device: str) -> Device:
    call.own_site(site)
    row = call.session.get(Device, (site, device))
    if row is None:
        raise ApiError(404, _("There is no kiosk %(site)s/%(device)s.", site=site, device=device))
    return row


@bp.post("/fleet/<site>/<device>/command")
@page("fleet.manage")
def command(call: Call, site: str, device: str) -> ResponseReturnValue:
    row = _device(call, site, device)
    wanted, _form = read_form(CommandForm)
    if wanted is None or (wanted.kind == "set_mode") != (wanted.mode is not None):
        flash(_("Choose a command (and a mode to change to)."))
        return redirect(url_for("fleet.fleet_page"))
    try:
        fleet.send_command(_config(), row, wanted.kind, wanted.mode)
    except fleet.FleetError as error:
        flash(str(error))
        return redirect(url_for("fleet.fleet_page"))
    call.trail.record(
        call.session, "device.command", None, {"site": site, "device": device, "kind": wanted.kind}
    )
    flash(
        _(
            "Sent to %(site)s/%(device)s: it runs when it is next connected.",
            site=site,
            device=device,
        )
    )
    return redirect(url_for("fleet.fleet_page"))


@bp.post("/fleet/<site>/<device>/revoke")
@page("fleet.manage")
def revoke(call: Call, site: str, device: str) -> ResponseReturnValue:
    _device(call, site, device)
    if request.form.get("confirm") != f"{site}/{device}":
        flash(
            _("To withdraw a kiosk, type its name (%(name)s) to confirm.", name=f"{site}/{device}")
        )
        return redirect(url_for("fleet.fleet_page"))
    try:
        devices.revoke(call.session, call.trail, fleet.site_ca(_config()), site, device)
    except fleet.FleetError as error:
        flash(str(error))
        return redirect(url_for("fleet.fleet_page"))
    withdrawn = devices.revoked_devices(call.session)
    for line in fleet.after_revocation(_config(), site, device, withdrawn):
        flash(line)
    flash(_("Kiosk %(name)s is withdrawn.", name=f"{site}/{device}"))
    return redirect(url_for("fleet.fleet_page"))
