"""A questionnaire, one question per screen, every answer saved the moment it is given.

The form's logic (types, required, relevant, constraint, calculate) is protocol.questionnaire;
the durable draft and the response event are kiosk.drafts. A screen is rebuilt from the saved
draft on every request, so a session that times out resumes at the same question, on this
kiosk or, once synced, on any kiosk of the wing.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response

from kiosk import caches, drafts
from kiosk.ui.context import kiosk
from kiosk.ui.guards import Session, needs_session, same_origin
from kiosk.ui.i18n import current_language, in_language
from protocol.ids import utc_now
from protocol.questionnaire import FormDefinition, FormRun, Question

bp = Blueprint("questionnaires", __name__)

END = "_end"  # the screen after the last question: review and send


# Parsed once per published version (every expression is checked at load); the hub never
# publishes two different files under one form id and version.
_DEFINITIONS: dict[tuple[str, str], FormDefinition] = {}


def _form(form_id: str) -> FormDefinition:
    document = caches.questionnaire(kiosk().db(), form_id)
    if document is None:
        abort(404)
    key = (form_id, str(document["version"]))
    if key not in _DEFINITIONS:
        _DEFINITIONS[key] = FormDefinition.from_document(document)
    return _DEFINITIONS[key]


def _run(live: Session, form: FormDefinition) -> tuple[FormRun, str | None]:
    """The form as far as this person got, and the question they were on."""
    here = kiosk()
    draft = drafts.load_draft(here.db(), here.vault, live.person_id, form.form_id)
    if draft is None:
        return FormRun(form), None
    # A newer version of the form keeps every answer that still fits one of its questions.
    current = draft.current if draft.current == END or form.get(draft.current) else None
    return FormRun(form, draft.answers), current


def _question(form: FormDefinition, name: str) -> Question:
    question = form.get(name)
    if question is None or question not in form.screens:
        abort(404)
    return question


@bp.get("/questionnaires")
@needs_session("detainee")
def index(live: Session) -> str:
    """Assigned questionnaires with their due date, those in progress first."""
    here = kiosk()
    db = here.db()
    file = caches.person_file(db, here.vault, live.person_id)
    states = {a["form_id"]: a for a in file.get("assignments", [])}
    rows = []
    for document in caches.questionnaires(db):
        form_id = document["form_id"]
        assignment = states.get(form_id)
        draft = drafts.load_draft(db, here.vault, live.person_id, form_id)
        if assignment is None and draft is None:
            continue
        rows.append(
            {
                "form_id": form_id,
                "title": in_language(document.get("titles", {})),
                "due_on": assignment.get("due_on") if assignment else None,
                "state": "in_progress"
                if draft is not None
                else (assignment or {}).get("state", "open"),
            }
        )
    order = {"in_progress": 0, "overdue": 1, "open": 2, "done": 3}
    rows.sort(key=lambda row: (order.get(row["state"], 4), row["due_on"] or ""))
    return render_template("questionnaires.html", rows=rows)


@bp.get("/q/<form_id>")
@needs_session("detainee")
def begin(live: Session, form_id: str) -> Response:
    """Open a questionnaire where it was left, or at its first question."""
    form = _form(form_id)
    run, current = _run(live, form)
    live.data.setdefault("started", {}).setdefault(form_id, utc_now().isoformat())
    target = current if current and (current == END or run.is_relevant(current)) else run.first()
    return redirect(url_for("questionnaires.screen", form_id=form_id, name=target or END))


@bp.get("/q/<form_id>/<name>")
@needs_session("detainee")
def screen(live: Session, form_id: str, name: str) -> str | Response:
    form = _form(form_id)
    run, _current = _run(live, form)
    if name == END:
        return _render_end(form, run)
    if form.get(name) is None or not run.is_relevant(name):  # skipped, or gone in a new version
        return redirect(url_for("questionnaires.begin", form_id=form_id))
    return _render(form, run, name, value=run.answers.get(name), problem=None)


def _render(
    form: FormDefinition, run: FormRun, name: str, *, value: Any, problem: str | None
) -> str:
    lang = current_language().code
    question = _question(form, name)
    position, total = run.progress(name)
    return render_template(
        "question.html",
        form_id=form.form_id,
        title=form.title(lang),
        question=question,
        label=run.label(name, lang),
        hint=run.hint(name, lang),
        groups=run.group_labels(name, lang),
        choices=[
            (c.name, run.choice_label(name, c.name, lang), _audio(form.form_id, c.audio.get(lang)))
            for c in question.choices
        ],
        value=_as_list(value) if question.type == "select_multiple" else value,
        problem=problem,
        position=position,
        total=total,
        first=run.previous_before(name) is None,
        audio=_audio(form.form_id, question.audio.get(lang)),
    )


def _audio(form_id: str, filename: str | None) -> str | None:
    """The question's recording in this language, if the hub has sent this kiosk the file."""
    if not filename or not caches.has_media(kiosk().db(), form_id, filename):
        return None
    return filename


@bp.get("/media/<form_id>/<filename>")
@needs_session("detainee")
def media(live: Session, form_id: str, filename: str) -> Response:
    """A form's recorded audio (XLSForm media::audio), from the kiosk's cache."""
    found = caches.media_file(kiosk().db(), form_id, filename)
    if found is None:
        abort(404)
    return Response(found.content, mimetype=found.mime)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return value if isinstance(value, list) else str(value).split()


def _render_end(form: FormDefinition, run: FormRun) -> str:
    return render_template(
        "question_end.html", form_id=form.form_id, title=form.title(current_language().code)
    )


def _given(question: Question) -> Any:
    """The answer as the screen sent it."""
    if question.type == "select_multiple":
        return request.form.getlist("answer")
    if question.type == "date":  # a part left out makes an invalid date, said as such
        parts = [request.form.get(p, "") for p in ("year", "month", "day")]
        return "-".join(parts) if any(parts) else ""
    return request.form.get("answer", "").strip()


@bp.post("/q/<form_id>/<name>")
@needs_session("detainee")
def answer(live: Session, form_id: str, name: str) -> str | Response:
    """Save the answer, then go on (next) or back. Back keeps an unfinished answer unsaved
    rather than refusing to move."""
    same_origin()
    form = _form(form_id)
    run, _current = _run(live, form)
    going_back = request.form.get("go") == "back"
    if name == END:
        target = run.previous_before(None) if going_back else END
        return redirect(url_for("questionnaires.screen", form_id=form_id, name=target or END))
    question = _question(form, name)
    lang = current_language().code
    given = _given(question) if question.type != "note" else None
    problem = run.answer(name, given) if question.type != "note" else None
    if problem is not None and not going_back:
        return _render(form, run, name, value=given, problem=problem.message(lang))
    target = run.previous_before(name) if going_back else run.next_after(name)
    target = target or (name if going_back else END)
    _save(live, form, run, current=target)
    return redirect(url_for("questionnaires.screen", form_id=form_id, name=target))


def _save(live: Session, form: FormDefinition, run: FormRun, *, current: str) -> None:
    here = kiosk()
    drafts.save_progress(
        here.db(),
        here.vault,
        site=here.config.site,
        device=here.config.device,
        detainee_id=live.person_id,
        form_id=form.form_id,
        version=form.version,
        language=current_language().code,
        current=current,
        answers=run.answers,
    )


@bp.post("/send/<form_id>")
@needs_session("detainee")
def submit(live: Session, form_id: str) -> Response:
    """Send: one questionnaire.response event, or back to the first question that needs an
    answer."""
    same_origin()
    form = _form(form_id)
    here = kiosk()
    draft = drafts.load_draft(here.db(), here.vault, live.person_id, form_id)
    if draft is None:
        # Already sent (a second tap on Send), or nothing was answered: never an empty response.
        return redirect(
            url_for("questionnaires.receipt" if "receipt" in live.data else "home.menu")
        )
    run = FormRun(form, draft.answers)
    failing = run.check_all()
    if failing is not None:
        name, _problem = failing
        return redirect(url_for("questionnaires.screen", form_id=form_id, name=name))
    started = live.data.get("started", {}).get(form_id) or utc_now().isoformat()
    receipt = drafts.submit(
        here.db(),
        here.vault,
        site=here.config.site,
        device=here.config.device,
        detainee_id=live.person_id,
        form_id=form.form_id,
        version=form.version,
        language=current_language().code,
        started_at=started,
        answers=run.final_answers(),
    )
    live.data["receipt"] = {"id": receipt, "title": form.title(current_language().code)}
    return redirect(url_for("questionnaires.receipt"))


@bp.get("/receipt")
@needs_session("detainee")
def receipt(live: Session) -> str | Response:
    shown = live.data.get("receipt")
    if shown is None:
        return redirect(url_for("home.menu"))
    return render_template("receipt.html", receipt=shown)
