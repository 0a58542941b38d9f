"""Conventions the code must keep: import boundaries, fresh schemas, documented commands."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import click
import pytest

from masar.cli import cli
from protocol.jsonschema import stale_schemas

ROOT = Path(__file__).resolve().parent.parent


def imported_roots(package: str) -> dict[str, set[str]]:
    """File → top-level modules it imports."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        roots: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                roots |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                roots.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = roots
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("kiosk", {"hub", "masar", "sqlalchemy", "alembic", "psycopg"}),
        ("hub", {"kiosk", "masar", "sqlite_utils"}),
        ("protocol", {"kiosk", "hub", "masar", "flask", "paho", "numpy", "sqlalchemy"}),
        ("provisioning", {"kiosk", "hub", "masar"}),
    ],
)
def test_import_boundaries(package: str, forbidden: set[str]) -> None:
    offenders = {
        f: sorted(r & forbidden) for f, r in imported_roots(package).items() if r & forbidden
    }
    assert offenders == {}


def test_paho_is_imported_in_one_module_per_side() -> None:
    for package, allowed in (
        ("kiosk", {"kiosk/bus.py"}),
        ("hub", {"hub/mqtt.py", "hub/worker.py"}),
    ):
        users = {f for f, roots in imported_roots(package).items() if "paho" in roots}
        assert users <= allowed


def test_json_schemas_match_the_models() -> None:
    assert stale_schemas() == [], "run: python -m protocol.jsonschema"


def all_commands(group: click.Group, prefix: str = "masar") -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = [(prefix, group)] if prefix == "masar" else []
    for name, command in group.commands.items():
        path = f"{prefix} {name}"
        found.append((path, command))
        if isinstance(command, click.Group):
            found += all_commands(command, path)
    return found


@pytest.mark.parametrize(
    ("path", "command"), all_commands(cli), ids=[p for p, _ in all_commands(cli)]
)
def test_every_command_has_help_and_is_in_the_readme(path: str, command: click.Command) -> None:
    assert command.help, f"{path} has no help text"
    assert "Example:" in command.help, f"{path} --help shows no example"
    assert re.search(rf"`{re.escape(path)}\b", (ROOT / "README.md").read_text()), (
        f"{path} is not documented in README.md"
    )
