"""The bridge section and the national ACL forward exactly the site's channels, each one way."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.x509.oid import NameOID
from paho.mqtt.client import topic_matches_sub

from masar.cli import cli
from protocol import topics
from provisioning.bridge import (
    BridgeTls,
    bridge_identity,
    issue_bridge_certificate,
    render_bridge,
    render_bridge_acl,
)
from provisioning.ca import CAError, SiteCA

SITE, OTHER, DEVICE = "rabat-1", "casa-2", "wing-a-1"
# Who publishes on each channel, written out here rather than read from the code under test:
# a channel added to protocol.topics fails this test until someone decides its direction.
EXPECTED = {
    "event": "out",
    "status": "out",
    "sync/request": "out",
    "model/request": "out",
    "ack": "in",
    "sync/response": "in",
    "model/response": "in",
    "cmd": "in",
}


def concrete(channel: str, site: str, device: str = DEVICE) -> str:
    """A real topic of the channel, built by protocol.topics."""
    builders = {
        "event": lambda: topics.event_topic(site, device, "questionnaire.response"),
        "status": lambda: topics.status_topic(site, device),
        "ack": lambda: topics.ack_topic(site, device),
        "sync/request": lambda: topics.sync_request_topic(site, device),
        "sync/response": lambda: topics.sync_response_topic(site, device),
        "model/request": lambda: topics.model_request_topic(site, device),
        "model/response": lambda: topics.model_response_topic(site, device),
        "cmd": lambda: topics.cmd_topic(site, device),
    }
    return builders[channel]()


def topic_lines(config: str) -> list[tuple[str, str, str]]:
    """(pattern, direction, qos) of every `topic` line."""
    rows = []
    for line in config.splitlines():
        if line.startswith("topic "):
            _, pattern, direction, qos = line.split(" ")
            rows.append((pattern, direction, qos))
    return rows


def settings(config: str) -> dict[str, str]:
    return {
        line.split(" ", 1)[0]: line.split(" ", 1)[1]
        for line in config.splitlines()
        if line and not line.startswith(("#", "topic "))
    }


def test_every_channel_is_bridged_once_in_its_direction_and_nothing_else() -> None:
    assert set(EXPECTED) == set(topics.CHANNELS)
    lines = topic_lines(render_bridge(site=SITE, addresses=["127.0.0.1:8883"], tls=None))
    assert len(lines) == len(topics.CHANNELS)
    assert {qos for _, _, qos in lines} == {"1"}
    for channel, direction in EXPECTED.items():
        for device in (DEVICE, "gate-2"):
            matching = [
                d for p, d, _ in lines if topic_matches_sub(p, concrete(channel, SITE, device))
            ]
            assert matching == [direction], f"{channel} of {device}: {matching}"
        other = [p for p, _, _ in lines if topic_matches_sub(p, concrete(channel, OTHER))]
        assert other == [], f"another site's {channel} would cross this bridge"
    for pattern, _, _ in lines:
        assert pattern.startswith(f"{topics.PREFIX}/{SITE}/kiosk/+/")
        assert "#" not in pattern


def test_the_bridge_is_mqtt5_durable_and_authenticated() -> None:
    tls = BridgeTls(Path("/etc/masar/ca.crt"), Path("/b/bridge.crt"), Path("/b/bridge.key"))
    config = render_bridge(
        site=SITE, addresses=["national.example:8883", "standby.example:8883"], tls=tls
    )
    values = settings(config)
    assert values["connection"] == f"masar-{SITE}"
    assert values["address"] == "national.example:8883 standby.example:8883"
    assert values["remote_clientid"] == f"masar-bridge-{SITE}"
    assert values["bridge_protocol_version"] == "mqttv50"
    assert values["cleansession"] == "false"
    assert values["bridge_cafile"] == "/etc/masar/ca.crt"
    assert values["bridge_certfile"] == "/b/bridge.crt"
    assert values["bridge_keyfile"] == "/b/bridge.key"
    assert values["bridge_insecure"] == "false"


def test_a_plain_bridge_only_to_loopback_and_only_valid_sites() -> None:
    for address in ("127.0.0.1:1883", "localhost:1883", "[::1]:1883"):
        render_bridge(site=SITE, addresses=[address], tls=None)
    with pytest.raises(ValueError, match="loopback"):
        render_bridge(site=SITE, addresses=["10.1.2.3:1883"], tls=None)
    with pytest.raises(ValueError, match="address"):
        render_bridge(site=SITE, addresses=[], tls=None)
    for site in ("Rabat", "a/b", "+", "#", ""):
        with pytest.raises(ValueError, match="site"):
            render_bridge(site=site, addresses=["127.0.0.1:1883"], tls=None)


def test_the_national_acl_lets_each_bridge_speak_for_its_site_only() -> None:
    acl = render_bridge_acl([SITE, OTHER, SITE])
    blocks: dict[str, list[tuple[str, str]]] = {}
    user = ""
    for line in acl.splitlines():
        if line.startswith("user "):
            user = line.removeprefix("user ")
            blocks[user] = []
        elif line.startswith("topic "):
            _, access, pattern = line.split(" ")
            blocks[user].append((access, pattern))
    assert set(blocks) == {bridge_identity(SITE), bridge_identity(OTHER)}
    for site, other in ((SITE, OTHER), (OTHER, SITE)):
        rights = blocks[bridge_identity(site)]
        for channel, direction in EXPECTED.items():
            access = "write" if direction == "out" else "read"
            own = [a for a, p in rights if topic_matches_sub(p, concrete(channel, site))]
            assert own == [access], f"{site} bridge on its {channel}: {own}"
            assert not [p for _, p in rights if topic_matches_sub(p, concrete(channel, other))]
    assert render_bridge_acl([]) == ""


def test_the_bridge_certificate_is_named_for_its_site(tmp_path: Path) -> None:
    ca = SiteCA.create(tmp_path / "ca", "national")
    cert_path, key_path = issue_bridge_certificate(ca, tmp_path / "bridge", SITE)
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    name = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert name == "masar:bridge:rabat-1" == bridge_identity(SITE)
    assert cert.issuer == ca.cert.subject
    assert key_path.stat().st_mode & 0o077 == 0
    with pytest.raises(CAError):
        issue_bridge_certificate(ca, tmp_path / "bad", "Not A Site")


def test_the_command_issues_the_certificate_and_prints_the_section(tmp_path: Path) -> None:
    runner = CliRunner()
    ca_dir = tmp_path / "ca"
    assert (
        runner.invoke(
            cli, ["provision", "ca", "init", "--site", "national", "--dir", str(ca_dir)]
        ).exit_code
        == 0
    )
    result = runner.invoke(
        cli,
        [
            "provision",
            "bridge-config",
            "--site",
            SITE,
            "--address",
            "hub.example:8883",
            "--ca-dir",
            str(ca_dir),
        ],
    )
    assert result.exit_code == 0, result.output
    values = settings(result.stdout)
    assert values["bridge_certfile"] == str((ca_dir / "bridge" / SITE / "bridge.crt").resolve())
    assert values["bridge_cafile"] == str((ca_dir / "ca.crt").resolve())
    assert len(topic_lines(result.stdout)) == len(topics.CHANNELS)
    plain = runner.invoke(
        cli, ["provision", "bridge-config", "--site", SITE, "--address", "hub.example:8883"]
    )
    assert plain.exit_code == 2 and "loopback" in plain.output
    half = runner.invoke(
        cli,
        [
            "provision",
            "bridge-config",
            "--site",
            SITE,
            "--address",
            "127.0.0.1:1883",
            "--cafile",
            str(ca_dir / "ca.crt"),
        ],
    )
    assert half.exit_code == 2 and "go together" in half.output


def test_the_national_broker_config_names_the_bridges(tmp_path: Path) -> None:
    runner = CliRunner()
    ca_dir = tmp_path / "ca"
    runner.invoke(cli, ["provision", "ca", "init", "--site", "national", "--dir", str(ca_dir)])
    runner.invoke(cli, ["provision", "server-cert", "--ca-dir", str(ca_dir), "--host", "127.0.0.1"])
    acl = tmp_path / "national.acl"
    result = runner.invoke(
        cli,
        [
            "provision",
            "mosquitto-config",
            "--ca-dir",
            str(ca_dir),
            "--acl-file",
            str(acl),
            "--bridge-site",
            SITE,
            "--bridge-site",
            OTHER,
            "--data-dir",
            str(tmp_path / "data"),
        ],
    )
    assert result.exit_code == 0, result.output
    text = acl.read_text()
    assert f"user {bridge_identity(SITE)}" in text and f"user {bridge_identity(OTHER)}" in text
    assert text.endswith(render_bridge_acl([SITE, OTHER]))
