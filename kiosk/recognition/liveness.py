"""Is a live person in front of the kiosk, or a photo held up to the camera?

Two checks, because neither is enough alone:

* ``PassiveLiveness`` scores one frame with ``fr_liveness.onnx`` (the faceplugin anti-spoofing
  model). It needs no cooperation but is a weak signal here: it was never measured on this
  kiosk's camera against real attacks, so by default it is recorded, not used to refuse.
* ``ActiveChallenge`` asks "turn your head to your left, then to your right" and follows the
  five detector landmarks across frames. A real head is 3-D: when it turns, the nose tip moves
  sideways against the eyes, and the eye line shortens by about the amount that nose offset
  implies. A flat photo moved, rotated, scaled or tilted in the hand keeps the nose where it
  is in the photo's own eye frame; tilting it shortens the eye line with no nose movement.

A video replay (a phone playing a recording of the person turning their head) can pass the
active challenge, and so could a series of photos at gradually larger yaws swapped without the
face ever leaving the view; only a passive model or staff presence addresses those.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import onnxruntime

from kiosk.recognition.models import open_session
from protocol.models import spec_for

Direction = Literal["left", "right"]


class LivenessInputError(ValueError):
    """The liveness check was given something it cannot use; the message says what."""


@dataclass(frozen=True, slots=True)
class LivenessConfig:
    """The thresholds of both checks, each with the measurement it comes from.

    "Turn" is the nose tip's offset from the eye midpoint along the eye line, in eye distances
    (positive: towards the person's left eye). On a mean 3-D face it is about
    ``nose_depth * tan(yaw)`` while the eye line shortens to ``cos(yaw)`` of its frontal length;
    faces-dev photos follow this (eye-line ratio 0.873 measured, 0.874 predicted, for turns of
    0.2-0.3). Attack figures: the pipeline's YuNet landmarks on 99 simulated sequences (33
    faces-dev photos printed and held in front of a 640x480 camera: tilted left/right up to 55
    degrees, tilted forwards up to 50, rolled up to 15, moved, scaled), made like those in
    test_liveness.py; 198 more were run with OpenCV's YuNet and 99 with faceplugin landmarks.
    """

    turn_threshold: float = 0.20
    """A step counts at |turn| >= 0.20 (about 24 degrees of yaw). Over the attack sequences
    that reached the frontal start (69 of 99), the best a photo got on both sides at once,
    picking its most favourable frames, was 0.089 (0.104 with OpenCV's YuNet, 0.134 with
    faceplugin landmarks): the threshold is about twice that. A real 30 degree turn: ~0.26."""

    frontal_max: float = 0.08
    """The challenge starts from a face looking at the camera: |turn| <= 0.08 (about 10
    degrees; 41 % of faces-dev photos)."""

    nose_depth: float = 0.45
    """Nose tip depth in front of the eyes, in eye distances (mean face; fits faces-dev)."""

    foreshortening_tolerance: float = 0.15
    """A turned frame counts only if its eye line is shortened within 0.15 of the cos(yaw)
    its turn implies (turned faces-dev photos: 96 % within 0.12, largest gap 0.12): a nose
    point that moved with no matching foreshortening is a landmark error, not a head."""

    hold_frames: int = 2
    """A pose must be seen in this many consecutive usable frames (also the frontal start):
    one-frame landmark glitches of a moving photo do not count."""

    max_roll_degrees: float = 15.0
    """Frames whose eye line is rolled more than this are not judged: YuNet's nose point
    drifts with roll (0.1-0.3 eye distances at 30-40 degrees on the very same flat image);
    attacks were measured up to 15 degrees. Faces-dev photos: all within 6.2 degrees."""

    min_eye_distance_px: float = 40.0
    """Smaller faces are not judged: below 40 px the landmark noise of the attack frames grew
    from 0.43 to 0.72 eye distances. A face at ~50 cm from a 640x480 camera has ~65 px."""

    jitter_allowance: float = 0.04
    """The turn may change by this much between two consecutive usable frames on top of the
    head's own motion: YuNet's landmark noise on 99 faces-dev photos detected again with fresh
    camera noise and 1 px shifts changed the turn by 0.005 (median), 0.047 (99th percentile).
    Moving prints jitter more (attack frames 0.1 s apart: 99th percentile 0.11), so they fail
    sooner ..."""

    max_turn_speed: float = 0.9
    """... plus this many eye distances per second, for at most ``frame_seconds`` (a brisk 30
    degree turn in 0.3 s is ~0.9/s; the screen asks for a slow one). Per frame that allows
    0.04 + 0.9 / 15 = 0.10, less than turn_threshold - frontal_max (0.12): no single frame gets
    from a frontal picture to a turned one. A faster change means pictures were swapped."""

    frame_seconds: float = 1 / 15
    """The time between two usable frames counts for at most one frame of the kiosk camera
    (15 fps by default), so a moment with no usable face, as when a picture is swapped, buys no
    bigger change. With a slower camera heads must turn more slowly (10 fps: ~0.6/s)."""

    approach_frames: int = 2
    """A step counts only after this many usable frames part way to that side (frontal_max <
    |turn| < turn_threshold) since the face was last frontal, turned the other way or out of
    view: a head turning at 0.9/s passes 2 at 15 fps (0.06 a frame across a 0.12 band); a
    picture swapped for a turned one skips them."""

    max_gap_seconds: float = 1.0
    """Once started, no usable face for longer than this fails the challenge: swapping
    pictures usually hides the face for a moment."""

    timeout_seconds: float = 15.0
    """The whole challenge must be done within this time."""

    passive_min_live: float | None = None
    """Refuse when fr_liveness's live probability is below this. None: the score is recorded
    but not used to refuse, because no captures of real people and real attacks in front of
    the kiosk camera exist yet to set it; faceplugin's own demos use 0.3 or 0.6, and on the
    faces-dev photos themselves the model gives a median of 0.47."""


# --- the active challenge ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeadTurn:
    """What the five landmarks say about the head's pose in one frame."""

    turn: float
    """Nose offset from the eye midpoint along the eye line (right eye -> left eye), in eye
    distances: + = turned to the person's left. Detectors label the eyes by image side, so
    this assumes an unmirrored camera image (as picamera2 and OpenCV deliver it)."""
    roll_degrees: float
    eye_distance_px: float
    width_to_height: float
    """Eye distance over the eye-midpoint-to-mouth-midpoint distance: shrinks as the head (or
    a photo) turns about the vertical axis."""


def measure_turn(landmarks: np.ndarray) -> HeadTurn | None:
    """The head-turn measurement of one face, or None when its landmarks are degenerate.

    ``landmarks`` is (5, 2) in image pixels, in DetectedFace order: right eye, left eye, nose
    tip, right mouth corner, left mouth corner.
    """
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (5, 2):
        raise LivenessInputError(
            f"face landmarks must be 5 points (x, y), got an array of shape {points.shape}"
        )
    if not np.all(np.isfinite(points)):
        return None
    right_eye, left_eye, nose, right_mouth, left_mouth = points
    eye_line = left_eye - right_eye
    eye_distance = float(np.hypot(*eye_line))
    if eye_distance < 1.0:
        return None
    along = eye_line / eye_distance
    across = np.array([-along[1], along[0]])
    eye_mid = (right_eye + left_eye) / 2
    mouth_drop = float(((right_mouth + left_mouth) / 2 - eye_mid) @ across)
    if mouth_drop < 1.0:
        return None
    return HeadTurn(
        turn=float((nose - eye_mid) @ along) / eye_distance,
        roll_degrees=math.degrees(math.atan2(eye_line[1], eye_line[0])),
        eye_distance_px=eye_distance,
        width_to_height=eye_distance / mouth_drop,
    )


class Phase(StrEnum):
    WAITING = "waiting"
    TURNED_LEFT = "turned_left"
    TURNED_RIGHT = "turned_right"
    PASSED = "passed"
    FAILED = "failed"
    TIMED_OUT = "timed_out"


FAILURE_REASONS = {
    "jump": "the face changed pose faster than a head can turn",
    "face_lost": "the face left the camera's view during the challenge",
}


@dataclass(frozen=True, slots=True)
class ChallengeState:
    """Where the challenge stands after a frame, and what the screen should say."""

    phase: Phase
    prompt: str
    reason: str | None = None
    """For FAILED: a code of FAILURE_REASONS."""

    @property
    def finished(self) -> bool:
        return self.phase in (Phase.PASSED, Phase.FAILED, Phase.TIMED_OUT)


_TURN_PROMPTS = {
    "left": "Turn your head slowly to your left",
    "right": "Turn your head slowly to your right",
}
_NEXT_TURN_PROMPTS = {
    "left": "Good. Now turn your head slowly to your left",
    "right": "Good. Now turn your head slowly to your right",
}
_DONE_PHASE = {"left": Phase.TURNED_LEFT, "right": Phase.TURNED_RIGHT}
_FAILED_PROMPT = "We could not check that you are here in person. Please ask a member of staff."


class ActiveChallenge:
    """Turn the head to each side in ``steps`` order, judged frame by frame from landmarks.

    It first waits for a frontal face (|turn| <= frontal_max for hold_frames frames) and keeps
    its eye-line ratio as the baseline. A step is done when hold_frames consecutive usable
    frames show |turn| >= turn_threshold to the asked side with the eye line shortened as
    that turn implies, reached through approach_frames frames part way there. It fails when
    the turn jumps faster than a head turns or the face is gone too long once started, and
    times out after ``timeout`` seconds. A photo that never passes simply ends TIMED_OUT: the
    policy treats both endings as "not shown to be live".

    Feed it every frame's landmarks (None when no face was found) with the frame's
    ``captured_at``; it never calls a detector itself. The clock is the frames' own, so the
    same frames always give the same result.
    """

    def __init__(
        self,
        steps: tuple[Direction, ...] = ("left", "right"),
        timeout: float | None = None,
        config: LivenessConfig | None = None,
    ) -> None:
        if not steps or any(step not in _TURN_PROMPTS for step in steps):
            raise LivenessInputError(f"challenge steps must be 'left' or 'right', got {steps!r}")
        self.steps = steps
        self.config = config or LivenessConfig()
        self.timeout = self.config.timeout_seconds if timeout is None else timeout
        self._started_at: float | None = None
        self._last_frame_at: float | None = None
        self._last_seen: tuple[float, float] | None = None  # captured_at, turn
        self._baseline: float | None = None  # width_to_height when looking straight
        self._frontal_ratios: list[float] = []
        self._done = 0
        self._streak = 0
        self._approach = 0  # usable frames part way to the asked side since frontal or a gap
        self._state = ChallengeState(Phase.WAITING, "Look straight at the camera")

    @property
    def state(self) -> ChallengeState:
        return self._state

    def feed(self, landmarks: np.ndarray | None, captured_at: float) -> ChallengeState:
        """Take one frame's face landmarks (or None) and return the new state."""
        if self._state.finished:
            return self._state
        if self._last_frame_at is not None and captured_at < self._last_frame_at:
            raise LivenessInputError(
                f"frames must arrive in time order: {captured_at} came after {self._last_frame_at}"
            )
        self._last_frame_at = captured_at
        if self._started_at is None:
            self._started_at = captured_at
        if captured_at - self._started_at > self.timeout:
            return self._finish(Phase.TIMED_OUT, "Time is up. Please try again.")

        head = None if landmarks is None else measure_turn(landmarks)
        problem = self._unusable(head)
        if problem is not None or head is None:
            return self._skip(captured_at, problem or "Keep your face in view of the camera")
        if self._baseline is None:
            return self._look_for_frontal(head, captured_at)
        return self._follow_turn(head, captured_at)

    def _unusable(self, head: HeadTurn | None) -> str | None:
        if head is None:
            return "Keep your face in view of the camera"
        if head.eye_distance_px < self.config.min_eye_distance_px:
            return "Come closer to the camera"
        if abs(head.roll_degrees) > self.config.max_roll_degrees:
            return "Keep your head upright"
        return None

    def _skip(self, captured_at: float, prompt: str) -> ChallengeState:
        self._streak = 0
        self._approach = 0
        self._frontal_ratios.clear()
        if (
            self._baseline is not None
            and self._last_seen is not None
            and captured_at - self._last_seen[0] > self.config.max_gap_seconds
        ):
            return self._fail("face_lost")
        self._state = ChallengeState(self._state.phase, prompt)
        return self._state

    def _look_for_frontal(self, head: HeadTurn, captured_at: float) -> ChallengeState:
        self._last_seen = (captured_at, head.turn)
        if abs(head.turn) > self.config.frontal_max:
            self._frontal_ratios.clear()
            self._state = ChallengeState(Phase.WAITING, "Look straight at the camera")
            return self._state
        self._frontal_ratios.append(head.width_to_height)
        if len(self._frontal_ratios) < self.config.hold_frames:
            self._state = ChallengeState(Phase.WAITING, "Look straight at the camera")
            return self._state
        self._baseline = float(np.median(self._frontal_ratios))
        self._state = ChallengeState(Phase.WAITING, self._next_prompt())
        return self._state

    def _follow_turn(self, head: HeadTurn, captured_at: float) -> ChallengeState:
        config = self.config
        assert self._baseline is not None and self._last_seen is not None
        seen_at, seen_turn = self._last_seen
        if captured_at - seen_at > config.max_gap_seconds:
            return self._fail("face_lost")
        elapsed = min(captured_at - seen_at, config.frame_seconds)
        if abs(head.turn - seen_turn) > config.jitter_allowance + config.max_turn_speed * elapsed:
            return self._fail("jump")
        self._last_seen = (captured_at, head.turn)

        implied = math.cos(math.atan(abs(head.turn) / config.nose_depth))
        shortening = head.width_to_height / self._baseline
        sign = 1.0 if self.steps[self._done] == "left" else -1.0
        turned = sign * head.turn >= config.turn_threshold
        consistent = abs(shortening - implied) <= config.foreshortening_tolerance
        if turned:
            approached = self._approach >= config.approach_frames
            self._streak = self._streak + 1 if consistent and approached else 0
        else:
            self._streak = 0
            self._approach = self._approach + 1 if sign * head.turn > config.frontal_max else 0
        if self._streak >= config.hold_frames:
            phase = _DONE_PHASE[self.steps[self._done]]
            self._done += 1
            self._streak = 0
            self._approach = 0
            if self._done == len(self.steps):
                return self._finish(Phase.PASSED, "Thank you")
            self._state = ChallengeState(phase, _NEXT_TURN_PROMPTS[self.steps[self._done]])
            return self._state
        self._state = ChallengeState(self._state.phase, self._next_prompt())
        return self._state

    def _next_prompt(self) -> str:
        return _TURN_PROMPTS[self.steps[self._done]]

    def _fail(self, reason: str) -> ChallengeState:
        self._state = ChallengeState(Phase.FAILED, _FAILED_PROMPT, reason)
        return self._state

    def _finish(self, phase: Phase, prompt: str) -> ChallengeState:
        self._state = ChallengeState(phase, prompt)
        return self._state


# --- the passive check ---------------------------------------------------------------------

PASSIVE_MODEL_FILE = "fr_liveness.onnx"
PASSIVE_INPUT_SIZE = 128
PASSIVE_CROP_SCALE = 2.7
LIVE_CLASS = 0


def passive_crop(image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """The 128x128 crop fr_liveness expects, as faceplugin's alignLivenessImage makes it.

    The face box (x, y, width, height) is scaled by 2.7 about its centre (less if the image is
    too small), shifted back inside the image, cut out and resized to 128x128, aspect ratio
    not kept.
    """
    height, width = image.shape[:2]
    x, y, box_w, box_h = box
    if not (box_w > 0 and box_h > 0):
        raise LivenessInputError(f"face box must have a positive size, got {box}")
    scale = min((height - 1) / box_h, (width - 1) / box_w, PASSIVE_CROP_SCALE)
    new_w, new_h = box_w * scale, box_h * scale
    centre_x, centre_y = x + box_w / 2, y + box_h / 2
    left, top = centre_x - new_w / 2, centre_y - new_h / 2
    right, bottom = centre_x + new_w / 2, centre_y + new_h / 2
    if left < 0:
        right -= left
        left = 0
    if top < 0:
        bottom -= top
        top = 0
    if right > width - 1:
        left -= right - width + 1
        right = width - 1
    if bottom > height - 1:
        top -= bottom - height + 1
        bottom = height - 1
    crop_x, crop_y = max(int(left), 0), max(int(top), 0)
    crop_w, crop_h = min(int(right - left), width - 1), min(int(bottom - top), height - 1)
    face = image[crop_y : crop_y + crop_h, crop_x : crop_x + crop_w]
    if face.size == 0:
        raise LivenessInputError(f"face box {box} lies outside the {width}x{height} image")
    return cv2.resize(face, (PASSIVE_INPUT_SIZE, PASSIVE_INPUT_SIZE))


class PassiveLiveness:
    """fr_liveness.onnx on one frame: the probability that the face is a live one.

    Preprocessing follows the package's lib/fr_liveness.js exactly: the 2.7x crop of
    ``passive_crop``, RGB channel order (the JS reads an RGBA canvas), raw 0-255 values, no
    normalisation; softmax over 3 classes, class 0 = live (faceplugin's demos show "Live" when
    it is >= 0.3 or >= 0.6). The JS crops around fr_detect's box; YuNet's boxes are about the
    same (faces-dev medians: fr_detect's 0.98x as wide and 1.04x as tall).
    """

    def __init__(self, session: onnxruntime.InferenceSession) -> None:
        self._session: onnxruntime.InferenceSession | None = session
        self._input = session.get_inputs()[0].name

    @classmethod
    def open(cls, models_dir: Path) -> PassiveLiveness:
        """Load fr_liveness.onnx from ``models_dir``, refusing a file whose hash differs."""
        path = models_dir / PASSIVE_MODEL_FILE
        return cls(open_session(path, spec_for(PASSIVE_MODEL_FILE).sha256))

    def live_probability(self, image: np.ndarray, box: tuple[float, float, float, float]) -> float:
        """Probability (0-1) that the face in ``box`` of the BGR ``image`` is live."""
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise LivenessInputError(
                "the camera image must be 8-bit colour (height, width, 3), got "
                f"{image.dtype} {image.shape}"
            )
        if self._session is None:
            raise LivenessInputError("the passive liveness model was closed")
        rgb = passive_crop(image, box)[:, :, ::-1]
        tensor = np.ascontiguousarray(rgb.transpose(2, 0, 1)[np.newaxis], dtype=np.float32)
        (logits,) = self._session.run(None, {self._input: tensor})
        scores = np.asarray(logits, dtype=np.float64).reshape(-1)
        probabilities = np.exp(scores - scores.max())
        return float(probabilities[LIVE_CLASS] / probabilities.sum())

    def close(self) -> None:
        """Release the session (onnxruntime frees it with the last reference)."""
        self._session = None
