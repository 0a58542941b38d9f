"""Schemathesis against the hub's own OpenAPI document (``/api/v1/openapi.json``), on SQLite
and PostgreSQL: every operation gets requests that fit its schema and requests that do not,
sent as a user whose role holds the operation's permission. No answer may be a 5xx, every
status and JSON body must be the ones the document declares, and a route that needs a login
must refuse a request without one, with an ended session, and (cookie) without the CSRF
header on a change.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from hub import users
from hub.api import PREFIX, openapi
from hub.api.core import COOKIE, SAFE_METHODS
from hub.config import BrokerConfig, FleetConfig
from hub.questionnaires import FORMS_DIR
from hub.roles import PERMISSIONS, ROLES
from provisioning.broker import LocalBroker
from provisioning.ca import SiteCA
from tests.api_client import PASSWORD, Hub, running_hub
from tests.factories import admit

EXAMPLES = 10  # per operation and per mode (fits the schema, breaks it), on each database
# Schemathesis's own ignored_auth check takes the random session cookie it generates for
# "invalid auth" while our valid Bearer token is sent too: the explicit probes below do it.
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
DETAINEE = "d-0001"
SITE = "rabat-1"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SHIPPED = sorted(FORMS_DIR.glob("*.xlsx"))
schemathesis.serializer.alias(XLSX, "application/octet-stream")  # an upload is its bytes


@pytest.fixture
def hub(database_url: str, tmp_path: Path, broker: LocalBroker) -> Iterator[Hub]:
    """A hub set up for everything: a site CA to enrol kiosks, a broker to command them."""
    fleet = FleetConfig(ca_dir=SiteCA.create(tmp_path / "ca", SITE).folder)
    with running_hub(
        database_url, tmp_path, fleet=fleet, broker=BrokerConfig(port=broker.port)
    ) as running:
        for role in ROLES:
            running.add_user(role.replace("_", "-"), role, **_ties(role))
        with running.sessions.begin() as session:
            admit(session, DETAINEE, site=SITE)
        yield running


def _ties(role: str) -> dict[str, Any]:
    return {"partner": "fondation-x"} if role == "partner" else {}


def token(hub: Hub, role: str) -> str:
    """A fresh session, opened the way the login route opens one."""
    with hub.sessions.begin() as session:
        return users.login(session, role.replace("_", "-"), PASSWORD, "fixture").token


def holder(permission: str) -> str:
    return sorted(PERMISSIONS[permission])[0]


# Loaded once: building the strategies costs more than the requests (the document is the one
# /api/v1/openapi.json serves, see tests/unit/test_api.py).
SCHEMA = schemathesis.openapi.from_dict(openapi())
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
STRATEGIES: dict[tuple[str, GenerationMode], Any] = {}


def test_no_5xx_and_every_answer_as_documented(hub: Hub) -> None:
    tokens = {role: token(hub, role) for role in ROLES}
    sent: Counter[str] = Counter()
    operations = OPERATIONS
    assert len(operations) >= 40

    for operation in operations:
        headers = credentials(hub, tokens, operation)
        modes = [GenerationMode.POSITIVE]
        if len(operation.query) or len(operation.body):  # any path text fits: nothing to break
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:
            _runner(hub, operation, mode, headers, sent)()
    print(f"\nschemathesis: {len(operations)} operations, {sum(sent.values())} requests")
    assert sum(sent.values()) >= len(operations) * EXAMPLES


def credentials(hub: Hub, tokens: dict[str, str], operation: Any) -> Callable[[], dict[str, str]]:
    """The headers of a user whose role holds the operation's permission."""
    permission = operation.definition.raw.get("x-permission")
    fresh = operation.method.upper() == "DELETE" and operation.path == f"{PREFIX}/session"

    def headers() -> dict[str, str]:
        if permission is None:
            return {}
        role = holder(permission)
        bearer = token(hub, role) if fresh else tokens[role]  # logging out ends a session
        return {"Authorization": f"Bearer {bearer}"}

    return headers


def _runner(
    hub: Hub,
    operation: Any,
    mode: GenerationMode,
    headers: Callable[[], dict[str, str]],
    sent: Counter[str],
) -> Callable[[], None]:
    key = (operation.label, mode)
    if key not in STRATEGIES:
        STRATEGIES[key] = operation.as_strategy(generation_mode=mode)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        case=STRATEGIES[key],
        known=st.booleans(),
        form=st.sampled_from(SHIPPED),
    )
    def run(case: Any, known: bool, form: Path) -> None:
        if known and case.path_parameters and "detainee_id" in case.path_parameters:
            case.path_parameters["detainee_id"] = DETAINEE  # reach past the 404 too
        if known and case.media_type == XLSX:
            case.body = form.read_bytes()  # a real form, besides random bytes
        bodies = [case.body]
        if isinstance(case.body, dict) and case.media_type == "application/json":
            bodies.append(hostile(case.body))  # what PostgreSQL or SQLite cannot store
        for body in bodies:
            case.body = body
            sent[operation.label] += 1
            sending = headers()
            response = case.call(app=hub.app, headers=sending)
            case.validate_response(
                response, checks=CHECKS, headers=sending, transport_kwargs={"app": hub.app}
            )

    return run


def hostile(value: Any) -> Any:
    """The same body with a NUL in every text and 10**30 for every whole number."""
    if isinstance(value, dict):
        return {key: hostile(item) for key, item in value.items()}
    if isinstance(value, list):
        return [hostile(item) for item in value]
    if isinstance(value, str):
        return value + "\x00"
    if isinstance(value, int) and not isinstance(value, bool):
        return 10**30
    return value


def test_every_route_that_needs_a_login_refuses_without_one(hub: Hub) -> None:
    document = hub.client().get(f"{PREFIX}/openapi.json").get_json()
    ended = token(hub, "admin")
    with hub.sessions.begin() as session:
        users.logout(session, ended)
    cookie_session = token(hub, "admin")
    client = hub.app.test_client()
    checked = 0
    for template, operations in document["paths"].items():
        for method, entry in operations.items():
            if "x-permission" not in entry:
                assert entry["security"] == [], f"{method} {template} is open but not declared so"
                continue
            assert entry["security"], f"{method} {template} needs a login but says none"
            path = re.sub(r"\{[a-z_]+\}", "1", template)  # "1" fits <int:…> and text alike
            for name, answer in [
                ("no credentials", client.open(path, method=method.upper())),
                (
                    "an ended session",
                    client.open(
                        path, method=method.upper(), headers={"Authorization": f"Bearer {ended}"}
                    ),
                ),
                (
                    "a made-up token",
                    client.open(
                        path, method=method.upper(), headers={"Authorization": "Bearer " + "x" * 43}
                    ),
                ),
            ]:
                assert answer.status_code == 401, f"{method} {template} with {name}"
                assert answer.get_json()["error"]
            if method.upper() not in SAFE_METHODS:
                client.set_cookie(COOKIE, cookie_session)
                forged = client.open(path, method=method.upper(), json={})
                client.delete_cookie(COOKIE)
                assert forged.status_code == 403, f"{method} {template} took a cookie without CSRF"
                assert "CSRF" in forged.get_json()["error"]
            checked += 1
    assert checked >= 40
