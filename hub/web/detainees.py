"""Finding a detainee and reading their file.

Search takes a prison number or names in either script, tolerant to spelling variants
(hub.search). The file puts together what the hub knows of one person, each section shown
only to roles whose permission covers it (hub.roles): a wing officer sees identity and
movements, a trainer the profile and training, health staff the health questionnaires.
Every list is limited and fetched in one query (hub.detainee_file), so a file opens fast
among 100,000 people.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from hub import classifications, detainee_file, movements, plans, profiles, training
from hub.api.core import ApiError, Call
from hub.detainees import TimelineEntry, timeline
from hub.models import Detainee, ProfileFact, as_utc
from hub.roles import PERMISSIONS, allowed
from hub.search import find_detainees
from hub.web.access import page, trouble
from hub.web.language import selected
from hub.web.nav import NavEntry
from protocol.questionnaire import FormDefinition

bp = Blueprint("detainees", __name__)
NAV = [NavEntry(20, "detainees.search", _l("Detainees"), "detainees.read")]

SEARCH_LIMIT = 50
TIMELINE_SHOWN = 100
MOVEMENTS_SHOWN = 20
TRAINING_SHOWN = 30
DETAIL_CHARACTERS = 200
WISHES_FORM = "masar_wishes"  # its occupations are wished ones, not past jobs

STATE_NAMES: dict[str, LazyString] = {"in_custody": _l("in custody"), "released": _l("released")}
FACT_NAMES: dict[str, LazyString] = {
    "education_level": _l("Education level"),
    "qualification": _l("Qualification"),
    "occupation": _l("Past occupation"),
    "skill": _l("Skill"),
    "entrepreneurial_aptitude": _l("Entrepreneurial aptitude (10 to 50)"),
    "wish": _l("Wish"),
}
ENROLMENT_STATES: dict[str, LazyString] = {
    "requested": _l("requested"),
    "approved": _l("approved"),
    "waitlisted": _l("waitlisted"),
    "declined": _l("declined"),
    "withdrawn": _l("withdrawn"),
    "completed": _l("completed"),
    "dropped": _l("dropped"),
}
OUTCOMES: dict[str, LazyString] = {"confirmed": _l("confirmed"), "refused": _l("refused")}
REFERRAL_STATES: dict[str, LazyString] = {
    "proposed": _l("proposed"),
    "sent": _l("sent"),
    "accepted": _l("accepted"),
    "declined": _l("declined"),
}
SECTION_NAMES: dict[str, LazyString] = {
    "identity": _l("identity"),
    "education": _l("education"),
    "qualifications": _l("qualifications"),
    "work_history": _l("work history"),
    "skills": _l("skills"),
    "training": _l("training"),
    "wishes": _l("wishes"),
    "plan": _l("plan"),
}
LANGUAGE_NAMES: dict[str, LazyString] = {
    "ar": _l("Arabic"),
    "fr": _l("French"),
    "tzm": _l("Tamazight"),
    "en": _l("English"),
    "es": _l("Spanish"),
}
ACTIONS: dict[str, LazyString] = {
    "detainee.intake": _l("Intake"),
    "detainee.update": _l("Identity corrected"),
    "detainee.transfer": _l("Transfer"),
    "detainee.release": _l("Release"),
    "profile.verify": _l("Profile fact verified"),
    "plan.put": _l("Plan written"),
    "consent.give": _l("Consent given to a partner"),
    "consent.withdraw": _l("Consent withdrawn"),
    "referral.export": _l("Referral file sent to a partner"),
    "enrolment.request": _l("Training requested"),
    "enrolment.decide": _l("Training request decided"),
    "enrolment.withdraw": _l("Training request withdrawn"),
    "enrolment.complete": _l("Training ended"),
    "attendance.record": _l("Attendance recorded"),
    "training.enrolment_requested": _l("Training requested at a kiosk"),
    "questionnaire.assign": _l("Questionnaire assigned"),
    "questionnaire.response": _l("Questionnaire answered at a kiosk"),
    "movement.verified": _l("Movement checked"),
    "movement.schedule": _l("Movement planned"),
    "movement.cancel": _l("Planned movement cancelled"),
    "identification": _l("Identification at a kiosk"),
    "enrolment.captured": _l("Biometric enrolment"),
    "health.screening": _l("Health screening"),
    "health.alert.acknowledge": _l("Health alert acknowledged"),
    "health.read": _l("Health data read"),
    "health.refused": _l("Health data refused"),
}


def _name(names: dict[str, LazyString], code: str | None) -> str:
    return "" if code is None else str(names.get(code, code))


def when(moment: datetime | date | None) -> str:
    """A date as YYYY-MM-DD, a moment as YYYY-MM-DD HH:MM UTC: read the same in every language."""
    if moment is None:
        return ""
    if isinstance(moment, datetime):
        return as_utc(moment).strftime("%Y-%m-%d %H:%M")
    return moment.isoformat()


# --- search ----------------------------------------------------------------------------------


@bp.get("/detainees")
@page("detainees.read")
def search(call: Call) -> ResponseReturnValue:
    query = request.args.get("q", "").strip()[:200]
    found = find_detainees(call.session, query, site=call.user.site, limit=SEARCH_LIMIT)
    return render_template(
        "detainees.html", q=query, found=found, limit=SEARCH_LIMIT, states=STATE_NAMES
    )


# --- the file --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FactRow:
    id: int
    fact: str
    name: str
    value: str
    meaning: str | None  # an ISCED/ISCO title or the question's choice label
    scheme: str | None  # "ISCED 2011", "ISCO-08"
    provenance: str
    source: str
    recorded_at: datetime


@dataclass(frozen=True)
class Row:
    """One timeline entry as shown."""

    at: datetime
    by: str  # the raw actor: user:…, kiosk:…, system:…
    who: str
    action: str
    what: str
    detail: str
    form_id: str | None
    kiosk: str | None


def _photo(person: Detainee) -> str | None:
    """The thumbnail as a data: URI (the page's policy allows images only from itself or data:)."""
    data = person.photo_thumbnail
    if not data:
        return None
    kind = "png" if data.startswith(b"\x89PNG") else "webp" if data[8:12] == b"WEBP" else "jpeg"
    return f"data:image/{kind};base64,{base64.b64encode(data).decode()}"


def _who(actor: str, names: dict[str, str]) -> str:
    kind, _sep, rest = actor.partition(":")
    if kind == "user":
        return names.get(actor, rest)
    if kind == "kiosk":
        return str(_("kiosk %(kiosk)s", kiosk=rest))
    return str(_("system (%(name)s)", name=rest))


def _title(definition: FormDefinition | None, form_id: str | None, language: str) -> str:
    if definition is not None:
        return definition.title(language) or definition.form_id
    return form_id or ""


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= DETAIL_CHARACTERS else text[: DETAIL_CHARACTERS - 1] + "…"


def _detail(entry: TimelineEntry) -> str:
    summary = entry.summary
    if entry.action == "movement.verified":
        outcome = _name(OUTCOMES, summary.get("outcome"))
        route = f"{summary.get('from_location')} → {summary.get('to_location')}"
        return f"{route} ({outcome})" + (f" · {summary['reason']}" if summary.get("reason") else "")
    return _short("; ".join(f"{key}: {_short(value)}" for key, value in summary.items()))


def _rows(
    entries: list[TimelineEntry],
    worded: dict[tuple[str, str], FormDefinition | None],
    names: dict[str, str],
    language: str,
) -> list[Row]:
    rows = []
    for entry in entries:
        form_id = entry.summary.get("form_id")
        kiosk = entry.by.removeprefix("kiosk:") if entry.by.startswith("kiosk:") else None
        what = _name(ACTIONS, entry.action)
        detail = _detail(entry)
        if entry.action == "questionnaire.response":
            key = (str(form_id), str(entry.summary.get("form_version")))
            detail = _title(worded.get(key), form_id, language)
        who = _who(entry.by, names)
        rows.append(Row(entry.at, entry.by, who, entry.action, what, detail, form_id, kiosk))
    return rows


def _meaning(
    fact: ProfileFact, worded: dict[tuple[str, str], FormDefinition | None], language: str
) -> tuple[str | None, str | None]:
    code = str(fact.value)
    if fact.fact == "education_level" and code in classifications.isced_levels():
        level = classifications.isced(code)
        return (level.title_ar if language == "ar" else level.title_fr), "ISCED 2011"
    if fact.fact == "occupation" and code in classifications.isco_groups():
        group = classifications.isco(code)
        title = group.title_ar if language == "ar" else group.title_fr
        return title or group.title_en, "ISCO-08"
    definition = worded.get((fact.form_id or "", fact.form_version or ""))
    return detainee_file.choice_label(definition, fact.question, fact.value, language), None


def _fact_rows(
    facts: list[ProfileFact],
    worded: dict[tuple[str, str], FormDefinition | None],
    names: dict[str, str],
    language: str,
) -> list[FactRow]:
    rows = []
    for fact in facts:
        name = _name(FACT_NAMES, fact.fact)
        if fact.fact == "occupation" and fact.form_id == WISHES_FORM:
            name = _("Wished occupation")
        meaning, scheme = _meaning(fact, worded, language)
        value = fact.value if isinstance(fact.value, str) else _short(fact.value)
        rows.append(
            FactRow(
                fact.id,
                fact.fact,
                name,
                value,
                meaning if meaning != value else None,
                scheme,
                fact.provenance,
                _who(fact.source, names),
                fact.recorded_at,
            )
        )
    return rows


@bp.get("/detainees/<detainee_id>")
@page("detainees.read")
def file(call: Call, detainee_id: str) -> ResponseReturnValue:
    try:
        person = call.detainee(detainee_id)
    except ApiError as error:  # shown here, while the user's session is still open
        return trouble(error.status, error.message)
    session = call.session
    may = {permission: allowed(call.user.role, permission) for permission in PERMISSIONS}
    language = selected()
    health = may["health.read"]

    facts = profiles.current_facts(session, person.id) if may["profiles.read"] else []
    answered = (
        detainee_file.responses(session, person.id, include_health=health)
        if may["questionnaires.read"]
        else []
    )
    entries = [
        entry
        for entry in timeline(session, person.id, include_health=health, limit=TIMELINE_SHOWN)
        if may[detainee_file.permission_for(entry.action)]
    ]
    keys = {(f.form_id or "", f.form_version or "") for f in facts}
    keys |= {(r.form_id, r.form_version) for r in answered}
    keys |= {
        (str(e.summary.get("form_id")), str(e.summary.get("form_version")))
        for e in entries
        if e.action == "questionnaire.response"
    }
    worded = detainee_file.definitions(session, keys)
    names = detainee_file.user_names(session, [e.by for e in entries] + [f.source for f in facts])

    enrolments = training.enrolments_of(session, person.id) if may["training.read"] else []
    enrolments = enrolments[-TRAINING_SHOWN:]
    titles = detainee_file.programme_titles(session, [e.programme_id for e in enrolments])
    moved = (
        movements.history(session, person.id, limit=MOVEMENTS_SHOWN)
        if may["movements.read"]
        else []
    )
    plan = plans.get_plan(session, person.id) if may["plans.read"] else None
    sharing = may["plans.read"] or may["referrals.read"]
    consents = detainee_file.current_consents(session, person.id) if sharing else []

    health_answers = [r for r in answered if r.health]
    if health_answers:  # health staff only (include_health): every read of health data is kept
        details = {"what": "questionnaire answers", "count": len(health_answers)}
        call.trail.record(session, "health.read", person.id, details)

    return render_template(
        "detainee.html",
        person=person,
        photo=_photo(person),
        may=may,
        language=language,
        facts=_fact_rows(facts, worded, names, language),
        responses=[
            (
                r,
                _title(worded.get((r.form_id, r.form_version)), r.form_id, language),
                detainee_file.answers_worded(
                    worded.get((r.form_id, r.form_version)), r.answers, language
                ),
            )
            for r in answered
        ],
        rows=_rows(entries, worded, names, language),
        timeline_limit=TIMELINE_SHOWN,
        enrolments=enrolments,
        titles=titles,
        movements=moved,
        movements_limit=MOVEMENTS_SHOWN,
        plan=plan,
        consents=consents,
        referral_language=language if language in ("fr", "ar", "en") else "fr",
        states=STATE_NAMES,
        enrolment_states=ENROLMENT_STATES,
        outcomes=OUTCOMES,
        referral_states=REFERRAL_STATES,
        section_names=SECTION_NAMES,
        language_names=LANGUAGE_NAMES,
        when=when,
    )


@bp.post("/detainees/<detainee_id>/facts/<int:fact_id>/verify")
@page("profiles.verify")
def verify(call: Call, detainee_id: str, fact_id: int) -> ResponseReturnValue:
    """Staff confirm a self-declared fact: its badge becomes staff-verified."""
    try:
        call.detainee(detainee_id)
        detainee_file.verify(call.session, call.trail, detainee_id, fact_id)
    except ApiError as error:  # shown here, while the user's session is still open
        return trouble(error.status, error.message)
    except LookupError:
        return trouble(404, _("This fact is not in this person's file."))
    except ValueError:
        return trouble(
            409, _("Someone already verified or corrected this fact. Reload the file to see it.")
        )
    flash(_("The fact is now marked as verified by staff."))
    return redirect(url_for("detainees.file", detainee_id=detainee_id, _anchor="facts"))
