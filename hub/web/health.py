"""Health pages, for health staff only: urgent alerts to take charge of, recent screening
results, and one person's screenings and alerts.

Every page that shows health data writes a ``health.read`` audit entry, as the API does
(hub/api/health.py); a refused attempt is audited by the gate (hub.access). The audit entry
says what was read, never the scores.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import health
from hub.api.core import ApiError, Call
from hub.models import Detainee, HealthAlert, Screening, User
from hub.questionnaires import scoring
from hub.web.access import page, trouble
from hub.web.forms import Form, read_form
from hub.web.nav import NavEntry

bp = Blueprint("health", __name__)
NAV = [NavEntry(50, "health.alerts", _l("Health"), "health.read")]

PER_PAGE = 25  # recent screenings per page
ACKNOWLEDGED_SHOWN = 20  # recently acknowledged alerts on the alerts page
MAX_PAGE = 10_000

INSTRUMENTS = {"phq9": "PHQ-9", "gad7": "GAD-7"}  # names of the instruments, not translated
BANDS: dict[str, LazyString] = {
    "minimal": _l("minimal"),
    "mild": _l("mild"),
    "moderate": _l("moderate"),
    "moderately severe": _l("moderately severe"),
    "severe": _l("severe"),
}

T = TypeVar("T", Detainee, Screening, User)


class AcknowledgeForm(BaseModel):
    model_config = ConfigDict(extra="ignore")  # the "back" field says where to return
    note: str | None = Field(default=None, max_length=health.MAX_NOTE)


@dataclass(frozen=True)
class AlertRow:
    """An alert with what the page shows beside it."""

    alert: HealthAlert
    person: Detainee | None
    screening: Screening | None
    why: list[str]
    origin: str
    acknowledged_by: str | None


@dataclass(frozen=True)
class ScreeningRow:
    screening: Screening
    person: Detainee | None
    origin: str


# --- queries the pages need beyond hub.health ------------------------------------------------


def _by_id(session: Session, model: type[T], ids: Iterable[Any]) -> dict[Any, T]:
    """Rows by primary key, in one query."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = session.scalars(select(model).where(model.id.in_(wanted)))
    return {row.id: row for row in rows}


def _acknowledged(session: Session, site: str | None, limit: int) -> list[HealthAlert]:
    """Alerts taken in charge, the most recently acknowledged first."""
    query = select(HealthAlert).where(HealthAlert.acknowledged_at.is_not(None))
    if site is not None:
        query = query.join(Detainee, Detainee.id == HealthAlert.detainee_id).where(
            Detainee.site == site
        )
    order = (HealthAlert.acknowledged_at.desc(), HealthAlert.id.desc())
    return list(session.scalars(query.order_by(*order).limit(limit)))


def _recent_screenings(
    session: Session, site: str | None, offset: int, limit: int
) -> list[Screening]:
    """Screenings of everyone (or of one establishment's people), the latest taken first."""
    query = select(Screening)
    if site is not None:
        query = query.join(Detainee, Detainee.id == Screening.detainee_id).where(
            Detainee.site == site
        )
    order = (Screening.taken_at.desc(), Screening.id.desc())
    return list(session.scalars(query.order_by(*order).offset(offset).limit(limit)))


# --- what the rows say -----------------------------------------------------------------------


def _user_id(actor: str | None) -> str | None:
    return actor.removeprefix("user:") if actor and actor.startswith("user:") else None


def _origin(source: str, users: dict[str, User]) -> str:
    """Where a screening came from: the kiosk (device, establishment) or the staff member."""
    if source.startswith("kiosk:"):
        site, _slash, device = source.removeprefix("kiosk:").partition("/")
        return str(_("kiosk %(device)s (%(site)s)", device=device, site=site))
    user = users.get(_user_id(source) or "")
    return str(_("entered by %(name)s", name=user.name if user else source))


def _who(actor: str | None, users: dict[str, User]) -> str | None:
    user = users.get(_user_id(actor) or "")
    return user.name if user else actor


def _why(alert: HealthAlert, screening: Screening | None) -> list[str]:
    """Why the alert is urgent, from the screening's items and hub.questionnaires.scoring's
    rules; the alert's own (English) reason if the screening says nothing."""
    why = []
    if screening is not None and screening.instrument == "phq9":
        item9 = int(screening.items.get(scoring.PHQ9_SELF_HARM_ITEM, 0))
        if item9 > 0:
            why.append(_("item 9 (thoughts of death or self-harm) answered %(value)s", value=item9))
        if screening.score >= scoring.PHQ9_URGENT_TOTAL:
            why.append(
                _(
                    "total %(total)s, %(limit)s or more",
                    total=screening.score,
                    limit=scoring.PHQ9_URGENT_TOTAL,
                )
            )
    return why or [alert.reason]


def _alert_rows(session: Session, alerts: Sequence[HealthAlert]) -> list[AlertRow]:
    people = _by_id(session, Detainee, (a.detainee_id for a in alerts))
    screenings = _by_id(session, Screening, (a.screening_id for a in alerts))
    actors = [a.acknowledged_by for a in alerts] + [s.source for s in screenings.values()]
    users = _by_id(session, User, filter(None, map(_user_id, actors)))
    rows = []
    for alert in alerts:
        screening = screenings.get(alert.screening_id)
        rows.append(
            AlertRow(
                alert=alert,
                person=people.get(alert.detainee_id),
                screening=screening,
                why=_why(alert, screening),
                origin=_origin(screening.source, users) if screening else "",
                acknowledged_by=_who(alert.acknowledged_by, users),
            )
        )
    return rows


def _screening_rows(session: Session, screenings: Sequence[Screening]) -> list[ScreeningRow]:
    people = _by_id(session, Detainee, (s.detainee_id for s in screenings))
    users = _by_id(session, User, filter(None, (_user_id(s.source) for s in screenings)))
    return [
        ScreeningRow(s, people.get(s.detainee_id), _origin(s.source, users)) for s in screenings
    ]


def _names() -> dict[str, Any]:
    return {"instrument_name": lambda i: INSTRUMENTS.get(i, i), "band_name": _band_name}


def _band_name(band: str) -> str:
    return str(BANDS.get(band, band))


def _page_number() -> int:
    number = request.args.get("page", "1")
    return min(int(number), MAX_PAGE) if number.isdigit() and int(number) > 0 else 1


# --- pages -----------------------------------------------------------------------------------


def _alerts_page(call: Call, form: Form | None = None, form_alert: int | None = None) -> str:
    site = call.user.site
    number = _page_number()
    open_rows = _alert_rows(call.session, health.open_alerts(call.session, site))
    done_rows = _alert_rows(call.session, _acknowledged(call.session, site, ACKNOWLEDGED_SHOWN))
    found = _recent_screenings(call.session, site, (number - 1) * PER_PAGE, PER_PAGE + 1)
    call.trail.record(
        call.session,
        "health.read",
        None,
        {
            "what": "alerts and recent screenings",
            "open_alerts": len(open_rows),
            "acknowledged_alerts": len(done_rows),
            "screenings": len(found[:PER_PAGE]),
            "page": number,
        },
    )
    return render_template(
        "health_alerts.html",
        open_rows=open_rows,
        done_rows=done_rows,
        screenings=_screening_rows(call.session, found[:PER_PAGE]),
        page_number=number,
        has_next=len(found) > PER_PAGE,
        form=form,
        form_alert=form_alert,
        **_names(),
    )


def _person_page(
    call: Call, detainee_id: str, form: Form | None = None, form_alert: int | None = None
) -> str:
    person = call.detainee(detainee_id)
    screenings = health.screenings_of(call.session, detainee_id)
    alerts = health.alerts_of(call.session, detainee_id)
    for what, count in (("screenings", len(screenings)), ("alerts", len(alerts))):
        call.trail.record(call.session, "health.read", detainee_id, {"what": what, "count": count})
    rows = _alert_rows(call.session, alerts)
    return render_template(
        "health_person.html",
        person=person,
        open_rows=[r for r in rows if r.alert.acknowledged_at is None],
        done_rows=[r for r in rows if r.alert.acknowledged_at is not None],
        screenings=_screening_rows(call.session, screenings),
        form=form,
        form_alert=form_alert,
        **_names(),
    )


@bp.get("/health")
@page("health.read")
def alerts(call: Call) -> ResponseReturnValue:
    return _alerts_page(call)


def _no_person() -> ResponseReturnValue:
    # Shown from the view, not raised to the gate, while the user's session is still open.
    return trouble(404, _("There is no detainee with this Masar id."))


@bp.get("/health/<detainee_id>")
@page("health.read")
def person(call: Call, detainee_id: str) -> ResponseReturnValue:
    try:
        call.detainee(detainee_id)  # users tied to a site see only its people
    except ApiError:
        return _no_person()
    return _person_page(call, detainee_id)


@bp.post("/health/alerts/<int:alert_id>/acknowledge")
@page("health.write")
def acknowledge(call: Call, alert_id: int) -> ResponseReturnValue:
    """Take charge of an alert, with an optional note; back to the page the form was on."""
    alert = call.session.get(HealthAlert, alert_id)
    if alert is None:
        return trouble(404, _("There is no such alert."))
    try:
        call.detainee(alert.detainee_id)  # users tied to a site act only on its people
    except ApiError:
        return _no_person()
    from_person = request.form.get("back") == "person"
    back = (
        url_for("health.person", detainee_id=alert.detainee_id)
        if from_person
        else url_for("health.alerts")
    )
    data, form = read_form(AcknowledgeForm)
    if data is None:  # nothing was written: the page again, with the note as typed
        if from_person:
            return _person_page(call, alert.detainee_id, form, alert_id), 422
        return _alerts_page(call, form, alert_id), 422
    try:
        health.acknowledge_alert(call.session, call.trail, alert_id, data.note)
    except health.HealthError:  # acknowledged already (the note's length is checked above)
        flash(_("This alert had already been acknowledged; nothing was changed."))
        return redirect(back)
    flash(_("Alert acknowledged."))
    return redirect(back)
