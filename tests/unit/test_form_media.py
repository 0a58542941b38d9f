"""A form's recorded audio: the hub checks and publishes it, the sync feed carries it, the
kiosk checks it on arrival and plays it from its cache (offline)."""

from __future__ import annotations

import base64
import copy
import hashlib
import io
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy.orm import Session, sessionmaker
from sqlite_utils import Database

from hub import roster
from hub.audit import Trail
from hub.questionnaires import build_forms
from hub.questionnaires.library import import_form, publish
from hub.questionnaires.media import MAX_MEDIA_BYTES, MediaError, add_media
from hub.syncer import answer
from kiosk import caches, store
from kiosk.app import create_app
from kiosk.config import KioskConfig
from kiosk.sync import apply_page
from kiosk.vault import TemplateVault
from protocol import SyncRequest
from protocol.messages import Change
from tests.unit.test_kiosk_ui import log_in
from tests.unit.test_xlsform import MINIMAL

SITE, DEVICE, WING = "rabat-1", "wing-a-1", "a"
TRAIL = Trail(b"k" * 32, "user:hub-admin")


def audio_form() -> bytes:
    """MINIMAL with recorded questions (French and Arabic) and a recorded choice."""
    tables = copy.deepcopy(MINIMAL)
    tables["survey"][0] += ["media::audio::Arabic (ar)", "media::audio::French (fr)"]
    tables["survey"][1] += ["worked_ar.ogg", "worked_fr.wav"]
    tables["survey"][2] += ["", ""]
    tables["choices"][0] += ["media::audio::French (fr)"]
    tables["choices"][1] += ["oui.mp3"]
    tables["choices"][2] += [""]
    return build_forms.workbook_bytes(tables)


def tiny_wav(seconds: float = 0.05) -> bytes:
    """A valid, silent 8 kHz mono WAV: a few hundred bytes."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * int(8000 * seconds))
    return buffer.getvalue()


@pytest.fixture
def hub(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """A hub holding the audio form, published to the site, and the wing's kiosk."""
    with sessions() as session, session.begin():
        import_form(session, audio_form(), actor=TRAIL.actor)
        publish(session, TRAIL, "test_form", "1", site=SITE, wing=None)
        roster.register_device(session, SITE, DEVICE, WING, "self_service")
        roster.register_device(session, SITE, "wing-b-1", "b", "self_service")
    return sessions


def refusal(hub: sessionmaker[Session], files: dict[str, bytes]) -> str:
    with hub() as session, session.begin(), pytest.raises(MediaError) as caught:
        add_media(session, TRAIL, "test_form", files, SITE)
    return str(caught.value)


def test_the_hub_refuses_audio_too_big_of_unknown_type_or_not_in_the_form(
    hub: sessionmaker[Session],
) -> None:
    too_big = refusal(hub, {"worked_ar.ogg": b"O" * (MAX_MEDIA_BYTES + 1)})
    assert "worked_ar.ogg" in too_big and f"at most {MAX_MEDIA_BYTES}" in too_big
    assert "not a known audio type" in refusal(hub, {"worked_fr.flac": tiny_wav()})
    assert "names no such audio file" in refusal(hub, {"other.wav": tiny_wav()})
    assert "plain file name" in refusal(hub, {"../worked_fr.wav": tiny_wav()})
    # One bad file: none of the others is published either.
    assert "names no such" in refusal(hub, {"worked_fr.wav": tiny_wav(), "x.wav": tiny_wav()})
    with hub() as session:
        assert all(c.kind != "media" for c in answer(session, request(None)).changes)
    with hub() as session, session.begin(), pytest.raises(MediaError, match="no questionnaire"):
        add_media(session, TRAIL, "no_such_form", {"worked_fr.wav": tiny_wav()}, SITE)


def request(cursor: str | None, device: str = DEVICE) -> SyncRequest:
    return SyncRequest(site=SITE, device=device, cursor=cursor, limit=500)


def sync(hub: sessionmaker[Session], db: Database, vault: TemplateVault, device: str) -> None:
    more = True
    while more:
        with hub() as session:
            response = answer(session, request(caches.get_setting(db, "sync_cursor"), device))
        assert response.error is None
        apply_page(db, vault, response)
        more = response.more


@pytest.fixture
def kiosk_db(tmp_path: Path) -> Iterator[tuple[Database, TemplateVault]]:
    db = store.open_store(tmp_path / "kiosk.db")
    yield db, TemplateVault(tmp_path / "cache.key")
    db.close()


def test_a_sync_carries_the_audio_to_the_wing_s_kiosks_only(
    hub: sessionmaker[Session], kiosk_db: tuple[Database, TemplateVault], tmp_path: Path
) -> None:
    db, vault = kiosk_db
    sync(hub, db, vault, DEVICE)  # a full copy before the audio exists
    assert not caches.has_media(db, "test_form", "worked_fr.wav")
    sound = tiny_wav()
    with hub() as session, session.begin():
        add_media(session, TRAIL, "test_form", {"worked_fr.wav": sound}, SITE, WING)
    sync(hub, db, vault, DEVICE)  # the change feed
    found = caches.media_file(db, "test_form", "worked_fr.wav")
    assert found is not None and (found.content, found.mime) == (sound, "audio/wav")
    assert caches.media_file(db, "test_form", "worked_ar.ogg") is None

    fresh = store.open_store(tmp_path / "fresh.db")  # a full copy carries it too
    sync(hub, fresh, vault, DEVICE)
    assert caches.has_media(fresh, "test_form", "worked_fr.wav")
    other = store.open_store(tmp_path / "wing-b.db")  # published to wing a only
    sync(hub, other, vault, "wing-b-1")
    assert caches.questionnaire(other, "test_form") is not None
    assert not caches.has_media(other, "test_form", "worked_fr.wav")
    fresh.close()
    other.close()


def media_change(content: bytes, sha256: str | None = None) -> Change:
    data = {
        "form_id": "test_form",
        "name": "worked_fr.wav",
        "sha256": sha256 or hashlib.sha256(content).hexdigest(),
        "mime": "audio/wav",
        "data": base64.b64encode(content).decode(),
    }
    return Change(kind="media", op="upsert", key=f"test_form/worked_fr.wav@{SITE}", data=data)


def test_the_kiosk_stores_audio_and_refuses_bytes_that_do_not_match_their_sha256(
    kiosk_db: tuple[Database, TemplateVault],
) -> None:
    db, vault = kiosk_db
    sound = tiny_wav()
    with store.write(db):
        caches.apply_change(db, vault, media_change(sound))
    found = caches.media_file(db, "test_form", "worked_fr.wav")
    assert found is not None and found.content == sound
    damaged = media_change(sound, hashlib.sha256(b"other").hexdigest())
    with store.write(db), pytest.raises(caches.CacheError, match="do not match their SHA-256"):
        caches.apply_change(db, vault, damaged)
    html = media_change(b"<script>")
    assert html.data is not None
    html.data["mime"] = "text/html"
    with store.write(db), pytest.raises(caches.CacheError, match="not an audio type"):
        caches.apply_change(db, vault, html)
    with store.write(db):
        caches.apply_change(db, vault, Change(kind="media", op="delete", key=damaged.key))
    assert not caches.has_media(db, "test_form", "worked_fr.wav")


@pytest.fixture
def app(
    hub: sessionmaker[Session], tmp_path: Path
) -> Iterator[tuple[Flask, sessionmaker[Session]]]:
    config = KioskConfig(site=SITE, device=DEVICE, data_dir=tmp_path / "data")
    db = store.open_store(config.store_path)
    vault = TemplateVault(config.key_path)
    person = {
        "prison_number": "2026/000001",
        "name_latin": "Amina El Idrissi",
        "name_arabic": "أمينة الإدريسي",
        "preferred_language": "fr",
        "literate": True,
    }
    sync(hub, db, vault, DEVICE)  # a first sync replaces the cache: the person comes after
    with store.write(db):
        caches.apply_change(db, vault, Change(kind="detainee", op="upsert", key="d1", data=person))
    db.close()
    yield create_app(config), hub


def test_a_recorded_question_shows_the_speaker_and_plays_from_the_cache(
    app: tuple[Flask, sessionmaker[Session]],
) -> None:
    flask_app, hub = app
    client = flask_app.test_client()
    log_in(flask_app, client)
    page = client.get("/q/test_form/worked")
    assert page.status_code == 200 and 'class="speaker"' not in page.text  # not synced yet
    assert client.get("/media/test_form/worked_fr.wav").status_code == 404

    sound = tiny_wav()
    with hub() as session, session.begin():
        add_media(session, TRAIL, "test_form", {"worked_fr.wav": sound}, SITE)
    here = flask_app.extensions["masar_kiosk"]
    sync(hub, here.db(), here.vault, DEVICE)
    page = client.get("/q/test_form/worked")
    assert 'class="speaker"' in page.text
    assert 'data-audio="/media/test_form/worked_fr.wav"' in page.text
    played = client.get("/media/test_form/worked_fr.wav")
    assert played.status_code == 200 and played.mimetype == "audio/wav"
    assert played.data == sound
    client.post("/language", data={"lang": "ar", "back": "/menu"})
    assert 'class="speaker"' not in client.get("/q/test_form/worked").text  # not sent: no button
    assert client.get("/media/test_form/worked_ar.ogg").status_code == 404
