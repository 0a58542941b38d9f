"""Movements for wing staff, registrars and admins: who is in each wing right now and who is
out and where (the page refreshes itself every 30 s), today's planned movements, and the
movement log with filters.

Users tied to an establishment see only theirs; the others choose one (the log may also
show every establishment at once).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from hub import movements
from hub.api.core import Call
from hub.models import Detainee, Device, Movement, ScheduledMovement, Staff
from hub.web.access import page, trouble
from hub.web.forms import Form
from hub.web.nav import NavEntry
from protocol.ids import utc_now

bp = Blueprint("movements", __name__)
NAV = [NavEntry(60, "movements.counts", _l("Movements"), "movements.read")]

REFRESH_SECONDS = 30
PER_PAGE = 50  # movement log rows per page
MAX_PAGE = 10_000
OUT_NAMES_SHOWN = 30  # people out of one wing listed by name; the count says the rest
PLANNED_SHOWN = 200

OUTCOMES: dict[str, LazyString] = {"confirmed": _l("confirmed"), "refused": _l("refused")}


# --- queries the pages need beyond hub.movements ---------------------------------------------


def _sites(session: Session) -> list[str]:
    """The establishments that hold or held people."""
    return list(session.scalars(select(Detainee.site).distinct().order_by(Detainee.site)))


def _wings(session: Session, site: str | None) -> list[str]:
    """The wings with a kiosk, of one establishment or of all: the log's wing filter."""
    query = select(Device.wing).distinct().order_by(Device.wing)
    if site is not None:
        query = query.where(Device.site == site)
    return list(session.scalars(query))


def _planned(
    session: Session, site: str, start: datetime, end: datetime
) -> list[tuple[ScheduledMovement, Detainee]]:
    """Pending scheduled movements of the establishment's people in [start, end), soonest
    first, with the person. The day's schedules are few, so they are read first and their
    people by id (joined, SQLite would walk every person of the site instead)."""
    schedules = session.scalars(
        select(ScheduledMovement)
        .where(
            ScheduledMovement.state == "pending",
            ScheduledMovement.at >= start,
            ScheduledMovement.at < end,
        )
        .order_by(ScheduledMovement.at, ScheduledMovement.id)
    ).all()
    people = _people(session, (s.detainee_id for s in schedules))
    found = [(s, people[s.detainee_id]) for s in schedules if s.detainee_id in people]
    return [(s, person) for s, person in found if person.site == site][:PLANNED_SHOWN]


def _log(
    session: Session,
    site: str | None,
    wing: str | None,
    day: date | None,
    offset: int,
    limit: int,
) -> list[Movement]:
    """The movement log, newest first: of one establishment or all, checked at one wing's
    kiosks or anywhere, on one day (UTC) or any."""
    query = select(Movement)
    if site is not None:
        query = query.where(Movement.site == site)
    if wing is not None:
        query = query.join(
            Device, and_(Device.site == Movement.site, Device.device == Movement.device)
        ).where(Device.wing == wing)
    if day is not None:
        start = datetime.combine(day, time(), UTC)
        query = query.where(Movement.at >= start, Movement.at < start + timedelta(days=1))
    order = (Movement.at.desc(), Movement.event_id.desc())
    return list(session.scalars(query.order_by(*order).offset(offset).limit(limit)))


def _people(session: Session, ids: Iterable[str]) -> dict[str, Detainee]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return {p.id: p for p in session.scalars(select(Detainee).where(Detainee.id.in_(wanted)))}


def _staff_names(session: Session, ids: Iterable[str | None]) -> dict[str, str]:
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    rows = session.execute(select(Staff.id, Staff.name).where(Staff.id.in_(wanted)))
    return {staff_id: name for staff_id, name in rows}


# --- choosing the establishment --------------------------------------------------------------


class NotHere(Exception):
    """The establishment asked for is not one this user may see: (status, message). The
    views show it themselves, while the user's session is still open."""


def _chosen_site(call: Call, sites: list[str], allow_all: bool) -> str | None:
    """The establishment asked for in ``?site=``: a user tied to one sees only theirs;
    ``None`` means every establishment (the log only)."""
    asked = request.args.get("site", "").strip()
    mine = call.user.site
    if mine is not None:
        if asked and asked != mine:
            message = _(
                "You work at %(mine)s; %(site)s is another establishment.", mine=mine, site=asked
            )
            raise NotHere(403, message)
        return mine
    if not asked:
        return None if allow_all or not sites else sites[0]
    if asked not in sites:
        raise NotHere(404, _("There is no establishment %(site)s.", site=asked))
    return asked


@dataclass(frozen=True)
class WingRow:
    count: movements.WingCount
    places: list[tuple[str, int]]  # where the people out are, most first
    shown: list[tuple[movements.OutPerson, Detainee | None]]


@bp.get("/movements")
@page("movements.read")
def counts(call: Call) -> ResponseReturnValue:
    sites = _sites(call.session)
    try:
        site = _chosen_site(call, sites, allow_all=False)
    except NotHere as refused:
        return trouble(*refused.args)
    wings = movements.live_counts(call.session, site) if site is not None else []
    listed = [p for w in wings for p in w.out_people[:OUT_NAMES_SHOWN]]
    today = datetime.combine(utc_now().date(), time(), UTC)
    planned = _planned(call.session, site, today, today + timedelta(days=1)) if site else []
    people = _people(call.session, (p.detainee_id for p in listed))
    rows = [
        WingRow(
            w,
            Counter(p.location for p in w.out_people).most_common(),
            [(p, people.get(p.detainee_id)) for p in w.out_people[:OUT_NAMES_SHOWN]],
        )
        for w in wings
    ]
    return render_template(
        "movements.html",
        site=site,
        sites=sites,
        rows=rows,
        total_in=sum(w.in_custody for w in wings),
        total_out=sum(w.out for w in wings),
        planned=planned,
        today=today.date(),
        refresh=REFRESH_SECONDS,
        now=utc_now(),
    )


@bp.get("/movements/log")
@page("movements.read")
def log(call: Call) -> ResponseReturnValue:
    sites = _sites(call.session)
    try:
        site = _chosen_site(call, sites, allow_all=True)
    except NotHere as refused:
        return trouble(*refused.args)
    wings = _wings(call.session, site)
    form = Form({name: request.args.get(name, "").strip() for name in ("wing", "day")})
    wing = form.value("wing") or None
    if wing is not None and wing not in wings:
        form.add_error("wing", _("Choose one of the wings offered."))
    day = None
    if form.value("day"):
        try:
            day = date.fromisoformat(form.value("day"))
        except ValueError:
            form.add_error("day", _("Write a date as YYYY-MM-DD, for example 2026-12-31."))
    number = request.args.get("page", "1")
    page_number = min(int(number), MAX_PAGE) if number.isdigit() and int(number) > 0 else 1
    found: list[Movement] = []
    if not form.errors:
        found = _log(call.session, site, wing, day, (page_number - 1) * PER_PAGE, PER_PAGE + 1)
    shown = found[:PER_PAGE]
    people = _people(call.session, (m.detainee_id for m in shown))
    staff = _staff_names(call.session, (m.actor for m in shown))
    asked = {"site": request.args.get("site", ""), "wing": wing or "", "day": form.value("day")}
    filters = {name: value for name, value in asked.items() if value}  # for the page links
    return (
        render_template(
            "movement_log.html",
            site=site,
            sites=sites,
            wings=wings,
            form=form,
            rows=[(m, people.get(m.detainee_id), staff.get(m.actor or "")) for m in shown],
            page_number=page_number,
            has_next=len(found) > PER_PAGE,
            filters=filters,
            outcome_name=lambda o: str(OUTCOMES.get(o, o)),
        ),
        422 if form.errors else 200,
    )
