"""The kiosk fleet for hub admins: each kiosk's state, what waits in its outbox, its event
stream and any missing seq, and messages parked as invalid."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l

from hub.api.core import Call
from hub.overview import overview
from hub.web.access import page
from hub.web.nav import NavEntry

bp = Blueprint("fleet", __name__)
NAV = [NavEntry(90, "fleet.fleet", _l("Kiosks"), "fleet.read")]


@bp.get("/fleet")
@page("fleet.read")
def fleet(call: Call) -> ResponseReturnValue:
    return render_template("fleet.html", o=overview(call.session))
