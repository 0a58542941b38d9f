"""The hub's records at scale: `masar hub seed` N synthetic detainees, then time, through the
real Flask app and JSON API (a logged-in registrar, bearer token), detainee search by name
and by prison number, the detainee file, and questionnaire response ingest (apply_batch).

    .venv/bin/python bench/bench_hub.py                                  # 100,000, both databases
    .venv/bin/python bench/bench_hub.py --detainees 10000 --database sqlite

A missed target prints the plan of the query behind it (EXPLAIN).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench_ingest import database, machine
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from hub.app import create_app
from hub.audit import Trail, load_key
from hub.config import HubConfig
from hub.db import open_engine, session_factory, upgrade
from hub.ingest import Incoming, apply_batch
from hub.models import Detainee
from hub.questionnaires.library import latest_versions
from hub.seed import (
    FAMILY_NAMES,
    GIVEN_MEN,
    GIVEN_WOMEN,
    draw_profile,
    intake_answers,
    next_seqs,
    response_message,
    seed,
)
from hub.users import create_user
from protocol.ids import utc_now

PASSWORD = "bench password 1"
SEARCH_TARGET_MS = 100.0
FILE_TARGET_MS = 300.0
INGEST_TARGET = 500.0  # events/s
WARM_UP = 20


@dataclass(frozen=True)
class Latencies:
    p50: float
    p95: float
    p99: float
    found: float  # mean rows a search returned, or 0

    def row(self, what: str, target_ms: float) -> str:
        verdict = "ok" if self.p95 <= target_ms else "MISSED"
        found = f" ({self.found:.0f} found on average)" if self.found else ""
        return (
            f"| {what}{found} | {self.p50:.1f} ms | {self.p95:.1f} ms | {self.p99:.1f} ms "
            f"| p95 <= {target_ms:.0f} ms | {verdict} |"
        )


def percentiles(samples: Sequence[float], found: float = 0.0) -> Latencies:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return Latencies(cuts[49] * 1000, cuts[94] * 1000, cuts[98] * 1000, found)


def timed_gets(client: FlaskClient, headers: dict[str, str], paths: Sequence[str]) -> Latencies:
    """GET each path once (after a short warm-up); every answer must be 200."""
    for path in paths[:WARM_UP]:
        client.get(path, headers=headers)
    samples, found = [], []
    for path in paths:
        started = time.perf_counter()
        answer = client.get(path, headers=headers)
        samples.append(time.perf_counter() - started)
        if answer.status_code != 200:
            raise RuntimeError(f"GET {path} answered {answer.status_code}: {answer.get_json()}")
        body = answer.get_json()
        found.append(len(body) if isinstance(body, list) else 0)
    return percentiles(samples, statistics.mean(found))


def spellings() -> dict[str, list[str]]:
    """Arabic name -> its Latin spellings in the seed's lists."""
    found: dict[str, list[str]] = {}
    for latin, arabic in (*GIVEN_MEN, *GIVEN_WOMEN, *FAMILY_NAMES):
        found.setdefault(arabic, []).append(latin)
    return found


def name_query(rng: random.Random, person: Detainee, variants: dict[str, list[str]]) -> str:
    """What a registrar types: the name as written, another spelling of it, the Arabic
    name, or the family name alone."""
    kind = rng.choices(("as written", "variant", "arabic", "family"), weights=(3, 3, 2, 2))[0]
    if kind == "arabic":
        return person.name_arabic
    latin_family = next(
        (latin for latin, arabic in FAMILY_NAMES if person.name_latin.endswith(" " + latin)), ""
    )
    if kind == "family" and latin_family:
        return latin_family
    if kind == "variant":
        given = person.name_latin.split()[0]
        arabic_given = person.name_arabic.split()[0]
        others = [s for s in variants.get(arabic_given, []) if s != given] or [given.lower()]
        family_arabic = next((a for la, a in FAMILY_NAMES if la == latin_family), "")
        families = [s for s in variants.get(family_arabic, []) if s != latin_family]
        return f"{rng.choice(others)} {rng.choice(families) if families else latin_family}"
    return person.name_latin


def capture_search(engine: Engine) -> dict[str, Any]:
    """Keep the last search statement the app sent, to EXPLAIN it."""
    last: dict[str, Any] = {}

    @event.listens_for(engine, "before_cursor_execute")
    def _keep(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if "FROM detainees" in statement and "LIKE" in statement:
            last["statement"], last["parameters"] = statement, parameters

    return last


def explain(engine: Engine, captured: dict[str, Any]) -> str:
    if not captured:
        return "(no search statement captured)"
    statement, parameters = captured["statement"], captured["parameters"]
    prefix = "EXPLAIN ANALYZE " if engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(prefix + statement, parameters).all()
        alone = []
        for _ in range(5):
            started = time.perf_counter()
            connection.exec_driver_sql(statement, parameters).all()
            alone.append(time.perf_counter() - started)
    plan = "\n".join("    " + " ".join(str(x) for x in row) for row in rows)
    return (
        f"    {statement}\n    {parameters}\n{plan}\n"
        f"    the statement alone takes {statistics.median(alone) * 1000:.1f} ms (median of 5)"
    )


def ingest_rate(
    sessions: sessionmaker[Session], rng: random.Random, events: int, batch: int
) -> float:
    """Build real intake responses for people in custody, then apply them as a worker does."""
    with sessions() as session:
        people = session.execute(
            select(Detainee.id, Detainee.site, Detainee.wing).where(Detainee.state == "in_custody")
        ).all()
        version = next(v for v in latest_versions(session) if v.form_id == "masar_intake")
        seqs = next_seqs(session)
    now = utc_now()
    messages: list[Incoming] = []
    for person in rng.choices(people, k=events):
        device = f"wing-{person.wing}-1"
        seq = seqs.get((person.site, device), 1)
        seqs[(person.site, device)] = seq + 1
        messages.append(
            response_message(
                site=person.site,
                device=device,
                seq=seq,
                subject=person.id,
                at=now,
                form_id="masar_intake",
                form_version=version.version,
                answers=intake_answers(rng, draw_profile(rng)),
            )
        )
    started = time.perf_counter()
    for start in range(0, events, batch):
        with sessions.begin() as session:
            result = apply_batch(session, messages[start : start + batch], worker="bench")
            if result.applied != len(messages[start : start + batch]):
                raise RuntimeError(f"applied {result.applied} of a batch: {result.rejected}")
    return events / (time.perf_counter() - started)


def run(kind: str, detainees: int, requests: int, events: int, batch: int) -> None:
    rng = random.Random(11)
    with (
        tempfile.TemporaryDirectory(prefix="masar-bench-") as tmp,
        database(kind, Path(tmp)) as url,
    ):
        config = HubConfig(database_url=url, audit_key_file=Path(tmp) / "audit.key")
        key = load_key(config.audit_key_file)
        engine = open_engine(url)
        upgrade(engine)
        sessions = session_factory(engine)
        report = seed(engine, detainees=detainees, key=key)
        print(
            f"{kind}: seeded {report.detainees:,} detainees in {report.seconds:.1f} s "
            f"({report.profile_facts:,} profile facts, {report.responses:,} responses and "
            f"{report.movements:,} movements through ingest, {report.enrolments:,} enrolments)",
            flush=True,
        )
        with sessions.begin() as session:
            create_user(
                session,
                Trail(key, "system:bench"),
                username="bench",
                name="Bench Registrar",
                role="registrar",
                password=PASSWORD,
            )
            people = list(session.scalars(select(Detainee)))
        app = create_app(config)
        reader, writer = app.extensions["masar_engines"]
        captured = capture_search(writer)
        try:
            client = app.test_client()
            login = client.post("/api/v1/session", json={"username": "bench", "password": PASSWORD})
            headers = {"Authorization": f"Bearer {login.get_json()['token']}"}
            variants = spellings()
            chosen = rng.choices(people, k=requests)
            names = [name_query(rng, p, variants) for p in chosen]
            numbers = [
                p.prison_number if rng.random() < 0.5 else p.prison_number[: rng.randint(8, 10)]
                for p in rng.choices(people, k=requests)
            ]
            files = [p.id for p in rng.choices(people, k=requests)]

            def search(queries: list[str]) -> Latencies:
                return timed_gets(
                    client, headers, [f"/api/v1/detainees?q={quote(q)}" for q in queries]
                )

            by_name = search(names)
            name_plan = explain(writer, captured)
            by_number = search(numbers)
            number_plan = explain(writer, captured)
            file_read = timed_gets(client, headers, [f"/api/v1/detainees/{i}" for i in files])
            rate = ingest_rate(sessions, rng, events, batch)
        finally:
            reader.dispose()
            writer.dispose()
            engine.dispose()
    print(f"| {kind} ({detainees:,} detainees) | p50 | p95 | p99 | target | |")
    print("|---|---|---|---|---|---|")
    print(by_name.row(f"search by name, {requests} requests", SEARCH_TARGET_MS))
    print(by_number.row(f"search by prison number, {requests} requests", SEARCH_TARGET_MS))
    print(file_read.row(f"detainee file, {requests} requests", FILE_TARGET_MS))
    verdict = "ok" if rate >= INGEST_TARGET else "MISSED"
    print(
        f"| response ingest, {events:,} events in batches of {batch} | {rate:,.0f} events/s "
        f"| | | >= {INGEST_TARGET:.0f}/s | {verdict} |"
    )
    for latencies, plan, what in ((by_name, name_plan, "name"), (by_number, number_plan, "number")):
        if latencies.p95 > SEARCH_TARGET_MS:
            print(f"search by {what} missed its target; the last such query's plan:\n{plan}")
    print(flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--detainees", type=int, default=100_000)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--requests", type=int, default=500, help="per measured call")
    parser.add_argument("--events", type=int, default=5000, help="questionnaire responses")
    parser.add_argument("--batch", type=int, default=100, help="events per apply_batch")
    args = parser.parse_args()
    print(machine())
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    for kind in kinds:
        run(kind, args.detainees, args.requests, args.events, args.batch)


if __name__ == "__main__":
    main()
