"""The broker's ACL file covers every topic of protocol.topics, and the provision commands."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from paho.mqtt.client import topic_matches_sub

from masar.cli import cli
from protocol import topics
from protocol.events import EVENT_TYPES
from provisioning.acl import BUILDERS, DIRECTIONS, render_acl
from provisioning.ca import HUB_IDENTITY, CAError, SiteCA, device_identity, new_device_key

SITE = "rabat-1"
HUB = HUB_IDENTITY
KIOSK_A = device_identity(SITE, "wing-a-1")  # rabat-1/kiosk/wing-a-1, its broker username


@dataclass(frozen=True)
class Rule:
    user: str | None  # None: a pattern, for every user
    access: str
    topic: str


def parse(acl: str) -> list[Rule]:
    """The rules of an ACL file, read the way Mosquitto reads them."""
    rules: list[Rule] = []
    user: str | None = None
    for line in acl.splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0] == "user":
            user = words[1]
        elif words[0] == "pattern":
            rules.append(Rule(None, words[1], words[2]))
        else:
            assert words[0] == "topic", line
            rules.append(Rule(user, words[1], words[2]))
    return rules


def allowed(rules: list[Rule], username: str, access: str, topic: str) -> bool:
    """Mosquitto 2.0's decision: the user's deny first, then its rules, then the patterns."""
    own = [r for r in rules if r.user == username]
    if any(r.access == "deny" and topic_matches_sub(r.topic, topic) for r in own):
        return False
    patterns = [
        Rule(None, r.access, r.topic.replace("%u", username)) for r in rules if r.user is None
    ]
    return any(
        r.access in (access, "readwrite") and topic_matches_sub(r.topic, topic)
        for r in own + patterns
    )


def kiosk_topics(device: str, site: str = SITE) -> dict[topics.Channel, list[str]]:
    """Every topic protocol.topics builds for one kiosk, by channel."""
    built: dict[topics.Channel, list[str]] = {
        c: [BUILDERS[c](site, device)] for c in topics.CHANNELS if c != "event"
    }
    built["event"] = [topics.event_topic(site, device, t) for t in EVENT_TYPES]
    return built


def test_every_topic_family_of_the_protocol_is_in_the_acl() -> None:
    assert set(DIRECTIONS) == set(topics.CHANNELS)
    builders = {
        name
        for name, function in inspect.getmembers(topics, inspect.isfunction)
        if name.endswith("_topic") and function.__module__ == topics.__name__
    } - {"parse_topic"}
    covered = {function.__name__ for function in BUILDERS.values()} | {"event_topic"}
    assert builders == covered, "a topic builder in protocol.topics has no ACL row"
    rules = parse(render_acl())
    for channel, family in kiosk_topics("wing-a-1").items():
        access = "write" if DIRECTIONS[channel] == "kiosk_to_hub" else "read"
        hub_access = "read" if access == "write" else "write"
        for topic in family:
            assert allowed(rules, KIOSK_A, access, topic), topic
            assert allowed(rules, HUB, hub_access, topic), topic


def test_a_kiosk_reads_and_writes_only_its_own_topics() -> None:
    rules = parse(render_acl())
    for others in (kiosk_topics("wing-b-1"), kiosk_topics("wing-a-1", site="casa-2")):
        for family in others.values():
            for topic in family:
                assert not allowed(rules, KIOSK_A, "write", topic), topic
                assert not allowed(rules, KIOSK_A, "read", topic), topic
    for channel, family in kiosk_topics("wing-a-1").items():
        wrong_way = "read" if DIRECTIONS[channel] == "kiosk_to_hub" else "write"
        assert not any(allowed(rules, KIOSK_A, wrong_way, t) for t in family), channel
    # A bare device id as common name (SiteCA.issue_client) gets no kiosk's rights.
    mine = [t for family in kiosk_topics("wing-a-1").values() for t in family]
    assert not any(allowed(rules, "wing-a-1", a, t) for a in ("read", "write") for t in mine)


def test_the_hub_reads_what_its_workers_subscribe_to_and_writes_answers() -> None:
    rules = parse(render_acl())
    every_topic = [
        t
        for site in (SITE, "casa-2")
        for family in kiosk_topics("wing-a-1", site).values()
        for t in family
    ]
    for shared in (
        topics.shared_events_filter(),
        topics.shared_status_filter(),
        topics.shared_sync_requests_filter(),
        topics.shared_model_requests_filter(),
    ):
        plain = shared.split("/", 2)[2]  # Mosquitto checks delivery against the real topic
        delivered = [t for t in every_topic if topic_matches_sub(plain, t)]
        assert delivered, shared
        assert all(allowed(rules, HUB, "read", t) for t in delivered), shared
    status = topics.status_topic(SITE, "wing-a-1")
    assert allowed(rules, HUB, "write", status)  # clears a withdrawn kiosk's retained status
    for family in (kiosk_topics("wing-a-1")["event"], kiosk_topics("wing-a-1")["sync/request"]):
        assert not any(allowed(rules, HUB, "write", t) for t in family)


def test_a_withdrawn_kiosk_is_denied_everything() -> None:
    rules = parse(render_acl(withdrawn=[(SITE, "wing-a-1")]))
    for family in kiosk_topics("wing-a-1").values():
        for topic in family:
            assert not allowed(rules, KIOSK_A, "write", topic)
            assert not allowed(rules, KIOSK_A, "read", topic)
    kiosk_b = device_identity(SITE, "wing-b-1")
    assert allowed(rules, kiosk_b, "write", topics.status_topic(SITE, "wing-b-1"))
    with pytest.raises(CAError, match="device 'a/b' is not a valid id"):
        render_acl(withdrawn=[(SITE, "a/b")])


def test_the_ca_names_kiosks_by_their_place_in_the_topic_tree(tmp_path: Path) -> None:
    ca = SiteCA.create(tmp_path / "ca", SITE)
    _, csr = new_device_key("wing-a-1")
    issued = x509.load_pem_x509_certificate(ca.sign_device(csr, KIOSK_A).pem)
    assert issued.subject.rfc4514_string() == "CN=rabat-1/kiosk/wing-a-1"
    for forged in (HUB, "rabat-1/kiosk/wing-a-1/event", "rabat-1/wing-a-1", "a/kiosk/+"):
        with pytest.raises(CAError, match="neither a device id nor a kiosk identity"):
            ca.sign_device(csr, forged)


def test_provision_commands_render_a_tls_broker_with_acls(tmp_path: Path) -> None:
    runner = CliRunner()
    ca_dir, acl = tmp_path / "ca", tmp_path / "masar.acl"

    def run(*args: str) -> str:
        result = runner.invoke(cli, ["provision", *args])
        assert result.exit_code == 0, result.output
        return result.stdout

    run("ca", "init", "--site", SITE, "--dir", str(ca_dir))
    refused = runner.invoke(cli, ["provision", "ca", "init", "--site", SITE, "--dir", str(ca_dir)])
    assert refused.exit_code == 1 and "refusing to replace it" in refused.output
    run("server-cert", "--ca-dir", str(ca_dir), "--host", "127.0.0.1", "--host", "hub.local")
    assert f'certfile = "{ca_dir.resolve()}/hub/hub.crt"' in run(
        "hub-cert", "--ca-dir", str(ca_dir)
    )
    missing = runner.invoke(cli, ["provision", "mosquitto-config", "--ca-dir", str(ca_dir)])
    assert missing.exit_code == 2 and "--acl-file" in missing.output
    config = run(
        "mosquitto-config", "--ca-dir", str(ca_dir), "--acl-file", str(acl),
        "--host", "0.0.0.0", "--withdrawn", "rabat-1/wing-z-9",
    )  # fmt: skip
    assert acl.read_text() == render_acl(withdrawn=[(SITE, "wing-z-9")])
    lines = set(config.splitlines())
    assert {
        "listener 8883 0.0.0.0",
        "allow_anonymous false",
        "require_certificate true",
        "use_identity_as_username true",
        "persistence true",
        f"cafile {ca_dir.resolve()}/ca.crt",
        f"certfile {ca_dir.resolve()}/server/broker.crt",
        f"crlfile {ca_dir.resolve()}/crl.pem",
        f"acl_file {acl}",
    } <= lines
    bad = runner.invoke(
        cli,
        ["provision", "mosquitto-config", "--ca-dir", str(ca_dir), "--acl-file", str(acl),
         "--withdrawn", "wing-z-9"],
    )  # fmt: skip
    assert bad.exit_code == 2 and "device '' is not a valid id" in bad.output
    plain = runner.invoke(cli, ["provision", "mosquitto-config", "--host", "0.0.0.0"])
    assert plain.exit_code == 2 and "only listen on loopback" in plain.output
