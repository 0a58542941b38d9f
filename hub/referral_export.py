"""The file a partner foundation receives about one person, as a dict, CSV or PDF.

It holds exactly the sections the person consented to share with that partner
(`hub.plans.give_consent`) and nothing else. Health data is never in it: this module reads
no screening, health alert or questionnaire answer (events), only the identity record,
the current profile facts, enrolments, the plan and the questionnaire versions' wording.

What is left out on purpose:

* the prison number, and every internal id but the pseudonymous Masar id (no user, device,
  event or record ids): the partner deals with the person and the Masar id, not with the
  prison register. Nationality, wing, cell and location are not shared either;
* the entrepreneurial aptitude score (no section covers it), enrolment reasons (free text
  written by staff, which may mention health), and the wish "look after my health";
* referrals to other partners: a partner sees the goals, the steps and its own referrals.

Free text the person or staff wrote (qualifications, wishes, goals) is shared as written.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import classifications, plans
from hub.audit import Trail
from hub.models import Detainee, Enrolment, ProfileFact, Programme, QuestionnaireVersion, as_utc
from hub.profiles import current_facts
from protocol.ids import utc_now

LANGUAGES = ("fr", "ar", "en")
WISHES_FORM = "masar_wishes"  # its "occupation" answers are wishes, not work history
HEALTH_FORMS = frozenset({"phq9", "gad7"})  # never a source, should one ever map a fact
WITHHELD_WISHES = frozenset({("plans", "health")})  # "look after my health" tells of health
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")  # Debian: fonts-dejavu-core
FONT_BOLD = FONT.with_name("DejaVuSans-Bold.ttf")
CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ReferralError(PermissionError):
    """The partner may not have this file; the message says why."""


class Item(TypedDict):
    """One thing said about the person. ``labels`` names a coded value in fr/ar/en."""

    field: str
    value: str
    labels: dict[str, str]
    provenance: str


class ReferralFile(TypedDict):
    masar_id: str
    partner: str
    generated_at: str
    consent_given_at: str
    sections: dict[str, list[Item]]  # exactly the consented sections, in plans.SECTIONS order


def _item(field: str, value: str, provenance: str, labels: dict[str, str] | None = None) -> Item:
    return {"field": field, "value": value, "labels": labels or {}, "provenance": provenance}


def _labels(**texts: str | None) -> dict[str, str]:
    return {language: text for language, text in texts.items() if text}


# --- building the file -------------------------------------------------------------------------


LANGUAGE_NAMES = {
    "ar": _labels(fr="arabe", ar="العربية", en="Arabic"),
    "fr": _labels(fr="français", ar="الفرنسية", en="French"),
    "tzm": _labels(fr="tamazight", ar="الأمازيغية", en="Tamazight"),
    "en": _labels(fr="anglais", ar="الإنجليزية", en="English"),
    "es": _labels(fr="espagnol", ar="الإسبانية", en="Spanish"),
}
STATES = {
    "requested": _labels(fr="demandée", ar="مطلوب", en="requested"),
    "approved": _labels(fr="acceptée", ar="مقبول", en="approved"),
    "waitlisted": _labels(fr="en liste d'attente", ar="في لائحة الانتظار", en="waitlisted"),
    "declined": _labels(fr="refusée", ar="مرفوض", en="declined"),
    "withdrawn": _labels(fr="retirée", ar="مسحوب", en="withdrawn"),
    "completed": _labels(fr="terminée", ar="مكتمل", en="completed"),
    "dropped": _labels(fr="abandonnée", ar="منقطع", en="dropped"),
    "proposed": _labels(fr="proposée", ar="مقترح", en="proposed"),
    "sent": _labels(fr="envoyée", ar="مرسل", en="sent"),
    "accepted": _labels(fr="acceptée", ar="مقبول", en="accepted"),
    "yes": _labels(fr="oui", ar="نعم", en="yes"),
    "no": _labels(fr="non", ar="لا", en="no"),
}
_FORM_LANGUAGE = re.compile(r"\((\w+)\)\s*$")  # pyxform label keys: "French (fr)"


class _Wording:
    """Choice labels of the questionnaire versions facts came from, read once per file."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.surveys: dict[tuple[str, str], dict[str, Any] | None] = {}

    def labels(self, fact: ProfileFact, value: str) -> dict[str, str]:
        if fact.fact == "education_level" and value in classifications.isced_levels():
            level = classifications.isced(value)
            return _labels(fr=level.title_fr, ar=level.title_ar, en=level.title_en)
        if fact.fact == "occupation" and value in classifications.isco_groups():
            group = classifications.isco(value)
            return _labels(fr=group.title_fr, ar=group.title_ar, en=group.title_en)
        if fact.form_id is None or fact.form_version is None or fact.question is None:
            return {}
        key = (fact.form_id, fact.form_version)
        if key not in self.surveys:
            self.surveys[key] = self.session.scalar(
                select(QuestionnaireVersion.survey).where(
                    QuestionnaireVersion.form_id == fact.form_id,
                    QuestionnaireVersion.version == fact.form_version,
                )
            )
        question = _find(self.surveys[key], fact.question)
        for choice in question.get("children", []) if question else []:
            label = choice.get("label")
            if choice.get("name") == value and isinstance(label, dict):
                return {
                    match[1]: text
                    for heading, text in label.items()
                    if (match := _FORM_LANGUAGE.search(heading)) and match[1] in LANGUAGES
                }
        return {}


def _find(node: dict[str, Any] | None, name: str) -> dict[str, Any] | None:
    for child in (node or {}).get("children", []):
        if child.get("name") == name and "type" in child:
            return dict(child)
        if found := _find(child, name):
            return found
    return None


def _day(moment: datetime) -> str:
    return as_utc(moment).date().isoformat()


def _identity(detainee: Detainee) -> list[Item]:
    source = "prison_record"
    items = [
        _item("masar_id", detainee.id, source),
        _item("name_latin", detainee.name_latin, source),
        _item("name_arabic", detainee.name_arabic, source),
    ]
    if detainee.birth_date is not None:
        items.append(_item("birth_date", detainee.birth_date.isoformat(), source))
    for code in detainee.languages:
        items.append(_item("language", code, source, LANGUAGE_NAMES.get(code)))
    if detainee.expected_release_date is not None:
        when = detainee.expected_release_date.isoformat()
        items.append(_item("expected_release_date", when, source))
    return items


def _fact_section(fact: ProfileFact) -> str | None:
    """Which section a current fact belongs to; None for facts no section shares."""
    if fact.form_id in HEALTH_FORMS:
        return None
    if fact.fact == "occupation":
        return "wishes" if fact.form_id == WISHES_FORM else "work_history"
    return {
        "education_level": "education",
        "qualification": "qualifications",
        "skill": "skills",
        "wish": "wishes",
    }.get(fact.fact)


def _fact_provenance(fact: ProfileFact) -> str:
    parts = [fact.provenance]
    if fact.form_id is not None:
        parts.append(" ".join(p for p in (fact.form_id, fact.form_version, fact.question) if p))
    parts.append(_day(fact.recorded_at))
    return ", ".join(parts)


def _facts(session: Session, detainee_id: str, wanted: set[str]) -> dict[str, list[Item]]:
    wording = _Wording(session)
    found: dict[str, list[Item]] = {}
    for fact in current_facts(session, detainee_id):
        section = _fact_section(fact)
        value = str(fact.value)
        if section not in wanted or (fact.question, value) in WITHHELD_WISHES:
            continue
        item = _item(fact.fact, value, _fact_provenance(fact), wording.labels(fact, value))
        found.setdefault(section, []).append(item)
    return found


def _training(session: Session, detainee_id: str) -> list[Item]:
    rows = session.execute(
        select(Enrolment, Programme)
        .join(Programme, Programme.id == Enrolment.programme_id)
        .where(Enrolment.detainee_id == detainee_id)
        .order_by(Enrolment.requested_at, Enrolment.id)
    ).all()
    items = []
    for enrolment, programme in rows:
        source = f"training_record, {programme.provider}"
        titles = _labels(**{k: programme.titles.get(k) for k in LANGUAGES})
        title = next(iter(titles.values()), programme.provider)
        items += [
            _item("programme", title, source, titles),
            _item("programme_start", programme.starts_on.isoformat(), source),
            _item("programme_end", programme.ends_on.isoformat(), source),
            _item("programme_state", enrolment.state, source, STATES.get(enrolment.state)),
        ]
        if enrolment.completed_at is not None:
            items.append(_item("completed_on", _day(enrolment.completed_at), source))
    return items


def _plan(session: Session, detainee_id: str, partner: str) -> list[Item]:
    plan = plans.get_plan(session, detainee_id)
    if plan is None:
        return []
    source = f"reintegration_plan, {_day(plan.updated_at)}"
    items = [_item("goal", goal, source) for goal in plan.goals]
    for step in plan.steps:
        items.append(_item("step", step.text, source))
        if step.due_on is not None:
            items.append(_item("step_due_on", step.due_on.isoformat(), source))
        done = "yes" if step.done else "no"
        items.append(_item("step_done", done, source, STATES[done]))
    for referral in plan.referrals:
        if referral.partner == partner:
            items.append(_item("referral", referral.purpose, source))
            items.append(_item("referral_state", referral.state, source, STATES[referral.state]))
    return items


def referral_file(
    session: Session, detainee_id: str, partner: str, *, trail: Trail | None = None
) -> ReferralFile:
    """The person's file for this partner, limited to the consent in force.

    Without a consent the answer is the same whether the person exists or not, so a partner
    learns nothing about people who did not consent. Pass ``trail`` to write the disclosure
    to the audit log ("referral.export") in the caller's transaction.
    """
    consent = plans.current_consent(session, detainee_id, partner)
    detainee = session.get(Detainee, detainee_id)
    if consent is None or detainee is None:
        raise ReferralError(
            f"there is no consent in force to share the file of {detainee_id} with {partner}; "
            "the person's social worker must record their consent first"
        )
    wanted = set(consent.sections)
    facts = _facts(session, detainee_id, wanted)
    sections: dict[str, list[Item]] = {}
    for name in plans.SECTIONS:
        if name not in wanted:
            continue
        if name == "identity":
            sections[name] = _identity(detainee)
        elif name == "training":
            sections[name] = _training(session, detainee_id)
        elif name == "plan":
            sections[name] = _plan(session, detainee_id, partner)
        else:
            sections[name] = facts.get(name, [])
    if trail is not None:
        trail.record(
            session, "referral.export", detainee_id, {"partner": partner, "sections": [*sections]}
        )
    return {
        "masar_id": detainee.id,
        "partner": partner,
        "generated_at": utc_now().isoformat(timespec="seconds"),
        "consent_given_at": as_utc(consent.given_at).isoformat(timespec="seconds"),
        "sections": sections,
    }


# --- CSV -------------------------------------------------------------------------------------


def _cell(text: str) -> str:
    """Text Excel would run as a formula gets a leading apostrophe; nothing else changes."""
    return f"'{text}" if text.startswith(CSV_FORMULA_START) else text


def _shown(item: Item) -> str:
    """The value and, for a coded one, its French and Arabic names."""
    labels = item["labels"]
    names = [n for n in (labels.get("fr") or labels.get("en"), labels.get("ar")) if n]
    names = [name for name in names if name != item["value"]]
    return " – ".join([item["value"], " / ".join(names)]) if names else item["value"]


def to_csv(file: ReferralFile) -> bytes:
    """One row per item (section, field, value, provenance), UTF-8 with a BOM so that Excel
    shows Arabic. The first rows say whose file it is, for whom, and what it holds."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["section", "field", "value", "provenance"])
    notice = WORDS["notice"]["fr"] + " / " + WORDS["notice"]["ar"]
    for field, value in (
        ("masar_id", file["masar_id"]),
        ("partner", file["partner"]),
        ("generated_at", file["generated_at"]),
        ("consent_given_at", file["consent_given_at"]),
        ("sections", ", ".join(file["sections"])),
        ("notice", notice),
    ):
        writer.writerow(["file", field, _cell(value), ""])
    for section, items in file["sections"].items():
        for item in items:
            writer.writerow([section, item["field"], _cell(_shown(item)), item["provenance"]])
    return out.getvalue().encode("utf-8-sig")


# --- PDF -------------------------------------------------------------------------------------


def _w(fr: str, ar: str, en: str) -> dict[str, str]:
    return {"fr": fr, "ar": ar, "en": en}


# The Arabic is the developer's own and needs review by a native speaker.
WORDS = {
    "title": _w("Dossier d'orientation", "ملف التوجيه", "Referral file"),
    "partner": _w("Partenaire", "الشريك", "Partner"),
    "generated_at": _w("Établi le", "تاريخ الإعداد", "Made on"),
    "consent_given_at": _w("Consentement donné le", "تاريخ الموافقة", "Consent given on"),
    "sections": _w("Sections partagées", "الأقسام المشتركة", "Sections shared"),
    "notice": _w(
        "Ce dossier ne contient que ce que la personne a accepté de partager avec ce "
        "partenaire. Il ne contient jamais de données de santé.",
        "لا يتضمن هذا الملف إلا ما وافق الشخص على مشاركته مع هذا الشريك، "
        "ولا يتضمن أبدا أي معطيات صحية.",
        "This file holds only what the person consented to share with this partner. "
        "It never holds health data.",
    ),
    "empty": _w("Rien n'est enregistré.", "لا شيء مسجل.", "Nothing is recorded."),
    "page": _w("page", "صفحة", "page"),
    # sections
    "identity": _w("Identité", "الهوية", "Identity"),
    "education": _w("Études", "الدراسة", "Education"),
    "qualifications": _w("Qualifications", "المؤهلات", "Qualifications"),
    "work_history": _w("Parcours professionnel", "المسار المهني", "Work history"),
    "skills": _w("Compétences", "المهارات", "Skills"),
    "training": _w("Formations", "التكوين", "Training"),
    "wishes": _w("Souhaits", "الرغبات", "Wishes"),
    "plan": _w("Plan de réinsertion", "خطة الإدماج", "Reintegration plan"),
    # fields
    "masar_id": _w("Identifiant Masar", "معرف مسار", "Masar id"),
    "name_latin": _w("Nom (lettres latines)", "الاسم بالحروف اللاتينية", "Name (Latin script)"),
    "name_arabic": _w("Nom (lettres arabes)", "الاسم بالحروف العربية", "Name (Arabic script)"),
    "birth_date": _w("Date de naissance", "تاريخ الازدياد", "Birth date"),
    "language": _w("Langue", "اللغة", "Language"),
    "expected_release_date": _w(
        "Libération prévue le", "تاريخ الإفراج المتوقع", "Expected release"
    ),
    "education_level": _w("Niveau d'études (CITE 2011)", "المستوى الدراسي", "Education (ISCED)"),
    "qualification": _w("Qualification", "المؤهل", "Qualification"),
    "occupation": _w("Métier (CITP-08)", "المهنة", "Occupation (ISCO-08)"),
    "skill": _w("Compétence", "المهارة", "Skill"),
    "wish": _w("Souhait", "الرغبة", "Wish"),
    "programme": _w("Formation", "التكوين", "Programme"),
    "programme_start": _w("Début", "البداية", "Starts on"),
    "programme_end": _w("Fin", "النهاية", "Ends on"),
    "programme_state": _w("État", "الحالة", "State"),
    "completed_on": _w("Terminée le", "تاريخ الإتمام", "Completed on"),
    "goal": _w("Objectif", "الهدف", "Goal"),
    "step": _w("Étape", "الخطوة", "Step"),
    "step_due_on": _w("Échéance", "الأجل", "Due on"),
    "step_done": _w("Faite", "منجزة", "Done"),
    "referral": _w("Orientation vers vous", "التوجيه إليكم", "Referral to you"),
    "referral_state": _w("État de l'orientation", "حالة التوجيه", "Referral state"),
    # provenance
    "self_declared": _w("déclaré par la personne", "صرح به الشخص", "self-declared"),
    "staff_verified": _w("vérifié par le personnel", "تحقق منه الموظفون", "verified by staff"),
    "document": _w("attesté par un document", "مثبت بوثيقة", "backed by a document"),
    "prison_record": _w("registre de l'établissement", "سجل المؤسسة", "prison record"),
    "training_record": _w("registre des formations", "سجل التكوين", "training record"),
    "reintegration_plan": _w("plan de réinsertion", "خطة الإدماج", "reintegration plan"),
}


def _word(key: str, language: str) -> str:
    return WORDS[key][language] if key in WORDS else key


def _date(moment: str) -> str:
    return datetime.fromisoformat(moment).astimezone(UTC).date().isoformat()


def _isolated(text: str) -> str:
    """A value set apart from the text around it (Unicode first-strong isolate), so that a
    date or a Latin name in an Arabic line keeps its own order ("2026-05-01", not reversed)."""
    return f"\u2068{text}\u2069"


def _provenance(provenance: str, language: str) -> str:
    """Provenance starts with a kind (self_declared, prison_record …) worth translating."""
    kind, _, rest = provenance.partition(", ")
    comma = "، " if language == "ar" else ", "
    return _word(kind, language) + (comma + _isolated(rest) if rest else "")


class _Pdf(FPDF):
    """A4 pages whose footer names the file and the page (shaping rules out "{nb}")."""

    def __init__(self, footer: str) -> None:
        super().__init__(format="A4")
        self.footer_text = footer

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("DejaVu", size=8)
        self.set_text_color(110)
        self.cell(0, 5, f"{self.footer_text} · {self.page_no()}", align="C")


def to_pdf(file: ReferralFile, language: str = "fr") -> bytes:
    """The file as a PDF in French, Arabic (right to left) or English. Names and answers in
    Arabic script are shaped (joined letters, right to left) by HarfBuzz."""
    if language not in LANGUAGES:
        raise ValueError(f"no PDF wording in {language!r}; choose one of {', '.join(LANGUAGES)}")
    if not FONT.exists():
        raise FileNotFoundError(f"the font {FONT} is missing; install Debian's fonts-dejavu-core")
    title = _word("title", language)
    pdf = _Pdf(
        f"Masar · {title} · {file['masar_id']} · {file['partner']} · {_word('page', language)}"
    )
    pdf.set_title(f"{title} {file['masar_id']}")
    pdf.set_creator("Masar")
    pdf.add_font("DejaVu", "", FONT)
    pdf.add_font("DejaVu", "B", FONT_BOLD)
    pdf.set_text_shaping(True, direction="rtl" if language == "ar" else "ltr")
    pdf.set_auto_page_break(True, margin=18)
    pdf.add_page()
    align = "R" if language == "ar" else "L"
    colon = " : " if language == "fr" else ": "  # French puts a space before the colon

    def paragraph(text: str, size: float = 10, bold: bool = False, grey: bool = False) -> None:
        pdf.set_font("DejaVu", "B" if bold else "", size)
        pdf.set_text_color(110 if grey else 0)
        pdf.multi_cell(0, size * 0.5, text, align=align, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    paragraph(title, 16, bold=True)
    pdf.ln(2)
    comma = "، " if language == "ar" else ", "
    sections = comma.join(_word(name, language) for name in file["sections"])
    for key, value in (
        ("masar_id", file["masar_id"]),
        ("partner", file["partner"]),
        ("generated_at", _date(file["generated_at"])),
        ("consent_given_at", _date(file["consent_given_at"])),
        ("sections", sections),
    ):
        paragraph(f"{_word(key, language)}{colon}{_isolated(value)}")
    pdf.ln(1)
    paragraph(_word("notice", language), bold=True)
    for section, items in file["sections"].items():
        pdf.ln(4)
        paragraph(_word(section, language), 13, bold=True)
        if not items:
            paragraph(_word("empty", language), grey=True)
        for item in items:
            name = item["labels"].get(language) or item["labels"].get("en")
            shown = _isolated(item["value"])
            if name and item["value"].isdigit():  # ISCED/ISCO: the code counts, say both
                shown += f" – {_isolated(name)}"
            elif name:  # a choice or a state: its name says it
                shown = _isolated(name)
            pdf.ln(1)
            paragraph(f"{_word(item['field'], language)}{colon}{shown}")
            paragraph(_provenance(item["provenance"], language), 8, grey=True)
    return bytes(pdf.output())
