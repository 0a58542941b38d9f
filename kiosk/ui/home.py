"""The detainee's screens around the questionnaires: attract, menu, training, my file, logout,
and the language switch. One route per screen; the work is done in kiosk.caches and
kiosk.drafts.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from kiosk import caches, drafts
from kiosk.ui.context import kiosk
from kiosk.ui.guards import Session, attract_screen, local_path, needs_session, same_origin
from kiosk.ui.i18n import LANGUAGES, current_language, in_language, set_language
from kiosk.ui.prompts import prompt_file
from kiosk.ui.words import FACTS, PROVENANCE, SENSOR_DOWN

bp = Blueprint("home", __name__)

STAFF_HOME = {"movement_check": "staff.movement", "enrolment": "staff.enrolment"}


@bp.get("/")
def attract() -> str | Response:
    """The screen nobody is using: language buttons and how to begin, or why not. A
    withdrawn kiosk says so and offers nothing else."""
    here = kiosk()
    live = here.live_session()
    if live is not None:
        return redirect(url_for("home.menu" if live.kind == "detainee" else _staff_home()))
    if here.withdrawn():
        return render_template("attract.html", withdrawn=True)
    return render_template(
        "attract.html",
        withdrawn=False,
        mode=here.mode(),
        out_of_service=here.out_of_service(),
        offline=not here.hub_connected(),
        sensor_problems=[
            str(SENSOR_DOWN.get(name, name)) for name in here.sensors_down() if name in SENSOR_DOWN
        ],
    )


def _staff_home() -> str:
    return STAFF_HOME.get(kiosk().mode(), "staff.staff_home")


@bp.post("/language")
def language() -> Response:
    """Switch language at any moment, then show the same screen again."""
    same_origin()
    code = request.form.get("lang", "")
    if code in LANGUAGES:
        set_language(code)
        session["lang_chosen"] = True  # the person's choice beats their file's preference
    return redirect(local_path(request.form.get("back"), "/"))


@bp.get("/prompt/<key>.wav")
def prompt(key: str) -> Response:
    """A spoken prompt in the current language (attract screen, identification guidance)."""
    path = prompt_file(current_language().code, key)
    if path is None:
        abort(404)
    return send_file(path, mimetype="audio/wav", max_age=0)


@bp.post("/touch")
def touch() -> dict[str, Any]:
    """The screen was touched without a page change (keyboard, scrolling): keep the session
    alive. Answers how long is left, so the countdown stays honest."""
    same_origin()
    here = kiosk()
    if here.live_session() is None:
        return {"live": False, "remaining": 0}
    here.sessions.touch()
    return {"live": True, "remaining": here.sessions.remaining()}


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> Response:
    """End the session: forget the person, go back to the kiosk's language and the attract
    screen. GET too, for the countdown's own redirect."""
    here = kiosk()
    if here.live_session() is not None:
        here.sessions.end()
    here.stations.log_out()  # a staff login on screen ends with the session
    timed_out = request.values.get("why") == "timeout"
    session.clear()
    return redirect(url_for("home.goodbye", why="timeout" if timed_out else None))


@bp.get("/goodbye")
def goodbye() -> str | Response:
    if kiosk().live_session() is not None:
        return attract_screen()
    return render_template("goodbye.html", timed_out=request.args.get("why") == "timeout")


def _name(person: caches.Person) -> str:
    return person.name_arabic if current_language().code == "ar" else person.name_latin


def _person(live: Session) -> caches.Person:
    person = caches.person(kiosk().db(), live.person_id)
    if person is None:  # left the wing while logged in: the next page ends the session
        raise LookupError("this person is no longer in this kiosk's wing")
    return person


@bp.get("/menu")
@needs_session("detainee")
def menu(live: Session) -> str | Response:
    try:
        person = _person(live)
    except LookupError:
        return redirect(url_for("home.logout"))
    here = kiosk()
    file = caches.person_file(here.db(), here.vault, live.person_id)
    due = [a for a in file.get("assignments", []) if a.get("state") != "done"]
    return render_template("menu.html", name=_name(person), due=len(due))


@bp.get("/me/photo")
@needs_session("detainee")
def photo(live: Session) -> Response:
    person = caches.person(kiosk().db(), live.person_id)
    if person is None or person.photo_thumbnail is None:
        return Response(status=404)
    return Response(person.photo_thumbnail, mimetype="image/jpeg")


@bp.get("/training")
@needs_session("detainee")
def training(live: Session) -> str:
    here = kiosk()
    db = here.db()
    file = caches.person_file(db, here.vault, live.person_id)
    eligible = set(file.get("eligible_programmes", []))
    status = {row["programme_id"]: row["status"] for row in file.get("training", [])}
    status.update({p: "requested" for p in drafts.pending_requests(db, live.person_id)})
    rows = [
        {
            "id": programme["id"],
            "title": in_language(programme.get("titles", {})),
            "provider": programme.get("provider", ""),
            "starts_on": programme.get("starts_on", ""),
            "ends_on": programme.get("ends_on", ""),
            "status": status.get(programme["id"]),
        }
        for programme in caches.programmes(db)
        if programme["id"] in eligible or programme["id"] in status
    ]
    return render_template("training.html", programmes=rows)


@bp.post("/training/request")
@needs_session("detainee")
def request_training(live: Session) -> Response:
    same_origin()
    here = kiosk()
    programme_id = request.form.get("programme", "")
    known = {p["id"] for p in caches.programmes(here.db())}
    if programme_id in known and programme_id not in drafts.pending_requests(
        here.db(), live.person_id
    ):  # a second tap asks nothing more
        drafts.request_training(
            here.db(),
            site=here.config.site,
            device=here.config.device,
            detainee_id=live.person_id,
            programme_id=programme_id,
        )
    return redirect(url_for("home.training"))


@bp.get("/file")
@needs_session("detainee")
def my_file(live: Session) -> str:
    here = kiosk()
    db = here.db()
    file = caches.person_file(db, here.vault, live.person_id)
    titles = {p["id"]: in_language(p.get("titles", {})) for p in caches.programmes(db)}
    forms = {f["form_id"]: in_language(f.get("titles", {})) for f in caches.questionnaires(db)}
    return render_template(
        "file.html",
        facts=file.get("facts", []),
        followed=[
            titles.get(row.get("programme_id", ""), row.get("programme_id", ""))
            for row in file.get("training_followed", [])
        ],
        plan=file.get("plan"),
        fact_names={name: str(label) for name, label in FACTS.items()},
        provenances={name: str(label) for name, label in PROVENANCE.items()},
        receipts=[
            {**receipt, "title": forms.get(receipt["form_id"], receipt["form_id"])}
            for receipt in drafts.receipts(db, here.vault, live.person_id)
        ],
        states={
            "waiting": _("Kept on this kiosk, will be sent"),
            "sent": _("Sent, waiting for the hub"),
            "received": _("Received by the hub"),
        },
    )
