"""Shared fixtures: a real Mosquitto per test, real SQLite files, a real PostgreSQL database."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from masar.processes import spawn_masar, stop
from provisioning.broker import LocalBroker

POSTGRES_ADMIN_URL = os.environ.get(
    "MASAR_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A Mosquitto of our own on a free loopback port (plain TCP, anonymous)."""
    with LocalBroker(tmp_path / "broker") as running:
        yield running


def _postgres_database() -> Iterator[str]:
    admin = make_url(POSTGRES_ADMIN_URL)
    name = f"masar_test_{secrets.token_hex(6)}"
    try:
        connection = psycopg.connect(
            host=admin.host, port=admin.port or 5432, user=admin.username,
            dbname=admin.database or "postgres", autocommit=True,
        )
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL} ({exc}). "
            "Run the tests with ./dev.sh test, which starts it, or set MASAR_TEST_POSTGRES_URL."
        )
    with connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(drivername="postgresql+psycopg", database=name).render_as_string(
            hide_password=False
        )
    finally:
        with psycopg.connect(
            host=admin.host, port=admin.port or 5432, user=admin.username,
            dbname=admin.database or "postgres", autocommit=True,
        ) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The hub's database: every hub test runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/hub.db"
    else:
        yield from _postgres_database()


def write_hub_config(path: Path, database_url: str, broker: LocalBroker, batch: int = 100) -> Path:
    path.write_text(
        f'database_url = "{database_url}"\n\n[broker]\nhost = "127.0.0.1"\nport = {broker.port}\n'
        f"\n[ingest]\nbatch = {batch}\n"
    )
    return path


@pytest.fixture
def hub_config_file(tmp_path: Path, database_url: str, broker: LocalBroker) -> Path:
    return write_hub_config(tmp_path / "hub.toml", database_url, broker)


@pytest.fixture
def spawn_worker(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start `masar hub ingest` processes; all are stopped at the end of the test."""
    started: list[subprocess.Popen[bytes]] = []

    def _spawn(config: Path, name: str = "1") -> subprocess.Popen[bytes]:
        """Start a worker and return once it has subscribed (its log says so)."""
        log = tmp_path / f"ingest-{name}.log"
        already = log.read_text().count("subscribed") if log.exists() else 0
        process = spawn_masar(["hub", "ingest", "--config", str(config), "--name", name], log)
        started.append(process)
        deadline = time.monotonic() + 30
        while log.read_text().count("subscribed") < already + 2:  # events and statuses
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"ingest worker {name} did not start:\n{log.read_text()}")
            time.sleep(0.05)
        return process

    yield _spawn
    for process in started:
        stop(process)
