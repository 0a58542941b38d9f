"""The subject-access export on seeded data (SQLite and PostgreSQL): everything held on one
person, health data included, templates described and never copied, nobody else's data;
audited; the API for administrators only; the command writes a private file."""

from __future__ import annotations

import ast
import base64
import json
import stat
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub import (
    assignments,
    health,
    movements,
    plans,
    profiles,
    roster,
    subject_access,
    training,
)
from hub.api import PREFIX
from hub.audit import Trail, load_key, verify
from hub.ingest import Incoming, apply_batch
from hub.models import (
    AuditEntry,
    Base,
    Detainee,
    Programme,
    QuestionnaireVersion,
    Screening,
)
from hub.seed import next_seqs, response_message, seed
from masar.cli import cli
from protocol import encode, topics, uuid7
from protocol.events import (
    EnrolmentCaptured,
    EnrolmentCapturedEvent,
    EventBase,
    MovementVerified,
    MovementVerifiedEvent,
    QuestionnaireProgress,
    QuestionnaireProgressEvent,
)
from protocol.ids import utc_now
from tests.api_client import Hub, running_hub

SEEDED = 300
PARTNER = "fondation-amal"
# Every table holding rows about one person, and the export's section that carries them.
# A new table keyed by a person must be added to the export (and here), or named as derived.
COVERED = {
    "detainees": "identity",
    "badges": "badges",
    "templates": "biometric_templates",
    "profile_facts": "profile_facts",
    "events": "questionnaire_responses, kiosk_events",
    "questionnaire_drafts": "questionnaire_drafts",
    "questionnaire_assignments": "questionnaire_assignments",
    "screenings": "health",
    "health_alerts": "health",
    "enrolments": "training",
    "movements": "movements",
    "scheduled_movements": "scheduled_movements",
    "plans": "plan",
    "consents": "consents",
    "audit_log": "audit_entries",
}
DERIVED = {"detainee_search_words": "folded names and prison number, rebuilt from identity"}
PERSON_COLUMNS = {"detainee_id", "subject", "owner_id"}


def face(n: int) -> bytes:
    return np.random.default_rng(n).standard_normal(512).astype(np.float32).tobytes()


def wire(event: EventBase) -> Incoming:
    return Incoming(topics.event_topic(event.site, event.device, event.event_type), encode(event))


def fill(session: Session, trail: Trail, person: str) -> dict[str, Any]:
    """Give a seeded person (one with a PHQ-9) something in every section; return the marks
    to look for."""
    detainee = session.get(Detainee, person)
    assert detainee is not None and detainee.wing is not None
    site, wing = detainee.site, detainee.wing
    device = f"wing-{wing}-1"
    nurse = Trail(trail.key, "user:nurse-1")
    templates = [
        roster.TemplateRecord(f"{person}-face", "face", "mobilefacenet/f32", face(1)),
        roster.TemplateRecord(f"{person}-finger", "fingerprint", "minutiae/v1", face(2)),
    ]
    roster.replace_templates(session, person, templates)
    roster.update_detainee(session, person, photo_thumbnail=b"\x89PNG-photo")
    fact = profiles.record_fact(
        session, person, "skill", "welding", profiles.FactSource("self_declared", "kiosk:x/y")
    )
    profiles.verify_fact(session, fact.id, user="sw-1")
    version = session.scalars(
        select(QuestionnaireVersion.version).where(QuestionnaireVersion.form_id == "phq9")
    ).one()
    seq = next_seqs(session).get((site, device), 1)
    now = utc_now()
    answers = {f"phq9_{i}": "2" for i in range(1, 10)} | {"phq9_difficulty": "2"}
    enrolled = EnrolmentCaptured(
        modality="face",
        template=base64.b64encode(face(3)).decode(),
        template_format="mobilefacenet/f32",
    )
    progress = QuestionnaireProgress(
        form_id="masar_wishes", form_version="1", language="ar", current="q", answers={"a": "1"}
    )
    moved = MovementVerified(
        from_location=wing, to_location="workshop", modalities=["badge"], outcome="confirmed"
    )
    envelope = {"site": site, "device": device, "subject": person}
    messages = [
        response_message(
            **envelope, seq=seq, at=now, form_id="phq9", form_version=version, answers=answers
        ),
        wire(EnrolmentCapturedEvent(id=uuid7(), seq=seq + 1, at=now, body=enrolled, **envelope)),
        wire(
            QuestionnaireProgressEvent(id=uuid7(), seq=seq + 2, at=now, body=progress, **envelope)
        ),
        wire(MovementVerifiedEvent(id=uuid7(), seq=seq + 3, at=now, body=moved, **envelope)),
    ]
    result = apply_batch(session, messages, worker="test")
    assert result.applied == 4 and not result.rejected
    gad7 = {f"gad7_{i}": 1 for i in range(1, 8)}
    health.record_screening(
        session,
        detainee_id=person,
        instrument_form_id="gad7",
        answers=gad7,
        source="user:nurse-1",
        taken_at=now,
        trail=nurse,
    )
    programme = session.scalars(
        select(Programme.id).where(Programme.site == site).order_by(Programme.id).limit(1)
    ).one()
    training.request_enrolment(
        session, trail, programme_id=programme, detainee_id=person, via="user:trainer-1"
    )
    movements.schedule_movement(
        session, trail, detainee_id=person, to_location="court", at=now + timedelta(days=1)
    )
    assignments.assign(
        session, trail, form_id="masar_wishes", due_on=date.today(), detainee_id=person
    )
    plans.give_consent(session, trail, person, "atlas-emploi", ["identity"])
    plans.withdraw_consent(session, trail, person, "atlas-emploi")
    plans.give_consent(session, trail, person, PARTNER, ["identity", "skills"])
    plans.put_plan(
        session, trail, person, goals=["Travailler comme soudeur"], steps=[], referrals=[]
    )
    return {"templates": [t.data for t in templates], "enrolled": face(3)}


def seeded_person(sessions: sessionmaker[Session], key: bytes) -> tuple[str, str, dict[str, Any]]:
    """Seed, fill one screened person's file; return them, someone else and the marks."""
    seed(sessions, detainees=SEEDED, key=key)
    with sessions.begin() as session:
        person = session.scalars(select(Screening.detainee_id).order_by(Screening.id)).first()
        assert person is not None
        other = session.scalars(
            select(Detainee.id).where(Detainee.id != person).order_by(Detainee.id).limit(1)
        ).one()
        marks = fill(session, Trail(key, "user:sw-1"), person)
    return person, other, marks


def test_everything_held_is_exported_templates_described_only_and_audited(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    key = load_key(tmp_path / "audit.key")
    person, other, marks = seeded_person(sessions, key)
    admin = Trail(key, "user:admin-1")
    with sessions.begin() as session:
        document = subject_access.export(session, admin, person)
    text = json.dumps(document, ensure_ascii=False)

    assert document["format"] == subject_access.FORMAT and document["detainee_id"] == person
    assert document["identity"]["id"] == person
    assert base64.b64decode(document["identity"]["photo_thumbnail"]) == b"\x89PNG-photo"
    facts = document["profile_facts"]
    verified = [f for f in facts if f["fact"] == "skill" and f["value"] == "welding"]
    assert [f["provenance"] for f in verified] == ["self_declared", "staff_verified"]
    assert (
        verified[0]["superseded_by"] == verified[1]["id"] and verified[1]["source"] == "user:sw-1"
    )
    forms = {r["form_id"]: r for r in document["questionnaire_responses"]}
    assert forms["phq9"]["health"] and forms["phq9"]["answers"]["phq9_9"] == "2"
    assert any(w["question"] == "phq9_9" and w["label"] for w in forms["phq9"]["worded"])
    instruments = {s["instrument"] for s in document["health"]["screenings"]}
    assert instruments == {"phq9", "gad7"}
    assert all(s["items"] for s in document["health"]["screenings"])
    assert document["health"]["alerts"] and "item 9" in document["health"]["alerts"][0]["reason"]
    assert [d["form_id"] for d in document["questionnaire_drafts"]] == ["masar_wishes"]
    assert [a["form_id"] for a in document["questionnaire_assignments"]] == ["masar_wishes"]
    assert document["training"][0]["programme"]["provider"]
    assert [m["to_location"] for m in document["movements"]] == ["workshop"]
    assert [m["to_location"] for m in document["scheduled_movements"]] == ["court"]
    assert document["plan"] is not None and document["plan"]["goals"] == [
        "Travailler comme soudeur"
    ]
    consents = document["consents"]
    assert [(c["partner"], c["withdrawn_at"] is None) for c in consents] == [
        ("atlas-emploi", False),
        (PARTNER, True),
    ]
    kinds = {e["type"] for e in document["kiosk_events"]}
    assert {"enrolment.captured", "questionnaire.progress", "movement.verified"} <= kinds
    actions = {entry["action"] for entry in document["audit_entries"]}
    assert {"consent.give", "consent.withdraw", "plan.put", "health.screening"} <= actions
    assert all("mac" not in entry for entry in document["audit_entries"])

    # Templates: described, never copied, in any encoding.
    described = {(t["modality"], t["bytes"]) for t in document["biometric_templates"]}
    assert described == {("face", 2048), ("fingerprint", 2048)}
    for data in [*marks["templates"], marks["enrolled"]]:
        for encoded in (base64.b64encode(data).decode(), data.hex(), data.decode("latin-1")):
            assert encoded[:64] not in text
    enrolment = next(e for e in document["kiosk_events"] if e["type"] == "enrolment.captured")
    assert enrolment["body"]["template"] == subject_access.WITHHELD

    # Nobody else's record.
    with sessions() as session:
        stranger = session.get(Detainee, other)
        assert stranger is not None
        assert stranger.prison_number not in text and other not in text

    # Audited: the export, and the health read it made.
    with sessions() as session:
        newest = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(2)).all()
        assert [(e.action, e.subject, e.actor) for e in newest] == [
            ("subject_access.export", person, "user:admin-1"),
            ("health.read", person, "user:admin-1"),
        ]
        assert document["audit_entry_id"] == newest[0].id
        assert newest[0].details["held"]["biometric_templates"] == 2
        held = session.scalars(select(Screening.id).where(Screening.detainee_id == person)).all()
        assert newest[1].details["screenings"] == len(document["health"]["screenings"]) == len(held)
        assert verify(session, key).ok


def test_every_table_about_a_person_is_in_the_export_and_template_reads_stay_known() -> None:
    keyed = {
        name
        for name, table in Base.metadata.tables.items()
        if PERSON_COLUMNS & set(table.columns.keys()) or name == "detainees"
    }
    assert keyed - set(COVERED) - set(DERIVED) == set(), "add these to hub/subject_access.py"
    sections = set(subject_access.SubjectAccessExport.__annotations__)
    for section in COVERED.values():
        assert {s.strip() for s in section.split(",")} <= sections
    # Only these modules touch the template store. A page or route reading templates must
    # write an audit entry for it, and be added here once it does.
    hub = Path(subject_access.__file__).parent
    readers = set()
    for path in hub.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module == "hub.models"
                and any(alias.name == "Template" for alias in node.names)
            ):
                readers.add(str(path.relative_to(hub.parent)))
    assert readers == {
        "hub/roster.py",  # writes them (admission, replacement)
        "hub/syncer.py",  # sends them to the wing's kiosks: system access, see README
        "hub/retention.py",  # deletes them
        "hub/subject_access.py",  # describes them (audited export)
    }, "a new module reads biometric templates: audit each read (hub.audit), then list it"


def test_the_api_is_for_administrators_and_the_command_writes_a_private_file(
    database_url: str, tmp_path: Path
) -> None:
    with running_hub(database_url, tmp_path) as hub:
        person, _, _ = seeded_person(hub.sessions, hub.key)
        with hub.sessions() as session:
            site = session.get(Detainee, person).site  # type: ignore[union-attr]
            elsewhere = session.scalars(
                select(Detainee.site).where(Detainee.site != site).limit(1)
            ).one()
        check_api(hub, person, elsewhere)
        config = tmp_path / "hub.toml"
        config.write_text(
            f'database_url = "{database_url}"\naudit_key_file = "{tmp_path / "audit.key"}"\n'
        )
        out = tmp_path / "export" / "person.json"
        out.parent.mkdir()
        command = ["hub", "subject-access", "--config", str(config), "--detainee", person]
        done = CliRunner().invoke(cli, [*command, "--out", str(out)])
        assert done.exit_code == 0, done.output
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
        written = json.loads(out.read_text())
        assert written["detainee_id"] == person and written["generated_by"].startswith(
            "system:cli/"
        )
        assert written["audit_entry_id"] > 0
        again = CliRunner().invoke(cli, [*command, "--out", str(out)])
        assert again.exit_code != 0 and "already exists" in again.output
        missing = tmp_path / "export" / "nobody.json"
        unknown = CliRunner().invoke(cli, [*command[:-1], "nobody", "--out", str(missing)])
        assert unknown.exit_code != 0 and "no detainee with Masar id 'nobody'" in unknown.output
        assert not missing.exists()
        with hub.sessions() as session:
            assert verify(session, hub.key).ok


def check_api(hub: Hub, person: str, elsewhere: str) -> None:
    hub.add_user("admin", "admin")
    hub.add_user("local-admin", "admin", site=elsewhere)
    hub.add_user("nurse", "health_staff")
    hub.add_user("amina", "registrar")
    path = f"{PREFIX}/detainees/{person}/subject-access"
    answer = hub.client("admin").get(path)  # the client checks it against the OpenAPI schema
    assert answer.status_code == 200
    document = answer.get_json()
    assert document["detainee_id"] == person and len(document["biometric_templates"]) == 2
    assert document["generated_by"].startswith("user:")
    for username in ("nurse", "amina"):
        refused = hub.client(username).get(path)
        assert refused.status_code == 403 and "subject_access.export" in refused.get_json()["error"]
    assert hub.client("local-admin").get(path).status_code == 404  # another establishment's
    assert hub.client("admin").get(f"{PREFIX}/detainees/nobody/subject-access").status_code == 404
    with hub.sessions() as session:
        exports = session.scalars(
            select(AuditEntry.actor).where(AuditEntry.action == "subject_access.export")
        ).all()
        assert len(exports) == 1
