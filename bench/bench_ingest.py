"""Kiosk outbox → Mosquitto → `masar hub ingest` → committed row → ack → outbox delete.

Prints events/s and the kiosk's publish→ack latency (p50/p99: the ack leaves the
hub only after commit) for SQLite and PostgreSQL with 1 and 2 ingest workers.

    .venv/bin/python bench/bench_ingest.py                 # 10,000 events, every combination
    .venv/bin/python bench/bench_ingest.py --events 2000 --db sqlite --workers 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from machine import describe
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.db import open_engine, upgrade
from hub.models import Event
from hub.roster import register_device
from kiosk import outbox, store
from kiosk.agent import Agent
from kiosk.config import BrokerConfig, KioskConfig, OutboxConfig
from masar.processes import stop
from masar.scratch import DEFAULT_POSTGRES_ADMIN_URL, postgres_database, spawn_ingest_worker
from protocol.events import MovementVerified, MovementVerifiedEvent
from provisioning.broker import LocalBroker

BODY = MovementVerified(
    from_location="wing-a",
    to_location="workshop",
    modalities=["badge", "face"],
    outcome="confirmed",
)


def machine() -> str:
    return describe(("paho-mqtt", "sqlalchemy", "psycopg", "pydantic"))


@contextmanager
def database(kind: str, folder: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{folder}/hub.db"
    else:
        with postgres_database(
            os.environ.get("MASAR_TEST_POSTGRES_URL", DEFAULT_POSTGRES_ADMIN_URL)
        ) as url:
            yield url


def run(kind: str, workers: int, events: int, window: int, batch: int) -> str:
    with tempfile.TemporaryDirectory(prefix="masar-bench-") as tmp:
        folder = Path(tmp)
        with LocalBroker(folder / "broker") as broker, database(kind, folder) as url:
            hub_config = folder / "hub.toml"
            hub_config.write_text(
                f'database_url = "{url}"\n[broker]\nport = {broker.port}\n'
                f"[ingest]\nbatch = {batch}\n"
            )
            config = KioskConfig(
                site="bench",
                device="k1",
                data_dir=folder / "kiosk",
                broker=BrokerConfig(port=broker.port),
                outbox=OutboxConfig(window=window, resend_after=30),
            )
            db = store.open_store(config.store_path)
            for start in range(0, events, 500):
                with store.write(db):
                    for _ in range(min(500, events - start)):
                        outbox.record(
                            db,
                            MovementVerifiedEvent,
                            BODY,
                            site="bench",
                            device="k1",
                            subject="d-1",
                            actor="officer-7",
                        )
            engine = open_engine(url)
            upgrade(engine)
            with Session(engine) as session, session.begin():  # so its syncs are answered
                register_device(session, "bench", "k1", "a", "self_service")
            engine.dispose()
            procs = [
                spawn_ingest_worker(hub_config, str(n), folder / f"ingest-{n}.log")
                for n in range(1, workers + 1)
            ]
            engine = open_engine(url)
            agent = Agent(config)
            agent.record_latencies = True
            try:
                started = time.perf_counter()
                agent.start()
                while outbox.depth(db) > 0:
                    time.sleep(0.01)
                elapsed = time.perf_counter() - started
                with engine.connect() as connection:
                    stored = connection.scalar(select(func.count()).select_from(Event))
            finally:
                agent.stop()
                for proc in procs:
                    stop(proc)
                engine.dispose()
                db.close()
    latencies = sorted(agent.stats.ack_latencies)
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    return (
        f"{kind:10} workers={workers} events={events} stored={stored} "
        f"resent={agent.stats.resent}: {events / elapsed:7.0f} events/s, "
        f"ack latency p50 {p50:5.1f} ms, p99 {p99:5.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--window", type=int, default=200, help="unacked events per kiosk")
    parser.add_argument("--batch", type=int, default=100, help="events per hub commit")
    args = parser.parse_args()
    print(machine())
    print(f"window {args.window}, batch {args.batch}")
    for kind in ["sqlite", "postgresql"] if args.db == "both" else [args.db]:
        for workers in args.workers:
            print(run(kind, workers, args.events, args.window, args.batch), flush=True)


if __name__ == "__main__":
    main()
