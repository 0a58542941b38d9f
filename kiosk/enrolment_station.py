"""The staff-assisted enrolment station: an officer logs in with badge and PIN, picks a
detainee (their badge, or their prison number from the roster), then captures their face,
a fingerprint and/or a new badge. Each capture that succeeds is one ``enrolment.captured``
event; the hub keeps the template or badge and sends it back to the wing's kiosks at sync.

Face: several good frames (quality gates of kiosk/recognition/quality.py, guidance shown
while they fail) made into one template by ``face.enrol``, which refuses frames that do not
all show one person; a frame with two people in it is never kept. Fingerprint: the first
impression that gives a template of sufficient quality. Badge: a badge owned by nobody on
this kiosk; one owned by someone else is refused without saying whose it is.

Threads: as kiosk.identify; a worker thread of the station does the captures unless
``background=False``.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from typing import Any, Literal

from kiosk import caches, outbox, store
from kiosk.flow_parts import KioskParts, PersonCard, normalised_box, person_card, staff_name
from kiosk.flow_threads import Preview, Worker
from kiosk.identify import FlowState, IdentificationFlow
from kiosk.policy import thresholds_in_force
from kiosk.recognition import finger
from kiosk.recognition.calibration import CalibrationError
from kiosk.recognition.face import EnrolmentError, FaceAnalysis, enrol
from kiosk.sensors import SensorError
from protocol.events import EnrolmentCaptured, EnrolmentCapturedEvent

Stage = Literal["staff_login", "pick", "menu", "face", "fingerprint", "badge"]
Capture = Literal["face", "fingerprint", "badge"]

NOT_A_DETAINEE_BADGE = "This badge belongs to no detainee on this kiosk."
UNKNOWN_PRISON_NUMBER = "No detainee on this wing's roster has that prison number."
BADGE_TAKEN = "This badge already belongs to someone else. Use a new badge."
BADGE_ALREADY_THEIRS = "This badge is already this person's."
NO_CAMERA = "The camera is not working, so the face cannot be enrolled. Call technical support."
NO_FINGER_SENSOR = (
    "The fingerprint sensor is not working, so fingerprints cannot be enrolled. "
    "Call technical support."
)
FINGER_TOO_POOR = (
    "The fingerprint is not clear enough to enrol (quality {score:.0f} of 100, {least} needed). "
    "Clean the glass and the finger, and press flat again."
)
ADVICE = {
    "face": "Ask the person to look at the camera",
    "fingerprint": "Ask the person to press a finger flat on the sensor",
    "badge": "Lay the new badge on the reader",
    "pick": "Lay the detainee's badge on the reader, or type their prison number",
}

FACE_FORMAT = "face:{engine}:float32x512"
MIN_FINGER_QUALITY = 25.0
"""Enrolment asks more of an impression than matching does: a poor template makes every later
check of that finger weaker. 25 of 100 is a print about the area of a 12 mm patch with
clear ridges and 25 minutiae, or more area with fewer (finger.FingerQuality)."""


@dataclass(frozen=True)
class EnrolmentState:
    """Where the station stands, for the screen. JSON-able through ``as_dict``.

    ``stage``: "staff_login" (``login`` asks for the staff badge, then the PIN), "pick"
    (choose the detainee), "menu" (choose what to capture), "face", "fingerprint" or "badge"
    (capturing). ``frames_kept``/``frames_wanted``: the face capture's progress; ``guidance``,
    ``advice`` and ``face_box`` (fractions 0..1 of the preview frame) as in kiosk.identify.
    ``enrolled``: what was captured for this person at this visit. ``message``: what just
    happened, ``error``: what went wrong, both in plain words.
    """

    stage: Stage
    staff_id: str | None
    staff_name: str | None
    login: FlowState | None
    person: PersonCard | None
    guidance: str | None
    advice: str
    face_box: tuple[float, float, float, float] | None
    frames_kept: int
    frames_wanted: int
    enrolled: tuple[Capture, ...]
    message: str
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "staff_id": self.staff_id,
            "staff_name": self.staff_name,
            "login": self.login.as_dict() if self.login is not None else None,
            "person": self.person.as_dict() if self.person is not None else None,
            "guidance": self.guidance,
            "advice": self.advice,
            "face_box": list(self.face_box) if self.face_box is not None else None,
            "frames_kept": self.frames_kept,
            "frames_wanted": self.frames_wanted,
            "enrolled": list(self.enrolled),
            "message": self.message,
            "error": self.error,
        }


class EnrolmentStation:
    """The enrolment screens' server side.

    :param parts: as for kiosk.identify.IdentificationFlow.
    :param face_frames: good frames a face template is made from.
    :param frame_gap: seconds between two kept frames, so they differ a little (pose,
        expression) and the template averages more than one moment.
    :param background: run the captures on a worker thread of the station.
    """

    def __init__(
        self,
        parts: KioskParts,
        *,
        face_frames: int = 5,
        frame_gap: float = 0.2,
        background: bool = True,
        frame_timeout: float = 2.0,
        finger_timeout: float = 0.2,
    ) -> None:
        if face_frames < 1:
            raise ValueError(f"face_frames must be 1 or more, not {face_frames}")
        self.parts = parts
        self.face_frames = face_frames
        self.frame_gap = frame_gap
        self.frame_timeout = frame_timeout
        self.finger_timeout = finger_timeout
        self.login = IdentificationFlow(parts, mode="enrolment", background=False)
        self.preview = Preview()
        self._db = store.open_store(parts.store_path)
        self._lock = threading.RLock()
        self._capture = 0  # numbers each capture, so a slow step's result is not misplaced
        self._stage: Stage = "staff_login"
        self._staff_id: str | None = None
        self._person: PersonCard | None = None
        self._enrolled: list[Capture] = []
        self._assigned: dict[str, str] = {}  # badge → detainee, given out here since the login
        self._same_person: float | None = None
        self._kept: list[FaceAnalysis] = []
        self._last_kept = float("-inf")
        self._guidance: str | None = None
        self._face_box: tuple[float, float, float, float] | None = None
        self._advice = ""
        self._message = ""
        self._error: str | None = None
        self.login.start("enrolment", staff_login=True)
        self._worker = Worker("enrolment", self.step, self._capturing) if background else None

    # --- what the screens call ---------------------------------------------------------------

    def state(self) -> EnrolmentState:
        with self._lock:
            self._advance()
            return self._state()

    def present_badge(self, uid: str) -> EnrolmentState:
        """A badge tap: the officer's at login, the detainee's when picking, a new badge when
        assigning one; ignored otherwise."""
        uid = uid.strip().upper()
        with self._lock:
            self._advance()
            if self._stage == "staff_login":
                found = self.login.state()
                if found.outcome is not None or not found.active:
                    self.login.start("enrolment", staff_login=True)
                self.login.present_badge(uid)
                self._advance()
            elif self._stage == "pick":
                owner = caches.badge_owner(self._db, uid)
                if owner is None or owner[0] != "detainee":
                    self._error = NOT_A_DETAINEE_BADGE
                else:
                    self._pick(owner[1])
            elif self._stage == "badge":
                self._assign_badge(uid)
            return self._state()

    def present_pin(self, pin: str) -> EnrolmentState:
        with self._lock:
            if self._stage == "staff_login":
                self.login.present_pin(pin)
                self._advance()
            return self._state()

    def pick_prison_number(self, prison_number: str) -> EnrolmentState:
        """Choose the detainee by the prison number on the roster."""
        with self._lock:
            self._advance()
            if self._stage in ("pick", "menu"):
                row = self._db.execute(
                    "SELECT detainee_id FROM roster WHERE prison_number = ?",
                    [prison_number.strip()],
                ).fetchone()
                if row is None:
                    self._error = UNKNOWN_PRISON_NUMBER
                else:
                    self._pick(str(row[0]))
            return self._state()

    def capture_face(self) -> EnrolmentState:
        return self._begin("face")

    def capture_fingerprint(self) -> EnrolmentState:
        return self._begin("fingerprint")

    def assign_badge(self) -> EnrolmentState:
        return self._begin("badge")

    def stop_capture(self) -> EnrolmentState:
        """Back to the menu without enrolling what the capture collected."""
        with self._lock:
            if self._stage in ("face", "fingerprint", "badge"):
                self._to_menu()
            return self._state()

    def done_with_person(self) -> EnrolmentState:
        """Forget the person (and their frames); pick the next one."""
        with self._lock:
            if self._stage not in ("staff_login",):
                self._reset_person()
                self._stage = "pick"
                self._advice = ADVICE["pick"]
            return self._state()

    def logout(self) -> EnrolmentState:
        with self._lock:
            self._reset_all()
            self.login.start("enrolment", staff_login=True)
            return self._state()

    def preview_jpeg(self) -> bytes | None:
        return self.preview.jpeg()

    def close(self) -> None:
        if self._worker is not None:
            self._worker.stop()
        self.login.close()
        with self._lock:
            self._db.close()

    # --- captures --------------------------------------------------------------------------

    def step(self) -> bool:
        """One unit of capture work: analyse the camera's newest frame, or wait up to
        ``finger_timeout`` for a finger. Returns whether anything was done."""
        with self._lock:
            stage, number = self._stage, self._capture
        if stage == "face":
            return self._face_step(number)
        if stage == "fingerprint":
            return self._finger_step(number)
        return False

    def _face_step(self, number: int) -> bool:
        camera, pipeline = self.parts.camera, self.parts.face_pipeline
        assert camera is not None and pipeline is not None
        try:
            frame = camera.read(self.frame_timeout)
        except SensorError:
            with self._lock:
                if self._capture == number:
                    self._to_menu(error=NO_CAMERA)
            return True
        self.preview.show(frame)
        analysis = pipeline.analyse(frame.pixels)
        with self._lock:
            if self._capture != number or self._stage != "face":
                return True
            face, quality = analysis.face, analysis.quality
            self._face_box = normalised_box(face.box, frame.pixels.shape) if face else None
            self._guidance = quality.reasons[0] if quality.reasons else None
            self._advice = quality.advice() or "Hold still"
            late_enough = frame.captured_at - self._last_kept >= self.frame_gap
            if analysis.template is not None and late_enough:
                self._kept.append(analysis)
                self._last_kept = frame.captured_at
            if len(self._kept) >= self.face_frames:
                self._enrol_face(self._kept)
        return True

    def _enrol_face(self, analyses: list[FaceAnalysis]) -> None:
        assert self._person is not None and self._same_person is not None
        pipeline = self.parts.face_pipeline
        assert pipeline is not None
        try:
            template = enrol(analyses, same_person_threshold=self._same_person)
        except EnrolmentError as error:
            self._to_menu(error=_sentence(str(error)))
            return
        self._record(
            EnrolmentCaptured(
                modality="face",
                template=base64.b64encode(template.astype("<f4").tobytes()).decode(),
                template_format=FACE_FORMAT.format(engine=pipeline.engine[:16]),
            ),
            "face",
        )

    def _finger_step(self, number: int) -> bool:
        sensor = self.parts.fingerprint
        assert sensor is not None
        try:
            image = sensor.capture(self.finger_timeout)
        except SensorError:
            with self._lock:
                if self._capture == number:
                    self._to_menu(error=NO_FINGER_SENSOR)
            return True
        if image is None:
            return False
        template, problem = finger.template_or_problem(image)
        with self._lock:
            if self._capture != number or self._stage != "fingerprint":
                return True
            if template is None:
                self._guidance, self._advice = "finger_unusable", problem
                return True
            if template.quality < MIN_FINGER_QUALITY:
                self._guidance = "finger_unusable"
                self._advice = FINGER_TOO_POOR.format(
                    score=template.quality, least=int(MIN_FINGER_QUALITY)
                )
                return True
            self._record(
                EnrolmentCaptured(
                    modality="fingerprint",
                    template=base64.b64encode(template.to_bytes()).decode(),
                    template_format=finger.ENGINE,
                    quality=template.quality,
                ),
                "fingerprint",
            )
        return True

    def _assign_badge(self, uid: str) -> None:
        assert self._person is not None
        person = self._person.detainee_id
        owner = caches.badge_owner(self._db, uid)
        if uid in self._assigned:  # given out here since the login; the cache learns at sync
            owner = ("detainee", self._assigned[uid])
        if owner == ("detainee", person):
            self._error = BADGE_ALREADY_THEIRS
            return
        if owner is not None:
            self._error = BADGE_TAKEN
            return
        self._record(EnrolmentCaptured(modality="badge", badge_uid=uid), "badge")
        self._assigned[uid] = person

    def _record(self, body: EnrolmentCaptured, what: Capture) -> None:
        assert self._person is not None
        with store.write(self._db):
            outbox.record(
                self._db,
                EnrolmentCapturedEvent,
                body,
                site=self.parts.site,
                device=self.parts.device,
                subject=self._person.detainee_id,
                actor=self._staff_id,
                now=self.parts.now,
            )
        if what not in self._enrolled:
            self._enrolled.append(what)
        self._to_menu(message=f"The {what} is enrolled. The hub sends it to the kiosks at sync.")

    # --- stages (the lock is held) -----------------------------------------------------------

    def _capturing(self) -> bool:
        with self._lock:
            return self._stage in ("face", "fingerprint")

    def _advance(self) -> None:
        if self._stage != "staff_login":
            return
        found = self.login.state()
        if found.outcome == "matched" and found.person_kind == "staff":
            self._staff_id = found.person_id
            self._stage = "pick"
            self._advice = ADVICE["pick"]
            self.login.cancel()

    def _pick(self, detainee_id: str) -> None:
        self._reset_person()
        self._person = person_card(self._db, detainee_id)
        self._stage = "menu" if self._person is not None else "pick"
        self._error = None if self._person is not None else UNKNOWN_PRISON_NUMBER

    def _begin(self, what: Capture) -> EnrolmentState:
        with self._lock:
            self._advance()
            if self._stage not in ("menu", "face", "fingerprint", "badge"):
                return self._state()
            self._to_menu()
            problem = self._cannot_capture(what)
            if problem is not None:
                self._error = problem
                return self._state()
            self._stage = what
            self._advice = ADVICE[what]
            self._error = None
            self._message = ""
        if self._worker is not None:
            self._worker.wake()
        return self.state()

    def _cannot_capture(self, what: Capture) -> str | None:
        parts = self.parts
        if what == "face":
            if parts.camera is None or parts.face_pipeline is None:
                return NO_CAMERA
            try:  # self-service needs the face calibration: its 1:1 threshold is wanted here
                thresholds = thresholds_in_force(
                    parts.policy, parts.calibrations, "self_service", parts.engines()
                )
            except CalibrationError as error:
                return f"The face cannot be enrolled: {error}."
            self._same_person = thresholds.face_1to1
        if what == "fingerprint" and parts.fingerprint is None:
            return NO_FINGER_SENSOR
        return None

    def _to_menu(self, *, message: str = "", error: str | None = None) -> None:
        self._capture += 1
        self._stage = "menu"
        self._kept, self._last_kept = [], float("-inf")
        self._guidance, self._face_box, self._advice = None, None, ""
        self._message, self._error = message, error
        self.preview.clear()

    def _reset_person(self) -> None:
        self._to_menu()
        self._person = None
        self._enrolled = []

    def _reset_all(self) -> None:
        self._reset_person()
        self._stage = "staff_login"
        self._staff_id = None
        self._assigned.clear()
        self._same_person = None

    def _state(self) -> EnrolmentState:
        staff = staff_name(self._db, self._staff_id) if self._staff_id is not None else None
        return EnrolmentState(
            stage=self._stage,
            staff_id=self._staff_id,
            staff_name=staff,
            login=self.login.state() if self._stage == "staff_login" else None,
            person=self._person,
            guidance=self._guidance,
            advice=self._advice,
            face_box=self._face_box,
            frames_kept=len(self._kept),
            frames_wanted=self.face_frames,
            enrolled=tuple(self._enrolled),
            message=self._message,
            error=self._error,
        )


def _sentence(text: str) -> str:
    """An error message from below as a sentence for the screen."""
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
