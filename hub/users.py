"""Hub users, their logins and sessions, and the throttle against password guessing.

A login creates a new random session token (so a token planted before login is useless);
the database keeps only its SHA-256. Sessions end after 30 idle minutes or 12 hours.
Five failed logins for one user name, or twenty from one address, within 15 minutes lock
further tries for 15 minutes; a locked name is refused without looking at the password.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.audit import Trail
from hub.models import LoginThrottle, User, WebSession, as_utc
from hub.roles import ROLES
from protocol.ids import utc_now, uuid7
from protocol.pins import hash_secret, verify_secret

USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,62}")
MIN_PASSWORD = 10
IDLE = timedelta(minutes=30)
LIFETIME = timedelta(hours=12)
THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES = {"user": 5, "address": 20}
LANGUAGES = ("fr", "ar")
# Checked against when the user name is unknown, so a refusal takes as long either way.
_NOBODY = hash_secret("not a password of anyone")


class UserError(ValueError):
    """A user cannot be created or changed as asked; the message says why."""


class LoginRefused(Exception):
    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"a password needs at least {MIN_PASSWORD} characters")


def create_user(
    session: Session,
    trail: Trail,
    *,
    username: str,
    name: str,
    role: str,
    password: str,
    site: str | None = None,
    partner: str | None = None,
    language: str = "fr",
) -> User:
    if not USERNAME.fullmatch(username):
        raise UserError(
            "a user name is 2 to 63 lower-case letters, digits, dots, dashes or underscores"
        )
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    if (role == "partner") != (partner is not None):
        raise UserError("a partner user, and only a partner user, names its organisation")
    if language not in LANGUAGES:
        raise UserError(f"the interface language is one of {', '.join(LANGUAGES)}")
    if not name.strip():
        raise UserError("a user needs a name")
    _check_password(password)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UserError(f"the user name {username!r} is already taken")
    user = User(
        id=uuid7(),
        username=username,
        name=name.strip(),
        role=role,
        site=site,
        partner=partner,
        language=language,
        password_hash=hash_secret(password),
        active=True,
        created_at=utc_now(),
    )
    session.add(user)
    session.flush()
    trail.record(
        session,
        "user.create",
        user.id,
        {"username": username, "role": role, "site": site, "partner": partner},
    )
    return user


def set_password(session: Session, trail: Trail, user_id: str, password: str) -> None:
    _check_password(password)
    user = session.get(User, user_id)
    if user is None:
        raise LookupError(f"no user {user_id}")
    user.password_hash = hash_secret(password)
    session.execute(delete(WebSession).where(WebSession.user_id == user_id))
    trail.record(session, "user.password", user_id)


def _throttle(session: Session, key: str, now: datetime) -> LoginThrottle:
    row = session.get(LoginThrottle, key, with_for_update=True)
    if row is None:
        row = LoginThrottle(key=key, failures=0, window_started_at=now, locked_until=None)
        session.add(row)
    elif now - as_utc(row.window_started_at) > THROTTLE_WINDOW:
        row.failures, row.window_started_at = 0, now
    return row


def _locked_for(row: LoginThrottle, now: datetime) -> int | None:
    if row.locked_until is not None and as_utc(row.locked_until) > now:
        return int((as_utc(row.locked_until) - now).total_seconds()) + 1
    return None


@dataclass(frozen=True)
class Login:
    token: str  # goes in the cookie; never stored
    user: User
    web_session: WebSession


def login(
    session: Session, username: str, password: str, address: str, now: datetime | None = None
) -> Login:
    """Check a password; on success open a new session. Commit even on failure, so that
    the failure is counted."""
    now = now or utc_now()
    if "\x00" in username:  # no one's name, and PostgreSQL could not even look it up
        raise LoginRefused("the user name or the password is wrong")
    throttles = {
        "user": _throttle(session, f"user:{username.lower()[:100]}", now),
        "address": _throttle(session, f"address:{address[:100]}", now),
    }
    for row in throttles.values():
        wait = _locked_for(row, now)
        if wait is not None:
            minutes = (wait + 59) // 60
            raise LoginRefused(
                f"too many failed logins; try again in {minutes} minute(s)", retry_after=wait
            )
    user = session.scalar(select(User).where(User.username == username.lower()))
    good = verify_secret(password, user.password_hash if user else _NOBODY)
    if user is None or not good or not user.active:
        for kind, row in throttles.items():
            row.failures += 1
            if row.failures >= MAX_FAILURES[kind]:
                row.locked_until = now + THROTTLE_WINDOW
        raise LoginRefused("the user name or the password is wrong")
    for row in throttles.values():
        if row.key.startswith("user:"):
            row.failures, row.locked_until = 0, None
    token = secrets.token_urlsafe(32)
    web_session = WebSession(
        token_hash=hashlib.sha256(token.encode()).hexdigest(),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + LIFETIME,
        last_seen_at=now,
    )
    session.add(web_session)
    return Login(token, user, web_session)


def authenticate(
    session: Session, token: str, now: datetime | None = None
) -> tuple[User, WebSession] | None:
    """The user behind a session token, if the session is still open."""
    now = now or utc_now()
    web_session = session.get(WebSession, hashlib.sha256(token.encode()).hexdigest())
    if web_session is None:
        return None
    if as_utc(web_session.expires_at) <= now or now - as_utc(web_session.last_seen_at) > IDLE:
        session.delete(web_session)
        return None
    user = session.get(User, web_session.user_id)
    if user is None or not user.active:
        return None
    if now - as_utc(web_session.last_seen_at) > timedelta(minutes=1):
        web_session.last_seen_at = now  # not on every request: fewer writes
    return user, web_session


def logout(session: Session, token: str) -> None:
    session.execute(
        delete(WebSession).where(
            WebSession.token_hash == hashlib.sha256(token.encode()).hexdigest()
        )
    )
