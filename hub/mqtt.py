"""The one place the hub builds paho-mqtt clients: MQTT v5, TLS, TCP_NODELAY, durable session."""

from __future__ import annotations

import socket
import ssl
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hub.config import BrokerConfig


def make_client(client_id: str, broker: BrokerConfig, *, manual_ack: bool = False) -> mqtt.Client:
    """A client whose messages we acknowledge ourselves (after commit) when ``manual_ack``."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=manual_ack,
    )
    client.reconnect_delay_set(min_delay=1, max_delay=10)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    if broker.tls is not None:
        client.tls_set(
            ca_certs=str(broker.tls.cafile),
            certfile=str(broker.tls.certfile),
            keyfile=str(broker.tls.keyfile),
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
    client.on_socket_open = _set_nodelay
    return client


def connect(client: mqtt.Client, broker: BrokerConfig, *, session_expiry: int) -> None:
    """Connect in the background with a session the broker keeps for ``session_expiry`` s."""
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = session_expiry
    client.connect_async(
        broker.host,
        broker.port,
        keepalive=broker.keepalive,
        clean_start=False,
        properties=properties,
    )
    client.loop_start()


def _set_nodelay(client: mqtt.Client, userdata: Any, sock: Any) -> None:
    # Without it each publish→ack round trip waits ~40 ms on delayed ACKs (PERFORMANCE.md §7.5).
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class BrokerUnreachable(RuntimeError):
    """The broker could not be reached, or did not take the message; the message says which."""


def publish_once(
    broker: BrokerConfig,
    topic: str,
    payload: bytes,
    *,
    retain: bool = False,
    timeout: float = 10.0,
) -> None:
    """Publish one message at QoS 1 on a short connection and wait for the broker's PUBACK
    (a command to a kiosk, an empty retained message that clears a withdrawn kiosk's status)."""
    client = make_client(f"hub-once-{uuid.uuid4().hex[:12]}", broker)
    connect(client, broker, session_expiry=0)
    try:
        deadline = time.monotonic() + timeout
        while not client.is_connected():
            if time.monotonic() > deadline:
                raise BrokerUnreachable(f"cannot reach the broker at {broker.host}:{broker.port}")
            time.sleep(0.05)
        info = client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(timeout=timeout)
        if not info.is_published():
            raise BrokerUnreachable(
                f"the broker at {broker.host}:{broker.port} did not take the message"
            )
    finally:
        client.disconnect()
        client.loop_stop()
