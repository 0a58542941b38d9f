"""A real Mosquitto running the generated TLS configuration and ACL file: each kiosk speaks
only for itself, strangers are refused at the handshake, a revoked kiosk is shut out."""

from __future__ import annotations

import queue
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from protocol import topics
from provisioning.acl import render_acl
from provisioning.broker import LocalBroker
from provisioning.ca import SiteCA, device_identity, new_device_key
from provisioning.mosquitto import BrokerTls

pytestmark = pytest.mark.integration

SITE = "rabat-1"
A, B = "wing-a-1", "wing-b-1"
NOT_AUTHORIZED = 0x87
WAIT = 5.0


class Probe:
    """One MQTT v5 client over TLS that records what the broker answers it."""

    def __init__(self, port: int, cafile: Path, identity: tuple[Path, Path] | None) -> None:
        self.port = port
        self.client_id = f"probe-{time.monotonic_ns()}"
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5
        )
        self.client.tls_set(
            ca_certs=str(cafile),
            certfile=str(identity[0]) if identity else None,
            keyfile=str(identity[1]) if identity else None,
        )
        self.connected = threading.Event()
        self.closed = threading.Event()
        self.answers: queue.Queue[tuple[int, list[int]]] = queue.Queue()
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *_: self.closed.set()
        self.client.on_connect_fail = lambda *_: self.closed.set()
        self.client.on_publish = lambda _c, _u, mid, code, _p: self.answers.put((mid, [code.value]))
        self.client.on_subscribe = lambda _c, _u, mid, codes, _p: self.answers.put(
            (mid, [code.value for code in codes])
        )
        self.client.on_message = lambda _c, _u, m: self.messages.put((m.topic, bytes(m.payload)))

    def _on_connect(self, client: Any, userdata: Any, flags: Any, code: Any, props: Any) -> None:
        (self.closed if code.is_failure else self.connected).set()

    def connect(self, will: tuple[str, bytes] | None = None) -> bool:
        """True once the broker accepted us; False if it refused or closed the connection."""
        if will is not None:
            self.client.will_set(will[0], will[1], qos=1, retain=True)
        try:
            self.client.connect("127.0.0.1", self.port)
        except ssl.SSLError:
            return False  # TLS 1.2 fails in connect(); TLS 1.3 at the first read (HARNESS.md)
        self.client.loop_start()
        deadline = time.monotonic() + WAIT
        while not (self.connected.is_set() or self.closed.is_set()):
            assert time.monotonic() < deadline, "the broker neither accepted nor refused"
            time.sleep(0.01)
        if not self.connected.is_set():
            self.stop()
        return self.connected.is_set()

    def _answer(self, mid: int) -> list[int]:
        answer_mid, codes = self.answers.get(timeout=WAIT)
        assert answer_mid == mid
        return codes

    def publish(self, topic: str, payload: bytes = b"{}", retain: bool = False) -> int:
        """The PUBACK's reason code (QoS 1): 0 accepted, 0x87 not authorised."""
        return self._answer(self.client.publish(topic, payload, qos=1, retain=retain).mid)[0]

    def subscribe(self, topic_filter: str) -> int:
        """The SUBACK's reason code: below 0x80 granted."""
        _, mid = self.client.subscribe(topic_filter, qos=1)
        assert mid is not None
        return self._answer(mid)[0]

    def next_message(self) -> tuple[str, bytes]:
        return self.messages.get(timeout=WAIT)

    def stop(self, reason: ReasonCode | None = None) -> None:
        self.client.disconnect(reasoncode=reason)
        self.client.loop_stop()


@dataclass
class Site:
    """A site CA, its broker with the generated config and ACL file, and the probes opened."""

    ca: SiteCA
    broker: LocalBroker
    acl_file: Path
    folder: Path
    probes: list[Probe]

    def device(self, device: str, ca: SiteCA | None = None, site: str = SITE) -> tuple[Path, Path]:
        """As enrolment does: key made on the kiosk, CSR signed for <site>/kiosk/<device>."""
        key_pem, csr_pem = new_device_key(device)
        issued = (ca or self.ca).sign_device(csr_pem, device_identity(site, device))
        folder = self.folder / f"{site}-{device}-{issued.serial}"
        folder.mkdir(parents=True)
        (folder / "device.key").write_bytes(key_pem)
        (folder / "device.crt").write_bytes(issued.pem)
        return folder / "device.crt", folder / "device.key"

    def probe(self, identity: tuple[Path, Path] | None) -> Probe:
        probe = Probe(self.broker.port, self.ca.cert_path, identity)
        self.probes.append(probe)
        return probe

    def connect(self, identity: tuple[Path, Path], will: tuple[str, bytes] | None = None) -> Probe:
        probe = self.probe(identity)
        assert probe.connect(will)
        return probe


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    ca = SiteCA.create(tmp_path / "ca", SITE)
    cert, key = ca.issue_server(tmp_path / "server", "broker", ["127.0.0.1"])
    acl_file = tmp_path / "masar.acl"
    acl_file.write_text(render_acl())
    tls = BrokerTls(cafile=ca.cert_path, certfile=cert, keyfile=key, crlfile=ca.crl_path)
    with LocalBroker(tmp_path / "broker", tls=tls, acl_file=acl_file) as broker:
        running = Site(ca, broker, acl_file, tmp_path / "identities", [])
        yield running
        for probe in running.probes:
            probe.stop()


def hub_subscriber(site: Site) -> Probe:
    """The hub identity subscribed as its ingest workers are (shared subscriptions)."""
    hub = site.connect(site.ca.issue_hub(site.folder / "hub"))
    for shared in (
        topics.shared_events_filter(),
        topics.shared_status_filter(),
        topics.shared_sync_requests_filter(),
        topics.shared_model_requests_filter(),
    ):
        assert hub.subscribe(shared) < 0x80
    return hub


def test_a_device_reads_and_writes_only_its_own_topics(site: Site) -> None:
    hub = hub_subscriber(site)
    a, b = site.connect(site.device(A)), site.connect(site.device(B))
    assert b.subscribe(topics.cmd_topic(SITE, B)) < 0x80
    # Mosquitto 2.0 grants any SUBSCRIBE (its ACL file checks reads at delivery, HARNESS.md
    # §1); what matters is that nothing of B's reaches A, checked below.
    a.subscribe(topics.cmd_topic(SITE, B))
    a.subscribe(topics.ack_topic(SITE, B))
    assert a.subscribe(topics.cmd_topic(SITE, A)) < 0x80

    impersonations = [
        topics.event_topic(SITE, B, "identification"),
        topics.status_topic(SITE, B),
        topics.sync_request_topic(SITE, B),
        topics.model_request_topic(SITE, B),
        topics.ack_topic(SITE, B),  # as if the hub acknowledged B's events
        topics.cmd_topic(SITE, B),  # as if the hub commanded B
        topics.sync_response_topic(SITE, A),  # answering itself instead of the hub
        topics.event_topic("casa-2", A, "identification"),  # its id at another site
    ]
    for topic in impersonations:
        assert a.publish(topic, b"forged") == NOT_AUTHORIZED, topic
    namesake = site.connect(site.device(A, site="casa-2"))  # same device id, another site
    assert namesake.publish(topics.event_topic(SITE, A, "identification")) == NOT_AUTHORIZED
    own_event = topics.event_topic(SITE, A, "questionnaire.response")
    assert a.publish(own_event, b"mine") == 0
    assert hub.next_message() == (own_event, b"mine")  # the first and only one
    assert b.messages.empty()

    assert hub.publish(topics.cmd_topic(SITE, B), b"for b") == 0
    assert hub.publish(topics.cmd_topic(SITE, A), b"for a") == 0
    assert b.next_message() == (topics.cmd_topic(SITE, B), b"for b")
    assert a.next_message() == (topics.cmd_topic(SITE, A), b"for a")  # not B's before it
    assert hub.publish(topics.event_topic(SITE, A, "identification"), b"forged") == NOT_AUTHORIZED
    time.sleep(0.2)  # let a stray delivery arrive, were there one
    assert a.messages.empty() and b.messages.empty() and hub.messages.empty()


def test_a_client_without_a_site_certificate_is_refused_at_the_handshake(
    site: Site, tmp_path: Path
) -> None:
    assert site.probe(site.device(A)).connect()
    assert not site.probe(None).connect()
    assert "peer did not return a certificate" in site.broker.log_path.read_text()

    other_ca = SiteCA.create(tmp_path / "other-ca", SITE)  # same site name, other key
    assert not site.probe(site.device(A, other_ca)).connect()
    assert not site.probe(other_ca.issue_hub(tmp_path / "other-hub")).connect()
    log = site.broker.log_path.read_text()
    assert "certificate verify failed" in log or "unknown ca" in log


def test_a_revoked_device_is_refused_on_its_next_connect_while_others_keep_working(
    site: Site,
) -> None:
    hub = hub_subscriber(site)
    stolen = site.device(A)
    a = site.connect(stolen, will=(topics.status_topic(SITE, A), b"offline"))
    b = site.connect(site.device(B))
    assert a.publish(topics.status_topic(SITE, A), b"online", retain=True) == 0
    assert b.publish(topics.status_topic(SITE, B), b"online", retain=True) == 0
    assert {hub.next_message(), hub.next_message()} == {
        (topics.status_topic(SITE, A), b"online"),
        (topics.status_topic(SITE, B), b"online"),
    }
    pid = site.broker.process.pid if site.broker.process else None

    site.ca.revoke(x509.load_pem_x509_certificate(stolen[0].read_bytes()).serial_number)
    started = time.monotonic()
    site.broker.reload()  # SIGHUP: Mosquitto re-reads its CRL, keeps every connection
    assert not site.probe(stolen).connect()
    assert time.monotonic() - started < 2.0
    assert site.broker.process is not None and site.broker.process.pid == pid
    assert b.publish(topics.event_topic(SITE, B, "identification"), b"still here") == 0
    assert hub.next_message() == (topics.event_topic(SITE, B, "identification"), b"still here")
    assert site.probe(site.device(B)).connect()

    # The thief's connection opened before the revocation is still up: the ACL's deny
    # shuts it from the next message on, and its Last Will cannot bring back its status.
    site.acl_file.write_text(render_acl(withdrawn=[(SITE, A)]))
    site.broker.reload()
    assert a.publish(topics.event_topic(SITE, A, "identification")) == NOT_AUTHORIZED
    assert hub.publish(topics.status_topic(SITE, A), b"", retain=True) == 0  # cleared
    assert hub.next_message() == (topics.status_topic(SITE, A), b"")  # the ingest sees it too
    a.stop(ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message"))
    deadline = time.monotonic() + WAIT
    while f"Client {a.client_id} disconnected" not in site.broker.log_path.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert b.publish(topics.event_topic(SITE, B, "identification"), b"marker") == 0
    assert hub.next_message() == (topics.event_topic(SITE, B, "identification"), b"marker")

    watcher = site.connect(site.ca.issue_hub(site.folder / "watcher"))
    watcher.subscribe(topics.status_topic(SITE, A))
    watcher.subscribe(topics.status_topic(SITE, B))
    assert watcher.next_message() == (topics.status_topic(SITE, B), b"online")  # none for A
