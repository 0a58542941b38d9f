"""Health screenings, urgent alerts and their acknowledgement, from staff and from kiosks
through ingest (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub import health
from hub.audit import Trail, is_empty, verify
from hub.health import HealthError
from hub.ingest import apply_batch
from hub.models import AuditEntry, Event, HealthAlert, Screening, as_utc
from hub.questionnaires import FORMS_DIR, scoring
from hub.questionnaires.library import import_form
from hub.responses import apply_questionnaire_response
from protocol import uuid7
from protocol.events import QuestionnaireResponse, QuestionnaireResponseEvent
from protocol.ids import format_timestamp, utc_now
from tests.factories import admit, count, movement
from tests.factories import incoming as wire

KEY = bytes(range(32))
NURSE = Trail(KEY, "user:nurse-1")
OTHER_NURSE = Trail(KEY, "user:nurse-2")
TAKEN = datetime(2026, 11, 29, 9, 30, tzinfo=UTC)
NASTY = "<script>alert('x')</script> \"; DROP TABLE health_alerts;-- & 1=1"
SELF_HARM = "item 9 (thoughts of death or self-harm) answered above 0"


def answers(items: tuple[str, ...], total: int, last: int = 0) -> dict[str, str]:
    """XForm-style answers ("0"–"3") summing to `total`, with the last item fixed to `last`."""
    values = dict.fromkeys(items, 0)
    values[items[-1]] = last
    rest = total - last
    for item in items[:-1]:
        values[item] = min(3, rest)
        rest -= values[item]
    assert rest == 0
    return {item: str(value) for item, value in values.items()}


def phq9(total: int, item9: int = 0) -> dict[str, str]:
    return answers(scoring.PHQ9_ITEMS, total, item9)


def screen(
    session: Session,
    detainee_id: str,
    given: dict[str, Any],
    form: str = "phq9",
    trail: Trail | None = NURSE,
    **extra: Any,
) -> Screening:
    fields: dict[str, Any] = {"source": "user:nurse-1", "taken_at": TAKEN} | extra
    return health.record_screening(
        session,
        detainee_id=detainee_id,
        instrument_form_id=form,
        answers=given,
        trail=trail,
        **fields,
    )


def audit(session: Session) -> list[tuple[str, str | None, dict[str, Any]]]:
    return [
        (e.action, e.subject, e.details)
        for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
    ]


def kiosk_response(
    detainee_id: str | None, given: dict[str, Any], seq: int = 1, form: str = "phq9"
) -> QuestionnaireResponseEvent:
    done = utc_now().replace(microsecond=0)  # what the wire keeps (milliseconds)
    return QuestionnaireResponseEvent(
        id=uuid7(),
        site="rabat-1",
        device="wing-a-1",
        seq=seq,
        at=done,
        subject=detainee_id,
        body=QuestionnaireResponse(
            form_id=form,
            form_version="2025.1",
            language="ar",
            started_at=done - timedelta(minutes=4),
            completed_at=done - timedelta(minutes=1),
            answers={**given, "phq9_total": "99", "phq9_urgent": "no"},  # never trusted
        ),
    )


# --- staff entry ---------------------------------------------------------------------------------


def test_phq9_item_9_above_zero_raises_an_alert_with_the_reason_and_is_audited(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        admit(session, "m00001")
        screening = screen(session, "m00001", phq9(6, item9=1), form_version="2025.1")
    with sessions() as session:
        stored = session.get(Screening, screening.id)
        assert stored is not None
        assert (stored.instrument, stored.score, stored.band) == ("phq9", 6, "mild")
        given = {"phq9_1": 3, "phq9_2": 2, "phq9_9": 1}  # stored as numbers, not XForm strings
        assert stored.items == dict.fromkeys(scoring.PHQ9_ITEMS, 0) | given
        assert (stored.source, stored.form_version, stored.event_id) == (
            "user:nurse-1",
            "2025.1",
            None,
        )
        assert as_utc(stored.taken_at) == TAKEN
        [alert] = health.alerts_of(session, "m00001")
        assert alert.screening_id == stored.id and alert.acknowledged_at is None
        assert alert.reason == f"PHQ-9 total 6 (mild): {SELF_HARM}"
        assert [(a.id, a.detainee_id) for a in health.open_alerts(session)] == [
            (alert.id, "m00001")
        ]
        assert audit(session) == [
            (
                "health.screening",
                "m00001",
                {
                    "screening_id": stored.id,
                    "instrument": "phq9",
                    "form_version": "2025.1",
                    "alert_id": alert.id,
                },
            )
        ]
        assert verify(session, KEY).ok


def test_a_phq9_total_of_20_raises_an_alert_and_19_without_item_9_does_not(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        admit(session, "m00001")
        admit(session, "m00002")
        nineteen = screen(session, "m00001", phq9(19))
        twenty = screen(session, "m00002", phq9(20))
    with sessions() as session:
        assert (nineteen.score, nineteen.band) == (19, "moderately severe")
        assert health.alerts_of(session, "m00001") == []
        assert (twenty.score, twenty.band) == (20, "severe")
        [alert] = health.alerts_of(session, "m00002")
        assert alert.reason == "PHQ-9 total 20 (severe): total 20 ≥ 20"
        both = screen(session, "m00002", phq9(24, item9=3), trail=None)
        [newest, _] = health.alerts_of(session, "m00002")
        assert newest.screening_id == both.id
        assert newest.reason == f"PHQ-9 total 24 (severe): {SELF_HARM}; total 24 ≥ 20"


def test_gad7_is_scored_in_its_bands_and_never_raises_an_alert(
    sessions: sessionmaker[Session],
) -> None:
    expected = [(0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate")]
    expected += [(14, "moderate"), (15, "severe"), (21, "severe")]
    with sessions.begin() as session:
        admit(session, "m00001")
        for day, (total, _) in enumerate(expected):
            given = answers(scoring.GAD7_ITEMS, total, last=min(3, total))
            screen(session, "m00001", given, form="gad7", taken_at=TAKEN + timedelta(days=day))
    with sessions() as session:
        taken = health.screenings_of(session, "m00001")  # the most recently taken first
        assert [(s.instrument, s.score, s.band) for s in reversed(taken)] == [
            ("gad7", total, band) for total, band in expected
        ]
        assert set(taken[0].items) == set(scoring.GAD7_ITEMS)
        assert count(session, HealthAlert) == 0


def test_an_alert_is_acknowledged_once_with_who_and_when_and_the_note_kept_unchanged(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        admit(session, "m00001")
        screening = screen(session, "m00001", phq9(3, item9=2))
        [alert] = health.alerts_of(session, "m00001")
        alert_id = alert.id
    before = utc_now()
    with sessions.begin() as session:
        done = health.acknowledge_alert(session, NURSE, alert_id, note=NASTY)
        assert done.acknowledged_by == "user:nurse-1"
    with sessions() as session:
        [stored] = health.alerts_of(session, "m00001")
        assert stored.acknowledged_by == "user:nurse-1" and stored.note == NASTY
        assert stored.acknowledged_at is not None
        when = as_utc(stored.acknowledged_at)
        assert before <= when <= utc_now()
        assert health.open_alerts(session) == []
    twice = f"alert {alert_id} was already acknowledged by user:nurse-1 at {format_timestamp(when)}"
    with pytest.raises(HealthError, match=re.escape(twice)), sessions.begin() as session:
        health.acknowledge_alert(session, OTHER_NURSE, alert_id)
    with pytest.raises(LookupError, match="no health alert 999"), sessions.begin() as session:
        health.acknowledge_alert(session, NURSE, 999)
    with sessions() as session:
        [stored] = health.alerts_of(session, "m00001")
        assert stored.acknowledged_by == "user:nurse-1" and stored.note == NASTY
        assert [(action, subject) for action, subject, _ in audit(session)] == [
            ("health.screening", "m00001"),
            ("health.alert.acknowledge", "m00001"),
        ]
        assert audit(session)[-1][2] == {"alert_id": alert_id, "screening_id": screening.id}
        assert verify(session, KEY).ok


def test_bad_answers_are_refused_naming_the_item_and_change_nothing(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        admit(session, "m00001")
    bad_answers: list[tuple[dict[str, Any], str]] = [
        (phq9(6) | {"phq9_3": "4"}, "phq9_3: 4 is outside 0–3"),
        (phq9(6) | {"phq9_3": "often"}, "phq9_3: 'often' is not a number"),
        (phq9(6) | {"phq9_3": [1]}, r"phq9_3: \[1\] is not a number"),
        (phq9(6) | {"phq9_3": 2.5}, "phq9_3: 2.5 is not a number"),
        (phq9(6) | {"phq9_3": True}, "phq9_3: True is not a number"),
        (phq9(6) | {"phq9_3": ""}, "phq9_3 has no answer"),
        ({"phq9_1": "1"}, "phq9_2 has no answer"),
    ]
    for given, message in bad_answers:
        with pytest.raises(HealthError, match=message), sessions.begin() as session:
            screen(session, "m00001", given)
    good = phq9(6, item9=1)
    bad_fields: list[tuple[dict[str, Any], str]] = [
        ({"taken_at": datetime(2026, 11, 29, 9, 30)}, "has no timezone; give it in UTC"),
        ({"source": " "}, "the source of a screening must be 1 to 200 characters"),
        ({"form_version": "v" * 65}, "the form version must be 1 to 64 characters"),
    ]
    for change, message in bad_fields:
        with pytest.raises(HealthError, match=message), sessions.begin() as session:
            screen(session, "m00001", good, **change)
    unknown = "'lsi_r' is not a screening the hub scores; use one of phq9, gad7"
    with pytest.raises(HealthError, match=unknown), sessions.begin() as session:
        screen(session, "m00001", good, form="lsi_r")
    with pytest.raises(LookupError, match="no detainee 'm00404'"), sessions.begin() as session:
        screen(session, "m00404", good)
    with sessions() as session:
        assert count(session, Screening) == 0 and count(session, HealthAlert) == 0
        assert is_empty(session)


def test_open_alerts_are_newest_first_and_kept_to_the_site_where_the_person_is_held(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        admit(session, "m00001")
        admit(session, "m00002", site="fes-1")
        admit(session, "m00003")
        first = screen(session, "m00001", phq9(2, item9=1))
        screen(session, "m00003", phq9(10))  # no alert
        second = screen(session, "m00002", phq9(21))
        third = screen(session, "m00001", phq9(27, item9=3))
    with sessions() as session:
        newest_first = [(a.detainee_id, a.screening_id) for a in health.open_alerts(session)]
        assert newest_first == [("m00001", third.id), ("m00002", second.id), ("m00001", first.id)]
        rabat = [a.screening_id for a in health.open_alerts(session, "rabat-1")]
        assert rabat == [third.id, first.id]
        assert [a.screening_id for a in health.open_alerts(session, "fes-1")] == [second.id]
        assert health.open_alerts(session, "tanger-1") == []
        assert health.screenings_of(session, "m00404") == []


# --- kiosk responses through ingest --------------------------------------------------------------


def test_a_kiosk_phq9_response_creates_one_screening_and_one_alert_even_applied_twice(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        import_form(session, (FORMS_DIR / "phq9.xlsx").read_bytes(), actor="registrar-1")
        admit(session, "m00001")
    event = kiosk_response("m00001", phq9(8, item9=2))
    with sessions.begin() as session:
        first = apply_batch(session, [wire(event), wire(event)])
    with sessions.begin() as session:
        second = apply_batch(session, [wire(event)])
    assert (first.applied, second.applied, second.duplicates) == (1, 0, 1)
    with sessions.begin() as session:
        apply_questionnaire_response(session, event)  # a replay of the same event
    with sessions() as session:
        [screening] = health.screenings_of(session, "m00001")
        assert (screening.instrument, screening.score, screening.band) == ("phq9", 8, "mild")
        assert screening.source == "kiosk:rabat-1/wing-a-1" and screening.event_id == event.id
        assert screening.form_version == "2025.1"
        assert as_utc(screening.taken_at) == event.body.completed_at
        assert set(screening.items) == set(scoring.PHQ9_ITEMS)  # not the form's calculations
        [alert] = health.open_alerts(session)
        assert alert.screening_id == screening.id
        assert alert.reason == f"PHQ-9 total 8 (mild): {SELF_HARM}"
        assert count(session, Event) == 1
        assert is_empty(session)  # the ingest path writes no audit entry: the event is the record


def test_a_kiosk_gad7_response_is_scored_without_an_alert(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        import_form(session, (FORMS_DIR / "gad7.xlsx").read_bytes(), actor="registrar-1")
        admit(session, "m00001")
    event = kiosk_response("m00001", answers(scoring.GAD7_ITEMS, 12, last=3), form="gad7")
    with sessions.begin() as session:
        apply_batch(session, [wire(event)])
    with sessions() as session:
        [screening] = health.screenings_of(session, "m00001")
        assert (screening.instrument, screening.score, screening.band) == ("gad7", 12, "moderate")
        assert count(session, HealthAlert) == 0


def test_an_unscorable_or_unknown_persons_kiosk_response_is_parked_with_a_reason(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        import_form(session, (FORMS_DIR / "phq9.xlsx").read_bytes(), actor="registrar-1")
        admit(session, "m00001")
    good = movement(1)
    out_of_scale = kiosk_response("m00001", phq9(6) | {"phq9_9": "4"}, seq=2)
    nobody = kiosk_response("m00404", phq9(6, item9=1), seq=3)
    with sessions.begin() as session:
        result = apply_batch(session, [wire(good), wire(out_of_scale), wire(nobody)])
    reasons = {r.event_id: r.reason for r in result.rejected}
    assert "phq9_9: 4 is outside 0–3" in reasons[out_of_scale.id]
    assert (
        "no detainee 'm00404' on the hub, so the kiosk's phq9 screening cannot be recorded"
        in reasons[nobody.id]
    )
    with sessions() as session:  # the good movement is in; nothing of the refused ones
        assert count(session, Event) == 1 and count(session, Screening) == 0
        assert count(session, HealthAlert) == 0
