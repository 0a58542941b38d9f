"""Measuring the fingerprint engine on a folder laid out as DIR/<finger>/<impression image>.

Genuine pairs: every two impressions of one finger. Impostor pairs: every two impressions of
different fingers taken by the same sensor, the sensor being the finger folder's name up to
its last "_" (FVC2002DB1_103 → FVC2002DB1); when no name has a "_", all fingers are one
sensor. Mixing sensors would make impostors easier than at a kiosk, which has one.

An impression that gives no template (blank, too small, unreadable) counts as a failure to
enrol: each of its pairs scores 0, so it is refused as a genuine pair and as an impostor,
as it would be at the kiosk. The scores go through kiosk/recognition/calibration.py, the
same functions `masar kiosk calibrate` uses.
"""

from __future__ import annotations

import itertools
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kiosk.recognition.calibration import (
    Scores,
    equal_error_rate,
    fnmr_at_threshold,
    threshold_at_fmr,
)
from kiosk.recognition.finger import (
    FingerImageError,
    FingerTemplate,
    finger_template,
    match_score,
)
from kiosk.sensors import FingerImage, SensorError
from kiosk.sensors.fingerprint import IMAGE_SUFFIXES, load_finger_image


class FingerDataError(ValueError):
    """The folder is not laid out as DIR/<finger>/<image>, or holds too little to measure."""


@dataclass(frozen=True)
class FingerScores:
    """Every pair's score, and what it took to get them."""

    scores: Scores
    fingers: int
    impressions: int
    failures_to_enrol: int
    ms_extract: list[float]
    ms_match: list[float]


def list_fingers(data_dir: Path) -> list[tuple[str, Path]]:
    """(finger folder name, image) for every image in DIR/<finger>/, in name order."""
    if not data_dir.is_dir():
        raise FingerDataError(f"{data_dir} is not a folder")
    found = [
        (finger.name, path)
        for finger in sorted(data_dir.iterdir())
        if finger.is_dir() and not finger.name.startswith(".")
        for path in sorted(finger.iterdir())
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not found:
        raise FingerDataError(f"{data_dir} holds no images laid out as {data_dir}/<finger>/<image>")
    return found


def sensor_of(finger: str, every_name_has_underscore: bool) -> str:
    return finger.rsplit("_", 1)[0] if every_name_has_underscore else ""


def finger_scores(data_dir: Path, dpi: int = 500) -> FingerScores:
    """Extract every impression once, then score every genuine and same-sensor impostor pair."""
    images = list_fingers(data_dir)
    names = {finger for finger, _ in images}
    if len(names) < 2:
        raise FingerDataError(f"{data_dir} holds one finger; impostor pairs need two or more")
    underscores = all("_" in name for name in names)
    templates: list[FingerTemplate | None] = []
    ms_extract: list[float] = []
    for _, path in images:
        try:
            pixels = load_finger_image(path)
        except SensorError:
            templates.append(None)
            continue
        started = time.perf_counter()
        try:
            template: FingerTemplate | None = finger_template(
                FingerImage(pixels, dpi, time.monotonic(), f"file:{path}")
            )
        except FingerImageError:
            template = None
        ms_extract.append((time.perf_counter() - started) * 1000)
        templates.append(template)
    genuine: list[float] = []
    impostor: list[float] = []
    ms_match: list[float] = []
    for (i, (finger_a, _)), (j, (finger_b, _)) in itertools.combinations(enumerate(images), 2):
        if sensor_of(finger_a, underscores) != sensor_of(finger_b, underscores):
            continue
        a, b = templates[i], templates[j]
        score = 0.0
        if a is not None and b is not None:
            started = time.perf_counter()
            score = match_score(a, b)
            ms_match.append((time.perf_counter() - started) * 1000)
        (genuine if finger_a == finger_b else impostor).append(score)
    if not genuine or not impostor:
        raise FingerDataError(
            f"{data_dir} needs two impressions of a finger and two fingers of one sensor"
        )
    return FingerScores(
        scores=Scores(np.array(genuine), np.array(impostor)),
        fingers=len(names),
        impressions=len(images),
        failures_to_enrol=sum(t is None for t in templates),
        ms_extract=ms_extract,
        ms_match=ms_match,
    )


def evaluate_fingers(data_dir: Path) -> dict[str, float | int]:
    """The figures of `masar kiosk eval-fingers`: fingers, impressions (images), EER, FNMR at
    FMR 1e-3, and median milliseconds per extraction and per match."""
    measured = finger_scores(data_dir)
    scores = measured.scores
    threshold = threshold_at_fmr(scores.impostor, 1e-3)
    return {
        "fingers": measured.fingers,
        "impressions": measured.impressions,
        "eer": equal_error_rate(scores),
        "fnmr_at_fmr_1e-3": fnmr_at_threshold(scores.genuine, threshold),
        "ms_extract_p50": statistics.median(measured.ms_extract) if measured.ms_extract else 0.0,
        "ms_match_p50": statistics.median(measured.ms_match) if measured.ms_match else 0.0,
    }
