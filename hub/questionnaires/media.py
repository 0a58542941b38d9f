"""A questionnaire's recorded audio (XLSForm ``media::audio::<Language> (<code>)`` columns), sent
to kiosks through the sync feed as "media" documents so that it plays offline.

Each file travels whole inside one sync message, hence the size bound: a spoken prompt in
Ogg/Opus or MP3 is a few KiB per second.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator, Mapping
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy.orm import Session

from hub import roster
from hub.audit import Trail
from hub.questionnaires.library import QuestionnaireError, latest_version

MAX_MEDIA_BYTES = 64 * 1024
MEDIA_TYPES = {
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",  # Opus in an Ogg container
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".m4a": "audio/mp4",
}
MAX_KEY_LENGTH = 128  # sync_documents.key
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class MediaError(QuestionnaireError):
    """A media file cannot be published; the message names the file and why."""


def media_key(form_id: str, name: str, site: str, wing: str | None = None) -> str:
    """One document per file, site and wing: "form/name@site" or "form/name@site/wing"."""
    return f"{form_id}/{name}@{site}" + (f"/{wing}" if wing else "")


def referenced_audio(survey: Mapping[str, Any]) -> set[str]:
    """The audio file names a form's questions and choices name, in any language."""
    return set(_audio_names(survey))


def _audio_names(element: Any) -> Iterator[str]:
    if isinstance(element, Mapping):
        media = element.get("media")
        audio = media.get("audio") if isinstance(media, Mapping) else None
        if isinstance(audio, Mapping):
            yield from (str(name) for name in audio.values() if name)
        elif audio:
            yield str(audio)
        for value in element.values():
            yield from _audio_names(value)
    elif isinstance(element, list):
        for item in element:
            yield from _audio_names(item)


def _check(name: str, content: bytes, referenced: set[str], form_id: str) -> str:
    """The file's MIME type, or MediaError saying what is wrong with it."""
    if not _NAME.fullmatch(name):
        raise MediaError(
            f"{name!r}: use a plain file name of letters, digits, '.', '_' and '-' "
            "(in the form and on disk)"
        )
    mime = MEDIA_TYPES.get(PurePosixPath(name).suffix.lower())
    if mime is None:
        raise MediaError(
            f"{name}: not a known audio type; use one of {', '.join(sorted(MEDIA_TYPES))}"
        )
    if not content:
        raise MediaError(f"{name}: the file is empty")
    if len(content) > MAX_MEDIA_BYTES:
        raise MediaError(
            f"{name}: {len(content)} bytes; at most {MAX_MEDIA_BYTES} per file "
            "(record a shorter prompt, or encode it as Ogg/Opus or MP3)"
        )
    if name not in referenced:
        raise MediaError(
            f"{name}: the newest version of questionnaire {form_id} names no such audio "
            "file in a media::audio column"
        )
    return mime


def add_media(
    session: Session,
    trail: Trail,
    form_id: str,
    files: Mapping[str, bytes],
    site: str,
    wing: str | None = None,
) -> list[str]:
    """Send recorded audio of a form to the kiosks of a site (or of one wing). Every file is
    checked before any is published; a file sent again under the same name replaces the
    kiosks' copy. Returns the document keys."""
    version = latest_version(session, form_id)
    if version is None:
        raise MediaError(f"no questionnaire {form_id}; import its XLSForm first")
    if not files:
        raise MediaError("no files given")
    referenced = referenced_audio(version.survey)
    checked = {name: _check(name, content, referenced, form_id) for name, content in files.items()}
    keys = {name: media_key(form_id, name, site, wing) for name in checked}
    for name, key in keys.items():
        if len(key) > MAX_KEY_LENGTH:
            raise MediaError(f"{name}: the form id, file name, site and wing are too long")
    digests: dict[str, str] = {}
    for name, mime in checked.items():
        content = files[name]
        digests[name] = hashlib.sha256(content).hexdigest()
        data = {
            "form_id": form_id,
            "name": name,
            "sha256": digests[name],
            "mime": mime,
            "data": base64.b64encode(content).decode(),
        }
        roster.put_document(session, "media", keys[name], data, site=site, wing=wing)
    trail.record(
        session,
        "questionnaire.media",
        None,
        {"form_id": form_id, "site": site, "wing": wing, "files": digests},
    )
    return list(keys.values())
