"""The hub's staff pages at scale: `masar hub seed` N synthetic detainees (as bench_hub.py),
add what the seed does not make (a questionnaire assigned to every wing, the kiosks' states,
an urgent alert), then time with the Flask test client (server time, no network) GET
/dashboard and GET /detainees/<id> over varied detainees.

    .venv/bin/python bench/bench_web.py                                  # 100,000, both databases
    .venv/bin/python bench/bench_web.py --detainees 10000 --database sqlite

The dashboard keeps its population profile (education, occupations, aptitude) a minute
(hub.dashboard.ProfileCache): it is timed as served, and also with that cache emptied before
every request, so that the price of a fresh profile is in the figures too.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path

from bench_ingest import database, machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from hub.app import create_app
from hub.assignments import assign
from hub.audit import Trail, load_key
from hub.config import HubConfig
from hub.db import open_engine, session_factory, upgrade
from hub.ingest import apply_batch
from hub.models import Detainee, Device, KioskState
from hub.questionnaires.library import latest_version
from hub.seed import next_seqs, response_message, seed
from hub.users import create_user
from hub.web.dashboard import PROFILES
from protocol.ids import utc_now

PASSWORD = "bench password 1"
TARGET_MS = 500.0
WARM_UP = 5
USERS = {  # user name -> (role, establishment)
    "admin": ("admin", None),
    "nurse": ("health_staff", None),
    "casablanca": ("registrar", "casablanca-1"),
}


def add_the_rest(sessions: sessionmaker[Session], key: bytes) -> None:
    """Users, the wishes questionnaire given to every wing, every kiosk's last status (one in
    ten offline, one in twenty with a problem), and an urgent PHQ-9 from a kiosk."""
    trail = Trail(key, "system:bench")
    rng = random.Random(5)
    with sessions.begin() as session:
        for username, (role, site) in USERS.items():
            create_user(
                session,
                trail,
                username=username,
                name=username.title(),
                role=role,
                password=PASSWORD,
                site=site,
            )
        devices = session.scalars(select(Device).order_by(Device.site, Device.device)).all()
        for wing in sorted({(d.site, d.wing) for d in devices}):
            assign(
                session,
                trail,
                form_id="masar_wishes",
                due_on=date.today() + timedelta(days=14),
                site=wing[0],
                wing=wing[1],
            )
        for device in devices:
            problems = ["camera: no picture for 30 s"] if rng.random() < 0.05 else []
            session.add(
                KioskState(
                    site=device.site,
                    device=device.device,
                    state="offline" if rng.random() < 0.1 else "online",
                    status={"outbox_depth": rng.randint(0, 40), "problems": problems},
                    updated_at=utc_now(),
                )
            )
        person = session.scalars(
            select(Detainee).where(Detainee.state == "in_custody").limit(1)
        ).one()
        version = latest_version(session, "phq9")
        assert version is not None
        device_name = f"wing-{person.wing}-1"
        message = response_message(
            site=person.site,
            device=device_name,
            seq=next_seqs(session).get((person.site, device_name), 1),
            subject=person.id,
            at=utc_now(),
            form_id="phq9",
            form_version=version.version,
            answers={f"phq9_{i}": "2" for i in range(1, 10)} | {"phq9_difficulty": "2"},
        )
    with sessions.begin() as session:
        if apply_batch(session, [message], worker="bench").applied != 1:
            raise RuntimeError("the urgent screening was not applied")


def logged_in(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    answer = client.post("/api/v1/session", json={"username": username, "password": PASSWORD})
    if answer.status_code >= 400:
        raise RuntimeError(f"cannot log in as {username}: {answer.get_json()}")
    return client


def timed(
    client: FlaskClient, paths: Sequence[str], before: Callable[[], None] = lambda: None
) -> list[float]:
    """Milliseconds per GET, after a short warm-up; every answer must be 200."""
    for path in paths[:WARM_UP]:
        client.get(path)
    samples = []
    for path in paths:
        before()
        started = time.perf_counter()
        answer = client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 200:
            raise RuntimeError(f"GET {path} answered {answer.status_code}")
    return samples


def row(what: str, samples: Sequence[float]) -> str:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    verdict = "ok" if cuts[94] <= TARGET_MS else "MISSED"
    return (
        f"| {what} ({len(samples)} requests) | {cuts[49]:.1f} ms | {cuts[94]:.1f} ms "
        f"| {max(samples):.1f} ms | {verdict} |"
    )


def has_file_page(app: Flask) -> bool:
    return any(rule.rule == "/detainees/<detainee_id>" for rule in app.url_map.iter_rules())


def run(kind: str, detainees: int, requests: int, fresh: int) -> None:
    rng = random.Random(11)
    with (
        tempfile.TemporaryDirectory(prefix="masar-bench-web-") as tmp,
        database(kind, Path(tmp)) as url,
    ):
        config = HubConfig(database_url=url, audit_key_file=Path(tmp) / "audit.key")
        key = load_key(config.audit_key_file)
        engine = open_engine(url)
        upgrade(engine)
        report = seed(engine, detainees=detainees, key=key)
        print(
            f"{kind}: seeded {report.detainees:,} detainees in {report.seconds:.1f} s "
            f"({report.profile_facts:,} profile facts)",
            flush=True,
        )
        sessions = session_factory(engine)
        add_the_rest(sessions, key)
        if kind == "postgresql":  # what autovacuum does on a running hub: statistics, hints
            with engine.connect() as connection:
                connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                    text("VACUUM ANALYZE")
                )
        with sessions() as session:
            ids = session.scalars(select(Detainee.id)).all()
        app = create_app(config)
        rows = []
        try:
            admin, nurse, casablanca = (logged_in(app, name) for name in USERS)
            PROFILES.clear()
            rows.append(
                row("dashboard, all establishments", timed(admin, ["/dashboard"] * requests))
            )
            rows.append(row("dashboard, health staff", timed(nurse, ["/dashboard"] * requests)))
            rows.append(
                row("dashboard, one establishment", timed(casablanca, ["/dashboard"] * requests))
            )
            rows.append(
                row(
                    "dashboard, all establishments, profile read afresh",
                    timed(admin, ["/dashboard"] * fresh, before=PROFILES.clear),
                )
            )
            if has_file_page(app):
                files = [f"/detainees/{i}" for i in rng.choices(ids, k=requests)]
                rows.append(row("detainee file", timed(admin, files)))
            else:
                rows.append("| detainee file | the page /detainees/<id> is missing | | | |")
        finally:
            for each in app.extensions["masar_engines"]:
                each.dispose()
            engine.dispose()
    print(f"| {kind} ({detainees:,} detainees) | p50 | p95 | max | p95 <= {TARGET_MS:.0f} ms |")
    print("|---|---|---|---|---|")
    print("\n".join(rows), flush=True)
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--detainees", type=int, default=100_000)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--requests", type=int, default=200, help="per timed page")
    parser.add_argument(
        "--fresh", type=int, default=30, help="dashboards timed with the profile read afresh"
    )
    args = parser.parse_args()
    print(machine())
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    for kind in kinds:
        run(kind, args.detainees, args.requests, args.fresh)


if __name__ == "__main__":
    main()
