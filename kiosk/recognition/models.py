"""Model files on the kiosk: checked against their pinned SHA-256 before onnxruntime sees them.

A kiosk gets its models from the hub (``<data_dir>/models/``), never from the internet. A file
whose hash differs from protocol/models.py's catalogue is refused with a message that says what
to do, because a swapped embedder would silently change every score and threshold.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import onnxruntime

from protocol.models import CATALOGUE, ModelSpec, short_hash, spec_for

KNOWN_MODELS: dict[str, ModelSpec] = CATALOGUE
RESYNC_HINT = "sync the kiosk with the hub again, which sends a good copy"


class ModelHashMismatchError(ValueError):
    """A model file is not the one Masar was measured with (damaged, or replaced)."""


class ModelMissingError(FileNotFoundError):
    """A model file the pipeline needs is not on this kiosk."""


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def session_options() -> onnxruntime.SessionOptions:
    """No busy-waiting: two models spinning on two cores starve each other (104 ms vs 48 ms
    per frame measured, ../shared/README.md)."""
    options = onnxruntime.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def open_session(path: Path, sha256: str) -> onnxruntime.InferenceSession:
    """An onnxruntime session of ``path``, made from the very bytes whose hash was checked."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelMissingError(
            f"model {path.name} is missing from {path.parent}; {RESYNC_HINT}"
        ) from None
    except OSError as exc:
        raise ModelMissingError(
            f"model {path.name} in {path.parent} cannot be read ({exc.strerror}); {RESYNC_HINT}"
        ) from None
    found = sha256_of(data)
    if found != sha256:
        raise ModelHashMismatchError(
            f"model {path.name} has SHA-256 {short_hash(found)}, expected {short_hash(sha256)}; "
            f"the file is damaged or not the one Masar was measured with: {RESYNC_HINT}"
        )
    return onnxruntime.InferenceSession(data, session_options(), providers=["CPUExecutionProvider"])


def open_model(models_dir: Path, name: str) -> onnxruntime.InferenceSession:
    """A catalogued model from a models folder, refused unless its hash is the pinned one."""
    return open_session(models_dir / name, spec_for(name).sha256)
