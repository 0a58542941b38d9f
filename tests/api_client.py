"""A test client for the hub's JSON API that checks every answer against the OpenAPI
document: the status must be declared for the route, and a JSON body must match its schema."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jsonschema
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from hub.api import openapi
from hub.app import create_app
from hub.audit import Trail, load_key
from hub.config import HubConfig
from hub.db import open_engine, session_factory
from hub.users import create_user

PASSWORD = "correct horse battery"


def _operation(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    for template, operations in document["paths"].items():
        pattern = "^" + re.sub(r"\\{[a-z_]+\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path) and method.lower() in operations:
            return operations[method.lower()]  # type: ignore[no-any-return]
    raise AssertionError(f"{method} {path} is not in the OpenAPI document")


class ApiClient:
    def __init__(self, app: Flask, document: dict[str, Any]) -> None:
        self.app, self.document = app, document
        self.client: FlaskClient = app.test_client()
        self.token: str | None = None

    def login(self, username: str, password: str = PASSWORD) -> TestResponse:
        answer = self.call(
            "POST", "/api/v1/session", json={"username": username, "password": password}
        )
        if answer.status_code == 200:
            self.token = answer.get_json()["token"]
        return answer

    def call(self, method: str, path: str, *, bearer: bool = True, **kwargs: Any) -> TestResponse:
        headers = dict(kwargs.pop("headers", {}))
        if bearer and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        answer = self.client.open(path, method=method, headers=headers, **kwargs)
        self.check(method, path.split("?")[0], answer)
        return answer

    def check(self, method: str, path: str, answer: TestResponse) -> None:
        if not path.startswith("/api/v1/") or path == "/api/v1/openapi.json":
            return
        operation = _operation(self.document, method, path)
        declared = operation["responses"].get(str(answer.status_code))
        assert declared is not None, f"{method} {path} answered {answer.status_code}, undeclared"
        content = declared.get("content", {})
        if "application/json" in content:
            schema = dict(content["application/json"]["schema"])
            schema["components"] = self.document["components"]
            jsonschema.Draft202012Validator(schema).validate(answer.get_json())

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> TestResponse:
        return self.call("POST", path, **kwargs)


class Hub:
    """A hub app on a test database, its sessions and a way to add users."""

    def __init__(self, database_url: str, tmp_path: Path, **settings: Any) -> None:
        self.config = HubConfig(
            database_url=database_url, audit_key_file=tmp_path / "audit.key", **settings
        )
        self.app = create_app(self.config)
        self.engine = open_engine(database_url)
        self.sessions: sessionmaker[Session] = session_factory(self.engine)
        self.key = load_key(self.config.audit_key_file)
        self.document = openapi()

    def add_user(self, username: str, role: str, **fields: Any) -> str:
        with self.sessions.begin() as session:
            user = create_user(
                session,
                Trail(self.key, "system:test"),
                username=username,
                name=username.title(),
                role=role,
                password=PASSWORD,
                **fields,
            )
            return user.id

    def client(self, username: str | None = None) -> ApiClient:
        client = ApiClient(self.app, self.document)
        if username is not None:
            assert client.login(username).status_code == 200
        return client

    def close(self) -> None:
        self.engine.dispose()
        for engine in self.app.extensions["masar_engines"]:
            engine.dispose()


@contextmanager
def running_hub(database_url: str, tmp_path: Path, **settings: Any) -> Iterator[Hub]:
    """A hub on ``database_url``; ``settings`` are more HubConfig fields (broker, fleet)."""
    hub = Hub(database_url, tmp_path, **settings)
    try:
        yield hub
    finally:
        hub.close()
