"""Training pages for trainers and registrars: the programmes, one programme's queue of
requests with approve / waitlist / decline, the people it should be offered to, and the
attendance sheet with completion. The decisions are hub.training's, as in the JSON API;
users who may only read (training.read) see the same pages without the buttons.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from pydantic import BaseModel, Field

from hub import classifications, recommendations, training
from hub.api.core import ApiError, Call
from hub.models import Detainee, Enrolment, Programme
from hub.roles import allowed
from hub.web import language
from hub.web.access import ShowAgain, page, trouble
from hub.web.forms import Form, read_form
from hub.web.nav import NavEntry

bp = Blueprint("training", __name__)
NAV = [NavEntry(30, "training.programmes", _l("Training"), "training.read")]
QUEUE_PAGE = 50  # requests per page of a programme's queue

STATE_NAMES: dict[str, LazyString] = {
    "requested": _l("requested"),
    "approved": _l("approved"),
    "waitlisted": _l("on the waiting list"),
    "declined": _l("declined"),
    "withdrawn": _l("withdrawn"),
    "completed": _l("completed"),
    "dropped": _l("dropped"),
}


class DecisionForm(BaseModel):
    decision: training.Decision
    reason: str | None = Field(default=None, max_length=training.MAX_TEXT)


class CompletionForm(BaseModel):
    outcome: training.Outcome


class RequestForm(BaseModel):
    detainee_id: str = Field(max_length=64)


# --- what every training page shows ----------------------------------------------------------


def _title(programme: Programme) -> str:
    """The programme's title in the interface's language, else in French."""
    return str(programme.titles.get(language.selected()) or programme.titles["fr"])


def _name(detainee: Any) -> str:
    """A person's name in the interface's script (a Detainee or an attendance row)."""
    arabic = str(detainee.name_arabic or "")
    return arabic if language.selected() == "ar" and arabic else str(detainee.name_latin)


def _isced(level: int | None) -> str:
    if level is None:
        return str(_("not recorded"))
    found = classifications.isced(str(level))
    title = {"fr": found.title_fr, "ar": found.title_ar}.get(language.selected())
    return f"{title or found.title_en} (ISCED {level})"


def _isco(code: str) -> str:
    found = classifications.isco(code)
    title = {"fr": found.title_fr, "ar": found.title_ar}.get(language.selected())
    return f"{title or found.title_en} (ISCO {code})"


def _when(programme: Programme, today: date) -> str:
    """to_come, running, finished or inactive: for the badge and its words."""
    if not programme.active:
        return "inactive"
    if programme.ends_on < today:
        return "finished"
    return "running" if programme.starts_on <= today else "to_come"


def _render(template: str, call: Call, **values: Any) -> str:
    return render_template(
        template,
        can_manage=allowed(call.user.role, "training.manage"),
        title=_title,
        isced_name=_isced,
        isco_name=_isco,
        state_name=lambda state: str(STATE_NAMES.get(state, state)),
        **values,
    )


def shown_here(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
    """Show a refusal while the user's transaction is still open: the gate's own handlers
    run after the rollback, when the user's record can no longer be read for the page."""

    @functools.wraps(view)
    def run(call: Call, **kwargs: Any) -> ResponseReturnValue:
        try:
            return view(call, **kwargs)
        except ApiError as error:
            return trouble(error.status, error.message)

    return run


def _programme(call: Call, programme_id: str) -> Programme:
    """The programme, if this user may see it (users tied to a site see only theirs)."""
    programme = call.session.get(Programme, programme_id)
    if programme is None or (call.user.site is not None and programme.site != call.user.site):
        raise ApiError(404, _("There is no programme %(id)s.", id=programme_id))
    return programme


def _detainee(call: Call, detainee_id: str) -> Detainee:
    try:
        return call.detainee(detainee_id)
    except ApiError:
        raise ApiError(404, _("There is no detainee with this Masar id.")) from None


def _enrolment_of(
    call: Call, programme: Programme, enrolment_id: int
) -> tuple[Enrolment, Detainee]:
    enrolment = call.session.get(Enrolment, enrolment_id)
    if enrolment is None or enrolment.programme_id != programme.id:
        raise ApiError(404, _("There is no such request for this programme."))
    return enrolment, _detainee(call, enrolment.detainee_id)


# --- the programmes ----------------------------------------------------------------------------


@bp.get("/training")
@page("training.read")
@shown_here
def programmes(call: Call) -> ResponseReturnValue:
    everything = request.args.get("inactive") == "1"
    found = training.programmes(call.session, call.user.site, include_inactive=everything)
    counts = recommendations.programme_counts(call.session, [p.id for p in found])
    today = date.today()
    return _render(
        "training_programmes.html",
        call,
        programmes=found,
        counts=counts,
        when={p.id: _when(p, today) for p in found},
        everything=everything,
    )


# --- one programme: queue, decisions, recommendations --------------------------------------


def _page_number() -> int:
    text = request.args.get("page", "1")
    return max(int(text), 1) if text.isdigit() else 1


def _programme_page(
    call: Call, programme: Programme, form: Form | None = None, failed: int | None = None
) -> str:
    session = call.session
    queue = recommendations.queue_page(session, programme.id, _page_number(), QUEUE_PAGE)
    taken = training.places_taken(session, programme.id)
    return _render(
        "training_programme.html",
        call,
        programme=programme,
        when=_when(programme, date.today()),
        taken=taken,
        left=max(programme.capacity - taken, 0),
        queue=queue,
        decisions=recommendations.latest_decisions(session, programme.id),
        recommended=recommendations.recommend(session, programme.id, date.today()),
        form=form,
        failed=failed,
        failed_shown=failed is not None and any(r.enrolment.id == failed for r in queue.rows),
    )


@bp.get("/training/<programme_id>")
@page("training.read")
@shown_here
def programme(call: Call, programme_id: str) -> ResponseReturnValue:
    return _programme_page(call, _programme(call, programme_id))


def _decided(decision: str, person: Detainee) -> str:
    """The notice after a decision: who, and what they now have."""
    who = {"name": _name(person), "number": person.prison_number}
    if decision == "approve":
        return str(_("%(name)s (%(number)s) is approved: the place is theirs.", **who))
    if decision == "waitlist":
        return str(_("%(name)s (%(number)s) is on the waiting list.", **who))
    return str(_("%(name)s (%(number)s) is declined; the reason is recorded.", **who))


@bp.post("/training/<programme_id>/enrolments/<int:enrolment_id>/decision")
@page("training.manage")
@shown_here
def decide(call: Call, programme_id: str, enrolment_id: int) -> ResponseReturnValue:
    programme = _programme(call, programme_id)
    enrolment, person = _enrolment_of(call, programme, enrolment_id)
    body, form = read_form(DecisionForm)
    if body is not None and body.decision == "decline" and not body.reason:
        form.add_error("reason", _("Write why the request is declined; the person will be told."))
    if body is None or form.errors:
        raise ShowAgain(_programme_page(call, programme, form, enrolment_id))
    try:
        training.decide(call.session, call.trail, enrolment_id, body.decision, body.reason)
    except training.TrainingError as error:
        full = training.places_taken(call.session, programme.id) >= programme.capacity
        if body.decision == "approve" and full and enrolment.state in training.QUEUE_STATES:
            message = _(
                "All %(capacity)s places are taken, so this request cannot be approved. "
                "Put it on the waiting list, or approve it once a place is given back.",
                capacity=programme.capacity,
            )
        else:
            message = str(error)
        form.add_error("decision", message)
        raise ShowAgain(_programme_page(call, programme, form, enrolment_id)) from None
    flash(_decided(body.decision, person))
    return redirect(url_for("training.programme", programme_id=programme.id))


@bp.post("/training/<programme_id>/requests")
@page("training.manage")
@shown_here
def ask(call: Call, programme_id: str) -> ResponseReturnValue:
    """Staff ask for a place on behalf of a recommended person: it joins the queue."""
    programme = _programme(call, programme_id)
    body, form = read_form(RequestForm)
    if body is None:
        raise ShowAgain(_programme_page(call, programme, form))
    person = _detainee(call, body.detainee_id)
    try:
        training.request_enrolment(
            call.session,
            call.trail,
            programme_id=programme.id,
            detainee_id=person.id,
            via=call.trail.actor,
        )
    except training.TrainingError as error:
        form.add_error("detainee_id", str(error))
        raise ShowAgain(_programme_page(call, programme, form)) from None
    flash(
        _(
            "%(name)s (%(number)s) is in the queue; decide on the request below.",
            name=_name(person),
            number=person.prison_number,
        )
    )
    return redirect(url_for("training.programme", programme_id=programme.id))


# --- attendance and completion -----------------------------------------------------------------


def _default_day(programme: Programme) -> date:
    """Today, or the nearest day of the programme when today is outside it."""
    return min(max(date.today(), programme.starts_on), programme.ends_on)


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _attendance_page(call: Call, programme: Programme, day: date, form: Form | None) -> str:
    sheet = training.attendance_sheet(call.session, programme.id)
    numbers = recommendations.prison_numbers(
        call.session, [row.enrolment.detainee_id for row in sheet.rows]
    )
    return _render(
        "training_attendance.html",
        call,
        programme=programme,
        day=day,
        present=[r for r in sheet.rows if r.enrolment.state == "approved"],
        closed=[r for r in sheet.rows if r.enrolment.state != "approved"],
        numbers=numbers,
        form=form,
    )


@bp.get("/training/<programme_id>/attendance")
@page("training.read")
@shown_here
def attendance(call: Call, programme_id: str) -> ResponseReturnValue:
    programme = _programme(call, programme_id)
    asked = request.args.get("day", "").strip()
    day = _day(asked) if asked else _default_day(programme)
    form = None
    if day is None:
        form = Form({"day": asked})
        form.add_error("day", _("Write a date as YYYY-MM-DD, for example 2026-12-31."))
        day = _default_day(programme)
    return _attendance_page(call, programme, day, form)


@bp.post("/training/<programme_id>/attendance")
@page("training.manage")
@shown_here
def save_attendance(call: Call, programme_id: str) -> ResponseReturnValue:
    """Every approved person's mark for one day, in one form."""
    programme = _programme(call, programme_id)
    form = Form({name: value.strip() for name, value in request.form.items()})
    day = _day(form.value("day"))
    if day is None:
        form.add_error("day", _("Write a date as YYYY-MM-DD, for example 2026-12-31."))
    elif not programme.starts_on <= day <= programme.ends_on:
        form.add_error(
            "day",
            _(
                "The programme runs from %(start)s to %(end)s; choose a day between them.",
                start=programme.starts_on.isoformat(),
                end=programme.ends_on.isoformat(),
            ),
        )
    sheet = training.attendance_sheet(call.session, programme.id)
    marks = {}
    for row in sheet.rows:
        if row.enrolment.state != "approved":
            continue
        value = form.value(f"present-{row.enrolment.id}")
        if value in ("1", "0"):
            marks[row.enrolment.id] = value == "1"
        elif value:
            form.add_error(f"present-{row.enrolment.id}", _("Choose present or absent."))
    if day is not None and not marks and not form.errors:
        form.add_error("form", _("Mark at least one person present or absent."))
    if day is None or form.errors:
        raise ShowAgain(_attendance_page(call, programme, day or _default_day(programme), form))
    for enrolment_id, present in marks.items():
        training.record_attendance(call.session, call.trail, enrolment_id, day, present)
    here = sum(marks.values())
    flash(
        _(
            "Attendance saved for %(day)s: %(present)s present, %(absent)s absent.",
            day=day.isoformat(),
            present=here,
            absent=len(marks) - here,
        )
    )
    return redirect(url_for("training.attendance", programme_id=programme.id, day=day.isoformat()))


@bp.post("/training/<programme_id>/enrolments/<int:enrolment_id>/completion")
@page("training.manage")
@shown_here
def complete(call: Call, programme_id: str, enrolment_id: int) -> ResponseReturnValue:
    programme = _programme(call, programme_id)
    person = _enrolment_of(call, programme, enrolment_id)[1]
    body, form = read_form(CompletionForm)
    day = _day(request.form.get("day", "")) or _default_day(programme)
    if body is None:
        form.errors = {f"outcome-{enrolment_id}": form.errors.get("outcome", "")}
        raise ShowAgain(_attendance_page(call, programme, day, form))
    try:
        training.complete(call.session, call.trail, enrolment_id, body.outcome)
    except training.TrainingError as error:
        form.add_error("form", str(error))
        raise ShowAgain(_attendance_page(call, programme, day, form)) from None
    flash(
        _(
            "%(name)s (%(number)s): the enrolment is closed as %(outcome)s.",
            name=_name(person),
            number=person.prison_number,
            outcome=STATE_NAMES[body.outcome],
        )
    )
    return redirect(url_for("training.attendance", programme_id=programme.id, day=day.isoformat()))
