"""Who may see a screen: a personal page only for the live session of this browser.

Every personal page goes through ``needs_session``: after logout or a timeout, or from a
page left open by the previous person, the kiosk answers with the attract screen, never
with the page. Every page is sent with ``no-store`` (app.py) so the back button has nothing
cached to show.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import abort, redirect, request, url_for
from werkzeug.wrappers import Response

from kiosk import caches
from kiosk.sessions import Session
from kiosk.ui.context import kiosk

P = ParamSpec("P")
R = TypeVar("R")


def attract_screen() -> Response:
    return redirect(url_for("home.attract"))


def needs_session(kind: str) -> Callable[[Callable[..., R]], Callable[..., R | Response]]:
    """Run the view with the live ``Session`` as first argument, if it is of ``kind``."""

    def wrap(view: Callable[..., R]) -> Callable[..., R | Response]:
        @wraps(view)
        def guarded(*args: object, **kwargs: object) -> R | Response:
            here = kiosk()
            live = here.live_session()
            if live is None or live.kind != kind:
                return attract_screen()
            if kind == "detainee" and caches.person(here.db(), live.person_id) is None:
                here.sessions.end()  # left the wing (sync): nothing more is shown or saved
                return attract_screen()
            here.sessions.touch()
            return view(live, *args, **kwargs)

        return guarded

    return wrap


def local_path(value: str | None, default: str) -> str:
    """A path on this kiosk to go back to; anything else (another site) gives ``default``."""
    ok = value is not None and value.startswith("/") and not value.startswith(("//", "/\\"))
    return value if ok and value is not None else default


def same_origin() -> None:
    """Refuse a form posted from another origin: the kiosk only obeys its own pages."""
    site = request.headers.get("Sec-Fetch-Site")
    if site not in (None, "same-origin", "none"):
        abort(403)
    origin = request.headers.get("Origin")
    if origin not in (None, "null") and origin != request.host_url.rstrip("/"):
        abort(403)


__all__ = ["Session", "attract_screen", "local_path", "needs_session", "same_origin"]
