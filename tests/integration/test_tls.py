"""Kiosk and hub over a real Mosquitto with TLS and client certificates from the site CA."""

from __future__ import annotations

import ipaddress
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine

from hub.config import BrokerConfig as HubBrokerConfig
from hub.config import HubConfig
from hub.config import TlsConfig as HubTlsConfig
from hub.worker import IngestWorker
from kiosk.agent import Agent
from kiosk.bus import MqttBus
from kiosk.config import BrokerConfig, KioskConfig, TlsConfig
from provisioning.broker import LocalBroker
from provisioning.ca import SiteCA, new_device_key
from provisioning.mosquitto import BrokerTls
from tests.integration.test_delivery import (
    DEVICE,
    SITE,
    assert_exactly_once,
    record_events,
    running,
    wait_delivered,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def ca(tmp_path: Path) -> SiteCA:
    return SiteCA.create(tmp_path / "ca", SITE)


@pytest.fixture
def tls_broker(tmp_path: Path, ca: SiteCA) -> Iterator[LocalBroker]:
    cert, key = ca.issue_server(tmp_path / "server", "broker", ["127.0.0.1", "localhost"])
    tls = BrokerTls(cafile=ca.cert_path, certfile=cert, keyfile=key, crlfile=ca.crl_path)
    with LocalBroker(tmp_path / "broker", tls=tls) as broker:
        yield broker


def device_identity(ca: SiteCA, folder: Path, device: str) -> TlsConfig:
    """What `masar kiosk provision` will do: key made here, CSR signed by the CA."""
    key_pem, csr_pem = new_device_key(device)
    issued = ca.sign_device(csr_pem, device)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "device.key").write_bytes(key_pem)
    (folder / "device.crt").write_bytes(issued.pem)
    return TlsConfig(
        cafile=ca.cert_path, certfile=folder / "device.crt", keyfile=folder / "device.key"
    )


def connects(broker: LocalBroker, tls: TlsConfig, seconds: float = 3.0) -> bool:
    bus = MqttBus(f"probe-{time.monotonic_ns()}", BrokerConfig(port=broker.port, tls=tls))
    bus.start()
    try:
        return bus.wait_connected(seconds)
    finally:
        bus.stop()


def test_events_flow_over_tls_with_client_certificates(
    tmp_path: Path, ca: SiteCA, tls_broker: LocalBroker, database_url: str, hub_db: Engine
) -> None:
    hub_cert, hub_key = ca.issue_client(tmp_path / "hub", "hub")
    hub_config = HubConfig(
        database_url=database_url,
        broker=HubBrokerConfig(
            port=tls_broker.port,
            tls=HubTlsConfig(cafile=ca.cert_path, certfile=hub_cert, keyfile=hub_key),
        ),
    )
    worker = IngestWorker(hub_config, name="tls")
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        assert worker.wait_connected(10)
        time.sleep(0.3)
        config = KioskConfig(
            site=SITE,
            device=DEVICE,
            data_dir=tmp_path / "kiosk",
            broker=BrokerConfig(
                port=tls_broker.port, tls=device_identity(ca, tmp_path / "device", DEVICE)
            ),
        )
        record_events(config, 100, per_transaction=100)
        with running(Agent(config)):
            wait_delivered(config, hub_db, 100, 60)
    finally:
        worker.stop()
        thread.join(10)
    assert_exactly_once(hub_db, 100)


def test_no_certificate_or_a_foreign_one_is_refused(
    tmp_path: Path, ca: SiteCA, tls_broker: LocalBroker
) -> None:
    good = device_identity(ca, tmp_path / "good", "wing-a-1")
    assert connects(tls_broker, good)
    anonymous = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="anon", protocol=mqtt.MQTTv5)
    anonymous.tls_set(ca_certs=str(ca.cert_path))  # server checked, but no client certificate
    try:
        anonymous.connect("127.0.0.1", tls_broker.port)
        anonymous.loop(timeout=2.0)
        anonymous.loop(timeout=2.0)
        assert not anonymous.is_connected()
    except ssl.SSLError:
        pass  # TLS 1.2 fails in the handshake; TLS 1.3 only at the first read (HARNESS.md §1)
    finally:
        anonymous.disconnect()
    assert "peer did not return a certificate" in tls_broker.log_path.read_text()
    other_ca = SiteCA.create(tmp_path / "other-ca", "elsewhere")
    foreign = device_identity(other_ca, tmp_path / "foreign", "wing-a-1")
    assert not connects(tls_broker, foreign.model_copy(update={"cafile": ca.cert_path}))
    log = tls_broker.log_path.read_text()
    assert "certificate verify failed" in log or "unknown ca" in log


def _server_pair_valid_from(ca: SiteCA, folder: Path, start: datetime) -> tuple[Path, Path]:
    """A broker certificate for 127.0.0.1 valid from ``start`` (made by hand: the CA's own
    are valid from CLOCK_SLACK before they are made)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "broker")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca.key, hashes.SHA256())
    )
    folder.mkdir(parents=True)
    (folder / "broker.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (folder / "broker.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return folder / "broker.crt", folder / "broker.key"


def test_a_kiosk_clock_behind_the_broker_certificate_is_tolerated_or_said(
    tmp_path: Path, ca: SiteCA
) -> None:
    """Certificates are valid from days before they are made, so a kiosk a day behind still
    connects; one whose clock is behind even that says why it cannot, in plain words."""
    made = x509.load_pem_x509_certificate(
        ca.issue_server(tmp_path / "made", "broker", ["127.0.0.1"])[0].read_bytes()
    )
    assert made.not_valid_before_utc <= datetime.now(UTC) - timedelta(days=1)
    device = device_identity(ca, tmp_path / "device", "wing-a-1")
    cert, key = _server_pair_valid_from(ca, tmp_path / "tomorrow", datetime.now(UTC) + timedelta(1))
    tls = BrokerTls(cafile=ca.cert_path, certfile=cert, keyfile=key, crlfile=ca.crl_path)
    with LocalBroker(tmp_path / "broker", tls=tls) as broker:
        bus = MqttBus("wing-a-1", BrokerConfig(port=broker.port, tls=device))
        bus.start()
        try:
            deadline = time.monotonic() + 10
            while bus.refused is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not bus.connected
            assert bus.refused is not None and "certificate is not yet valid" in bus.refused
            assert "check this kiosk's date and time" in bus.refused
        finally:
            bus.stop()


def test_a_revoked_device_is_refused_and_others_keep_working(
    tmp_path: Path, ca: SiteCA, tls_broker: LocalBroker
) -> None:
    stolen = device_identity(ca, tmp_path / "stolen", "wing-a-1")
    other = device_identity(ca, tmp_path / "other", "wing-b-1")
    assert connects(tls_broker, stolen)
    ca.revoke(x509.load_pem_x509_certificate(stolen.certfile.read_bytes()).serial_number)
    tls_broker.stop()  # Mosquitto reads its crlfile at start
    tls_broker.start()
    assert not connects(tls_broker, stolen)
    assert connects(tls_broker, other)
