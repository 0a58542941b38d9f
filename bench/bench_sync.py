"""Full sync of a wing (hub → Mosquitto → kiosk, templates encrypted on arrival), a delta,
the gallery load, and the kiosk's durable outbox write latency.

    .venv/bin/python bench/bench_sync.py                      # 2,000 detainees × 3 face templates
    .venv/bin/python bench/bench_sync.py --detainees 500 --templates 1 --db postgresql
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench_ingest import database, machine
from sqlalchemy.orm import Session

from hub import roster
from hub.db import open_engine, upgrade
from kiosk import caches, outbox, store
from kiosk.agent import Agent
from kiosk.caretaker import Job
from kiosk.config import BrokerConfig, KioskConfig
from masar.processes import stop
from masar.scratch import admit_wing, spawn_ingest_worker
from protocol.events import MovementVerified, MovementVerifiedEvent
from provisioning.broker import LocalBroker

SITE, DEVICE, WING = "bench", "k1", "a"


def fill_hub(url: str, detainees: int, templates: int) -> None:
    engine = open_engine(url)
    upgrade(engine)
    admit_wing(engine, SITE, DEVICE, WING, detainees, templates=templates)
    engine.dispose()


def change_hub(url: str, changed: int) -> None:
    engine = open_engine(url)
    with Session(engine) as session, session.begin():
        for n in range(changed):
            roster.update_detainee(session, f"m{n:05d}", name_latin=f"Renamed {n}")
    engine.dispose()


def timed_sync(agent: Agent) -> float:
    started = time.perf_counter()
    agent.caretaker.request(Job("sync"))
    if not agent.caretaker.wait_idle(300) or agent.caretaker.last_error:
        raise RuntimeError(f"sync failed: {agent.caretaker.last_error}")
    return time.perf_counter() - started


def outbox_latency(folder: Path, events: int) -> tuple[float, float]:
    db = store.open_store(folder / "latency.db")
    body = MovementVerified(
        from_location="wing-a",
        to_location="workshop",
        modalities=["badge", "face"],
        outcome="confirmed",
    )
    times = []
    for _ in range(events):
        started = time.perf_counter()
        with store.write(db):
            outbox.record(
                db,
                MovementVerifiedEvent,
                body,
                site=SITE,
                device=DEVICE,
                subject="d-1",
                actor="officer-7",
            )
        times.append(time.perf_counter() - started)
    db.close()
    times.sort()
    return statistics.median(times) * 1000, times[int(len(times) * 0.99) - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detainees", type=int, default=2000)
    parser.add_argument("--templates", type=int, default=3, help="face templates per detainee")
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--events", type=int, default=5000, help="for the outbox latency")
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory(prefix="masar-bench-") as tmp:
        folder = Path(tmp)
        with LocalBroker(folder / "broker") as broker, database(args.db, folder) as url:
            fill_hub(url, args.detainees, args.templates)
            hub_config = folder / "hub.toml"
            hub_config.write_text(f'database_url = "{url}"\n[broker]\nport = {broker.port}\n')
            worker = spawn_ingest_worker(hub_config, "1", folder / "ingest.log")
            config = KioskConfig(
                site=SITE,
                device=DEVICE,
                data_dir=folder / "kiosk",
                broker=BrokerConfig(port=broker.port),
            )
            agent = Agent(config)
            agent.start()
            try:
                if not agent.bus.wait_connected(10):
                    raise RuntimeError("the kiosk did not connect")
                agent.caretaker.wait_idle(300)  # the sync every connection starts
                db = store.open_store(config.store_path)
                with store.write(db):
                    caches.wipe(db)
                full = timed_sync(agent)
                report = agent.caretaker.last_report
                size = caches.roster_size(db)
                change_hub(url, args.changes)
                delta = timed_sync(agent)
                started = time.perf_counter()
                gallery = caches.load_gallery(db, agent.vault)
                load = time.perf_counter() - started
                db.close()
            finally:
                agent.stop()
                stop(worker)
        print(
            f"hub {args.db}: full sync of {size} detainees × {args.templates} templates "
            f"(512 float32) in {full:.2f} s over {report.pages if report else '?'} pages"
        )
        print(f"delta of {args.changes} changed detainees: {delta * 1000:.0f} ms")
        print(
            f"gallery load ({gallery.templates.shape[0]} templates, decrypted): "
            f"{load * 1000:.0f} ms"
        )
        p50, p99 = outbox_latency(folder, args.events)
        print(
            f"outbox durable write (WAL, synchronous=FULL), {args.events} events: "
            f"p50 {p50:.2f} ms, p99 {p99:.2f} ms"
        )


if __name__ == "__main__":
    main()
