"""Self-identification: badge, face (live preview with a face box and guidance) or finger,
as the policy for the kiosk's mode asks, then the person's menu.

The page polls ``/identify/state``; what it gets never names anyone: the person is bound to
the session on the server when the page posts ``/identify/finish``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from kiosk import caches
from kiosk.identify import FlowState, IdentificationFlow
from kiosk.movement_check import MovementCheck
from kiosk.sessions import SessionRefused
from kiosk.ui.context import kiosk
from kiosk.ui.guards import attract_screen, local_path, same_origin
from kiosk.ui.i18n import LANGUAGES, set_language
from kiosk.ui.words import GUIDANCE, PROMPT_FOR, STEPS, sentence

bp = Blueprint("identify", __name__)


def corners(box: tuple[float, float, float, float] | None) -> list[float] | None:
    """A flow's face box (x, y, width, height) as the page draws it: two corners."""
    if box is None:
        return None
    x, y, w, h = box
    return [x, y, x + w, y + h]


def screen_state(state: FlowState) -> dict[str, Any]:
    """What the page may know: the step, guidance, the face box; never who was matched."""
    box = corners(state.face_box)
    step = state.expect or ""
    guidance = str(GUIDANCE.get(state.guidance, state.advice)) if state.guidance else ""
    return {
        "step": step,
        "step_text": str(STEPS.get(step, "")),
        "options": list(state.options),
        "guidance": guidance,
        "prompt": PROMPT_FOR.get(state.guidance or step),
        "box": box,
        "finished": state.outcome is not None or (state.error is not None and not state.active),
        "error": sentence(state.error),
        "challenge": None
        if state.challenge is None
        else {"done": state.challenge.done, "of": len(state.challenge.steps)},
    }


@bp.post("/identify/start")
def start() -> Response:
    """The Start button: a new identification, unless the kiosk cannot serve anyone now."""
    same_origin()
    if kiosk().live_session() is not None or kiosk().stations.begin() is None:
        return attract_screen()
    return redirect(flow_page())


def flow_page() -> str:
    """Where the flow of the kiosk's mode is shown."""
    return url_for(
        {"movement_check": "staff.movement", "enrolment": "staff.enrolment"}.get(
            kiosk().mode(), "identify.screen"
        )
    )


@bp.get("/attract/state")
def attract_state() -> dict[str, Any]:
    """For the attract screen: has a badge tap begun a flow? Then show it. Withdrawn
    meanwhile? Then show the attract screen again, which says so."""
    if kiosk().withdrawn():
        return {"go": url_for("home.attract")}
    flow = kiosk().stations.current()
    return {"go": flow_page() if flow is not None else None}


@bp.get("/identify")
def screen() -> str | Response:
    flow = kiosk().stations.current()
    if flow is None or kiosk().live_session():
        return attract_screen()
    state = flow.state()
    return render_template(
        "identify.html",
        state=screen_state(state) if isinstance(state, FlowState) else {},
        camera=kiosk().agent is not None and kiosk().agent.camera is not None,
    )


def _flow_state() -> FlowState | None:
    flow = kiosk().stations.current()
    state = flow.state() if flow is not None else None
    return state if isinstance(state, FlowState) else None


@bp.get("/identify/state")
def state() -> dict[str, Any]:
    found = _flow_state()
    return screen_state(found) if found is not None else {"finished": True, "step": ""}


@bp.get("/identify/preview.jpg")
def preview() -> Response:
    flow = kiosk().stations.current()
    jpeg = flow.preview_jpeg() if flow is not None else None
    if jpeg is None:
        return Response(status=204)
    return Response(jpeg, mimetype="image/jpeg")


@bp.post("/identify/pin")
def pin() -> Response:
    same_origin()
    flow = kiosk().stations.current()
    if flow is not None:
        flow.present_pin(request.form.get("pin", ""))
    return redirect(local_path(request.form.get("back"), url_for("identify.screen")))


@bp.post("/identify/choose")
def choose() -> Response:
    same_origin()
    flow = kiosk().stations.current()
    modality = request.form.get("modality", "")
    if isinstance(flow, IdentificationFlow | MovementCheck):
        if modality == "face":
            flow.choose("face")
        elif modality == "fingerprint":
            flow.choose("fingerprint")
    return redirect(local_path(request.form.get("back"), url_for("identify.screen")))


@bp.post("/identify/cancel")
def cancel() -> Response:
    same_origin()
    kiosk().stations.end()
    return attract_screen()


@bp.post("/identify/finish")
def finish() -> str | Response:
    """The flow finished: open the person's session, or say plainly that it did not work."""
    same_origin()
    here = kiosk()
    found = _flow_state()
    if found is None:
        return attract_screen()
    if found.outcome != "matched" or found.person_id is None or found.person_kind is None:
        here.stations.end()
        return render_template(
            "not_identified.html",
            message=sentence(found.error or found.message) or _("Not recognised."),
        )
    person_id, kind = found.person_id, found.person_kind
    here.stations.end()
    try:
        live = here.sessions.start(person_id, kind)
    except SessionRefused as refused:
        return render_template("not_identified.html", message=str(refused))
    session["token"] = live.token
    if kind == "detainee":
        person = caches.person(here.db(), person_id)
        chosen = session.get("lang_chosen", False)
        if person is not None and person.preferred_language in LANGUAGES and not chosen:
            set_language(person.preferred_language)
        return redirect(url_for("home.menu"))
    return redirect(url_for("staff.staff_home"))
