"""Training programmes, enrolment requests and decisions, attendance, completion and the
ranking of programmes for one person (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub import profiles, roster, training
from hub.audit import Trail, verify
from hub.ingest import apply_batch
from hub.models import (
    Attendance,
    AuditEntry,
    DeadLetter,
    Detainee,
    Enrolment,
    Event,
    Programme,
    SyncChange,
    SyncDocument,
    as_utc,
)
from hub.training import TrainingError
from protocol import uuid7
from protocol.events import TrainingEnrolmentRequested, TrainingEnrolmentRequestedEvent
from protocol.ids import utc_now
from tests import factories
from tests.factories import count
from tests.factories import incoming as wire

KEY = bytes(range(32))
REGISTRAR = Trail(KEY, "user:registrar-1")
TODAY = date(2026, 12, 1)
STARTS, ENDS = date(2027, 1, 4), date(2027, 3, 13)
NASTY = "<script>alert('x')</script> \"; DROP TABLE enrolments;-- & 1=1"


def admit(
    session: Session,
    detainee_id: str,
    *,
    site: str = "rabat-1",
    literate: bool = True,
    release: date | None = None,
) -> None:
    factories.admit(session, detainee_id, site=site, literate=literate)
    detainee = session.get(Detainee, detainee_id)
    assert detainee is not None
    detainee.expected_release_date = release


def put(session: Session, programme_id: str = "welding-2027", **changes: Any) -> Programme:
    fields: dict[str, Any] = {
        "titles": {"fr": "Soudure", "ar": "التلحيم"},
        "provider": "OFPPT",
        "site": "rabat-1",
        "capacity": 12,
        "starts_on": STARTS,
        "ends_on": ENDS,
        "isco_codes": ("7212",),
        "skills": ("welding",),
    }
    fields.update(changes)
    return training.put_programme(session, REGISTRAR, programme_id=programme_id, **fields)


def fact(session: Session, detainee_id: str, name: str, value: str, form: str) -> None:
    origin = profiles.FactSource("self_declared", "kiosk:rabat-1/wing-a-1", form, "2025.1", name)
    profiles.record_fact(session, detainee_id, name, value, origin)


def audit(session: Session) -> list[tuple[str, str | None]]:
    return [(e.action, e.subject) for e in session.scalars(select(AuditEntry).order_by("id"))]


def last_details(session: Session) -> dict[str, Any]:
    entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert entry is not None
    return entry.details


def kiosk_request(
    detainee_id: str, programme_id: str, seq: int = 1, note: str | None = None
) -> TrainingEnrolmentRequestedEvent:
    return TrainingEnrolmentRequestedEvent(
        id=uuid7(),
        site="rabat-1",
        device="wing-a-1",
        seq=seq,
        at=utc_now().replace(microsecond=0),  # what the wire keeps (milliseconds)
        subject=detainee_id,
        body=TrainingEnrolmentRequested(programme_id=programme_id, note=note),
    )


# --- programmes --------------------------------------------------------------------------------


def test_a_programme_is_stored_published_to_its_kiosks_and_audited_with_what_changed(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        put(session, min_isced=2, requires_literacy=True, min_days_before_release=60)
    with sessions.begin() as session:
        document = session.get(SyncDocument, ("programme", "welding-2027"))
        assert document is not None and document.site == "rabat-1" and document.active
        assert document.data == {
            "id": "welding-2027",
            "titles": {"fr": "Soudure", "ar": "التلحيم"},
            "provider": "OFPPT",
            "capacity": 12,
            "starts_on": "2027-01-04",
            "ends_on": "2027-03-13",
            "min_isced": 2,
            "requires_literacy": True,
            "min_days_before_release": 60,
            "isco_codes": ["7212"],
            "skills": ["welding"],
        }
        assert audit(session) == [("programme.put", "welding-2027")]
        assert last_details(session)["created"] is True
        assert last_details(session)["changed"]["capacity"] == {"before": None, "after": 12}
    with sessions.begin() as session:
        put(session, capacity=15, min_isced=2, requires_literacy=True, min_days_before_release=60)
    with sessions.begin() as session:
        assert last_details(session) == {
            "created": False,
            "changed": {"capacity": {"before": 12, "after": 15}},
        }
        changes = count(session, SyncChange)
        put(session, capacity=15, min_isced=2, requires_literacy=True, min_days_before_release=60)
        assert len(audit(session)) == 2 and count(session, SyncChange) == changes  # no change
    with sessions.begin() as session:
        put(session, capacity=15, active=False)
    with sessions.begin() as session:
        document = session.get(SyncDocument, ("programme", "welding-2027"))
        assert document is not None and not document.active
        assert set(last_details(session)["changed"]) == {
            "active",
            "min_isced",
            "requires_literacy",
            "min_days_before_release",
        }
        assert training.programmes(session, "rabat-1") == []
        assert [p.id for p in training.programmes(session, include_inactive=True)] == [
            "welding-2027"
        ]
        assert verify(session, KEY).ok


def test_each_invalid_programme_is_refused_with_a_plain_message_and_nothing_is_stored(
    sessions: sessionmaker[Session],
) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        (
            {"programme_id": "Welding 2027"},
            "programme id 'Welding 2027' is not usable; use 1 to 64 lower-case letters",
        ),
        ({"site": "Rabat"}, "establishment 'Rabat' is not an establishment id"),
        ({"titles": {"ar": "التلحيم"}}, r"needs a French title \(fr\); ar and tzm are optional"),
        ({"titles": {"fr": "  "}}, "the fr title is empty; write it"),
        ({"titles": {"fr": "Soudure", "tzm": ""}}, "the tzm title is empty; write it"),
        ({"titles": {"fr": "Soudure", "en": "Welding"}}, "titles in en are not used"),
        ({"provider": " "}, "the provider is empty; write it"),
        ({"capacity": 0}, "capacity 0 is not possible; a programme has 1 place or more"),
        (
            {"ends_on": date(2027, 1, 3)},
            "the programme ends on 2027-01-03 before it starts on 2027-01-04; correct the dates",
        ),
        ({"min_isced": 9}, "minimum education level 9 is not an ISCED 2011 level; use 0 to 8"),
        ({"min_isced": -1}, "minimum education level -1 is not an ISCED 2011 level"),
        ({"min_days_before_release": -5}, "-5 days before release is not possible"),
        ({"isco_codes": ("7212", "9999")}, "ISCO-08 has no group '9999'"),
        ({"skills": ("welding", " ")}, "a skill is empty; write it"),
    ]
    for changes, message in cases:
        programme_id = changes.pop("programme_id", "welding-2027")
        with pytest.raises(TrainingError, match=message), sessions.begin() as session:
            put(session, programme_id, **changes)
    with sessions() as session:
        assert count(session, Programme) == 0 and count(session, SyncDocument) == 0
        assert audit(session) == []


# --- requests ----------------------------------------------------------------------------------


def test_a_request_is_made_once_while_it_is_open_and_refused_when_it_cannot_be(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        admit(session, "m00001")
        admit(session, "m00002")
        admit(session, "m00009", site="sale-2")
        put(session)
        put(session, "cooking-2027", active=False)
    with sessions.begin() as session:
        first = training.request_enrolment(
            session,
            REGISTRAR,
            programme_id="welding-2027",
            detainee_id="m00001",
            via="user:registrar-1",
            note=NASTY,
        )
        again = training.request_enrolment(
            session,
            REGISTRAR,
            programme_id="welding-2027",
            detainee_id="m00001",
            via="user:registrar-1",
        )
        assert again.id == first.id and first.state == "requested"
        assert audit(session)[-1] == ("enrolment.request", "m00001")
        assert last_details(session) == {
            "enrolment_id": first.id,
            "programme_id": "welding-2027",
            "via": "user:registrar-1",
            "note": NASTY,
        }
        assert [a for a, _ in audit(session)].count("enrolment.request") == 1
    refusals: list[tuple[dict[str, str], type[Exception], str]] = [
        ({"detainee_id": "m00404"}, LookupError, "no detainee 'm00404'"),
        ({"programme_id": "pottery"}, LookupError, "no programme 'pottery'"),
        (
            {"programme_id": "cooking-2027"},
            TrainingError,
            "programme cooking-2027 is no longer offered; choose another programme",
        ),
        (
            {"detainee_id": "m00009"},
            TrainingError,
            "programme welding-2027 runs at rabat-1 but detainee m00009 is held at sale-2",
        ),
        ({"via": " "}, TrainingError, "where the request came from is empty"),
    ]
    for changes, error, message in refusals:
        asked = {"programme_id": "welding-2027", "detainee_id": "m00002", "via": "user:r"}
        asked.update(changes)
        with pytest.raises(error, match=message), sessions.begin() as session:
            training.request_enrolment(
                session,
                REGISTRAR,
                programme_id=asked["programme_id"],
                detainee_id=asked["detainee_id"],
                via=asked["via"],
            )
    with sessions.begin() as session:
        roster.release(session, "m00002")
    with (
        pytest.raises(TrainingError, match="m00002 has been released; programmes are for people"),
        sessions.begin() as session,
    ):
        training.request_enrolment(
            session, REGISTRAR, programme_id="welding-2027", detainee_id="m00002", via="user:r"
        )
    with sessions.begin() as session:
        training.decide(session, REGISTRAR, first.id, "decline", "not this term")
        renewed = training.request_enrolment(
            session, REGISTRAR, programme_id="welding-2027", detainee_id="m00001", via="user:r"
        )
        assert renewed.id != first.id  # a closed request does not block a new one
        assert [e.state for e in training.enrolments_of(session, "m00001")] == [
            "declined",
            "requested",
        ]
        assert count(session, Enrolment) == 2
        assert verify(session, KEY).ok


def test_a_kiosk_request_is_applied_once_per_event_id_and_writes_no_audit_entry(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        admit(session, "m00001")
        put(session)
    event = kiosk_request("m00001", "welding-2027", note=NASTY)
    entries_before = 1  # the programme.put
    with sessions.begin() as session:
        first = apply_batch(session, [wire(event), wire(event)])
    with sessions.begin() as session:
        second = apply_batch(session, [wire(event)])
    assert (first.applied, second.applied, second.duplicates) == (1, 0, 1)
    with sessions.begin() as session:
        training.apply_enrolment_request(session, event)  # a replay of the same event
        enrolment = session.scalars(select(Enrolment)).one()
        assert enrolment.event_id == event.id and enrolment.state == "requested"
        assert enrolment.requested_via == "kiosk:rabat-1/wing-a-1"
        assert as_utc(enrolment.requested_at) == event.at  # when the person asked
        assert len(audit(session)) == entries_before  # the events table is the record
        stored = session.get(Event, event.id)
        assert stored is not None and stored.body["note"] == NASTY
    other = kiosk_request("m00001", "welding-2027", seq=2)  # asked again at the kiosk
    with sessions.begin() as session:
        apply_batch(session, [wire(other)])
    with sessions() as session:
        assert count(session, Enrolment) == 1 and count(session, Event) == 2
        assert [e.id for e in training.programme_queue(session, "welding-2027")] == [enrolment.id]


def test_a_kiosk_request_for_an_unknown_programme_or_person_is_parked_with_a_reason(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        admit(session, "m00001")
        put(session)
    good = kiosk_request("m00001", "welding-2027", seq=1)
    pottery = kiosk_request("m00001", "pottery", seq=2)
    nobody = kiosk_request("m00404", "welding-2027", seq=3)
    with sessions.begin() as session:
        result = apply_batch(session, [wire(good), wire(pottery), wire(nobody)])
    assert result.applied == 1 and result.dead_lettered == 2
    reasons = {r.event_id: r.reason for r in result.rejected}
    assert reasons[pottery.id].startswith("could not be applied: no programme 'pottery' on the hub")
    assert reasons[nobody.id].startswith("could not be applied: no detainee 'm00404' on the hub")
    with sessions() as session:  # the good one is in; the refused ones left nothing behind
        assert count(session, Event) == 1 and count(session, Enrolment) == 1
        assert count(session, DeadLetter) == 2


# --- decisions, attendance, completion ---------------------------------------------------------


def request(session: Session, detainee_id: str, programme_id: str = "welding-2027") -> int:
    enrolment = training.request_enrolment(
        session, REGISTRAR, programme_id=programme_id, detainee_id=detainee_id, via="user:r"
    )
    return enrolment.id


def test_decisions_follow_the_rules_and_a_full_programme_cannot_take_one_more(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        for n in range(1, 5):
            admit(session, f"m0000{n}")
        put(session, capacity=2)
        one, two, three, four = (request(session, f"m0000{n}") for n in range(1, 5))
    with sessions.begin() as session:
        assert [e.id for e in training.programme_queue(session, "welding-2027")] == [
            one,
            two,
            three,
            four,
        ]
        approved = training.decide(session, REGISTRAR, one, "approve", None)
        assert approved.state == "approved" and approved.decided_by == "user:registrar-1"
        assert approved.decided_at is not None
        training.decide(session, REGISTRAR, two, "approve", "good fit")
        assert training.places_taken(session, "welding-2027") == 2
    with (
        pytest.raises(
            TrainingError,
            match=r"^2 of 2 places are taken; waitlist the request or raise the capacity$",
        ),
        sessions.begin() as session,
    ):
        training.decide(session, REGISTRAR, three, "approve", None)
    with (
        pytest.raises(TrainingError, match="a decline needs a reason the person can be told"),
        sessions.begin() as session,
    ):
        training.decide(session, REGISTRAR, three, "decline", "  ")
    with (
        pytest.raises(TrainingError, match=r"enrolment .* is already approved; only a requested"),
        sessions.begin() as session,
    ):
        training.decide(session, REGISTRAR, one, "decline", "changed my mind")
    with pytest.raises(LookupError, match="no enrolment 999"), sessions.begin() as session:
        training.decide(session, REGISTRAR, 999, "approve", None)
    with (
        pytest.raises(TrainingError, match="2 places are already given, more than a capacity of 1"),
        sessions.begin() as session,
    ):
        put(session, capacity=1)
    with sessions.begin() as session:
        waiting = training.decide(session, REGISTRAR, three, "waitlist", "full for now")
        assert (waiting.state, waiting.reason) == ("waitlisted", "full for now")
        declined = training.decide(session, REGISTRAR, four, "decline", NASTY)
        assert declined.state == "declined"
    with (
        pytest.raises(TrainingError, match="already on the waiting list"),
        sessions.begin() as session,
    ):
        training.decide(session, REGISTRAR, three, "waitlist", None)
    with sessions.begin() as session:
        withdrawn = training.withdraw(session, REGISTRAR, two, "moved to another wing")
        assert withdrawn.state == "withdrawn"
        assert training.decide(session, REGISTRAR, three, "approve", None).state == "approved"
        assert [e.id for e in training.programme_queue(session, "welding-2027")] == []
    with sessions() as session:  # stored and read back unchanged
        stored = session.get(Enrolment, four)
        assert stored is not None and stored.reason == NASTY
        assert [a for a, _ in audit(session)] == [
            "programme.put",
            *["enrolment.request"] * 4,
            "enrolment.decide",
            "enrolment.decide",
            "enrolment.decide",
            "enrolment.decide",
            "enrolment.withdraw",
            "enrolment.decide",
        ]
        assert audit(session)[-1] == ("enrolment.decide", "m00003")
        assert last_details(session) == {
            "enrolment_id": three,
            "programme_id": "welding-2027",
            "decision": "approve",
            "before": "waitlisted",
            "after": "approved",
            "reason": None,
        }
        assert verify(session, KEY).ok


def test_attendance_is_kept_per_day_for_approved_people_and_completion_closes_it(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        admit(session, "m00001")
        admit(session, "m00002")
        put(session)
        one, two = request(session, "m00001"), request(session, "m00002")
        training.decide(session, REGISTRAR, one, "approve", None)
    day = date(2027, 1, 5)
    with (
        pytest.raises(TrainingError, match=r"enrolment .* is requested; attendance is kept for"),
        sessions.begin() as session,
    ):
        training.record_attendance(session, REGISTRAR, two, day, True)
    with (
        pytest.raises(
            TrainingError,
            match="2027-03-14 is outside the programme, which runs from 2027-01-04 to 2027-03-13",
        ),
        sessions.begin() as session,
    ):
        training.record_attendance(session, REGISTRAR, one, date(2027, 3, 14), True)
    with sessions.begin() as session:
        training.record_attendance(session, REGISTRAR, one, day, False)
        training.record_attendance(session, REGISTRAR, one, day, True)  # corrected
        training.record_attendance(session, REGISTRAR, one, day, True)  # the same: no entry
        training.record_attendance(session, REGISTRAR, one, date(2027, 1, 4), True)
    with sessions.begin() as session:
        assert count(session, Attendance) == 2
        assert [a for a, _ in audit(session)].count("attendance.record") == 3
        assert last_details(session) == {
            "enrolment_id": one,
            "programme_id": "welding-2027",
            "day": "2027-01-04",
            "present": True,
            "before": None,
        }
        sheet = training.attendance_sheet(session, "welding-2027")
        assert sheet.days == [date(2027, 1, 4), day]
        assert [(r.enrolment.id, r.marks, r.days_present) for r in sheet.rows] == [
            (one, {date(2027, 1, 4): True, day: True}, 2)
        ]
    with (
        pytest.raises(TrainingError, match="only an approved enrolment can be completed"),
        sessions.begin() as session,
    ):
        training.complete(session, REGISTRAR, two, "completed")
    with sessions.begin() as session:
        done = training.complete(session, REGISTRAR, one, "completed")
        assert done.state == "completed" and done.completed_at is not None
        assert training.places_taken(session, "welding-2027") == 1  # the place was used
        training.decide(session, REGISTRAR, two, "approve", None)
        training.complete(session, REGISTRAR, two, "dropped")
        assert training.places_taken(session, "welding-2027") == 1  # a drop gives it back
    with (
        pytest.raises(TrainingError, match=r"enrolment .* is completed; attendance is kept"),
        sessions.begin() as session,
    ):
        training.record_attendance(session, REGISTRAR, one, day, False)
    with sessions() as session:
        assert audit(session)[-3:] == [
            ("enrolment.complete", "m00001"),
            ("enrolment.decide", "m00002"),
            ("enrolment.complete", "m00002"),
        ]
        assert last_details(session) == {
            "enrolment_id": two,
            "programme_id": "welding-2027",
            "outcome": "dropped",
        }
        rows = training.attendance_sheet(session, "welding-2027").rows
        assert [(r.enrolment.id, r.enrolment.state) for r in rows] == [
            (one, "completed"),
            (two, "dropped"),
        ]
        assert verify(session, KEY).ok


# --- ranking -----------------------------------------------------------------------------------


def ranking(session: Session, detainee_id: str) -> list[tuple[str, bool, int]]:
    return [
        (r.programme.id, r.eligible, r.rank)
        for r in training.rank_programmes(session, detainee_id, TODAY)
    ]


def reasons(session: Session, detainee_id: str, programme_id: str) -> list[str]:
    for ranked in training.rank_programmes(session, detainee_id, TODAY):
        if ranked.programme.id == programme_id:
            return ranked.reasons
    raise AssertionError(f"{programme_id} not ranked")


def test_programmes_are_ranked_by_fit_with_reasons_in_plain_words(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        put(session, "welding-2027", capacity=4, min_isced=2, min_days_before_release=60)
        put(
            session,
            "cooking-2027",
            titles={"fr": "Cuisine"},
            isco_codes=("5120",),
            skills=("cooking",),
            requires_literacy=True,
        )
        put(session, "literacy-2027", titles={"fr": "Alphabétisation"}, isco_codes=(), skills=())
        put(session, "old-2026", starts_on=date(2026, 9, 1), ends_on=date(2026, 11, 30))
        put(session, "closed-2027", active=False)
        put(session, "sale-2027", site="sale-2")
        # The welder: primary education only, released before the course would end.
        admit(session, "welder", release=date(2027, 2, 1))
        fact(session, "welder", "education_level", "1", "masar_intake")
        fact(session, "welder", "skill", "welding", "masar_intake")
        fact(session, "welder", "occupation", "7", "masar_intake")
        # The cook: secondary education, wishes to work as a cook, cannot read yet.
        admit(session, "cook", literate=False, release=date(2029, 1, 1))
        fact(session, "cook", "education_level", "3", "masar_intake")
        fact(session, "cook", "occupation", "5120", "masar_wishes")
        fact(session, "cook", "wish", "cooking", "masar_wishes")
        # The reader: can read, wishes for kitchen work (major group 5), knows nothing recorded.
        admit(session, "reader")
        fact(session, "reader", "occupation", "5", "masar_wishes")
        admit(session, "taken")
        training.decide(
            session, REGISTRAR, request(session, "taken", "welding-2027"), "approve", None
        )

    with sessions() as session:
        assert ranking(session, "welder") == [
            ("cooking-2027", True, 1),
            ("literacy-2027", True, 2),
            ("welding-2027", False, 3),
        ]
        assert reasons(session, "welder", "welding-2027") == [
            "Needs at least lower secondary education (ISCED 2); your highest recorded level "
            "is primary (ISCED 1).",
            "Needs at least 60 days before release, counted from 2027-01-04; your release is "
            "expected on 2027-02-01, 28 days later.",
            "Your release is expected on 2027-02-01, 40 days before the programme ends on "
            "2027-03-13.",
            "Builds on your skill: welding.",
            "Builds on your past work as Craft and related trades workers (ISCO 7): it "
            "prepares for Welders and flamecutters (ISCO 7212).",
            "3 of 4 places left.",
        ]

        assert ranking(session, "cook") == [  # a tie: the same start, then by id
            ("literacy-2027", True, 1),
            ("welding-2027", True, 2),
            ("cooking-2027", False, 3),
        ]
        assert reasons(session, "cook", "cooking-2027") == [
            "Needs reading and writing; your record says you cannot read yet.",
            "Matches your wish to work as Cooks (ISCO 5120).",
            "Matches your wish to train in cooking.",
            "12 of 12 places left.",
        ]
        assert reasons(session, "cook", "welding-2027")[0] == (
            "Needs at least lower secondary education (ISCED 2); your highest recorded level "
            "is upper secondary (ISCED 3)."
        )

        ranked = training.rank_programmes(session, "reader", TODAY)
        assert [(r.programme.id, r.eligible, r.score) for r in ranked] == [
            ("cooking-2027", True, 3),
            ("literacy-2027", True, 0),
            ("welding-2027", True, -2),
        ]
        assert ranked[0].reasons == [
            "Needs reading and writing; your record says you can.",
            "Matches your wish to work as Service and sales workers (ISCO 5): it prepares "
            "for Cooks (ISCO 5120).",
            "12 of 12 places left.",
        ]
        assert ranked[2].reasons[:2] == [
            "Needs at least lower secondary education (ISCED 2); no education level is "
            "recorded yet, so check it first.",
            "Needs at least 60 days before release, counted from 2027-01-04; "
            "no release date is recorded, so check it first.",
        ]
        assert reasons(session, "taken", "welding-2027")[-1] == (
            "You have already asked to join: approved."
        )
    with pytest.raises(LookupError, match="no detainee 'nobody'"), sessions() as session:
        training.rank_programmes(session, "nobody", TODAY)


def test_a_full_programme_ranks_lower_and_says_so(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        put(session, "welding-2027", capacity=1)
        put(session, "metal-2027", capacity=1, starts_on=date(2027, 2, 1))
        admit(session, "first")
        admit(session, "second")
        training.decide(session, REGISTRAR, request(session, "first"), "approve", None)
    with sessions() as session:
        ranked = training.rank_programmes(session, "second", TODAY)
        assert [(r.programme.id, r.score, r.places_left) for r in ranked] == [
            ("metal-2027", 0, 1),
            ("welding-2027", -2, 0),
        ]
        assert ranked[1].reasons == [
            "No place left: 1 of 1 taken; a request would go on the waiting list."
        ]
