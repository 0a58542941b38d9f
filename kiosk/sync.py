"""Cursor-based delta sync with the hub over MQTT v5 request/response.

The kiosk asks for what changed since its cursor; each answer is applied in one
transaction together with the new cursor, so a crash between pages repeats at most
one page (changes are idempotent upserts and deletes) and never skips one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlite_utils import Database

from kiosk import caches, store
from kiosk.bus import MqttBus
from kiosk.vault import TemplateVault
from protocol import SyncRequest, SyncResponse, decode_message, encode, topics
from protocol.ids import format_timestamp, utc_now


class SyncError(RuntimeError):
    """The hub could not be synced with; the message says why, for staff."""


@dataclass(frozen=True)
class SyncReport:
    pages: int
    upserts: int
    deletes: int
    seconds: float


def sync(
    db: Database,
    bus: MqttBus,
    vault: TemplateVault,
    *,
    site: str,
    device: str,
    limit: int = 500,
    timeout: float = 30.0,
) -> SyncReport:
    """Bring the caches up to date with the hub. Raises SyncError or BusUnavailable."""
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
    return SyncReport(pages, upserts, deletes, time.perf_counter() - started)


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
