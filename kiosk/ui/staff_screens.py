"""Staff screens at a wing gate (movement check) and at an enrolment station.

The work is kiosk.movement_check and kiosk.enrolment_station; these views show their state,
pass on what staff touch, and tie the staff login to a kiosk session so the inactivity
logout applies to staff too. Each page is drawn for one stage; the page polls the state and
reloads itself when the stage changes.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext
from werkzeug.wrappers import Response

from kiosk.enrolment_station import EnrolmentState, EnrolmentStation
from kiosk.flow_parts import roster_photo
from kiosk.movement_check import MovementCheck, MovementState
from kiosk.sessions import SessionRefused
from kiosk.ui.context import kiosk
from kiosk.ui.guards import attract_screen, needs_session, same_origin
from kiosk.ui.identify_screens import corners, screen_state
from kiosk.ui.words import CAPTURES, GUIDANCE, sentence

bp = Blueprint("staff", __name__)

DESTINATIONS = {
    "workshop": lazy_gettext("Workshop"),
    "classroom": lazy_gettext("Classroom"),
    "clinic": lazy_gettext("Clinic"),
    "visits": lazy_gettext("Visits room"),
    "court": lazy_gettext("Court"),
    "yard": lazy_gettext("Yard"),
    "sport": lazy_gettext("Sport"),
}


def _tie_session(staff_id: str | None, log_out: Any) -> bool:
    """Open the kiosk session when staff have just logged in; False when theirs ended
    (inactivity, logout): then the flow is logged out too, and only a new badge and PIN open
    it again."""
    here = kiosk()
    stations = here.stations
    if staff_id is None:
        stations.tied = None
        return True
    if here.live_session() is not None:
        here.sessions.touch()
        return True
    current = here.sessions.current()
    if current is not None and current.person_id == staff_id and stations.tied == staff_id:
        return True  # a second request of the same login, sent before its cookie came back
    if stations.tied == staff_id or current is not None:  # its session ended, or someone else's
        session.pop("token", None)
        stations.tied = None
        log_out()
        return False
    try:
        live = here.sessions.start(staff_id, "staff")
    except SessionRefused:
        log_out()
        return False
    stations.tied = staff_id
    session["token"] = live.token
    return True


# --- movement check ----------------------------------------------------------------------------


def _movement() -> MovementCheck:
    return kiosk().stations.movement()


def _movement_key(state: MovementState) -> str:
    return f"{state.stage}:{state.identification.expect}:{state.person is not None}"


@bp.get("/movement")
def movement() -> str | Response:
    if kiosk().mode() != "movement_check":
        return attract_screen()
    check = _movement()
    state = check.state()
    if not _tie_session(state.staff_id, check.logout):
        return redirect(url_for("home.goodbye", why="timeout"))
    wing = kiosk().config.wing or "wing"
    scheduled = [m.get("to") for m in (state.person.scheduled_movements if state.person else ())]
    return render_template(
        "movement.html",
        state=state,
        key=_movement_key(state),
        flow=screen_state(state.identification),
        out_count=check.out_count(),
        destinations=[
            (code, str(DESTINATIONS.get(code, code)))
            for code in dict.fromkeys([*[s for s in scheduled if s], *DESTINATIONS, wing])
        ],
        wing=wing,
        message=sentence(state.message),
        camera=kiosk().agent is not None and kiosk().agent.camera is not None,
    )


@bp.get("/movement/state")
def movement_state() -> dict[str, Any]:
    check = kiosk().stations.current()
    if not isinstance(check, MovementCheck):
        return {"key": "", "finished": False}
    state = check.state()
    return {**screen_state(state.identification), "key": _movement_key(state), "finished": False}


@bp.get("/movement/photo")
@needs_session("staff")
def movement_photo(live: Any) -> Response:
    check = kiosk().stations.current()
    photo = check.photo() if isinstance(check, MovementCheck) else None
    return Response(photo, mimetype="image/jpeg") if photo else Response(status=404)


@bp.post("/movement/decide")
@needs_session("staff")
def movement_decide(live: Any) -> Response:
    same_origin()
    check = _movement()
    to = request.form.get("to", "")
    if request.form.get("outcome") == "refused":
        check.refuse(to)
    else:
        check.confirm(to)
    return redirect(url_for("staff.movement"))


@bp.post("/movement/next")
@needs_session("staff")
def movement_next(live: Any) -> Response:
    same_origin()
    _movement().next_person()
    return redirect(url_for("staff.movement"))


# --- enrolment station -------------------------------------------------------------------------


def _station() -> EnrolmentStation:
    return kiosk().stations.enrolment()


def _enrolment_key(state: EnrolmentState) -> str:
    login = state.login.expect if state.login is not None else ""
    return f"{state.stage}:{login}:{len(state.enrolled)}:{state.error}:{state.message}"


@bp.get("/enrolment")
def enrolment() -> str | Response:
    if kiosk().mode() != "enrolment":
        return attract_screen()
    station = _station()
    state = station.state()
    if not _tie_session(state.staff_id, station.logout):
        return redirect(url_for("home.goodbye", why="timeout"))
    return render_template(
        "enrolment.html",
        state=state,
        key=_enrolment_key(state),
        flow=screen_state(state.login) if state.login is not None else {},
        guidance=str(GUIDANCE.get(state.guidance, state.advice)) if state.guidance else "",
        message=sentence(state.message),
        error=sentence(state.error),
        enrolled=[str(CAPTURES.get(what, what)) for what in state.enrolled],
        camera=kiosk().agent is not None and kiosk().agent.camera is not None,
    )


@bp.get("/enrolment/state")
def enrolment_state() -> dict[str, Any]:
    station = kiosk().stations.current()
    if not isinstance(station, EnrolmentStation):
        return {"key": "", "finished": False}
    state = station.state()
    box = corners(state.face_box)
    flow = screen_state(state.login) if state.login is not None else {}
    return {
        **flow,
        "key": _enrolment_key(state),
        "guidance": str(GUIDANCE.get(state.guidance, state.advice)) if state.guidance else "",
        "box": box or flow.get("box"),
        "frames": f"{state.frames_kept} / {state.frames_wanted}",
        "finished": False,
    }


@bp.post("/enrolment/do")
@needs_session("staff")
def enrolment_do(live: Any) -> Response:
    """One staff action at the station: pick a person, capture, stop, next person."""
    same_origin()
    station = _station()
    action = request.form.get("action", "")
    if action == "pick":
        station.pick_prison_number(request.form.get("prison_number", "").strip())
    elif action == "face":
        station.capture_face()
    elif action == "fingerprint":
        station.capture_fingerprint()
    elif action == "badge":
        station.assign_badge()
    elif action == "stop":
        station.stop_capture()
    elif action == "done":
        station.done_with_person()
    return redirect(url_for("staff.enrolment"))


@bp.get("/station/photo")
@needs_session("staff")
def station_photo(live: Any) -> Response:
    station = kiosk().stations.current()
    person = station.state().person if isinstance(station, EnrolmentStation) else None
    photo = roster_photo(kiosk().db(), person.detainee_id) if person is not None else None
    return Response(photo, mimetype="image/jpeg") if photo else Response(status=404)


# --- staff logout, and the status page for staff on a self-service kiosk -------------------


@bp.post("/staff/logout")
def logout() -> Response:
    same_origin()
    here = kiosk()
    here.stations.log_out()
    here.sessions.end()
    session.clear()
    return redirect(url_for("home.goodbye"))


@bp.get("/staff")
@needs_session("staff")
def staff_home(live: Any) -> str:
    return render_template("staff_home.html", mode=kiosk().mode())
