"""Synthetic data for the demo and the benchmarks: establishments with wings and kiosks,
detainees named in Arabic and Latin script, profiles, training programmes, enrolments,
movements and intake questionnaire responses. Never real people: names are drawn at random
from common Moroccan given and family names, and every id is new.

Why it looks the way it does: search must meet spelling variants (Mohammed, Mohamed,
Muhammad for one محمد), the file and the ranking need profiles, and the benchmarks need a
hub of realistic size. So that 100,000 people take a minute or two, not an hour, rows go in
with bulk INSERTs a few thousand at a time (one transaction per chunk), and the audit log
gets one ``seed.run`` entry with the counts instead of one per record. Kiosk events
(questionnaire responses, movements, a handful of screenings) go through the real ingest
path, ``hub.ingest.apply_batch``, exactly as a kiosk's would. Seeding again adds more
people: prison numbers and kiosk seqs continue where they stopped.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from time import perf_counter
from typing import Any

from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session, sessionmaker

from hub import assignments, movements, roster, training
from hub.audit import Trail
from hub.db import session_factory
from hub.detainees import new_detainee_id
from hub.ingest import Incoming, apply_batch
from hub.models import (
    Attendance,
    Base,
    Detainee,
    DeviceStream,
    Enrolment,
    ProfileFact,
    QuestionnaireAssignment,
    QuestionnaireVersion,
    ScheduledMovement,
    SearchWord,
    SyncDocument,
)
from hub.questionnaires import FORMS_DIR, shipped_forms
from hub.questionnaires.library import import_form, publish
from hub.search import search_rows
from protocol import encode, topics, uuid7
from protocol.events import (
    EventBase,
    MovementVerified,
    MovementVerifiedEvent,
    QuestionnaireResponse,
    QuestionnaireResponseEvent,
)
from protocol.ids import utc_now

ACTOR = "system:seed"
CHUNK = 5000  # detainees per INSERT batch and per transaction
EVENT_BATCH = 500  # kiosk events per apply_batch (an ingest worker commits 100 by default)
MAX_SERIAL = 999_999  # prison numbers are YYYY/NNNNNN
FORMS = ("masar_intake", "masar_wishes", "masar_entrepreneurship", "phq9")

# Establishments and how many of the people each holds (relative).
SITES: dict[str, int] = {
    "casablanca-1": 30,
    "rabat-1": 18,
    "fes-2": 15,
    "marrakech-1": 15,
    "tanger-2": 12,
    "oujda-1": 10,
}
MEN_WINGS = ("a", "b", "c", "d", "e")
WOMEN_WING = "f"  # each establishment's women's wing
WINGS = (*MEN_WINGS, WOMEN_WING)

# (Latin, Arabic) pairs. Several Latin spellings of one Arabic name are listed on purpose:
# intake clerks write them all, and search must find each from the others.
# fmt: off
GIVEN_MEN: tuple[tuple[str, str], ...] = (
    ("Mohammed", "محمد"), ("Mohamed", "محمد"), ("Muhammad", "محمد"), ("Mohamad", "محمد"),
    ("Ahmed", "أحمد"), ("Ahmad", "أحمد"), ("Youssef", "يوسف"), ("Youcef", "يوسف"),
    ("Yousef", "يوسف"), ("Abdellah", "عبد الله"), ("Abdallah", "عبد الله"),
    ("Abdelkader", "عبد القادر"), ("Abderrahim", "عبد الرحيم"), ("Abdelaziz", "عبد العزيز"),
    ("Abdelilah", "عبد الإله"), ("Abdessamad", "عبد الصمد"), ("Abdelhak", "عبد الحق"),
    ("Said", "سعيد"), ("Saïd", "سعيد"), ("Rachid", "رشيد"), ("Rashid", "رشيد"),
    ("Hassan", "حسن"), ("Hassane", "حسن"), ("Hussein", "حسين"), ("Houssine", "حسين"),
    ("Omar", "عمر"), ("Karim", "كريم"), ("Mustapha", "مصطفى"), ("Mostafa", "مصطفى"),
    ("Khalid", "خالد"), ("Khaled", "خالد"), ("Hicham", "هشام"), ("Hisham", "هشام"),
    ("Driss", "إدريس"), ("Idriss", "إدريس"), ("Brahim", "إبراهيم"), ("Ibrahim", "إبراهيم"),
    ("Mehdi", "مهدي"), ("Ayoub", "أيوب"), ("Ilyas", "إلياس"), ("Ilias", "إلياس"),
    ("Anas", "أنس"), ("Hamza", "حمزة"), ("Zakaria", "زكرياء"), ("Zakariae", "زكرياء"),
    ("Soufiane", "سفيان"), ("Sofiane", "سفيان"), ("Othmane", "عثمان"), ("Otmane", "عثمان"),
    ("Reda", "رضا"), ("Redouane", "رضوان"), ("Nabil", "نبيل"), ("Jamal", "جمال"),
    ("Tarik", "طارق"), ("Tariq", "طارق"), ("Adil", "عادل"), ("Adel", "عادل"),
    ("Younes", "يونس"), ("Yassine", "ياسين"), ("Yacine", "ياسين"), ("Bilal", "بلال"),
    ("Badr", "بدر"), ("Amine", "أمين"), ("Lahcen", "لحسن"), ("Mbarek", "مبارك"),
    ("Aziz", "عزيز"), ("Noureddine", "نور الدين"), ("Nourdine", "نور الدين"), ("Jawad", "جواد"),
    ("Ismail", "إسماعيل"), ("Smail", "إسماعيل"), ("Idir", "إيدير"), ("Yuba", "يوبا"),
    ("Aksel", "أكسل"), ("Moha", "موحى"),
)
GIVEN_WOMEN: tuple[tuple[str, str], ...] = (
    ("Fatima", "فاطمة"), ("Fatiha", "فتيحة"), ("Khadija", "خديجة"), ("Amina", "أمينة"),
    ("Naima", "نعيمة"), ("Zineb", "زينب"), ("Zaynab", "زينب"), ("Hafsa", "حفصة"),
    ("Salma", "سلمى"), ("Meryem", "مريم"), ("Maryam", "مريم"), ("Latifa", "لطيفة"),
    ("Samira", "سميرة"), ("Hanane", "حنان"), ("Nadia", "نادية"), ("Karima", "كريمة"),
    ("Siham", "سهام"), ("Loubna", "لبنى"), ("Ikram", "إكرام"), ("Touria", "ثريا"),
    ("Itto", "إيطو"), ("Tilelli", "تيليلي"),
)
SECOND_GIVEN: tuple[tuple[str, str], ...] = (
    ("Amine", "أمين"), ("Ali", "علي"), ("Yassine", "ياسين"), ("Reda", "رضا"), ("Karim", "كريم"),
    ("Anas", "أنس"), ("Said", "سعيد"),
)
FAMILY_NAMES: tuple[tuple[str, str], ...] = (
    ("El Alaoui", "العلوي"), ("Alaoui", "العلوي"), ("El Idrissi", "الإدريسي"),
    ("Idrissi", "الإدريسي"), ("Benali", "بنعلي"), ("Ben Ali", "بن علي"), ("Bennani", "بناني"),
    ("Benjelloun", "بنجلون"), ("Tazi", "التازي"), ("El Fassi", "الفاسي"), ("Berrada", "برادة"),
    ("Chraibi", "الشرايبي"), ("Cherkaoui", "الشرقاوي"), ("Charkaoui", "الشرقاوي"),
    ("El Amrani", "العمراني"), ("Amrani", "العمراني"), ("Lamrani", "العمراني"),
    ("Lahlou", "لحلو"), ("Sebti", "السبتي"), ("Kettani", "الكتاني"), ("El Ouazzani", "الوزاني"),
    ("Ouazzani", "الوزاني"), ("Bouzid", "بوزيد"), ("Boukhris", "بوخريص"),
    ("Ait Ahmed", "آيت أحمد"), ("Ait Ali", "آيت علي"), ("Ait Taleb", "آيت الطالب"),
    ("Ouchen", "أوشن"), ("Amzil", "أمزيل"), ("Oubella", "أوبلا"), ("El Mansouri", "المنصوري"),
    ("Mansouri", "المنصوري"), ("Ziani", "الزياني"), ("Hajji", "الحجي"), ("El Hajji", "الحجي"),
    ("Bakkali", "البقالي"), ("El Bakkali", "البقالي"), ("Filali", "الفيلالي"),
    ("El Filali", "الفيلالي"), ("Sqalli", "الصقلي"), ("Skalli", "الصقلي"),
    ("Naciri", "الناصري"), ("Nasiri", "الناصري"), ("Benmoussa", "بنموسى"),
    ("Benchekroun", "بنشقرون"), ("Daoudi", "الداودي"), ("Raji", "الراجي"),
    ("Karimi", "الكريمي"), ("Belkadi", "بلقاضي"), ("Belhaj", "بلحاج"), ("Saidi", "السعيدي"),
    ("Essaidi", "السعيدي"), ("El Khattabi", "الخطابي"), ("Hamdaoui", "الحمداوي"),
    ("Azzouzi", "العزوزي"), ("Zerouali", "الزروالي"), ("Bennis", "بنيس"), ("Guessous", "كسوس"),
    ("Touimi", "التويمي"), ("Jabri", "الجابري"), ("Slaoui", "السلاوي"), ("Rifi", "الريفي"),
    ("Soussi", "السوسي"), ("Doukkali", "الدكالي"), ("Chaoui", "الشاوي"), ("Tahiri", "الطاهري"),
    ("El Yacoubi", "اليعقوبي"), ("Yacoubi", "اليعقوبي"), ("Moussaoui", "الموساوي"),
    ("Benabdellah", "بنعبد الله"), ("Khalfi", "الخلفي"), ("Zaidi", "الزايدي"),
    ("Boutaleb", "بوطالب"), ("Haddad", "الحداد"), ("El Haddad", "الحداد"), ("Najjar", "النجار"),
    ("Fakir", "الفقير"), ("Mellouki", "الملوكي"), ("Rahmouni", "الرحموني"), ("Sabri", "صبري"),
)
# fmt: on
NATIONALITIES: dict[str, float] = {
    "MA": 95.5,
    "DZ": 1.0,
    "SN": 1.0,
    "ML": 0.5,
    "CI": 0.5,
    "FR": 0.4,
    "ES": 0.4,
    "NG": 0.4,
    "TN": 0.3,
}
# ISCED 2011 levels of attainment, and how likely a person can read and write at each.
EDUCATION: dict[str, tuple[float, float]] = {
    "0": (20, 0.3),
    "1": (30, 0.6),
    "2": (27, 0.95),
    "3": (13, 1.0),
    "4": (4, 1.0),
    "5": (3, 1.0),
    "6": (2.5, 1.0),
    "7": (0.4, 1.0),
    "8": (0.1, 1.0),
}
QUALIFICATIONS: dict[str, tuple[str, ...]] = {
    "2": ("Certificat d'études collégiales", "شهادة الدروس الإعدادية"),
    "3": ("Baccalauréat", "CAP soudure", "Certificat de qualification en cuisine"),
    "4": ("Diplôme de technicien en électricité", "Diplôme de qualification en mécanique"),
    "5": ("Diplôme de technicien spécialisé en gestion", "BTS électrotechnique"),
    "6": ("Licence en droit", "Licence en économie", "الإجازة في الأدب العربي"),
    "7": ("Master en finance",),
    "8": ("Doctorat en physique",),
}
# ISCO-08 unit groups of the jobs people held before, roughly as often as they come up.
OCCUPATIONS: dict[str, int] = {
    "9313": 14,  # building construction labourers
    "7112": 6,  # bricklayers
    "7131": 4,  # painters
    "8322": 6,  # car, taxi and van drivers
    "8332": 3,  # heavy truck drivers
    "5223": 5,  # shop sales assistants
    "5211": 6,  # stall and market salespersons
    "5212": 4,  # street food salespersons
    "9211": 7,  # crop farm labourers
    "6111": 3,  # field crop and vegetable growers
    "6121": 2,  # livestock producers
    "7212": 2,  # welders
    "7231": 4,  # motor vehicle mechanics
    "7411": 3,  # building electricians
    "7126": 2,  # plumbers
    "7115": 3,  # carpenters
    "5120": 3,  # cooks
    "5131": 3,  # waiters
    "5141": 2,  # hairdressers
    "7533": 1,  # sewing
    "9112": 3,  # cleaners
    "9621": 3,  # messengers and porters
    "9333": 3,  # freight handlers
    "5414": 2,  # security guards
    "7512": 2,  # bakers
    "6222": 2,  # fishery workers
    "9510": 3,  # street service workers
    "4110": 1,  # general office clerks
    "7318": 1,  # handicraft workers in textile and leather
}
# The intake form's skills list, and which job makes which skill likely.
SKILLS = (
    "building",
    "electricity",
    "plumbing",
    "carpentry",
    "welding",
    "mechanics",
    "cooking",
    "farming",
    "sewing",
    "hairdressing",
    "computing",
    "driving",
    "trade",
    "handicraft",
)
SKILL_OF_JOB = {
    "9313": "building",
    "7112": "building",
    "7131": "building",
    "8322": "driving",
    "8332": "driving",
    "5223": "trade",
    "5211": "trade",
    "5212": "cooking",
    "9211": "farming",
    "6111": "farming",
    "6121": "farming",
    "7212": "welding",
    "7231": "mechanics",
    "7411": "electricity",
    "7126": "plumbing",
    "7115": "carpentry",
    "5120": "cooking",
    "5141": "hairdressing",
    "7533": "sewing",
    "7512": "cooking",
    "7318": "handicraft",
    "4110": "computing",
}
PLANS = ("family", "job", "studies", "business", "housing", "health")
PLACES: dict[str, str] = {
    "workshop": "atelier de formation",
    "school": "cours",
    "clinic": "consultation médicale",
    "court": "audience au tribunal",
    "visiting-room": "parloir",
    "sports-ground": "sport",
    "library": "bibliothèque",
}


@dataclass(frozen=True)
class Course:
    """A programme the seeded establishments may offer."""

    slug: str
    fr: str
    ar: str
    provider: str
    isco_codes: tuple[str, ...]
    skills: tuple[str, ...]
    min_isced: int | None
    literacy: bool
    weeks: int
    capacity: int


# fmt: off
CFP, AMAL, TADAMOUN, TIFAWIN = (
    "Centre de formation professionnelle", "Association Amal Atelier", "Association Tadamoun",
    "Coopérative Tifawin",
)
COURSES: tuple[Course, ...] = (
    # slug, French and Arabic titles, provider, ISCO-08 codes, skills,
    # minimum ISCED level, literacy needed, weeks, places
    Course("soudure", "Soudure à l'arc", "اللحام بالقوس الكهربائي", CFP,
           ("7212",), ("welding",), 1, False, 16, 15),
    Course("electricite", "Électricité du bâtiment", "كهرباء البناء", CFP,
           ("7411",), ("electricity",), 2, True, 24, 15),
    Course("plomberie", "Plomberie sanitaire", "الترصيص الصحي", CFP,
           ("7126",), ("plumbing",), None, False, 16, 12),
    Course("menuiserie", "Menuiserie bois", "النجارة الخشبية", AMAL,
           ("7115", "7522"), ("carpentry",), None, False, 20, 12),
    Course("mecanique", "Mécanique automobile", "ميكانيك السيارات", CFP,
           ("7231",), ("mechanics",), 1, True, 24, 16),
    Course("cuisine", "Cuisine et restauration", "الطبخ والإطعام", TADAMOUN,
           ("5120",), ("cooking",), None, False, 12, 20),
    Course("boulangerie", "Boulangerie-pâtisserie", "المخبزة والحلويات", TADAMOUN,
           ("7512",), ("cooking",), None, False, 12, 15),
    Course("maraichage", "Maraîchage et irrigation", "زراعة الخضر والسقي", TIFAWIN,
           ("6111",), ("farming",), None, False, 16, 25),
    Course("couture", "Couture et broderie", "الخياطة والطرز", TIFAWIN,
           ("7533",), ("sewing",), None, False, 16, 12),
    Course("coiffure", "Coiffure", "الحلاقة والتجميل", AMAL,
           ("5141",), ("hairdressing",), None, False, 12, 10),
    Course("informatique", "Bureautique et informatique", "المعلوميات المكتبية", CFP,
           ("4132", "3512"), ("computing",), 2, True, 10, 18),
    Course("zellige", "Zellige et artisanat", "الزليج والصناعة التقليدية", TIFAWIN,
           ("7122", "7314"), ("handicraft",), None, False, 20, 12),
    Course("maconnerie", "Maçonnerie", "البناء", CFP,
           ("7112",), ("building",), None, False, 16, 20),
    Course("entreprise", "Créer sa petite entreprise", "إنشاء مقاولة صغيرة", TADAMOUN,
           ("1420",), ("trade",), 2, True, 8, 20),
)
LITERACY_COURSE = Course("alphabetisation", "Alphabétisation", "محو الأمية", TADAMOUN,
                         (), (), None, False, 24, 30)
# fmt: on
COURSES_PER_SITE = 3  # and the literacy class everywhere
NOT_ELIGIBLE = (
    "Cette formation demande un niveau d'études ou la lecture que vous n'avez pas encore."
)
FULL = "Plus de place dans cette session ; demandez la prochaine."


class SeedError(ValueError):
    """The seed cannot run as asked; the message says why."""


@dataclass(frozen=True)
class SeedReport:
    """What one run made, for the command's output and the ``seed.run`` audit entry."""

    detainees: int
    released: int
    profile_facts: int
    programmes: int
    enrolments: int
    attendance: int
    responses: int
    movements: int
    screenings: int
    kiosks: int
    first_prison_number: str | None
    last_prison_number: str | None
    seconds: float


@dataclass(frozen=True)
class Profile:
    """What a synthetic person would declare about themselves at a kiosk."""

    literate: bool
    education_level: str  # ISCED 2011 level
    occupations: tuple[str, ...]  # ISCO-08 unit groups of past jobs; empty: never worked
    skills: tuple[str, ...]  # codes of the intake form's skills list
    qualification: str | None
    wishes: tuple[str, ...]  # training wishes (skill codes) and plans; empty: no wishes form
    wished_occupation: str | None
    aptitude: int | None  # entrepreneurial aptitude 10-50; None: not taken


@dataclass(frozen=True)
class _Person:
    id: str
    site: str
    wing: str  # where they are or were held (a released person's row has no wing)
    in_custody: bool
    admitted: date
    language: str
    profile: Profile
    profiled: bool  # profile facts written in bulk


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def _weighted(rng: random.Random, table: dict[str, Any]) -> str:
    weights = [w[0] if isinstance(w, tuple) else w for w in table.values()]
    return rng.choices(list(table), weights=weights)[0]


def draw_profile(rng: random.Random) -> Profile:
    """A plausible person: mostly little schooling, manual jobs, a few skills."""
    level = _weighted(rng, EDUCATION)
    literate = rng.random() < EDUCATION[level][1]
    jobs: list[str] = []
    if rng.random() < 0.8:
        jobs.append(_weighted(rng, OCCUPATIONS))
        if rng.random() < 0.35:
            jobs.append(_weighted(rng, OCCUPATIONS))
    skills = {SKILL_OF_JOB[j] for j in jobs if j in SKILL_OF_JOB}
    skills.update(rng.sample(SKILLS, rng.choice((0, 0, 1, 1, 2))))
    qualification = None
    if level in QUALIFICATIONS and rng.random() < 0.5:
        qualification = rng.choice(QUALIFICATIONS[level])
    wishes: tuple[str, ...] = ()
    wished = None
    if rng.random() < 0.5:
        wishes = (*rng.sample(SKILLS, rng.randint(1, 2)), *rng.sample(PLANS, rng.randint(1, 2)))
        wished = _weighted(rng, OCCUPATIONS)
    aptitude = None
    if rng.random() < 0.3:
        aptitude = sum(rng.randint(1, 5) for _ in range(10))
    return Profile(
        literate=literate,
        education_level=level,
        occupations=tuple(dict.fromkeys(jobs)),
        skills=tuple(sorted(skills)),
        qualification=qualification,
        wishes=wishes,
        wished_occupation=wished,
        aptitude=aptitude,
    )


def intake_answers(rng: random.Random, profile: Profile) -> dict[str, Any]:
    """Answers to the shipped intake form (masar_intake) that this person would give, as a
    kiosk sends them: select_multiple as one space-separated string, skipped questions left
    out."""
    answers: dict[str, Any] = {}
    if profile.literate:
        answers["literacy"] = "both" if rng.random() < 0.9 else "read"
        languages = ["ar"] + [x for x in ("fr", "tzm") if rng.random() < 0.3]
        answers["literacy_languages"] = " ".join(languages)
    else:
        answers["literacy"] = "none"
    answers["education_level"] = profile.education_level
    if profile.education_level != "0":
        answers["school_years"] = {"1": 6, "2": 9, "3": 12}.get(profile.education_level, 15)
    answers["has_qualification"] = "yes" if profile.qualification else "no"
    if profile.qualification:
        answers["qualification"] = profile.qualification
        answers["qualification_year"] = rng.randint(1995, 2024)
    answers["has_worked"] = "yes" if profile.occupations else "no"
    if profile.occupations:
        majors = list(dict.fromkeys(code[0] for code in profile.occupations))
        answers["last_occupation"] = majors[0]
        if len(majors) > 1:
            answers["past_occupations"] = " ".join(majors[1:])
        answers["years_worked"] = rng.randint(1, 25)
    answers["skills"] = " ".join(profile.skills) or "other"
    if not profile.skills:
        answers["other_skill"] = rng.choice(("peinture", "vente", "réparation de téléphones"))
    return answers


def response_message(
    *,
    site: str,
    device: str,
    seq: int,
    subject: str,
    at: datetime,
    form_id: str,
    form_version: str,
    answers: dict[str, Any],
    language: str = "ar",
) -> Incoming:
    """A ``questionnaire.response`` exactly as a kiosk publishes it (topic and bytes)."""
    event = QuestionnaireResponseEvent(
        id=uuid7(int(at.timestamp() * 1000)),
        site=site,
        device=device,
        seq=seq,
        at=at,
        subject=subject,
        body=QuestionnaireResponse(
            form_id=form_id,
            form_version=form_version,
            language=language,
            started_at=at - timedelta(minutes=6),
            completed_at=at,
            answers=answers,
        ),
    )
    return _wire(event)


def _wire(event: EventBase) -> Incoming:
    return Incoming(topics.event_topic(event.site, event.device, event.event_type), encode(event))


def next_seqs(session: Session) -> dict[tuple[str, str], int]:
    """The next ``seq`` of every kiosk that has sent events, so that new events follow on."""
    rows = session.execute(select(DeviceStream.site, DeviceStream.device, DeviceStream.max_seq))
    return {(site, device): int(max_seq) + 1 for site, device, max_seq in rows}


def seed(
    target: Engine | sessionmaker[Session],
    *,
    detainees: int,
    key: bytes,
    random_seed: int = 7,
    responses: int | None = None,
    today: date | None = None,
    progress: Callable[[str], None] | None = None,
) -> SeedReport:
    """Add ``detainees`` synthetic people and what goes with them; return the counts.

    ``responses`` intake questionnaires are sent through ingest (default: one person in
    ten). Establishments, kiosks, shipped forms and programmes are made on the first run and
    reused by later ones. Commits chunk by chunk, so that a running hub keeps working.
    """
    if detainees < 0:
        raise SeedError(f"{detainees} detainees is not possible; give 0 or more")
    started = perf_counter()
    sessions = target if isinstance(target, sessionmaker) else session_factory(target)
    rng = random.Random(random_seed)  # nosec B311  # synthetic demo and test people, not a secret
    today = today or date.today()
    now = utc_now() if today == date.today() else _at(today, 12)
    trail = Trail(key, ACTOR)
    say = progress or (lambda message: None)

    with sessions.begin() as session:
        versions = {form_id: _import(session, form_id).version for form_id in FORMS}
        kiosks = _register_kiosks(session)
        courses = _programmes(session, trail, today)
        serial = _last_serial(session) + 1
        taken = {pid: training.places_taken(session, pid) for pid in courses}
        seqs = next_seqs(session)
    if serial + detainees - 1 > MAX_SERIAL:
        raise SeedError(
            f"prison numbers would pass {MAX_SERIAL:06d}; seed at most {MAX_SERIAL - serial + 1} "
            "more people into this database, or start from an empty one"
        )

    people: list[_Person] = []
    numbers: list[str] = []
    facts = 0
    for start in range(0, detainees, CHUNK):
        count = min(CHUNK, detainees - start)
        rows, fact_rows, chunk_people = _draw_people(rng, serial + start, count, today, versions)
        with sessions.begin() as session:
            _insert(session, Detainee, rows)
            words = (
                search_rows(r["id"], r["prison_number"], r["name_latin"], r["name_arabic"])
                for r in rows
            )
            _insert(session, SearchWord, [w for found in words for w in found])
            _insert(session, ProfileFact, fact_rows)
            _note_changes(session, chunk_people)
        people += chunk_people
        numbers += [row["prison_number"] for row in rows]
        facts += len(fact_rows)
        say(f"{start + count} detainees")

    with sessions.begin() as session:
        enrolments, attendance = _enrol(session, rng, people, courses, taken, today, now)
    say(f"{enrolments} enrolments")

    in_custody = [p for p in people if p.in_custody]
    wanted = detainees // 10 if responses is None else responses
    messages = [
        _intake_message(rng, person, versions["masar_intake"], seqs, now)
        for person in _responders(rng, in_custody, wanted)
    ]
    _ingest(sessions, messages)
    say(f"{len(messages)} questionnaire responses")
    movements = _movement_messages(rng, in_custody, detainees // 20, seqs, now)
    _ingest(sessions, movements)
    screenings = _screening_messages(
        rng, in_custody, min(5, detainees // 40), versions["phq9"], seqs, now
    )
    _ingest(sessions, screenings)

    report = SeedReport(
        detainees=detainees,
        released=sum(1 for p in people if not p.in_custody),
        profile_facts=facts,
        programmes=len(courses),
        enrolments=enrolments,
        attendance=attendance,
        responses=len(messages),
        movements=len(movements),
        screenings=len(screenings),
        kiosks=kiosks,
        first_prison_number=min(numbers, key=_serial, default=None),
        last_prison_number=max(numbers, key=_serial, default=None),
        seconds=round(perf_counter() - started, 1),
    )
    with sessions.begin() as session:
        trail.record(session, "seed.run", None, {**asdict(report), "random_seed": random_seed})
    return report


def _insert(session: Session, model: type[Base], rows: list[dict[str, Any]]) -> None:
    """A Core executemany: one cached statement for many rows, no ORM work per row."""
    if rows:
        session.execute(insert(Base.metadata.tables[model.__tablename__]), rows)


# --- one wing for the kiosk demo -------------------------------------------------------------

KIOSK_WING_FORMS = (("masar_intake", 14), ("masar_wishes", 30))  # assigned, due in n days
KIOSK_WING_COURSES = ("soudure", "cuisine", "alphabetisation")


@dataclass(frozen=True)
class KioskWingReport:
    forms_published: list[str]
    assigned: list[str]
    programmes: list[str]
    scheduled_for: str | None


def seed_kiosk_wing(
    target: Engine | sessionmaker[Session],
    *,
    key: bytes,
    site: str,
    wing: str,
    today: date | None = None,
) -> KioskWingReport:
    """Give one wing's kiosks something for every screen (``masar demo``'s wing, once its
    people are admitted): every shipped questionnaire published to the establishment, the
    intake and wishes questionnaires assigned to the wing, training programmes to ask for,
    and a movement to the workshop planned tomorrow for the wing's first person. Running it
    again adds nothing."""
    sessions = target if isinstance(target, sessionmaker) else session_factory(target)
    trail = Trail(key, ACTOR)
    today = today or date.today()
    published, assigned = [], []
    with sessions.begin() as session:
        for form_id in sorted(shipped_forms()):
            version = _import(session, form_id).version
            document = session.get(SyncDocument, ("questionnaire", f"{form_id}@{site}"))
            if document is None or document.data.get("version") != version:
                publish(session, trail, form_id, version, site=site, wing=None)
            published.append(form_id)
        for form_id, days in KIOSK_WING_FORMS:
            given = session.scalar(
                select(QuestionnaireAssignment.id).where(
                    QuestionnaireAssignment.form_id == form_id,
                    QuestionnaireAssignment.site == site,
                    QuestionnaireAssignment.wing == wing,
                    QuestionnaireAssignment.active.is_(True),
                )
            )
            if given is None:
                assignments.assign(
                    session,
                    trail,
                    form_id=form_id,
                    due_on=today + timedelta(days=days),
                    site=site,
                    wing=wing,
                    today=today,
                )
            assigned.append(form_id)
        programmes = []
        chosen = [c for c in (*COURSES, LITERACY_COURSE) if c.slug in KIOSK_WING_COURSES]
        for course, start_in in zip(chosen, (7, 21, -14), strict=True):  # the last has begun
            starts_on = today + timedelta(days=start_in)
            programme = training.put_programme(
                session,
                trail,
                programme_id=f"{course.slug}-{site}",
                titles={"fr": course.fr, "ar": course.ar},
                provider=course.provider,
                site=site,
                capacity=course.capacity,
                starts_on=starts_on,
                ends_on=starts_on + timedelta(weeks=course.weeks),
                min_isced=course.min_isced,
                requires_literacy=course.literacy,
                isco_codes=course.isco_codes,
                skills=course.skills,
            )
            programmes.append(programme.id)
        first = session.scalar(
            select(Detainee.id)
            .where(Detainee.site == site, Detainee.wing == wing, Detainee.state == "in_custody")
            .order_by(Detainee.id)
            .limit(1)
        )
        if first is not None:
            planned = session.scalar(
                select(ScheduledMovement.id).where(
                    ScheduledMovement.detainee_id == first, ScheduledMovement.state == "pending"
                )
            )
            if planned is None:
                movements.schedule_movement(
                    session,
                    trail,
                    detainee_id=first,
                    to_location="workshop",
                    at=_at(today + timedelta(days=1), 9),
                    reason=PLACES["workshop"],
                )
    return KioskWingReport(published, assigned, programmes, first)


# --- reference records -------------------------------------------------------------------------


def _import(session: Session, form_id: str) -> QuestionnaireVersion:
    return import_form(session, (FORMS_DIR / f"{form_id}.xlsx").read_bytes(), actor=ACTOR)


def _register_kiosks(session: Session) -> int:
    """Per wing, a self-service kiosk (-1) and a movement-check one (-2)."""
    for site in SITES:
        for wing in WINGS:
            roster.register_device(session, site, f"wing-{wing}-1", wing, "self_service")
            roster.register_device(session, site, f"wing-{wing}-2", wing, "movement_check")
    return len(SITES) * len(WINGS) * 2


def _programmes(session: Session, trail: Trail, today: date) -> dict[str, tuple[Course, str]]:
    """A few programmes per establishment: one finished, one running, one to come, and a
    literacy class. Saving an unchanged programme again writes nothing."""
    made: dict[str, tuple[Course, str]] = {}
    for index, site in enumerate(SITES):
        picked = [COURSES[(index * COURSES_PER_SITE + k) % len(COURSES)] for k in range(3)]
        for when, course in enumerate([*picked, LITERACY_COURSE]):
            length = timedelta(weeks=course.weeks)
            starts_on = {
                0: today - length - timedelta(days=45),  # finished six weeks ago
                1: today - timedelta(days=30),  # running
                2: today + timedelta(days=40),  # to come
                3: today - timedelta(days=60),  # the literacy class, running
            }[when]
            programme_id = f"{course.slug}-{site}"
            training.put_programme(
                session,
                trail,
                programme_id=programme_id,
                titles={"fr": course.fr, "ar": course.ar},
                provider=course.provider,
                site=site,
                capacity=course.capacity,
                starts_on=starts_on,
                ends_on=starts_on + length,
                min_isced=course.min_isced,
                requires_literacy=course.literacy,
                min_days_before_release=None if when == 3 else course.weeks * 7,
                isco_codes=course.isco_codes,
                skills=course.skills,
            )
            made[programme_id] = (course, site)
    return made


def _serial(prison_number: str) -> int:
    tail = prison_number.rpartition("/")[2]
    return int(tail) if tail.isdigit() else 0


def _last_serial(session: Session) -> int:
    """The highest serial among prison numbers shaped like ours (YYYY/NNNNNN)."""
    numbers = session.scalars(
        select(Detainee.prison_number).where(Detainee.prison_number.like("____/______"))
    )
    return max((_serial(n) for n in numbers), default=0)


# --- people ------------------------------------------------------------------------------------


def _name(rng: random.Random, woman: bool) -> tuple[str, str]:
    latin, arabic = rng.choice(GIVEN_WOMEN if woman else GIVEN_MEN)
    if not woman and rng.random() < 0.15:
        second = rng.choice(SECOND_GIVEN)
        if second[0] != latin:
            latin, arabic = f"{latin} {second[0]}", f"{arabic} {second[1]}"
    family = rng.choice(FAMILY_NAMES)
    return f"{latin} {family[0]}", f"{arabic} {family[1]}"


def _languages(rng: random.Random, nationality: str) -> tuple[list[str], str]:
    """Languages spoken, and the one the kiosk should start in."""
    if nationality in {"SN", "ML", "CI", "FR"}:
        return (["fr", "ar"] if rng.random() < 0.3 else ["fr"]), "fr"
    if nationality in {"ES", "NG"}:
        return (["es", "fr"] if nationality == "ES" else ["en", "fr"]), "fr"
    spoken = ["ar"]
    amazigh = rng.random() < 0.3
    if amazigh:
        spoken.append("tzm")
    if rng.random() < 0.35:
        spoken.append("fr")
    if rng.random() < 0.04:
        spoken.append("es")
    preferred = "tzm" if amazigh and rng.random() < 0.4 else "ar"
    return spoken, preferred


def _dates(rng: random.Random, today: date) -> tuple[date, date, date | None, date | None]:
    """Birth, admission, expected release (None: awaiting trial) and release (None: held)."""
    age = rng.choices((20, 29, 39, 49, 60), weights=(25, 35, 22, 11, 7))[0] + rng.randint(-2, 4)
    birth = today - timedelta(days=age * 365 + rng.randint(0, 364))
    adult = birth + timedelta(days=18 * 365)
    if rng.random() < 0.12:  # awaiting trial
        admitted = max(adult, today - timedelta(days=rng.randint(1, 500)))
        return birth, admitted, None, None
    years = rng.choices(((0.25, 1), (1, 3), (3, 10), (10, 30)), weights=(30, 35, 28, 7))[0]
    sentence = timedelta(days=rng.randint(int(years[0] * 365), years[1] * 365))
    if rng.random() < 0.15:  # released since
        released = today - timedelta(days=rng.randint(1, 3 * 365))
        admitted = max(adult, released - sentence)
        return birth, admitted, max(admitted, released), max(admitted, released)
    served = timedelta(days=rng.randint(0, max(0, min(sentence.days - 1, (today - adult).days))))
    admitted = today - served
    return birth, admitted, admitted + sentence, None


def _draw_people(
    rng: random.Random,
    first_serial: int,
    count: int,
    today: date,
    versions: dict[str, str],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[_Person]]:
    rows: list[dict[str, Any]] = []
    fact_rows: list[dict[str, Any]] = []
    people: list[_Person] = []
    sites, weights = list(SITES), list(SITES.values())
    moment = datetime.now(UTC)
    for serial in range(first_serial, first_serial + count):
        site = rng.choices(sites, weights=weights)[0]
        woman = rng.random() < 0.04
        wing = WOMEN_WING if woman else rng.choice(MEN_WINGS)
        latin, arabic = _name(rng, woman)
        nationality = _weighted(rng, NATIONALITIES)
        spoken, preferred = _languages(rng, nationality)
        birth, admitted, expected, released = _dates(rng, today)
        profile = draw_profile(rng)
        detainee_id = new_detainee_id()
        rows.append(
            {
                "id": detainee_id,
                "prison_number": f"{admitted.year}/{serial:06d}",
                "name_latin": latin,
                "name_arabic": arabic,
                "preferred_language": preferred,
                "literate": profile.literate,
                "photo_thumbnail": None,
                "site": site,
                "wing": None if released else wing,
                "state": "released" if released else "in_custody",
                "updated_at": moment,
                "birth_date": birth,
                "nationality": nationality,
                "languages": spoken,
                "cell": None if released else f"{wing.upper()}-{rng.randint(1, 60):02d}",
                "admission_date": admitted,
                "expected_release_date": expected,
                "released_on": released,
                "location": None,
                "location_at": None,
            }
        )
        profiled = rng.random() < 0.7
        person = _Person(
            detainee_id, site, wing, released is None, admitted, preferred, profile, profiled
        )
        if profiled:
            fact_rows += _fact_rows(rng, person, today, versions)
        people.append(person)
    return rows, fact_rows, people


def _fact_rows(
    rng: random.Random, person: _Person, today: date, versions: dict[str, str]
) -> list[dict[str, Any]]:
    """Self-declared facts, as if answered at the wing's kiosk in the weeks after admission.
    Occupations are ISCO-08 unit groups, finer than the kiosk's major groups, so that the
    programme ranking has codes to match."""
    profile = person.profile
    days = (today - person.admitted).days
    at = _at(person.admitted, 10) + timedelta(
        days=rng.randint(0, max(0, min(days - 1, 60))), minutes=rng.randint(0, 480)
    )
    at = min(at, datetime.now(UTC))
    source = f"kiosk:{person.site}/wing-{person.wing}-1"
    found: list[tuple[str, Any, str, str]] = [
        ("education_level", profile.education_level, "masar_intake", "education_level")
    ]
    found += [
        ("occupation", code, "masar_intake", "last_occupation" if n == 0 else "past_occupations")
        for n, code in enumerate(profile.occupations)
    ]
    found += [("skill", skill, "masar_intake", "skills") for skill in profile.skills]
    if profile.qualification:
        found.append(("qualification", profile.qualification, "masar_intake", "qualification"))
    wish_question = {s: "training_wish" for s in SKILLS} | {p: "plans" for p in PLANS}
    found += [("wish", w, "masar_wishes", wish_question[w]) for w in profile.wishes]
    if profile.wished_occupation:
        found.append(("occupation", profile.wished_occupation, "masar_wishes", "wished_occupation"))
    if profile.aptitude is not None:
        found.append(
            ("entrepreneurial_aptitude", profile.aptitude, "masar_entrepreneurship", "ent_score")
        )
    return [
        {
            "detainee_id": person.id,
            "fact": fact,
            "value": value,
            "provenance": "self_declared",
            "source": source,
            "form_id": form_id,
            "form_version": versions[form_id],
            "question": question,
            "event_id": None,
            "recorded_at": at,
            "superseded_by": None,
        }
        for fact, value, form_id, question in found
    ]


def _note_changes(session: Session, people: Sequence[_Person]) -> None:
    """Tell the wings' kiosks about the people now in custody there."""
    roster.note_changes(
        session, ((p.site, p.wing, "detainee", p.id) for p in people if p.in_custody)
    )


# --- training ----------------------------------------------------------------------------------


def _eligible(person: _Person, course: Course) -> bool:
    if course.literacy and not person.profile.literate:
        return False
    return course.min_isced is None or int(person.profile.education_level) >= course.min_isced


def _enrol(
    session: Session,
    rng: random.Random,
    people: Sequence[_Person],
    courses: dict[str, tuple[Course, str]],
    taken: dict[str, int],
    today: date,
    now: datetime,
) -> tuple[int, int]:
    """About one person in twelve asked to join a programme of their establishment. Places
    go to eligible people first come, first served, up to capacity; the rest are waitlisted,
    declined, withdrawn or still waiting, as the programme's dates make likely."""
    by_site: dict[str, list[str]] = defaultdict(list)
    for programme_id, (_, site) in courses.items():
        by_site[site].append(programme_id)
    programmes = {p.id: p for p in training.programmes(session, include_inactive=True)}
    requests: dict[str, list[_Person]] = defaultdict(list)
    for person in people:
        choices = [p for p in by_site[person.site] if programmes[p].ends_on > person.admitted]
        if not person.in_custody or not choices or rng.random() >= 0.08:
            continue
        if not person.profile.literate and rng.random() < 0.6:
            choices = [p for p in choices if p.startswith(LITERACY_COURSE.slug)] or choices
        requests[rng.choice(choices)].append(person)
    rows: list[dict[str, Any]] = []
    for programme_id, asking in sorted(requests.items()):
        course, _ = courses[programme_id]
        programme = programmes[programme_id]
        ended, started = programme.ends_on < today, programme.starts_on <= today
        free = programme.capacity - taken[programme_id]
        for person in asking:
            asked = _at(programme.starts_on, 9) - timedelta(
                days=rng.randint(5, 40), hours=rng.randint(0, 8)
            )
            asked = max(asked, _at(person.admitted, 9) + timedelta(days=rng.randint(1, 20)))
            asked = min(asked, now - timedelta(hours=rng.randint(1, 72)))
            state, reason = "requested", None
            if not _eligible(person, course):
                state = "declined"
                reason = NOT_ELIGIBLE
            elif free > 0 and (started or rng.random() < 0.6):
                free -= 1
                state = ("completed" if rng.random() < 0.85 else "dropped") if ended else "approved"
            else:
                state = rng.choices(
                    ("waitlisted", "requested", "declined", "withdrawn"),
                    weights=(0, 0, 1, 1) if ended else (5, 3, 1, 1),
                )[0]
                if state == "declined":
                    reason = FULL
            decided = None if state == "requested" else min(now, asked + timedelta(days=3))
            rows.append(
                {
                    "programme_id": programme_id,
                    "detainee_id": person.id,
                    "state": state,
                    "reason": reason,
                    "requested_at": asked,
                    "requested_via": f"kiosk:{person.site}/wing-{person.wing}-1",
                    "event_id": None,
                    "decided_by": None if decided is None else ACTOR,
                    "decided_at": decided,
                    "completed_at": (
                        _at(programme.ends_on, 17) if state in ("completed", "dropped") else None
                    ),
                }
            )
    if not rows:
        return 0, 0
    ids = session.scalars(
        insert(Enrolment).returning(Enrolment.id, sort_by_parameter_order=True), rows
    ).all()
    marks: list[dict[str, Any]] = []
    for enrolment_id, row in zip(ids, rows, strict=True):
        if row["state"] not in ("approved", "completed", "dropped"):
            continue
        programme = programmes[row["programme_id"]]
        day, last = programme.starts_on, min(programme.ends_on, today - timedelta(days=1))
        days: list[date] = []
        while day <= last:
            if day.weekday() < 5:
                days.append(day)
            day += timedelta(days=1)
        for day in days[-10:]:
            marks.append(
                {
                    "enrolment_id": enrolment_id,
                    "day": day,
                    "present": rng.random() < 0.88,
                    "recorded_by": ACTOR,
                    "recorded_at": _at(day, 17),
                }
            )
    _insert(session, Attendance, marks)
    return len(rows), len(marks)


# --- kiosk events ------------------------------------------------------------------------------


def _responders(rng: random.Random, people: Sequence[_Person], wanted: int) -> list[_Person]:
    """People without a profile yet answer first; then others, whose answers add to it."""
    fresh = [p for p in people if not p.profiled]
    known = [p for p in people if p.profiled]
    rng.shuffle(fresh)
    rng.shuffle(known)
    return (fresh + known)[: max(0, wanted)]


def _take_seq(seqs: dict[tuple[str, str], int], site: str, device: str) -> int:
    seq = seqs.get((site, device), 1)
    seqs[(site, device)] = seq + 1
    return seq


def _recently(rng: random.Random, now: datetime, person: _Person, days: int) -> datetime:
    earliest = _at(person.admitted, 8)
    moment = now - timedelta(seconds=rng.randint(60, days * 86400))
    return max(moment, min(earliest, now - timedelta(minutes=1)))


def _intake_message(
    rng: random.Random,
    person: _Person,
    version: str,
    seqs: dict[tuple[str, str], int],
    now: datetime,
) -> Incoming:
    device = f"wing-{person.wing}-1"
    return response_message(
        site=person.site,
        device=device,
        seq=_take_seq(seqs, person.site, device),
        subject=person.id,
        at=_recently(rng, now, person, 90),
        form_id="masar_intake",
        form_version=version,
        answers=intake_answers(rng, person.profile),
        language=person.language,
    )


def _movement_messages(
    rng: random.Random,
    people: Sequence[_Person],
    count: int,
    seqs: dict[tuple[str, str], int],
    now: datetime,
) -> list[Incoming]:
    """Checked movements out of the wing, most followed by the way back."""
    messages: list[Incoming] = []
    if not people:
        return messages
    while len(messages) < count:
        person = rng.choice(people)
        place = rng.choice(list(PLACES))
        device = f"wing-{person.wing}-2"
        out_at = _recently(rng, now, person, 14)
        refused = rng.random() < 0.03
        legs = [(person.wing, place, out_at, "refused" if refused else "confirmed")]
        back_at = out_at + timedelta(minutes=rng.randint(30, 300))
        if not refused and rng.random() < 0.85 and back_at < now:
            legs.append((place, person.wing, back_at, "confirmed"))
        for origin, destination, at, outcome in legs:
            if len(messages) == count:
                break
            event = MovementVerifiedEvent(
                id=uuid7(int(at.timestamp() * 1000)),
                site=person.site,
                device=device,
                seq=_take_seq(seqs, person.site, device),
                at=at,
                subject=person.id,
                actor=f"officer-{rng.randint(1, 12)}",
                body=MovementVerified(
                    from_location=origin,
                    to_location=destination,
                    reason=PLACES[place],
                    modalities=["badge", rng.choice(("face", "fingerprint"))],
                    outcome=outcome,
                ),
            )
            messages.append(_wire(event))
    return messages


def _screening_messages(
    rng: random.Random,
    people: Sequence[_Person],
    count: int,
    version: str,
    seqs: dict[tuple[str, str], int],
    now: datetime,
) -> list[Incoming]:
    """A handful of PHQ-9 screenings with low scores and item 9 at 0: enough for the health
    pages to show something, never an urgent alert."""
    messages: list[Incoming] = []
    for person in rng.sample(list(people), min(count, len(people))):
        answers: dict[str, Any] = {
            f"phq9_{i}": str(rng.choice((0, 0, 1, 1, 2))) for i in range(1, 9)
        }
        answers["phq9_9"] = "0"
        answers["phq9_difficulty"] = "1"
        device = f"wing-{person.wing}-1"
        messages.append(
            response_message(
                site=person.site,
                device=device,
                seq=_take_seq(seqs, person.site, device),
                subject=person.id,
                at=_recently(rng, now, person, 30),
                form_id="phq9",
                form_version=version,
                answers=answers,
                language=person.language,
            )
        )
    return messages


def _batches(messages: Sequence[Incoming], size: int) -> Iterator[Sequence[Incoming]]:
    for start in range(0, len(messages), size):
        yield messages[start : start + size]


def _ingest(sessions: sessionmaker[Session], messages: Sequence[Incoming]) -> None:
    """Apply kiosk events as an ingest worker does; any refusal is a bug in the seed."""
    for batch in _batches(messages, EVENT_BATCH):
        with sessions.begin() as session:
            result = apply_batch(session, batch, worker="seed")
            if result.dead_lettered:
                reasons = "; ".join(r.reason for r in result.rejected) or "see dead_letters"
                raise RuntimeError(f"the hub refused seeded events: {reasons}")
