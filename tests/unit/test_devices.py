"""Kiosk enrolment and withdrawal on the hub, on SQLite and PostgreSQL: a one-time token that
expires, a certificate signed from the kiosk's own request, and a withdrawn kiosk whose
events are refused from then on (its certificate on the CRL, its retained status cleared on
a real Mosquitto)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select

from hub import devices
from hub.api import PREFIX
from hub.audit import Trail
from hub.config import BrokerConfig, FleetConfig
from hub.ingest import Incoming, apply_batch, apply_status
from hub.models import DeadLetter, Device, KioskState
from protocol import Status, encode, topics
from protocol.ids import utc_now
from provisioning.broker import LocalBroker
from provisioning.ca import SiteCA, device_identity, new_device_key
from tests.api_client import Hub, running_hub
from tests.factories import incoming, movement
from tests.web_hub import logged_in, token_of

TOKEN = re.compile(r'<code id="token">([^<]+)</code>')


@pytest.fixture
def ca(tmp_path: Path) -> SiteCA:
    return SiteCA.create(tmp_path / "ca", "rabat-1")


@pytest.fixture
def hub(database_url: str, tmp_path: Path, ca: SiteCA, broker: LocalBroker) -> Iterator[Hub]:
    fleet = FleetConfig(ca_dir=ca.folder, broker_host="broker.rabat-1.local", broker_port=8883)
    broker_config = BrokerConfig(port=broker.port)
    with running_hub(database_url, tmp_path, fleet=fleet, broker=broker_config) as running:
        running.add_user("ada", "admin")
        running.add_user("tom", "trainer")
        yield running


def enrol(hub: Hub, device: str = "wing-a-1") -> tuple[str, dict[str, object]]:
    admin = hub.client("ada")
    invited = admin.post(
        f"{PREFIX}/devices", json={"site": "rabat-1", "device": device, "wing": "a"}
    )
    assert invited.status_code == 201, invited.get_json()
    token = invited.get_json()["token"]
    _key, csr = new_device_key(device)
    answer = hub.client().post(f"{PREFIX}/provision", json={"token": token, "csr": csr.decode()})
    assert answer.status_code == 200, answer.get_json()
    return token, answer.get_json()


def test_a_token_gives_one_certificate_for_this_kiosk_only(hub: Hub, ca: SiteCA) -> None:
    assert (
        hub.client("tom")
        .post(f"{PREFIX}/devices", json={"site": "rabat-1", "device": "x", "wing": "a"})
        .status_code
        == 403
    )
    pem = hub.client().get(f"{PREFIX}/provision/ca").data
    token, enrolled = enrol(hub)
    assert token.endswith("." + devices.ca_pin(pem))  # the kiosk can check the CA first
    assert enrolled["broker"] == {"host": "broker.rabat-1.local", "port": 8883}
    assert (enrolled["site"], enrolled["device"], enrolled["wing"]) == ("rabat-1", "wing-a-1", "a")
    certificate = x509.load_pem_x509_certificate(str(enrolled["certificate"]).encode())
    common_name = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert common_name == device_identity("rabat-1", "wing-a-1")
    certificate.verify_directly_issued_by(ca.cert)

    _key, csr = new_device_key("wing-a-1")
    again = hub.client().post(f"{PREFIX}/provision", json={"token": token, "csr": csr.decode()})
    assert again.status_code == 409 and "already used" in again.get_json()["error"]
    unknown = hub.client().post(
        f"{PREFIX}/provision", json={"token": "a" * 24 + ".b", "csr": csr.decode()}
    )
    assert unknown.status_code == 404 and "not known" in unknown.get_json()["error"]
    with hub.sessions.begin() as session:
        late = devices.invite(
            session,
            Trail(hub.key, "system:test"),
            ca,
            site="rabat-1",
            device="wing-b-1",
            wing="b",
            now=utc_now() - timedelta(hours=25),
        )
    expired = hub.client().post(
        f"{PREFIX}/provision", json={"token": late.token, "csr": csr.decode()}
    )
    assert expired.status_code == 410 and "expired" in expired.get_json()["error"]
    listed = {
        k["device"]: k["enrolment"] for k in hub.client("ada").get(f"{PREFIX}/devices").get_json()
    }
    assert listed == {"wing-a-1": "enrolled", "wing-b-1": "invited"}


def test_a_withdrawn_kiosk_is_shut_out(hub: Hub, ca: SiteCA, broker: LocalBroker) -> None:
    enrol(hub)
    enrol(hub, "wing-a-2")
    status_topic = topics.status_topic("rabat-1", "wing-a-1")
    watcher = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    watcher.connect("127.0.0.1", broker.port)
    watcher.loop_start()
    sent = watcher.publish(status_topic, b'{"retained": "status"}', qos=1, retain=True)
    sent.wait_for_publish(timeout=5)
    watcher.disconnect()
    watcher.loop_stop()
    with hub.sessions.begin() as session:
        status = Status(site="rabat-1", device="wing-a-1", state="online", at=utc_now())
        apply_status(session, Incoming(status_topic, encode(status)))

    answer = hub.client("ada").post(f"{PREFIX}/devices/rabat-1/wing-a-1/revoke")
    assert answer.status_code == 200
    assert "the kiosk's retained status was cleared" in answer.get_json()["done"]
    with hub.sessions() as session:
        device = session.get(Device, ("rabat-1", "wing-a-1"))
        assert device is not None and device.state == "revoked" and device.cert_serial
        assert int(device.cert_serial) in ca.revoked()
        crl = x509.load_pem_x509_crl(ca.crl_path.read_bytes())
        assert crl.get_revoked_certificate_by_serial_number(int(device.cert_serial)) is not None

    with hub.sessions.begin() as session:  # events from that moment are refused and kept
        result = apply_batch(
            session, [incoming(movement(1)), incoming(movement(1, device="wing-a-2"))]
        )
        assert result.applied == 1 and result.dead_lettered == 1
        reason = session.scalars(select(DeadLetter.reason)).one()
        assert "withdrawn" in reason
        status = Status(site="rabat-1", device="wing-a-1", state="online", at=utc_now())
        apply_status(session, Incoming(status_topic, encode(status)))
    with hub.sessions() as session:
        state = session.get(KioskState, ("rabat-1", "wing-a-1"))
        assert state is not None and state.state == "revoked"

    retained: list[bytes] = []
    reader = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    reader.on_message = lambda _c, _u, message: retained.append(message.payload)
    reader.connect("127.0.0.1", broker.port)
    reader.subscribe(status_topic, qos=1)
    for _ in range(20):
        reader.loop(timeout=0.1)
    assert retained == []  # nothing retained any more
    reader.disconnect()
    refused = hub.client("ada").post(
        f"{PREFIX}/devices/rabat-1/wing-a-1/commands", json={"kind": "sync"}
    )
    assert refused.status_code == 409


def test_the_fleet_page_makes_a_token_and_shows_its_qr_code(hub: Hub) -> None:
    client = logged_in(hub.app, "ada")
    token = token_of(client.get("/fleet").text)
    missing = client.post(
        "/fleet/invite",
        data={"site": "rabat-1", "device": "wing-c-1", "csrf_token": token},
    )
    assert missing.status_code == 422
    assert 'id="wing-error"' in missing.text and 'value="wing-c-1"' in missing.text
    made = client.post(
        "/fleet/invite",
        data={"site": "rabat-1", "device": "wing-c-1", "wing": "c", "csrf_token": token},
    )
    assert made.status_code == 200
    shown = TOKEN.search(made.text)
    assert shown is not None and "<svg" in made.text
    assert "masar kiosk provision --hub http://localhost --token " + shown.group(1) in made.text


def test_a_hub_without_a_site_ca_says_so_instead_of_offering_enrolment(
    database_url: str, tmp_path: Path
) -> None:
    with running_hub(database_url, tmp_path) as hub:
        hub.add_user("ada", "admin")
        client = logged_in(hub.app, "ada")
        page = client.get("/fleet").text
        assert 'id="no-ca"' in page and "masar provision ca init" in page
        assert 'action="/fleet/invite"' not in page
        refused = client.post(
            "/fleet/invite",
            data={
                "site": "rabat-1",
                "device": "wing-c-1",
                "wing": "c",
                "csrf_token": token_of(page),
            },
        )
        assert refused.status_code == 422 and "fleet.ca_dir" in refused.text
