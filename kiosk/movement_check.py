"""Movement checks at the wing gate: an officer logs in with badge and PIN, then checks each
detainee passing (badge, then face or finger, as the policy's movement_check plan says),
sees who they are and whether a movement is scheduled, and confirms or refuses the movement.

Each detainee's identification is one ``identification`` event (the officer's login checks
carried in, so the event shows the whole plan, with the officer as actor); each confirmed or
refused movement is one ``movement.verified`` event. Where people are is taken from their
file (``caches.person_file``: "location", "scheduled_movements") and the roster's ``out``
flag, corrected by the movements confirmed at this gate since the officer logged in, which
the hub's copies only show after the next sync.

Threads: as kiosk.identify; the identification flow's worker analyses the frames. The stage
moves on (login done, person identified) whenever any method is called, so the screens only
have to poll ``state``.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any, Literal

from kiosk import caches, outbox, store
from kiosk.flow_parts import KioskParts, PersonCard, person_card, roster_photo, staff_name
from kiosk.identify import Biometric, FlowState, IdentificationFlow
from protocol.events import Modality, MovementVerified, MovementVerifiedEvent

Stage = Literal["staff_login", "identify", "decide"]

NO_DESTINATION = "Choose where the person is going."
NOT_ON_ROSTER = "This person is not on this wing's roster. Please call the wing office."


@dataclass(frozen=True)
class MovementPerson:
    """The detainee now at the gate, as the officer sees them."""

    card: PersonCard
    location: str
    scheduled_movements: tuple[dict[str, Any], ...]

    @property
    def movement_scheduled(self) -> bool:
        return bool(self.scheduled_movements)

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.card.as_dict(),
            "location": self.location,
            "scheduled_movements": list(self.scheduled_movements),
            "movement_scheduled": self.movement_scheduled,
        }


@dataclass(frozen=True)
class MovementRecord:
    """The last movement decided at this gate (shown until the next person)."""

    person_id: str
    from_location: str
    to_location: str
    outcome: Literal["confirmed", "refused"]
    event_id: str


@dataclass(frozen=True)
class MovementState:
    """``stage``: "staff_login" (``identification`` asks for the staff badge, then the PIN),
    "identify" (it asks for the detainee's badge, then face or finger) or "decide" (``person``
    is shown; ``confirm`` or ``refuse``). ``message``: plain words for the officer."""

    stage: Stage
    staff_id: str | None
    staff_name: str | None
    identification: FlowState
    person: MovementPerson | None
    last: MovementRecord | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "staff_id": self.staff_id,
            "staff_name": self.staff_name,
            "identification": self.identification.as_dict(),
            "person": self.person.as_dict() if self.person is not None else None,
            "last": asdict(self.last) if self.last is not None else None,
            "message": self.message,
        }


class MovementCheck:
    """The movement-check screens' server side for one wing gate.

    :param parts: as for kiosk.identify.IdentificationFlow.
    :param wing: the wing's location name, as people's files name it ("wing-a"): where
        people come from, and whom ``out_count`` counts as out.
    :param background: run the identification's frame analysis on its own worker thread.
    """

    def __init__(self, parts: KioskParts, *, wing: str, background: bool = True) -> None:
        self.parts = parts
        self.wing = wing
        self.flow = IdentificationFlow(parts, mode="movement_check", background=background)
        self._db = store.open_store(parts.store_path)
        self._lock = threading.RLock()
        self._stage: Stage = "staff_login"
        self._staff_id: str | None = None
        self._staff_checks: tuple[Any, ...] = ()
        self._person: MovementPerson | None = None
        self._modalities: list[Modality] = []
        self._last: MovementRecord | None = None
        self._message = ""
        self._moved: dict[str, str] = {}  # person → where a movement confirmed here sent them
        self.flow.start("movement_check", staff_login=True)

    # --- what the screens call ---------------------------------------------------------------

    def state(self) -> MovementState:
        with self._lock:
            self._advance()
            return self._state()

    def step(self) -> bool:
        """One unit of the identification's work (for ``background=False``)."""
        did = self.flow.step()
        with self._lock:
            self._advance()
        return did

    def present_badge(self, uid: str) -> MovementState:
        """A badge tap: the officer's at login, then each detainee's. After a detainee who was
        not recognised, or once a movement is decided, a tap starts the next person."""
        with self._lock:
            self._advance()
            if self._stage == "decide":
                return self._state()
            if self.flow.state().outcome is not None or not self.flow.state().active:
                self._restart()
            self.flow.present_badge(uid)
            self._advance()
            return self._state()

    def present_pin(self, pin: str) -> MovementState:
        with self._lock:
            self.flow.present_pin(pin)
            self._advance()
            return self._state()

    def choose(self, modality: Biometric) -> MovementState:
        """Check the detainee's finger instead of the face (or back)."""
        with self._lock:
            self.flow.choose(modality)
            return self._state()

    def confirm(self, to_location: str, reason: str | None = None) -> MovementState:
        """The officer lets the person shown go to ``to_location``."""
        return self._decide("confirmed", to_location, reason)

    def refuse(self, to_location: str, reason: str | None = None) -> MovementState:
        """The officer stops the person shown from going to ``to_location``."""
        return self._decide("refused", to_location, reason)

    def next_person(self) -> MovementState:
        """Drop the person shown (no movement recorded) and wait for the next one's badge."""
        with self._lock:
            self._advance()
            if self._stage != "staff_login":
                self._person = None
                self._stage = "identify"
                self._restart()
            return self._state()

    def logout(self) -> MovementState:
        """The officer leaves: forget them and whoever was shown; back to the staff login."""
        with self._lock:
            self.flow.cancel()
            self._stage, self._staff_id, self._staff_checks = "staff_login", None, ()
            self._person, self._last, self._message = None, None, ""
            self._moved.clear()
            self.flow.start("movement_check", staff_login=True)
            return self._state()

    def out_count(self) -> int:
        """How many of the wing's people are out: out as the hub last said (the roster's
        ``out``, caches.wing_out_count), corrected by the movements confirmed at this gate
        since the login."""
        with self._lock:
            rows = self._db.execute("SELECT detainee_id FROM roster WHERE out = 1")
            out = {str(row[0]) for row in rows} - set(self._moved)
            return len(out) + sum(to != self.wing for to in self._moved.values())

    def photo(self) -> bytes | None:
        """The roster photo of the person shown now (JPEG); None if none or nobody shown."""
        with self._lock:
            if self._person is None:
                return None
            return roster_photo(self._db, self._person.card.detainee_id)

    def preview_jpeg(self) -> bytes | None:
        return self.flow.preview_jpeg()

    def close(self) -> None:
        self.flow.close()
        with self._lock:
            self._db.close()

    # --- the stages (the lock is held) -----------------------------------------------------

    def _advance(self) -> None:
        found = self.flow.state()
        if found.outcome != "matched" or found.person_id is None:
            return
        if self._stage == "staff_login" and found.person_kind == "staff":
            self._staff_id = found.person_id
            self._staff_checks = self.flow.checks()
            self._stage = "identify"
            self._message = ""
            self._restart()
        elif self._stage == "identify" and found.person_kind == "detainee":
            self._modalities = [c.modality for c in self.flow.checks()[len(self._staff_checks) :]]
            self._person = self._load_person(found.person_id)
            self._stage = "decide"
            self._message = "" if self._person is not None else NOT_ON_ROSTER
            self.flow.cancel()  # the outcome is taken: nothing of it stays in the flow

    def _restart(self) -> None:
        if self._stage == "staff_login":
            self.flow.start("movement_check", staff_login=True)
        else:
            self.flow.start(
                "movement_check", carried=list(self._staff_checks), actor=self._staff_id
            )

    def _load_person(self, person_id: str) -> MovementPerson | None:
        card = person_card(self._db, person_id)
        if card is None:
            return None
        file = caches.person_file(self._db, self.parts.vault, person_id)
        scheduled = tuple(file.get("scheduled_movements") or ())
        return MovementPerson(card, self._location_of(person_id, file), scheduled)

    def _location_of(self, person_id: str, file: dict[str, Any]) -> str:
        """Where the person is: moved here since the login, else as their file says (no
        location: never moved, so in the wing)."""
        if person_id in self._moved:
            return self._moved[person_id]
        return str(file.get("location") or self.wing)

    def _decide(
        self, outcome: Literal["confirmed", "refused"], to_location: str, reason: str | None
    ) -> MovementState:
        with self._lock:
            self._advance()
            person = self._person
            if self._stage != "decide" or person is None or self._staff_id is None:
                return self._state()
            to_location = to_location.strip()
            if not to_location or len(to_location) > 128:
                self._message = NO_DESTINATION
                return self._state()
            body = MovementVerified(
                from_location=person.location,
                to_location=to_location,
                reason=(reason or "").strip()[:200] or None,
                modalities=self._modalities,
                outcome=outcome,
            )
            with store.write(self._db):
                event = outbox.record(
                    self._db,
                    MovementVerifiedEvent,
                    body,
                    site=self.parts.site,
                    device=self.parts.device,
                    subject=person.card.detainee_id,
                    actor=self._staff_id,
                    now=self.parts.now,
                )
            if outcome == "confirmed":
                self._moved[person.card.detainee_id] = to_location
            self._last = MovementRecord(
                person.card.detainee_id, person.location, to_location, outcome, event.id
            )
            self._person, self._message = None, ""
            self._stage = "identify"
            self._restart()
            return self._state()

    def _state(self) -> MovementState:
        staff = staff_name(self._db, self._staff_id) if self._staff_id is not None else None
        return MovementState(
            stage=self._stage,
            staff_id=self._staff_id,
            staff_name=staff,
            identification=self.flow.state(),
            person=self._person,
            last=self._last,
            message=self._message,
        )
