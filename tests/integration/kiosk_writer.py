"""A kiosk UI stand-in for tests: records events until the kiosk has recorded ``--until``.

Run as ``python -m tests.integration.kiosk_writer --config kiosk.toml --until 5000``.

Each event is written the way the kiosk UI writes one: a state change and
``outbox.record`` in one ``store.write(db)`` transaction. The state change is a row in
``test_movements`` (a table of this program's own, keyed by ``seq``), so a test can show
that a process killed mid-write left both or neither. The target is counted with the
outbox's ``seq`` counter, read inside the write transaction, so a restarted writer
continues where the killed one stopped and never records past ``--until``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sqlite_utils import Database

from kiosk import outbox, store
from kiosk.config import load_config
from protocol.events import MovementVerifiedEvent
from tests.factories import MOVEMENT

STATE_TABLE = "test_movements"


def recorded(db: Database) -> int:
    """How many events this kiosk has ever recorded (the last ``seq`` handed out)."""
    row = db.execute("SELECT value FROM counters WHERE name = 'seq'").fetchone()
    return 0 if row is None else int(row[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--until", type=int, required=True)
    args = parser.parse_args(argv)
    config = load_config(args.config)
    db = store.open_store(config.store_path)
    try:
        with store.write(db):
            db.execute(
                f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} "
                "(seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, subject TEXT NOT NULL)"
            )
        while True:
            with store.write(db):
                done = recorded(db)
                if done >= args.until:
                    break
                subject = f"d-{done + 1:05d}"
                event = outbox.record(
                    db,
                    MovementVerifiedEvent,
                    MOVEMENT,
                    site=config.site,
                    device=config.device,
                    subject=subject,
                    actor="officer-7",
                )
                db.execute(
                    f"INSERT INTO {STATE_TABLE}(seq, event_id, subject) VALUES (?, ?, ?)",
                    [event.seq, event.id, subject],
                )
    finally:
        db.close()
    print(f"recorded {args.until} events", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
