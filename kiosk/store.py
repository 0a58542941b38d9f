"""The kiosk's SQLite store: one file, WAL, synchronous=FULL, migrations.

FULL rather than NORMAL because the outbox lives here and a power cut in a wing
must not lose a committed event (PERFORMANCE.md §8: still > 1,000 commits/s).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database, Migrations

from kiosk import outbox

# Written by `masar kiosk provision` beside the store: the seq the kiosk's next event carries.
FIRST_SEQ_FILE = "first-seq"

__all__ = ["Database", "migrations", "open_store", "write"]

migrations = Migrations("kiosk")


@migrations()
def m001_outbox(db: Database) -> None:
    db["outbox"].create(  # type: ignore[union-attr]
        {"seq": int, "id": str, "type": str, "payload": bytes, "created_at": str},
        pk="seq",
        not_null={"id", "type", "payload", "created_at"},
    )
    db["outbox"].create_index(["id"], unique=True)  # type: ignore[union-attr]
    db["rejected_events"].create(  # type: ignore[union-attr]
        {"id": str, "seq": int, "type": str, "payload": bytes, "reason": str, "rejected_at": str},
        pk="id",
    )
    db["counters"].create({"name": str, "value": int}, pk="name")  # type: ignore[union-attr]


@migrations()
def m002_caches(db: Database) -> None:
    """What the kiosk copies from the hub for its wing (delta sync keeps it current)."""
    db["roster"].create(  # type: ignore[union-attr]
        {
            "detainee_id": str,
            "prison_number": str,
            "name_latin": str,
            "name_arabic": str,
            "preferred_language": str,
            "literate": int,
            "photo_thumbnail": bytes,
        },
        pk="detainee_id",
    )
    db["badges"].create(  # type: ignore[union-attr]
        {"uid": str, "owner_kind": str, "owner_id": str}, pk="uid"
    )
    db["badges"].create_index(["owner_kind", "owner_id"])  # type: ignore[union-attr]
    db["templates"].create(  # type: ignore[union-attr]
        {"id": str, "detainee_id": str, "modality": str, "format": str, "sealed": bytes},
        pk="id",
    )
    db["templates"].create_index(["detainee_id"])  # type: ignore[union-attr]
    db["staff"].create(  # type: ignore[union-attr]
        {"staff_id": str, "name": str, "role": str, "pin_hash": str}, pk="staff_id"
    )
    db["documents"].create(  # type: ignore[union-attr]
        {"kind": str, "key": str, "data": str}, pk=("kind", "key")
    )
    db["settings"].create({"name": str, "value": str}, pk="name")  # type: ignore[union-attr]


@migrations()
def m003_person_files(db: Database) -> None:
    """A detainee's own file from the hub and their questionnaires in progress, sealed with
    the cache key (kiosk.caches, kiosk.drafts); whether they are out of the wing, in clear,
    for the wing's count."""
    db["roster"].add_column("out", int, not_null_default=0)  # type: ignore[union-attr]
    db["person_files"].create(  # type: ignore[union-attr]
        {"detainee_id": str, "file": bytes, "drafts": bytes}, pk="detainee_id"
    )
    db["local_drafts"].create(  # type: ignore[union-attr]
        {"detainee_id": str, "form_id": str, "sealed": bytes}, pk=("detainee_id", "form_id")
    )
    db["local_receipts"].create(  # type: ignore[union-attr]
        {"event_id": str, "detainee_id": str, "sealed": bytes}, pk="event_id"
    )
    db["local_receipts"].create_index(["detainee_id"])  # type: ignore[union-attr]
    db["training_requests"].create(  # type: ignore[union-attr]
        {"event_id": str, "detainee_id": str, "programme_id": str, "requested_at": str},
        pk="event_id",
    )
    db["training_requests"].create_index(["detainee_id"])  # type: ignore[union-attr]
    # Records copied before this had no file: the next sync starts a full copy.
    db.execute("DELETE FROM settings WHERE name = 'sync_cursor'")


def open_store(path: Path) -> Database:
    """Open (creating if needed) the kiosk store and bring its schema up to date."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: we issue BEGIN IMMEDIATE ourselves (see write()).
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    # Deleted rows (a released detainee's templates) are overwritten, not left in free pages.
    conn.execute("PRAGMA secure_delete=ON")
    db = Database(conn)
    if migrations.pending(db):
        with write(db):  # IMMEDIATE: two threads opening the store at once take turns
            migrations.apply(db)
    _continue_seq(db, path.parent / FIRST_SEQ_FILE)
    return db


def _continue_seq(db: Database, floor_file: Path) -> None:
    """A kiosk enrolled under a device id the hub has heard from before (a Pi replaced, its
    store new) must continue that id's seq, never repeat it: `masar kiosk provision` leaves
    the hub's next seq in ``floor_file``, and the counter is raised to it if below."""
    try:
        first = int(floor_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return
    if outbox.last_seq(db) < first - 1:
        with write(db):
            outbox.raise_seq(db, first - 1)


@contextmanager
def write(db: Database) -> Iterator[Database]:
    """One write transaction: BEGIN IMMEDIATE … COMMIT, or ROLLBACK on any error.

    IMMEDIATE takes the write lock at the start, so two connections never both
    read and then fail to upgrade. sqlite-utils' own writes nest as savepoints.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        # Also when COMMIT itself fails (disk full, I/O error): leave no transaction open.
        if db.conn.in_transaction:
            db.execute("ROLLBACK")
        raise
