"""The kiosk's copies of hub records for its wing: roster, badges, templates, staff,
questionnaires, training catalogue and policy, the hub's model manifest (which model files
to hold, not their bytes: kiosk/model_files.py), plus a few settings (sync cursor, mode).

Every function runs inside the caller's ``store.write(db)`` transaction.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlite_utils import Database

from kiosk.vault import TemplateVault
from protocol.messages import Change, ModelManifestEntry

DOCUMENT_KINDS = ("policy", "questionnaire", "programme", "model")


class CacheError(ValueError):
    """A change from the hub could not be applied; the message says which and why."""


def get_setting(db: Database, name: str) -> str | None:
    row = db.execute("SELECT value FROM settings WHERE name = ?", [name]).fetchone()
    return None if row is None else str(row[0])


def set_setting(db: Database, name: str, value: str | None) -> None:
    if value is None:
        db.execute("DELETE FROM settings WHERE name = ?", [name])
    else:
        db.execute(
            "INSERT INTO settings(name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            [name, value],
        )


def _template_context(template_id: str, detainee_id: str) -> str:
    return f"template:{template_id}:{detainee_id}"


def _forget_detainee(db: Database, detainee_id: str) -> None:
    db.execute("DELETE FROM templates WHERE detainee_id = ?", [detainee_id])
    db.execute("DELETE FROM badges WHERE owner_kind = 'detainee' AND owner_id = ?", [detainee_id])
    db.execute("DELETE FROM roster WHERE detainee_id = ?", [detainee_id])


def _put_detainee(db: Database, vault: TemplateVault, key: str, data: dict[str, Any]) -> None:
    _forget_detainee(db, key)
    photo = data.get("photo_thumbnail")
    db.execute(
        "INSERT INTO roster(detainee_id, prison_number, name_latin, name_arabic, "
        "preferred_language, literate, photo_thumbnail) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            key,
            data["prison_number"],
            data["name_latin"],
            data["name_arabic"],
            data["preferred_language"],
            int(bool(data["literate"])),
            base64.b64decode(photo) if photo else None,
        ],
    )
    for uid in data.get("badges", []):
        db.execute(
            "INSERT OR REPLACE INTO badges(uid, owner_kind, owner_id) VALUES (?, 'detainee', ?)",
            [uid, key],
        )
    for template in data.get("templates", []):
        clear = base64.b64decode(template["data"])
        db.execute(
            # OR REPLACE: a template the hub moved to this person may still sit under another
            # one in this copy until a later page reaches them.
            "INSERT OR REPLACE INTO templates(id, detainee_id, modality, format, sealed) "
            "VALUES (?, ?, ?, ?, ?)",
            [
                template["id"],
                key,
                template["modality"],
                template["format"],
                vault.encrypt(clear, _template_context(template["id"], key)),
            ],
        )


def _put_staff(db: Database, key: str, data: dict[str, Any] | None) -> None:
    db.execute("DELETE FROM badges WHERE owner_kind = 'staff' AND owner_id = ?", [key])
    db.execute("DELETE FROM staff WHERE staff_id = ?", [key])
    if data is None:
        return
    db.execute(
        "INSERT INTO staff(staff_id, name, role, pin_hash) VALUES (?, ?, ?, ?)",
        [key, data["name"], data["role"], data["pin_hash"]],
    )
    for uid in data.get("badges", []):
        db.execute(
            "INSERT OR REPLACE INTO badges(uid, owner_kind, owner_id) VALUES (?, 'staff', ?)",
            [uid, key],
        )


def apply_change(db: Database, vault: TemplateVault, change: Change) -> None:
    """Make the cache agree with one change from the hub."""
    try:
        if change.kind == "detainee":
            if change.op == "delete":
                _forget_detainee(db, change.key)
            else:
                _put_detainee(db, vault, change.key, change.data or {})
        elif change.kind == "staff":
            _put_staff(db, change.key, change.data if change.op == "upsert" else None)
        elif change.kind in DOCUMENT_KINDS:
            if change.kind == "model" and change.op == "upsert":
                ModelManifestEntry.model_validate(change.data)  # refuse a malformed entry
            db.execute(
                "DELETE FROM documents WHERE kind = ? AND key = ?", [change.kind, change.key]
            )
            if change.op == "upsert":
                db.execute(
                    "INSERT INTO documents(kind, key, data) VALUES (?, ?, ?)",
                    [change.kind, change.key, json.dumps(change.data, ensure_ascii=False)],
                )
        else:
            raise CacheError(f"unknown kind of record {change.kind!r}")
    except (KeyError, TypeError, ValueError) as exc:
        raise CacheError(
            f"the hub sent a {change.kind} record {change.key!r} that cannot be stored: {exc!r}"
        ) from None


def model_manifest(db: Database) -> dict[str, ModelManifestEntry]:
    """The model files the hub holds, by file name, as of the last sync."""
    rows = db.execute("SELECT key, data FROM documents WHERE kind = 'model' ORDER BY key")
    return {str(key): ModelManifestEntry.model_validate_json(data) for key, data in rows}


def wipe(db: Database) -> None:
    """Forget every cached record (never the outbox) and the sync position."""
    for table in ("templates", "badges", "roster", "staff", "documents"):
        db.execute(f"DELETE FROM {table}")
    set_setting(db, "sync_cursor", None)


def reencrypt_templates(db: Database, vault: TemplateVault, new_key: str) -> int:
    """Re-encrypt every template with ``new_key``; returns how many."""
    rows = db.execute("SELECT id, detainee_id, sealed FROM templates").fetchall()
    for template_id, detainee_id, sealed in rows:
        context = _template_context(template_id, detainee_id)
        clear = vault.decrypt(bytes(sealed), context)
        db.execute(
            "UPDATE templates SET sealed = ? WHERE id = ?",
            [vault.encrypt(clear, context, with_key=new_key), template_id],
        )
    return len(rows)


def settle_rotation(db: Database, vault: TemplateVault) -> None:
    """After a crash mid-rotation: finish it if the re-encryption committed, else drop the
    unused key. Must run before another rotation may overwrite the next key."""
    next_id = vault.next_id
    if next_id is None:
        return
    row = db.execute(
        "SELECT count(*) FROM templates WHERE substr(sealed, 1, 16) = ?", [next_id.encode()]
    ).fetchone()
    if row[0] > 0:
        vault.finish_rotation()
    else:
        vault.abandon_rotation()


@dataclass(frozen=True)
class Gallery:
    """The wing's templates of one modality, decrypted in memory for matching only."""

    detainee_ids: list[str]
    templates: np.ndarray  # (N, D) float32, one row per template


def load_gallery(db: Database, vault: TemplateVault, modality: str = "face") -> Gallery:
    rows = db.execute(
        "SELECT id, detainee_id, sealed FROM templates WHERE modality = ? ORDER BY id",
        [modality],
    ).fetchall()
    vectors = [
        np.frombuffer(vault.decrypt(bytes(s), _template_context(t, d)), dtype=np.float32)
        for t, d, s in rows
    ]
    matrix = np.vstack(vectors) if vectors else np.zeros((0, 0), dtype=np.float32)
    return Gallery([d for _, d, _ in rows], matrix)


def badge_owner(db: Database, uid: str) -> tuple[str, str] | None:
    """(owner kind, owner id) of a badge UID known on this kiosk."""
    row = db.execute("SELECT owner_kind, owner_id FROM badges WHERE uid = ?", [uid]).fetchone()
    return None if row is None else (str(row[0]), str(row[1]))


def roster_size(db: Database) -> int:
    count: int = db.execute("SELECT count(*) FROM roster").fetchone()[0]
    return count


def document(db: Database, kind: str, key: str) -> dict[str, Any] | None:
    row = db.execute(
        "SELECT data FROM documents WHERE kind = ? AND key = ?", [kind, key]
    ).fetchone()
    return None if row is None else dict(json.loads(row[0]))
