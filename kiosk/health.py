"""Is the kiosk fit to open a session? Out of service when its store cannot be written.

A detainee must never fill in a questionnaire that cannot be saved, so the kiosk checks
before each session, and says why it refuses in words staff can act on.
"""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlite_utils import Database

from kiosk import store

MIN_FREE_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class Health:
    in_service: bool
    reason: str | None = None  # for staff and for the screen, in plain words


def explain_storage_error(error: sqlite3.Error) -> str:
    """The plain-words reason for a storage failure."""
    text = str(error).lower()
    if "full" in text:
        return "Out of service: the kiosk's storage is full. Nothing was lost; call staff."
    if "readonly" in text or "read-only" in text:
        return (
            "Out of service: the kiosk's storage has become read-only. "
            "Nothing was lost; call staff."
        )
    return f"Out of service: the kiosk cannot save to its storage ({error}). Call staff."


def check(db: Database, data_dir: Path, *, min_free_bytes: int = MIN_FREE_BYTES) -> Health:
    """Write-probe the store (in a transaction that is rolled back) and check free space."""
    try:
        free = shutil.disk_usage(data_dir).free
    except OSError as exc:
        return Health(False, f"Out of service: the kiosk's storage cannot be read ({exc}).")
    if free < min_free_bytes:
        return Health(
            False,
            f"Out of service: the kiosk's storage is almost full ({free // 2**20} MiB free). "
            "Nothing was lost; call staff.",
        )
    try:
        with store.write(db):
            # Big enough to need fresh pages, as a real session's writes would.
            db.execute(
                "INSERT INTO settings(name, value) VALUES ('health_probe', zeroblob(65536)) "
                "ON CONFLICT(name) DO UPDATE SET value = excluded.value"
            )
            raise _Probe
    except _Probe:
        return Health(True)
    except sqlite3.Error as exc:
        return Health(False, explain_storage_error(exc))


class _Probe(Exception):
    """Raised to roll the probe back: the check itself writes nothing."""
