"""A kiosk's questionnaire response, through the broker, becomes self-declared profile facts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from hub import profiles
from hub.db import upgrade
from hub.models import DeadLetter
from hub.questionnaires import FORMS_DIR
from hub.questionnaires.library import import_form
from kiosk import outbox, store
from kiosk.agent import Agent
from protocol import utc_now
from protocol.events import QuestionnaireResponse, QuestionnaireResponseEvent
from provisioning.broker import LocalBroker
from tests.integration.test_delivery import DEVICE, SITE, kiosk_config, running, wait_until

pytestmark = pytest.mark.integration


def respond(config_path: Path, config_db: Path, form_version: str, subject: str) -> None:
    db = store.open_store(config_db)
    body = QuestionnaireResponse(
        form_id="masar_intake",
        form_version=form_version,
        language="ar",
        started_at=utc_now(),
        completed_at=utc_now(),
        answers={
            "education_level": "3",
            "qualification": "CAP soudure",
            "last_occupation": "7",
            "skills": "welding carpentry",
            "other_skill": "",
        },
    )
    with store.write(db):
        outbox.record(
            db, QuestionnaireResponseEvent, body, site=SITE, device=DEVICE, subject=subject
        )
    db.close()


def test_an_intake_response_updates_the_profile_with_provenance(
    tmp_path: Path,
    broker: LocalBroker,
    hub_config_file: Path,
    hub_db: Engine,
    spawn_worker: Callable[..., object],
) -> None:
    upgrade(hub_db)
    with Session(hub_db) as session, session.begin():
        import_form(session, (FORMS_DIR / "masar_intake.xlsx").read_bytes(), actor="registrar-1")
    spawn_worker(hub_config_file)
    config = kiosk_config(tmp_path, broker)
    respond(tmp_path, config.store_path, "2025.1", "m00042")
    respond(tmp_path, config.store_path, "1999.9", "m00043")  # a version the hub never had
    with running(Agent(config)):
        wait_until(lambda: _depth(config.store_path) == 0, 60, "both responses handled")
    with Session(hub_db) as session:
        facts = profiles.current_facts(session, "m00042")
        reasons = list(session.scalars(select(DeadLetter.reason)))
    assert sorted((f.fact, f.value) for f in facts) == [
        ("education_level", "3"),
        ("occupation", "7"),
        ("qualification", "CAP soudure"),
        ("skill", "carpentry"),
        ("skill", "welding"),
    ]
    assert {(f.provenance, f.source, f.form_version) for f in facts} == {
        ("self_declared", f"kiosk:{SITE}/{DEVICE}", "2025.1")
    }
    assert reasons == [
        "could not be applied: questionnaire masar_intake version 1999.9 is not on "
        "the hub; import it, then replay the parked message"
    ]


def _depth(path: Path) -> int:
    db = store.open_store(path)
    try:
        return outbox.depth(db)
    finally:
        db.close()
