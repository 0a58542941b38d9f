"""The kiosk's disk full, and its clock a day off.

Disk: the busy kiosk's data folder is a small tmpfs in a mount namespace of its own
(``SmallDisk``); the test fills it to the last byte while sessions run, holds it full, then
frees it. A write caught by the full disk fails as a whole (SQLite rolls it back), the
health check refuses new sessions in plain words, the agent reports its store error and
retries, and once space is back everything recorded reaches the hub exactly once.

Clock: the busy kiosk runs with its wall clock shifted (``CLOCK_SHIM``): a day ahead from
the start, corrected while it runs, a day behind, corrected again, as a wrong RTC and late
NTP corrections would. The kiosk speaks TLS to its broker with certificates made at the start
(a day behind, it must still accept them: provisioning.ca.CLOCK_SLACK) and each phase
delivers events. Only the kiosk's clock moves; the events carry the times it gave,
none is lost, repeated or out of seq order, and afterwards each person is offered exactly
their last answers as a draft, or none once they sent the form (protocol.ordering: a
kiosk's events are ordered by seq, not by its clock).
CI fills the disk twice and moves the clock four times; `bench/bench_faults.py` runs longer.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from hub.models import Event
from provisioning.broker import LocalBroker
from provisioning.ca import SiteCA
from provisioning.mosquitto import BrokerTls
from tests.faults.busy_kiosk import DEVICE, SITE
from tests.faults.harness import (
    Figures,
    SiteBroker,
    SmallDisk,
    build_clock_shim,
    busy_site,
    finish,
    grows,
    lines,
    tail,
    wait_for,
)
from tests.integration.test_tls import device_identity

pytestmark = pytest.mark.integration

DAY = 86_400


def disk_full_scenario(
    folder: Path,
    database_url: str,
    *,
    fills: int,
    full_seconds: float,
    up: float = 3.0,
    mib: int = 80,
) -> Figures:
    taken: list[int] = []
    with (
        LocalBroker(folder / "broker") as broker,
        SmallDisk(folder / "small", mib) as disk,
        busy_site(
            folder,
            database_url,
            broker.port,
            data_dir=folder / "small" / "data",
            wrap=disk.wrap,
            store_wrap=disk.wrap,
        ) as site,
    ):
        kiosk = site.start_kiosk(pause=0.0)  # no rest: the disk fills in the middle of sessions
        for _ in range(fills):
            time.sleep(up)
            taken.append(disk.fill())
            refusals = len(lines(site.log, "refused"))
            time.sleep(full_seconds)
            assert kiosk.poll() is None, f"the kiosk died of a full disk:\n{tail(site.log)}"
            assert len(lines(site.log, "refused")) > refusals, "sessions went on with no space"
            disk.empty()
            sessions = len(lines(site.log, "session"))
            wait_for(grows(lambda: len(lines(site.log, "session")), sessions), 30, "sessions")
        time.sleep(up)
        finish(kiosk, site.log)
        figures = site.judge("disk full", fills)
    failed = [line for line in lines(site.log, "failed") if "full" in line]
    refused = [line for line in lines(site.log, "refused") if "full" in line]
    assert refused, "the health check never said the storage was full"
    figures.notes["sessions refused"] = len(refused)
    figures.notes["writes failed mid-session"] = len(failed)
    figures.notes["MiB taken per fill"] = [round(t / 2**20, 1) for t in taken]
    return figures


def clock_scenario(
    folder: Path,
    database_url: str,
    *,
    phases: tuple[tuple[int, float], ...],
) -> Figures:
    """``phases``: (offset of the kiosk's clock in seconds, how long it runs so)."""
    clock = folder / "clock"
    clock.write_text(f"{phases[0][0]}\n")
    env = {
        "LD_PRELOAD": str(build_clock_shim(folder / "shim")),
        "MASAR_FAULTS_CLOCK_FILE": str(clock),
    }
    ca = SiteCA.create(folder / "ca", SITE)
    cert, key = ca.issue_server(folder / "server", "broker", ["127.0.0.1"])
    tls = BrokerTls(cafile=ca.cert_path, certfile=cert, keyfile=key)
    with (
        SiteBroker(folder / "broker", kiosk_host="127.0.0.1", tls=tls) as broker,
        busy_site(
            folder,
            database_url,
            broker.port,
            kiosk_port=broker.kiosk_port,
            tls=device_identity(ca, folder / "device", DEVICE),
            env=env,
        ) as site,
    ):
        kiosk = site.start_kiosk()
        for offset, seconds in phases:
            clock.write_text(f"{offset}\n")
            # Events made at each offset reach the hub (the first phase's TLS handshake too).
            made = partial(_made_at, site.engine, offset)
            wait_for(grows(made, 0), 30, f"events with the kiosk's clock {offset} s off")
            time.sleep(seconds)
        clock.write_text("0\n")
        time.sleep(1.0)
        finish(kiosk, site.log)
        figures = site.judge("clock a day off", len(phases))
        shifts = {offset: _made_at(site.engine, offset) for offset, _ in phases}
    assert all(shifts.values()), f"a phase of the clock recorded nothing: {shifts}"
    figures.notes["events per clock offset (h)"] = {o // 3600: n for o, n in shifts.items()}
    return figures


def _made_at(engine: Engine, offset: int) -> int:
    """Events at the hub that the kiosk stamped with its clock ``offset`` seconds off."""
    moment = datetime.now(UTC) + timedelta(seconds=offset)
    with engine.connect() as connection:
        return (
            connection.scalar(
                select(func.count()).where(
                    Event.device == DEVICE,
                    Event.at.between(moment - timedelta(hours=1), moment + timedelta(hours=1)),
                )
            )
            or 0
        )


def test_a_full_disk_fails_whole_writes_refuses_sessions_and_loses_nothing(
    tmp_path: Path, hub_database: str
) -> None:
    figures = disk_full_scenario(tmp_path, hub_database, fills=2, full_seconds=5.0)
    print(figures.line())


def test_a_kiosk_clock_a_day_off_changes_no_count_and_no_order(
    tmp_path: Path, hub_database: str
) -> None:
    # It starts a day behind, so its first TLS handshake is made then; later ones as it goes.
    phases = ((-DAY, 4.0), (0, 4.0), (DAY, 4.0), (0, 3.0))
    figures = clock_scenario(tmp_path, hub_database, phases=phases)
    print(figures.line())
