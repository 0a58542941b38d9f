"""Real faces for a demo or test wing: people enrolled from pictures in ../shared/data/faces-dev
(public pictures of public figures, see ../shared/README.md), with a photo thumbnail, a face
template made by the kiosk's own pipeline, and pictures the kiosk has never seen for its
replay camera to show.

The hub receives the templates as it would from an enrolment station; the kiosk gets them by
sync. Used by ``masar demo`` and by the browser tests (tests/e2e).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from kiosk.recognition.face import FacePipeline, enrol, load_image

FACES_SUBDIR = Path("data") / "faces-dev"
ENROL_PICTURES = 3  # the first pictures of a person make the template
PROBE_PICTURES = 3  # the next ones are what the camera shows


def shared_dir() -> Path:
    """../shared beside the repository, or $MASAR_SHARED."""
    default = Path(__file__).resolve().parents[1] / ".." / "shared"
    return Path(os.environ.get("MASAR_SHARED") or default)


@dataclass(frozen=True)
class EnrolledFace:
    folder: str  # the faces-dev folder (whose pictures)
    photo: bytes  # JPEG thumbnail for the roster
    template: bytes  # float32 x 512, as the kiosk's pipeline makes it
    probes: Path  # pictures not used for the template, for a replay camera


def thumbnail(picture: Path, width: int = 96) -> bytes:
    image = cv2.imread(str(picture))
    if image is None:
        raise ValueError(f"{picture} is not a readable picture")
    small = cv2.resize(image, (width, width * image.shape[0] // image.shape[1]))
    ok, jpeg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        raise ValueError(f"{picture} could not be encoded as JPEG")
    return bytes(jpeg.tobytes())


def enrol_faces(
    pipeline: FacePipeline, faces_dir: Path, folders: Sequence[str], probes_root: Path
) -> list[EnrolledFace]:
    """One template per person from their first pictures; the next ones copied to
    ``probes_root/<folder>/`` for a replay camera."""
    enrolled = []
    for folder in folders:
        pictures = sorted((faces_dir / folder).glob("*.jpg"))
        if len(pictures) < ENROL_PICTURES + 1:
            raise ValueError(f"{faces_dir / folder} needs at least {ENROL_PICTURES + 1} pictures")
        analyses = [pipeline.analyse(load_image(p)) for p in pictures[:ENROL_PICTURES]]
        template: np.ndarray = enrol(analyses, same_person_threshold=0.0)
        probes = probes_root / folder
        probes.mkdir(parents=True, exist_ok=True)
        for picture in pictures[ENROL_PICTURES : ENROL_PICTURES + PROBE_PICTURES]:
            shutil.copy(picture, probes / picture.name)
        enrolled.append(
            EnrolledFace(
                folder, thumbnail(pictures[0]), template.astype(np.float32).tobytes(), probes
            )
        )
    return enrolled
