"""The hub's web pages through Flask's test client: a browser that logs in through the login
form, the CSRF token of a page, and a seeded hub shared by a module's tests (seeding and
password hashing are what cost), on SQLite or PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from hub.app import create_app
from hub.audit import Trail, load_key
from hub.config import HubConfig
from hub.db import open_engine, session_factory, upgrade
from hub.seed import seed
from hub.users import create_user
from masar.scratch import ScratchError, postgres_database
from tests.api_client import PASSWORD
from tests.conftest import POSTGRES_ADMIN_URL

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def token_of(page: str) -> str:
    """The CSRF token a page's forms carry."""
    found = TOKEN.search(page)
    assert found, "the page has no CSRF token"
    return found.group(1)


def logged_in(app: Flask, username: str, password: str = PASSWORD) -> FlaskClient:
    """A browser logged in through the login form."""
    client = app.test_client()
    token = token_of(client.get("/login").text)
    answer = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )
    assert answer.status_code == 302, answer.text
    return client


@dataclass
class WebHub:
    app: Flask
    sessions: sessionmaker[Session]
    key: bytes

    def client(self, username: str) -> FlaskClient:
        return logged_in(self.app, username)

    def trail(self) -> Trail:
        return Trail(self.key, "system:test")


@contextmanager
def module_database(kind: str, folder: Path) -> Iterator[str]:
    """Like tests/conftest.py's ``database_url``, for a whole module."""
    if kind == "sqlite":
        yield f"sqlite:///{folder}/hub.db"
        return
    try:
        with postgres_database(POSTGRES_ADMIN_URL) as url:
            yield url
    except ScratchError as exc:
        pytest.fail(str(exc))


@contextmanager
def seeded_hub(
    kind: str, folder: Path, users: dict[str, dict[str, Any]], detainees: int = 60
) -> Iterator[WebHub]:
    """A hub app on ``detainees`` seeded people and ``users`` (user name -> create_user
    fields, password PASSWORD), on SQLite or PostgreSQL (``kind``)."""
    with module_database(kind, folder) as database_url:
        engine = open_engine(database_url)
        upgrade(engine)
        key = load_key(folder / "audit.key")
        seed(engine, detainees=detainees, key=key)
        with session_factory(engine).begin() as session:
            for username, fields in users.items():
                create_user(
                    session,
                    Trail(key, "system:test"),
                    username=username,
                    name=username.title(),
                    password=PASSWORD,
                    **fields,
                )
        engine.dispose()
        config = HubConfig(database_url=database_url, audit_key_file=folder / "audit.key")
        app = create_app(config)
        try:
            yield WebHub(app, session_factory(app.extensions["masar_engines"][1]), key)
        finally:
            for engine in app.extensions["masar_engines"]:
                engine.dispose()
