"""Write the shipped XLSForms (`forms/*.xlsx`) from the readable definitions below.

The wording lives here so that reviewers read it in a diff, not inside a spreadsheet. Run
``python -m hub.questionnaires.build_forms`` after changing it; a test fails while the .xlsx
files and these definitions disagree.

Translation status (see forms/README.md): Tamazight (Tifinagh) and Arabic are the
developer's own drafts and need review by native speakers; PHQ-9 and GAD-7 must be replaced
by their official validated translations before any clinical use.
"""

# Each text stays on one line so that a reviewer reads it whole and diffs stay per text.
# ruff: noqa: E501

from __future__ import annotations

import datetime
import io
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from openpyxl import Workbook, load_workbook  # type: ignore[import-untyped]

from hub.questionnaires import scoring
from hub.questionnaires.xlsform import FORMS_DIR, LANGUAGES

VERSION = "2025.1"
LANGUAGE_COLUMNS = {"en": "English (en)", **LANGUAGES}  # English helps reviewers; optional
TRANSLATED = ("label", "hint", "constraint_message")
SURVEY_COLUMNS = (
    "type",
    "name",
    *(f"{base}::{lang}" for base in TRANSLATED for lang in LANGUAGE_COLUMNS.values()),
    "required",
    "relevant",
    "constraint",
    "calculation",
    "appearance",
    "masar::fact",
)
CHOICE_COLUMNS = ("list_name", "name", *(f"label::{lang}" for lang in LANGUAGE_COLUMNS.values()))
REVIEW_NOTE = (
    "Tamazight (Tifinagh) and Arabic wording are the developer's own drafts: review by native "
    "speakers required before use."
)
PFIZER_NOTE = (
    "PHQ-9 and GAD-7: Copyright © Pfizer Inc., free to use; no permission required to "
    "reproduce, translate, display or distribute. Use the official validated Arabic and "
    "French translations before clinical use; no validated Tamazight version exists."
)
_FIXED_TIME = datetime.datetime(2025, 1, 1)  # same bytes on every build


@dataclass(frozen=True)
class T:
    """One text in every language of the kiosk (English optional, for reviewers)."""

    fr: str
    ar: str
    tzm: str
    en: str = ""

    def columns(self, base: str) -> dict[str, str]:
        texts = {"en": self.en, "fr": self.fr, "ar": self.ar, "tzm": self.tzm}
        return {f"{base}::{LANGUAGE_COLUMNS[code]}": text for code, text in texts.items() if text}


@dataclass(frozen=True)
class FormDefinition:
    form_id: str
    title: T
    survey: Sequence[dict[str, str]]
    choices: Sequence[dict[str, str]]
    notes: Sequence[str] = field(default_factory=lambda: (REVIEW_NOTE,))


def q(
    type_: str,
    name: str,
    label: T | None = None,
    *,
    hint: T | None = None,
    required: bool = False,
    relevant: str = "",
    constraint: str = "",
    constraint_message: T | None = None,
    calculation: str = "",
    appearance: str = "",
    fact: str = "",
) -> dict[str, str]:
    """One survey row; empty cells are left out."""
    row = {"type": type_, "name": name}
    for base, text in (
        ("label", label),
        ("hint", hint),
        ("constraint_message", constraint_message),
    ):
        if text:
            row |= text.columns(base)
    row |= {
        "required": "yes" if required else "",
        "relevant": relevant,
        "constraint": constraint,
        "calculation": calculation,
        "appearance": appearance,
        "masar::fact": fact,
    }
    return {column: value for column, value in row.items() if value}


def begin(name: str, label: T, relevant: str = "") -> dict[str, str]:
    return q("begin_group", name, label, relevant=relevant, appearance="field-list")


def end(name: str) -> dict[str, str]:
    return {"type": "end_group", "name": name}


def choices(list_name: str, *options: tuple[str, T]) -> list[dict[str, str]]:
    return [
        {"list_name": list_name, "name": name, **text.columns("label")} for name, text in options
    ]


# Shared choice lists ---------------------------------------------------------------------

YES_NO = choices(
    "yes_no",
    ("yes", T(fr="Oui", ar="نعم", tzm="ⵢⴰⵀ", en="Yes")),
    ("no", T(fr="Non", ar="لا", tzm="ⵓⵀⵓ", en="No")),
)
YES_NO_MAYBE = choices(
    "yes_no_maybe",
    ("yes", T(fr="Oui", ar="نعم", tzm="ⵢⴰⵀ", en="Yes")),
    ("maybe", T(fr="Peut-être", ar="ربما", tzm="ⵉⵎⴽⵏ", en="Maybe")),
    ("no", T(fr="Non", ar="لا", tzm="ⵓⵀⵓ", en="No")),
)

# ISCED 2011 attainment levels; names are the ISCED codes. Moroccan examples are a guess
# (no official crosswalk found): see forms/README.md.
ISCED = choices(
    "isced",
    (
        "0",
        T(
            fr="Jamais scolarisé ou primaire non terminé",
            ar="لم أدرس أو لم أكمل الابتدائي",
            tzm="ⵓⵔ ⵖⵔⵉⵖ ⵏⵖ ⵓⵔ ⵙⵎⴷⵖ ⴰⵎⵏⵣⴰⵡⴰⵢ",
            en="No schooling or primary not completed",
        ),
    ),
    ("1", T(fr="Primaire (école primaire)", ar="الابتدائي", tzm="ⴰⵎⵏⵣⴰⵡⴰⵢ", en="Primary")),
    (
        "2",
        T(
            fr="Collège (secondaire collégial)",
            ar="الإعدادي (الثانوي الإعدادي)",
            tzm="ⴰⵙⵉⵏⴰⵏ ⴰⵎⵏⵣⵓ (ⴰⴽⵓⵍⵉⵊ)",
            en="Lower secondary (collège)",
        ),
    ),
    (
        "3",
        T(
            fr="Lycée (secondaire qualifiant, bac)",
            ar="الثانوي التأهيلي (البكالوريا)",
            tzm="ⴰⵙⵉⵏⴰⵏ ⴰⵙⵏⴰⵏ (ⴰⴱⴰⴽ)",
            en="Upper secondary (lycée, baccalauréat)",
        ),
    ),
    (
        "4",
        T(
            fr="Formation après le bac, non supérieure (qualification professionnelle)",
            ar="تكوين بعد البكالوريا غير عالٍ (التأهيل المهني)",
            tzm="ⴰⵙⵙⵍⵎⴷ ⴼⴼⵉⵔ ⵏ ⵓⴱⴰⴽ, ⵓⵔ ⵉⴳⵉ ⴰⵏⴰⴼⵍⵍⴰ",
            en="Post-secondary non-tertiary",
        ),
    ),
    (
        "5",
        T(
            fr="Supérieur court (technicien spécialisé, BTS, DUT)",
            ar="تعليم عالٍ قصير (تقني متخصص، شهادة التقني العالي)",
            tzm="ⴰⵙⵍⵎⴷ ⴰⵏⴰⴼⵍⵍⴰ ⴰⵎⵥⵥⵢⴰⵏ (ⵜⵉⴽⵏⵉⵙⵢⴰⵏ)",
            en="Short-cycle tertiary (technicien spécialisé, BTS)",
        ),
    ),
    ("6", T(fr="Licence", ar="الإجازة", tzm="ⵍⵉⵙⴰⵏⵙ", en="Bachelor's (licence)")),
    ("7", T(fr="Master", ar="الماستر", tzm="ⵎⴰⵙⵜⵔ", en="Master's")),
    ("8", T(fr="Doctorat", ar="الدكتوراه", tzm="ⴷⵓⴽⵜⵓⵔⴰ", en="Doctorate")),
)

# ISCO-08 major groups; names are the ISCO-08 codes. Examples help a detainee find theirs.
ISCO = choices(
    "isco",
    (
        "1",
        T(
            fr="Directeur, chef d'entreprise",
            ar="مدير أو صاحب مقاولة",
            tzm="ⴰⵏⵎⵀⴰⵍ ⵏⵖ ⴱⵓ ⵜⵎⵙⴽⴰⵔⵜ",
            en="Manager, business owner",
        ),
    ),
    (
        "2",
        T(
            fr="Profession intellectuelle (enseignant, médecin, ingénieur)",
            ar="مهنة فكرية (معلم، طبيب، مهندس)",
            tzm="ⵜⴰⵡⵓⵔⵉ ⵏ ⵓⵙⵙⵏ (ⴰⵙⵍⵎⴰⴷ, ⴰⵎⵙⵊⵊⵉ, ⴰⵏⴳⵉⵏⵢⵓⵔ)",
            en="Professional (teacher, doctor, engineer)",
        ),
    ),
    (
        "3",
        T(
            fr="Technicien (infirmier, technicien, comptable)",
            ar="تقني (ممرض، تقني، محاسب)",
            tzm="ⵜⵉⴽⵏⵉⵙⵢⴰⵏ (ⴰⵏⴼⵔⵎⵉ, ⴰⵎⵙⵉⴹⵏ)",
            en="Technician (nurse, technician, bookkeeper)",
        ),
    ),
    (
        "4",
        T(
            fr="Employé de bureau",
            ar="مستخدم مكتب",
            tzm="ⴰⵎⵙⵡⵓⵔⵉ ⵏ ⵓⴱⵉⵔⵓ",
            en="Clerical support worker",
        ),
    ),
    (
        "5",
        T(
            fr="Services et vente (vendeur, cuisinier, coiffeur, gardien)",
            ar="الخدمات والبيع (بائع، طباخ، حلاق، حارس)",
            tzm="ⵜⵉⵏⴰⴼⵓⵜⵉⵏ ⴷ ⵓⵙⵏⵣⵣⴰ (ⴰⵎⵙⵏⵣⴰ, ⴰⵙⵏⵡⴰⵢ, ⴰⵃⴼⴼⴰⴼ)",
            en="Service or sales (seller, cook, hairdresser, guard)",
        ),
    ),
    (
        "6",
        T(
            fr="Agriculture, élevage, pêche",
            ar="الفلاحة، تربية المواشي، الصيد البحري",
            tzm="ⵜⴰⴽⵔⵣⴰ, ⴰⴽⵙⴰ, ⴰⵙⵙⴰⵢⴷ",
            en="Farming, livestock, fishing",
        ),
    ),
    (
        "7",
        T(
            fr="Métier artisanal (maçon, électricien, menuisier, mécanicien)",
            ar="حرفة (بناء، كهربائي، نجار، ميكانيكي)",
            tzm="ⵜⴰⵥⵓⵕⵉ (ⴰⴱⵏⵏⴰⵢ, ⴰⵙⵎⵔⵙ ⵏ ⵜⴰⴹⴰⵏⵜ, ⴰⵏⵊⵊⴰⵔ, ⴰⵎⵉⴽⴰⵏⵉⵙⵢⴰⵏ)",
            en="Craft or trade (mason, electrician, carpenter, mechanic)",
        ),
    ),
    (
        "8",
        T(
            fr="Conducteur de machines ou de véhicules, ouvrier d'usine",
            ar="سائق آلات أو عربات، عامل مصنع",
            tzm="ⴰⵎⵏⴷⴰⵀ ⵏ ⵜⵎⴰⵙⵉⵏⵜ ⵏⵖ ⵜⴽⵓⵎⵓⵏⵜ, ⴰⵅⴷⴷⴰⵎ ⵏ ⵓⵙⵏⵓⴼⵍ",
            en="Machine operator, driver, factory worker",
        ),
    ),
    (
        "9",
        T(
            fr="Travail manuel simple (manœuvre, nettoyage, aide)",
            ar="عمل يدوي بسيط (عامل، تنظيف، مساعد)",
            tzm="ⵜⴰⵡⵓⵔⵉ ⵙ ⵓⴼⵓⵙ (ⴰⵅⴷⴷⴰⵎ, ⴰⵙⵉⵣⴷⴳ)",
            en="Elementary work (labourer, cleaner, helper)",
        ),
    ),
    ("0", T(fr="Forces armées", ar="القوات المسلحة", tzm="ⵉⵎⵙⵍⵃⴰⵏ", en="Armed forces")),
)

SKILL_OPTIONS: tuple[tuple[str, T], ...] = (
    ("building", T(fr="Bâtiment, maçonnerie", ar="البناء", tzm="ⴰⵙⴱⵏⵓ", en="Building, masonry")),
    ("electricity", T(fr="Électricité", ar="الكهرباء", tzm="ⵜⴰⴹⴰⵏⵜ", en="Electricity")),
    ("plumbing", T(fr="Plomberie", ar="الترصيص", tzm="ⵜⵉⵇⵇⵏⴹⵉⵔⵜ ⵏ ⵡⴰⵎⴰⵏ", en="Plumbing")),
    ("carpentry", T(fr="Menuiserie", ar="النجارة", tzm="ⵜⴰⵏⵊⵊⴰⵔⵜ", en="Carpentry")),
    (
        "welding",
        T(
            fr="Soudure, ferronnerie",
            ar="التلحيم والحدادة",
            tzm="ⵜⴰⵍⵃⵉⵎⵜ ⴷ ⵜⵣⵣⵍⵜ",
            en="Welding, metalwork",
        ),
    ),
    ("mechanics", T(fr="Mécanique", ar="الميكانيك", tzm="ⵜⴰⵎⵉⴽⴰⵏⵉⴽⵜ", en="Mechanics")),
    (
        "cooking",
        T(fr="Cuisine, pâtisserie", ar="الطبخ والحلويات", tzm="ⴰⵙⵏⵡⴰ", en="Cooking, pastry"),
    ),
    (
        "farming",
        T(
            fr="Agriculture, élevage",
            ar="الفلاحة وتربية المواشي",
            tzm="ⵜⴰⴽⵔⵣⴰ ⴷ ⵓⴽⵙⴰ",
            en="Farming, livestock",
        ),
    ),
    ("sewing", T(fr="Couture", ar="الخياطة", tzm="ⵜⴰⵎⵔⵏⵉⵜ", en="Sewing")),
    ("hairdressing", T(fr="Coiffure", ar="الحلاقة", tzm="ⵜⴰⵃⴼⴼⴰⴼⵜ", en="Hairdressing")),
    ("computing", T(fr="Informatique", ar="المعلوميات", tzm="ⵜⵉⵙⵏⵉⵍⵙⵜ", en="Computing")),
    (
        "driving",
        T(
            fr="Conduite (permis)",
            ar="السياقة (رخصة)",
            tzm="ⴰⵏⴷⴰⵀ (ⵜⴰⵙⵓⵔⴰ)",
            en="Driving (licence)",
        ),
    ),
    ("trade", T(fr="Commerce, vente", ar="التجارة والبيع", tzm="ⵜⴰⵙⵏⵣⵣⵉⵜ", en="Trade, selling")),
    (
        "handicraft",
        T(
            fr="Artisanat (zellige, tapis, cuir)",
            ar="الصناعة التقليدية (الزليج، الزرابي، الجلد)",
            tzm="ⵜⴰⵥⵓⵕⵉ ⵜⴰⵇⴱⵓⵔⵜ (ⴰⵣⵍⵍⵉⵊ, ⴰⵣⵔⴱⵉ, ⴰⵍⵎ)",
            en="Handicraft (zellige, carpets, leather)",
        ),
    ),
    ("other", T(fr="Autre", ar="أخرى", tzm="ⵢⴰⴹⵏ", en="Other")),
)
SKILLS = choices("skills", *SKILL_OPTIONS)


# 1. Socio-professional intake --------------------------------------------------------------

INTAKE = FormDefinition(
    form_id="masar_intake",
    title=T(
        fr="Parcours scolaire et professionnel",
        ar="المسار الدراسي والمهني",
        tzm="ⴰⴱⵔⵉⴷ ⵏ ⵓⵙⵍⵎⴷ ⴷ ⵜⵡⵓⵔⵉ",
        en="Education and work",
    ),
    survey=[
        q(
            "note",
            "intro",
            T(
                fr="Ces questions aident à vous proposer des formations. Il n'y a pas de bonne ou de mauvaise réponse.",
                ar="تساعد هذه الأسئلة على اقتراح تكوينات تناسبك. لا توجد إجابة صحيحة أو خاطئة.",
                tzm="ⵉⵙⵇⵙⵉⵜⵏ ⴰⴷ ⴰⴷ ⴰⵖ ⵄⴰⵡⵏⵏ ⴰⴷ ⴰⴽ ⵏⵙⵙⵓⵎⵔ ⵉⵙⵍⵎⴰⴷⵏ. ⵓⵔ ⵍⵍⵉⵏ ⵜⵉⵔⴰⵔⵉⵏ ⵉⵖⵓⴷⴰⵏ ⵏⵖ ⵓⵔ ⵉⵖⵓⴷⴰⵏ.",
                en="These questions help us offer you training. There are no right or wrong answers.",
            ),
        ),
        begin("education", T(fr="Études", ar="الدراسة", tzm="ⴰⵙⵍⵎⴷ", en="Education")),
        q(
            "select_one literacy",
            "literacy",
            T(
                fr="Savez-vous lire et écrire ?",
                ar="هل تعرف القراءة والكتابة؟",
                tzm="ⵉⵙ ⵜⵙⵙⵏⴷ ⴰⴷ ⵜⵖⵔⴷ ⴷ ⴰⴷ ⵜⴰⵔⵉⴷ?",
                en="Can you read and write?",
            ),
            required=True,
        ),
        q(
            "select_multiple languages",
            "literacy_languages",
            T(
                fr="Dans quelles langues ?",
                ar="بأي لغات؟",
                tzm="ⵙ ⵎⴰⵜⵜⴰ ⵜⵓⵜⵍⴰⵢⵉⵏ?",
                en="In which languages?",
            ),
            required=True,
            relevant="${literacy} != 'none'",
        ),
        q(
            "select_one isced",
            "education_level",
            T(
                fr="Quel est le plus haut niveau d'études que vous avez terminé ?",
                ar="ما هو أعلى مستوى دراسي أنهيته؟",
                tzm="ⵎⴰⵜⵜⴰ ⴰⵙⵡⵉⵔ ⴰⵏⵏⴰⵎⴰⵔ ⵏ ⵓⵙⵍⵎⴷ ⵏⵏⴽ?",
                en="What is the highest level of education you completed?",
            ),
            required=True,
            fact="education_level",
        ),
        q(
            "integer",
            "school_years",
            T(
                fr="Combien d'années êtes-vous allé à l'école ?",
                ar="كم سنة درست في المدرسة؟",
                tzm="ⵎⵏⵛⴽ ⵏ ⵉⵙⴳⴳⵯⴰⵙⵏ ⴰⴷ ⵜⵖⵔⵉⴷ ⴳ ⵜⵏⵎⵍ?",
                en="How many years did you go to school?",
            ),
            relevant="${education_level} != '0'",
            constraint=". >= 0 and . <= 30",
            constraint_message=T(
                fr="Entre 0 et 30 ans.",
                ar="بين 0 و30 سنة.",
                tzm="ⴳⵔ 0 ⴷ 30 ⵏ ⵉⵙⴳⴳⵯⴰⵙⵏ.",
                en="Between 0 and 30 years.",
            ),
        ),
        end("education"),
        begin(
            "qualifications",
            T(
                fr="Diplômes et certificats",
                ar="الشهادات والدبلومات",
                tzm="ⵉⴷⵉⴱⵍⵓⵎⵏ",
                en="Diplomas and certificates",
            ),
        ),
        q(
            "select_one yes_no",
            "has_qualification",
            T(
                fr="Avez-vous un diplôme ou un certificat professionnel ?",
                ar="هل لديك دبلوم أو شهادة مهنية؟",
                tzm="ⵉⵙ ⵖⵓⵔⴽ ⴽⵔⴰ ⵏ ⵓⴷⵉⴱⵍⵓⵎ ⵏⵖ ⵜⴰⴳⵔⴰⴷⵜ ⵜⴰⵎⵀⵍⴰⵏⵜ?",
                en="Do you have a diploma or a vocational certificate?",
            ),
            required=True,
        ),
        q(
            "text",
            "qualification",
            T(
                fr="Lequel ? (le plus important)",
                ar="ما هو؟ (الأهم)",
                tzm="ⵎⴰⵜⵜⴰ? (ⴰⵎⵇⵔⴰⵏ)",
                en="Which one? (the most important)",
            ),
            required=True,
            relevant="${has_qualification} = 'yes'",
            fact="qualification",
        ),
        q(
            "integer",
            "qualification_year",
            T(
                fr="En quelle année l'avez-vous obtenu ?",
                ar="في أي سنة حصلت عليه؟",
                tzm="ⴳ ⵎⴰⵜⵜⴰ ⴰⵙⴳⴳⵯⴰⵙ ⴰⴷ ⵜ ⵜⵓⵎⵥⴷ?",
                en="In which year did you obtain it?",
            ),
            relevant="${has_qualification} = 'yes'",
            constraint=". >= 1950 and . <= 2100",
            constraint_message=T(
                fr="Une année entre 1950 et 2100.",
                ar="سنة بين 1950 و2100.",
                tzm="ⴰⵙⴳⴳⵯⴰⵙ ⴳⵔ 1950 ⴷ 2100.",
                en="A year between 1950 and 2100.",
            ),
        ),
        q(
            "text",
            "other_qualification",
            T(
                fr="Un autre diplôme ou certificat ? (facultatif)",
                ar="دبلوم أو شهادة أخرى؟ (اختياري)",
                tzm="ⴽⵔⴰ ⵏ ⵓⴷⵉⴱⵍⵓⵎ ⵢⴰⴹⵏ? (ⵙ ⵜⵉⵔⵎⵜ)",
                en="Another diploma or certificate? (optional)",
            ),
            relevant="${has_qualification} = 'yes'",
            fact="qualification",
        ),
        end("qualifications"),
        begin("work", T(fr="Travail", ar="العمل", tzm="ⵜⴰⵡⵓⵔⵉ", en="Work")),
        q(
            "select_one yes_no",
            "has_worked",
            T(
                fr="Avez-vous déjà travaillé ?",
                ar="هل سبق لك أن عملت؟",
                tzm="ⵉⵙ ⵜⵅⴷⵎⴷ ⴽⵔⴰ ⵏ ⵜⵉⴽⴽⵍⵜ?",
                en="Have you ever worked?",
            ),
            required=True,
        ),
        q(
            "select_one isco",
            "last_occupation",
            T(
                fr="Quel était votre dernier travail ?",
                ar="ما هو آخر عمل قمت به؟",
                tzm="ⵎⴰⵜⵜⴰ ⵜⴰⵡⵓⵔⵉ ⵜⴰⵏⴳⴳⴰⵔⵓⵜ ⵏⵏⴽ?",
                en="What was your last job?",
            ),
            required=True,
            relevant="${has_worked} = 'yes'",
            fact="occupation",
        ),
        q(
            "select_multiple isco",
            "past_occupations",
            T(
                fr="Quels autres travaux avez-vous faits ?",
                ar="ما هي الأعمال الأخرى التي قمت بها؟",
                tzm="ⵎⴰⵜⵜⴰ ⵜⵉⵡⵓⵔⵉⵡⵉⵏ ⵢⴰⴹⵏⵉⵏ ⴰⴷ ⵜⵅⴷⵎⴷ?",
                en="What other jobs have you done?",
            ),
            relevant="${has_worked} = 'yes'",
            fact="occupation",
        ),
        q(
            "integer",
            "years_worked",
            T(
                fr="Combien d'années avez-vous travaillé en tout ?",
                ar="كم سنة عملت في المجموع؟",
                tzm="ⵎⵏⵛⴽ ⵏ ⵉⵙⴳⴳⵯⴰⵙⵏ ⴰⴷ ⵜⵅⴷⵎⴷ ⵙ ⵎⴰⵕⵕⴰ?",
                en="How many years have you worked in all?",
            ),
            relevant="${has_worked} = 'yes'",
            constraint=". >= 0 and . <= 60",
            constraint_message=T(
                fr="Entre 0 et 60 ans.",
                ar="بين 0 و60 سنة.",
                tzm="ⴳⵔ 0 ⴷ 60 ⵏ ⵉⵙⴳⴳⵯⴰⵙⵏ.",
                en="Between 0 and 60 years.",
            ),
        ),
        end("work"),
        begin("skills_group", T(fr="Savoir-faire", ar="المهارات", tzm="ⵜⵓⵣⵎⵔⵉⵏ", en="Skills")),
        q(
            "select_multiple skills",
            "skills",
            T(
                fr="Que savez-vous bien faire ?",
                ar="ما الذي تتقنه؟",
                tzm="ⵎⴰⵢⴷ ⵜⵙⵙⵏⴷ ⴰⴷ ⵜⴳⴷ ⵎⵍⵉⵃ?",
                en="What are you good at?",
            ),
            hint=T(
                fr="Plusieurs réponses possibles.",
                ar="يمكنك اختيار أكثر من جواب.",
                tzm="ⵜⵣⵎⵔⴷ ⴰⴷ ⵜⴼⵔⵏⴷ ⵓⴳⴳⴰⵔ ⵏ ⵢⴰⵜ ⵜⵔⴰⵔⵓⵜ.",
                en="You may choose several.",
            ),
            required=True,
            fact="skill",
        ),
        q(
            "text",
            "other_skill",
            T(
                fr="Quel autre savoir-faire ?",
                ar="ما هي المهارة الأخرى؟",
                tzm="ⵎⴰⵜⵜⴰ ⵜⵓⵣⵎⵔⵜ ⵢⴰⴹⵏ?",
                en="Which other skill?",
            ),
            required=True,
            relevant="selected(${skills}, 'other')",
            fact="skill",
        ),
        end("skills_group"),
    ],
    choices=[
        *choices(
            "literacy",
            (
                "both",
                T(fr="Lire et écrire", ar="القراءة والكتابة", tzm="ⵖⵔ ⴷ ⴰⵔⴰ", en="Read and write"),
            ),
            ("read", T(fr="Lire seulement", ar="القراءة فقط", tzm="ⵖⵔ ⵖⴰⵙ", en="Read only")),
            ("none", T(fr="Ni l'un ni l'autre", ar="لا هذا ولا ذاك", tzm="ⵓⵍⴰ ⵢⴰⵜ", en="Neither")),
        ),
        *choices(
            "languages",
            ("ar", T(fr="Arabe", ar="العربية", tzm="ⵜⴰⵄⵔⴰⴱⵜ", en="Arabic")),
            ("fr", T(fr="Français", ar="الفرنسية", tzm="ⵜⴰⴼⵔⴰⵏⵙⵉⵙⵜ", en="French")),
            (
                "tzm",
                T(
                    fr="Tamazight (tifinagh)",
                    ar="الأمازيغية (تيفيناغ)",
                    tzm="ⵜⴰⵎⴰⵣⵉⵖⵜ (ⵜⵉⴼⵉⵏⴰⵖ)",
                    en="Tamazight (Tifinagh)",
                ),
            ),
            ("other", T(fr="Autre", ar="أخرى", tzm="ⵢⴰⴹⵏ", en="Other")),
        ),
        *ISCED,
        *YES_NO,
        *ISCO,
        *SKILLS,
    ],
)


# 2. Entrepreneurial aptitude: Masar's own items (not ILO SIYB material) -------------------

AGREEMENT = choices(
    "agreement",
    (
        "1",
        T(
            fr="Pas du tout d'accord",
            ar="غير موافق إطلاقا",
            tzm="ⵓⵔ ⵎⵙⴰⵙⴰⵖ ⴽⵔⴰ",
            en="Strongly disagree",
        ),
    ),
    ("2", T(fr="Pas d'accord", ar="غير موافق", tzm="ⵓⵔ ⵎⵙⴰⵙⴰⵖ", en="Disagree")),
    (
        "3",
        T(
            fr="Ni d'accord ni pas d'accord",
            ar="محايد",
            tzm="ⵓⵔ ⵙⵙⵏⵖ",
            en="Neither agree nor disagree",
        ),
    ),
    ("4", T(fr="D'accord", ar="موافق", tzm="ⵎⵙⴰⵙⴰⵖ", en="Agree")),
    ("5", T(fr="Tout à fait d'accord", ar="موافق تماما", tzm="ⵎⵙⴰⵙⴰⵖ ⴰⴽⴽⵯ", en="Strongly agree")),
)
# Items 4, 7 and 9 are worded against aptitude (scoring.ENTREPRENEURIAL_REVERSED).
ENTREPRENEURIAL_STATEMENTS = (
    T(
        fr="J'aime prendre des initiatives et commencer de nouvelles choses.",
        ar="أحب أخذ المبادرة والبدء في أشياء جديدة.",
        tzm="ⵔⵉⵖ ⴰⴷ ⵙⵙⵏⵜⵉⵖ ⵜⵉⵖⴰⵡⵙⵉⵡⵉⵏ ⵜⵉⵎⴰⵢⵏⵓⵜⵉⵏ.",
        en="I like to take the initiative and start new things.",
    ),
    T(
        fr="Quand j'ai un problème, je cherche moi-même une solution.",
        ar="عندما تواجهني مشكلة، أبحث بنفسي عن حل.",
        tzm="ⵎⵍ ⵢⵓⵛⴽⴰ ⵢⵉ ⴽⵔⴰ ⵏ ⵓⵎⵓⴽⵔⴰⵙ, ⵔⵣⵓⵖ ⵙ ⵉⵅⴼ ⵉⵏⵓ ⴼ ⵓⴼⵙⴰⵢ.",
        en="When I have a problem, I look for a solution myself.",
    ),
    T(
        fr="J'arrive à convaincre les autres de mes idées.",
        ar="أستطيع إقناع الآخرين بأفكاري.",
        tzm="ⵣⵎⵔⵖ ⴰⴷ ⵙⵙⵓⵎⵔⵖ ⵉⵎⴷⴷⵓⴽⴽⴰⵍ ⵙ ⵜⵉⵡⵏⴳⵉⵎⵉⵏ ⵉⵏⵓ.",
        en="I can convince others of my ideas.",
    ),
    T(
        fr="Je préfère qu'on me dise exactement quoi faire.",
        ar="أفضل أن يقول لي شخص آخر بالضبط ما يجب أن أفعله.",
        tzm="ⵉⴼⵓⵍⴽⵉ ⵢⵉ ⴰⴷ ⵉⵢⵉ ⵉⵏⵉ ⴽⵔⴰ ⵏ ⵢⴰⵏ ⵎⴰⵢⴷ ⵔⴰⴷ ⴳⵖ.",
        en="I prefer someone to tell me exactly what to do.",
    ),
    T(
        fr="Je suis prêt à travailler de longues heures pour réussir un projet.",
        ar="أنا مستعد للعمل ساعات طويلة لإنجاح مشروع.",
        tzm="ⵀⴰⵢⵢⴰ ⵢⵉ ⵉⵀⵢⵢⴰ ⴰⴷ ⵅⴷⵎⵖ ⵜⵉⵙⵔⴰⴳⵉⵏ ⵉⵖⵣⵣⵉⴼⵏ ⴰⴼⴰⴷ ⴰⴷ ⵉⵔⴱⵃ ⵓⵙⵏⴼⴰⵔ.",
        en="I am ready to work long hours to make a project succeed.",
    ),
    T(
        fr="Je sais gérer l'argent avec soin.",
        ar="أعرف كيف أدبر المال بعناية.",
        tzm="ⵙⵙⵏⵖ ⴰⴷ ⵙⵡⵓⴷⴷⵙⵖ ⵉⴷⵔⵉⵎⵏ ⵙ ⵓⵃⴹⴰⵢ.",
        en="I manage money carefully.",
    ),
    T(
        fr="La peur d'échouer m'empêche d'essayer.",
        ar="الخوف من الفشل يمنعني من المحاولة.",
        tzm="ⴰⵔ ⵉⵢⵉ ⵜⴰⵡⵢ ⵜⵓⴳⴷⵉ ⵏ ⵓⵅⵙⴰⵔ ⴰⴷ ⴰⵔⵎⵖ.",
        en="Fear of failing stops me from trying.",
    ),
    T(
        fr="Après un échec, je continue.",
        ar="بعد الفشل، أواصل.",
        tzm="ⴷⴼⴼⵉⵔ ⵏ ⵓⵅⵙⴰⵔ, ⴽⴽⵎⵍⵖ.",
        en="After a setback, I keep going.",
    ),
    T(
        fr="J'ai du mal à prévoir plus de quelques jours à l'avance.",
        ar="أجد صعوبة في التخطيط لأكثر من بضعة أيام.",
        tzm="ⵉⵛⵇⵇⴰ ⵉⵢⵉ ⴰⴷ ⵙⵓⵊⴷⵖ ⵓⴳⴳⴰⵔ ⵏ ⴽⵔⴰ ⵏ ⵡⵓⵙⵙⴰⵏ.",
        en="I find it hard to plan more than a few days ahead.",
    ),
    T(
        fr="J'aime vendre et m'occuper de clients.",
        ar="أحب البيع والتعامل مع الزبناء.",
        tzm="ⵔⵉⵖ ⴰⵙⵏⵣⵣⴰ ⴷ ⵜⵉⵎⵙⴰⵙⵉⵜ ⴷ ⵉⵎⵙⵖⴰⵏ.",
        en="I enjoy selling and dealing with customers.",
    ),
)

ENTREPRENEURSHIP = FormDefinition(
    form_id="masar_entrepreneurship",
    title=T(
        fr="Esprit d'entreprise",
        ar="روح المقاولة",
        tzm="ⵜⴰⵏⴼⵍⵉⵜ ⵏ ⵜⵎⵙⴽⴰⵔⵜ",
        en="Entrepreneurial aptitude",
    ),
    survey=[
        q(
            "note",
            "intro",
            T(
                fr="Dites si vous êtes d'accord avec chaque phrase.",
                ar="قل إن كنت موافقا على كل جملة.",
                tzm="ⵉⵏⵉ ⵎⴰ ⵜⵎⵙⴰⵙⴰⴷ ⴷ ⴽⵓ ⵜⴰⵡⵉⵏⵙⵉⵜ.",
                en="Say whether you agree with each sentence.",
            ),
        ),
        q(
            "select_one yes_no",
            "ran_business",
            T(
                fr="Avez-vous déjà eu votre propre activité ou commerce ?",
                ar="هل سبق أن كان لديك نشاط أو تجارة خاصة بك؟",
                tzm="ⵉⵙ ⵜⵍⵍⴰ ⵖⵓⵔⴽ ⴽⵔⴰ ⵏ ⵜⵎⵙⴽⴰⵔⵜ ⵏⵏⴽ?",
                en="Have you ever run your own business or trade?",
            ),
            required=True,
        ),
        begin(
            "statements",
            T(
                fr="Vous et les projets",
                ar="أنت والمشاريع",
                tzm="ⴽⵢⵢ ⴷ ⵉⵙⵏⴼⴰⵔⵏ",
                en="You and projects",
            ),
        ),
        *(
            q("select_one agreement", item, text, required=True)
            for item, text in zip(
                scoring.ENTREPRENEURIAL_ITEMS, ENTREPRENEURIAL_STATEMENTS, strict=True
            )
        ),
        end("statements"),
        q(
            "calculate",
            "ent_score",
            calculation=scoring.entrepreneurial_calculation(),
            fact="entrepreneurial_aptitude",
        ),
    ],
    choices=[*YES_NO, *AGREEMENT],
)


# 3. Wishes and aspirations -----------------------------------------------------------------

WISHES = FormDefinition(
    form_id="masar_wishes",
    title=T(
        fr="Souhaits et projets",
        ar="الرغبات والتطلعات",
        tzm="ⵜⵉⵔⴰⵜⵉⵏ ⴷ ⵉⵙⵏⴼⴰⵔⵏ",
        en="Wishes and aspirations",
    ),
    survey=[
        begin("training", T(fr="Formation", ar="التكوين", tzm="ⴰⵙⵎⵓⵜⵜⴳ", en="Training")),
        q(
            "select_multiple skills",
            "training_wish",
            T(
                fr="Quelles formations aimeriez-vous suivre ?",
                ar="ما هي التكوينات التي تود متابعتها؟",
                tzm="ⵎⴰⵜⵜⴰ ⵉⵙⵎⵓⵜⵜⴳⵏ ⴰⴷ ⵜⵔⵉⴷ ⴰⴷ ⵜⴹⴼⵕⴷ?",
                en="Which training would you like to follow?",
            ),
            required=True,
            fact="wish",
        ),
        q(
            "text",
            "training_wish_other",
            T(
                fr="Quelle autre formation ?",
                ar="ما هو التكوين الآخر؟",
                tzm="ⵎⴰⵜⵜⴰ ⴰⵙⵎⵓⵜⵜⴳ ⵢⴰⴹⵏ?",
                en="Which other training?",
            ),
            required=True,
            relevant="selected(${training_wish}, 'other')",
            fact="wish",
        ),
        end("training"),
        begin(
            "after_release",
            T(fr="Après la sortie", ar="بعد الإفراج", tzm="ⴷⴼⴼⵉⵔ ⵏ ⵓⴼⴼⵖ", en="After release"),
        ),
        q(
            "select_one isco",
            "wished_occupation",
            T(
                fr="Quel travail aimeriez-vous faire ?",
                ar="ما هو العمل الذي تود القيام به؟",
                tzm="ⵎⴰⵜⵜⴰ ⵜⴰⵡⵓⵔⵉ ⴰⴷ ⵜⵔⵉⴷ ⴰⴷ ⵜⵅⴷⵎⴷ?",
                en="What work would you like to do?",
            ),
            required=True,
            fact="occupation",
        ),
        q(
            "select_one yes_no_maybe",
            "own_business",
            T(
                fr="Voulez-vous créer votre propre activité ?",
                ar="هل تريد إنشاء نشاطك الخاص؟",
                tzm="ⵉⵙ ⵜⵔⵉⴷ ⴰⴷ ⵜⵙⵏⴼⵍⵓⵍⴷ ⵜⴰⵎⵙⴽⴰⵔⵜ ⵏⵏⴽ?",
                en="Do you want to start your own business?",
            ),
            required=True,
            fact="wish",
        ),
        q(
            "text",
            "business_idea",
            T(
                fr="Quelle est votre idée ?",
                ar="ما هي فكرتك؟",
                tzm="ⵎⴰⵜⵜⴰ ⵜⴰⵡⵏⴳⵉⵎⵜ ⵏⵏⴽ?",
                en="What is your idea?",
            ),
            relevant="${own_business} != 'no'",
            fact="wish",
        ),
        q(
            "select_multiple plans",
            "plans",
            T(
                fr="Qu'est-ce qui compte le plus pour vous à la sortie ?",
                ar="ما هو الأهم بالنسبة لك عند الخروج؟",
                tzm="ⵎⴰⵢⴷ ⵉⵜⵜⵓⵙⵙⵏ ⵙ ⵓⴳⴳⴰⵔ ⵖⵓⵔⴽ ⵎⵍ ⵜⴼⴼⵖⴷ?",
                en="What matters most to you on release?",
            ),
            hint=T(
                fr="Trois réponses au plus.",
                ar="ثلاثة أجوبة على الأكثر.",
                tzm="ⴽⵕⴰⴹⵜ ⵜⵔⴰⵔⵓⵜⵉⵏ ⵖⴰⵙ.",
                en="Three answers at most.",
            ),
            required=True,
            constraint="count-selected(.) <= 3",
            constraint_message=T(
                fr="Choisissez trois réponses au plus.",
                ar="اختر ثلاثة أجوبة على الأكثر.",
                tzm="ⴼⵔⵏ ⴽⵕⴰⴹⵜ ⵜⵔⴰⵔⵓⵜⵉⵏ ⵖⴰⵙ.",
                en="Choose three answers at most.",
            ),
            fact="wish",
        ),
        q(
            "text",
            "wish_free",
            T(
                fr="Autre chose que vous souhaitez pour votre avenir ? (facultatif)",
                ar="شيء آخر تتمناه لمستقبلك؟ (اختياري)",
                tzm="ⴽⵔⴰ ⵢⴰⴹⵏ ⵜⵔⵉⴷ ⵉ ⵜⵓⴷⵔⵜ ⵏⵏⴽ ⵜⵓⵏⵏⵉⴳⵜ? (ⵙ ⵜⵉⵔⵎⵜ)",
                en="Anything else you wish for your future? (optional)",
            ),
            fact="wish",
        ),
        end("after_release"),
    ],
    choices=[
        *SKILLS,
        *ISCO,
        *YES_NO_MAYBE,
        *choices(
            "plans",
            (
                "family",
                T(
                    fr="Retrouver ma famille",
                    ar="العودة إلى أسرتي",
                    tzm="ⴰⴷ ⴷⵓⵍⵖ ⵖⵔ ⵜⵡⴰⵛⵓⵍⵜ ⵉⵏⵓ",
                    en="Return to my family",
                ),
            ),
            (
                "job",
                T(fr="Trouver un travail", ar="إيجاد عمل", tzm="ⴰⴷ ⴰⴼⵖ ⵜⴰⵡⵓⵔⵉ", en="Find a job"),
            ),
            (
                "studies",
                T(
                    fr="Reprendre des études",
                    ar="متابعة الدراسة",
                    tzm="ⴰⴷ ⴽⴽⵎⵍⵖ ⴰⵙⵍⵎⴷ",
                    en="Go back to studying",
                ),
            ),
            (
                "business",
                T(
                    fr="Créer mon activité",
                    ar="إنشاء نشاطي الخاص",
                    tzm="ⴰⴷ ⵙⵏⴼⵍⵓⵍⵖ ⵜⴰⵎⵙⴽⴰⵔⵜ ⵉⵏⵓ",
                    en="Start my business",
                ),
            ),
            (
                "housing",
                T(
                    fr="Avoir un logement",
                    ar="الحصول على سكن",
                    tzm="ⴰⴷ ⵉⵍⵉ ⵖⵓⵔⵉ ⵓⵣⴷⵖ",
                    en="Have somewhere to live",
                ),
            ),
            (
                "health",
                T(
                    fr="Prendre soin de ma santé",
                    ar="الاعتناء بصحتي",
                    tzm="ⴰⴷ ⵃⴹⵓⵖ ⵜⴰⴷⵓⵙⵉ ⵉⵏⵓ",
                    en="Look after my health",
                ),
            ),
        ),
    ],
)


# 4–5. PHQ-9 and GAD-7: the standard items over the last two weeks, answers 0–3 ------------

FREQUENCY = choices(
    "frequency",
    ("0", T(fr="Jamais", ar="أبدا", tzm="ⵓⵍⴰ ⵢⴰⵜ ⵜⵉⴽⴽⵍⵜ", en="Not at all")),
    ("1", T(fr="Plusieurs jours", ar="عدة أيام", tzm="ⴽⵉⴳⴰⵏ ⵏ ⵡⵓⵙⵙⴰⵏ", en="Several days")),
    (
        "2",
        T(
            fr="Plus de la moitié du temps",
            ar="أكثر من نصف الأيام",
            tzm="ⵓⴳⴳⴰⵔ ⵏ ⵓⵣⴳⵏ ⵏ ⵡⵓⵙⵙⴰⵏ",
            en="More than half the days",
        ),
    ),
    (
        "3",
        T(
            fr="Presque tous les jours",
            ar="تقريبا كل يوم",
            tzm="ⵇⵔⵉⴱ ⴽⵓ ⴰⵙⵙ",
            en="Nearly every day",
        ),
    ),
)
DIFFICULTY = choices(
    "difficulty",
    (
        "0",
        T(
            fr="Pas du tout difficile",
            ar="ليس صعبا على الإطلاق",
            tzm="ⵓⵔ ⵉⵛⵇⵇⵉ ⴽⵔⴰ",
            en="Not difficult at all",
        ),
    ),
    ("1", T(fr="Assez difficile", ar="صعب بعض الشيء", tzm="ⵉⵛⵇⵇⴰ ⵉⵎⵉⴽ", en="Somewhat difficult")),
    ("2", T(fr="Très difficile", ar="صعب جدا", tzm="ⵉⵛⵇⵇⴰ ⴱⵣⵣⴰⴼ", en="Very difficult")),
    (
        "3",
        T(fr="Extrêmement difficile", ar="صعب للغاية", tzm="ⵉⵛⵇⵇⴰ ⴰⴽⴽⵯ", en="Extremely difficult"),
    ),
)
TWO_WEEKS = T(
    fr="Au cours des 2 dernières semaines, à quelle fréquence avez-vous été gêné par les problèmes suivants ?",
    ar="خلال الأسبوعين الماضيين، كم مرة عانيت من المشاكل التالية؟",
    tzm="ⴳ ⵙⵉⵏ ⵉⵎⴰⵍⴰⵙⵏ ⵉⵣⵔⵉⵏ, ⵎⵏⵛⴽ ⵏ ⵜⵉⴽⴽⴰⵍ ⴰⴷ ⴽ ⵓⵛⴽⴰⵏⵜ ⵉⵎⵓⴽⵔⴰⵙⵏ ⴰⴷ?",
    en="Over the last 2 weeks, how often have you been bothered by the following problems?",
)
PHQ9_STATEMENTS = (
    T(
        fr="Peu d'intérêt ou de plaisir à faire les choses",
        ar="قلة الاهتمام أو المتعة في القيام بالأشياء",
        tzm="ⵓⵔ ⵜⵔⵉⴷ ⵓⵍⴰ ⵜⴼⵔⵃⴷ ⵙ ⵎⴰⵢⴷ ⵜⵙⴽⴰⵔⴷ",
        en="Little interest or pleasure in doing things",
    ),
    T(
        fr="Être triste, déprimé ou désespéré",
        ar="الشعور بالحزن أو الاكتئاب أو اليأس",
        tzm="ⵜⵃⵣⵏⴷ, ⵉⵏⵇⵇⴰ ⴽ ⵓⵍ ⵏⵖ ⵜⵇⵟⵟⵄⴷ ⴰⵙⵉⵎⵔ",
        en="Feeling down, depressed, or hopeless",
    ),
    T(
        fr="Difficultés à s'endormir ou à rester endormi, ou dormir trop",
        ar="صعوبة في النوم أو الاستمرار فيه، أو النوم أكثر من اللازم",
        tzm="ⵉⵛⵇⵇⴰ ⴽ ⵉⴹⵙ ⵏⵖ ⵜⴳⴳⴰⵏⴷ ⴱⵣⵣⴰⴼ",
        en="Trouble falling or staying asleep, or sleeping too much",
    ),
    T(
        fr="Se sentir fatigué ou manquer d'énergie",
        ar="الشعور بالتعب أو قلة الطاقة",
        tzm="ⵜⵄⵢⵢⴰⴷ ⵏⵖ ⵓⵔ ⵖⵓⵔⴽ ⵜⴰⵣⵎⵔⵜ",
        en="Feeling tired or having little energy",
    ),
    T(
        fr="Peu d'appétit ou manger trop",
        ar="ضعف الشهية أو الإفراط في الأكل",
        tzm="ⵓⵔ ⵜⵔⵉⴷ ⴰⴷ ⵜⵛⵛⴷ ⵏⵖ ⵜⵛⵜⵜⴰ ⴱⵣⵣⴰⴼ",
        en="Poor appetite or overeating",
    ),
    T(
        fr="Mauvaise opinion de vous-même, ou sentiment d'être nul ou d'avoir déçu votre famille ou vous-même",
        ar="الشعور بالسوء تجاه نفسك، أو أنك فاشل أو خذلت نفسك أو أسرتك",
        tzm="ⵜⵥⵕⵉⴷ ⵉⵅⴼ ⵏⵏⴽ ⵉⵅⵙⵔ, ⵏⵖ ⵜⵙⵅⵙⵔⴷ ⵜⴰⵡⴰⵛⵓⵍⵜ ⵏⵏⴽ ⵏⵖ ⵉⵅⴼ ⵏⵏⴽ",
        en="Feeling bad about yourself, or that you are a failure or have let yourself or your family down",
    ),
    T(
        fr="Difficultés à se concentrer, par exemple pour lire ou regarder la télévision",
        ar="صعوبة في التركيز، مثل قراءة الجريدة أو مشاهدة التلفاز",
        tzm="ⵉⵛⵇⵇⴰ ⴽ ⴰⴷ ⵜⵙⵙⵓⴷⵙⴷ ⴰⵅⴰⵎ, ⵎⴰⵙⵍ ⴰⴷ ⵜⵖⵔⴷ ⵏⵖ ⴰⴷ ⵜⵥⵕⴷ ⵜⵉⵍⵉⴼⵉⵣⵢⵓⵏ",
        en="Trouble concentrating on things, such as reading or watching television",
    ),
    T(
        fr="Bouger ou parler si lentement que les autres l'ont remarqué, ou au contraire être si agité que vous bougiez beaucoup plus que d'habitude",
        ar="التحرك أو الكلام ببطء شديد لاحظه الآخرون، أو العكس: التململ أو الاضطراب والحركة أكثر من المعتاد",
        tzm="ⵜⵜⵎⵓⵙⵙⵓⴷ ⵏⵖ ⵜⵙⴰⵡⴰⵍⴷ ⵙ ⵍⵄⵎⵍ ⴰⵔ ⵜ ⵥⵕⵉⵏ ⵢⴰⴹⵏ, ⵏⵖ ⴰⵎⵎ ⴰⴷ ⵓⵔ ⵜⵣⵎⵔⴷ ⴰⴷ ⵜⵇⵇⵉⵎⴷ",
        en="Moving or speaking so slowly that other people could have noticed, or the opposite, being so fidgety or restless that you have been moving around a lot more than usual",
    ),
    T(
        fr="Penser qu'il vaudrait mieux mourir ou envisager de vous faire du mal d'une manière ou d'une autre",
        ar="أفكار بأنه من الأفضل لو كنت ميتا أو بإيذاء نفسك بطريقة ما",
        tzm="ⵜⵅⵎⵎⵎⴷ ⵉⵙ ⵢⵓⴼ ⴰⴷ ⵜⵎⵎⵜⴷ, ⵏⵖ ⴰⴷ ⵜⵙⵙⵓⵔⵎⵉⴷ ⵉⵅⴼ ⵏⵏⴽ",
        en="Thoughts that you would be better off dead, or of hurting yourself in some way",
    ),
)
GAD7_STATEMENTS = (
    T(
        fr="Se sentir nerveux, anxieux ou tendu",
        ar="الشعور بالعصبية أو القلق أو التوتر",
        tzm="ⵜⵇⵇⵍⵇⴷ ⵏⵖ ⵜⵓⴹⵏⴷ ⴰⵅⴰⵎ",
        en="Feeling nervous, anxious, or on edge",
    ),
    T(
        fr="Ne pas arriver à arrêter de s'inquiéter ou à contrôler ses inquiétudes",
        ar="عدم القدرة على التوقف عن القلق أو التحكم فيه",
        tzm="ⵓⵔ ⵜⵣⵎⵔⴷ ⴰⴷ ⵜⵃⴱⵙⴷ ⴰⵇⵍⵇ ⵏⵖ ⴰⴷ ⵜ ⵜⵏⴹⵎⴷ",
        en="Not being able to stop or control worrying",
    ),
    T(
        fr="S'inquiéter trop de différentes choses",
        ar="القلق الزائد بشأن أمور مختلفة",
        tzm="ⵜⵇⵇⵍⵇⴷ ⴱⵣⵣⴰⴼ ⴼ ⵎⴰⵏⴰⴳⵉ ⵜⵖⴰⵡⵙⵉⵡⵉⵏ",
        en="Worrying too much about different things",
    ),
    T(
        fr="Avoir du mal à se détendre",
        ar="صعوبة في الاسترخاء",
        tzm="ⵉⵛⵇⵇⴰ ⴽ ⴰⴷ ⵜⵙⵓⵏⴼⴷ",
        en="Trouble relaxing",
    ),
    T(
        fr="Être si agité qu'il est difficile de tenir en place",
        ar="التململ الشديد لدرجة صعوبة البقاء جالسا",
        tzm="ⵜⵜⵎⵓⵙⵙⵓⴷ ⴱⵣⵣⴰⴼ ⴰⵔ ⴰⴽ ⵉⵛⵇⵇⴰ ⴰⴷ ⵜⵇⵇⵉⵎⴷ",
        en="Being so restless that it is hard to sit still",
    ),
    T(
        fr="Devenir facilement contrarié ou irritable",
        ar="سرعة الانزعاج أو الغضب",
        tzm="ⵜⵜⵔⵓⵖⵓⴷ ⵙ ⵜⵉⵙⵖⴰⵍ",
        en="Becoming easily annoyed or irritable",
    ),
    T(
        fr="Avoir peur que quelque chose de terrible arrive",
        ar="الخوف من أن شيئا فظيعا قد يحدث",
        tzm="ⵜⴳⴳⵯⴷⴷ ⴰⴷ ⵉⴹⵕⵓ ⴽⵔⴰ ⵏ ⵓⵎⵓⴽⵔⴰⵙ ⴰⵎⵇⵔⴰⵏ",
        en="Feeling afraid as if something awful might happen",
    ),
)
NOT_DIAGNOSIS = T(
    fr="Ce questionnaire n'est pas un diagnostic. Vos réponses sont lues par l'équipe de santé.",
    ar="هذا الاستبيان ليس تشخيصا. يطلع على أجوبتك الفريق الصحي فقط.",
    tzm="ⴰⵙⵇⵙⵉ ⴰⴷ ⵓⵔ ⵉⴳⵉ ⴰⵙⵙⵉⵡⴹ. ⵜⵉⵔⴰⵔⵉⵏ ⵏⵏⴽ ⵖⵔⴰⵏⵜ ⵜⵏⵜ ⵖⴰⵙ ⵜⵔⴰⴱⴱⵓⵜ ⵏ ⵜⴷⵓⵙⵉ.",
    en="This questionnaire is not a diagnosis. Only the health team reads your answers.",
)


def screening(
    form_id: str, items: Sequence[str], statements: Sequence[T], bands: Sequence[tuple[int, str]]
) -> list[dict[str, str]]:
    """A 0–3 screening instrument: intro, items, total and band calculations."""
    return [
        q("note", "intro", NOT_DIAGNOSIS),
        begin("items", TWO_WEEKS),
        *(
            q("select_one frequency", item, text, required=True)
            for item, text in zip(items, statements, strict=True)
        ),
        end("items"),
        q("calculate", f"{form_id}_total", calculation=scoring.sum_calculation(items)),
        q(
            "calculate",
            f"{form_id}_band",
            calculation=scoring.band_calculation(f"{form_id}_total", bands),
        ),
    ]


PHQ9 = FormDefinition(
    form_id="phq9",
    title=T(
        fr="Questionnaire sur la santé du patient (PHQ-9)",
        ar="استبيان صحة المريض (PHQ-9)",
        tzm="ⴰⵙⵇⵙⵉ ⵏ ⵜⴷⵓⵙⵉ (PHQ-9)",
        en="Patient Health Questionnaire (PHQ-9)",
    ),
    survey=[
        *screening("phq9", scoring.PHQ9_ITEMS, PHQ9_STATEMENTS, scoring.PHQ9_BANDS),
        q(
            "calculate",
            "phq9_urgent",
            calculation=scoring.phq9_urgent_calculation("phq9_total"),
        ),
        q(
            "select_one difficulty",
            "phq9_difficulty",
            T(
                fr="Si vous avez coché au moins un problème, à quel point ces problèmes ont-ils rendu votre travail, vos tâches à la maison ou vos relations avec les autres difficiles ?",
                ar="إذا أشرت إلى أي مشكلة، إلى أي درجة جعلت هذه المشاكل عملك أو الاعتناء بأمورك أو علاقاتك مع الآخرين صعبة؟",
                tzm="ⵎⴰ ⵜⴼⵔⵏⴷ ⴽⵔⴰ ⵏ ⵓⵎⵓⴽⵔⴰⵙ, ⵎⵏⵛⴽ ⴰⴷ ⵙⵙⵛⵇⴰⵏ ⵉⵎⵓⴽⵔⴰⵙⵏ ⴰⴷ ⵜⴰⵡⵓⵔⵉ ⵏⵏⴽ ⵏⵖ ⵜⵉⵎⵙⴰⵙⵉⵜ ⵏⵏⴽ ⴷ ⵢⴰⴹⵏ?",
                en="If you checked off any problems, how difficult have these problems made it for you to do your work, take care of things at home, or get along with other people?",
            ),
            relevant="${phq9_total} > 0",
        ),
    ],
    choices=[*FREQUENCY, *DIFFICULTY],
    notes=(PFIZER_NOTE, REVIEW_NOTE),
)

GAD7 = FormDefinition(
    form_id="gad7",
    title=T(
        fr="Anxiété généralisée (GAD-7)",
        ar="اضطراب القلق العام (GAD-7)",
        tzm="ⴰⵇⵍⵇ ⴰⵎⴰⵜⴰⵢ (GAD-7)",
        en="Generalized Anxiety Disorder (GAD-7)",
    ),
    survey=screening("gad7", scoring.GAD7_ITEMS, GAD7_STATEMENTS, scoring.GAD7_BANDS),
    choices=FREQUENCY,
    notes=(PFIZER_NOTE, REVIEW_NOTE),
)

FORMS = (INTAKE, ENTREPRENEURSHIP, WISHES, PHQ9, GAD7)


# Writing the .xlsx ---------------------------------------------------------------------------


def sheets(form: FormDefinition) -> dict[str, list[list[str]]]:
    """The form as rows of cells per sheet, header first: what the .xlsx holds."""
    settings = {
        "form_id": form.form_id,
        "version": VERSION,
        "form_title": form.title.fr,
        "default_language": LANGUAGES["fr"],
        **form.title.columns("masar::title"),
        "masar::note": " ".join(form.notes),
    }
    return {
        "survey": _table(SURVEY_COLUMNS, form.survey),
        "choices": _table(CHOICE_COLUMNS, form.choices),
        "settings": [list(settings), list(settings.values())],
    }


def _table(columns: Sequence[str], rows: Sequence[dict[str, str]]) -> list[list[str]]:
    unknown = {column for row in rows for column in row} - set(columns)
    if unknown:
        raise ValueError(f"columns {sorted(unknown)} are not written")
    used = [column for column in columns if any(column in row for row in rows)]
    return [used, *([row.get(column, "") for column in used] for row in rows)]


def workbook_bytes(tables: dict[str, list[list[str]]]) -> bytes:
    """An .xlsx holding these sheets; also used by the tests to build faulty forms."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for name, rows in tables.items():
        sheet = workbook.create_sheet(name)
        for row in rows:
            sheet.append([cell or None for cell in row])
    workbook.properties.created = workbook.properties.modified = _FIXED_TIME
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def read_sheets(path: Path) -> dict[str, list[list[str]]]:
    """The cells of an .xlsx per sheet, as `sheets` gives them."""
    workbook = load_workbook(path, read_only=True)
    try:
        return {
            sheet.title: [[cell or "" for cell in row] for row in sheet.iter_rows(values_only=True)]
            for sheet in workbook.worksheets
        }
    finally:
        workbook.close()


def main(directory: Path = FORMS_DIR) -> None:
    """Write each form whose cells changed (zip timestamps would make every build a diff)."""
    directory.mkdir(parents=True, exist_ok=True)
    for form in FORMS:
        path = directory / f"{form.form_id}.xlsx"
        tables = sheets(form)
        if not path.exists() or read_sheets(path) != tables:
            path.write_bytes(workbook_bytes(tables))
            print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
