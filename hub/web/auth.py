"""Logging in and out of the web pages, and choosing the interface language.

The login form has its own CSRF token, kept in Flask's signed cookie, since there is no
session yet to hold one. ``next`` is followed only to a path on this hub.
"""

from __future__ import annotations

import hmac
import secrets

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from hub import users
from hub.api.core import COOKIE, Call
from hub.web import language
from hub.web.access import page, web
from hub.web.forms import Form
from hub.web.nav import first_page

bp = Blueprint("auth", __name__)
LOGIN_CSRF = "login_csrf"


def _local(target: str | None) -> str | None:
    """``target`` if it is a path on this site (not ``//elsewhere`` nor ``http://…``)."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return None


def _login_page(form: Form, status: int = 200) -> tuple[str, int]:
    token = secrets.token_urlsafe(24)
    session[LOGIN_CSRF] = token
    return render_template("login.html", form=form, login_csrf=token), status


@bp.get("/login")
def login() -> ResponseReturnValue:
    return _login_page(Form({"next": request.args.get("next", "")}))


@bp.post("/login")
def login_submit() -> ResponseReturnValue:
    username = request.form.get("username", "").strip().lower()
    password = request.form.get("password", "")
    form = Form({"username": username, "next": request.form.get("next", "")})
    expected = session.pop(LOGIN_CSRF, "")
    if not expected or not hmac.compare_digest(request.form.get("csrf_token", ""), expected):
        form.add_error("form", _("This form is out of date. Please log in again."))
        return _login_page(form, 400)
    if not username:
        form.add_error("username", _("Write your user name."))
    if not password:
        form.add_error("password", _("Write your password."))
    if form.errors:
        return _login_page(form, 422)
    with web().sessions.begin() as db:  # commits a failure too, so that it is counted
        try:
            done = users.login(db, username, password, request.remote_addr or "?")
            token, role = done.token, done.user.role
        except users.LoginRefused as refused:
            if not refused.retry_after:
                form.add_error("form", _("The user name or the password is wrong."))
                return _login_page(form, 401)
            minutes = (refused.retry_after + 59) // 60
            message = _(
                "Too many failed logins. Try again in %(minutes)s minute(s).", minutes=minutes
            )
            form.add_error("form", message)
            body, status = _login_page(form, 429)
            return body, status, {"Retry-After": str(refused.retry_after)}
    landing = first_page(web().nav, role)
    target = _local(form.value("next")) or (url_for(landing) if landing else url_for("home.home"))
    response = redirect(target)
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=request.is_secure,
        max_age=int(users.LIFETIME.total_seconds()),
    )
    return response


@bp.post("/logout")
@page("session.own")
def logout(call: Call) -> ResponseReturnValue:
    users.logout(call.session, request.cookies.get(COOKIE, ""))
    response = redirect(url_for("auth.login"))
    response.delete_cookie(COOKIE)
    return response


def _chosen() -> tuple[str | None, Response]:
    chosen = request.form.get("language", "")
    back = redirect(_local(request.form.get("back")) or url_for("home.home"))
    if chosen not in language.NAMES:
        return None, back
    back.set_cookie(language.COOKIE, chosen, samesite="Lax", secure=request.is_secure)
    return chosen, back


@bp.post("/language")
def choose_language() -> ResponseReturnValue:
    """Before login: the choice is remembered in a cookie."""
    return _chosen()[1]


@bp.post("/me/language")
@page("session.own")
def choose_my_language(call: Call) -> ResponseReturnValue:
    """Logged in: the choice is the user's own, on any computer."""
    chosen, back = _chosen()
    if chosen is not None and chosen != call.user.language:
        call.user.language = chosen
        call.trail.record(call.session, "user.language", call.user.id, {"language": chosen})
    return back
