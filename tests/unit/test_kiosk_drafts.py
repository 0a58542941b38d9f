"""What a kiosk keeps of a person between touches (kiosk.caches, kiosk.drafts): their file
and drafts sealed at rest, the newest draft wins, sending writes one response and drops the
drafts, receipts follow the response to the hub, and a person, a wipe or a key rotation
reaches all of it."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from kiosk import caches, drafts, outbox, store
from kiosk.sync import purge_old_copies
from kiosk.vault import TemplateVault, VaultError
from protocol import Rejection, decode_event
from protocol.events import QuestionnaireProgressEvent, QuestionnaireResponseEvent
from protocol.ids import format_timestamp, utc_now
from protocol.messages import Change

SITE, DEVICE = "rabat-1", "wing-a-1"
SECRET = "مهندس في الطاقة الشمسية"  # an answer that must never be in the file in clear
HUB_SECRET = "Soudeur qualifié (CAP)"


@pytest.fixture
def kiosk(tmp_path: Path) -> Iterator[tuple[Database, TemplateVault]]:
    db = store.open_store(tmp_path / "kiosk.db")
    yield db, TemplateVault(tmp_path / "cache.key")
    db.close()


def record(
    detainee_id: str = "d-1",
    *,
    file: dict[str, Any] | None = None,
    hub_drafts: list[dict[str, Any]] | None = None,
    out: bool = False,
) -> Change:
    """A detainee's record as the hub's syncer sends it."""
    return Change(
        kind="detainee",
        op="upsert",
        key=detainee_id,
        data={
            "prison_number": f"P-{detainee_id}",
            "name_latin": f"Name {detainee_id}",
            "name_arabic": "اسم",
            "preferred_language": "ar",
            "literate": True,
            "photo_thumbnail": base64.b64encode(b"jpeg").decode(),
            "badges": [],
            "templates": [],
            "out": out,
            "file": file or {},
            "drafts": hub_drafts or [],
        },
    )


def apply(db: Database, vault: TemplateVault, *changes: Change) -> None:
    with store.write(db):
        for change in changes:
            caches.apply_change(db, vault, change)


def hub_draft(saved_at: datetime, current: str, answers: dict[str, Any]) -> dict[str, Any]:
    return {
        "form_id": "masar_wishes",
        "form_version": "2025.1",
        "language": "fr",
        "current": current,
        "answers": answers,
        "saved_at": format_timestamp(saved_at),
    }


def save(db: Database, vault: TemplateVault, current: str, answers: dict[str, Any]) -> None:
    drafts.save_progress(
        db,
        vault,
        site=SITE,
        device=DEVICE,
        detainee_id="d-1",
        form_id="masar_wishes",
        version="2025.1",
        language="fr",
        current=current,
        answers=answers,
    )


def send(
    db: Database, vault: TemplateVault, answers: dict[str, Any], form_id: str = "masar_wishes"
) -> str:
    """Send d-1's questionnaire as the kiosk's Send button does; the receipt (event id)."""
    return drafts.submit(
        db,
        vault,
        site=SITE,
        device=DEVICE,
        detainee_id="d-1",
        form_id=form_id,
        version="2025.1",
        language="fr",
        started_at=utc_now(),
        answers=answers,
    )


def queued(db: Database) -> list[Any]:
    return [decode_event(e.payload) for e in outbox.pending(db)]


def file_bytes(tmp_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in tmp_path.glob("kiosk.db*"))


def test_files_and_drafts_are_sealed_at_rest_and_read_back_in_clear(
    kiosk: tuple[Database, TemplateVault], tmp_path: Path
) -> None:
    db, vault = kiosk
    facts = [{"fact": "qualification", "value": HUB_SECRET, "provenance": "self_declared"}]
    earlier = hub_draft(utc_now() - timedelta(hours=1), "wish_job", {"plans": "Cultiver"})
    apply(db, vault, record(file={"facts": facts}, hub_drafts=[earlier]))
    save(db, vault, "wish_training", {"wish_job": SECRET})
    assert [e.type for e in queued(db)] == ["questionnaire.progress"]
    # The outbox keeps the event in clear until the hub has it; then nothing is left in clear.
    with store.write(db):
        outbox.confirm(db, [e.id for e in outbox.pending(db)])
        caches.set_setting(db, "purge_pending", "1")
    assert purge_old_copies(db)
    content = file_bytes(tmp_path)
    for clear in (SECRET, HUB_SECRET, "Cultiver", "wish_training", "qualification"):
        assert clear.encode() not in content, clear

    assert caches.person_file(db, vault, "d-1")["facts"] == facts
    draft = drafts.load_draft(db, vault, "d-1", "masar_wishes")
    assert draft is not None and draft.answers == {"wish_job": SECRET}
    with pytest.raises(VaultError):
        drafts.load_draft(db, TemplateVault(tmp_path / "another.key"), "d-1", "masar_wishes")


def test_the_newest_draft_wins_and_a_form_sent_since_has_none(
    kiosk: tuple[Database, TemplateVault],
) -> None:
    db, vault = kiosk
    apply(db, vault, record())
    assert drafts.load_draft(db, vault, "d-1", "masar_wishes") is None
    save(db, vault, "q2", {"q1": "here"})
    event = queued(db)[0]
    assert isinstance(event, QuestionnaireProgressEvent) and event.subject == "d-1"
    assert (event.body.current, event.body.answers) == ("q2", {"q1": "here"})
    local = drafts.load_draft(db, vault, "d-1", "masar_wishes")
    assert local is not None and (local.source, local.current) == ("kiosk", "q2")

    later = utc_now() + timedelta(minutes=5)  # typed at another kiosk of the wing since
    apply(db, vault, record(hub_drafts=[hub_draft(later, "q7", {"q1": "there"})]))
    newest = drafts.load_draft(db, vault, "d-1", "masar_wishes")
    assert newest is not None and (newest.source, newest.current, newest.version) == (
        "hub",
        "q7",
        "2025.1",
    )
    # The hub has a newer draft than this kiosk's: the local one was dropped on arrival.
    assert db.execute("SELECT count(*) FROM local_drafts").fetchone()[0] == 0

    sent = {"event_id": "x", "form_id": "masar_wishes", "completed_at": format_timestamp(later)}
    apply(db, vault, record(file={"receipts": [sent]}, hub_drafts=[hub_draft(later, "q7", {})]))
    assert drafts.load_draft(db, vault, "d-1", "masar_wishes") is None  # sent elsewhere


def test_this_kiosks_own_drafts_and_receipts_follow_its_seq_not_its_clock(
    kiosk: tuple[Database, TemplateVault],
) -> None:
    """The hub hands back this kiosk's own draft stamped a day ahead (its clock was wrong
    then, protocol.ordering): answers typed here since, with the clock put right, still win,
    and a receipt made since still ends the draft."""
    db, vault = kiosk
    apply(db, vault, record())
    ahead = hub_draft(utc_now() + timedelta(days=1), "q5", {"q1": "then"})
    ahead |= {"source": f"{SITE}/{DEVICE}", "seq": 1}  # this kiosk's first event
    save(db, vault, "q2", {"q1": "now"})  # seq 1 here too: the fixture's store is new
    save(db, vault, "q3", {"q1": "now", "q2": "again"})  # seq 2
    apply(db, vault, record(hub_drafts=[ahead]))
    draft = drafts.load_draft(db, vault, "d-1", "masar_wishes")
    assert draft is not None and (draft.source, draft.current) == ("kiosk", "q3")

    sent = {
        "event_id": "y",
        "form_id": "masar_wishes",
        "completed_at": format_timestamp(utc_now() - timedelta(days=1)),  # a day behind
        "source": f"{SITE}/{DEVICE}",
        "seq": 3,
    }
    apply(db, vault, record(file={"receipts": [sent]}, hub_drafts=[ahead]))
    assert drafts.load_draft(db, vault, "d-1", "masar_wishes") is None


def test_a_kiosk_ahead_of_the_hub_caps_its_own_stamps_when_the_hub_acknowledges(
    kiosk: tuple[Database, TemplateVault],
) -> None:
    """This kiosk's clock is a day ahead of the hub's: its draft, once acknowledged, counts as
    made when the hub received it, so the form the person then sent at another kiosk an hour
    later ends it (uncapped, the draft would look a day newer and be offered again)."""
    db, vault = kiosk
    apply(db, vault, record())
    save(db, vault, "q2", {"q1": "here"})
    hub_at = utc_now() - timedelta(days=1)  # the hub's clock when it acknowledged
    with store.write(db):
        assert drafts.cap_at_arrival(db, vault, [queued(db)[0].id], hub_at) == 1
        assert drafts.cap_at_arrival(db, vault, [queued(db)[0].id], hub_at) == 0  # once
    elsewhere = {
        "event_id": "z",
        "form_id": "masar_wishes",
        "completed_at": format_timestamp(hub_at + timedelta(hours=1)),
        "source": f"{SITE}/wing-a-2",
        "seq": 40,
    }
    apply(db, vault, record(file={"receipts": [elsewhere]}))
    assert drafts.load_draft(db, vault, "d-1", "masar_wishes") is None


def test_answers_given_here_after_another_kiosks_draft_name_it_and_come_after_it(
    kiosk: tuple[Database, TemplateVault],
) -> None:
    """The person began at wing-a-2 and goes on here, where the clock is an hour behind: the
    answers name the draft they went on from, so they win here and at the hub, and the
    response names it too."""
    db, vault = kiosk
    elsewhere = hub_draft(utc_now() + timedelta(hours=1), "q2", {"q1": "there"})
    elsewhere |= {"source": f"{SITE}/wing-a-2", "seq": 7}
    apply(db, vault, record(hub_drafts=[elsewhere]))
    seen = drafts.load_draft(db, vault, "d-1", "masar_wishes")
    assert seen is not None and seen.source == "hub"
    save(db, vault, "q3", {"q1": "there", "q2": "here"})
    [saved] = queued(db)
    assert isinstance(saved, QuestionnaireProgressEvent) and saved.body.resumed is not None
    assert (saved.body.resumed.device, saved.body.resumed.seq) == ("wing-a-2", 7)
    apply(db, vault, record(hub_drafts=[elsewhere]))  # the hub has not had it yet
    mine = drafts.load_draft(db, vault, "d-1", "masar_wishes")
    assert mine is not None and (mine.source, mine.current) == ("kiosk", "q3")
    save(db, vault, "q4", {"q1": "there", "q2": "here", "q3": "on"})  # still went on from it
    again = queued(db)[1]
    assert isinstance(again, QuestionnaireProgressEvent)
    assert again.body.resumed == saved.body.resumed

    send(db, vault, {"q1": "there"})
    sent = queued(db)[-1]
    assert isinstance(sent, QuestionnaireResponseEvent) and sent.body.resumed == saved.body.resumed
    apply(db, vault, record(hub_drafts=[elsewhere]))  # still not at the hub: not offered
    assert drafts.load_draft(db, vault, "d-1", "masar_wishes") is None


def test_sending_writes_one_response_drops_both_drafts_and_keeps_a_receipt(
    kiosk: tuple[Database, TemplateVault],
) -> None:
    db, vault = kiosk
    before = utc_now() - timedelta(minutes=1)
    apply(db, vault, record(hub_drafts=[hub_draft(before, "q3", {"q1": "a"})]))
    save(db, vault, "q4", {"q1": "a", "q3": "b"})
    started = (utc_now() - timedelta(minutes=10)).isoformat()
    receipt = drafts.submit(
        db,
        vault,
        site=SITE,
        device=DEVICE,
        detainee_id="d-1",
        form_id="masar_wishes",
        version="2025.1",
        language="fr",
        started_at=started,
        answers={"q1": "a", "q3": "b"},
    )
    responses = [e for e in queued(db) if isinstance(e, QuestionnaireResponseEvent)]
    assert [e.id for e in responses] == [receipt]
    assert responses[0].body.answers == {"q1": "a", "q3": "b"}
    assert responses[0].body.started_at.isoformat().startswith(started[:19])
    assert drafts.load_draft(db, vault, "d-1", "masar_wishes") is None
    assert caches.hub_drafts(db, vault, "d-1") == []

    def states() -> list[tuple[str, str]]:
        return [(r["event_id"], r["state"]) for r in drafts.receipts(db, vault, "d-1")]

    assert states() == [(receipt, "waiting")]
    with store.write(db):
        outbox.confirm(db, [receipt])
    assert states() == [(receipt, "sent")]
    completed = responses[0].body.completed_at
    held = {
        "event_id": receipt,
        "form_id": "masar_wishes",
        "completed_at": format_timestamp(completed),
        "received_at": format_timestamp(completed),
    }
    apply(db, vault, record(file={"receipts": [held]}))
    assert drafts.receipts(db, vault, "d-1") == [held | {"state": "received"}]
    assert db.execute("SELECT count(*) FROM local_receipts").fetchone()[0] == 0


def test_a_training_request_shows_until_the_hub_lists_it(
    kiosk: tuple[Database, TemplateVault],
) -> None:
    db, vault = kiosk
    apply(db, vault, record())
    asked = drafts.request_training(
        db, site=SITE, device=DEVICE, detainee_id="d-1", programme_id="welding"
    )
    refused = drafts.request_training(
        db, site=SITE, device=DEVICE, detainee_id="d-1", programme_id="gone"
    )
    assert [e.type for e in queued(db)] == ["training.enrolment_requested"] * 2
    with store.write(db):
        outbox.reject(db, [Rejection(id=refused, reason="no programme 'gone'")])
    assert drafts.pending_requests(db, "d-1") == ["welding"]
    requested_at = queued(db)[0].at
    assert queued(db)[0].id == asked
    row = {"programme_id": "welding", "status": "requested"}
    apply(
        db,
        vault,
        record(file={"training": [row | {"requested_at": format_timestamp(requested_at)}]}),
    )
    assert drafts.pending_requests(db, "d-1") == []


def test_a_person_who_leaves_takes_everything_and_a_wipe_leaves_only_the_outbox(
    kiosk: tuple[Database, TemplateVault],
) -> None:
    db, vault = kiosk
    apply(db, vault, record("d-1", file={"location": "workshop"}, out=True), record("d-2"))
    for detainee_id in ("d-1", "d-2"):
        drafts.save_progress(
            db,
            vault,
            site=SITE,
            device=DEVICE,
            detainee_id=detainee_id,
            form_id="masar_intake",
            version="1",
            language="ar",
            current="q1",
            answers={"q0": detainee_id},
        )
        drafts.request_training(
            db, site=SITE, device=DEVICE, detainee_id=detainee_id, programme_id="p"
        )
    assert caches.wing_out_count(db) == 1
    assert caches.person_file(db, vault, "d-1")["location"] == "workshop"
    apply(db, vault, Change(kind="detainee", op="delete", key="d-1"))
    assert caches.person(db, "d-1") is None
    assert caches.person_file(db, vault, "d-1") == caches.FILE_SECTIONS
    assert drafts.load_draft(db, vault, "d-1", "masar_intake") is None
    assert drafts.pending_requests(db, "d-1") == []
    assert drafts.load_draft(db, vault, "d-2", "masar_intake") is not None
    assert caches.wing_out_count(db) == 0

    with store.write(db):
        caches.wipe(db)
    for table in ("roster", "person_files", *caches.LOCAL_TABLES):
        assert db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table
    assert outbox.depth(db) == 4  # two drafts and two requests, still to send


def test_rotating_the_key_reencrypts_files_and_drafts(
    kiosk: tuple[Database, TemplateVault], tmp_path: Path
) -> None:
    db, vault = kiosk
    apply(db, vault, record(file={"location": "court"}, hub_drafts=[hub_draft(utc_now(), "q", {})]))
    save(db, vault, "q9", {"q": SECRET})
    send(db, vault, {}, form_id="masar_intake")
    old = (tmp_path / "cache.key").read_bytes()
    new_key = vault.begin_rotation()
    with store.write(db):
        assert caches.reencrypt_sealed(db, vault, new_key) == 4  # file, drafts, draft, receipt
    restarted = TemplateVault(tmp_path / "cache.key")
    caches.settle_rotation(db, restarted)  # a crash before finish: the rotation completes
    assert restarted.current_id == new_key
    assert caches.person_file(db, restarted, "d-1")["location"] == "court"
    draft = drafts.load_draft(db, restarted, "d-1", "masar_wishes")
    assert draft is not None and draft.answers == {"q": SECRET}
    assert len(drafts.receipts(db, restarted, "d-1")) == 1
    (tmp_path / "old.key").write_bytes(old)
    with pytest.raises(VaultError):
        caches.person_file(db, TemplateVault(tmp_path / "old.key"), "d-1")


def test_the_screens_read_people_catalogue_forms_and_due_dates(
    kiosk: tuple[Database, TemplateVault],
) -> None:
    db, vault = kiosk
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    due = [
        {"form_id": "a", "due_on": yesterday, "state": "open"},  # due date passed since
        {"form_id": "b", "due_on": tomorrow, "state": "open"},
        {"form_id": "c", "due_on": yesterday, "state": "done"},
    ]
    documents = [
        Change(kind="programme", op="upsert", key="late", data={"id": "late", "starts_on": "2027"}),
        Change(kind="programme", op="upsert", key="soon", data={"id": "soon", "starts_on": "2026"}),
        Change(
            kind="questionnaire",
            op="upsert",
            key="masar_intake@rabat-1",
            data={"form_id": "masar_intake", "version": "1", "titles": {}, "survey": {}},
        ),
        Change(
            kind="questionnaire",
            op="upsert",
            key="masar_intake@rabat-1/wing-a",
            data={"form_id": "masar_intake", "version": "2", "titles": {}, "survey": {}},
        ),
        Change(
            kind="questionnaire",
            op="upsert",
            key="phq9@rabat-1",
            data={"form_id": "phq9", "version": "1", "titles": {}, "survey": {}},
        ),
    ]
    apply(db, vault, record(file={"assignments": due}), *documents)
    person = caches.person(db, "d-1")
    assert person == caches.Person("d-1", "P-d-1", "Name d-1", "اسم", "ar", True, b"jpeg")
    states = [a["state"] for a in caches.person_file(db, vault, "d-1")["assignments"]]
    assert states == ["overdue", "open", "done"]
    assert [p["id"] for p in caches.programmes(db)] == ["soon", "late"]
    assert [(q["form_id"], q["version"]) for q in caches.questionnaires(db)] == [
        ("masar_intake", "2"),  # the wing's version before the site's
        ("phq9", "1"),
    ]
    intake = caches.questionnaire(db, "masar_intake")
    assert intake is not None and intake["version"] == "2"
    assert caches.questionnaire(db, "nothing") is None
    assert json.dumps(caches.person_file(db, vault, "nobody")) == json.dumps(caches.FILE_SECTIONS)


def test_a_draft_saved_while_a_rotation_finishes_is_sealed_with_the_new_key(
    kiosk: tuple[Database, TemplateVault], tmp_path: Path
) -> None:
    """The caretaker holds the vault's rotation lock from its commit to finish_rotation; a
    draft saved in between waits, then uses the new key (else it would be unreadable)."""
    import threading

    db, vault = kiosk
    apply(db, vault, record())
    new_key = vault.begin_rotation()
    with store.write(db):
        caches.reencrypt_sealed(db, vault, new_key)
        vault.rotation_lock.acquire()  # as kiosk.caretaker does, just before its commit
    ui_db = store.open_store(tmp_path / "kiosk.db")
    saver = threading.Thread(target=save, args=(ui_db, vault, "q2", {"q": SECRET}))
    saver.start()
    saver.join(timeout=0.5)
    assert saver.is_alive()  # waiting for the new key to be current
    vault.finish_rotation()
    vault.rotation_lock.release()
    saver.join(timeout=10)
    ui_db.close()
    only_new = TemplateVault(tmp_path / "cache.key")
    assert only_new.current_id == new_key
    draft = drafts.load_draft(db, only_new, "d-1", "masar_wishes")
    assert draft is not None and draft.answers == {"q": SECRET}
