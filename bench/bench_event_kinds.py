"""What each kind of kiosk event costs the hub: `hub.seed` N synthetic detainees, then for each
kind build real events for people in custody as their wing kiosks send them and apply them
with `hub.ingest.apply_batch` in batches of 100, as an ingest worker does (one process, no
broker), printing events/s and how much the database grew per event. docs/scale.md sizes
the national hub from these figures.

    .venv/bin/python bench/bench_event_kinds.py                          # PostgreSQL and SQLite
    .venv/bin/python bench/bench_event_kinds.py --database postgresql --events 10000
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from bench_ingest import database, machine
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from hub.audit import load_key
from hub.db import open_engine, session_factory, upgrade
from hub.ingest import Incoming, apply_batch
from hub.models import Detainee
from hub.questionnaires.library import latest_versions
from hub.seed import draw_profile, intake_answers, next_seqs, response_message, seed
from protocol import uuid7
from protocol.events import (
    EventBase,
    Identification,
    IdentificationEvent,
    ModalityCheck,
    MovementVerified,
    MovementVerifiedEvent,
    QuestionnaireProgress,
    QuestionnaireProgressEvent,
)
from protocol.ids import utc_now
from tests.factories import incoming

BATCH = 100
Person = Any  # a row of (id, site, wing)


def identification(person: Person, common: dict[str, Any], rng: random.Random) -> EventBase:
    check = ModalityCheck(
        modality="face", comparison="1:N", matched=True, score=0.71, threshold=0.42
    )
    body = Identification(
        mode="self_service", rule="face_1n_if_safe", checks=[check], outcome="matched"
    )
    return IdentificationEvent(**common, body=body)


def movement(person: Person, common: dict[str, Any], rng: random.Random) -> EventBase:
    out = rng.random() < 0.5
    body = MovementVerified(
        from_location=f"wing-{person.wing}" if out else "workshop",
        to_location="workshop" if out else f"wing-{person.wing}",
        modalities=["badge", "face"],
        outcome="confirmed",
    )
    return MovementVerifiedEvent(**common, actor="officer-7", body=body)


def progress(intake_version: str) -> Callable[[Person, dict[str, Any], random.Random], EventBase]:
    def build(person: Person, common: dict[str, Any], rng: random.Random) -> EventBase:
        answers = intake_answers(rng, draw_profile(rng))
        kept = dict(list(answers.items())[: rng.randint(1, len(answers))])  # part way
        body = QuestionnaireProgress(
            form_id="masar_intake",
            form_version=intake_version,
            language="ar",
            current=list(answers)[len(kept) - 1],
            answers=kept,
        )
        return QuestionnaireProgressEvent(**common, body=body)

    return build


def _database_bytes(engine: Engine, url: str) -> int:
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    with engine.connect() as connection:
        return int(connection.scalar(text("SELECT pg_database_size(current_database())")) or 0)


def _messages(
    sessions: sessionmaker[Session], kind: str, events: int, rng: random.Random
) -> list[Incoming]:
    with sessions() as session:
        people = session.execute(
            select(Detainee.id, Detainee.site, Detainee.wing).where(Detainee.state == "in_custody")
        ).all()
        intake = next(v for v in latest_versions(session) if v.form_id == "masar_intake").version
        seqs = next_seqs(session)
    builders = {
        "identification": identification,
        "movement.verified": movement,
        "questionnaire.progress": progress(intake),
    }
    messages = []
    for person in rng.choices(people, k=events):
        device = f"wing-{person.wing}-1"
        seq = seqs.get((person.site, device), 1)
        seqs[(person.site, device)] = seq + 1
        now: datetime = utc_now()
        if kind == "questionnaire.response":
            messages.append(
                response_message(
                    site=person.site,
                    device=device,
                    seq=seq,
                    subject=person.id,
                    at=now,
                    form_id="masar_intake",
                    form_version=intake,
                    answers=intake_answers(rng, draw_profile(rng)),
                )
            )
            continue
        common = {
            "id": uuid7(),
            "site": person.site,
            "device": device,
            "seq": seq,
            "at": now,
            "subject": person.id,
        }
        messages.append(incoming(builders[kind](person, common, rng)))
    return messages


KINDS = ("identification", "movement.verified", "questionnaire.progress", "questionnaire.response")


def run(kind_of_database: str, detainees: int, events: int) -> None:
    rng = random.Random(3)
    with (
        tempfile.TemporaryDirectory(prefix="masar-bench-") as tmp,
        database(kind_of_database, Path(tmp)) as url,
    ):
        engine = open_engine(url)
        upgrade(engine)
        sessions = session_factory(engine)
        try:
            seed(engine, detainees=detainees, key=load_key(Path(tmp) / "audit.key"), responses=0)
            for kind in KINDS:
                messages = _messages(sessions, kind, events, rng)
                size_before = _database_bytes(engine, url)
                started = time.perf_counter()
                for start in range(0, events, BATCH):
                    with sessions.begin() as session:
                        chunk = messages[start : start + BATCH]
                        result = apply_batch(session, chunk, worker="bench")
                    if result.applied != len(chunk):
                        raise RuntimeError(f"{kind}: applied {result.applied} of {len(chunk)}")
                rate = events / (time.perf_counter() - started)
                grown = (_database_bytes(engine, url) - size_before) / events
                print(
                    f"{kind_of_database:<10} {kind:<24} {rate:>7,.0f} events/s per worker, "
                    f"database +{grown:,.0f} bytes per event",
                    flush=True,
                )
        finally:
            engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detainees", type=int, default=2_000)
    parser.add_argument("--events", type=int, default=5_000, help="per kind")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], action="append")
    args = parser.parse_args()
    print(machine(), f"; {args.detainees} detainees, {args.events} events per kind", flush=True)
    for kind in args.database or ["postgresql", "sqlite"]:
        run(kind, args.detainees, args.events)


if __name__ == "__main__":
    main()
