"""The audit chain detects any edited, inserted or deleted entry, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from hub import audit
from hub.db import open_engine, upgrade
from masar.cli import cli


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = open_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def key(tmp_path: Path) -> bytes:
    return audit.load_key(tmp_path / "audit.key")


def fill(engine: Engine, key: bytes, count: int = 5) -> None:
    for n in range(count):
        with Session(engine) as session, session.begin():
            audit.record(
                session,
                key,
                actor="registrar-1",
                action="detainee.update",
                subject=f"m{n:05d}",
                details={"field": "name_latin", "n": n, "note": "<script>'; DROP TABLE x;--"},
            )


def check(engine: Engine, key: bytes) -> audit.Verification:
    with Session(engine) as session:
        return audit.verify(session, key)


def test_an_intact_log_verifies(engine: Engine, key: bytes) -> None:
    assert check(engine, key) == audit.Verification(True, 0)
    fill(engine, key)
    assert check(engine, key) == audit.Verification(True, 5)


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        (
            "UPDATE audit_log SET actor = 'someone-else' WHERE id = 3",
            "audit entry 3 was changed, or an entry before it was deleted",
        ),
        (
            "DELETE FROM audit_log WHERE id = 2",
            "audit entry 3 was changed, or an entry before it was deleted",
        ),
        ("DELETE FROM audit_log WHERE id = 5", "the newest audit entries were deleted"),
    ],
    ids=["edited", "deleted-in-the-middle", "deleted-at-the-end"],
)
def test_tampering_is_detected(engine: Engine, key: bytes, tamper: str, problem: str) -> None:
    fill(engine, key)
    with engine.begin() as connection:
        connection.execute(text(tamper))
    result = check(engine, key)
    assert not result.ok and result.problem == problem


def test_a_forged_chain_without_the_key_fails(engine: Engine, key: bytes) -> None:
    fill(engine, key, 3)
    assert not check(engine, b"x" * 32).ok


def test_the_cli_exits_1_on_a_broken_chain(
    engine: Engine, key: bytes, tmp_path: Path, database_url: str
) -> None:
    fill(engine, key, 3)
    config = tmp_path / "hub.toml"
    config.write_text(f'database_url = "{database_url}"\naudit_key_file = "{tmp_path}/audit.key"\n')
    runner = CliRunner()
    ok = runner.invoke(cli, ["hub", "audit", "verify", "--config", str(config)])
    assert ok.exit_code == 0 and ok.output == "audit log intact: 3 entries\n"
    with engine.begin() as connection:
        connection.execute(text("UPDATE audit_log SET details = '{}' WHERE id = 2"))
    broken = runner.invoke(cli, ["hub", "audit", "verify", "--config", str(config)])
    assert broken.exit_code == 1
    assert "audit entry 2 was changed" in broken.output
    # A forgotten --config must not check (and so make) an empty hub and call it intact.
    elsewhere = tmp_path / "no-hub.toml"
    elsewhere.write_text(f'database_url = "sqlite:///{tmp_path}/none.db"\n')
    missing = runner.invoke(cli, ["hub", "audit", "verify", "--config", str(elsewhere)])
    assert missing.exit_code == 1 and "there is no hub database at" in missing.output
    assert not (tmp_path / "none.db").exists()
