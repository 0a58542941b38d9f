"""Shared fixtures: a real Mosquitto per test, real SQLite files, a real PostgreSQL database."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from hub.db import open_engine, session_factory, upgrade
from masar.processes import stop
from masar.scratch import (
    DEFAULT_POSTGRES_ADMIN_URL,
    ScratchError,
    postgres_database,
    spawn_ingest_worker,
)
from provisioning.broker import LocalBroker
from tests.shared_data import SHARED


def pytest_sessionstart(session: pytest.Session) -> None:
    """Say plainly where the recorded data should be, rather than fail test by test."""
    if not (SHARED / "README.md").is_file():
        raise pytest.UsageError(
            f"the recorded test data is not at {SHARED}: the tests read faces, fingerprints "
            "and models from ../shared beside the repository, or from $MASAR_SHARED"
        )


POSTGRES_ADMIN_URL = os.environ.get("MASAR_TEST_POSTGRES_URL", DEFAULT_POSTGRES_ADMIN_URL)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A Mosquitto of our own on a free loopback port (plain TCP, anonymous)."""
    with LocalBroker(tmp_path / "broker") as running:
        yield running


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The hub's database: every hub test runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/hub.db"
        return
    try:
        with postgres_database(POSTGRES_ADMIN_URL) as url:
            yield url
    except ScratchError as exc:
        pytest.fail(str(exc))


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
def hub_db(database_url: str) -> Iterator[Engine]:
    """An engine on the hub's test database, for the test's own queries."""
    engine = open_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions on a migrated hub database (SQLite and PostgreSQL)."""
    engine = open_engine(database_url)
    upgrade(engine)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def spawn_worker(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start `masar hub ingest` processes; all are stopped at the end of the test."""
    started: list[subprocess.Popen[bytes]] = []

    def _spawn(config: Path, name: str = "1") -> subprocess.Popen[bytes]:
        process = spawn_ingest_worker(config, name, tmp_path / f"ingest-{name}.log")
        started.append(process)
        return process

    yield _spawn
    for process in started:
        stop(process)
