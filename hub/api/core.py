"""The JSON API's plumbing: one decorator declares a route's method, path, permission,
body and response models; from the same declarations come the checks every call gets
(login, CSRF, role, body validation, one transaction) and the OpenAPI document.

Authentication: ``POST /api/v1/session`` returns a token and sets it as an HttpOnly,
SameSite=Strict cookie. A browser sends the cookie and, on any change, the CSRF token in
``X-CSRF-Token``; other clients send ``Authorization: Bearer <token>`` (no cookie, so no
CSRF to fear).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hub.access import refusal
from hub.audit import Trail
from hub.models import Detainee, User
from hub.roles import PERMISSIONS
from hub.users import authenticate
from protocol.codec import explain

COOKIE = "masar_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
M = TypeVar("M", bound=BaseModel)


class ApiError(Exception):
    """Stops a call with an HTTP status and a message in plain words."""

    def __init__(self, status: int, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.fields = status, message, fields


@dataclass
class Call:
    """What a route gets: the transaction, who is calling, and their audit trail."""

    session: Session
    user: User
    trail: Trail

    def detainee(self, detainee_id: str) -> Detainee:
        """The detainee, if this user may see them (users tied to a site see only it)."""
        detainee = self.session.get(Detainee, detainee_id)
        if detainee is None or (self.user.site is not None and detainee.site != self.user.site):
            raise ApiError(404, f"no detainee with Masar id {detainee_id!r}")
        return detainee

    def own_site(self, site: str | None) -> None:
        """Users tied to an establishment act only within it."""
        if self.user.site is not None and self.user.site != site:
            raise ApiError(403, f"you work at {self.user.site}; {site} is another establishment")


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # Flask syntax: /detainees/<detainee_id>
    permission: str | None  # None: no login needed
    summary: str
    tag: str
    body: type[BaseModel] | None
    body_media: str | None
    response: Any  # a model, list[model], or None for 204
    status: int
    query: type[BaseModel] | None
    produces: str | None  # a media type for a non-JSON response (PDF, CSV)


@dataclass
class Api:
    """Routes declared with ``@api.route``; ``install`` puts them on a Flask app."""

    prefix: str = "/api/v1"
    operations: list[Operation] = field(default_factory=list)
    views: list[tuple[Operation, Callable[..., Any]]] = field(default_factory=list)

    def route(
        self,
        method: str,
        path: str,
        *,
        permission: str | None,
        summary: str,
        tag: str,
        body: type[BaseModel] | None = None,
        body_media: str | None = None,
        response: Any = None,
        status: int = 200,
        query: type[BaseModel] | None = None,
        produces: str | None = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        if permission is not None and permission not in PERMISSIONS:
            raise KeyError(f"unknown permission {permission!r}")
        operation = Operation(
            method,
            path,
            permission,
            summary,
            tag,
            body,
            body_media,
            response,
            status,
            query,
            produces,
        )

        def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
            self.operations.append(operation)
            self.views.append((operation, view))
            return view

        return decorate

    def install(self, blueprint: Blueprint, sessions: sessionmaker[Session], key: bytes) -> None:
        for operation, view in self.views:
            endpoint = f"{operation.method.lower()}_{view.__name__}"
            blueprint.add_url_rule(
                operation.path,
                endpoint,
                _handler(operation, view, sessions, key),
                methods=[operation.method],
            )


def _token() -> tuple[str | None, bool]:
    """The session token and whether it came from the cookie (which needs CSRF)."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header.removeprefix("Bearer ").strip(), False
    return request.cookies.get(COOKIE), True


def _validation_error(exc: ValidationError) -> ApiError:
    fields = {}
    for problem in exc.errors(include_url=False):
        name = ".".join(str(part) for part in problem["loc"]) or "form"
        fields[name] = problem["msg"].removeprefix("Value error, ")
    sentences = explain(exc)
    return ApiError(422, "; ".join(sentences), fields)


def parse(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(exc) from None


def _body(operation: Operation) -> Any:
    if operation.body_media is not None:
        if request.mimetype != operation.body_media:
            raise ApiError(415, f"send the file as {operation.body_media}")
        return request.get_data()
    if operation.body is None:
        return None
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError(400, "the request body must be a JSON object")
    return parse(operation.body, data)


def _dump(response_type: Any, result: Any) -> Any:
    return _adapter(response_type).dump_python(result, mode="json")


@functools.cache
def _adapter(response_type: Any) -> TypeAdapter[Any]:
    """Built once per response type: building one costs more than the dump itself."""
    return TypeAdapter(response_type)


def _refusal(
    session: Session, key: bytes, user: User | None, operation: Operation, path_args: dict[str, Any]
) -> ApiError | None:
    """Why this user may not make this call, if they may not (hub.access; a refused attempt
    at health data is audited, and committed: the refusal stands)."""
    if user is None or operation.permission is None:
        return None
    message = refusal(
        session,
        key,
        user,
        operation.permission,
        method=operation.method,
        path=request.path,
        subject=path_args.get("detainee_id"),
    )
    return None if message is None else ApiError(403, message)


def _handler(
    operation: Operation,
    view: Callable[..., Any],
    sessions: sessionmaker[Session],
    key: bytes,
) -> Callable[..., Response | tuple[Response, int]]:
    def handle(**path_args: Any) -> Response | tuple[Response, int]:
        try:
            with sessions.begin() as session:
                user = _login(session, operation)  # before looking at the request's content
                refused = _refusal(session, key, user, operation, path_args)
                if refused is None:
                    arguments = dict(path_args)
                    body = _body(operation)
                    if body is not None:
                        arguments["body"] = body
                    if operation.query is not None:
                        arguments["query"] = parse(operation.query, request.args.to_dict())
                    if user is None:
                        result = view(session, **arguments)
                    else:
                        call = Call(session, user, Trail(key, f"user:{user.id}"))
                        result = view(call, **arguments)
                    if not isinstance(result, Response) and operation.response is not None:
                        result = _dump(operation.response, result)
            if refused is not None:
                raise refused
            if isinstance(result, Response):
                return result
            if operation.response is None:
                return Response(status=204)
            return jsonify(result), operation.status
        except ApiError as exc:
            error: dict[str, Any] = {"error": exc.message}
            if exc.fields:
                error["fields"] = exc.fields
            return jsonify(error), exc.status
        except LookupError as exc:
            return jsonify({"error": str(exc).strip("'\"")}), 404
        except PermissionError as exc:
            return jsonify({"error": str(exc)}), 403
        except IntegrityError:
            message = "this conflicts with a record saved at the same time; reload and try again"
            return jsonify({"error": message}), 409
        except (DataError, OverflowError):  # PostgreSQL's and SQLite's refusal of a value
            message = "a value is too large, or holds a NUL character (\\u0000), to be stored"
            return jsonify({"error": message}), 422
        except ValueError as exc:
            return jsonify({"error": str(exc)}), 400

    return handle


def _login(session: Session, operation: Operation) -> User | None:
    if operation.permission is None:
        return None
    token, from_cookie = _token()
    if not token:
        raise ApiError(401, "log in first")
    found = authenticate(session, token)
    if found is None:
        raise ApiError(401, "your session has ended; log in again")
    user, web_session = found
    if from_cookie and request.method not in SAFE_METHODS:
        sent = request.headers.get("X-CSRF-Token", "")
        if not sent or sent != web_session.csrf_token:
            raise ApiError(403, "the form is out of date (CSRF check failed); reload the page")
    return user


# --- OpenAPI ----------------------------------------------------------------------------------

_PARAMETER = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")


def openapi_path(path: str) -> str:
    return _PARAMETER.sub(r"{\1}", path)


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "what went wrong, in plain words"},
        "fields": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}


def openapi_document(api: Api, version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every declared route."""
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
    ref = "#/components/schemas/{model}"

    def schema_of(type_: Any, mode: str) -> dict[str, Any]:
        schema = TypeAdapter(type_).json_schema(ref_template=ref, mode=mode)  # type: ignore[arg-type]
        components.update(schema.pop("$defs", {}))
        return schema

    paths: dict[str, Any] = {}
    for operation in api.operations:
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        responses: dict[str, Any] = {}
        if operation.produces is not None:
            responses[str(operation.status)] = {
                "description": "the file",
                "content": {operation.produces: {"schema": {"type": "string", "format": "binary"}}},
            }
        elif operation.response is None:
            responses["204"] = {"description": "done"}
        else:
            responses[str(operation.status)] = {
                "description": "done",
                "content": {
                    "application/json": {"schema": schema_of(operation.response, "serialization")}
                },
            }
        for status, meaning in (
            ("400", "the request cannot be done as asked"),
            ("401", "not logged in"),
            ("403", "not allowed for your role"),
            ("404", "no such record"),
            ("409", "conflicts with another change"),
            ("410", "no longer valid (an expired enrolment token)"),
            ("413", "the upload is too large"),
            ("415", "wrong media type"),
            ("422", "a field is wrong; `fields` names each"),
            ("429", "too many failed logins; see Retry-After"),
            ("503", "the hub is not set up for this (e.g. no CA for enrolment)"),
        ):
            responses[status] = {"description": meaning, "content": error}
        entry: dict[str, Any] = {
            "summary": operation.summary,
            "tags": [operation.tag],
            "operationId": f"{operation.method.lower()}{openapi_path(operation.path)}".replace(
                "/", "_"
            )
            .replace("{", "")
            .replace("}", ""),
            "responses": responses,
            "security": [] if operation.permission is None else [{"cookie": []}, {"bearer": []}],
        }
        if operation.permission is not None:
            entry["x-permission"] = operation.permission
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _PARAMETER.findall(operation.path)
        ]
        if operation.query is not None:
            query_schema = schema_of(operation.query, "validation")
            required = set(query_schema.get("required", []))
            for name, prop in query_schema.get("properties", {}).items():
                parameters.append(
                    {"name": name, "in": "query", "required": name in required, "schema": prop}
                )
        if parameters:
            entry["parameters"] = parameters
        if operation.body_media is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {
                    operation.body_media: {"schema": {"type": "string", "format": "binary"}}
                },
            }
        elif operation.body is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {"schema": schema_of(operation.body, "validation")}
                },
            }
        paths.setdefault(api.prefix + openapi_path(operation.path), {})[
            operation.method.lower()
        ] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": "Masar hub API", "version": version},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "cookie": {"type": "apiKey", "in": "cookie", "name": COOKIE},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }
