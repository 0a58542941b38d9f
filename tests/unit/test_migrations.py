"""The hub's migrations: the schema they build is the models' exactly, and a migration's data
step carries existing rows over (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, select, text

from hub.db import open_engine, upgrade
from hub.models import Base, Event, QuestionnaireDraft, as_utc

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_the_migrated_schema_is_the_models_schema(database_url: str) -> None:
    engine = open_engine(database_url)
    try:
        upgrade(engine)
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()
    assert differences == [], "hub/models.py and hub/migrations/ disagree"


def _event(event_id: str, device: str, seq: int, at: datetime) -> dict[str, object]:
    return {
        "id": event_id,
        "type": "questionnaire.progress",
        "site": "rabat-1",
        "device": device,
        "seq": seq,
        "at": at,
        "subject": "d-1",
        "actor": None,
        "body": {},
        "received_at": NOW,
        "worker": None,
    }


def test_0011_gives_each_draft_its_events_stamp(database_url: str) -> None:
    """Drafts kept before stamps take their event's kiosk, seq and time capped at arrival;
    one whose event is gone keeps its own time."""
    engine = open_engine(database_url)
    ahead = NOW + timedelta(days=1)
    try:
        upgrade(engine, "0010")
        with engine.begin() as connection:
            connection.execute(
                insert(Event.__table__),
                [
                    _event("e-ahead", "k-1", 7, ahead),
                    _event("e-past", "k-2", 3, NOW - timedelta(1)),
                ],
            )
            for form, event_id, saved in (
                ("f-ahead", "e-ahead", ahead),
                ("f-past", "e-past", NOW - timedelta(1)),
                ("f-gone", "e-gone", NOW - timedelta(2)),
            ):
                connection.execute(
                    text(
                        "INSERT INTO questionnaire_drafts (detainee_id, form_id, form_version, "
                        "language, current, answers, saved_at, event_id) VALUES "
                        "('d-1', :form, '1', 'fr', 'q1', '{}', :saved, :event_id)"
                    ),
                    {"form": form, "saved": saved, "event_id": event_id},
                )
        upgrade(engine)
        with engine.connect() as connection:
            table = QuestionnaireDraft.__table__
            rows = connection.execute(
                select(table.c.form_id, table.c.source, table.c.seq, table.c.ordered_at)
            ).all()
    finally:
        engine.dispose()
    stamps = {form: (source, seq, as_utc(at)) for form, source, seq, at in rows}
    assert stamps == {
        "f-ahead": ("rabat-1/k-1", 7, NOW),  # capped at its arrival
        "f-past": ("rabat-1/k-2", 3, NOW - timedelta(1)),
        "f-gone": (None, 0, NOW - timedelta(2)),
    }
