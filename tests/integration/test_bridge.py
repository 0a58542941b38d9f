"""A site broker bridged to a national broker: a kiosk's events reach the hub exactly once.

Two real Mosquitto processes on loopback, both TLS with client certificates and ACLs: the
site broker (the kiosk's, with the bridge section from provisioning/bridge.py appended to its
generated config) and the national broker (the hub's ingest worker, whose ACL names the site's
bridge). The kiosk's acks and its sync answer travel back over the bridge. The site broker is
killed with SIGKILL mid-stream and started again on its persistence file.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine

from hub import roster
from hub.db import open_engine, session_factory, upgrade
from kiosk import caches, store
from kiosk.agent import Agent
from kiosk.config import BrokerConfig, KioskConfig, OutboxConfig, TlsConfig
from protocol import topics
from provisioning.acl import render_acl
from provisioning.bridge import (
    BridgeTls,
    issue_bridge_certificate,
    render_bridge,
    render_bridge_acl,
)
from provisioning.broker import LocalBroker, free_port, wait_for_port
from provisioning.ca import SiteCA, device_identity, new_device_key
from provisioning.mosquitto import BrokerTls, render_config
from tests.factories import admit, movement, wire
from tests.integration.test_delivery import (
    DEVICE,
    SITE,
    assert_exactly_once,
    hub_count,
    outbox_depth,
    record_events,
    wait_delivered,
    wait_until,
)

pytestmark = pytest.mark.integration
TOTAL, BACKLOG = 2000, 1500  # events in all; recorded before the kiosk connects
WING, PEOPLE = "wing-a", 3


class SiteBroker:
    """The site's Mosquitto: its generated TLS config with the bridge section appended."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.log_path = directory / "mosquitto.log"
        self.config_path = directory / "mosquitto.conf"
        self.config = ""
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        (self.directory / "data").mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config)
        started = self.log().count(" running")
        executable = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.process = subprocess.Popen(
            [executable, "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert wait_for_port("127.0.0.1", self.port), self.log()[-2000:]
        wait_until(lambda: self.log().count(" running") > started, 10, "the site broker")

    def kill(self) -> None:
        """SIGKILL: no goodbye, no last save; what it persisted (autosave 1 s) is all."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture
def ca(tmp_path: Path) -> SiteCA:
    """The deployment's CA, kept by the national hub: it signs every broker, the hub, the
    site's bridge and the kiosks."""
    return SiteCA.create(tmp_path / "ca", "national")


@pytest.fixture
def national(tmp_path: Path, ca: SiteCA) -> Iterator[LocalBroker]:
    cert, key = ca.issue_server(tmp_path / "national-tls", "broker", ["127.0.0.1"])
    acl = tmp_path / "national.acl"
    acl.write_text(render_acl() + render_bridge_acl([SITE]))
    tls = BrokerTls(cafile=ca.cert_path, certfile=cert, keyfile=key, crlfile=ca.crl_path)
    with LocalBroker(tmp_path / "national", tls=tls, acl_file=acl) as broker:
        yield broker


@pytest.fixture
def site_broker(tmp_path: Path, ca: SiteCA, national: LocalBroker) -> Iterator[SiteBroker]:
    broker = SiteBroker(tmp_path / "site")
    cert, key = ca.issue_server(tmp_path / "site-tls", "broker", ["127.0.0.1"])
    bridge_cert, bridge_key = issue_bridge_certificate(ca, tmp_path / "bridge-tls", SITE)
    acl = tmp_path / "site.acl"
    acl.write_text(render_acl())
    broker.config = render_config(
        port=broker.port,
        data_dir=broker.directory / "data",
        tls=BrokerTls(cafile=ca.cert_path, certfile=cert, keyfile=key, crlfile=ca.crl_path),
        acl_file=acl,
        log_file=broker.log_path,
        private=True,
    ) + render_bridge(
        site=SITE,
        addresses=[f"127.0.0.1:{national.port}"],
        tls=BridgeTls(cafile=ca.cert_path, certfile=bridge_cert, keyfile=bridge_key),
    )
    broker.start()
    yield broker
    broker.stop()


def kiosk_tls(ca: SiteCA, folder: Path) -> TlsConfig:
    """The kiosk's identity as enrolment makes it: key here, CN <site>/kiosk/<device>."""
    key_pem, csr_pem = new_device_key(DEVICE)
    folder.mkdir(parents=True)
    (folder / "device.key").write_bytes(key_pem)
    (folder / "device.crt").write_bytes(ca.sign_device(csr_pem, device_identity(SITE, DEVICE)).pem)
    return TlsConfig(
        cafile=ca.cert_path, certfile=folder / "device.crt", keyfile=folder / "device.key"
    )


def hub_config(tmp_path: Path, ca: SiteCA, national: LocalBroker, database_url: str) -> Path:
    """The national hub's config: its ingest worker talks to the national broker only."""
    cert, key = ca.issue_hub(tmp_path / "hub-tls")
    path = tmp_path / "hub.toml"
    path.write_text(
        f'database_url = "{database_url}"\naudit_key_file = "{tmp_path / "audit.key"}"\n'
        f'[broker]\nhost = "127.0.0.1"\nport = {national.port}\n'
        f'[broker.tls]\ncafile = "{ca.cert_path}"\ncertfile = "{cert}"\nkeyfile = "{key}"\n'
    )
    return path


def test_events_cross_the_bridge_exactly_once_through_a_site_broker_kill(
    tmp_path: Path,
    ca: SiteCA,
    national: LocalBroker,
    site_broker: SiteBroker,
    spawn_worker: Callable[..., object],
) -> None:
    database_url = f"sqlite:///{tmp_path}/hub.db"
    writer = open_engine(database_url)
    upgrade(writer)
    with session_factory(writer).begin() as session:  # the kiosk's wing, for its sync
        roster.register_device(session, SITE, DEVICE, WING, "self_service")
        for number in range(1, PEOPLE + 1):
            admit(session, f"d-{number:05d}", site=SITE, wing=WING)
    writer.dispose()
    hub_db: Engine = open_engine(database_url, writer=False)  # reads never wait for ingest
    wait_until(lambda: "masar-bridge-rabat-1" in national.log_path.read_text(), 10, "the bridge")
    spawn_worker(hub_config(tmp_path, ca, national, database_url))  # `masar hub ingest`
    config = KioskConfig(
        site=SITE,
        device=DEVICE,
        data_dir=tmp_path / "kiosk",
        broker=BrokerConfig(
            port=site_broker.port, keepalive=5, tls=kiosk_tls(ca, tmp_path / "kiosk-tls")
        ),
        outbox=OutboxConfig(resend_after=5.0),
    )
    record_events(config, BACKLOG, per_transaction=100)  # a full window in flight at once
    producer = threading.Thread(
        target=record_events,
        args=(config, TOTAL - BACKLOG),
        kwargs={"per_transaction": 5, "pause": 0.02},
    )
    agent = Agent(config, status_every=1.0)
    try:
        agent.start()
        producer.start()
        deadline = time.monotonic() + 30
        while (killed_at := hub_count(hub_db)) < TOTAL // 10 and time.monotonic() < deadline:
            time.sleep(0.005)  # kill it while the kiosk's window is in flight
        site_broker.kill()
        time.sleep(0.5)  # the kiosk keeps recording into its outbox meanwhile
        site_broker.start()
        producer.join()
        wait_delivered(config, hub_db, TOTAL, 40)
        # The sync the kiosk asks for at each (re)connection went out and its answers came
        # back: MQTT v5 ResponseTopic and CorrelationData cross the bridge.
        db = store.open_store(config.store_path)
        try:
            wait_until(
                lambda: (
                    caches.roster_size(db) == PEOPLE
                    and caches.get_setting(db, "last_sync_at") is not None
                ),
                30,
                "a sync of the wing's roster",
            )
        finally:
            db.close()
    finally:
        producer.join()
        agent.stop()
    assert 0 < killed_at < TOTAL, "the site broker died mid-stream"
    assert agent.stats.published > TOTAL, "what the kill caught in flight was sent again"
    assert outbox_depth(config) == 0, "every ack came back over the bridge"
    assert_exactly_once(hub_db, TOTAL)
    bridged = national.log_path.read_text().count("as masar-bridge-rabat-1")
    assert bridged >= 2, "the bridge connected again after the site broker's restart"
    print(
        f"\nbridge: {TOTAL} events, site broker SIGKILLed at {killed_at} committed; kiosk "
        f"published {agent.stats.published} (of which {agent.stats.resent} resent on a timer), "
        f"{agent.stats.confirmed} confirmed; hub holds {hub_count(hub_db)}"
    )
    hub_db.dispose()


def test_a_site_bridge_speaks_only_for_its_own_site(
    tmp_path: Path, ca: SiteCA, national: LocalBroker
) -> None:
    """The national ACL: the bridge of rabat-1 may forward rabat-1's events, not casa-2's."""
    cert, key = issue_bridge_certificate(ca, tmp_path / "bridge-tls", SITE)
    reasons: dict[int, int] = {}
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id="masar-bridge-probe", protocol=mqtt.MQTTv5
    )
    client.tls_set(ca_certs=str(ca.cert_path), certfile=str(cert), keyfile=str(key))
    client.on_publish = lambda c, u, mid, reason, p: reasons.__setitem__(mid, reason.value)
    client.connect("127.0.0.1", national.port)
    client.loop_start()
    try:
        own = client.publish(*wire(movement(1, site=SITE)), qos=1)
        other = client.publish(*wire(movement(1, site="casa-2")), qos=1)
        command = client.publish(topics.cmd_topic(SITE, DEVICE), b"{}", qos=1)
        wait_until(lambda: len(reasons) == 3, 10, "three PUBACKs")
    finally:
        client.disconnect()
        client.loop_stop()
    assert reasons[own.mid] in (0, 0x10), "its own site's event is taken (no subscriber here)"
    assert reasons[other.mid] == 0x87, "another site's event: Not authorized"
    assert reasons[command.mid] == 0x87, "hub-to-kiosk topics are only read, never written"
