"""The one identification, movement-check or enrolment flow this kiosk runs at a time, built
on the agent's sensors, the synced policy and the kiosk's calibrations.

A flow is made when someone starts at the screen and closed when the next one is made, so a
policy or calibration synced meanwhile applies from the next person on. Badge taps reach
the flow in use through ``present_badge`` (the agent's reader thread,
kiosk.flow_threads.BadgeRelay, calls it).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from kiosk import caches
from kiosk.enrolment_station import EnrolmentStation
from kiosk.flow_parts import KioskParts
from kiosk.flow_threads import BadgeRelay
from kiosk.identify import IdentificationFlow
from kiosk.movement_check import MovementCheck
from kiosk.policy import PolicyConfig, policy_in_force
from kiosk.recognition.calibration import CalibrationError, load_calibrations

if TYPE_CHECKING:
    from kiosk.ui.context import Kiosk

Flow = IdentificationFlow | MovementCheck | EnrolmentStation


class Stations:
    def __init__(self, kiosk: Kiosk) -> None:
        self.kiosk = kiosk
        self._lock = threading.Lock()
        self._flow: Flow | None = None
        self._relay: BadgeRelay | None = None
        self.tied: str | None = None  # the staff login a kiosk session was opened for
        reader = getattr(kiosk.agent, "badge_reader", None)
        if reader is not None:
            self._relay = BadgeRelay(reader)
            self._relay.deliver_to(self.present_badge)
            self._relay.start()

    def policy(self) -> PolicyConfig:
        return policy_in_force(caches.documents(self.kiosk.db(), "policy"))

    def parts(self) -> KioskParts:
        config, agent = self.kiosk.config, self.kiosk.agent
        try:
            calibrations = load_calibrations(config.data_dir)
        except CalibrationError:
            calibrations = {}  # the flow then says which calibration is missing
        if agent is not None:
            return KioskParts.of_agent(agent, self.policy(), calibrations)
        return KioskParts(
            store_path=config.store_path,
            vault=self.kiosk.vault,
            policy=self.policy(),
            calibrations=calibrations,
            site=config.site,
            device=config.device,
        )

    def _replace(self, flow: Flow) -> Flow:
        with self._lock:
            old, self._flow = self._flow, flow
        if old is not None:
            old.close()
        return flow

    def identification(self) -> IdentificationFlow:
        """A fresh identification flow for the kiosk's mode (self-service)."""
        flow = self._replace(IdentificationFlow(self.parts(), mode="self_service"))
        assert isinstance(flow, IdentificationFlow)
        return flow

    def movement(self, *, fresh: bool = False) -> MovementCheck:
        with self._lock:
            current = self._flow
        if isinstance(current, MovementCheck) and not fresh:
            return current
        flow = self._replace(MovementCheck(self.parts(), wing=self._wing()))
        assert isinstance(flow, MovementCheck)
        return flow

    def enrolment(self, *, fresh: bool = False) -> EnrolmentStation:
        with self._lock:
            current = self._flow
        if isinstance(current, EnrolmentStation) and not fresh:
            return current
        flow = self._replace(EnrolmentStation(self.parts()))
        assert isinstance(flow, EnrolmentStation)
        return flow

    def current(self) -> Flow | None:
        with self._lock:
            return self._flow

    def present_badge(self, uid: str) -> None:
        """A badge was tapped on the reader: the flow on screen gets it. On the attract
        screen a tap begins, as the Start button does (the page follows by polling)."""
        flow = self.current()
        if flow is None:
            flow = self.begin()
        if flow is not None:
            flow.present_badge(uid)

    def begin(self) -> Flow | None:
        """Start the flow of the kiosk's mode, unless someone is using the kiosk or it is
        out of service; returns it (None when refused)."""
        here = self.kiosk
        if here.sessions.current() is not None or here.out_of_service():
            return None
        mode = here.mode()
        if mode == "movement_check":
            return self.movement(fresh=True)
        if mode == "enrolment":
            return self.enrolment(fresh=True)
        flow = self.identification()
        flow.start("self_service")
        return flow

    def log_out(self) -> None:
        """The session ended (logout, inactivity): a staff flow forgets the officer and whoever
        was shown, and goes away."""
        flow = self.current()
        if isinstance(flow, MovementCheck | EnrolmentStation):
            flow.logout()
        self.tied = None
        self.end()

    def end(self) -> None:
        """Forget the flow (logout, timeout): nothing of the person stays in memory."""
        with self._lock:
            old, self._flow = self._flow, None
        if old is not None:
            old.close()

    def close(self) -> None:
        self.end()
        if self._relay is not None:
            self._relay.stop()

    def _wing(self) -> str:
        return self.kiosk.config.wing or "wing"
