"""The kiosk's disk full, and its clock a day off.

Disk: the busy kiosk's data folder is a small tmpfs in a mount namespace of its own
(``SmallDisk``); the test fills it to the last byte while sessions run, holds it full, then
frees it. A write caught by the full disk fails as a whole (SQLite rolls it back), the
health check refuses new sessions in plain words, the agent reports its store error and
retries, and once space is back everything recorded reaches the hub exactly once.

Clock: the busy kiosk runs with its wall clock shifted (``CLOCK_SHIM``): a day ahead from
the start, corrected while it runs, a day behind, corrected again, as a wrong RTC and late
NTP corrections would. Only the kiosk's clock moves; the events carry the times it gave,
and none is lost, repeated or out of seq order. What a person is offered as a draft
afterwards is not checked here (see ``clock_scenario``).
CI fills the disk twice and moves the clock four times; `bench/bench_faults.py` runs longer.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.models import Event
from provisioning.broker import LocalBroker
from tests.faults.busy_kiosk import DEVICE
from tests.faults.harness import (
    Figures,
    SmallDisk,
    build_clock_shim,
    busy_site,
    finish,
    grows,
    lines,
    tail,
    wait_for,
)

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
    person_view: bool = False,
) -> Figures:
    """``phases``: (offset of the kiosk's clock in seconds, how long it runs so).

    ``person_view`` (off): whether the drafts a person is offered afterwards are checked too.
    They are wrong today: drafts and responses are ordered by the kiosk's clock (hub/drafts.py,
    kiosk/drafts.py, kiosk/caches.py), so after a day-ahead clock is corrected a questionnaire
    already sent comes back as a draft, and later answers are dropped as older than a
    response stamped a day ahead. Reported with this scenario; on again once fixed."""
    clock = folder / "clock"
    clock.write_text(f"{phases[0][0]}\n")
    env = {
        "LD_PRELOAD": str(build_clock_shim(folder / "shim")),
        "MASAR_FAULTS_CLOCK_FILE": str(clock),
    }
    with (
        LocalBroker(folder / "broker") as broker,
        busy_site(folder, database_url, broker.port, env=env) as site,
    ):
        kiosk = site.start_kiosk()
        for offset, seconds in phases:
            clock.write_text(f"{offset}\n")
            time.sleep(seconds)
        clock.write_text("0\n")
        time.sleep(1.0)
        finish(kiosk, site.log)
        figures = site.judge("clock a day off", len(phases), person_view=person_view)
        now = datetime.now(UTC)
        with site.engine.connect() as connection:
            stamps = list(connection.scalars(select(Event.at).where(Event.device == DEVICE)))
    shifts = {
        offset: sum(
            1
            for at in stamps
            if abs(_utc(at) - now - timedelta(seconds=offset)) < timedelta(hours=1)
        )
        for offset, _ in phases
    }
    assert all(shifts.values()), f"a phase of the clock recorded nothing: {shifts}"
    figures.notes["events per clock offset (h)"] = {o // 3600: n for o, n in shifts.items()}
    return figures


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def test_a_full_disk_fails_whole_writes_refuses_sessions_and_loses_nothing(
    tmp_path: Path, hub_database: str
) -> None:
    figures = disk_full_scenario(tmp_path, hub_database, fills=2, full_seconds=5.0)
    print(figures.line())


def test_a_kiosk_clock_a_day_off_changes_no_count_and_no_order(
    tmp_path: Path, hub_database: str
) -> None:
    phases = ((DAY, 4.0), (0, 4.0), (-DAY, 4.0), (0, 3.0))
    figures = clock_scenario(tmp_path, hub_database, phases=phases)
    print(figures.line())
