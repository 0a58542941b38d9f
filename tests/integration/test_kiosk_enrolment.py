"""From a one-time token to the first event on the hub, and on to withdrawal, as an admin and
an installer do it: `masar hub device enrol`, the hub served by `masar hub web` over HTTPS,
`masar kiosk provision`, a real Mosquitto with TLS, client certificates, the generated ACL
and a CRL, the kiosk agent, an ingest worker; then `masar hub device revoke`, which has the
broker re-read its CRL (SIGHUP), and the kiosk's next connection is refused and marks it
withdrawn."""

from __future__ import annotations

import re
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from hub.config import BrokerConfig as HubBrokerConfig
from hub.config import HubConfig
from hub.config import TlsConfig as HubTlsConfig
from hub.db import open_engine
from hub.worker import IngestWorker
from kiosk import withdrawn
from kiosk.agent import Agent
from kiosk.app import create_app as create_kiosk_app
from kiosk.bus import MqttBus
from kiosk.config import BrokerConfig, TlsConfig, load_config
from masar.cli import cli
from masar.processes import spawn_masar, stop
from provisioning.acl import render_acl
from provisioning.broker import LocalBroker, free_port
from provisioning.ca import SiteCA, device_identity, new_device_key
from provisioning.mosquitto import BrokerTls
from tests.integration.test_delivery import SITE, record_events, running, wait_delivered

pytestmark = pytest.mark.integration
DEVICE = "wing-a-1"


def wait_until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(0.05)


def answers(url: str, cafile: Path) -> bool:
    try:
        context = ssl.create_default_context(cafile=str(cafile))
        with urllib.request.urlopen(url, timeout=2, context=context) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def masar(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_an_enrolled_kiosk_delivers_then_is_withdrawn(tmp_path: Path) -> None:
    ca = SiteCA.create(tmp_path / "ca", SITE)
    server_cert, server_key = ca.issue_server(tmp_path / "broker-tls", "broker", ["127.0.0.1"])
    acl = tmp_path / "acl"
    acl.write_text(render_acl())
    tls = BrokerTls(ca.cert_path, server_cert, server_key, crlfile=ca.crl_path)
    hub_cert, hub_key = ca.issue_hub(tmp_path / "hub-identity")
    web_cert, web_key = ca.issue_server(tmp_path / "web-tls", "hub-web", ["127.0.0.1"])
    database_url = f"sqlite:///{tmp_path}/hub.db"
    with LocalBroker(tmp_path / "broker", tls=tls, acl_file=acl) as broker:
        assert broker.process is not None
        hub_toml = tmp_path / "hub.toml"
        hub_toml.write_text(
            f'database_url = "{database_url}"\naudit_key_file = "{tmp_path / "audit.key"}"\n'
            f'[broker]\nhost = "127.0.0.1"\nport = {broker.port}\n'
            f'[broker.tls]\ncafile = "{ca.cert_path}"\ncertfile = "{hub_cert}"\n'
            f'keyfile = "{hub_key}"\n'
            f'[fleet]\nca_dir = "{ca.folder}"\nbroker_host = "127.0.0.1"\n'
            f"broker_port = {broker.port}\n"
            f'reload_broker = ["kill", "-HUP", "{broker.process.pid}"]\n'
        )
        port = free_port()
        url = f"https://127.0.0.1:{port}"
        web = spawn_masar(
            ["hub", "web", "--config", str(hub_toml), "--port", str(port), "--workers", "1",
             "--certfile", str(web_cert), "--keyfile", str(web_key)],
            tmp_path / "hub-web.log",
        )  # fmt: skip
        hub_config = HubConfig(
            database_url=database_url,
            audit_key_file=tmp_path / "audit.key",
            broker=HubBrokerConfig(
                port=broker.port,
                tls=HubTlsConfig(cafile=ca.cert_path, certfile=hub_cert, keyfile=hub_key),
            ),
        )
        worker = IngestWorker(hub_config, name="enrolment")
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        hub_db: Engine = open_engine(database_url)
        try:
            wait_until(lambda: answers(url + "/api/v1/provision/ca", ca.cert_path), 30, "hub web")
            assert worker.wait_connected(10)

            # The admin invites the kiosk; the installer types the printed command.
            invited = masar(
                "hub", "device", "enrol", "--config", str(hub_toml), "--site", SITE,
                "--device", DEVICE, "--wing", "a", "--hub-url", url,
            )  # fmt: skip
            found = re.search(r"masar kiosk provision --hub (\S+) --token (\S+)", invited)
            assert found is not None, invited
            kiosk_toml = tmp_path / "etc" / "kiosk.toml"
            masar(
                "kiosk", "provision", "--hub", found[1], "--token", found[2],
                "--data-dir", str(tmp_path / "kiosk"), "--config", str(kiosk_toml),
            )  # fmt: skip
            config = load_config(kiosk_toml)

            record_events(config, 20)
            agent = Agent(config)
            withdrawn.watch(agent.bus, config.data_dir)
            with running(agent):
                assert agent.bus.wait_connected(10)
                wait_delivered(config, hub_db, 20, 30)

            masar("hub", "device", "revoke", "--config", str(hub_toml), "--site", SITE,
                  "--device", DEVICE)  # fmt: skip
            assert withdrawn.withdrawal(config.data_dir) is None  # not until it is refused

            restarted = Agent(config)  # the kiosk starts again, e.g. after a power cut
            withdrawn.watch(restarted.bus, config.data_dir)
            with running(restarted):
                wait_until(
                    lambda: withdrawn.withdrawal(config.data_dir) is not None, 15, "withdrawn"
                )
                assert not restarted.bus.connected
                assert restarted.bus.certificate_refused == withdrawn.REVOKED
                assert restarted.bus.refused is not None and "revoked" in restarted.bus.refused
                log = broker.log_path.read_text()
                refusals = log.count("certificate verify failed")
                time.sleep(2.5)  # paho would retry after 1 s, then 2 s: it does not
                assert broker.log_path.read_text().count("certificate verify failed") == refusals
        finally:
            worker.stop()
            thread.join(10)
            stop(web)
            hub_db.dispose()

    page = create_kiosk_app(config).test_client().get("/").text
    assert 'id="withdrawn"' in page and 'id="start"' not in page


def test_an_expired_certificate_is_reported_but_does_not_withdraw_the_kiosk(
    tmp_path: Path,
) -> None:
    ca = SiteCA.create(tmp_path / "ca", SITE)
    server_cert, server_key = ca.issue_server(tmp_path / "broker-tls", "broker", ["127.0.0.1"])
    key_pem, csr_pem = new_device_key("kiosk")
    expired = ca.sign_device(csr_pem, device_identity(SITE, DEVICE), days=0)
    (tmp_path / "device.key").write_bytes(key_pem)
    (tmp_path / "device.crt").write_bytes(expired.pem)
    identity = TlsConfig(
        cafile=ca.cert_path, certfile=tmp_path / "device.crt", keyfile=tmp_path / "device.key"
    )
    tls = BrokerTls(ca.cert_path, server_cert, server_key, crlfile=ca.crl_path)
    with LocalBroker(tmp_path / "broker", tls=tls) as broker:
        bus = MqttBus("expired", BrokerConfig(port=broker.port, tls=identity))
        alerts: list[str] = []
        bus.on_certificate_refused.append(alerts.append)
        withdrawn.watch(bus, tmp_path / "data")
        bus.start()
        try:
            wait_until(lambda: len(alerts) >= 2, 10, "two refused attempts")  # still retrying
        finally:
            bus.stop()
    assert set(alerts) == {"certificate expired"}
    assert bus.refused is not None and "expired" in bus.refused
    assert withdrawn.withdrawal(tmp_path / "data") is None
