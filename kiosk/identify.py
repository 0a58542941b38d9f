"""One identification at a time at the kiosk, for the screens to drive and poll.

The policy's plan (kiosk.policy) says what to collect; this module collects it from the badge
reader, the camera, the fingerprint sensor and the PIN pad, judges every check with
``policy.decide`` and, once the decision is final, records exactly one ``identification``
event in the outbox. The screens never see a score, a threshold or a candidate's name: a
face that did not match is "not recognised", whoever it came close to.

Threads. ``present_badge``, ``present_pin``, ``choose``, ``cancel`` and ``state`` may be
called from any thread (waitress's, the badge relay's); ``step`` does the slow work (reading
the newest camera frame and analysing it, or waiting briefly for a finger). By default a
worker thread of the flow calls ``step`` for as long as an attempt needs the camera or the
fingerprint sensor; ``background=False`` leaves that to the caller (tests, benches). Each
step reads one frame, the camera's newest: frames are never queued, so a slow analysis
skips frames rather than falling behind.

What every flow is built from (``KioskParts``) and the roster look-ups are in
kiosk.flow_parts; the worker thread, the badge relay and the preview JPEG in
kiosk.flow_threads: the movement check and the enrolment station share them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from kiosk import caches, outbox, staff_pins, store
from kiosk.flow_parts import KioskParts, normalised_box
from kiosk.flow_threads import Preview, Worker
from kiosk.policy import (
    Factor,
    Plan,
    Step,
    decide,
    plan_for,
    thresholds_in_force,
)
from kiosk.recognition import finger, matcher
from kiosk.recognition.calibration import CalibrationError
from kiosk.recognition.face import FaceAnalysis
from kiosk.recognition.liveness import ActiveChallenge, Direction, Phase, measure_turn
from kiosk.sensors import Frame, SensorError
from protocol.events import (
    Identification,
    IdentificationEvent,
    KioskMode,
    Modality,
    ModalityCheck,
)

logger = logging.getLogger(__name__)

Expect = Literal["staff_badge", "pin", "badge", "face", "fingerprint"]
Biometric = Literal["face", "fingerprint"]
PersonKind = Literal["detainee", "staff"]

NOT_RECOGNISED = "Not recognised. Please try again or call staff."
UNKNOWN_BADGE = "This badge is not known on this kiosk. Please call staff."
NOT_STAFF_BADGE = "This is not a staff badge. Staff: lay your own badge on the reader."
STAFF_BADGE_HERE = "This is a staff badge. Lay the detainee's badge on the reader."
CAMERA_DOWN = "The camera is not working. Please call staff."
CAMERA_DOWN_FINGER = "The camera is not working: use your fingerprint, or call staff."
CAMERA_DOWN_BADGE = "The camera is not working: use your badge and your fingerprint, or call staff."
FINGER_DOWN = "The fingerprint sensor is not working. Please call staff."
BADGE_READER_DOWN = "The badge reader is not working. Please call staff."
NOT_ENROLLED = "Your face or fingerprint is not enrolled on this kiosk yet. Please call staff."
NOBODY_ENROLLED = "No faces are enrolled on this kiosk yet. Please call staff."
TIMED_OUT = "Time is up. Please try again."
NOT_LIVE = "We could not check that you are here in person. Please call staff."
UNSEEN = "We could not see your face clearly. Please try again."
BROKEN = "Something went wrong on this kiosk. Please call staff."

ADVICE = {
    "staff_badge": "Staff: lay your badge on the reader",
    "pin": "Type your PIN",
    "badge": "Lay your badge on the reader",
    "face": "Look at the camera",
    "fingerprint": "Press your finger flat on the sensor",
}

STAFF_LOGIN_RULE = "staff_login.badge_pin"


# --- the state the screens poll ------------------------------------------------------------


@dataclass(frozen=True)
class ChallengeProgress:
    """The head-turn challenge (kiosk/recognition/liveness.py): its turns, how many are done,
    and its phase ("waiting", "turned_left", "turned_right", "passed", "failed", "timed_out")."""

    steps: tuple[str, ...]
    done: int
    phase: str


@dataclass(frozen=True)
class FlowState:
    """Where the identification stands, for the screen. JSON-able through ``as_dict``.

    ``expect``: what the screen should ask for now ("staff_badge", "pin", "badge", "face",
    "fingerprint"); None when idle, finished or stopped by an error. ``options``: the
    modalities the current biometric step can take now (``choose`` switches between them).
    ``guidance``/``advice``: a reason code and plain words for the person (face quality codes
    of kiosk/recognition/quality.py, head-turn codes "look_straight", "turn_left",
    "turn_right", fingerprint code "finger_unusable", ...). ``face_box``: x, y, width, height
    as fractions 0..1 of the camera frame (the preview shows the same frame). ``outcome``:
    "matched" (with ``person_id`` and ``person_kind``) or "not_matched"; ``message`` then says
    what to tell the person and never names anyone else or a score. ``error``: a sensor or
    set-up problem, in plain words. ``explanation``: for staff, why the policy asked for a
    badge (wing size). ``event_id``: the identification event recorded, once final.
    """

    active: bool = False
    mode: str | None = None
    rule: str | None = None
    expect: Expect | None = None
    options: tuple[Biometric, ...] = ()
    guidance: str | None = None
    advice: str = ""
    face_box: tuple[float, float, float, float] | None = None
    challenge: ChallengeProgress | None = None
    outcome: Literal["matched", "not_matched"] | None = None
    person_id: str | None = None
    person_kind: PersonKind | None = None
    message: str = ""
    error: str | None = None
    explanation: str | None = None
    event_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["options"] = list(self.options)
        data["face_box"] = list(self.face_box) if self.face_box is not None else None
        if self.challenge is not None:
            data["challenge"]["steps"] = list(self.challenge.steps)
        return data


# --- one attempt ---------------------------------------------------------------------------


@dataclass
class _Attempt:
    """What one attempt has collected; only the flow's lock-holder touches it."""

    number: int
    plan: Plan
    carried: int  # checks taken over from an earlier attempt (a staff login), not recorded twice
    checks: list[ModalityCheck]
    started_at: float
    actor: str | None = None  # the staff member who opened a staff plan
    claimed: str | None = None  # the detainee whose badge was shown
    using: Biometric | None = None
    unavailable: dict[Biometric, str] = field(default_factory=dict)
    challenge: ActiveChallenge | None = None
    seen: list[tuple[float, np.ndarray]] = field(default_factory=list)  # (|turn|, template)
    same_person: float | None = None  # two frames in a row of one person score at least this
    gallery: caches.Gallery | None = None
    guidance: str | None = None
    advice: str = ""
    face_box: tuple[float, float, float, float] | None = None
    last_progress: float = 0.0
    finished: bool = False
    outcome: Literal["matched", "not_matched"] | None = None
    person_id: str | None = None
    person_kind: PersonKind | None = None
    message: str = ""
    error: str | None = None
    event_id: str | None = None


def _staff_login_plan(mode: KioskMode) -> Plan:
    """Staff badge then PIN: how staff open their screens (and an enrolment station)."""
    return Plan(
        mode,
        STAFF_LOGIN_RULE,
        (Step("staff", (Factor("badge", "exact"),)), Step("staff", (Factor("pin", "exact"),))),
    )


def _challenge_code(prompt: str) -> str:
    """A reason code for a head-turn prompt of kiosk/recognition/liveness.py."""
    lowered = prompt.lower()
    for words, code in (
        ("to your left", "turn_left"),
        ("to your right", "turn_right"),
        ("straight", "look_straight"),
        ("closer", "too_small"),
        ("upright", "keep_upright"),
        ("in view", "no_face"),
    ):
        if words in lowered:
            return code
    return "head_turn"


def _exact(modality: Modality, matched: bool) -> ModalityCheck:
    return ModalityCheck(modality=modality, comparison="exact", matched=matched)


class IdentificationFlow:
    """One identification attempt at a time: ``start``, then feed it taps, a PIN and frames.

    :param parts: the store, keys, policy, calibrations and sensors (``KioskParts``).
    :param mode: the kiosk mode ``start`` uses when given none.
    :param background: run ``step`` on a worker thread of the flow (default); False: the
        caller calls ``step``.
    :param head_turn: the turns of the head-turn challenge, when the plan asks for one.
    :param give_up_after: seconds without progress after which an attempt ends by itself.
    """

    def __init__(
        self,
        parts: KioskParts,
        *,
        mode: KioskMode = "self_service",
        background: bool = True,
        head_turn: tuple[Direction, ...] = ("left", "right"),
        give_up_after: float = 60.0,
        frame_timeout: float = 2.0,
        finger_timeout: float = 0.2,
    ) -> None:
        self.parts = parts
        self.mode: KioskMode = mode
        self.head_turn = head_turn
        self.give_up_after = give_up_after
        self.frame_timeout = frame_timeout
        self.finger_timeout = finger_timeout
        self._db = store.open_store(parts.store_path)
        self._lock = threading.RLock()
        self._attempt: _Attempt | None = None
        self._numbers = 0
        self._camera_down: str | None = None
        self._finger_down: str | None = None
        self.preview = Preview()
        self._worker = (
            Worker("identification", self.step, self._needs_sensors) if background else None
        )

    # --- what the screens call ---------------------------------------------------------------

    def start(
        self,
        mode: KioskMode | None = None,
        *,
        staff_login: bool = False,
        carried: Sequence[ModalityCheck] = (),
        actor: str | None = None,
    ) -> FlowState:
        """Begin a new attempt (ending one in progress as abandoned).

        :param staff_login: collect only a staff badge and PIN (outcome: the staff member).
        :param carried: checks already collected for the first steps of the mode's plan, in
            order (a movement check carries the officer's badge and PIN from their login).
        :param actor: the staff member those carried checks identified.
        """
        with self._lock:
            self._abandon()
            self._numbers += 1
            self._recheck_sensors()
            now = self.parts.clock()
            mode = mode or self.mode
            self.preview.clear()
            try:
                plan, same_person = self._plan(mode, staff_login)
            except CalibrationError as error:
                self._attempt = _Attempt(self._numbers, Plan(mode, "", ()), 0, [], now)
                self._end(self._attempt)
                self._attempt.error = f"This kiosk cannot identify people now: {error}"
                return self._state()
            if decide(plan, carried).outcome != "incomplete":
                raise ValueError(f"the carried checks already decide {plan.rule}")
            attempt = _Attempt(
                self._numbers,
                plan,
                len(carried),
                list(carried),
                now,
                actor=actor,
                last_progress=now,
                same_person=same_person,
            )
            self._attempt = attempt
            if self._camera_needed_but_down(plan):
                self._finish_abandoned(attempt, CAMERA_DOWN, error=True)
            else:
                self._enter_step(attempt)
            state = self._state()
        if self._worker is not None:
            self._worker.wake()
        return state

    def state(self) -> FlowState:
        with self._lock:
            self._check_timeout()
            return self._state()

    def present_badge(self, uid: str) -> FlowState:
        """A badge was laid on the reader (upper-case hex UID). Ignored unless a badge step is
        expected."""
        uid = uid.strip().upper()
        with self._lock:
            attempt = self._attempt
            expect = self._expect(attempt)
            if attempt is None or attempt.finished:
                return self._state()
            owner = caches.badge_owner(self._db, uid)
            if owner is not None and owner[0] == "staff" and self._opens_staff_login(attempt):
                # staff at a detainee's kiosk: their badge (and PIN) opens their own screens
                attempt.plan = _staff_login_plan(attempt.plan.mode)
                self._use(attempt, None)
                expect = "staff_badge"
            if expect not in ("badge", "staff_badge"):
                return self._state()
            attempt.last_progress = self.parts.clock()
            attempt.message = ""
            if expect == "staff_badge":
                self._staff_badge(attempt, owner)
            else:
                matched = owner is not None and owner[0] == "detainee"
                attempt.checks.append(_exact("badge", matched))
                if owner is not None and matched:
                    attempt.claimed = owner[1]
                else:
                    attempt.message = UNKNOWN_BADGE if owner is None else STAFF_BADGE_HERE
                self._after_check(attempt)
            state = self._state()
        if self._worker is not None:
            self._worker.wake()
        return state

    def present_pin(self, pin: str) -> FlowState:
        """The staff member typed their PIN. A wrong one may be typed again until the fifth
        in a row locks it (kiosk.staff_pins)."""
        with self._lock:
            attempt = self._attempt
            if attempt is None or self._expect(attempt) != "pin" or attempt.actor is None:
                return self._state()
            attempt.last_progress = self.parts.clock()
            try:
                check = staff_pins.check_pin(
                    self._db,
                    attempt.actor,
                    pin,
                    site=self.parts.site,
                    device=self.parts.device,
                    now=self.parts.now,
                )
            except staff_pins.StaffPinError as error:
                attempt.message = str(error)
                return self._state()
            if check.accepted or check.locked:
                attempt.message = check.message()
                attempt.checks.append(_exact("pin", check.accepted))
                self._after_check(attempt)
            else:
                attempt.message = check.message()
            return self._state()

    def choose(self, modality: Biometric) -> FlowState:
        """Use ``modality`` for the current biometric step (e.g. a finger instead of the
        face), when the step offers it and its sensor works."""
        with self._lock:
            attempt = self._attempt
            if attempt is not None and modality in self._options(attempt):
                self._use(attempt, modality)
            state = self._state()
        if self._worker is not None:
            self._worker.wake()
        return state

    def cancel(self) -> FlowState:
        """End the attempt: one in progress is recorded as abandoned if it had checked
        anything; a finished one is forgotten. The flow is idle afterwards."""
        with self._lock:
            self._abandon()
            self._attempt = None
            self.preview.clear()
            return self._state()

    def preview_jpeg(self) -> bytes | None:
        """The newest frame the flow analysed, 320 px wide, JPEG quality 70; None if none."""
        return self.preview.jpeg()

    def close(self) -> None:
        if self._worker is not None:
            self._worker.stop()
        with self._lock:
            self._db.close()

    # --- the slow work -----------------------------------------------------------------------

    def step(self) -> bool:
        """One unit of work for the current step: analyse the camera's newest frame, or wait
        up to ``finger_timeout`` for a finger. Returns whether anything was done."""
        with self._lock:
            self._check_timeout()
            attempt = self._attempt
            expect = self._expect(attempt)
            if attempt is None or expect not in ("face", "fingerprint"):
                return False
            number = attempt.number
        try:
            if expect == "face":
                return self._face_step(number)
            return self._finger_step(number)
        except Exception:
            logger.exception("identification step failed")
            with self._lock:
                current = self._attempt
                if current is not None and current.number == number and not current.finished:
                    self._finish_abandoned(current, BROKEN, error=True)
            return True

    def _face_step(self, number: int) -> bool:
        camera, pipeline = self.parts.camera, self.parts.face_pipeline
        assert camera is not None and pipeline is not None
        try:
            frame = camera.read(self.frame_timeout)
        except SensorError as error:
            logger.warning("camera failed during identification: %s", error)
            with self._lock:
                self._camera_down = str(error)
                current = self._attempt
                if current is not None and current.number == number and not current.finished:
                    current.unavailable["face"] = CAMERA_DOWN
                    self._enter_step(current)
            return True
        self.preview.show(frame)
        analysis = pipeline.analyse(frame.pixels)
        with self._lock:
            current = self._attempt
            if current is None or current.number != number or self._expect(current) != "face":
                return True
            self._camera_down = None
            self._judge_face(current, frame, analysis)
        return True

    def _finger_step(self, number: int) -> bool:
        sensor = self.parts.fingerprint
        assert sensor is not None
        try:
            image = sensor.capture(self.finger_timeout)
        except SensorError as error:
            logger.warning("fingerprint sensor failed during identification: %s", error)
            with self._lock:
                self._finger_down = str(error)
                current = self._attempt
                if current is not None and current.number == number and not current.finished:
                    current.unavailable["fingerprint"] = FINGER_DOWN
                    self._enter_step(current)
            return True
        if image is None:
            return False
        probe, problem = finger.template_or_problem(image)
        with self._lock:
            current = self._attempt
            if (
                current is None
                or current.number != number
                or self._expect(current) != "fingerprint"
            ):
                return True
            self._finger_down = None
            current.last_progress = self.parts.clock()
            if probe is None:
                current.guidance, current.advice = "finger_unusable", problem
                return True
            factor = self._current_step(current).option_for("fingerprint")
            assert factor is not None and current.claimed is not None
            enrolled = [
                finger.FingerTemplate.from_bytes(data)
                for data in caches.templates_of(
                    self._db, self.parts.vault, current.claimed, "fingerprint"
                )
            ]
            score = finger.verify(probe, enrolled, current.claimed, 1.0).score
            current.checks.append(factor.check_with_score(score))
            self._after_check(current)
        return True

    def _judge_face(self, attempt: _Attempt, frame: Frame, analysis: FaceAnalysis) -> None:
        quality = analysis.quality
        face = analysis.face
        attempt.face_box = normalised_box(face.box, frame.pixels.shape) if face else None
        attempt.guidance = quality.reasons[0] if quality.reasons else None
        attempt.advice = quality.advice() or ""
        if attempt.challenge is not None:
            one_person = "several_faces" not in quality.reasons
            landmarks = face.landmarks if face is not None and one_person else None
            challenge = attempt.challenge.feed(landmarks, frame.captured_at)
            started = challenge.phase is not Phase.WAITING or "turn" in challenge.prompt.lower()
            head = measure_turn(landmarks) if landmarks is not None else None
            if started and head is not None and analysis.template is not None:
                if not self._same_person_as_before(attempt, analysis.template):
                    self._finish_abandoned(attempt, NOT_LIVE)
                    return
                attempt.seen.append((abs(head.turn), analysis.template))
            if challenge.phase is Phase.PASSED:
                attempt.last_progress = self.parts.clock()
                probe = self._probe_of_challenge(attempt)
                if probe is None:
                    self._finish_abandoned(attempt, UNSEEN)
                    return
                self._compare_face(attempt, probe)
                return
            if challenge.phase in (Phase.FAILED, Phase.TIMED_OUT):
                failed = challenge.phase is Phase.FAILED
                self._finish_abandoned(attempt, NOT_LIVE if failed else TIMED_OUT)
                return
            if quality.ok or attempt.guidance in (None, "turned"):
                attempt.guidance = _challenge_code(challenge.prompt)
                attempt.advice = challenge.prompt
            if challenge.phase is not Phase.WAITING:
                attempt.last_progress = self.parts.clock()
            return
        if analysis.template is not None:
            self._compare_face(attempt, analysis.template)

    @staticmethod
    def _same_person_as_before(attempt: _Attempt, template: np.ndarray) -> bool:
        """Whether a good frame of the challenge shows the person of the good frame before
        it: someone stepping in mid-challenge must not be the face compared."""
        if not attempt.seen or attempt.same_person is None:
            return True
        return float(attempt.seen[-1][1] @ template) >= attempt.same_person

    @staticmethod
    def _probe_of_challenge(attempt: _Attempt) -> np.ndarray | None:
        """The most frontal good frame seen since the challenge started."""
        if not attempt.seen:
            return None
        return min(attempt.seen, key=lambda seen: seen[0])[1]

    def _compare_face(self, attempt: _Attempt, probe: np.ndarray) -> None:
        factor = self._current_step(attempt).option_for("face")
        assert factor is not None and factor.threshold is not None
        if factor.comparison == "1:N":
            assert attempt.gallery is not None
            best = matcher.identify(probe, attempt.gallery, factor.threshold, k=1).best
            assert best is not None  # the gallery is not empty (checked on entering the step)
            check = factor.check_with_score(best.score)
            if check.matched:
                attempt.claimed = best.subject_id
        else:
            assert attempt.claimed is not None
            enrolled = caches.templates_of(self._db, self.parts.vault, attempt.claimed, "face")
            scores = [
                matcher.verify(
                    probe, np.frombuffer(data, dtype=np.float32), attempt.claimed, factor.threshold
                ).score
                for data in enrolled
            ]
            check = factor.check_with_score(max(scores))
        attempt.checks.append(check)
        self._after_check(attempt)

    # --- bookkeeping (the lock is held) ------------------------------------------------------

    def _plan(self, mode: KioskMode, staff_login: bool) -> tuple[Plan, float | None]:
        """The plan, and the score two frames in a row of one person reach during the
        head-turn challenge: the face calibration's threshold at a false-match rate of 1e-2
        (a swap to someone else fails 99 times in 100; consecutive frames of one person in
        a video score far above it, different photos of one person usually do too)."""
        if staff_login:
            return _staff_login_plan(mode), None
        parts = self.parts
        thresholds = thresholds_in_force(parts.policy, parts.calibrations, mode, parts.engines())
        plan = plan_for(mode, parts.policy, thresholds, caches.roster_size(self._db))
        face = parts.calibrations.get("face")
        return plan, face.threshold_for(1e-2) if face is not None else None

    @staticmethod
    def _current_step(attempt: _Attempt) -> Step:
        return attempt.plan.steps[len(attempt.checks)]

    def _expect(self, attempt: _Attempt | None) -> Expect | None:
        if attempt is None or attempt.finished or len(attempt.checks) >= len(attempt.plan.steps):
            return None
        step = self._current_step(attempt)
        if step.option_for("pin") is not None:
            return "pin"
        if step.option_for("badge") is not None:
            return "staff_badge" if step.about == "staff" else "badge"
        return attempt.using

    def _options(self, attempt: _Attempt) -> tuple[Biometric, ...]:
        if attempt.finished or len(attempt.checks) >= len(attempt.plan.steps):
            return ()
        step = self._current_step(attempt)
        found: list[Biometric] = []
        for modality in ("face", "fingerprint"):
            if step.option_for(modality) is not None and modality not in attempt.unavailable:
                found.append(modality)
        return tuple(found)

    def _needs_sensors(self) -> bool:
        with self._lock:
            return self._expect(self._attempt) in ("face", "fingerprint")

    def _enter_step(self, attempt: _Attempt) -> None:
        """Set up the step now due: which biometric to use, or why none can be; and what
        sensor problem the person should know of while the attempt goes on."""
        attempt.guidance, attempt.face_box = None, None
        step = self._current_step(attempt)
        if step.option_for("face") is not None or step.option_for("fingerprint") is not None:
            self._find_unavailable(attempt, step)
            options = self._options(attempt)
            if not options:
                reason = attempt.unavailable.get("face") or attempt.unavailable.get("fingerprint")
                self._finish_abandoned(attempt, reason or BROKEN, error=True)
                return
            if attempt.using not in options:
                self._use(attempt, options[0])
        else:
            self._use(attempt, None)
            attempt.advice = ADVICE[self._expect(attempt) or "badge"]
        attempt.error = self._notice(attempt)

    def _notice(self, attempt: _Attempt) -> str | None:
        """A sensor problem to show while the attempt can go on without that sensor."""
        reader = self.parts.badge_reader
        badge_wanted = self._expect(attempt) in ("badge", "staff_badge")
        if badge_wanted and reader is not None and not reader.health().ok:
            return BADGE_READER_DOWN
        faces_wanted = any(
            step.option_for("face") for step in attempt.plan.steps[len(attempt.checks) :]
        )
        if faces_wanted and not self._camera_works():
            return CAMERA_DOWN_FINGER if attempt.using == "fingerprint" else CAMERA_DOWN_BADGE
        return None

    def _recheck_sensors(self) -> None:
        """Give a sensor that failed during an earlier attempt another chance once its
        driver says it works again."""
        camera, sensor = self.parts.camera, self.parts.fingerprint
        if self._camera_down and camera is not None and camera.health().ok:
            self._camera_down = None
        if self._finger_down and sensor is not None and sensor.health().ok:
            self._finger_down = None

    def _camera_works(self) -> bool:
        parts = self.parts
        return (
            parts.camera is not None
            and parts.face_pipeline is not None
            and not self._camera_down
            and parts.camera.health().ok
        )

    def _camera_needed_but_down(self, plan: Plan) -> bool:
        """Whether the plan cannot be followed because a face is needed and the camera is
        down; where a finger may stand in for the face, the person is told so instead."""
        if self._camera_works():
            return False
        for step in plan.steps:
            if step.option_for("face") is None:
                continue
            if step.option_for("fingerprint") is None or self.parts.fingerprint is None:
                return True
        return False

    def _opens_staff_login(self, attempt: _Attempt) -> bool:
        """A staff badge shown first to a plan about detainees starts a staff login."""
        return (
            attempt.carried == 0
            and not attempt.checks
            and attempt.plan.rule != STAFF_LOGIN_RULE
            and attempt.plan.steps[0].about == "detainee"
        )

    def _find_unavailable(self, attempt: _Attempt, step: Step) -> None:
        parts = self.parts
        face = step.option_for("face")
        if face is not None and "face" not in attempt.unavailable:
            if not self._camera_works():
                attempt.unavailable["face"] = CAMERA_DOWN
            elif face.comparison == "1:N":
                attempt.gallery = caches.load_gallery(self._db, parts.vault, "face")
                if not attempt.gallery.detainee_ids:
                    attempt.unavailable["face"] = NOBODY_ENROLLED
            elif attempt.claimed is not None and not caches.templates_of(
                self._db, parts.vault, attempt.claimed, "face"
            ):
                attempt.unavailable["face"] = NOT_ENROLLED
        if step.option_for("fingerprint") is not None and "fingerprint" not in attempt.unavailable:
            if parts.fingerprint is None or self._finger_down:
                attempt.unavailable["fingerprint"] = FINGER_DOWN
            elif attempt.claimed is not None and not caches.templates_of(
                self._db, parts.vault, attempt.claimed, "fingerprint"
            ):
                attempt.unavailable["fingerprint"] = NOT_ENROLLED

    def _use(self, attempt: _Attempt, modality: Biometric | None) -> None:
        attempt.using = modality
        attempt.advice = ADVICE[modality] if modality else ""
        attempt.guidance = None
        attempt.face_box = None
        attempt.challenge = None
        attempt.seen = []
        if modality == "face" and attempt.plan.head_turn:
            attempt.challenge = ActiveChallenge(steps=self.head_turn)

    def _staff_badge(self, attempt: _Attempt, owner: tuple[str, str] | None) -> None:
        matched = owner is not None and owner[0] == "staff"
        attempt.checks.append(_exact("badge", matched))
        if not matched or owner is None:
            attempt.message = UNKNOWN_BADGE if owner is None else NOT_STAFF_BADGE
            self._after_check(attempt)
            return
        attempt.actor = owner[1]
        try:
            locked = staff_pins.is_locked(self._db, owner[1])
        except staff_pins.StaffPinError as error:
            self._finish_abandoned(attempt, str(error), error=True)
            return
        if locked:
            attempt.message = staff_pins.LOCKED
            attempt.checks.append(_exact("pin", False))
        self._after_check(attempt)

    def _after_check(self, attempt: _Attempt) -> None:
        """Judge the checks so far; record the decision once it is final."""
        attempt.last_progress = self.parts.clock()
        decision = decide(attempt.plan, attempt.checks)
        if decision.outcome == "incomplete":
            self._enter_step(attempt)
            return
        matched = decision.outcome == "matched"
        staff_plan = attempt.plan.rule == STAFF_LOGIN_RULE
        attempt.outcome = decision.outcome
        if matched:
            attempt.person_kind = "staff" if staff_plan else "detainee"
            attempt.person_id = attempt.actor if staff_plan else attempt.claimed
            attempt.message = ""
        elif attempt.checks[-1].modality in ("face", "fingerprint"):
            attempt.message = NOT_RECOGNISED
        attempt.event_id = self._record(
            attempt,
            decision.identification(),
            subject=attempt.person_id if matched and not staff_plan else None,
        )
        self._end(attempt)

    def _finish_abandoned(self, attempt: _Attempt, message: str, *, error: bool = False) -> None:
        """End without a decision: recorded as abandoned if this attempt checked anything.
        ``error``: a sensor or set-up problem (no outcome), else the person's attempt failed."""
        if error:
            attempt.error = message
        else:
            attempt.outcome = "not_matched"
            attempt.message = message
        if len(attempt.checks) > attempt.carried:
            body = Identification(
                mode=attempt.plan.mode,
                rule=attempt.plan.rule,
                checks=attempt.checks,
                outcome="abandoned",
            )
            attempt.event_id = self._record(attempt, body, subject=None)
        self._end(attempt)

    def _end(self, attempt: _Attempt) -> None:
        attempt.finished = True
        attempt.challenge = None
        attempt.seen = []
        attempt.gallery = None
        attempt.guidance = None
        attempt.advice = ""
        attempt.face_box = None

    def _record(self, attempt: _Attempt, body: Identification, *, subject: str | None) -> str:
        with store.write(self._db):
            event = outbox.record(
                self._db,
                IdentificationEvent,
                body,
                site=self.parts.site,
                device=self.parts.device,
                subject=subject,
                actor=attempt.actor,
                now=self.parts.now,
            )
        return event.id

    def _abandon(self) -> None:
        attempt = self._attempt
        if attempt is not None and not attempt.finished:
            self._finish_abandoned(attempt, "")

    def _check_timeout(self) -> None:
        attempt = self._attempt
        if (
            attempt is not None
            and not attempt.finished
            and self.parts.clock() - attempt.last_progress > self.give_up_after
        ):
            self._finish_abandoned(attempt, TIMED_OUT)

    def _state(self) -> FlowState:
        attempt = self._attempt
        if attempt is None:
            return FlowState()
        challenge = None
        if attempt.challenge is not None:
            phase = attempt.challenge.state.phase
            done = {Phase.TURNED_LEFT: 1, Phase.TURNED_RIGHT: 1, Phase.PASSED: 2}.get(phase, 0)
            challenge = ChallengeProgress(
                tuple(attempt.challenge.steps), min(done, len(attempt.challenge.steps)), phase.value
            )
        return FlowState(
            active=not attempt.finished,
            mode=attempt.plan.mode,
            rule=attempt.plan.rule or None,
            expect=self._expect(attempt),
            options=self._options(attempt),
            guidance=attempt.guidance,
            advice=attempt.advice,
            face_box=attempt.face_box,
            challenge=challenge,
            outcome=attempt.outcome if attempt.finished else None,
            person_id=attempt.person_id,
            person_kind=attempt.person_kind,
            message=attempt.message,
            error=attempt.error,
            explanation=attempt.plan.explanation,
            event_id=attempt.event_id,
        )

    def checks(self) -> tuple[ModalityCheck, ...]:
        """The checks of the current (or last) attempt, for a flow built on top of this one
        (a movement check carries the officer's login into each detainee's attempt)."""
        with self._lock:
            return tuple(self._attempt.checks) if self._attempt is not None else ()
