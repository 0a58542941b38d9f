"""One person at a time at a kiosk, logged out after inactivity, forgotten at logout.

A session holds only what the screens need (who, how identified, answers in progress).
At the end the dict is cleared and dropped, so nothing of the previous person stays in
memory for the next one; the touchscreen shows the attract screen again.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class SessionRefused(RuntimeError):
    """A session cannot start now; the message is shown on the screen as it is."""


@dataclass
class Session:
    person_id: str
    kind: str  # "detainee" or "staff"
    started: float
    last_activity: float
    data: dict[str, Any] = field(default_factory=dict)
    # Ties the browser to this session only: a page left open by the previous person, or
    # replayed with the back button, carries another token and is refused.
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))


class SessionManager:
    def __init__(
        self,
        *,
        inactivity_timeout: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        fit_for_service: Callable[[], str | None] = lambda: None,
    ) -> None:
        """``fit_for_service`` returns None, or why no session may start (out of service)."""
        self.inactivity_timeout = inactivity_timeout
        self.clock = clock
        self.fit_for_service = fit_for_service
        self._lock = threading.Lock()
        self._session: Session | None = None

    def start(self, person_id: str, kind: str) -> Session:
        with self._lock:
            self._expire_locked()
            if self._session is not None:
                raise SessionRefused("Someone is using this kiosk. Please wait for them to finish.")
            reason = self.fit_for_service()
            if reason is not None:
                raise SessionRefused(reason)
            now = self.clock()
            self._session = Session(person_id, kind, started=now, last_activity=now)
            return self._session

    def current(self) -> Session | None:
        """The live session; None after logout or inactivity."""
        with self._lock:
            self._expire_locked()
            return self._session

    def touch(self) -> Session | None:
        """The person did something: restart the inactivity clock."""
        with self._lock:
            self._expire_locked()
            if self._session is not None:
                self._session.last_activity = self.clock()
            return self._session

    def remaining(self) -> float:
        """Seconds left before the live session times out (0 when there is none)."""
        with self._lock:
            self._expire_locked()
            if self._session is None:
                return 0.0
            return max(0.0, self.inactivity_timeout - (self.clock() - self._session.last_activity))

    def end(self) -> None:
        with self._lock:
            self._forget_locked()

    def _expire_locked(self) -> None:
        session = self._session
        if session is not None and self.clock() - session.last_activity > self.inactivity_timeout:
            self._forget_locked()

    def _forget_locked(self) -> None:
        if self._session is not None:
            self._session.data.clear()
            self._session.person_id = ""
            self._session.token = ""  # nosec B105  # clearing a session token, not a password
        self._session = None
