"""The hub's sync answers applied straight to a kiosk's caches (no broker): cursors,
page bounds, wing moves and records changing during a full copy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import Session, sessionmaker
from sqlite_utils import Database

from hub import roster
from hub.db import open_engine, session_factory, upgrade
from hub.syncer import answer
from kiosk import caches, store
from kiosk.sync import apply_page
from kiosk.vault import TemplateVault
from protocol import MAX_PAYLOAD_BYTES, SyncRequest, SyncResponse, encode

SITE, DEVICE = "rabat-1", "wing-a-1"


@pytest.fixture
def hub(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = open_engine(database_url)
    upgrade(engine)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def kiosk(tmp_path: Path) -> Iterator[tuple[Database, TemplateVault]]:
    db = store.open_store(tmp_path / "kiosk.db")
    yield db, TemplateVault(tmp_path / "cache.key")
    db.close()


def face(seed: int) -> bytes:
    return np.random.default_rng(seed).standard_normal(512).astype(np.float32).tobytes()


def admit(session: Session, n: int, wing: str = "a", photo: bytes | None = None) -> None:
    roster.admit(
        session,
        detainee_id=f"m{n:04d}",
        prison_number=f"P{n:04d}",
        name_latin=f"P {n}",
        name_arabic=f"ش {n}",
        site=SITE,
        wing=wing,
        photo_thumbnail=photo,
        badges=[f"{n:08X}"],
        templates=[roster.TemplateRecord(f"t{n:04d}", "face", "f32", face(n))],
    )


def ask(hub: sessionmaker[Session], cursor: str | None, limit: int = 500) -> SyncResponse:
    with hub() as session:
        return answer(session, SyncRequest(site=SITE, device=DEVICE, cursor=cursor, limit=limit))


def apply(kiosk: tuple[Database, TemplateVault], response: SyncResponse) -> None:
    apply_page(kiosk[0], kiosk[1], response)


def sync(
    hub: sessionmaker[Session], kiosk: tuple[Database, TemplateVault], limit: int = 500
) -> list[SyncResponse]:
    pages = []
    while True:
        response = ask(hub, caches.get_setting(kiosk[0], "sync_cursor"), limit)
        assert response.error is None
        assert len(encode(response)) <= MAX_PAYLOAD_BYTES
        apply(kiosk, response)
        pages.append(response)
        if not response.more:
            return pages


def people(kiosk: tuple[Database, TemplateVault]) -> list[str]:
    return [r[0] for r in kiosk[0].execute("SELECT detainee_id FROM roster ORDER BY 1")]


@pytest.mark.parametrize(
    "cursor", ["c:99999999999999999999", "garbage", "c:0000beef:1", "s:x:1:detainee:", "c::"]
)
def test_an_unknown_cursor_starts_a_full_copy(
    hub: sessionmaker[Session], kiosk: tuple[Database, TemplateVault], cursor: str
) -> None:
    with hub.begin() as session:
        roster.register_device(session, SITE, DEVICE, "a", "self_service")
        admit(session, 1)
    response = ask(hub, cursor)
    assert response.reset and response.error is None
    assert [c.key for c in response.changes] == ["m0001"]


def test_an_unregistered_kiosk_is_told_in_plain_words(hub: sessionmaker[Session]) -> None:
    assert (
        ask(hub, None).error == "this kiosk is not registered on the hub; ask a hub administrator"
    )


def test_pages_stay_under_the_message_limit_with_large_photos(
    hub: sessionmaker[Session], kiosk: tuple[Database, TemplateVault]
) -> None:
    with hub.begin() as session:
        roster.register_device(session, SITE, DEVICE, "a", "self_service")
        for n in range(12):
            admit(session, n, photo=bytes([n]) * roster.MAX_PHOTO_BYTES)
    pages = sync(hub, kiosk)
    assert len(pages) > 2 and len(people(kiosk)) == 12
    with hub.begin() as session, pytest.raises(ValueError, match="photo thumbnail"):
        admit(session, 99, photo=b"x" * (roster.MAX_PHOTO_BYTES + 1))


def test_a_template_moved_to_another_person_during_a_full_copy_syncs(
    hub: sessionmaker[Session], kiosk: tuple[Database, TemplateVault]
) -> None:
    with hub.begin() as session:
        roster.register_device(session, SITE, DEVICE, "a", "self_service")
        for n in range(6):
            admit(session, n)
    first = ask(hub, None, limit=2)
    apply(kiosk, first)  # m0000, m0001 copied
    with hub.begin() as session:  # t0000 was enrolled to the wrong person: move it to m0004
        roster.replace_templates(session, "m0000", [])
        roster.replace_templates(
            session, "m0004", [roster.TemplateRecord("t0000", "face", "f32", face(0))]
        )
    sync(hub, kiosk, limit=2)
    db, vault = kiosk
    owners = dict(db.execute("SELECT id, detainee_id FROM templates").fetchall())
    assert owners["t0000"] == "m0004" and "t0004" not in owners
    gallery = caches.load_gallery(db, vault)
    assert gallery.templates[gallery.detainee_ids.index("m0004")].tobytes() == face(0)


def test_a_kiosk_moved_to_another_wing_starts_over(
    hub: sessionmaker[Session], kiosk: tuple[Database, TemplateVault]
) -> None:
    with hub.begin() as session:
        roster.register_device(session, SITE, DEVICE, "a", "self_service")
        admit(session, 1, wing="a")
        admit(session, 2, wing="b")
    sync(hub, kiosk)
    assert people(kiosk) == ["m0001"]
    with hub.begin() as session:
        roster.register_device(session, SITE, DEVICE, "b", "self_service")
    pages = sync(hub, kiosk)
    assert pages[0].reset and people(kiosk) == ["m0002"]


def test_where_a_person_is_held_changes_only_by_transfer_or_release(
    hub: sessionmaker[Session], kiosk: tuple[Database, TemplateVault]
) -> None:
    with hub.begin() as session:
        roster.register_device(session, SITE, DEVICE, "a", "self_service")
        admit(session, 1)
        admit(session, 2)
    sync(hub, kiosk)
    with hub.begin() as session, pytest.raises(ValueError, match="use transfer"):
        roster.update_detainee(session, "m0001", wing="b")
    with hub.begin() as session:
        roster.transfer(session, "m0001", "b")
        roster.release(session, "m0002")
    sync(hub, kiosk)
    assert people(kiosk) == []
    assert kiosk[0].execute("SELECT count(*) FROM templates").fetchone()[0] == 0
