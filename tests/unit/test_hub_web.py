"""The web pages' gate, on SQLite and PostgreSQL: login (throttled, with its own CSRF token,
``next`` only on this hub), each role's navigation, CSRF on every form, logout, language."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from hub.app import create_app
from hub.audit import Trail, load_key
from hub.config import HubConfig
from hub.db import open_engine, session_factory, upgrade
from hub.models import AuditEntry, User
from hub.users import create_user
from tests.web_hub import PASSWORD, token_of


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    engine = open_engine(database_url)
    upgrade(engine)
    key = load_key(tmp_path / "audit.key")
    with session_factory(engine).begin() as session:
        for username, role in (("ada", "admin"), ("rita", "registrar"), ("tom", "trainer")):
            create_user(
                session,
                Trail(key, "system:test"),
                username=username,
                name=username.title(),
                role=role,
                password=PASSWORD,
            )
    engine.dispose()
    app = create_app(HubConfig(database_url=database_url, audit_key_file=tmp_path / "audit.key"))
    yield app
    for engine in app.extensions["masar_engines"]:
        engine.dispose()


def log_in(client: FlaskClient, username: str, password: str = PASSWORD, next_: str = "") -> str:
    """Log in through the form; return where the hub sent us."""
    token = token_of(client.get("/login").text)
    answer = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token, "next": next_},
    )
    return answer.headers.get("Location", f"status {answer.status_code}")


def test_login_failures_are_explained_then_throttled(app: Flask) -> None:
    client = app.test_client()
    token = token_of(client.get("/login").text)
    wrong = client.post(
        "/login", data={"username": "Rita", "password": "nope", "csrf_token": token}
    )
    assert wrong.status_code == 401
    assert 'role="alert"' in wrong.text and 'value="rita"' in wrong.text  # what was typed stays
    assert "masar_session" not in wrong.headers.get("Set-Cookie", "")
    for _ in range(4):
        assert log_in(client, "rita", "nope") == "status 401"
    token = token_of(client.get("/login").text)
    locked = client.post(
        "/login", data={"username": "rita", "password": PASSWORD, "csrf_token": token}
    )
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert 'role="alert"' in locked.text


def test_the_login_form_needs_its_own_token(app: Flask) -> None:
    client = app.test_client()
    form = client.get("/login").text
    assert 'autocomplete="username"' in form and 'autocomplete="current-password"' in form
    forged = client.post("/login", data={"username": "ada", "password": PASSWORD})
    assert forged.status_code == 400
    assert "masar_session" not in forged.headers.get("Set-Cookie", "")


def test_next_is_followed_only_on_this_hub(app: Flask) -> None:
    assert log_in(app.test_client(), "ada", next_="/fleet") == "/fleet"
    elsewhere = log_in(app.test_client(), "ada", next_="//evil.example/")
    assert "evil" not in elsewhere


def test_each_role_sees_only_its_pages(app: Flask) -> None:
    admin, registrar = app.test_client(), app.test_client()
    log_in(admin, "ada")
    log_in(registrar, "rita")
    assert 'href="/fleet"' in admin.get("/fleet").text
    refused = registrar.get("/fleet")
    assert refused.status_code == 403
    assert 'href="/fleet"' not in refused.text
    assert registrar.get("/").status_code == 302  # to the first page of the role


def test_forms_need_the_session_token_and_logout_ends_the_session(app: Flask) -> None:
    client = app.test_client()
    log_in(client, "ada")
    page = client.get("/fleet").text
    assert client.post("/logout").status_code == 400  # no token: refused, still logged in
    assert client.get("/fleet").status_code == 200
    assert client.post("/logout", data={"csrf_token": token_of(page)}).status_code == 302
    assert client.get("/fleet").headers["Location"].startswith("/login")


def test_a_user_chooses_arabic_and_the_pages_turn_right_to_left(app: Flask) -> None:
    client = app.test_client()
    log_in(client, "ada")
    page = client.get("/fleet").text
    assert 'dir="ltr"' in page and 'lang="fr"' in page
    chosen = client.post(
        "/me/language", data={"language": "ar", "back": "/fleet", "csrf_token": token_of(page)}
    )
    assert chosen.headers["Location"] == "/fleet"
    assert 'dir="rtl"' in client.get("/fleet").text
    sessions = session_factory(app.extensions["masar_engines"][1])
    with sessions() as session:
        user = session.scalars(select(User).where(User.username == "ada")).one()
        assert user.language == "ar"
        assert (
            session.scalars(select(AuditEntry).where(AuditEntry.action == "user.language"))
            .one()
            .subject
            == user.id
        )
    stranger = app.test_client()
    stranger.post("/language", data={"language": "ar", "back": "/login"})
    assert 'dir="rtl"' in stranger.get("/login").text
