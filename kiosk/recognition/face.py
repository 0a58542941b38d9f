"""The face pipeline: detect → align → quality → embed, and enrolment from several frames.

One FacePipeline per process owns the onnxruntime sessions; ``analyse`` takes a BGR frame and
says either which template it holds or, in reason codes the UI turns into advice, why it holds
none.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from kiosk.recognition.align import align_face
from kiosk.recognition.detect import (
    DETECTOR_MODELS,
    DetectedFace,
    FaceDetector,
    FaceImageError,
    check_image,
    open_detector,
)
from kiosk.recognition.embed import Embedder, OnnxFaceEmbedder
from kiosk.recognition.models import KNOWN_MODELS
from kiosk.recognition.quality import (
    DEFAULT_GATES,
    QualityGates,
    QualityReport,
    assess,
    measure_face,
    subject_of,
)

DEFAULT_DETECTOR = "faceplugin"
"""What a new install uses: its models come from the npm registry (README.md, "Faces")."""


def engine_id(detector: str = DEFAULT_DETECTOR) -> str:
    """Names the model files a face template comes from (detector and embedder): scores, and
    so a calibration's thresholds, hold only for the same files."""
    names = (*DETECTOR_MODELS[detector], OnnxFaceEmbedder.MODEL)
    pinned = " ".join(f"{name}:{KNOWN_MODELS[name].sha256}" for name in names)
    return hashlib.sha256(pinned.encode()).hexdigest()


class EnrolmentError(ValueError):
    """Enrolment got no frame good enough to build a template from."""


@dataclass(frozen=True, slots=True)
class FaceAnalysis:
    face: DetectedFace | None
    quality: QualityReport  # kiosk/recognition/quality.py
    template: np.ndarray | None  # (512,) float32, L2-normalised; None when quality failed


class FacePipeline:
    """detect -> align -> quality -> embed. Built from a models directory."""

    def __init__(
        self,
        detector: FaceDetector,
        embedder: Embedder,
        *,
        engine: str,
        gates: QualityGates = DEFAULT_GATES,
    ) -> None:
        self.detector = detector
        self.embedder = embedder
        self.engine = engine  # engine_id(): what a calibration must have been measured with
        self.gates = gates

    @classmethod
    def open(cls, models_dir: Path, *, detector: str = DEFAULT_DETECTOR) -> FacePipeline:
        """The pipeline on the models in ``models_dir``, each checked against its pinned hash
        (ModelMissingError, ModelHashMismatchError otherwise)."""
        return cls(
            open_detector(models_dir, detector),
            OnnxFaceEmbedder.open(models_dir),
            engine=engine_id(detector),
        )

    def analyse(self, image: np.ndarray, timings: dict[str, float] | None = None) -> FaceAnalysis:
        """The nearest face of a BGR uint8 frame, its quality and (when good) its template.

        :param timings: when given, receives the milliseconds of each stage ("detect",
            "align", "quality", "embed") that ran.
        """
        check_image(image)
        clock = _Stopwatch(timings)
        faces = self.detector.detect(image)
        clock.lap("detect")
        face = subject_of(faces)
        aligned = measures = None
        if face is not None:
            aligned = align_face(image, face.landmarks)
            clock.lap("align")
            measures = measure_face(face, aligned)
        quality = assess(image, faces, measures, self.gates)
        clock.lap("quality")
        if not quality.ok or aligned is None:
            return FaceAnalysis(face=face, quality=quality, template=None)
        template = self.embedder.embed(aligned)
        clock.lap("embed")
        return FaceAnalysis(face=face, quality=quality, template=template)

    def close(self) -> None:
        """Nothing to release: onnxruntime frees a session with its last reference."""


class _Stopwatch:
    def __init__(self, timings: dict[str, float] | None) -> None:
        self._timings = timings
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        if self._timings is not None:
            self._timings[stage] = (now - self._last) * 1000
        self._last = now


def load_image(path: Path) -> np.ndarray:
    """A picture file as BGR uint8 pixels, or FaceImageError naming the file."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise FaceImageError(f"cannot read {path}: {exc.strerror or exc}") from None
    pixels = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if pixels is None:
        raise FaceImageError(f"{path} is not a picture OpenCV can read (damaged or not an image)")
    check_image(pixels)
    return pixels


def enrol(analyses: Sequence[FaceAnalysis], *, same_person_threshold: float) -> np.ndarray:
    """One template from several good frames: the mean of their templates, re-normalised, which
    averages out one frame's expression, light and landmark noise. Every pair of frames must
    score at least ``same_person_threshold`` (the calibrated 1:1 threshold), so that someone
    stepping in between frames cannot end up in another person's template."""
    templates = [analysis.template for analysis in analyses if analysis.template is not None]
    if not templates:
        raise EnrolmentError(
            f"none of the {len(analyses)} frames was good enough to enrol from; "
            "ask the person to look at the camera in good light and try again"
        )
    stacked = np.stack(templates)
    if float((stacked @ stacked.T).min()) < same_person_threshold:
        raise EnrolmentError(
            "the frames do not all show the same person; make sure only the person being "
            "enrolled is in front of the camera and try again"
        )
    mean: np.ndarray = np.mean(np.stack(templates), axis=0).astype(np.float32)
    return mean / np.float32(np.linalg.norm(mean))
