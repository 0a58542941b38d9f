"""Logging in and out, and the hub's users."""

from __future__ import annotations

from flask import Response, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import users
from hub.api.core import COOKIE, Api, Call
from hub.api.schemas import Credentials, LoginOut, UserIn, UserOut, out
from hub.models import User

api = Api()


@api.route(
    "POST",
    "/session",
    permission=None,
    summary="Log in: a new session (cookie and bearer token) and its CSRF token",
    tag="session",
    body=Credentials,
    response=LoginOut,
)
def log_in(session: Session, body: Credentials) -> Response:
    try:
        login = users.login(session, body.username, body.password, request.remote_addr or "?")
    except users.LoginRefused as refused:
        # Returned, not raised: the failure count must commit.
        response = jsonify({"error": str(refused)})
        response.status_code = 429 if refused.retry_after else 401
        if refused.retry_after:
            response.headers["Retry-After"] = str(refused.retry_after)
        return response
    payload = LoginOut(
        token=login.token, csrf_token=login.web_session.csrf_token, user=out(UserOut, login.user)
    )
    response = jsonify(payload.model_dump(mode="json"))
    response.set_cookie(
        COOKIE,
        login.token,
        httponly=True,
        samesite="Strict",
        secure=request.is_secure,
        max_age=int(users.LIFETIME.total_seconds()),
    )
    return response


@api.route(
    "DELETE",
    "/session",
    permission="session.own",
    summary="Log out: the session ends on the hub",
    tag="session",
)
def log_out(call: Call) -> Response:
    token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    users.logout(call.session, token or request.cookies.get(COOKIE, ""))
    response = Response(status=204)
    response.delete_cookie(COOKIE)
    return response


@api.route(
    "GET",
    "/me",
    permission="session.own",
    summary="Who is logged in",
    tag="session",
    response=UserOut,
)
def me(call: Call) -> UserOut:
    return out(UserOut, call.user)


@api.route(
    "GET",
    "/users",
    permission="users.manage",
    summary="Every user",
    tag="users",
    response=list[UserOut],
)
def list_users(call: Call) -> list[UserOut]:
    return [out(UserOut, u) for u in call.session.scalars(select(User).order_by(User.username))]


@api.route(
    "POST",
    "/users",
    permission="users.manage",
    summary="Create a user with a role",
    tag="users",
    body=UserIn,
    response=UserOut,
    status=201,
)
def create_user(call: Call, body: UserIn) -> UserOut:
    user = users.create_user(call.session, call.trail, **body.model_dump())
    return out(UserOut, user)
