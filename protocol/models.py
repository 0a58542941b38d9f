"""The model files Masar knows, each pinned by its SHA-256.

Both sides read this catalogue: the hub to accept a file into its model store (and to fetch
the registry-sourced ones for a new install), a kiosk to refuse a file whose hash differs.
A file not listed here is never loaded.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

NPM_PACKAGE = "faceplugin-face-recognition-js@0.0.1"
"""Where five of the models come from: `npm pack` of this package holds them under model/."""


class ModelSpec(BaseModel):
    """What a model file is and how to feed it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="the file name, e.g. fr_feature.onnx")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    role: Literal["face_detector", "face_landmarks", "face_embedder", "face_liveness", "eye_state"]
    input: str = Field(description="input tensor, e.g. 1x3x112x112 BGR")
    normalisation: str = Field(description="how pixels are scaled before inference")
    licence: str
    source: str = Field(description="where a new install gets the file")


_FACEPLUGIN = f"npm {NPM_PACKAGE}, model/"
_MIT_FACEPLUGIN = "MIT (faceplugin-face-recognition-js)"

CATALOGUE: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="face_detection_yunet_2023mar.onnx",
            sha256="8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
            role="face_detector",
            input="1x3x640x640 BGR (the graph is fixed at 640: a smaller frame is padded with "
            "black from the top left, a larger one shrunk first); per stride 8/16/32: cls, obj, "
            "bbox, kps (boxes + 5 landmarks)",
            normalisation="raw 0-255 float32",
            licence="MIT (libfacedetection.train)",
            source="no registry package carries it: the site's hub holds it "
            "(`masar hub models add FILE`)",
        ),
        ModelSpec(
            name="fr_detect.onnx",
            sha256="6c0256ccd3164f844736a401faf936ec2930764a87ae39442180887d0c5c8854",
            role="face_detector",
            input="1x3x240x320 BGR (the JS converts an RGBA canvas with BGR2RGB, so B, G, R); "
            "outputs scores (4,420 x 2, column 1 = face) and boxes already decoded as x1, y1, "
            "x2, y2 in 0-1",
            normalisation="(x - 127) / 128",
            licence=_MIT_FACEPLUGIN,
            source=_FACEPLUGIN,
        ),
        ModelSpec(
            name="fr_landmark.onnx",
            sha256="f10b0ba1d2a8a099adefede1ebf3733e44fe370715e7303dbeb7f59c02142258",
            role="face_landmarks",
            input="1x1x64x64 grey crop of the detected box; output 136 = 68 (x, y) in 0-1 of "
            "the crop (iBUG order)",
            normalisation="x / 256",
            licence=_MIT_FACEPLUGIN,
            source=_FACEPLUGIN,
        ),
        ModelSpec(
            name="fr_feature.onnx",
            sha256="87aacdfe57510db2af90c0251df680e8eec88f122ee94712121d09bcaaaf3581",
            role="face_embedder",
            input="1x3x112x112 BGR, 5-point similarity-aligned to the ArcFace 112x112 "
            "template (512-d output); the JS feeds RGB, B, G, R measured better here",
            normalisation="(x - 127.5) / 127.5 (the JS: (x - 127) / 128)",
            licence=_MIT_FACEPLUGIN,
            source=_FACEPLUGIN,
        ),
        ModelSpec(
            name="fr_liveness.onnx",
            sha256="afa783b7e902fdfcf323a7240cac2a1c580c25314ea4161129dc1b0d100dc32d",
            role="face_liveness",
            input="1x3x128x128 (3 classes)",
            normalisation="see kiosk/recognition/liveness.py",
            licence=_MIT_FACEPLUGIN,
            source=_FACEPLUGIN,
        ),
        ModelSpec(
            name="fr_eye.onnx",
            sha256="1afcea006abc1ccac3c517022abde0aa092bed74ff3c9fe6878483ef9e6e38de",
            role="eye_state",
            input="1x1x24x24 grey (open / closed)",
            normalisation="see kiosk/recognition",
            licence=_MIT_FACEPLUGIN,
            source=_FACEPLUGIN,
        ),
    )
}


def spec_for(name: str) -> ModelSpec:
    """The catalogue entry of a model file, or a plain refusal naming the known files."""
    try:
        return CATALOGUE[name]
    except KeyError:
        raise ValueError(
            f"{name} is not a model Masar knows; known models: {', '.join(sorted(CATALOGUE))}"
        ) from None


def file_sha256(path: Path) -> str:
    """A file's SHA-256, read in pieces (a wrong file may be large)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def short_hash(digest: str) -> str:
    """The start of a hash, enough for a person to compare two in a message."""
    return f"{digest[:12]}…"
