"""A detainee's own file on their wing's kiosks (hub.person_file): questionnaire drafts kept
newest first whatever order they arrive in, every write that changes the file noted for the
kiosks in its transaction, health data never included, the record within one message, and
scheduled movements (SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub import assignments, movements, plans, profiles, roster, training
from hub.audit import Trail, verify
from hub.ingest import apply_batch
from hub.models import (
    AuditEntry,
    Detainee,
    QuestionnaireDraft,
    ScheduledMovement,
    SyncChange,
    SyncDocument,
)
from hub.movements import MovementError
from hub.person_file import MAX_SECTIONS_BYTES
from hub.questionnaires import FORMS_DIR
from hub.questionnaires.library import import_form
from hub.seed import seed_kiosk_wing
from hub.syncer import answer
from protocol import MAX_PAYLOAD_BYTES, SyncRequest, dumps, encode, uuid7
from protocol.events import (
    DraftRef,
    EventBase,
    MovementVerified,
    MovementVerifiedEvent,
    QuestionnaireProgress,
    QuestionnaireProgressEvent,
    QuestionnaireResponse,
    QuestionnaireResponseEvent,
    TrainingEnrolmentRequested,
    TrainingEnrolmentRequestedEvent,
)
from protocol.messages import Change
from tests import factories
from tests.factories import count, incoming

KEY = bytes(range(32))
STAFF = Trail(KEY, "user:registrar-1")
SITE, WING, DEVICE, OTHER = "rabat-1", "wing-a", "wing-a-1", "wing-a-2"
T0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
_seqs = {DEVICE: itertools.count(1), OTHER: itertools.count(1)}


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def progress(
    subject: str,
    when: datetime,
    current: str,
    answers: dict[str, Any],
    form: str = "masar_intake",
    device: str = DEVICE,
    resumed: EventBase | None = None,
) -> QuestionnaireProgressEvent:
    return QuestionnaireProgressEvent(
        id=uuid7(),
        site=SITE,
        device=device,
        seq=next(_seqs[device]),
        at=when,
        subject=subject,
        body=QuestionnaireProgress(
            form_id=form,
            form_version="2025.1",
            language="ar",
            current=current,
            answers=answers,
            resumed=ref(resumed),
        ),
    )


def response(
    subject: str,
    when: datetime,
    answers: dict[str, Any],
    form: str = "masar_intake",
    device: str = DEVICE,
    resumed: EventBase | None = None,
) -> QuestionnaireResponseEvent:
    return QuestionnaireResponseEvent(
        id=uuid7(),
        site=SITE,
        device=device,
        seq=next(_seqs[device]),
        at=when,
        subject=subject,
        body=QuestionnaireResponse(
            form_id=form,
            form_version="2025.1",
            language="ar",
            started_at=when - timedelta(minutes=5),
            completed_at=when,
            answers=answers,
            resumed=ref(resumed),
        ),
    )


def ref(draft: EventBase | None) -> DraftRef | None:
    """The link to the draft (another kiosk's) that answers went on from."""
    return None if draft is None else DraftRef(site=draft.site, device=draft.device, seq=draft.seq)


def moved(subject: str, when: datetime, to: str) -> MovementVerifiedEvent:
    return MovementVerifiedEvent(
        id=uuid7(),
        site=SITE,
        device="wing-a-2",
        seq=next(_seqs[DEVICE]),
        at=when,
        subject=subject,
        actor="officer-7",
        body=MovementVerified(
            from_location=WING, to_location=to, modalities=["badge"], outcome="confirmed"
        ),
    )


def ingest(sessions: sessionmaker[Session], *events: EventBase) -> None:
    with sessions.begin() as session:
        result = apply_batch(session, [incoming(e) for e in events], audit_key=KEY)
    assert result.dead_lettered == 0, result.rejected


def drafts(sessions: sessionmaker[Session], detainee_id: str) -> dict[str, tuple[str, Any]]:
    with sessions() as session:
        rows = session.scalars(
            select(QuestionnaireDraft).where(QuestionnaireDraft.detainee_id == detainee_id)
        )
        return {row.form_id: (row.current, row.answers) for row in rows}


class Kiosk:
    """A wing kiosk's view through the real syncer: what each delta carries."""

    def __init__(self, sessions: sessionmaker[Session], *, catch_up: bool = True) -> None:
        """``catch_up``: take the first full copy now, so that deltas show what follows."""
        self.sessions = sessions
        self.cursor: str | None = None
        if catch_up:
            self.delta()

    def delta(self) -> dict[str, Change]:
        found: dict[str, Change] = {}
        while True:
            with self.sessions() as session:
                page = answer(session, SyncRequest(site=SITE, device=DEVICE, cursor=self.cursor))
            assert page.error is None and len(encode(page)) <= MAX_PAYLOAD_BYTES
            found.update({c.key: c for c in page.changes if c.kind == "detainee"})
            self.cursor = page.next_cursor
            if not page.more:
                return found

    def file(self, detainee_id: str) -> dict[str, Any]:
        """The person's file from the next delta, which must carry them."""
        changes = self.delta()
        assert detainee_id in changes, f"no note of {detainee_id} reached the kiosk"
        data = changes[detainee_id].data
        assert data is not None
        return dict(data["file"]) | {"drafts": data["drafts"], "out": data["out"]}


@pytest.fixture
def wing(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with sessions.begin() as session:
        roster.register_device(session, SITE, DEVICE, WING, "self_service")
        for detainee_id in ("d-1", "d-2"):
            factories.admit(session, detainee_id)
        factories.admit(session, "d-9", wing="wing-b")
        import_form(session, (FORMS_DIR / "masar_intake.xlsx").read_bytes(), actor="user:r")
        import_form(session, (FORMS_DIR / "phq9.xlsx").read_bytes(), actor="user:r")
    return sessions


# --- drafts ------------------------------------------------------------------------------------


def test_the_newest_draft_wins_whatever_order_the_events_arrive_in(
    wing: sessionmaker[Session],
) -> None:
    # Two kiosks: their events are ordered by time. The other kiosk was offline for a while.
    older = progress("d-1", at(5), "q2", {"education_level": "3"}, device=OTHER)
    newer = progress("d-1", at(10), "q3", {"education_level": "3", "qualification": "CAP"})
    ingest(wing, newer)
    ingest(wing, older)  # late: it changes nothing
    ingest(wing, older)  # and a replay is a duplicate
    assert drafts(wing, "d-1") == {"masar_intake": ("q3", newer.body.answers)}
    same_moment = progress("d-1", at(10), "q4", {"education_level": "4"}, device=OTHER)
    ingest(wing, same_moment)  # a tie goes to the later event id
    assert drafts(wing, "d-1")["masar_intake"][0] == "q4"

    stale = progress("d-1", at(15), "q5", {"education_level": "4"}, device=OTHER)
    sent = response("d-1", at(20), {"education_level": "4", "qualification": "CAP"})
    restarted = progress("d-1", at(30), "q1", {"education_level": "5"})
    ingest(wing, sent, stale)  # one batch: the draft from before the response is not kept
    assert drafts(wing, "d-1") == {}
    ingest(wing, stale)
    ingest(wing, restarted)  # begun again after sending: kept
    assert drafts(wing, "d-1") == {"masar_intake": ("q1", {"education_level": "5"})}
    ingest(wing, response("d-1", at(25), {"education_level": "4"}, device=OTHER))  # older
    assert list(drafts(wing, "d-1")) == ["masar_intake"]

    ingest(wing, progress("nobody", at(1), "q1", {"x": 1}))  # kept as an event, no draft
    assert drafts(wing, "nobody") == {}


def test_one_batch_of_answers_keeps_each_persons_last_ones(wing: sessionmaker[Session]) -> None:
    """Drafts are applied a batch at a time (hub.drafts.apply_questionnaire_progresses): the
    same outcome as one by one, whatever the order within the batch."""
    first = progress("d-1", at(1), "q1", {"education_level": "3"})
    second = progress("d-1", at(2), "q2", {"education_level": "3", "qualification": "CAP"})
    elsewhere = progress("d-2", at(1), "q1", {"education_level": "2"}, device=OTHER)
    ingest(wing, second, elsewhere, first, second)
    assert drafts(wing, "d-1") == {"masar_intake": ("q2", second.body.answers)}
    assert drafts(wing, "d-2") == {"masar_intake": ("q1", {"education_level": "2"})}

    before = progress("d-2", at(4), "q2", {"education_level": "2"}, device=OTHER)
    sent = response("d-2", at(5), {"education_level": "2"}, device=OTHER)
    again = progress("d-2", at(6), "q1", {"education_level": "4"}, device=OTHER)
    ingest(wing, again, sent, before)  # begun again after sending: only that is kept
    assert drafts(wing, "d-2") == {"masar_intake": ("q1", {"education_level": "4"})}
    ingest(wing, response("d-2", at(7), {"education_level": "4"}, device=OTHER), before)
    assert drafts(wing, "d-2") == {}


def test_answers_resumed_at_a_kiosk_whose_clock_is_behind_come_after_what_they_resumed(
    wing: sessionmaker[Session],
) -> None:
    """The person began at one kiosk and went on at another whose clock is an hour behind:
    the answers there name the draft they went on from (protocol.ordering), so they are kept,
    a late older draft of the first kiosk does not come back, and the response ends it."""
    now = datetime.now(UTC)
    behind = now - timedelta(hours=1)
    older = progress("d-2", now - timedelta(minutes=6), "q1", {})  # arrives late
    begun = progress("d-2", now - timedelta(minutes=5), "q2", {"education_level": "3"})
    ingest(wing, begun)
    went_on = progress(
        "d-2", behind, "q3", {"education_level": "3", "x": 1}, device=OTHER, resumed=begun
    )
    ingest(wing, went_on)
    assert drafts(wing, "d-2") == {"masar_intake": ("q3", went_on.body.answers)}
    ingest(wing, older)
    assert drafts(wing, "d-2")["masar_intake"][0] == "q3"
    sent = response("d-2", behind + timedelta(minutes=1), {"x": 1}, device=OTHER, resumed=begun)
    ingest(wing, sent)
    assert drafts(wing, "d-2") == {}


def test_a_draft_and_its_response_applied_by_two_workers_at_once_leave_no_draft(
    wing: sessionmaker[Session],
) -> None:
    """A shared subscription can hand one kiosk's last answer and its response to two
    workers at the same moment: the second waits on the person's lock (hub.ingest), so it
    sees what the first committed. (SQLite has one writer at a time anyway.)"""
    now = datetime.now(UTC)
    draft = progress("d-1", now - timedelta(seconds=2), "q3", {"education_level": "3"})
    sent = response("d-1", now - timedelta(seconds=1), {"education_level": "3"})  # later seq
    first = wing()
    first.begin()
    apply_batch(first, [incoming(draft)], audit_key=KEY)  # worker 1: not committed yet

    def second_worker() -> None:
        with wing.begin() as session:
            apply_batch(session, [incoming(sent)], audit_key=KEY)

    second = threading.Thread(target=second_worker)
    second.start()
    time.sleep(1.0)  # worker 2 is now waiting for worker 1
    first.commit()
    first.close()
    second.join(30)
    assert not second.is_alive()
    assert drafts(wing, "d-1") == {}, "a sent questionnaire is still offered as a draft"


def test_one_kiosks_drafts_and_responses_follow_its_seq_not_its_clock(
    wing: sessionmaker[Session],
) -> None:
    """A kiosk's clock a day ahead, then corrected: what it sent while ahead is not newer than
    what the person did after; another kiosk's time ahead of the hub counts as its arrival."""
    now = datetime.now(UTC)
    ahead = progress("d-2", now + timedelta(days=1), "q2", {"education_level": "3"})
    sent = response("d-2", now - timedelta(minutes=1), {"education_level": "3"})
    ingest(wing, ahead)
    ingest(wing, sent)  # later on the same kiosk (seq), though stamped a day earlier
    assert drafts(wing, "d-2") == {}
    again = progress("d-2", now - timedelta(seconds=30), "q1", {"education_level": "4"})
    ingest(wing, again)  # begun again after sending: kept, though "older" than the first draft
    assert drafts(wing, "d-2") == {"masar_intake": ("q1", {"education_level": "4"})}

    tomorrow = progress("d-2", now + timedelta(days=1), "q9", {"x": 1}, device=OTHER)
    ingest(wing, tomorrow)  # a clock ahead of the hub counts as now: newer than "again" ...
    assert drafts(wing, "d-2")["masar_intake"][0] == "q9"
    ingest(wing, progress("d-2", datetime.now(UTC) + timedelta(milliseconds=5), "q3", {}))
    assert drafts(wing, "d-2")["masar_intake"][0] == "q3"  # ... and older than what follows


# --- every write path notes the person ----------------------------------------------------------


def test_each_write_that_changes_a_file_reaches_the_wing_kiosk_in_the_next_delta(
    wing: sessionmaker[Session],
) -> None:
    kiosk = Kiosk(wing)
    saved = progress("d-1", at(1), "qualification", {"education_level": "3"})
    ingest(wing, saved)
    file = kiosk.file("d-1")
    assert file["drafts"] == [
        {
            "form_id": "masar_intake",
            "form_version": "2025.1",
            "language": "ar",
            "current": "qualification",
            "answers": {"education_level": "3"},
            "saved_at": "2026-11-29T09:01:00.000Z",
            "source": f"{SITE}/{DEVICE}",  # its stamp (protocol.ordering)
            "seq": saved.seq,
            "ordered_at": "2026-11-29T09:01:00.000Z",
            "resumed": None,  # begun here, not at another kiosk
        }
    ]

    sent = response("d-1", at(2), {"education_level": "3", "qualification": "CAP soudure"})
    ingest(wing, sent)
    file = kiosk.file("d-1")
    assert file["drafts"] == []
    assert file["receipts"] == [
        {
            "event_id": sent.id,
            "form_id": "masar_intake",
            "completed_at": "2026-11-29T09:02:00.000Z",
            "received_at": file["receipts"][0]["received_at"],
            "source": f"{SITE}/{DEVICE}",
            "seq": sent.seq,
            "ordered_at": "2026-11-29T09:02:00.000Z",
            "resumed": None,
        }
    ]
    assert {(f["fact"], f["value"], f["provenance"]) for f in file["facts"]} == {
        ("education_level", "3", "self_declared"),
        ("qualification", "CAP soudure", "self_declared"),
    }
    [education] = [f for f in file["facts"] if f["fact"] == "education_level"]
    assert set(education["labels"]) == {"ar", "fr"}  # what ISCED level 3 means, for the screen

    today = date.today()
    with wing.begin() as session:
        assignments.assign(
            session, STAFF, form_id="phq9", due_on=today + timedelta(days=3), detainee_id="d-1"
        )
    assert kiosk.file("d-1")["assignments"] == [
        {"form_id": "phq9", "due_on": (today + timedelta(days=3)).isoformat(), "state": "open"}
    ]
    with wing.begin() as session:
        assignments.assign(
            session, STAFF, form_id="masar_intake", due_on=today, site=SITE, wing=WING
        )
    changes = kiosk.delta()
    assert sorted(changes) == ["d-1", "d-2"]  # everyone in the wing, nobody else
    assert changes["d-2"].data is not None
    assert changes["d-2"].data["file"]["assignments"] == [
        {"form_id": "masar_intake", "due_on": today.isoformat(), "state": "open"}
    ]

    with wing.begin() as session:
        training.put_programme(
            session,
            STAFF,
            programme_id="welding",
            titles={"fr": "Soudure"},
            provider="OFPPT",
            site=SITE,
            capacity=1,
            starts_on=today + timedelta(days=10),
            ends_on=today + timedelta(days=60),
        )
    changes = kiosk.delta()  # a new programme: everyone held at the site may ask for it
    assert {"d-1", "d-2"} <= set(changes)
    assert changes["d-1"].data is not None
    assert changes["d-1"].data["file"]["eligible_programmes"] == ["welding"]
    with wing.begin() as session:
        training.put_programme(
            session,
            STAFF,
            programme_id="welding",
            titles={"fr": "Soudure à l'arc"},  # a title changes nobody's eligibility
            provider="OFPPT",
            site=SITE,
            capacity=1,
            starts_on=today + timedelta(days=10),
            ends_on=today + timedelta(days=60),
        )
    assert "d-1" not in kiosk.delta()

    ingest(
        wing,
        TrainingEnrolmentRequestedEvent(
            id=uuid7(),
            site=SITE,
            device=DEVICE,
            seq=next(_seqs[DEVICE]),
            at=at(3),
            subject="d-1",
            body=TrainingEnrolmentRequested(programme_id="welding"),
        ),
    )
    training_rows = kiosk.file("d-1")["training"]
    assert [(t["programme_id"], t["status"], t["requested_at"]) for t in training_rows] == [
        ("welding", "requested", "2026-11-29T09:03:00.000Z")
    ]
    with wing.begin() as session:
        enrolment = training.request_enrolment(
            session, STAFF, programme_id="welding", detainee_id="d-2", via="user:registrar-1"
        )
        d2 = enrolment.id
    assert kiosk.file("d-2")["training"][0]["status"] == "requested"
    with wing.begin() as session:
        first = training.enrolments_of(session, "d-1")[0].id
        training.decide(session, STAFF, first, "approve", None)
    assert kiosk.file("d-1")["training"][0]["status"] == "approved"
    with wing.begin() as session:
        training.decide(session, STAFF, d2, "decline", "Plus de place")
    assert kiosk.file("d-2")["training"][0]["reason"] == "Plus de place"
    with wing.begin() as session:
        training.complete(session, STAFF, first, "completed")
    file = kiosk.file("d-1")
    assert [t["programme_id"] for t in file["training_followed"]] == ["welding"]
    with wing.begin() as session:
        again = training.request_enrolment(
            session, STAFF, programme_id="welding", detainee_id="d-2", via="user:registrar-1"
        ).id
    kiosk.delta()
    with wing.begin() as session:
        training.withdraw(session, STAFF, again, "changed their mind")
    assert kiosk.file("d-2")["training"][-1]["status"] == "withdrawn"

    with wing.begin() as session:
        plans.put_plan(
            session,
            STAFF,
            "d-1",
            goals=["Travailler en atelier"],
            steps=[plans.Step(text="Finir la formation", due_on=today)],
            referrals=[],
        )
    assert kiosk.file("d-1")["plan"]["steps"] == [
        {"text": "Finir la formation", "due_on": today.isoformat(), "done": False}
    ]

    origin = profiles.FactSource("staff_verified", "user:registrar-1")
    with wing.begin() as session:
        fact = profiles.record_fact(session, "d-2", "skill", "welding", origin)
        fact_id = fact.id
    assert kiosk.file("d-2")["facts"] == [
        {"fact": "skill", "value": "welding", "provenance": "staff_verified", "labels": {}}
    ]
    with wing.begin() as session:
        profiles.verify_fact(session, fact_id, user="registrar-1", document=True)
    assert kiosk.file("d-2")["facts"][0]["provenance"] == "document"

    with wing.begin() as session:
        planned = movements.schedule_movement(
            session, STAFF, detainee_id="d-2", to_location="court", at=at(60), reason="audience"
        )
        planned_id = planned.id
    assert kiosk.file("d-2")["scheduled_movements"] == [
        {"id": planned_id, "to": "court", "at": "2026-11-29T10:00:00.000Z", "reason": "audience"}
    ]
    with wing.begin() as session:
        movements.cancel_movement(session, STAFF, planned_id, "reporté")
    assert kiosk.file("d-2")["scheduled_movements"] == []

    ingest(wing, moved("d-2", at(70), "workshop"))
    file = kiosk.file("d-2")
    assert (file["location"], file["out"]) == ("workshop", True)
    ingest(wing, moved("d-2", at(80), WING))
    file = kiosk.file("d-2")
    assert (file["location"], file["out"]) == (WING, False)
    ingest(wing, moved("d-9", at(81), "clinic"))  # another wing's person: not ours
    assert kiosk.delta() == {}
    with wing() as session:
        assert verify(session, KEY).ok


def test_a_verified_movement_to_the_planned_place_marks_the_schedule_done(
    wing: sessionmaker[Session],
) -> None:
    with wing.begin() as session:
        court = movements.schedule_movement(
            session, STAFF, detainee_id="d-1", to_location="court", at=at(60)
        ).id
        later = movements.schedule_movement(
            session, STAFF, detainee_id="d-1", to_location="court", at=at(60 * 24 * 7)
        ).id
        with pytest.raises(MovementError, match="the destination is empty; write it"):
            movements.schedule_movement(
                session, STAFF, detainee_id="d-1", to_location="  ", at=at(1)
            )
    ingest(wing, moved("d-1", at(30), "clinic"))  # elsewhere: nothing done
    ingest(wing, moved("d-1", at(95), "court"))  # 35 minutes late: the nearest is done
    with wing() as session:
        states = {s.id: (s.state, s.closed_by) for s in session.scalars(select(ScheduledMovement))}
        actions = [
            (e.action, e.subject, e.details.get("to"))
            for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        ]
    assert states[court][0] == "done" and str(states[court][1]).startswith("event:")
    assert states[later] == ("pending", None)
    assert actions == [
        ("movement.schedule", "d-1", "court"),
        ("movement.schedule", "d-1", "court"),
    ]
    with wing.begin() as session, pytest.raises(MovementError, match="is already done"):
        movements.cancel_movement(session, STAFF, court)


def test_one_batch_of_movements_fulfils_each_schedule_once_and_keeps_the_newest_place(
    wing: sessionmaker[Session],
) -> None:
    """Movements are applied a batch at a time (hub.movements.apply_movements_verified): the
    same outcome as one by one, whatever their order in the batch."""
    with wing.begin() as session:
        plans = [
            movements.schedule_movement(
                session, STAFF, detainee_id="d-1", to_location="court", at=at(minutes)
            ).id
            for minutes in (60, 300)
        ]
    back = moved("d-1", at(320), WING)
    second = moved("d-1", at(310), "court")  # fulfils the 300-minute plan, the nearer one
    first = moved("d-1", at(70), "court")
    ingest(wing, back, second, first, moved("d-2", at(75), "clinic"), first)
    with wing() as session:
        states = {s.id: (s.state, s.closed_by) for s in session.scalars(select(ScheduledMovement))}
        places = {p.id: p.location for p in session.scalars(select(Detainee))}
    assert states == {
        plans[0]: ("done", f"event:{first.id}"),
        plans[1]: ("done", f"event:{second.id}"),
    }
    assert (places["d-1"], places["d-2"]) == (WING, "clinic")


# --- purpose-bound -----------------------------------------------------------------------------


def test_health_answers_and_facts_from_health_forms_never_reach_a_kiosk(
    wing: sessionmaker[Session],
) -> None:
    kiosk = Kiosk(wing)
    items = {f"phq9_{n}": "1" for n in range(1, 10)} | {"phq9_difficulty": "2"}
    ingest(wing, progress("d-1", at(1), "phq9_5", {"phq9_1": "3"}, form="phq9"))
    ingest(wing, progress("d-1", at(2), "qualification", {"education_level": "2"}))
    ingest(wing, response("d-1", at(3), items, form="phq9"))
    origin = profiles.FactSource("self_declared", "kiosk:x/y", "phq9", "2025.1", "phq9_9")
    with wing.begin() as session:
        profiles.record_fact(session, "d-1", "wish", "sleep better", origin)
    data = kiosk.delta()["d-1"].data
    assert data is not None
    assert [d["form_id"] for d in data["drafts"]] == ["masar_intake"]
    assert data["file"]["facts"] == []
    text = dumps(data).decode()
    assert "phq9_" not in text and "sleep better" not in text and "band" not in text
    # The receipt says a form was sent and when, never what was answered.
    assert [r["form_id"] for r in data["file"]["receipts"]] == ["phq9"]


# --- size --------------------------------------------------------------------------------------


def test_the_largest_possible_record_still_fits_one_sync_message(
    wing: sessionmaker[Session],
) -> None:
    today = date.today()
    with wing.begin() as session:
        roster.update_detainee(session, "d-1", photo_thumbnail=b"\xff" * roster.MAX_PHOTO_BYTES)
        roster.replace_templates(
            session,
            "d-1",
            [
                roster.TemplateRecord(
                    f"t{n}", "face", "f32", bytes([n]) * roster.MAX_TEMPLATE_BYTES
                )
                for n in range(roster.MAX_TEMPLATES)
            ],
        )
        origin = profiles.FactSource("self_declared", "kiosk:x/y", "masar_intake", "1", "q")
        for n in range(80):
            profiles.record_fact(session, "d-1", "qualification", f"{n} " + "ص" * 3000, origin)
        plans.put_plan(
            session,
            STAFF,
            "d-1",
            goals=["هدف " * 400] * 50,
            steps=[plans.Step(text="خطوة " * 400, due_on=today)] * 50,
            referrals=[],
        )
        for n in range(40):
            assignments.assign(
                session, STAFF, form_id="masar_intake", due_on=today, detainee_id="d-1"
            )
            movements.schedule_movement(
                session, STAFF, detainee_id="d-1", to_location="court" * 25, at=at(n)
            )
    for n in range(30):
        big = {f"q{k}": "جواب " * 150 for k in range(2)}  # 2.7 kB: the newest that fit
        ingest(wing, progress("d-1", at(n), "q1", big, form=f"form_{n}"))
    with wing() as session:
        page = answer(session, SyncRequest(site=SITE, device=DEVICE, limit=1))
        detainee = next(c for c in page.changes if c.key == "d-1") if page.changes else None
        while detainee is None:
            page = answer(session, SyncRequest(site=SITE, device=DEVICE, cursor=page.next_cursor))
            detainee = next((c for c in page.changes if c.key == "d-1"), None)
    assert detainee.data is not None
    sections = {k: detainee.data[k] for k in ("file", "drafts", "out")}
    assert len(dumps(sections)) <= MAX_SECTIONS_BYTES
    kept = [d["form_id"] for d in detainee.data["drafts"]]
    assert 0 < len(kept) < 10 and kept == [f"form_{n}" for n in range(29, 29 - len(kept), -1)]
    assert len(encode(page)) <= MAX_PAYLOAD_BYTES


# --- the demo wing -----------------------------------------------------------------------------


def test_the_demo_wing_gets_forms_assignments_programmes_and_a_planned_movement(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        roster.register_device(session, SITE, DEVICE, WING, "self_service")
        for n in range(3):
            factories.admit(session, f"m{n:05d}")
    first = seed_kiosk_wing(sessions, key=KEY, site=SITE, wing=WING)
    again = seed_kiosk_wing(sessions, key=KEY, site=SITE, wing=WING)
    assert first == again
    assert first.assigned == ["masar_intake", "masar_wishes"]
    assert first.scheduled_for == "m00000"
    with sessions() as session:
        assert count(session, ScheduledMovement) == 1
        published = session.scalars(
            select(SyncDocument.key).where(SyncDocument.kind == "questionnaire")
        ).all()
        assert sorted(published) == [f"{f}@{SITE}" for f in sorted(first.forms_published)]
        assert {"masar_intake", "masar_wishes", "phq9"} <= set(first.forms_published)
        held = session.scalars(select(Detainee.id)).all()
        noted = set(
            session.scalars(select(SyncChange.key).where(SyncChange.kind == "detainee")).all()
        )
        assert set(held) <= noted
    record = Kiosk(sessions, catch_up=False).delta()["m00000"].data
    assert record is not None
    assert [a["form_id"] for a in record["file"]["assignments"]] == [
        "masar_intake",
        "masar_wishes",
    ]
    assert sorted(record["file"]["eligible_programmes"]) == sorted(first.programmes)
    assert record["file"]["scheduled_movements"][0]["to"] == "workshop"
