"""The hub's JSON API under /api/v1, and its OpenAPI document at /api/v1/openapi.json.

Each module declares its routes on its own ``Api``; ``ROUTES`` lists them all, and both
the Flask routes and the OpenAPI document are made from that one list.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask
from sqlalchemy.orm import Session, sessionmaker

from hub import __version__
from hub.api import (
    audit,
    detainees,
    devices,
    health,
    movements,
    people,
    plans,
    questionnaires,
    subject_access,
    training,
)
from hub.api.core import Api, openapi_document

ROUTES: tuple[Api, ...] = (
    people.api,
    detainees.api,
    questionnaires.api,
    training.api,
    health.api,
    movements.api,
    plans.api,
    audit.api,
    devices.api,
    subject_access.api,
)
PREFIX = "/api/v1"


def all_routes() -> Api:
    merged = Api(prefix=PREFIX)
    for routes in ROUTES:
        merged.operations.extend(routes.operations)
        merged.views.extend(routes.views)
    return merged


def openapi() -> dict[str, Any]:
    return openapi_document(all_routes(), __version__)


def install_api(app: Flask, sessions: sessionmaker[Session], audit_key: bytes) -> None:
    blueprint = Blueprint("api", __name__, url_prefix=PREFIX)
    all_routes().install(blueprint, sessions, audit_key)
    document = openapi()
    blueprint.add_url_rule("/openapi.json", "openapi", lambda: document, methods=["GET"])
    app.register_blueprint(blueprint)
