"""The broker killed with SIGKILL and restarted from its persistence; PostgreSQL restarted
under the hub. The busy kiosk (tests/faults/busy_kiosk.py) keeps working through both.

Mosquitto saves its state every second (``autosave_interval 1``), so a SIGKILL may lose
what it received last: the kiosk, whose events leave the outbox only on the hub's ack,
sends it again. PostgreSQL is this scenario's own cluster (restarting the shared one would
disturb other tests): crashed with ``pg_ctl -m immediate`` (recovery at start) and stopped
for a few seconds; the ingest worker retries the same batch, acknowledging nothing, until
the database is back. CI runs 2 faults of each; `bench/bench_faults.py` the long variant.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from provisioning.broker import LocalBroker
from tests.faults.harness import (
    Figures,
    PrivatePostgres,
    busy_site,
    finish,
    grows,
    tail,
    wait_for,
)

pytestmark = pytest.mark.integration


def broker_kill_scenario(
    folder: Path, database_url: str, *, kills: int, up: float = 3.0, down: float = 1.0
) -> Figures:
    broker = LocalBroker(folder / "broker")
    broker.start()
    try:
        with busy_site(folder, database_url, broker.port) as site:
            kiosk = site.start_kiosk()
            for _ in range(kills):
                time.sleep(up)
                before = site.hub_count()
                broker.kill()  # SIGKILL: no last save
                time.sleep(down)
                assert (broker.directory / "data" / "mosquitto.db").exists(), "no persistence"
                broker.start()
                wait_for(grows(site.hub_count, before), 60, "events after the restart")
            time.sleep(up)
            assert all(worker.poll() is None for worker in site.children), tail(site.log)
            finish(kiosk, site.log)
            return site.judge("broker SIGKILL", kills)
    finally:
        broker.stop()


def postgres_restart_scenario(
    folder: Path, *, restarts: int, up: float = 3.0, outage: float = 3.0
) -> Figures:
    """Odd faults crash PostgreSQL and restart it at once; even ones stop it for ``outage``
    seconds, during which the hub gains nothing and the kiosk keeps recording."""
    with (
        PrivatePostgres() as postgres,
        LocalBroker(folder / "broker") as broker,
        busy_site(folder, postgres.url, broker.port) as site,
    ):
        kiosk = site.start_kiosk()
        for fault in range(restarts):
            time.sleep(up)
            before = site.hub_count()
            if fault % 2 == 0:
                postgres.crash_restart()
            else:
                postgres.stop()
                recorded = site.recorded()
                time.sleep(outage)
                assert site.recorded() > recorded, "the kiosk stopped working with the hub's DB"
                postgres.start()
            wait_for(grows(site.hub_count, before), 60, "events after PostgreSQL is back")
        time.sleep(up)
        assert site.children[0].poll() is None, "the ingest worker gave up"
        finish(kiosk, site.log)
        return site.judge("PostgreSQL restart", restarts)


def test_a_broker_killed_and_restarted_from_its_persistence_loses_or_repeats_nothing(
    tmp_path: Path, hub_database: str
) -> None:
    figures = broker_kill_scenario(tmp_path, hub_database, kills=2)
    print(figures.line())


def test_postgresql_crashed_and_stopped_under_the_hub_loses_or_repeats_nothing(
    tmp_path: Path,
) -> None:
    figures = postgres_restart_scenario(tmp_path, restarts=2)
    print(figures.line())
