"""A kiosk cut off from the broker by a real network partition, then healed.

The busy kiosk (tests/faults/busy_kiosk.py) runs in a network namespace of its own, joined
to the broker's by a veth pair on a private /30 that exists only on this machine; it speaks
TLS with a device certificate from the site CA, as on a site. The hub's worker reaches the
broker on loopback. Cutting the link drops every packet (no reset, as when a cable is cut
further away): the broker notices when the kiosk's keepalive expires and publishes its Last
Will, the kiosk when its own does, and the kiosk keeps recording into its outbox. Healed,
it reconnects and sends everything unacknowledged again. CI cuts it twice for 12 s;
`bench/bench_faults.py` runs the long variant.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from hub.models import KioskState
from provisioning.ca import SiteCA
from provisioning.mosquitto import BrokerTls
from tests.faults.busy_kiosk import DEVICE, SITE
from tests.faults.harness import (
    Figures,
    Partition,
    SiteBroker,
    busy_site,
    finish,
    grows,
    wait_for,
)
from tests.integration.test_tls import device_identity

pytestmark = pytest.mark.integration


def kiosk_state(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return connection.scalar(
            select(KioskState.state).where(KioskState.site == SITE, KioskState.device == DEVICE)
        )


def steady(count: Callable[[], int]) -> int:
    """The count once it holds still for a second (the worker has applied what it had)."""
    last = count()
    while True:
        time.sleep(1.0)
        now = count()
        if now == last:
            return now
        last = now


def partition_scenario(
    folder: Path, database_url: str, *, cuts: int, cut_seconds: float, up: float = 3.0
) -> Figures:
    reconnected: list[float] = []
    backlog: list[int] = []
    with Partition() as network:
        ca = SiteCA.create(folder / "ca", SITE)
        cert, key = ca.issue_server(folder / "server", "broker", [network.host_address])
        broker = SiteBroker(
            folder / "broker",
            kiosk_host=network.host_address,
            tls=BrokerTls(cafile=ca.cert_path, certfile=cert, keyfile=key),
        )
        broker.start()
        try:
            with busy_site(
                folder,
                database_url,
                broker.port,
                kiosk_host=network.host_address,
                kiosk_port=broker.kiosk_port,
                tls=device_identity(ca, folder / "device", DEVICE),
                wrap=network.wrap,
            ) as site:
                kiosk = site.start_kiosk()
                for _ in range(cuts):
                    time.sleep(up)
                    assert kiosk_state(site.engine) == "online"
                    network.cut()
                    cut_at = time.monotonic()
                    # The broker gives the kiosk 1.5 keepalives (7.5 s), then its Last Will.
                    wait_for(lambda: kiosk_state(site.engine) == "offline", 30, "the Last Will")
                    stalled, recorded = steady(site.hub_count), site.recorded()
                    time.sleep(max(1.0, cut_seconds - (time.monotonic() - cut_at)))
                    assert site.hub_count() == stalled, "events crossed the partition"
                    assert site.recorded() > recorded, "the kiosk stopped recording offline"
                    backlog.append(site.recorded() - stalled)
                    network.heal()
                    reconnected.append(
                        wait_for(grows(site.hub_count, stalled), 60, "the kiosk back")
                    )
                time.sleep(up)
                finish(kiosk, site.log)
                wait_for(lambda: kiosk_state(site.engine) == "offline", 10, "a clean goodbye")
                figures = site.judge("network partition", cuts)
        finally:
            broker.stop()
    figures.notes["backlog per cut"] = backlog
    figures.notes["reconnected after (s)"] = [round(s, 1) for s in reconnected]
    return figures


def test_a_kiosk_cut_off_by_a_network_partition_delivers_everything_once_healed(
    tmp_path: Path, hub_database: str
) -> None:
    figures = partition_scenario(tmp_path, hub_database, cuts=2, cut_seconds=12.0)
    print(figures.line())
