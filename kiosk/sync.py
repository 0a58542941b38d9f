"""Cursor-based delta sync with the hub over MQTT v5 request/response.

The kiosk asks for what changed since its cursor; each answer is applied in one
transaction together with the new cursor, so a crash between pages repeats at most
one page (changes are idempotent upserts and deletes) and never skips one.

The changes include the hub's model manifest; after the pages, the kiosk asks the hub
(never the internet) for each model file it lacks or holds in another version, in pieces,
and puts it in place only once its SHA-256 checks out (kiosk/model_files.py).
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from sqlite_utils import Database

from kiosk import caches, model_files, store
from kiosk.bus import MqttBus
from kiosk.vault import TemplateVault
from protocol import SyncRequest, SyncResponse, decode_message, encode, topics
from protocol.ids import format_timestamp, utc_now
from protocol.messages import ModelChunk, ModelChunkRequest, ModelManifestEntry

logger = logging.getLogger(__name__)


class SyncError(RuntimeError):
    """The hub could not be synced with; the message says why, for staff."""


@dataclass(frozen=True)
class SyncReport:
    pages: int
    upserts: int
    deletes: int
    seconds: float
    models_fetched: tuple[str, ...] = ()


def sync(
    db: Database,
    bus: MqttBus,
    vault: TemplateVault,
    *,
    site: str,
    device: str,
    limit: int = 500,
    timeout: float = 30.0,
    models_dir: Path | None = None,
) -> SyncReport:
    """Bring the caches, and the model files in ``models_dir`` if given, up to date with the
    hub. Raises SyncError or BusUnavailable."""
    started = time.perf_counter()
    request_topic = topics.sync_request_topic(site, device)
    response_topic = topics.sync_response_topic(site, device)
    cursor = caches.get_setting(db, "sync_cursor")
    pages = upserts = deletes = 0
    while True:
        request = SyncRequest(site=site, device=device, cursor=cursor, limit=limit)
        message = bus.request(
            request_topic, encode(request), response_topic=response_topic, timeout=timeout
        )
        response = decode_message(message.payload, SyncResponse)
        if response.error:
            raise SyncError(f"the hub could not sync this kiosk: {response.error}")
        if response.cursor != cursor or (response.site, response.device) != (site, device):
            raise SyncError("the hub's answer does not match the question; sync stopped")
        apply_page(db, vault, response)
        pages += 1
        upserts += sum(1 for c in response.changes if c.op == "upsert")
        deletes += sum(1 for c in response.changes if c.op == "delete") + int(response.reset)
        cursor = response.next_cursor
        if not response.more:
            break
    with store.write(db):
        caches.set_setting(db, "last_sync_at", format_timestamp(utc_now()))
    fetched: list[str] = []
    if models_dir is not None:
        fetched = fetch_models(db, bus, models_dir, site=site, device=device, timeout=timeout)
    return SyncReport(pages, upserts, deletes, time.perf_counter() - started, tuple(fetched))


def fetch_models(
    db: Database, bus: MqttBus, directory: Path, *, site: str, device: str, timeout: float
) -> list[str]:
    """Download each model file of the manifest that this kiosk lacks or holds in another
    version. A refused file is logged and skipped; once the others are done, SyncError names
    every refusal. Returns the names of the files installed."""
    present = model_files.present_models(directory, fresh=True)  # a damaged file is fetched again
    fetched, refused = [], []
    for name, entry in caches.model_manifest(db).items():
        if present.get(name) == entry.sha256:
            continue
        try:
            _download(bus, directory, name, entry, site=site, device=device, timeout=timeout)
        except (model_files.ModelFileError, SyncError) as exc:
            logger.error("model refused: %s", exc)
            refused.append(str(exc))
            continue
        logger.info("model %s installed (%d bytes, SHA-256 %s)", name, entry.size, entry.sha256)
        fetched.append(name)
    if refused:
        raise SyncError("; ".join(refused))
    return fetched


def _download(
    bus: MqttBus,
    directory: Path,
    name: str,
    entry: ModelManifestEntry,
    *,
    site: str,
    device: str,
    timeout: float,
) -> None:
    """Fetch one file piece by piece into ``<name>.part``, then verify and install it."""
    model_files.check_offer(name, entry.sha256)
    directory.mkdir(parents=True, exist_ok=True)
    part = directory / f"{name}.part"
    request_topic = topics.model_request_topic(site, device)
    response_topic = topics.model_response_topic(site, device)
    try:
        with part.open("wb") as out:
            offset = 0
            while offset < entry.size:
                request = ModelChunkRequest(
                    site=site, device=device, name=name, sha256=entry.sha256, offset=offset
                )
                message = bus.request(
                    request_topic, encode(request), response_topic=response_topic, timeout=timeout
                )
                chunk = decode_message(message.payload, ModelChunk)
                if chunk.error:
                    raise SyncError(f"the hub could not send {name}: {chunk.error}")
                asked = (site, device, name, entry.sha256, offset)
                if (chunk.site, chunk.device, chunk.name, chunk.sha256, chunk.offset) != asked:
                    raise SyncError(f"the hub's answer does not match the question; {name} skipped")
                if chunk.size != entry.size:
                    raise SyncError(f"{name} changed on the hub during the download; sync again")
                try:
                    data = base64.b64decode(chunk.data, validate=True)
                except binascii.Error:
                    raise SyncError(f"the hub sent part of {name} in an unreadable form") from None
                if not data:
                    raise model_files.ModelFileError(
                        f"{name} from the hub ends after {offset} bytes, expected {entry.size}; "
                        "the kiosk refused it and keeps its current file (the hub's copy may be "
                        "damaged: add it there again)"
                    )
                out.write(data[: entry.size - offset])
                offset += len(data)
        model_files.install(part, directory, name, entry.sha256)
    finally:
        part.unlink(missing_ok=True)


def apply_page(db: Database, vault: TemplateVault, response: SyncResponse) -> None:
    """One answer, its cursor included, in one transaction."""
    with store.write(db):
        if response.reset:
            caches.wipe(db)
        for change in response.changes:
            caches.apply_change(db, vault, change)
        caches.set_setting(db, "sync_cursor", response.next_cursor)
        if response.reset or response.changes:
            # Replaced or deleted rows may survive in the WAL until a checkpoint.
            caches.set_setting(db, "purge_pending", "1")


def purge_old_copies(db: Database) -> bool:
    """Deleted rows are overwritten in the database (secure_delete), but the WAL may still
    hold their old pages: checkpoint and truncate it. True when nothing is left to purge."""
    if caches.get_setting(db, "purge_pending") is None:
        return True
    busy = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
    if busy:
        return False  # a reader holds old pages; try again after the next job
    with store.write(db):
        caches.set_setting(db, "purge_pending", None)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return True
