"""The model files in the kiosk's ``<data_dir>/models`` folder: which it holds, and putting a
new one in place only once its SHA-256 is the one both the catalogue and the hub name.

A download goes to ``<name>.part`` and is moved over the old file with os.replace(), so the
folder only ever holds complete, checked files: a refused or interrupted download leaves the
old file as it was.
"""

from __future__ import annotations

import os
from pathlib import Path

from protocol.models import CATALOGUE, file_sha256, short_hash, spec_for

MODELS_FOLDER = "models"
_known: dict[Path, tuple[tuple[int, int, int], str]] = {}  # path -> ((inode, size, mtime), hash)


class ModelFileError(ValueError):
    """A model file was refused; the message says which, why, and that nothing was replaced."""


def models_dir(data_dir: Path) -> Path:
    return data_dir / MODELS_FOLDER


def sha256_of(path: Path, *, fresh: bool = False) -> str:
    """The file's SHA-256, read again only when its size or modification time changed, or
    always with ``fresh`` (a file damaged on the SD card keeps both)."""
    stat = path.stat()
    identity = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
    cached = _known.get(path)
    if cached is not None and cached[0] == identity and not fresh:
        return cached[1]
    digest = file_sha256(path)
    _known[path] = (identity, digest)
    return digest


def present_models(directory: Path, *, fresh: bool = False) -> dict[str, str]:
    """File name -> SHA-256 of each catalogued model in ``directory`` (wrong ones included,
    so that the kiosk's status shows them); ``fresh`` reads every file again."""
    found = {}
    for name in sorted(CATALOGUE):
        path = directory / name
        try:
            found[name] = sha256_of(path, fresh=fresh)
        except OSError:
            continue  # absent, or being replaced right now
    return found


def check_offer(name: str, sha256: str) -> None:
    """Refuse, before downloading, a model the catalogue does not know in this version."""
    try:
        spec = spec_for(name)
    except ValueError as exc:
        raise ModelFileError(f"the hub offers {exc}; not downloaded") from None
    if sha256 != spec.sha256:
        raise ModelFileError(
            f"the hub offers {name} with SHA-256 {short_hash(sha256)}, but Masar was tested with "
            f"{short_hash(spec.sha256)}; not downloaded, the kiosk keeps its current file"
        )


def verify(path: Path, name: str, sha256: str) -> None:
    """The file at ``path`` must be the catalogue's ``name`` and the version the hub named."""
    check_offer(name, sha256)
    actual = sha256_of(path)
    if actual != sha256:
        raise ModelFileError(
            f"{name} from the hub has SHA-256 {short_hash(actual)}, expected {short_hash(sha256)}; "
            "this is not the file Masar was tested with, so the kiosk refused it and keeps its "
            "current file (the hub's copy may be damaged: add it there again)"
        )


def install(part: Path, directory: Path, name: str, sha256: str) -> Path:
    """Verify a downloaded ``.part`` file and move it into place; a refused file is deleted
    and the old one left untouched."""
    try:
        with part.open("rb") as handle:
            os.fsync(handle.fileno())  # on disk before it replaces a working file
        verify(part, name, sha256)
    except BaseException:
        part.unlink(missing_ok=True)
        _known.pop(part, None)
        raise
    target = directory / name
    os.replace(part, target)
    _known.pop(part, None)
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)  # the rename itself survives a power cut
    finally:
        os.close(descriptor)
    return target
