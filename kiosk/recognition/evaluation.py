"""Measuring the face pipeline on a folder of faces laid out as DIR/<person>/<image>.

Every readable picture goes through the kiosk's own pipeline (quality gates included); one
that yields no template is a failure to enrol and takes no part in the pairs. The remaining
templates are scored pair by pair with kiosk/recognition/calibration.py, the same functions
``masar kiosk calibrate`` uses, so an evaluation and a calibration of one folder agree.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kiosk.recognition.calibration import (
    all_pair_scores,
    equal_error_rate,
    fnmr_at_threshold,
    rank1_identification_rate,
    threshold_at_fmr,
)
from kiosk.recognition.detect import FaceImageError
from kiosk.recognition.face import FacePipeline, load_image


class FaceDataError(ValueError):
    """The folder is not laid out as DIR/<person>/<image>, or holds too little to measure."""


@dataclass(frozen=True)
class FaceSet:
    """The templates of a folder, who they belong to, and what it took to make them."""

    templates: np.ndarray  # (n, 512) float32, one per enrolled image
    labels: list[str]  # the person folder of each template
    identities: int  # person folders holding at least one file
    images: int  # files tried
    failures_to_enrol: int  # files unreadable, or with no face of good enough quality
    ms_detect: list[float]  # per readable image
    ms_embed: list[float]  # per enrolled image


def list_images(data_dir: Path) -> list[tuple[str, Path]]:
    """(person, file) for every file in DIR/<person>/, in name order; hidden names skipped."""
    if not data_dir.is_dir():
        raise FaceDataError(f"{data_dir} is not a folder")
    found = [
        (person.name, path)
        for person in sorted(data_dir.iterdir())
        if person.is_dir() and not person.name.startswith(".")
        for path in sorted(person.iterdir())
        if path.is_file() and not path.name.startswith(".")
    ]
    if not found:
        raise FaceDataError(f"{data_dir} holds no pictures laid out as {data_dir}/<person>/<image>")
    return found


def embed_folder(pipeline: FacePipeline, data_dir: Path, warn: Callable[[str], None]) -> FaceSet:
    """One template per good picture of DIR/<person>/<image>; ``warn`` hears of unreadable files."""
    images = list_images(data_dir)
    templates: list[np.ndarray] = []
    labels: list[str] = []
    ms_detect: list[float] = []
    ms_embed: list[float] = []
    for person, path in images:
        try:
            pixels = load_image(path)
        except FaceImageError as exc:
            warn(f"counted as a failure to enrol: {exc}")
            continue
        timings: dict[str, float] = {}
        analysis = pipeline.analyse(pixels, timings)
        ms_detect.append(timings["detect"])
        if analysis.template is not None:
            templates.append(analysis.template)
            labels.append(person)
            ms_embed.append(timings["embed"])
    return FaceSet(
        templates=np.array(templates, np.float32).reshape(len(templates), -1),
        labels=labels,
        identities=len({person for person, _ in images}),
        images=len(images),
        failures_to_enrol=len(images) - len(templates),
        ms_detect=ms_detect,
        ms_embed=ms_embed,
    )


def check_measurable(faces: FaceSet, data_dir: Path) -> None:
    """Refuse a set with no genuine or no impostor pair, in words naming the folder."""
    people = set(faces.labels)
    if len(people) < 2 or len(people) == len(faces.labels):
        raise FaceDataError(
            f"{data_dir} gave {len(faces.labels)} usable pictures of {len(people)} people "
            f"({faces.failures_to_enrol} of {faces.images} failed to enrol); measuring needs "
            "at least two people and two usable pictures of one of them"
        )


def evaluate(faces: FaceSet) -> dict[str, float | int]:
    """The figures of ``masar kiosk eval-faces --json``, rates as fractions (0.0018 = 0.18 %)."""
    scores = all_pair_scores(faces.templates, faces.labels)
    return {
        "identities": faces.identities,
        "images": faces.images,
        "failures_to_enrol": faces.failures_to_enrol,
        "eer": equal_error_rate(scores),
        "fnmr_at_fmr_1e-3": fnmr_at_threshold(
            scores.genuine, threshold_at_fmr(scores.impostor, 1e-3)
        ),
        "fnmr_at_fmr_1e-4": fnmr_at_threshold(
            scores.genuine, threshold_at_fmr(scores.impostor, 1e-4)
        ),
        "rank1_identification_rate": rank1_identification_rate(faces.templates, faces.labels),
        "ms_detect_p50": statistics.median(faces.ms_detect),
        "ms_embed_p50": statistics.median(faces.ms_embed),
    }
