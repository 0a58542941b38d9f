"""The kiosk's copies of hub records for its wing: roster, badges, templates, staff,
questionnaires and their recorded audio, training catalogue and policy, the hub's model
manifest (which model files to hold, not their bytes: kiosk/model_files.py), plus a few
settings (sync cursor, mode).

Each person's own file and questionnaires in progress from the hub (hub.person_file) are
kept sealed with the cache key, like templates: never in clear in the SQLite file. So are
the answers typed here and not yet sent (kiosk.drafts, whose tables live here too, so that
a person who leaves the wing, a wipe or a key rotation reaches them).

Writing functions run inside the caller's ``store.write(db)`` transaction.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
from sqlite_utils import Database

from kiosk.vault import TemplateVault
from protocol.messages import Change, ModelManifestEntry
from protocol.ordering import Stamp, stamp_from

DOCUMENT_KINDS = ("policy", "questionnaire", "programme", "model", "media")
# The audio a form's questions may carry (hub.questionnaires.media), as served to the screens.
MEDIA_TYPES = ("audio/ogg", "audio/mpeg", "audio/wav", "audio/mp4")


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


# Where each sealed column is, and the context its ciphertexts are bound to: a ciphertext
# copied to another person's row, or another column, does not decrypt.
SEALED: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {
    ("templates", "sealed"): (("id", "detainee_id"), "template:{}:{}"),
    ("person_files", "file"): (("detainee_id",), "file:{}"),
    ("person_files", "drafts"): (("detainee_id",), "drafts:{}"),
    ("local_drafts", "sealed"): (("detainee_id", "form_id"), "draft:{}:{}"),
    ("local_receipts", "sealed"): (("detainee_id", "event_id"), "receipt:{}:{}"),
}
# What this kiosk holds of a person: the hub's copy, and what they typed here.
PERSON_TABLES = ("templates", "roster", "person_files")
LOCAL_TABLES = ("local_drafts", "local_receipts", "training_requests")


def seal(vault: TemplateVault, value: Any, context: str) -> bytes:
    """JSON, encrypted with the cache key and bound to ``context``."""
    return vault.encrypt(json.dumps(value, ensure_ascii=False).encode(), context)


def unseal(vault: TemplateVault, sealed: bytes, context: str) -> Any:
    return json.loads(vault.decrypt(bytes(sealed), context))


def _forget_detainee(db: Database, detainee_id: str) -> None:
    """Everything this kiosk holds about a person: the hub's copy and what they typed here
    (their events stay in the outbox until the hub has them)."""
    db.execute("DELETE FROM badges WHERE owner_kind = 'detainee' AND owner_id = ?", [detainee_id])
    for table in (*PERSON_TABLES, *LOCAL_TABLES):
        db.execute(f"DELETE FROM {table} WHERE detainee_id = ?", [detainee_id])  # nosec B608  # table and column names are this module's constants; values are ? parameters


def _put_detainee(db: Database, vault: TemplateVault, key: str, data: dict[str, Any]) -> None:
    # The hub's copy is replaced; what the person typed here stays until the hub has it.
    db.execute("DELETE FROM templates WHERE detainee_id = ?", [key])
    db.execute("DELETE FROM badges WHERE owner_kind = 'detainee' AND owner_id = ?", [key])
    db.execute("DELETE FROM roster WHERE detainee_id = ?", [key])
    photo = data.get("photo_thumbnail")
    db.execute(
        "INSERT INTO roster(detainee_id, prison_number, name_latin, name_arabic, "
        "preferred_language, literate, photo_thumbnail, out) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            key,
            data["prison_number"],
            data["name_latin"],
            data["name_arabic"],
            data["preferred_language"],
            int(bool(data["literate"])),
            base64.b64decode(photo) if photo else None,
            int(bool(data.get("out", False))),
        ],
    )
    file, drafts = data.get("file") or {}, data.get("drafts") or []
    db.execute(
        "INSERT OR REPLACE INTO person_files(detainee_id, file, drafts) VALUES (?, ?, ?)",
        [key, seal(vault, file, f"file:{key}"), seal(vault, drafts, f"drafts:{key}")],
    )
    _settle_local(db, vault, key, file, drafts)
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


def _check_media(data: dict[str, Any]) -> None:
    """Refuse an audio file that is not what the hub says it is: damaged on the way, or a
    type the screens would not play."""
    if data["mime"] not in MEDIA_TYPES:
        raise ValueError(f"{data['mime']!r} is not an audio type the kiosk plays")
    content = base64.b64decode(data["data"], validate=True)
    if hashlib.sha256(content).hexdigest() != data["sha256"]:
        raise ValueError(f"the bytes of {data['name']!r} do not match their SHA-256")


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
            if change.kind == "media" and change.op == "upsert":
                _check_media(change.data or {})
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
    """Forget every cached record, the people's files and what they typed here (never the
    outbox), and the sync position."""
    for table in (*PERSON_TABLES, *LOCAL_TABLES, "badges", "staff", "documents"):
        db.execute(f"DELETE FROM {table}")  # nosec B608  # table and column names are this module's constants; values are ? parameters
    set_setting(db, "sync_cursor", None)


def reencrypt_sealed(db: Database, vault: TemplateVault, new_key: str) -> int:
    """Re-encrypt everything sealed (templates, files, drafts, receipts) with ``new_key``;
    returns how many values."""
    count = 0
    for (table, column), (keys, context) in SEALED.items():
        rows = db.execute(
            f"SELECT rowid, {column}, {', '.join(keys)} FROM {table} WHERE {column} IS NOT NULL"  # nosec B608  # table and column names are this module's constants; values are ? parameters
        ).fetchall()
        for rowid, sealed, *names in rows:
            where = context.format(*names)
            clear = vault.decrypt(bytes(sealed), where)
            db.execute(
                f"UPDATE {table} SET {column} = ? WHERE rowid = ?",  # nosec B608  # table and column names are this module's constants; values are ? parameters
                [vault.encrypt(clear, where, with_key=new_key), rowid],
            )
        count += len(rows)
    return count


def settle_rotation(db: Database, vault: TemplateVault) -> None:
    """After a crash mid-rotation: finish it if the re-encryption committed, else drop the
    unused key. Must run before another rotation may overwrite the next key."""
    next_id = vault.next_id
    if next_id is None:
        return
    used = sum(
        db.execute(
            f"SELECT count(*) FROM {table} WHERE substr({column}, 1, 16) = ?",  # nosec B608  # table and column names are this module's constants; values are ? parameters
            [next_id.encode()],
        ).fetchone()[0]
        for table, column in SEALED
    )
    if used > 0:
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


def templates_of(
    db: Database, vault: TemplateVault, detainee_id: str, modality: str
) -> list[bytes]:
    """One detainee's cached templates of one modality, decrypted, for a 1:1 comparison."""
    rows = db.execute(
        "SELECT id, sealed FROM templates WHERE detainee_id = ? AND modality = ? ORDER BY id",
        [detainee_id, modality],
    ).fetchall()
    return [
        vault.decrypt(bytes(sealed), _template_context(template_id, detainee_id))
        for template_id, sealed in rows
    ]


def badge_owner(db: Database, uid: str) -> tuple[str, str] | None:
    """(owner kind, owner id) of a badge UID known on this kiosk."""
    row = db.execute("SELECT owner_kind, owner_id FROM badges WHERE uid = ?", [uid]).fetchone()
    return None if row is None else (str(row[0]), str(row[1]))


def roster_size(db: Database) -> int:
    count: int = db.execute("SELECT count(*) FROM roster").fetchone()[0]
    return count


def documents(db: Database, kind: str) -> dict[str, dict[str, Any]]:
    """Every cached document of one kind, by key."""
    rows = db.execute("SELECT key, data FROM documents WHERE kind = ? ORDER BY key", [kind])
    return {str(key): dict(json.loads(data)) for key, data in rows}


def document(db: Database, kind: str, key: str) -> dict[str, Any] | None:
    row = db.execute(
        "SELECT data FROM documents WHERE kind = ? AND key = ?", [kind, key]
    ).fetchone()
    return None if row is None else dict(json.loads(row[0]))


# --- what the screens read -------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """A detainee of this kiosk's wing, as the screens greet them."""

    id: str
    prison_number: str
    name_latin: str
    name_arabic: str
    preferred_language: str
    literate: bool
    photo_thumbnail: bytes | None


def person(db: Database, detainee_id: str) -> Person | None:
    row = db.execute(
        "SELECT detainee_id, prison_number, name_latin, name_arabic, preferred_language, "
        "literate, photo_thumbnail FROM roster WHERE detainee_id = ?",
        [detainee_id],
    ).fetchone()
    if row is None:
        return None
    photo = None if row[6] is None else bytes(row[6])
    return Person(row[0], row[1], row[2], row[3], row[4], bool(row[5]), photo)


FILE_SECTIONS: dict[str, Any] = {
    "assignments": [],
    "training": [],
    "eligible_programmes": [],
    "facts": [],
    "receipts": [],
    "plan": None,
    "training_followed": [],
    "location": None,
    "scheduled_movements": [],
}


def person_file(
    db: Database, vault: TemplateVault, detainee_id: str, today: date | None = None
) -> dict[str, Any]:
    """The person's file as the hub last sent it; every section present (empty if none).
    An open assignment whose due date has passed since is shown overdue."""
    row = db.execute(
        "SELECT file FROM person_files WHERE detainee_id = ?", [detainee_id]
    ).fetchone()
    stored = {} if row is None else unseal(vault, row[0], f"file:{detainee_id}")
    file = {name: stored.get(name, empty) for name, empty in FILE_SECTIONS.items()}
    day = (today or date.today()).isoformat()
    file["assignments"] = [
        {**a, "state": "overdue"} if a.get("state") == "open" and a.get("due_on", day) < day else a
        for a in file["assignments"]
    ]
    return file


def hub_drafts(db: Database, vault: TemplateVault, detainee_id: str) -> list[dict[str, Any]]:
    """The person's questionnaires in progress as the hub last sent them."""
    row = db.execute(
        "SELECT drafts FROM person_files WHERE detainee_id = ?", [detainee_id]
    ).fetchone()
    return [] if row is None else list(unseal(vault, row[0], f"drafts:{detainee_id}"))


def drop_hub_draft(db: Database, vault: TemplateVault, detainee_id: str, form_id: str) -> None:
    """Forget the hub's copy of a draft here, until the next sync (the person just sent it)."""
    kept = [d for d in hub_drafts(db, vault, detainee_id) if d.get("form_id") != form_id]
    db.execute(
        "UPDATE person_files SET drafts = ? WHERE detainee_id = ?",
        [seal(vault, kept, f"drafts:{detainee_id}"), detainee_id],
    )


def _documents(db: Database, kind: str) -> list[tuple[str, dict[str, Any]]]:
    rows = db.execute("SELECT key, data FROM documents WHERE kind = ? ORDER BY key", [kind])
    return [(str(key), dict(json.loads(data))) for key, data in rows]


def programmes(db: Database) -> list[dict[str, Any]]:
    """The training catalogue of this kiosk's establishment, soonest first."""
    found = [data for _, data in _documents(db, "programme")]
    return sorted(found, key=lambda p: (str(p.get("starts_on", "")), str(p.get("id", ""))))


def questionnaires(db: Database) -> list[dict[str, Any]]:
    """The questionnaires published to this kiosk, one per form id (form_id, version, titles,
    survey): a version published to the wing comes before one published to the site."""
    chosen: dict[str, tuple[bool, dict[str, Any]]] = {}
    for key, data in _documents(db, "questionnaire"):
        for_wing = "/" in key  # "form@site/wing" rather than "form@site"
        form_id = str(data.get("form_id", key.partition("@")[0]))
        if form_id not in chosen or (for_wing and not chosen[form_id][0]):
            chosen[form_id] = (for_wing, data)
    return [chosen[form_id][1] for form_id in sorted(chosen)]


def questionnaire(db: Database, form_id: str) -> dict[str, Any] | None:
    return next((q for q in questionnaires(db) if q.get("form_id") == form_id), None)


@dataclass(frozen=True)
class MediaFile:
    """A form's recorded audio, checked against its SHA-256 when it was stored."""

    name: str
    mime: str
    content: bytes


def _media_rows(db: Database, form_id: str, name: str, column: str) -> list[tuple[str, Any]]:
    """(key, column) of the copies of one file: for the site ("form/name@site") and for this
    wing ("form/name@site/wing"), the wing's first, as for questionnaires."""
    prefix = f"{form_id}/{name}@"
    rows = db.execute(
        f"SELECT key, {column} FROM documents WHERE kind = 'media' "  # nosec B608  # table and column names are this module's constants; values are ? parameters
        "AND substr(key, 1, length(?)) = ? AND json_extract(data, '$.form_id') = ? "
        "AND json_extract(data, '$.name') = ?",
        [prefix, prefix, form_id, name],
    ).fetchall()
    return sorted(((str(k), v) for k, v in rows), key=lambda row: "/" not in row[0][len(prefix) :])


def has_media(db: Database, form_id: str, name: str) -> bool:
    return bool(_media_rows(db, form_id, name, "1"))


def media_file(db: Database, form_id: str, name: str) -> MediaFile | None:
    """One audio file of a form, if the hub has sent it to this kiosk."""
    rows = _media_rows(db, form_id, name, "data")
    if not rows:
        return None
    data = json.loads(rows[0][1])
    return MediaFile(name, str(data["mime"]), base64.b64decode(data["data"]))


def wing_out_count(db: Database) -> int:
    """People of the wing whose last confirmed movement took them out of the wings now."""
    count: int = db.execute("SELECT count(*) FROM roster WHERE out = 1").fetchone()[0]
    return count


def parse_moment(text: Any) -> datetime | None:
    """An RFC 3339 time as the hub and the outbox write it; None if it is not one."""
    try:
        return datetime.fromisoformat(str(text))
    except ValueError:
        return None


def _settle_local(
    db: Database,
    vault: TemplateVault,
    detainee_id: str,
    file: dict[str, Any],
    drafts: list[dict[str, Any]],
) -> None:
    """What the person typed here and the hub now has is dropped: a draft the hub holds as new
    or newer, or that a response sent since replaced; a receipt the hub lists; a training
    request the hub shows."""
    held: dict[str, list[Stamp]] = {}  # per form, the hub's drafts and responses
    for draft in drafts:
        stamp = stamp_from(draft, "saved_at")
        if stamp is not None:
            held.setdefault(str(draft.get("form_id")), []).append(stamp)
    for receipt in file.get("receipts", []):
        stamp = stamp_from(receipt, "completed_at")
        if stamp is not None:
            held.setdefault(str(receipt.get("form_id")), []).append(stamp)
    rows = db.execute(
        "SELECT form_id, sealed FROM local_drafts WHERE detainee_id = ?", [detainee_id]
    ).fetchall()
    for form_id, sealed in rows:
        if form_id not in held:
            continue
        local = stamp_from(unseal(vault, sealed, f"draft:{detainee_id}:{form_id}"), "saved_at")
        if local is None or any(not local.after(stamp) for stamp in held[form_id]):
            db.execute(
                "DELETE FROM local_drafts WHERE detainee_id = ? AND form_id = ?",
                [detainee_id, form_id],
            )
    received = [str(r.get("event_id")) for r in file.get("receipts", [])]
    if received:
        marks = ",".join("?" * len(received))
        db.execute(
            f"DELETE FROM local_receipts WHERE detainee_id = ? AND event_id IN ({marks})",  # nosec B608  # table and column names are this module's constants; values are ? parameters
            [detainee_id, *received],
        )
    asked: dict[str, list[datetime]] = {}
    for enrolment in file.get("training", []):
        requested = parse_moment(enrolment.get("requested_at"))
        if requested is not None:
            asked.setdefault(str(enrolment.get("programme_id")), []).append(requested)
    for event_id, programme_id, requested_at in db.execute(
        "SELECT event_id, programme_id, requested_at FROM training_requests WHERE detainee_id = ?",
        [detainee_id],
    ).fetchall():
        mine = parse_moment(requested_at)
        hub = asked.get(programme_id, [])
        if hub and (mine is None or any(at >= mine for at in hub) or _open(file, programme_id)):
            db.execute("DELETE FROM training_requests WHERE event_id = ?", [event_id])


def _open(file: dict[str, Any], programme_id: str) -> bool:
    """The hub shows an open request of the person for this programme."""
    return any(
        e.get("programme_id") == programme_id
        and e.get("status") in ("requested", "waitlisted", "approved")
        for e in file.get("training", [])
    )
