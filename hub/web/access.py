"""The gate every page passes: who is logged in, may their role open this page, is a form
really from our page (CSRF), and one transaction around the whole request.

The session is the JSON API's (same cookie, hub.users): logging in on the web also opens
the API to the page's scripts. A form carries the session's CSRF token in ``csrf_token``.
A refused health page is audited (hub.access). A view that finds bad input raises
``ShowAgain`` with the page to show: the transaction is rolled back, so nothing of the
attempt is kept, and the page shows what was typed with each problem beside its field.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from flask import current_app, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session, sessionmaker

from hub.access import refusal
from hub.api.core import COOKIE, ApiError, Call
from hub.audit import Trail
from hub.models import User
from hub.users import authenticate

View = TypeVar("View", bound=Callable[..., ResponseReturnValue])


@dataclass
class Web:
    sessions: sessionmaker[Session]
    key: bytes
    nav: list[Any] = field(default_factory=list)  # hub.web.nav.NavEntry, from every page module


def web() -> Web:
    return cast(Web, current_app.extensions["masar_web"])


@dataclass(frozen=True)
class Viewer:
    """Who is looking, as the page frame shows them (name, role, language, navigation):
    a plain copy, so that an error page drawn after a rollback still has it."""

    id: str
    name: str
    role: str
    site: str | None
    partner: str | None
    language: str

    @classmethod
    def of(cls, user: User) -> Viewer:
        return cls(user.id, user.name, user.role, user.site, user.partner, user.language)


class ShowAgain(Exception):
    """Stop, undo everything this request wrote, and show this page (status 422)."""

    def __init__(self, page: str, status: int = 422) -> None:
        super().__init__("the form has problems")
        self.page, self.status = page, status


def trouble(status: int, message: str) -> tuple[str, int]:
    """An error page in plain words, with the way back."""
    return render_template("trouble.html", status=status, message=message), status


def csrf_token() -> str:
    return str(g.get("csrf_token", ""))


def _csrf_ok(expected: str) -> bool:
    sent = request.form.get("csrf_token", "")
    return bool(sent) and hmac.compare_digest(sent, expected)


def page(permission: str) -> Callable[[View], View]:
    """Put a view behind login and ``permission``; it receives a ``Call`` (transaction, user,
    audit trail) and the URL's arguments."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def gate(**kwargs: Any) -> ResponseReturnValue:
            gates = web()
            token = request.cookies.get(COOKIE, "")
            try:
                with gates.sessions.begin() as session:
                    found = authenticate(session, token) if token else None
                    if found is None:
                        return redirect(url_for("auth.login", next=request.full_path))
                    user, web_session = found
                    g.user, g.csrf_token = Viewer.of(user), web_session.csrf_token
                    refused = refusal(
                        session,
                        gates.key,
                        user,
                        permission,
                        method=request.method,
                        path=request.path,
                        subject=kwargs.get("detainee_id"),
                    )
                    if refused is not None:  # committed: a refused health page is audited
                        return trouble(403, _("Your role does not give access to this page."))
                    if request.method == "POST" and not _csrf_ok(web_session.csrf_token):
                        return trouble(
                            400,
                            _("This form is out of date. Go back, reload the page and try again."),
                        )
                    call = Call(session, user, Trail(gates.key, f"user:{user.id}"))
                    try:
                        return view(call, **kwargs)
                    except ApiError as error:  # the page is drawn while the user is loaded
                        raise ShowAgain(*trouble(error.status, error.message)) from None
                    except LookupError as error:
                        raise ShowAgain(*trouble(404, str(error).strip("'\""))) from None
            except ShowAgain as again:  # rolled back: nothing of the attempt is kept
                return again.page, again.status
            except (DataError, OverflowError):  # a value the database refuses (NUL, 10**30)
                return trouble(422, _("This page cannot be used that way."))

        return cast(View, gate)

    return decorate
