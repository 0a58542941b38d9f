"""`masar kiosk provision` against a real hub application served over real TLS (werkzeug in a
thread, server certificate from a site CA made here): the CA pin is checked before the token
leaves the kiosk, every refusal is shown in the hub's words, nothing is left half-written."""

from __future__ import annotations

import ssl
import stat
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from flask import Flask
from sqlite_utils import Database
from werkzeug.serving import make_server

from hub import devices
from hub.app import create_app
from hub.audit import Trail
from hub.config import FleetConfig, HubConfig
from hub.db import session_factory
from hub.models import Device, DeviceStream
from kiosk import outbox, store, withdrawn
from kiosk.app import create_app as create_kiosk_app
from kiosk.config import load_config
from kiosk.provision import SERVICE_CREDENTIALS
from masar.cli import cli
from protocol.events import TrainingEnrolmentRequested, TrainingEnrolmentRequestedEvent
from protocol.ids import utc_now
from provisioning.ca import SiteCA, device_identity

SITE = "rabat-1"
BROKER_PORT = 8883


@dataclass
class RunningHub:
    url: str
    app: Flask
    ca: SiteCA
    seen: list[tuple[str, str]] = field(default_factory=list)  # (method, path) it was asked

    def invite(self, device: str, **options: Any) -> str:
        sessions = session_factory(self.app.extensions["masar_engines"][1])
        trail = Trail(self.app.extensions["masar_audit_key"], "system:test")
        with sessions.begin() as session:
            invitation = devices.invite(
                session, trail, self.ca, site=SITE, device=device, wing="a", **options
            )
        return invitation.token

    def state(self, device: str) -> str:
        sessions = session_factory(self.app.extensions["masar_engines"][0])
        with sessions() as session:
            row = session.get(Device, (SITE, device))
            assert row is not None
            return row.state


@contextmanager
def running_hub(folder: Path, hosts: Iterable[str] = ("127.0.0.1",)) -> Iterator[RunningHub]:
    """A hub with its own CA, answering HTTPS on a free loopback port."""
    ca = SiteCA.create(folder / "ca", SITE)
    cert, key = ca.issue_server(folder / "tls", "hub", list(hosts))
    config = HubConfig(
        database_url=f"sqlite:///{folder}/hub.db",
        audit_key_file=folder / "audit.key",
        fleet=FleetConfig(ca_dir=folder / "ca", broker_host="127.0.0.1", broker_port=BROKER_PORT),
    )
    app = create_app(config)
    seen: list[tuple[str, str]] = []

    def recorded(environ: dict[str, Any], start_response: Any) -> Any:
        seen.append((environ["REQUEST_METHOD"], environ["PATH_INFO"]))
        return app(environ, start_response)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = make_server("127.0.0.1", 0, recorded, threaded=True, ssl_context=context)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield RunningHub(f"https://127.0.0.1:{server.server_port}", app, ca, seen)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
        for engine in app.extensions["masar_engines"]:
            engine.dispose()


def provision(hub: str, token: str, kiosk: Path, *more: str) -> tuple[int, str]:
    """Run the command as an installer would; its exit code and what it printed."""
    args = ["kiosk", "provision", "--hub", hub, "--token", token]
    args += ["--data-dir", str(kiosk / "data"), "--config", str(kiosk / "kiosk.toml"), *more]
    result = CliRunner().invoke(cli, args)
    return result.exit_code, result.output


def files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (temporary ones included), with its bytes."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_kiosk_enrols_with_its_token_once(tmp_path: Path) -> None:
    kiosk = tmp_path / "kiosk"
    kiosk.mkdir()
    # What a set-up script may have written before: kept, the identity added.
    (kiosk / "kiosk.toml").write_text('[ui]\nport = 8099\ndefault_language = "fr"\n')
    with running_hub(tmp_path / "hub") as hub:
        token = hub.invite("wing-a-1", mode="movement_check")
        code, output = provision(hub.url, token, kiosk)
        assert code == 0, output
        assert hub.state("wing-a-1") == "enrolled"

        config = load_config(kiosk / "kiosk.toml")
        assert (config.site, config.device, config.wing) == (SITE, "wing-a-1", "a")
        assert config.mode == "movement_check"
        assert config.data_dir == (kiosk / "data").resolve()
        assert (config.broker.host, config.broker.port) == ("127.0.0.1", BROKER_PORT)
        assert (config.ui.port, config.ui.default_language) == (8099, "fr")
        tls = config.broker.tls
        assert tls is not None
        for path in (tls.keyfile, tls.certfile, tls.cafile, kiosk / "kiosk.toml"):
            assert str(path) in output
        assert stat.S_IMODE(tls.keyfile.stat().st_mode) == 0o600
        assert stat.S_IMODE(tls.certfile.stat().st_mode) == 0o644
        assert tls.cafile.read_bytes() == hub.ca.cert_path.read_bytes()
        certificate = x509.load_pem_x509_certificate(tls.certfile.read_bytes())
        key = serialization.load_pem_private_key(tls.keyfile.read_bytes(), None)
        assert certificate.public_key() == key.public_key()
        certificate.verify_directly_issued_by(hub.ca.cert)
        common_name = certificate.subject.rfc4514_string()
        assert common_name == f"CN={device_identity(SITE, 'wing-a-1')}"
        # Only the CA, then the request: the key itself never travels.
        assert hub.seen == [("GET", "/api/v1/provision/ca"), ("POST", "/api/v1/provision")]
        assert not [name for name in files(kiosk) if name.endswith(".provisioning")]

        again, output = provision(hub.url, token, kiosk)
        assert again != 0 and "already enrolled" in output and "--force" in output
        assert len(hub.seen) == 2  # refused here, before asking the hub anything

        withdrawn.mark(config.data_dir, "test: the old certificate was revoked")
        before = files(kiosk)
        used, output = provision(hub.url, token, kiosk, "--force")
        assert used != 0 and "already used" in output
        assert files(kiosk) == before  # the hub's refusal changed nothing here

        fresh = hub.invite("wing-a-1")
        code, output = provision(hub.url, fresh, kiosk, "--force")
        assert code == 0, output
        assert withdrawn.withdrawal(config.data_dir) is None  # a new certificate
        renewed = x509.load_pem_x509_certificate(tls.certfile.read_bytes())
        assert renewed.serial_number != certificate.serial_number
        assert certificate.serial_number in hub.ca.revoked()  # the old key is shut out
        assert tls.keyfile.read_bytes() != before["data/tls/device.key"]
        assert load_config(kiosk / "kiosk.toml").ui.port == 8099


def test_a_kiosk_replaced_under_the_same_name_continues_its_seq(tmp_path: Path) -> None:
    """The hub has events up to seq 41 from wing-a-1; a new Pi enrolled as wing-a-1 starts
    at 42 (seq orders a kiosk's drafts and answers: a repeated one would lose them), and a
    store already further on is never put back."""
    kiosk = tmp_path / "kiosk"
    with running_hub(tmp_path / "hub") as hub:
        sessions = session_factory(hub.app.extensions["masar_engines"][1])
        token = hub.invite("wing-a-1")
        with sessions.begin() as session:
            session.add(DeviceStream(site=SITE, device="wing-a-1", max_seq=41, event_count=41))
        code, output = provision(hub.url, token, kiosk)
        assert code == 0, output
        config = load_config(kiosk / "kiosk.toml")
        db = store.open_store(config.store_path)
        try:
            assert [record_one(db) for _ in range(2)] == [42, 43]
            with store.write(db):
                outbox.raise_seq(db, 60)
        finally:
            db.close()
        code, output = provision(hub.url, hub.invite("wing-a-1"), kiosk, "--force")
        assert code == 0, output
        db = store.open_store(config.store_path)
        try:
            assert record_one(db) == 61
        finally:
            db.close()


def record_one(db: Database) -> int:
    body = TrainingEnrolmentRequested(programme_id="p-1")
    with store.write(db):
        event = outbox.record(
            db, TrainingEnrolmentRequestedEvent, body, site=SITE, device="wing-a-1", subject="d"
        )
    return event.seq


def test_the_token_is_sent_only_to_the_hub_holding_its_ca(tmp_path: Path) -> None:
    kiosk = tmp_path / "kiosk"
    with (
        running_hub(tmp_path / "hub") as hub,
        running_hub(tmp_path / "impostor", hosts=["127.0.0.1", "localhost"]) as impostor,
    ):
        token = hub.invite("wing-a-1")
        code, output = provision(impostor.url, token, kiosk)
        assert code != 0
        assert f"the hub at {impostor.url} does not hold the CA this token was made for" in output
        assert impostor.seen == [("GET", "/api/v1/provision/ca")]  # the token never went there
        assert files(kiosk) == {}

        # The right hub, at an address its server certificate does not name: the pin
        # matches, but the token is not sent over a connection that cannot be checked.
        elsewhere = hub.url.replace("127.0.0.1", "localhost")
        code, output = provision(elsewhere, token, kiosk)
        assert code != 0 and "localhost" in output and "certificate" in output
        assert hub.seen == [("GET", "/api/v1/provision/ca")]
        assert files(kiosk) == {}

        code, output = provision(hub.url, token, kiosk)  # the token is still good
        assert code == 0, output


def test_expired_unknown_and_malformed_tokens_are_refused_in_plain_words(
    tmp_path: Path,
) -> None:
    kiosk = tmp_path / "kiosk"
    with running_hub(tmp_path / "hub") as hub:
        pin = hub.invite("wing-a-1").rsplit(".", 1)[1]
        expired = hub.invite(
            "wing-b-1", now=utc_now() - timedelta(hours=2), lifetime=timedelta(hours=1)
        )
        code, output = provision(hub.url, expired, kiosk)
        assert code != 0 and "expired" in output
        code, output = provision(hub.url, f"{'a' * 24}.{pin}", kiosk)
        assert code != 0 and "not known" in output
        asked = len(hub.seen)
        code, output = provision(hub.url, "not-a-token", kiosk)
        assert code != 0 and "not an enrolment token" in output
        code, output = provision(hub.url.replace("https", "http"), expired, kiosk)
        assert code != 0 and "https://" in output
        assert len(hub.seen) == asked  # refused on the kiosk, nothing asked
        assert files(kiosk) == {}


def test_a_withdrawn_kiosk_says_so_and_starts_nothing(tmp_path: Path) -> None:
    config = load_config(write_kiosk_config(tmp_path))
    app = create_kiosk_app(config)
    client = app.test_client()
    assert 'id="start"' in client.get("/").text
    withdrawn.mark(config.data_dir, "the broker refused this kiosk's certificate")
    page = client.get("/").text
    assert 'id="withdrawn"' in page
    assert 'id="start"' not in page and 'id="attract-watch"' not in page
    assert client.get("/attract/state").json == {"go": "/"}
    client.post("/identify/start")
    assert app.extensions["masar_kiosk"].stations.current() is None
    assert "withdrawn" in (app.extensions["masar_kiosk"].out_of_service() or "")


def write_kiosk_config(folder: Path) -> Path:
    path = folder / "kiosk.toml"
    path.write_text(f'site = "{SITE}"\ndevice = "wing-a-1"\ndata_dir = "{folder / "data"}"\n')
    return path


def test_with_a_credential_store_the_secrets_go_where_the_service_loads_them(
    tmp_path: Path,
) -> None:
    kiosk, credstore = tmp_path / "kiosk", tmp_path / "credstore"
    kiosk.mkdir()
    credstore.mkdir(mode=0o700)
    with running_hub(tmp_path / "hub") as hub:
        code, output = provision(
            hub.url, hub.invite("wing-a-1"), kiosk, "--credstore", str(credstore)
        )
        assert code == 0, output
        assert "sudo reboot" in output
        config = load_config(kiosk / "kiosk.toml")
        assert config.broker.tls is not None
        assert config.broker.tls.keyfile == SERVICE_CREDENTIALS / "device.key"
        assert config.cache_key_file == SERVICE_CREDENTIALS / "cache.key"
        assert not (kiosk / "data" / "tls" / "device.key").exists()
        for name in ("device.key", "cache.key"):
            assert stat.S_IMODE((credstore / name).stat().st_mode) == 0o600
        assert len((credstore / "cache.key").read_bytes()) == 32
        cache_key = (credstore / "cache.key").read_bytes()
        code, output = provision(
            hub.url, hub.invite("wing-a-1"), kiosk, "--credstore", str(credstore), "--force"
        )
        assert code == 0, output
        assert (credstore / "cache.key").read_bytes() == cache_key  # caches stay readable
