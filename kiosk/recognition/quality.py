"""Image-quality gates: is this frame good enough to identify someone from, and if not, what
should the person do? Pure functions of the detections, the aligned crop and the frame.

Every gate is an image-quality limit measured on ../shared/data/faces-dev (README.md, "Faces"):
each lies where degrading the dev photos (shrinking, blurring, darkening, brightening, tilting)
starts to refuse genuine pairs at the calibrated threshold. The dev photos pass them all but
six (two out of focus, four with a second person as near). None is a match decision: those
come from the calibration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from kiosk.recognition.detect import DetectedFace

ADVICE = {
    "too_dark": "It is too dark: face the light",
    "too_bright": "Too much light: step out of the glare",
    "no_face": "Look at the camera",
    "several_faces": "One person at a time, please",
    "too_small": "Come closer",
    "turned": "Look straight at the camera",
    "blurred": "Hold still",
}
"""Reason code → plain advice, most useful first (the order reasons are reported in): with the
light wrong nothing else can be judged, so exposure comes before everything."""


@dataclass(frozen=True, slots=True)
class QualityReport:
    ok: bool
    reasons: tuple[str, ...]  # codes: "no_face", "several_faces", "too_small", "blurred",
    # "too_dark", "too_bright", "turned"; the UI translates them

    def advice(self) -> str:
        """Plain English for the first reason ("Come closer"); empty when the frame is good."""
        return ADVICE[self.reasons[0]] if self.reasons else ""


@dataclass(frozen=True, slots=True)
class QualityGates:
    """The limits; README.md ("Faces") shows the measurements each one comes from."""

    min_eye_distance: float = 16.0  # pixels between the eye centres in the frame
    min_sharpness: float = 25.0  # variance of the Laplacian of the grey aligned crop
    min_brightness: float = 50.0  # mean grey level of the face's centre, 0–255
    max_brightness: float = 200.0
    max_yaw: float = 0.6  # nose-tip offset from the eyes–mouth midline, in eye distances
    max_roll_degrees: float = 30.0  # tilt of the eye line
    several_faces_ratio: float = 0.75  # another face this wide (× the nearest) is a 2nd person


DEFAULT_GATES = QualityGates()


@dataclass(frozen=True, slots=True)
class FaceMeasures:
    eye_distance: float
    sharpness: float
    brightness: float
    yaw: float  # signed: positive when the nose points to the image's right
    roll_degrees: float


FACE_CENTRE = (slice(24, 104), slice(24, 88))  # rows, columns of the 112 × 112 aligned crop


def brightness(pixels: np.ndarray) -> float:
    return float(cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY).mean())


def measure_face(face: DetectedFace, aligned: np.ndarray) -> FaceMeasures:
    """Size, sharpness, exposure and pose of one detected face and its aligned crop."""
    right_eye, left_eye, nose, right_mouth, left_mouth = face.landmarks.astype(np.float64)
    eye_line = left_eye - right_eye
    eye_distance = float(np.hypot(*eye_line))
    roll = math.atan2(eye_line[1], eye_line[0])
    # pose in the face's own frame: undo the roll, then see how far the nose tip sits off the
    # line joining the eyes' midpoint and the mouth's midpoint
    undo = np.array([[math.cos(roll), math.sin(roll)], [-math.sin(roll), math.cos(roll)]])
    eyes_mid = undo @ ((right_eye + left_eye) / 2)
    mouth_mid = undo @ ((right_mouth + left_mouth) / 2)
    nose_x, nose_y = undo @ nose
    span = mouth_mid[1] - eyes_mid[1]
    along = (nose_y - eyes_mid[1]) / span if abs(span) > 1e-6 else 0.5
    midline_x = eyes_mid[0] + along * (mouth_mid[0] - eyes_mid[0])
    grey = cv2.cvtColor(aligned, cv2.COLOR_BGR2GRAY)
    return FaceMeasures(
        eye_distance=eye_distance,
        sharpness=float(cv2.Laplacian(grey, cv2.CV_64F).var()),
        brightness=float(grey[FACE_CENTRE].mean()),
        yaw=float((nose_x - midline_x) / max(eye_distance, 1e-6)),
        roll_degrees=math.degrees(roll),
    )


def subject_of(faces: list[DetectedFace]) -> DetectedFace | None:
    """The person at the kiosk: the widest face, i.e. the nearest to the camera."""
    return max(faces, key=lambda face: face.box[2], default=None)


def assess(
    frame: np.ndarray,
    faces: list[DetectedFace],
    measures: FaceMeasures | None,
    gates: QualityGates = DEFAULT_GATES,
) -> QualityReport:
    """Every gate the frame fails, most useful advice first.

    Without a face, the frame's own exposure is judged, so a covered lens or a dark room says
    "too dark" rather than only "look at the camera".
    """
    failed: set[str] = set()
    if not faces or measures is None:
        failed.add("no_face")
        level = brightness(frame)
        if level < gates.min_brightness:
            failed.add("too_dark")
        elif level > gates.max_brightness:
            failed.add("too_bright")
    else:
        nearest = max(face.box[2] for face in faces)
        others = sorted((face.box[2] for face in faces), reverse=True)[1:]
        if others and others[0] >= gates.several_faces_ratio * nearest:
            failed.add("several_faces")
        if measures.brightness < gates.min_brightness:
            failed.add("too_dark")
        elif measures.brightness > gates.max_brightness:
            failed.add("too_bright")
        if measures.eye_distance < gates.min_eye_distance:
            failed.add("too_small")
        if abs(measures.yaw) > gates.max_yaw or abs(measures.roll_degrees) > gates.max_roll_degrees:
            failed.add("turned")
        if measures.sharpness < gates.min_sharpness:
            failed.add("blurred")
    reasons = tuple(code for code in ADVICE if code in failed)
    return QualityReport(ok=not reasons, reasons=reasons)
