"""Verified movements through ingest: where each person is, their history, the site's movement
log and who is out of each wing (SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Literal

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hub import movements, roster
from hub.audit import is_empty
from hub.ingest import apply_batch
from hub.models import Detainee, Event, Movement, as_utc
from hub.movements import MovementError, OutPerson, WingCount
from protocol import uuid7
from protocol.events import MovementVerified, MovementVerifiedEvent
from tests.factories import admit, count, movement
from tests.factories import incoming as wire

T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
NASTY = "<script>alert('x')</script> \"; DROP TABLE movements;-- & 1=1"
SEQ = itertools.count(1)


def moved(
    detainee_id: str | None,
    from_location: str,
    to_location: str,
    at: datetime,
    *,
    outcome: Literal["confirmed", "refused"] = "confirmed",
    reason: str | None = None,
    site: str = "rabat-1",
    device: str = "wing-a-1",
) -> MovementVerifiedEvent:
    return MovementVerifiedEvent(
        id=uuid7(),
        site=site,
        device=device,
        seq=next(SEQ),
        at=at,
        subject=detainee_id,
        actor="officer-7",
        body=MovementVerified(
            from_location=from_location,
            to_location=to_location,
            reason=reason,
            modalities=["badge", "face"],
            outcome=outcome,
        ),
    )


def ingest(sessions: sessionmaker[Session], *events: MovementVerifiedEvent) -> None:
    with sessions.begin() as session:
        apply_batch(session, [wire(e) for e in events])


def where(sessions: sessionmaker[Session], detainee_id: str) -> tuple[str | None, datetime | None]:
    with sessions() as session:
        detainee = session.get(Detainee, detainee_id)
        assert detainee is not None
        at = detainee.location_at
        return detainee.location, None if at is None else as_utc(at)


def test_a_confirmed_movement_moves_the_person_and_an_older_one_arriving_late_does_not(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        admit(session, "m00001")
    out = moved("m00001", "wing-a", "workshop", T0)
    back = moved("m00001", "workshop", "wing-a", T0 + timedelta(hours=3))
    assert where(sessions, "m00001") == (None, None)
    ingest(sessions, back)
    assert where(sessions, "m00001") == ("wing-a", T0 + timedelta(hours=3))
    ingest(sessions, out)  # the older one, from a kiosk that was offline
    assert where(sessions, "m00001") == ("wing-a", T0 + timedelta(hours=3))
    later = moved("m00001", "wing-a", "clinic", T0 + timedelta(hours=5))
    earlier = moved("m00001", "wing-a", "yard", T0 + timedelta(hours=4))
    ingest(sessions, later, earlier)  # out of order within one batch too
    assert where(sessions, "m00001") == ("clinic", T0 + timedelta(hours=5))
    with sessions() as session:
        history = movements.history(session, "m00001")
        assert [(m.to_location, as_utc(m.at)) for m in history] == [
            ("clinic", T0 + timedelta(hours=5)),
            ("yard", T0 + timedelta(hours=4)),
            ("wing-a", T0 + timedelta(hours=3)),
            ("workshop", T0),
        ]
        assert [m.event_id for m in movements.history(session, "m00001", limit=1)] == [later.id]
        first = history[-1]
        assert (first.site, first.device, first.actor, first.from_location) == (
            "rabat-1",
            "wing-a-1",
            "officer-7",
            "wing-a",
        )
        assert (first.outcome, first.modalities, first.reason) == (
            "confirmed",
            ["badge", "face"],
            None,
        )
        assert is_empty(session)  # the ingest path writes no audit entry: the event is the record


def test_a_refused_check_is_stored_but_moves_nobody(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        admit(session, "m00001")
    ingest(sessions, moved("m00001", "wing-a", "court", T0, outcome="refused"))
    assert where(sessions, "m00001") == (None, None)
    with sessions() as session:
        [stored] = movements.history(session, "m00001")
        assert (stored.to_location, stored.outcome) == ("court", "refused")


def test_a_movement_is_stored_once_per_event_id(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        admit(session, "m00001")
    event = moved("m00001", "wing-a", "workshop", T0)
    ingest(sessions, event, event)
    ingest(sessions, event)
    with sessions.begin() as session:
        movements.apply_movements_verified(session, [event])  # a replay of the same event
    with sessions() as session:
        assert count(session, Movement) == 1 and count(session, Event) == 1
    assert where(sessions, "m00001") == ("workshop", T0)


def test_a_movement_of_an_unknown_person_is_stored_but_changes_no_detainee(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        admit(session, "m00001")
    stranger = movement(1)  # names d-00001, whom the hub does not know
    ingest(sessions, stranger)
    with sessions() as session:
        [stored] = movements.history(session, "d-00001")
        assert stored.event_id == stranger.id and stored.to_location == "workshop"
        assert session.get(Detainee, "d-00001") is None
    assert where(sessions, "m00001") == (None, None)


def test_a_movement_naming_nobody_is_parked_and_the_others_are_kept(
    sessions: sessionmaker[Session],
) -> None:
    nobody = moved(None, "wing-a", "workshop", T0)
    with sessions.begin() as session:
        result = apply_batch(session, [wire(movement(1)), wire(nobody)])
    [rejected] = result.rejected
    assert rejected.reason == "could not be applied: a movement must name its detainee (subject)"
    with sessions() as session:
        assert count(session, Movement) == 1 and count(session, Event) == 1


def test_text_with_html_and_sql_characters_is_stored_and_returned_unchanged(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        admit(session, "m00001")
    ingest(sessions, moved("m00001", "wing-a", NASTY[:128], T0, reason=NASTY))
    assert where(sessions, "m00001") == (NASTY[:128], T0)
    with sessions() as session:
        [stored] = movements.history(session, "m00001")
        assert (stored.to_location, stored.reason) == (NASTY[:128], NASTY)
        [wing] = movements.live_counts(session, "rabat-1")
        assert wing.out_people == [OutPerson("m00001", NASTY[:128], T0)]


def test_live_counts_follow_people_going_out_and_coming_back(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        for detainee_id in ("m00001", "m00002", "m00003"):
            admit(session, detainee_id)
        admit(session, "m00004", wing="wing-b")
        admit(session, "m00005", wing="wing-b")
        roster.release(session, "m00005")  # released people are no wing's
        admit(session, "m00006", wing="wing-a", site="fes-1")  # another establishment
        roster.register_device(session, "rabat-1", "wing-c-1", "wing-c", "movement_check")
    with sessions() as session:
        assert movements.live_counts(session, "rabat-1") == [
            WingCount("wing-a", 3, 0, []),
            WingCount("wing-b", 1, 0, []),
            WingCount("wing-c", 0, 0, []),  # a wing with a kiosk and nobody in it yet
        ]
    ingest(
        sessions,
        moved("m00001", "wing-a", "workshop", T0),
        moved("m00002", "wing-a", "clinic", T0 + timedelta(minutes=5)),
        moved("m00004", "wing-b", "court", T0 + timedelta(minutes=7), device="wing-b-1"),
        moved("m00003", "wing-a", "yard", T0, outcome="refused"),
    )
    with sessions() as session:
        assert movements.live_counts(session, "rabat-1") == [
            WingCount(
                "wing-a",
                3,
                2,
                [
                    OutPerson("m00001", "workshop", T0),
                    OutPerson("m00002", "clinic", T0 + timedelta(minutes=5)),
                ],
            ),
            WingCount("wing-b", 1, 1, [OutPerson("m00004", "court", T0 + timedelta(minutes=7))]),
            WingCount("wing-c", 0, 0, []),
        ]
        assert movements.live_counts(session, "fes-1") == [WingCount("wing-a", 1, 0, [])]
    ingest(
        sessions,
        moved("m00001", "workshop", "wing-a", T0 + timedelta(hours=2)),
        moved("m00004", "court", "wing-b", T0 + timedelta(hours=6), device="wing-b-1"),
    )
    with sessions() as session:
        counts = movements.live_counts(session, "rabat-1")
        assert [(c.wing, c.in_custody, c.out) for c in counts] == [
            ("wing-a", 3, 1),
            ("wing-b", 1, 0),
            ("wing-c", 0, 0),
        ]
        assert counts[0].out_people == [OutPerson("m00002", "clinic", T0 + timedelta(minutes=5))]


def test_a_transfer_to_another_wing_does_not_leave_the_person_counted_out(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        admit(session, "m00001")
        admit(session, "m00002")
        admit(session, "m00003", wing="wing-b")
        for wing in ("wing-a", "wing-b"):  # each wing has its kiosk
            roster.register_device(session, "rabat-1", f"{wing}-1", wing, "movement_check")
    ingest(
        sessions,
        moved("m00001", "workshop", "wing-a", T0),  # last seen coming home to wing-a
        moved("m00002", "wing-a", "workshop", T0),  # at the workshop when transferred
    )
    with sessions.begin() as session:
        roster.transfer(session, "m00001", "wing-b")
        roster.transfer(session, "m00002", "wing-b")
    with sessions() as session:
        counts = movements.live_counts(session, "rabat-1")
        assert counts == [
            WingCount("wing-a", 0, 0, []),
            WingCount("wing-b", 3, 1, [OutPerson("m00002", "workshop", T0)]),
        ]
    ingest(sessions, moved("m00002", "workshop", "wing-b", T0 + timedelta(hours=1)))
    with sessions() as session:
        assert movements.live_counts(session, "rabat-1") == [
            WingCount("wing-a", 0, 0, []),
            WingCount("wing-b", 3, 0, []),
        ]


def test_the_movement_log_lists_a_sites_movements_newest_first_since_a_moment(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        admit(session, "m00001")
        admit(session, "m00002")
    events = [
        moved("m00001", "wing-a", "workshop", T0),
        moved("m00002", "wing-a", "clinic", T0 + timedelta(hours=1)),
        moved("m00001", "workshop", "wing-a", T0 + timedelta(hours=2)),
        moved("m00009", "gate", "court", T0 + timedelta(hours=3), site="fes-1", device="gate-1"),
    ]
    ingest(sessions, *events)
    with sessions() as session:
        log = movements.movement_log(session, "rabat-1")
        assert [m.event_id for m in log] == [events[2].id, events[1].id, events[0].id]
        since = movements.movement_log(session, "rabat-1", since=T0 + timedelta(hours=1))
        assert [m.event_id for m in since] == [events[2].id, events[1].id]
        naive = movements.movement_log(session, "rabat-1", since=datetime(2026, 11, 29, 9, 0))
        assert [m.event_id for m in naive] == [events[2].id, events[1].id]  # taken as UTC
        assert [m.event_id for m in movements.movement_log(session, "rabat-1", limit=1)] == [
            events[2].id
        ]
        assert [m.event_id for m in movements.movement_log(session, "fes-1")] == [events[3].id]
        for limit in (0, 1001):
            with pytest.raises(MovementError, match="ask for 1 to 1000 movements at a time"):
                movements.movement_log(session, "rabat-1", limit=limit)
