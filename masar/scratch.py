"""Throwaway databases and ingest workers for tests and benchmarks (never for production)."""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from masar.processes import spawn_masar

DEFAULT_POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


class ScratchError(RuntimeError):
    """A scratch resource could not be made; the message says what to do."""


def _admin(admin_url: str) -> psycopg.Connection[tuple[object, ...]]:
    url = make_url(admin_url)
    try:
        return psycopg.connect(
            host=url.host,
            port=url.port or 5432,
            user=url.username,
            password=url.password,
            dbname=url.database or "postgres",
            autocommit=True,
        )
    except psycopg.OperationalError as exc:
        raise ScratchError(
            f"PostgreSQL is not reachable at {admin_url} ({exc}). "
            "./dev.sh test starts it; or set MASAR_TEST_POSTGRES_URL."
        ) from None


@contextmanager
def postgres_database(admin_url: str = DEFAULT_POSTGRES_ADMIN_URL) -> Iterator[str]:
    """A new empty database, dropped afterwards; yields its SQLAlchemy URL."""
    name = f"masar_scratch_{secrets.token_hex(6)}"
    with _admin(admin_url) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield (
            make_url(admin_url)
            .set(drivername="postgresql+psycopg", database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        with _admin(admin_url) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def spawn_ingest_worker(config: Path, name: str, log: Path) -> subprocess.Popen[bytes]:
    """Start `masar hub ingest` and return once it has subscribed (its log says so)."""
    already = log.read_text().count("subscribed") if log.exists() else 0
    process = spawn_masar(["hub", "ingest", "--config", str(config), "--name", name], log)
    deadline = time.monotonic() + 30
    while log.read_text().count("subscribed") < already + 2:  # events and statuses
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise ScratchError(f"ingest worker {name} did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)
    return process


def random_face(seed: int) -> bytes:
    """A unit-length 512-float32 vector: the shape of a face template, for volume tests."""
    import numpy as np

    vector = np.random.default_rng(seed).standard_normal(512).astype(np.float32)
    return (vector / np.linalg.norm(vector)).astype(np.float32).tobytes()


def admit_wing(
    engine: Engine, site: str, device: str, wing: str, count: int, *, templates: int = 1
) -> None:
    """Register ``device`` on ``wing`` and admit ``count`` people with face templates and a
    badge each: m00000… with badges 00000000…, template n×templates+i from random_face."""
    from sqlalchemy.orm import Session

    from hub import roster

    with Session(engine) as session, session.begin():
        roster.register_device(session, site, device, wing, "self_service")
        for n in range(count):
            roster.admit(
                session,
                detainee_id=f"m{n:05d}",
                prison_number=f"P{n:05d}",
                name_latin=f"Person {n}",
                name_arabic=f"شخص {n}",
                site=site,
                wing=wing,
                badges=[f"{n:08X}"],
                templates=[
                    roster.TemplateRecord(
                        f"t{n:05d}-{i}",
                        "face",
                        "fr_feature.512.f32",
                        random_face(n * templates + i),
                    )
                    for i in range(templates)
                ],
            )
