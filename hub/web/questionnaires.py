"""Questionnaires for registrars and social workers: upload an XLSForm (a mistake is shown
beside the file field, at its sheet and row), preview a version as the kiosk will show it,
publish it to an establishment or a wing, assign it to a wing or a person with a due date,
follow completion and export the answers (CSV, XLSX; audited, health forms for health
staff only).

The preview runs protocol.questionnaire, the kiosk's own runtime, one screen per request:
the answers so far travel in a hidden field of the form and nothing is stored.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from pydantic import BaseModel, ConfigDict, Field

from hub import assignments
from hub.access import refusal
from hub.api.core import Call
from hub.api.questionnaires import MAX_XLSX
from hub.detainees import HEALTH_FORMS
from hub.models import QuestionnaireVersion, as_utc
from hub.questionnaires import XLSFormError, completion, export, library, load_xlsform
from hub.roles import allowed
from hub.web import language
from hub.web.access import ShowAgain, page, trouble
from hub.web.forms import Form, read_form
from hub.web.nav import NavEntry
from protocol.ids import utc_now
from protocol.questionnaire import (
    SELECT_MULTIPLE,
    SELECT_ONE,
    FormDefinition,
    FormError,
    FormRun,
    Question,
)

bp = Blueprint("questionnaires", __name__)
NAV = [NavEntry(40, "questionnaires.list", _l("Questionnaires"), "questionnaires.read")]

END = "_end"  # the preview's last screen: what would be sent
DUE_IN_DAYS = 14  # the due date an assignment form suggests
KIOSK_LANGUAGES = ("ar", "fr", "tzm")
PREVIEW_LANGUAGES = {"ar": "العربية", "fr": "Français", "tzm": "ⵜⴰⵎⴰⵣⵉⵖⵜ"}
RIGHT_TO_LEFT = frozenset({"ar"})


def _when(moment: datetime | None) -> str:
    return as_utc(moment).strftime("%Y-%m-%d %H:%M") if moment else ""


def _title(titles: dict[str, Any], form_id: str) -> str:
    """The title in the interface's language, else French, else any."""
    for code in (language.selected(), "fr"):
        if titles.get(code):
            return str(titles[code])
    return next((str(title) for title in titles.values() if title), form_id)


def _place(site: str, wing: str | None) -> str:
    return f"{site}/{wing}" if wing else site


def _place_name(site: str, wing: str | None) -> str:
    if wing:
        return str(_("%(site)s, wing %(wing)s", site=site, wing=wing))
    return str(_("%(site)s, every wing", site=site))


# --- the list ------------------------------------------------------------------------------


@bp.get("/questionnaires", endpoint="list")
@page("questionnaires.read")
def questionnaires(call: Call) -> ResponseReturnValue:
    site = call.user.site
    published = completion.publications(call.session, site=site)
    sums = completion.totals(completion.completion(call.session, site=site, limit=None))
    rows = [
        {
            "form_id": v.form_id,
            "version": v.version,
            "title": _title(v.titles, v.form_id),
            "imported_at": _when(v.imported_at),
            "health": v.form_id in HEALTH_FORMS,
            "published": [
                (_place_name(p.site, p.wing), p.version) for p in published.get(v.form_id, [])
            ],
            "totals": sums.get(v.form_id, completion.Totals()),
        }
        for v in library.latest_versions(call.session)
    ]
    return render_template(
        "questionnaires.html",
        rows=rows,
        can_manage=allowed(call.user.role, "questionnaires.manage"),
    )


# --- upload --------------------------------------------------------------------------------


def _upload_page(form: Form, located: XLSFormError | None = None) -> str:
    return render_template("questionnaire_upload.html", form=form, located=located)


@bp.get("/questionnaires/upload")
@page("questionnaires.manage")
def upload(call: Call) -> ResponseReturnValue:
    return _upload_page(Form())


def _where(error: XLSFormError) -> str:
    """The refusal in plain words, starting with the sheet, row and column it is at."""
    if not (error.sheet or error.row):
        return str(_("This file cannot be read as an XLSForm spreadsheet (.xlsx)."))
    where = []
    if error.sheet:
        where.append(_("%(sheet)s sheet", sheet=error.sheet))
    if error.row:
        where.append(_("row %(row)s", row=error.row))
    if error.column:
        where.append(_("column “%(column)s”", column=error.column))
    return str(_("%(where)s: %(problem)s", where=", ".join(where), problem=error.reason))


@bp.post("/questionnaires/upload")
@page("questionnaires.manage")
def upload_submit(call: Call) -> ResponseReturnValue:
    """Import the file (hub.questionnaires.library, as the API does) and show its page."""
    form = Form()
    sent = request.files.get("file")
    body = sent.read() if sent is not None and sent.filename else b""
    if sent is None or not sent.filename:
        form.add_error("file", _("Choose an XLSForm file (.xlsx)."))
    elif not body:
        form.add_error("file", _("The file is empty."))
    elif len(body) > MAX_XLSX:
        form.add_error(
            "file", _("The file is too large (%(limit)s MB at most).", limit=MAX_XLSX // 2**20)
        )
    if form.errors:
        raise ShowAgain(_upload_page(form))
    started = utc_now()
    try:
        version = library.import_form(call.session, body, actor=call.trail.actor)
    except XLSFormError as error:
        form.add_error("file", _where(error))
        raise ShowAgain(_upload_page(form, error)) from None
    except library.QuestionnaireError:
        refused = load_xlsform(body)  # it loaded: only the version clashes
        form.add_error(
            "file",
            _(
                "Version %(version)s of %(form)s already exists with other content. Give the "
                "changed form a new version in its settings sheet.",
                version=refused.version,
                form=refused.form_id,
            ),
        )
        raise ShowAgain(_upload_page(form)) from None
    if as_utc(version.imported_at) >= started:
        call.trail.record(
            call.session,
            "questionnaire.import",
            None,
            {"form_id": version.form_id, "version": version.version, "sha256": version.xlsx_sha256},
        )
        flash(
            _(
                "Version %(version)s of “%(title)s” is imported. Preview it, then publish it.",
                version=version.version,
                title=_title(version.titles, version.form_id),
            )
        )
    else:
        flash(
            _(
                "This file was already imported as version %(version)s; nothing changed.",
                version=version.version,
            )
        )
    return redirect(url_for("questionnaires.questionnaire", form_id=version.form_id))


# --- one form: versions, publish, assign, completion ------------------------------------------


class PublishForm(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str = Field(min_length=1, max_length=64)
    place: str = Field(min_length=1, max_length=130)  # "site" or "site/wing"


class AssignForm(BaseModel):
    model_config = ConfigDict(extra="forbid")
    wing: str | None = Field(default=None, max_length=130)  # "site/wing"
    prison_number: str | None = Field(default=None, max_length=64)
    due_on: date


def _versions(call: Call, form_id: str) -> list[QuestionnaireVersion]:
    found = completion.versions(call.session, form_id)
    if not found:
        raise LookupError(_("There is no questionnaire %(form)s.", form=form_id))
    return found


def _wings(call: Call) -> list[tuple[str, str]]:
    return completion.wings(call.session, call.user.site)


def _publish_places(wings: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(value, name): each establishment as a whole, then each of its wings."""
    places: list[tuple[str, str]] = []
    for site in dict.fromkeys(site for site, _wing in wings):
        places.append((site, _place_name(site, None)))
        places += [(_place(s, w), _place_name(s, w)) for s, w in wings if s == site]
    return places


def _form_page(
    call: Call,
    form_id: str,
    *,
    publish_form: Form | None = None,
    assign_form: Form | None = None,
) -> str:
    found = _versions(call, form_id)
    latest = found[0]
    wings = _wings(call)
    rows = completion.completion(call.session, form_id=form_id, site=call.user.site)
    return render_template(
        "questionnaire.html",
        form_id=form_id,
        title=_title(latest.titles, form_id),
        latest=latest,
        versions=found,
        when=_when,
        place_name=_place_name,
        published=completion.publications(call.session, form_id=form_id, site=call.user.site).get(
            form_id, []
        ),
        version_options=[(v.version, v.version) for v in found],
        publish_places=_publish_places(wings),
        assign_wings=[(_place(s, w), _place_name(s, w)) for s, w in wings],
        publish_form=publish_form or Form({"version": latest.version}),
        assign_form=assign_form
        or Form({"due_on": (date.today() + timedelta(days=DUE_IN_DAYS)).isoformat()}),
        rows=rows,
        total=completion.totals(rows).get(form_id, completion.Totals()),
        shown_limit=completion.ASSIGNMENTS_SHOWN,
        today=date.today(),
        health=form_id in HEALTH_FORMS,
        can_manage=allowed(call.user.role, "questionnaires.manage"),
        can_export=export.may_export(call.user.role, form_id),
        export_limits=export.LIMITS,
    )


@bp.get("/questionnaires/<form_id>")
@page("questionnaires.read")
def questionnaire(call: Call, form_id: str) -> ResponseReturnValue:
    return _form_page(call, form_id)


@bp.post("/questionnaires/<form_id>/publish")
@page("questionnaires.manage")
def publish(call: Call, form_id: str) -> ResponseReturnValue:
    """Send a version to the kiosks of an establishment or of one of its wings."""
    chosen, form = read_form(PublishForm)
    if chosen is not None:
        if chosen.version not in {v.version for v in _versions(call, form_id)}:
            form.add_error("version", _("Choose one of the options offered."))
        site = chosen.place.partition("/")[0]
        if call.user.site is not None and site != call.user.site:
            form.add_error(
                "place", _("You work at %(site)s: publish there only.", site=call.user.site)
            )
        elif chosen.place not in dict(_publish_places(_wings(call))):
            form.add_error("place", _("Choose one of the options offered."))
    if chosen is None or form.errors:
        raise ShowAgain(_form_page(call, form_id, publish_form=form))
    site, _slash, wing = chosen.place.partition("/")
    library.publish(call.session, call.trail, form_id, chosen.version, site=site, wing=wing or None)
    flash(
        _(
            "Version %(version)s is published to %(place)s.",
            version=chosen.version,
            place=_place_name(site, wing or None),
        )
    )
    return redirect(url_for("questionnaires.questionnaire", form_id=form_id))


@bp.post("/questionnaires/<form_id>/assign")
@page("questionnaires.manage")
def assign(call: Call, form_id: str) -> ResponseReturnValue:
    """Give the questionnaire to everyone in a wing, or to one person, by a due date."""
    _versions(call, form_id)
    chosen, form = read_form(AssignForm)
    person = None
    if chosen is not None:
        if chosen.wing and chosen.prison_number:
            form.add_error("prison_number", _("Give a wing or a prison number, not both."))
        elif not chosen.wing and not chosen.prison_number:
            form.add_error("wing", _("Choose a wing, or give a prison number."))
        elif chosen.wing and chosen.wing not in {_place(s, w) for s, w in _wings(call)}:
            form.add_error("wing", _("Choose one of the options offered."))
        elif chosen.prison_number:
            person = completion.person_numbered(call.session, chosen.prison_number, call.user.site)
            if person is None:
                form.add_error("prison_number", _("No one has this prison number."))
            elif person.state != "in_custody":
                form.add_error("prison_number", _("This person was released."))
        if chosen.due_on < date.today():
            form.add_error("due_on", _("The due date has already passed."))
    if chosen is None or form.errors:
        raise ShowAgain(_form_page(call, form_id, assign_form=form))
    site, _slash, wing = (chosen.wing or "").partition("/")
    try:
        assignments.assign(
            call.session,
            call.trail,
            form_id=form_id,
            due_on=chosen.due_on,
            detainee_id=person.id if person is not None else None,
            site=None if person is not None else site,
            wing=None if person is not None else wing,
        )
    except assignments.AssignmentError as error:
        form.add_error("form", str(error))
        raise ShowAgain(_form_page(call, form_id, assign_form=form)) from None
    flash(_("The questionnaire is assigned, due on %(day)s.", day=chosen.due_on.isoformat()))
    return redirect(url_for("questionnaires.questionnaire", form_id=form_id))


# --- answers ----------------------------------------------------------------------------------


@bp.get("/questionnaires/<form_id>/answers.<any(csv, xlsx):kind>")
@page("questionnaires.read")
def answers(call: Call, form_id: str, kind: export.Format) -> ResponseReturnValue:
    """Every response to the form as a file; the export is audited."""
    _versions(call, form_id)
    if not export.may_export(call.user.role, form_id):
        # Audited as a refused health read (hub.access), committed with this answer.
        refusal(
            call.session,
            call.trail.key,
            call.user,
            "health.read",
            method=request.method,
            path=request.path,
        )
        return trouble(
            403, _("The answers to this questionnaire are health data: only health staff see them.")
        )
    data, found = export.export(
        call.session, call.trail, form_id, kind, role=call.user.role, site=call.user.site
    )
    name = export.filename(found, kind, utc_now())
    return Response(
        data,
        content_type=export.MEDIA_TYPES[kind],  # its charset already said
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# --- preview ----------------------------------------------------------------------------------

_DEFINITIONS: dict[tuple[str, str, str], FormDefinition] = {}


def _definition(stored: QuestionnaireVersion) -> FormDefinition:
    """Read once per version (every expression is checked when read)."""
    key = (stored.form_id, stored.version, stored.xlsx_sha256)
    if key not in _DEFINITIONS:
        if len(_DEFINITIONS) > 64:
            _DEFINITIONS.clear()
        _DEFINITIONS[key] = FormDefinition.from_document(
            {
                "form_id": stored.form_id,
                "version": stored.version,
                "titles": stored.titles,
                "survey": stored.survey,
            }
        )
    return _DEFINITIONS[key]


def _given(question: Question) -> Any:
    """The answer as the screen sent it (as the kiosk reads it)."""
    if question.type == SELECT_MULTIPLE:
        return request.form.getlist("answer")
    if question.type == "date":  # a part left out makes an invalid date, said as such
        parts = [request.form.get(part, "") for part in ("year", "month", "day")]
        return "-".join(parts) if any(parts) else ""
    return request.form.get("answer", "").strip()


def _sent_answers() -> dict[str, Any]:
    """The answers so far, from the hidden field; anything unreadable counts as none (the
    run drops values that do not fit their question)."""
    try:
        found = json.loads(request.form.get("answers", "{}"))
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _shown(run: FormRun, question: Question, value: Any, lang: str) -> str:
    """An answer as the Done screen lists it: choices by their labels."""
    if question.type in (SELECT_ONE, SELECT_MULTIPLE) and question.choices:
        names = value if isinstance(value, list) else str(value).split()
        known = {choice.name for choice in question.choices}
        return ", ".join(
            run.choice_label(question.name, name, lang) if name in known else str(name)
            for name in names
        )
    return str(value)


def _preview_page(
    stored: QuestionnaireVersion,
    definition: FormDefinition,
    run: FormRun,
    lang: str,
    screen: str,
    *,
    value: Any = None,
    problem: str | None = None,
) -> str:
    common: dict[str, Any] = {
        "form_id": stored.form_id,
        "version": stored.version,
        "form_title": definition.title(lang),
        "form_lang": lang,
        "direction": "rtl" if lang in RIGHT_TO_LEFT else "ltr",
        "preview_languages": [
            (code, PREVIEW_LANGUAGES.get(code, code)) for code in _languages(definition)
        ],
        "answers_json": json.dumps(run.answers, ensure_ascii=False),
        "ui_title": _title(stored.titles, stored.form_id),
    }
    if screen == END:
        final = run.final_answers()
        answered = [
            (q.name, run.label(q.name, lang), _shown(run, q, final[q.name], lang))
            for q in definition.questions
            if q.name in final and q.calculation is None
        ]
        computed = [
            (q.name, str(final[q.name]))
            for q in definition.questions
            if q.name in final and q.calculation is not None
        ]
        return render_template(
            "questionnaire_preview.html", done=True, answered=answered, computed=computed, **common
        )
    question = definition.question(screen)
    position, total = run.progress(screen)
    if value is None:
        value = run.answers.get(screen)
    if question.type == SELECT_MULTIPLE:
        value = value if isinstance(value, list) else str(value or "").split()
    return render_template(
        "questionnaire_preview.html",
        done=False,
        question=question,
        label=run.label(screen, lang),
        hint=run.hint(screen, lang),
        groups=run.group_labels(screen, lang),
        choices=[(c.name, run.choice_label(screen, c.name, lang)) for c in question.choices],
        value=value if value is not None else "",
        problem=problem,
        position=position,
        total=total,
        first=run.previous_before(screen) is None,
        audio=bool(question.audio.get(lang)),
        this_year=date.today().year,
        **common,
    )


def _languages(definition: FormDefinition) -> list[str]:
    """The kiosk's languages the form has (a form without them: its own)."""
    found = [code for code in KIOSK_LANGUAGES if code in definition.languages]
    return found or list(definition.languages)


@bp.route("/questionnaires/<form_id>/<version>/preview", methods=["GET", "POST"])
@page("questionnaires.read")
def preview(call: Call, form_id: str, version: str) -> ResponseReturnValue:
    """One screen of the form as the kiosk shows it; Next checks the answer as the kiosk
    does (type, required, constraint) and skips what is not relevant."""
    stored = library.find_version(call.session, form_id, version)
    if stored is None:
        raise LookupError(
            _("There is no version %(version)s of %(form)s.", version=version, form=form_id)
        )
    try:
        definition = _definition(stored)
    except FormError as error:
        return trouble(422, _("The kiosk cannot show this form: %(why)s", why=str(error)))
    codes = _languages(definition)
    lang = request.values.get("lang", "")
    if lang not in codes:
        lang = language.selected() if language.selected() in codes else (codes or ["fr"])[0]
    if request.method == "GET":
        run = FormRun(definition)
        return _preview_page(stored, definition, run, lang, run.first() or END)

    run = FormRun(definition, _sent_answers())
    at = request.form.get("at", "")
    back = request.form.get("go") == "back"
    if at == END:
        target = (run.previous_before(None) or END) if back else END
    else:
        question = definition.get(at)
        if question is None or question not in definition.screens:
            return _preview_page(stored, definition, run, lang, run.first() or END)
        given = _given(question)
        problem = run.answer(at, given)
        if problem is not None and not back:
            return _preview_page(
                stored, definition, run, lang, at, value=given, problem=problem.message(lang)
            )
        target = (run.previous_before(at) or at) if back else (run.next_after(at) or END)
    if target == END:
        failing = run.check_all()
        if failing is not None:  # as the kiosk's Send: back to the first missing answer
            name, missing = failing
            return _preview_page(stored, definition, run, lang, name, problem=missing.message(lang))
    return _preview_page(stored, definition, run, lang, target)
