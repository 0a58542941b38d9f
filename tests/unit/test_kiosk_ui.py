"""The touchscreen's rules that need no browser: what is cached, who may see a personal page,
where a form may come from, out of service, spoken prompts. (tests/e2e drives the screens in
Chromium.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from kiosk import caches, store
from kiosk.app import create_app
from kiosk.config import KioskConfig
from kiosk.ui.context import Kiosk
from kiosk.vault import TemplateVault
from protocol.messages import Change

PERSONAL = ["/menu", "/file", "/training", "/questionnaires", "/q/masar_intake", "/me/photo"]


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    config = KioskConfig(site="s", device="k", data_dir=tmp_path / "data")
    db = store.open_store(config.store_path)
    vault = TemplateVault(config.key_path)
    person = {
        "prison_number": "2026/000001",
        "name_latin": "Amina El Idrissi",
        "name_arabic": "أمينة الإدريسي",
        "preferred_language": "fr",
        "literate": True,
    }
    with store.write(db):
        caches.apply_change(db, vault, Change(kind="detainee", op="upsert", key="d1", data=person))
    db.close()
    yield create_app(config)


def kiosk_of(app: Flask) -> Kiosk:
    found: Kiosk = app.extensions["masar_kiosk"]
    return found


def log_in(app: Flask, client: FlaskClient, person_id: str = "d1") -> None:
    live = kiosk_of(app).sessions.start(person_id, "detainee")
    with client.session_transaction() as cookie:
        cookie["token"] = live.token
        cookie["lang"] = "fr"


def test_every_page_is_sent_uncached_unframed_and_with_a_strict_policy(app: Flask) -> None:
    response = app.test_client().get("/")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store, max-age=0"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize("path", PERSONAL)
def test_a_personal_page_without_a_session_shows_the_attract_screen(app: Flask, path: str) -> None:
    response = app.test_client().get(path)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_a_page_left_open_by_the_previous_person_shows_nothing_of_them(app: Flask) -> None:
    client = app.test_client()
    log_in(app, client)
    menu = client.get("/menu")
    assert "Amina El Idrissi" in menu.text
    kiosk_of(app).sessions.end()  # logout, or the inactivity timeout
    log_in(app, app.test_client(), "d1")  # someone else's session in another browser tab
    again = client.get("/menu")
    assert again.status_code == 302 and "Amina" not in again.text


def test_the_menu_shows_the_person_in_their_own_script(app: Flask) -> None:
    client = app.test_client()
    log_in(app, client)
    assert "Amina El Idrissi" in client.get("/menu").text
    client.post("/language", data={"lang": "ar", "back": "/menu"})
    page = client.get("/menu").text
    assert "أمينة الإدريسي" in page and 'dir="rtl"' in page and 'lang="ar"' in page


def test_a_form_posted_from_another_site_is_refused(app: Flask) -> None:
    client = app.test_client()
    refused = client.post(
        "/language", data={"lang": "fr"}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert refused.status_code == 403
    foreign = client.post("/language", data={"lang": "fr"}, headers={"Origin": "http://evil"})
    assert foreign.status_code == 403
    ok = client.post("/language", data={"lang": "tzm", "back": "//evil.example/"})
    assert ok.status_code == 302 and ok.headers["Location"] == "/"
    assert 'lang="tzm"' in client.get("/").text


def test_out_of_service_the_kiosk_says_why_and_starts_no_session(app: Flask) -> None:
    db = kiosk_of(app).db()  # this thread's connection: the one the requests below use
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")  # the storage is now full
    client = app.test_client()
    page = client.get("/").text
    assert 'id="out-of-service"' in page and "storage is full" in page
    assert 'id="start"' not in page
    client.post("/identify/start")
    assert kiosk_of(app).stations.current() is None
    with pytest.raises(Exception, match="storage is full"):
        kiosk_of(app).sessions.start("d1", "detainee")


def wav(client: FlaskClient, path: str) -> tuple[int, bytes]:
    response = client.get(path)
    try:
        assert response.status_code != 200 or response.mimetype == "audio/wav"
        return response.status_code, response.data
    finally:
        response.close()  # send_file's open file


def test_spoken_prompts_play_in_the_language_or_in_arabic_for_tamazight(app: Flask) -> None:
    client = app.test_client()
    client.post("/language", data={"lang": "fr"})
    status, french = wav(client, "/prompt/attract.wav")
    assert status == 200
    client.post("/language", data={"lang": "tzm"})
    _, tamazight = wav(client, "/prompt/attract.wav")
    client.post("/language", data={"lang": "ar"})
    _, arabic = wav(client, "/prompt/attract.wav")
    assert tamazight == arabic != french
    assert wav(client, "/prompt/../../kiosk.db.wav")[0] == 404
    assert wav(client, "/prompt/unknown.wav")[0] == 404


def publish_form(app: Flask) -> None:
    """A one-question form in the kiosk's cache, as the hub's sync would leave it."""
    from hub.questionnaires import build_forms, load_xlsform

    labels = ["label::Arabic (ar)", "label::French (fr)", "label::Tamazight (tzm)"]
    titles = [f"masar::title::{name}" for name in ("Arabic (ar)", "French (fr)", "Tamazight (tzm)")]
    form = load_xlsform(
        build_forms.workbook_bytes(
            {
                "survey": [["type", "name", *labels], ["text", "job", "عمل", "Métier", "ⵜⴰⵡⵓⵔⵉ"]],
                "settings": [["form_id", "version", *titles], ["f", "1", "ع", "F", "ⵜ"]],
            }
        )
    )
    data = {"form_id": "f", "version": "1", "titles": dict(form.titles), "survey": form.survey}
    here = kiosk_of(app)
    with store.write(here.db()):
        caches.apply_change(
            here.db(), here.vault, Change(kind="questionnaire", op="upsert", key="f@s", data=data)
        )


def responses(app: Flask) -> int:
    found: int = (
        kiosk_of(app)
        .db()
        .execute("SELECT count(*) FROM outbox WHERE type = 'questionnaire.response'")
        .fetchone()[0]
    )
    return found


def test_a_second_tap_on_send_sends_nothing_more(app: Flask) -> None:
    publish_form(app)
    client = app.test_client()
    log_in(app, client)
    assert client.post("/q/f/job", data={"answer": "boulanger", "go": "next"}).status_code == 302
    first = client.post("/send/f")
    again = client.post("/send/f")
    assert first.headers["Location"] == again.headers["Location"] == "/receipt"
    assert responses(app) == 1


def test_a_person_who_left_the_wing_is_logged_out_and_nothing_more_is_saved(app: Flask) -> None:
    publish_form(app)
    client = app.test_client()
    log_in(app, client)
    here = kiosk_of(app)
    with store.write(here.db()):
        caches.apply_change(here.db(), here.vault, Change(kind="detainee", op="delete", key="d1"))
    answered = client.post("/q/f/job", data={"answer": "boulanger", "go": "next"})
    assert answered.headers["Location"] == "/"
    assert here.sessions.current() is None
    assert here.db().execute("SELECT count(*) FROM outbox").fetchone()[0] == 0


def test_errors_are_plain_pages_with_a_way_back_and_no_redirect_leaves_the_kiosk(
    app: Flask,
) -> None:
    client = app.test_client()
    missing = client.get("/no/such/page")
    assert missing.status_code == 404 and 'id="trouble"' in missing.text
    assert 'href="/"' in missing.text
    for path in ("/identify/pin", "/identify/choose"):
        away = client.post(path, data={"back": "//evil.example/x"})
        assert away.headers["Location"] == "/identify"
