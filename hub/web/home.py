"""The hub's front door: logged in, you land on the first page your role may open."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from hub.api.core import Call
from hub.web.access import page, web
from hub.web.nav import first_page

bp = Blueprint("home", __name__)


@bp.get("/")
@page("session.own")
def home(call: Call) -> ResponseReturnValue:
    landing = first_page(web().nav, call.user.role)
    if landing is None:  # a role with no page at all: say so rather than loop
        return render_template("nothing_to_see.html")
    return redirect(url_for(landing))
