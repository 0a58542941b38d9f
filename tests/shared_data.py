"""Where the recorded test data lives: ``../shared`` beside the repository (faces,
fingerprints, models; see ../shared/README.md), or the folder named by $MASAR_SHARED."""

from __future__ import annotations

import os
from pathlib import Path

SHARED = Path(
    os.environ.get("MASAR_SHARED") or Path(__file__).resolve().parents[1] / ".." / "shared"
)
MODELS = SHARED / "models"
FACES = SHARED / "data" / "faces-dev"
FINGERS = SHARED / "data" / "fingers-dev"
