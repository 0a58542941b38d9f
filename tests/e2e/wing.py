"""A real wing for the browser tests: a hub database with people, forms, training and staff,
copied into a kiosk's store by the real sync code, with face templates and a calibration
measured on real faces (../shared/data/faces-dev).

The hub side runs in-process on SQLite; the kiosk's copy is made by ``hub.syncer.answer``
and ``kiosk.sync.apply_page`` — the two ends of the sync exchange, without the broker in
between (the broker path has its own integration tests).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from hub import roster, training
from hub.assignments import assign
from hub.audit import Trail
from hub.db import open_engine, upgrade
from hub.questionnaires import FORMS_DIR
from hub.questionnaires.library import import_form, publish
from hub.syncer import answer
from kiosk import store
from kiosk.policy import policy_key
from kiosk.recognition.face import FacePipeline, engine_id
from kiosk.sync import apply_page
from kiosk.vault import TemplateVault
from masar.demo_faces import enrol_faces
from protocol.messages import SyncRequest
from protocol.pins import hash_pin
from tests.shared_data import FACES, MODELS

SITE, DEVICE, WING = "e2e", "wing-a-1", "a"
STAFF_BADGE, STAFF_PIN = "5EAF0001", "2468"
FORMS = ("masar_intake", "masar_wishes", "phq9")


@dataclass(frozen=True)
class Person:
    detainee_id: str
    prison_number: str
    name_latin: str
    name_arabic: str
    badge: str
    probes: Path  # a folder of this person's pictures the kiosk has never seen (replay camera)


PEOPLE = (
    ("d-amelie", "2026/000101", "Amina El Idrissi", "أمينة الإدريسي", "Amelie_Mauresmo"),
    ("d-arnold", "2026/000102", "Youssef Benali", "يوسف بنعلي", "Arnold_Schwarzenegger"),
    ("d-atal", "2026/000103", "Omar Tazi", "عمر التازي", "Atal_Bihari_Vajpayee"),
)


def calibrate(config_file: Path) -> None:
    """The kiosk's face calibration, measured by the real command on faces-dev."""
    subprocess.run(
        [
            *(str(Path(sys.executable).parent / "masar"), "kiosk", "calibrate"),
            *("--data", str(FACES), "--models", str(MODELS), "--config", str(config_file)),
        ],
        check=True,
        capture_output=True,
    )


def build_hub(database: Path, pipeline: FacePipeline, probes_root: Path) -> list[Person]:
    """The hub's records for wing a: three people, forms assigned, two programmes, staff."""
    engine = open_engine(f"sqlite:///{database}")
    upgrade(engine)
    trail = Trail(key=b"e2e-audit-key-0123456789abcdef", actor="system:e2e")
    people = []
    today = date.today()
    faces = enrol_faces(pipeline, FACES, [row[4] for row in PEOPLE], probes_root)
    with Session(engine) as session, session.begin():
        roster.register_device(session, SITE, DEVICE, WING, "self_service")
        for number, (row, face) in enumerate(zip(PEOPLE, faces, strict=True)):
            detainee_id, prison_number, latin, arabic, _folder = row
            badge = f"B00000{number + 1:02X}"
            roster.admit(
                session,
                detainee_id=detainee_id,
                prison_number=prison_number,
                name_latin=latin,
                name_arabic=arabic,
                site=SITE,
                wing=WING,
                preferred_language="ar",
                photo_thumbnail=face.photo,
                badges=[badge],
                templates=[
                    roster.TemplateRecord(f"t-{detainee_id}", "face", engine_id(), face.template)
                ],
            )
            people.append(Person(detainee_id, prison_number, latin, arabic, badge, face.probes))
        roster.put_staff(
            session,
            staff_id="s-karima",
            name="Karima Alaoui",
            role="wing_officer",
            site=SITE,
            pin_hash=hash_pin(STAFF_PIN),
            badges=[STAFF_BADGE],
        )
        # Faces on replay are still photos: no head-turn here (tests/unit/test_identify.py
        # covers the challenge on a recorded head turn).
        roster.put_document(session, "policy", policy_key(SITE), {"head_turn_modes": []}, site=SITE)
        for form_id in FORMS:
            version = import_form(
                session, (FORMS_DIR / f"{form_id}.xlsx").read_bytes(), actor=trail.actor
            )
            publish(session, trail, form_id, version.version, site=SITE, wing=None)
        for form_id in ("masar_intake", "masar_wishes"):
            assign(
                session,
                trail,
                form_id=form_id,
                due_on=today + timedelta(days=14),
                site=SITE,
                wing=WING,
            )
        for programme_id, title in (("p-bakery", "Boulangerie"), ("p-welding", "Soudure")):
            training.put_programme(
                session,
                trail,
                programme_id=programme_id,
                titles={"fr": title, "ar": title, "tzm": title},
                provider="OFPPT",
                site=SITE,
                capacity=12,
                starts_on=today + timedelta(days=30),
                ends_on=today + timedelta(days=90),
            )
    engine.dispose()
    return people


def sync_kiosk(database: Path, kiosk_store: Path, vault: TemplateVault) -> None:
    """Copy the wing into the kiosk's store, page by page, as the kiosk's sync does."""
    engine = open_engine(f"sqlite:///{database}", writer=False)
    db = store.open_store(kiosk_store)
    cursor = None
    try:
        while True:
            with Session(engine) as session:
                response = answer(session, SyncRequest(site=SITE, device=DEVICE, cursor=cursor))
            assert response.error is None, response.error
            apply_page(db, vault, response)
            cursor = response.next_cursor
            if not response.more:
                break
    finally:
        db.close()
        engine.dispose()
