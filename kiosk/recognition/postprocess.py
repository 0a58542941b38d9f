"""Turning detector outputs into faces: pure numpy, no model and no OpenCV, so it is tested
exactly (like picamera2's imx500 postprocess.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

YUNET_STRIDES = (8, 16, 32)


@dataclass(frozen=True, slots=True)
class Candidates:
    """Scored face candidates in input pixels, before or after non-maximum suppression."""

    boxes: np.ndarray  # (N, 4) float32 x, y, width, height
    scores: np.ndarray  # (N,) float32
    landmarks: np.ndarray | None = None  # (N, 5, 2) float32, when the detector gives them

    def __len__(self) -> int:
        return len(self.scores)

    def take(self, keep: np.ndarray) -> Candidates:
        return Candidates(
            self.boxes[keep],
            self.scores[keep],
            None if self.landmarks is None else self.landmarks[keep],
        )


def decode_yunet(outputs: Mapping[str, np.ndarray], width: int, height: int) -> Candidates:
    """YuNet 2023mar's per-stride outputs as boxes, five landmarks and scores.

    For each stride s the input is a grid of (height/s) × (width/s) cells; a cell (row, col)
    predicts its face centre at (col + dx, row + dy)·s, size exp(dw)·s × exp(dh)·s, landmarks at
    (col + kx, row + ky)·s, and a score sqrt(cls · obj) (both clipped to 0–1), as OpenCV's
    FaceDetectorYN decodes them.
    """
    boxes, landmarks, scores = [], [], []
    for stride in YUNET_STRIDES:
        cols, rows = width // stride, height // stride
        row, col = np.divmod(np.arange(rows * cols, dtype=np.float32), np.float32(cols))
        cls = np.clip(outputs[f"cls_{stride}"].reshape(-1), 0, 1)
        obj = np.clip(outputs[f"obj_{stride}"].reshape(-1), 0, 1)
        box = outputs[f"bbox_{stride}"].reshape(-1, 4)
        kps = outputs[f"kps_{stride}"].reshape(-1, 5, 2)
        centre_x = (col + box[:, 0]) * stride
        centre_y = (row + box[:, 1]) * stride
        box_w = np.exp(box[:, 2]) * stride
        box_h = np.exp(box[:, 3]) * stride
        boxes.append(np.stack([centre_x - box_w / 2, centre_y - box_h / 2, box_w, box_h], 1))
        landmarks.append(
            np.stack(
                [(kps[:, :, 0] + col[:, None]) * stride, (kps[:, :, 1] + row[:, None]) * stride], 2
            )
        )
        scores.append(np.sqrt(cls * obj))
    return Candidates(
        np.concatenate(boxes).astype(np.float32),
        np.concatenate(scores).astype(np.float32),
        np.concatenate(landmarks).astype(np.float32),
    )


def decode_corner_boxes(
    scores: np.ndarray, boxes: np.ndarray, width: int, height: int
) -> Candidates:
    """fr_detect's outputs: two-class scores (column 1 = face) and boxes already decoded as
    corners x1, y1, x2, y2 in 0–1 of the input (the npm package's JS scales them, no priors)."""
    corners = boxes.reshape(-1, 4) * np.array([width, height, width, height], np.float32)
    xywh = np.concatenate([corners[:, :2], corners[:, 2:] - corners[:, :2]], axis=1)
    return Candidates(xywh.astype(np.float32), scores.reshape(-1, 2)[:, 1].astype(np.float32))


def non_maximum_suppression(
    candidates: Candidates, score_threshold: float, iou_threshold: float
) -> Candidates:
    """The candidates scoring at least ``score_threshold``, best first, without any that
    overlaps a better one by more than ``iou_threshold`` (intersection over union)."""
    kept = candidates.take(np.flatnonzero(candidates.scores >= score_threshold))
    order = np.argsort(-kept.scores, kind="stable")
    x1, y1 = kept.boxes[:, 0], kept.boxes[:, 1]
    x2, y2 = x1 + kept.boxes[:, 2], y1 + kept.boxes[:, 3]
    areas = np.maximum(kept.boxes[:, 2], 0) * np.maximum(kept.boxes[:, 3], 0)
    chosen: list[int] = []
    while len(order):
        best, rest = order[0], order[1:]
        chosen.append(int(best))
        overlap_w = np.maximum(0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]))
        overlap_h = np.maximum(0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]))
        overlap = overlap_w * overlap_h
        union = areas[best] + areas[rest] - overlap
        iou = np.divide(overlap, union, out=np.zeros_like(overlap), where=union > 0)
        order = rest[iou <= iou_threshold]
    return kept.take(np.array(chosen, dtype=np.intp))


def five_from_68(points: np.ndarray) -> np.ndarray:
    """The five alignment points from 68 (iBUG order), as the npm package's convert68pts5pts
    makes them: each eye's centre from its four lid points, the nose tip, and each mouth
    corner as the mean of its outer and inner corner."""
    p = points.reshape(68, 2)
    return np.stack(
        [
            p[[37, 38, 40, 41]].mean(axis=0),  # right eye (left in the image)
            p[[43, 44, 46, 47]].mean(axis=0),  # left eye
            p[30],  # nose tip
            (p[48] + p[60]) / 2,  # right mouth corner
            (p[54] + p[64]) / 2,  # left mouth corner
        ]
    ).astype(np.float32)
