"""The one place the kiosk imports paho-mqtt.

MQTT hygiene (STYLE.md §7.6): callback API v2 and MQTT v5; the Last Will is set
before connecting; subscriptions are renewed in on_connect; reconnects back off
and stop for good when the broker refuses our credentials; TCP_NODELAY is set
on the socket (PERFORMANCE.md §7.5); nothing is dropped silently — publishing
while offline raises BusUnavailable and the outbox keeps the event.

A broker that refuses this kiosk's certificate does so with a TLS alert, not a CONNACK.
Measured with Mosquitto 2.0.11 (crlfile, re-read on SIGHUP) and paho 2.2: under TLS 1.3
the handshake completes, the alert arrives at the first read, paho logs "failed to receive
on socket: [SSL: SSLV3_ALERT_CERTIFICATE_REVOKED] sslv3 alert certificate revoked" at
MQTT_LOG_ERR and reports on_disconnect "Unspecified error", then retries; under TLS 1.2
the handshake itself fails and paho drops the reason (on_connect_fail has no argument).
So the kiosk speaks TLS 1.3 only and reads the alert from paho's log.

The other way round, this kiosk refusing the broker's certificate (its clock a day behind a
certificate made today, another CA), paho swallows the error and retries in silence; the
TLS context's socket class records it (``_RecordingSocket``) so that ``refused`` says why.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import ssl
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from kiosk.config import BrokerConfig
from kiosk.untrusted import untrusted_words

logger = logging.getLogger(__name__)

# CONNACK reasons after which retrying cannot help: a person must fix the credentials.
_REFUSALS = {"Not authorized", "Bad user name or password", "Banned", "Client identifier not valid"}

# TLS alerts by which the broker refuses this kiosk's certificate, in plain words.
CERTIFICATE_ALERTS = {
    "certificate revoked": "it has been revoked: the kiosk was withdrawn",
    "certificate expired": "it has expired: enrol the kiosk again",
    "unknown ca": "it comes from a CA the broker does not trust",
    "bad certificate": "the broker could not verify it",
    "certificate unknown": "the broker could not verify it",
    "unsupported certificate": "the broker cannot use it",
    "certificate required": "the kiosk did not send one",
    "decrypt error": "its signature does not match the CA the broker trusts (a new site CA?)",
}
_ALERT = re.compile(r"\b(?:sslv3|tlsv1|tlsv13) alert ([a-z ]+?)(?: \(|$)")


class BusUnavailable(RuntimeError):
    """Not connected to the broker; the caller keeps the message and tries later."""


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    payload: bytes
    correlation: bytes | None = None  # MQTT v5 CorrelationData, for request/response


Handler = Callable[[Message], None]


class MqttBus:
    """A reconnecting MQTT v5 client for one kiosk."""

    def __init__(
        self,
        client_id: str,
        broker: BrokerConfig,
        *,
        will: tuple[str, bytes] | None = None,
        session_expiry: int = 86_400,
    ) -> None:
        self.broker = broker
        self.session_expiry = session_expiry
        self._handlers: dict[str, Handler] = {}
        self._connected = threading.Event()
        self.refused: str | None = None
        self._stopping = False
        self._waiting: dict[bytes, threading.Event] = {}
        self._answers: dict[bytes, Message] = {}
        self._waiting_topics: dict[bytes, str] = {}
        self.on_connected: list[Callable[[], None]] = []
        self.on_disconnected: list[Callable[[], None]] = []
        # Called with the TLS alert (e.g. "certificate revoked") when the broker refuses
        # this kiosk's certificate (kiosk.withdrawn.watch marks a revoked kiosk withdrawn).
        self.on_certificate_refused: list[Callable[[str], None]] = []
        self.certificate_refused: str | None = None  # the last such alert
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)
        if broker.tls is not None:
            context = ssl.create_default_context(cafile=str(broker.tls.cafile))
            context.load_cert_chain(str(broker.tls.certfile), str(broker.tls.keyfile))
            context.minimum_version = ssl.TLSVersion.TLSv1_3  # a refusal says why (above)
            context.sslsocket_class = _recording_socket(self._broker_untrusted)
            client.tls_set_context(context)
        if will is not None:
            client.will_set(will[0], will[1], qos=1, retain=True)
        client.on_socket_open = _set_nodelay
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        client.on_log = self._on_log
        self._client = client

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def start(self) -> None:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self.session_expiry
        self._client.connect_async(
            self.broker.host,
            self.broker.port,
            keepalive=self.broker.keepalive,
            clean_start=False,
            properties=properties,
        )
        self._client.loop_start()

    def stop(self, last_words: tuple[str, bytes] | None = None) -> None:
        """Disconnect cleanly, after publishing ``last_words`` (e.g. an offline status)."""
        if last_words is not None and self.connected:
            info = self._client.publish(last_words[0], last_words[1], qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout=2)
        self._stopping = True
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> int:
        """Hand a message to the broker; raises BusUnavailable instead of queueing in memory."""
        if not self.connected:
            raise BusUnavailable(f"not connected to the broker at {self._address}")
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise BusUnavailable(f"publish to {topic} failed: {mqtt.error_string(info.rc)}")
        mid: int = info.mid
        return mid

    def request(
        self, topic: str, payload: bytes, *, response_topic: str, timeout: float
    ) -> Message:
        """MQTT v5 request/response: publish with ResponseTopic and CorrelationData, wait for
        the answer carrying the same correlation. ``response_topic`` must be subscribed."""
        correlation = uuid.uuid4().bytes
        arrived = threading.Event()
        self._waiting[correlation] = arrived
        self._waiting_topics[correlation] = response_topic
        try:
            properties = Properties(PacketTypes.PUBLISH)
            properties.ResponseTopic = response_topic
            properties.CorrelationData = correlation
            if not self.connected:
                raise BusUnavailable(f"not connected to the broker at {self._address}")
            info = self._client.publish(topic, payload, qos=1, properties=properties)
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                raise BusUnavailable(f"publish to {topic} failed: {mqtt.error_string(info.rc)}")
            if not arrived.wait(timeout):
                raise BusUnavailable(f"no answer on {response_topic} within {timeout:.0f} s")
            return self._answers.pop(correlation)
        finally:
            self._waiting.pop(correlation, None)
            self._waiting_topics.pop(correlation, None)
            self._answers.pop(correlation, None)

    def subscribe(self, topic_filter: str, handler: Handler) -> None:
        """Subscribe now if connected, and again after every reconnect."""
        self._handlers[topic_filter] = handler
        if self.connected:
            self._client.subscribe(topic_filter, qos=1)

    @property
    def _address(self) -> str:
        return f"{self.broker.host}:{self.broker.port}"

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        if reason_code.is_failure:
            logger.error("broker %s refused the connection: %s", self._address, reason_code)
            if str(reason_code) in _REFUSALS:
                self.refused = str(reason_code)
                # Retrying with the same credentials cannot succeed: stop, and say so.
                threading.Thread(target=client.disconnect, daemon=True).start()
            return
        logger.info("connected to broker %s", self._address)
        self.refused = self.certificate_refused = None
        for topic_filter in self._handlers:
            client.subscribe(topic_filter, qos=1)
        self._connected.set()
        for callback in self.on_connected:
            _guarded(callback)

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        if was_connected and not self._stopping:
            logger.warning("disconnected from broker %s: %s", self._address, reason_code)
            for callback in self.on_disconnected:
                _guarded(callback)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        correlation = getattr(message.properties, "CorrelationData", None)
        received = Message(message.topic, bytes(message.payload), correlation)
        if (
            correlation is not None
            and correlation in self._waiting
            and (self._waiting_topics.get(correlation) == message.topic)
        ):
            self._answers[correlation] = received
            self._waiting[correlation].set()
            return
        for topic_filter, handler in self._handlers.items():
            if mqtt.topic_matches_sub(topic_filter, message.topic):
                _guarded(partial(handler, received))

    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason_code: Any, properties: Any
    ) -> None:
        if reason_code.is_failure:
            # MQTT v5 tells us when the ACL refused a publish (0x87); the event stays queued.
            logger.error("broker refused message %s: %s", mid, reason_code)

    def _broker_untrusted(self, error: ssl.SSLCertVerificationError) -> None:
        """This kiosk refused the broker's certificate; paho will retry (a clock put right,
        a certificate replaced), and ``refused`` says why until a connection succeeds."""
        why = untrusted_words(error)
        self.refused = f"this kiosk does not trust the broker's certificate: {why}"
        logger.error("broker %s: %s", self._address, self.refused)

    def _on_log(self, client: mqtt.Client, userdata: Any, level: int, text: str) -> None:
        """paho's own errors: logged, and a refused certificate detected (module doc)."""
        if level != mqtt.MQTT_LOG_ERR:
            return
        logger.info("MQTT client: %s", text)
        found = _ALERT.search(text)
        if found is None or found.group(1) not in CERTIFICATE_ALERTS:
            return
        alert = found.group(1)
        self.certificate_refused = alert
        self.refused = f"the broker refused this kiosk's certificate: {CERTIFICATE_ALERTS[alert]}"
        logger.error("broker %s: %s", self._address, self.refused)
        if alert == "certificate revoked":
            # This key can never connect again: stop retrying, as for a refused CONNACK.
            threading.Thread(target=client.disconnect, daemon=True).start()
        for callback in self.on_certificate_refused:
            _guarded(partial(callback, alert))


def _recording_socket(
    on_untrusted: Callable[[ssl.SSLCertVerificationError], None],
) -> type[ssl.SSLSocket]:
    """An SSLSocket class (``SSLContext.sslsocket_class``) whose failed handshake reports the
    certificate verification error before paho swallows it, and closes the socket, which
    paho 2.2 drops without closing."""

    class _RecordingSocket(ssl.SSLSocket):
        def do_handshake(self, block: bool = False) -> None:
            try:
                super().do_handshake(block)
            except ssl.SSLCertVerificationError as error:
                self.close()
                _guarded(partial(on_untrusted, error))
                raise

    return _RecordingSocket


def _set_nodelay(client: mqtt.Client, userdata: Any, sock: Any) -> None:
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _guarded(callback: Callable[[], None]) -> None:
    """A handler's bug must not kill paho's network thread."""
    try:
        callback()
    except Exception:
        logger.exception("MQTT handler failed")
