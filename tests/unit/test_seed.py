"""Synthetic data (`masar hub seed`) on SQLite and PostgreSQL: what it makes, that it clashes
with nothing when run again, and that search finds people by other spellings of their name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, sessionmaker

from hub import training
from hub.audit import verify
from hub.models import (
    AuditEntry,
    Base,
    DeadLetter,
    Detainee,
    Device,
    DeviceStream,
    Enrolment,
    Event,
    HealthAlert,
    Movement,
    ProfileFact,
    Programme,
    Screening,
    SearchWord,
    SeqGap,
    SyncChange,
)
from hub.search import find_detainees, search_words
from hub.seed import GIVEN_MEN, WINGS, SeedError, seed
from masar.cli import cli

KEY = b"k" * 32
PRISON_NUMBER = re.compile(r"\d{4}/\d{6}")
LATIN = re.compile(r"[A-Za-zÀ-ÿ ]+")
ARABIC = re.compile(r"[\u0621-\u064a ]+")


def count(session: Session, model: type[Base], *where: ColumnElement[bool]) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_seeding_200_people_makes_what_it_reports_in_one_audit_entry(
    sessions: sessionmaker[Session],
) -> None:
    report = seed(sessions, detainees=200, key=KEY)
    with sessions() as session:
        people = session.scalars(select(Detainee)).all()
        assert len(people) == report.detainees == 200
        numbers = [p.prison_number for p in people]
        assert len(set(numbers)) == 200
        assert all(PRISON_NUMBER.fullmatch(n) for n in numbers)
        assert all(LATIN.fullmatch(p.name_latin) for p in people)
        assert all(ARABIC.fullmatch(p.name_arabic) for p in people)
        words = {(w.detainee_id, w.word) for w in session.scalars(select(SearchWord))}
        assert words == {
            (p.id, word)
            for p in people
            for word in search_words(p.prison_number, p.name_latin, p.name_arabic)
        }
        released = [p for p in people if p.state == "released"]
        held = [p for p in people if p.state == "in_custody"]
        assert len(released) == report.released and len(held) + len(released) == 200
        assert all(p.wing is None and p.released_on is not None for p in released)
        assert all(p.wing in WINGS and p.released_on is None for p in held)
        assert all(
            p.birth_date and p.admission_date and p.birth_date < p.admission_date for p in people
        )
        literate = sum(p.literate for p in people) / 200
        assert 0.55 < literate < 0.85

        # Every person held is noted for their wing's kiosks (kiosk events note them again).
        noted = session.scalars(select(SyncChange.key).where(SyncChange.kind == "detainee"))
        assert set(noted) == {p.id for p in held}
        assert count(session, Device) == report.kiosks == 72
        assert count(session, Programme) == report.programmes == 24
        assert count(session, Enrolment) == report.enrolments > 0
        for programme in session.scalars(select(Programme)):
            assert training.places_taken(session, programme.id) <= programme.capacity
        bulk = count(session, ProfileFact, ProfileFact.event_id.is_(None))
        assert bulk == report.profile_facts > 0
        from_kiosks = count(session, ProfileFact, ProfileFact.event_id.is_not(None))
        assert from_kiosks > report.responses == 20  # each response gives several facts
        responses = count(session, Event, Event.type == "questionnaire.response")
        assert responses == report.responses + report.screenings
        assert count(session, Movement) == report.movements == 10
        assert count(session, Screening) == report.screenings <= 5
        assert count(session, HealthAlert) == 0
        assert count(session, DeadLetter) == 0 and count(session, SeqGap) == 0

        runs = session.scalars(select(AuditEntry).where(AuditEntry.action == "seed.run")).all()
        assert [(r.actor, r.details["detainees"]) for r in runs] == [("system:seed", 200)]
        assert count(session, AuditEntry) == 1 + report.programmes  # seed.run, programme.put
        assert verify(session, KEY).ok


def test_search_finds_a_seeded_person_by_another_spelling_of_their_name(
    sessions: sessionmaker[Session],
) -> None:
    seed(sessions, detainees=200, key=KEY)
    mohammed = [latin for latin, arabic in GIVEN_MEN if arabic == "محمد"]
    with sessions() as session:
        people = session.scalars(select(Detainee).order_by(Detainee.prison_number)).all()
        person = next(p for p in people if p.name_latin.split()[0] in mohammed)
        given, _, family = person.name_latin.partition(" ")
        other = next(spelling for spelling in reversed(mohammed) if spelling != given)
        for query in (f"{other} {family}", person.name_arabic, person.prison_number[:8]):
            found = find_detainees(session, query, site=person.site, limit=200)
            assert person.id in [d.id for d in found], query


def test_seeding_again_adds_people_with_new_numbers_and_no_clash(
    sessions: sessionmaker[Session],
) -> None:
    first = seed(sessions, detainees=200, key=KEY)
    second = seed(sessions, detainees=150, key=KEY, random_seed=8)
    assert first.last_prison_number and second.first_prison_number
    assert int(second.first_prison_number[-6:]) == int(first.last_prison_number[-6:]) + 1
    with sessions() as session:
        numbers = session.scalars(select(Detainee.prison_number)).all()
        assert len(numbers) == len(set(numbers)) == 350
        assert count(session, Programme) == 24 and count(session, Device) == 72
        # Kiosk seqs went on where they stopped: no gap, no seq used twice.
        assert count(session, SeqGap) == 0 and count(session, DeadLetter) == 0
        for stream in session.scalars(select(DeviceStream)):
            assert stream.event_count == stream.max_seq
        assert count(session, AuditEntry, AuditEntry.action == "seed.run") == 2
        assert verify(session, KEY).ok


def test_a_negative_count_is_refused_and_changes_nothing(
    sessions: sessionmaker[Session],
) -> None:
    with pytest.raises(SeedError, match="-1 detainees is not possible; give 0 or more"):
        seed(sessions, detainees=-1, key=KEY)
    with sessions() as session:
        assert count(session, Device) == 0 and count(session, AuditEntry) == 0


def test_the_command_says_what_it_made(database_url: str, tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text(
        f'database_url = "{database_url}"\naudit_key_file = "{tmp_path / "audit.key"}"\n'
    )
    answer = CliRunner().invoke(cli, ["hub", "seed", "--config", str(config), "--detainees", "40"])
    assert answer.exit_code == 0, answer.output
    assert "seeded 40 detainees (" in answer.output
    assert re.search(r"prison numbers \d{4}/000001 to \d{4}/000040", answer.output)
    verified = CliRunner().invoke(cli, ["hub", "audit", "verify", "--config", str(config)])
    assert verified.exit_code == 0 and "audit log intact" in verified.output
