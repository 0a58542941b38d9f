"""The retention job on seeded data (SQLite and PostgreSQL): each class of data goes when
its rule says, and not before; the kiosks drop the people at their next sync; one audit
entry; a dry run changes nothing; the command prints a count per class."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import asdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from sqlite_utils import Database

from hub import detainees, retention, roster
from hub.audit import Trail, load_key, verify
from hub.config import ConfigError, RetentionConfig, load_config
from hub.db import open_engine, session_factory
from hub.ingest import Incoming, apply_batch
from hub.models import (
    AuditEntry,
    DeadLetter,
    Detainee,
    Event,
    LoginThrottle,
    QuestionnaireDraft,
    Template,
    WebSession,
)
from hub.seed import next_seqs, seed
from hub.syncer import answer
from hub.users import LoginRefused, create_user, login
from kiosk import caches, store
from kiosk.sync import apply_page
from kiosk.vault import TemplateVault
from masar.cli import cli
from protocol import SyncRequest, SyncResponse, encode, topics, uuid7
from protocol.events import (
    EnrolmentCaptured,
    EnrolmentCapturedEvent,
    EventBase,
    QuestionnaireProgress,
    QuestionnaireProgressEvent,
)
from protocol.ids import utc_now

SEEDED = 300
PASSWORD = "correct horse battery"


@pytest.fixture
def key(tmp_path: Path) -> bytes:
    return load_key(tmp_path / "audit.key")


@pytest.fixture
def seeded(sessions: sessionmaker[Session], key: bytes) -> sessionmaker[Session]:
    seed(sessions, detainees=SEEDED, key=key)
    return sessions


class Kiosk:
    """A real kiosk store and vault, synced straight from the hub's answers (no broker)."""

    def __init__(self, path: Path, site: str, device: str) -> None:
        self.db: Database = store.open_store(path / f"{device}.db")
        self.vault = TemplateVault(path / f"{device}.key")
        self.site, self.device = site, device

    def sync(self, hub: sessionmaker[Session]) -> list[SyncResponse]:
        pages = []
        while True:
            cursor = caches.get_setting(self.db, "sync_cursor")
            with hub() as session:
                request = SyncRequest(site=self.site, device=self.device, cursor=cursor)
                response = answer(session, request)
            assert response.error is None
            apply_page(self.db, self.vault, response)
            pages.append(response)
            if not response.more:
                return pages

    def templates_of(self, people: list[str]) -> int:
        marks = ",".join("?" for _ in people)
        query = f"SELECT count(*) FROM templates WHERE detainee_id IN ({marks})"
        return int(self.db.execute(query, people).fetchone()[0])


@pytest.fixture
def kiosks() -> Iterator[list[Kiosk]]:
    made: list[Kiosk] = []
    yield made
    for kiosk in made:
        kiosk.db.close()


def face(n: int) -> bytes:
    return np.random.default_rng(n).standard_normal(512).astype(np.float32).tobytes()


def templates(person: str, n: int) -> list[roster.TemplateRecord]:
    return [
        roster.TemplateRecord(f"{person}-face", "face", "mobilefacenet/f32", face(n)),
        roster.TemplateRecord(f"{person}-finger", "fingerprint", "minutiae/v1", face(n + 99)),
    ]


def wire(event: EventBase) -> Incoming:
    return Incoming(topics.event_topic(event.site, event.device, event.event_type), encode(event))


def pick(session: Session) -> tuple[str, str, list[str], list[str]]:
    """The site with the most people released over 30 days ago, a wing of it holding at least
    four people, four of them, and two of those released people."""
    cutoff = date.today() - timedelta(days=30)
    released = func.count(Detainee.id)
    site = session.scalars(
        select(Detainee.site)
        .where(Detainee.state == "released", Detainee.released_on <= cutoff)
        .group_by(Detainee.site)
        .order_by(released.desc(), Detainee.site)
        .limit(1)
    ).one()
    wing = session.scalars(
        select(Detainee.wing)
        .where(Detainee.site == site, Detainee.state == "in_custody")
        .group_by(Detainee.wing)
        .having(func.count(Detainee.id) >= 4)
        .order_by(Detainee.wing)
        .limit(1)
    ).one()
    held = session.scalars(
        select(Detainee.id)
        .where(Detainee.site == site, Detainee.wing == wing, Detainee.state == "in_custody")
        .order_by(Detainee.id)
        .limit(4)
    ).all()
    gone = session.scalars(
        select(Detainee.id)
        .where(Detainee.site == site, Detainee.state == "released", Detainee.released_on <= cutoff)
        .order_by(Detainee.id)
        .limit(2)
    ).all()
    assert len(held) == 4 and len(gone) == 2
    return site, str(wing), list(held), list(gone)


def kiosk_events(
    session: Session, site: str, wing: str, held: list[str], gone: list[str]
) -> list[Incoming]:
    """Enrolments with template bytes (one person held, one released) and questionnaires in
    progress (a PHQ-9 and the intake form), as the wing's kiosks send them."""
    device = f"wing-{wing}-1"
    seq = next_seqs(session).get((site, device), 1)
    now = utc_now()
    messages = []
    for n, person in enumerate([held[0], gone[0]]):
        body = EnrolmentCaptured(
            modality="face",
            template=base64.b64encode(face(n)).decode(),
            template_format="mobilefacenet/f32",
        )
        event = EnrolmentCapturedEvent(
            id=uuid7(), site=site, device=device, seq=seq, at=now, subject=person, body=body
        )
        messages.append(wire(event))
        seq += 1
    for person, form_id, answers in (
        (held[1], "phq9", {"phq9_1": "2", "phq9_2": "3"}),
        (held[3], "masar_intake", {"education_level": "3"}),
    ):
        progress = QuestionnaireProgress(
            form_id=form_id, form_version="1", language="ar", current="q", answers=answers
        )
        saved = QuestionnaireProgressEvent(
            id=uuid7(), site=site, device=device, seq=seq, at=now, subject=person, body=progress
        )
        messages.append(wire(saved))
        seq += 1
    return messages


def logins(session: Session, trail: Trail, now: datetime) -> None:
    """Two ended sessions and one open; three stale throttle rows and three fresh ones."""
    for username in ("nadia", "omar"):
        create_user(
            session, trail, username=username, name=username, role="trainer", password=PASSWORD
        )
    login(session, "nadia", PASSWORD, "192.0.2.1", now=now - timedelta(hours=13))  # too old
    login(session, "nadia", PASSWORD, "192.0.2.9", now=now - timedelta(minutes=40))  # idle
    login(session, "nadia", PASSWORD, "192.0.2.9", now=now)  # open
    with pytest.raises(LoginRefused):  # an hour ago: the window has passed
        login(session, "omar", "wrong password", "192.0.2.3", now=now - timedelta(hours=1))
    for _ in range(5):  # locks the name until five minutes from now
        with pytest.raises(LoginRefused):
            login(session, "ghost", "wrong password", "192.0.2.4", now=now - timedelta(minutes=10))


def refused(session: Session, now: datetime) -> None:
    """Two messages the hub could not accept: one 200 days ago, one last week."""
    for name, days, digest in (("old", 200, "a"), ("recent", 7, "b")):
        session.add(
            DeadLetter(
                payload_sha256=digest * 64,
                topic="masar/v1/site/kiosk/k/events/questionnaire.response",
                payload=b'{"answers": "..."}',
                reason="the event does not match its schema",
                event_id=name,
                received_at=now - timedelta(days=days),
            )
        )


def counts(session: Session) -> dict[str, int]:
    return {
        model.__tablename__: int(session.scalar(select(func.count()).select_from(model)) or 0)
        for model in (Template, QuestionnaireDraft, WebSession, LoginThrottle, AuditEntry)
    }


def body(session: Session, person: str, kind: str) -> dict[str, Any]:
    event = session.scalars(select(Event).where(Event.subject == person, Event.type == kind)).one()
    return dict(event.body)


def test_each_class_goes_by_its_rule_and_the_kiosks_drop_the_people(
    seeded: sessionmaker[Session], key: bytes, kiosks: list[Kiosk], tmp_path: Path
) -> None:
    registrar = Trail(key, "user:registrar-1")
    today, now = date.today(), utc_now()
    with seeded.begin() as session:
        site, wing, held, gone = pick(session)
        for n, person in enumerate(held):
            roster.replace_templates(session, person, templates(person, n))
        for n, person in enumerate(gone, 10):  # captured before their release
            for record in templates(person, n):
                session.add(Template(detainee_id=person, **asdict(record)))
        result = apply_batch(session, kiosk_events(session, site, wing, held, gone), worker="t")
        assert result.applied == 4 and not result.rejected
        logins(session, registrar, now)
        refused(session, now)
        other = session.scalars(
            select(Detainee.wing)
            .where(Detainee.site == site, Detainee.wing.is_not(None), Detainee.wing != wing)
            .limit(1)
        ).one()
    own = Kiosk(tmp_path, site, f"wing-{wing}-1")
    neighbour = Kiosk(tmp_path, site, f"wing-{other}-1")
    kiosks += [own, neighbour]
    own.sync(seeded)
    assert own.templates_of(held) == 8  # two per person, encrypted in the vault

    with seeded.begin() as session:
        detainees.release(session, registrar, held[0], today - timedelta(days=40))
        detainees.release(session, registrar, held[1], today - timedelta(days=5))  # kept a while
    own.sync(seeded)  # the release alone empties the kiosk of them
    neighbour.sync(seeded)
    assert own.templates_of(held[:2]) == 0 and own.templates_of(held[2:]) == 4

    expected = {
        "biometric_templates": 6,  # held[0] and the two released long ago, two each
        "enrolment_event_templates": 2,
        "kiosk_purge_notes": 3,
        "questionnaire_drafts": 1,  # held[1]'s PHQ-9 in progress; held[3]'s stays
        "draft_event_answers": 1,
        "dead_letter_payloads": 1,  # the refused message of 200 days ago; not last week's
        "web_sessions": 2,
        "login_throttles": 3,
    }
    policy = RetentionConfig()
    with seeded.begin() as session:
        before = counts(session)
        report = retention.apply(session, registrar, policy, dry_run=True)
        assert report.counts == expected and report.dry_run
        assert counts(session) == before  # nothing changed, not even the audit log

    system = Trail(key, "system:cli/test")
    with seeded.begin() as session:
        report = retention.apply(session, system, policy)
    assert report.counts == expected and not report.dry_run
    with seeded() as session:
        after = counts(session)
        assert after["templates"] == before["templates"] - 6
        left = set(session.scalars(select(Template.detainee_id).distinct()))
        assert left.isdisjoint({held[0], *gone}) and set(held[1:]) <= left
        enrolled = body(session, held[0], "enrolment.captured")
        assert enrolled["template"] is None and enrolled["modality"] == "face"
        assert enrolled[retention.DELETED_ON] == {"template": today.isoformat()}
        assert body(session, gone[0], "enrolment.captured")["template"] is None
        drafts = session.scalars(select(QuestionnaireDraft.detainee_id)).all()
        assert drafts == [held[3]]
        assert body(session, held[1], "questionnaire.progress")["answers"] == {}
        assert body(session, held[3], "questionnaire.progress")["answers"] == {
            "education_level": "3"
        }
        assert after["web_sessions"] == 1
        letters = dict(session.execute(select(DeadLetter.event_id, DeadLetter.payload)).all())
        assert letters == {"old": b"", "recent": b'{"answers": "..."}'}
        old = session.scalars(select(DeadLetter).where(DeadLetter.event_id == "old")).one()
        assert old.reason.endswith(f"[its bytes deleted on {today} by retention]")
        assert old.payload_sha256 == "a" * 64  # a copy sent again is still recognised
        throttles = set(session.scalars(select(LoginThrottle.key)))
        assert throttles == {"user:nadia", "address:192.0.2.9", "user:ghost", "address:192.0.2.4"}
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).one()
        assert (entry.action, entry.actor) == ("retention.apply", "system:cli/test")
        assert entry.details["counts"] == expected
        assert entry.details["templates_after_release_days"] == 30
        assert entry.details["dead_letter_days"] == 180
        assert verify(session, key).ok

    # Every kiosk of the site hears of the people whose templates went, whichever wing.
    deleted = {
        change.key
        for page in neighbour.sync(seeded)
        for change in page.changes
        if change.kind == "detainee" and change.op == "delete"
    }
    assert deleted == {held[0], *gone}
    own.sync(seeded)
    assert own.templates_of(held[:2]) == 0 and own.templates_of(held[2:]) == 4

    with seeded.begin() as session:  # nothing more to do right after
        again = retention.apply(session, system, policy)
    assert set(again.counts.values()) == {0}


def run(*arguments: str) -> str:
    result = CliRunner().invoke(cli, ["hub", *arguments])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_delay_is_configured_and_the_command_prints_a_count_per_class(
    database_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "hub.toml"
    lines = f'database_url = "{database_url}"\naudit_key_file = "{tmp_path / "audit.key"}"\n'
    config.write_text(lines)
    quick = tmp_path / "quick.toml"
    quick.write_text(lines + "\n[retention]\ntemplates_after_release_days = 0\n")
    assert load_config(quick).retention.templates_after_release_days == 0
    assert load_config(config).retention.templates_after_release_days == 30
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(lines + "\n[retention]\ntemplates_after_release_days = -1\n")
    with pytest.raises(ConfigError, match="templates_after_release_days"):
        load_config(wrong)

    run("seed", "--config", str(config), "--detainees", str(SEEDED))
    hub_config = load_config(config)
    engine = open_engine(database_url)
    try:
        sessions = session_factory(engine)
        trail = Trail(load_key(hub_config.audit_key_file), "user:registrar-1")
        with sessions.begin() as session:
            person = session.scalars(
                select(Detainee.id).where(Detainee.state == "in_custody").limit(1)
            ).one()
            roster.replace_templates(session, person, templates(person, 1))
            detainees.release(session, trail, person, date.today())
    finally:
        engine.dispose()

    def templates_deleted(output: str) -> int:
        found = re.search(r"^\s+biometric_templates\s+(\d+)\s", output, re.MULTILINE)
        assert found is not None, output
        return int(found.group(1))

    kept = run("retention", "apply", "--config", str(config), "--dry-run")
    assert "dry run" in kept and templates_deleted(kept) == 0  # released today: 30 days to go
    for name in retention.RULES:
        assert re.search(rf"^\s+{name}\s+\d+\s+\S", kept, re.MULTILINE), name
    assert templates_deleted(run("retention", "apply", "--config", str(quick), "--dry-run")) == 2
    done = run("retention", "apply", "--config", str(quick))
    assert "deleted" in done and templates_deleted(done) == 2
    assert templates_deleted(run("retention", "apply", "--config", str(quick))) == 0
    assert "audit log intact" in run("audit", "verify", "--config", str(config))
