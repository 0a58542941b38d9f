"""Renders the Mosquitto bridge that joins a site's broker to the national broker.

A site's kiosks keep talking to their own broker (TLS, per-kiosk ACL, on the prison's LAN);
the site broker forwards what kiosks send to the hub (events, statuses, sync and model
requests: ``out``) and brings back what the hub sends to kiosks (acks, answers, commands:
``in``), for its own site only. The topic lines come from ``protocol.topics`` through the
channel table of ``provisioning.acl``, so a channel added there cannot be forgotten here.

``bridge_protocol_version mqttv50``: only MQTT v5 carries the ResponseTopic and
CorrelationData of sync and model requests across a bridge (measured with Mosquitto 2.0.11:
a v3.1.1 bridge drops both, and the hub refuses a sync request without its response topic;
v3.1.1 would also hide a refusal by the national ACL, its PUBACK having no reason code). The
price in 2.0.x: the bridge sends no Session Expiry Interval (eclipse-mosquitto/mosquitto#2424,
#2980; 2.0.11 refuses ``bridge_session_expiry_interval`` and ``bridge_receive_maximum``), so
the national broker ends the bridge's session whenever the link drops, and what the hub
publishes to that site meanwhile (acks, sync answers, commands) is dropped there.
``cleansession false`` still keeps the site's side: what kiosks publish while the WAN is down
waits in the site broker's queue (its global ``max_queued_messages``) and persistence file.

Exactly once end to end: the bridge, like every MQTT hop, gives at least once and may lose
what a broker held when it died. Both are harmless, because the guarantee is the kiosk's
outbox and the hub's ack: a kiosk deletes an event only when the hub's ``ack`` (published
after the commit) names it and resends anything unacknowledged, so a lost event or ack comes
again; the hub inserts by event id (``ON CONFLICT DO NOTHING``), so a copy is acknowledged
again and applied never (tests/integration/test_bridge.py kills the site broker mid-stream).

The national broker knows each bridge by its certificate's common name, ``masar:bridge:<site>``
(a ``:`` no kiosk identity can hold), and its ACL lets it write only its site's kiosk-to-hub
topics and read only its site's hub-to-kiosk topics (``render_bridge_acl``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from protocol import topics
from protocol.ids import is_identifier
from provisioning.acl import BUILDERS, DIRECTIONS
from provisioning.ca import CAError, SiteCA, _key_pem, _write_pair

BridgeDirection = Literal["out", "in"]

# Kiosk-to-hub channels leave the site; hub-to-kiosk channels come back.
_BRIDGE_DIRECTION: dict[str, BridgeDirection] = {"kiosk_to_hub": "out", "hub_to_kiosk": "in"}
_DEVICE, _TYPE = "bridge-sample-device", "bridge_sample_type"


@dataclass(frozen=True)
class BridgeTls:
    """The files the site broker's bridge uses: the CA that signed the national broker's
    certificate, and the site's bridge certificate and key."""

    cafile: Path
    certfile: Path
    keyfile: Path


def _check_site(site: str) -> str:
    if not is_identifier(site):
        raise ValueError(f"site {site!r} is not a valid id (use a-z, 0-9, _ and -)")
    return site


def bridge_identity(site: str) -> str:
    """The common name of a site bridge's certificate: its username at the national broker."""
    return f"masar:bridge:{_check_site(site)}"


def site_filter(channel: topics.Channel, site: str) -> str:
    """The channel's topic for every kiosk of one site, built by protocol.topics."""
    if channel == "event":
        sample = topics.event_topic(site, _DEVICE, _TYPE)
    else:
        sample = BUILDERS[channel](site, _DEVICE)
    return sample.replace(f"/{_DEVICE}/", "/+/").replace(_TYPE, "+")


def bridge_topics(site: str) -> list[tuple[str, BridgeDirection]]:
    """(topic filter, direction) for every channel, in protocol.topics' order."""
    _check_site(site)
    return [
        (site_filter(channel, site), _BRIDGE_DIRECTION[DIRECTIONS[channel]])
        for channel in topics.CHANNELS
    ]


def _is_loopback(address: str) -> bool:
    """``host:port``, ``[v6]:port`` or a bare host."""
    if address.startswith("["):
        host = address[1 : address.find("]")]
    else:
        host = address.rsplit(":", 1)[0] if address.count(":") == 1 else address
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def render_bridge(
    *,
    site: str,
    addresses: Sequence[str],
    tls: BridgeTls | None,
    keepalive: int = 30,
) -> str:
    """The bridge section to append to the site broker's mosquitto.conf (after the listener).

    ``addresses`` are ``host:port``; several name an active/passive pair of national brokers,
    tried in order. Without ``tls`` the bridge is plain, which only a loopback address may use
    (tests); over a WAN it always authenticates both ends."""
    if not addresses:
        raise ValueError("give the national broker's address (host:port)")
    if tls is None and not all(_is_loopback(address) for address in addresses):
        raise ValueError("a bridge without TLS may only connect to a loopback address")
    identity = bridge_identity(site)
    lines = [
        "",
        f"# Generated by masar (provisioning/bridge.py): site {site} -> national broker.",
        "# Queued while the WAN is down: the site broker's max_queued_messages (global).",
        f"connection masar-{site}",
        f"address {' '.join(addresses)}",
        f"remote_clientid masar-bridge-{site}",
        "bridge_protocol_version mqttv50",
        "cleansession false",
        "start_type automatic",
        "restart_timeout 2 30",
        f"keepalive_interval {keepalive}",
        "notifications true",
        "notifications_local_only true",
    ]
    if tls is not None:
        lines += [
            f"bridge_cafile {tls.cafile}",
            f"bridge_certfile {tls.certfile}",
            f"bridge_keyfile {tls.keyfile}",
            "bridge_insecure false",
        ]
    lines.append(f"# {identity}: kiosk-to-hub channels out, hub-to-kiosk channels in (QoS 1).")
    lines += [f"topic {pattern} {direction} 1" for pattern, direction in bridge_topics(site)]
    return "\n".join(lines) + "\n"


def render_bridge_acl(sites: Iterable[str]) -> str:
    """ACL lines for the national broker: each site's bridge writes only its own site's
    kiosk-to-hub topics and reads only its own site's hub-to-kiosk topics."""
    lines: list[str] = []
    for site in sorted(set(sites)):
        lines += [
            "",
            f"# Site {site}'s bridge (provisioning/bridge.py).",
            f"user {bridge_identity(site)}",
        ]
        for pattern, direction in bridge_topics(site):
            lines.append(f"topic {'write' if direction == 'out' else 'read'} {pattern}")
    return "\n".join(lines) + "\n" if lines else ""


def issue_bridge_certificate(
    ca: SiteCA, folder: Path, site: str, *, days: int = 825
) -> tuple[Path, Path]:
    """A key and client certificate (``bridge.crt``, ``bridge.key``) named
    ``bridge_identity(site)``, signed by the CA the national broker trusts."""
    try:
        identity = bridge_identity(site)
    except ValueError as error:
        raise CAError(str(error)) from None
    key = ec.generate_private_key(ec.SECP256R1())
    issued = ca._issue(identity, key.public_key(), ExtendedKeyUsageOID.CLIENT_AUTH, days)
    return _write_pair(folder, "bridge", _key_pem(key), issued.pem)
