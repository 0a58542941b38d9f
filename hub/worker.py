"""An ingest worker: MQTT shared subscription → apply_batch → commit → ack.

Messages are acknowledged to the broker (manual PUBACK) and to the kiosk (the
``ack`` topic) only after the transaction that holds them has committed, so a
worker killed at any moment loses nothing: the broker redelivers what was not
PUBACKed, the kiosk resends what was not acked, and the insert keyed by event
id makes every repeat harmless. Run several workers for more throughput.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import ValidationError
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from hub import mqtt as hub_mqtt
from hub.audit import load_key
from hub.config import HubConfig
from hub.db import open_engine, session_factory, upgrade
from hub.ingest import BatchResult, Incoming, apply_batch, apply_status, park_refused
from hub.model_store import answer_chunk
from hub.syncer import answer
from protocol import Ack, ProtocolError, Rejection, SyncRequest, decode_message, encode, topics
from protocol.ids import utc_now
from protocol.messages import ModelChunk, ModelChunkRequest, SyncResponse
from protocol.sdnotify import Watchdog, notify

logger = logging.getLogger(__name__)


def _event_id(payload: bytes) -> str | None:
    try:
        value = json.loads(payload).get("id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class Received:
    mid: int
    qos: int
    message: Incoming
    kind: str  # "event", "status", "sync" or "model" (a request for a piece of a model file)
    connection: int  # PUBACK only on the connection the message came on
    response_topic: str | None = None
    correlation: bytes | None = None


class IngestWorker:
    """One worker process's loop. ``run()`` blocks until ``stop()``."""

    def __init__(self, config: HubConfig, name: str = "1") -> None:
        self.config = config
        self.audit_key = load_key(config.audit_key_file)
        self.name = name
        self.engine = open_engine(config.database_url)
        self.sessions: sessionmaker[Session] = session_factory(self.engine)
        self._inbox: queue.SimpleQueue[Received] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self.applied = 0
        self._last_refusal = ""
        self._connection = 0
        self._watchdog = Watchdog.from_environment()  # systemd's WatchdogSec=, if any
        self.client = hub_mqtt.make_client(f"hub-ingest-{name}", config.broker, manual_ack=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe

    # --- paho thread -------------------------------------------------------------------------

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        if reason_code.is_failure:
            logger.error("broker refused ingest worker %s: %s", self.name, reason_code)
            return
        self._connection += 1
        client.subscribe(topics.shared_events_filter(), qos=1)
        client.subscribe(topics.shared_status_filter(), qos=1)
        client.subscribe(topics.shared_sync_requests_filter(), qos=1)
        client.subscribe(topics.shared_model_requests_filter(), qos=1)
        self._connected.set()
        logger.info("ingest worker %s connected", self.name)

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reason_codes: Any, properties: Any
    ) -> None:
        logger.info("ingest worker %s subscribed (%s)", self.name, reason_codes)

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        self._connected.clear()
        if not self._stopping.is_set():
            logger.warning("ingest worker %s lost the broker: %s", self.name, reason_code)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic.endswith("/status"):
            kind = "status"
        elif message.topic.endswith("/sync/request"):
            kind = "sync"
        elif message.topic.endswith("/model/request"):
            kind = "model"
        else:
            kind = "event"
        self._inbox.put(
            Received(
                message.mid,
                message.qos,
                Incoming(message.topic, bytes(message.payload)),
                kind,
                self._connection,
                getattr(message.properties, "ResponseTopic", None),
                getattr(message.properties, "CorrelationData", None),
            )
        )

    # --- worker thread -----------------------------------------------------------------------

    def run(self) -> None:
        upgrade(self.engine)
        hub_mqtt.connect(
            self.client, self.config.broker, session_expiry=self.config.ingest.session_expiry
        )
        ready = False
        try:
            while not self._stopping.is_set():
                if not ready and self._connected.is_set():
                    notify("READY=1")  # the database is migrated and the broker connected
                    ready = True
                self._watchdog.kick()
                batch = self._take_batch()
                if batch:
                    self._process(batch)
        finally:
            notify("STOPPING=1")
            self.client.disconnect()
            self.client.loop_stop()
            self.engine.dispose()

    def stop(self) -> None:
        self._stopping.set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def _take_batch(self) -> list[Received]:
        try:
            first = self._inbox.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        while len(batch) < self.config.ingest.batch:
            try:
                batch.append(self._inbox.get_nowait())
            except queue.Empty:
                break
        return batch

    def _process(self, batch: list[Received]) -> None:
        requests = [r for r in batch if r.kind in ("sync", "model")]
        if requests:
            for request in requests:
                self._answer_sync(request)
            batch = [r for r in batch if r.kind not in ("sync", "model")]
            if not batch:
                return
        result = self._commit(batch)
        if result is None and len(batch) > 1:
            # Something in the batch is refused by the database: find it one by one.
            for received in batch:
                self._process([received])
            return
        if result is None:
            result = self._park_refused(batch[0])
        if result is None:
            return  # stopping
        self.applied += result.applied
        self._send_acks(result)
        for received in batch:
            # A message from an earlier connection is redelivered by the broker on this one;
            # its old packet id may name another message now, so it is not acknowledged.
            if received.qos > 0 and received.connection == self._connection:
                self.client.ack(received.mid, received.qos)

    def _commit(self, batch: list[Received]) -> BatchResult | None:
        """Commit a batch; retry while the database is unreachable; None if it refuses it."""
        events = [r.message for r in batch if r.kind == "event"]
        statuses = [r.message for r in batch if r.kind == "status"]
        delay, refusals = 0.1, 0
        while not self._stopping.is_set():
            try:
                with self.sessions.begin() as session:
                    result = apply_batch(
                        session, events, worker=self.name, audit_key=self.audit_key
                    )
                    for status in statuses:
                        apply_status(session, status)
                return result
            except (DataError, IntegrityError) as error:
                # The data itself is refused (PostgreSQL classes 22 and 23). Try again in case
                # it was a race with another worker; then find and park the culprit.
                refusals += 1
                self._last_refusal = str(error.orig)
                if refusals >= 3:
                    return None
                logger.warning("database refused a batch (try %d): %s", refusals, error.orig)
            except DBAPIError as error:
                # Down, locked, read-only, a deadlock, a missing table: an outage, not the
                # message's fault. Nothing was committed or acknowledged; keep trying.
                logger.warning("database unavailable, retrying in %.1fs: %s", delay, error)
            except Exception as error:
                # A bug in a handler: park the message it fails on rather than stop all ingest.
                logger.exception("ingest failed on a batch")
                refusals += 1
                self._last_refusal = f"{type(error).__name__}: {error}"
                if refusals >= 3:
                    return None
            self._watchdog.kick()  # waiting out an outage is not a hang
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
        return None

    def _park_refused(self, received: Received) -> BatchResult | None:
        """The database keeps refusing this one message: park it so the rest flows."""
        reason = f"could not be applied: {self._last_refusal}"[:2000]
        logger.error("parking a message on %s: %s", received.message.topic, reason)
        error = ProtocolError(reason, event_id=_event_id(received.message.payload))
        while not self._stopping.is_set():
            try:
                with self.sessions.begin() as session:
                    return park_refused(session, received.message, error)
            except DBAPIError as exc:
                logger.warning("database unavailable while parking: %s", exc)
                self._watchdog.kick()
                time.sleep(1.0)
        return None

    def _answer_sync(self, received: Received) -> None:
        """Answer one sync (or model file) request on the asking kiosk's own response topic."""
        request: SyncRequest | ModelChunkRequest
        try:
            parts = topics.parse_topic(received.message.topic)
            if received.kind == "model":
                request = decode_message(received.message.payload, ModelChunkRequest)
                expected = topics.model_response_topic(parts.site, parts.device)
            else:
                request = decode_message(received.message.payload, SyncRequest)
                expected = topics.sync_response_topic(parts.site, parts.device)
            if (request.site, request.device) != (parts.site, parts.device):
                raise ProtocolError("a sync request names another kiosk than its topic")
            if received.response_topic != expected:
                raise ProtocolError(f"a sync answer may only go to {expected}")
        except ProtocolError as error:
            logger.error("ignored a sync request on %s: %s", received.message.topic, error)
        else:
            response: SyncResponse | ModelChunk | None = None
            while response is None and not self._stopping.is_set():
                try:
                    with self.sessions() as session:
                        if isinstance(request, ModelChunkRequest):
                            response = answer_chunk(session, request)
                        else:
                            response = answer(session, request)
                except OperationalError as error:
                    logger.warning("database unavailable for a sync answer: %s", error)
                    self._watchdog.kick()
                    time.sleep(1.0)
                except Exception:
                    # Not the kiosk's fault nor an outage: drop this request (the kiosk asks
                    # again later) rather than stop ingesting events.
                    logger.exception("could not answer a sync request from %s", parts.device)
                    break
            if response is not None:
                properties = Properties(PacketTypes.PUBLISH)
                if received.correlation is not None:
                    properties.CorrelationData = received.correlation
                self.client.publish(expected, encode(response), qos=1, properties=properties)
        if received.qos > 0 and received.connection == self._connection:
            self.client.ack(received.mid, received.qos)

    def _send_acks(self, result: BatchResult) -> None:
        rejected: dict[tuple[str, str], list[Rejection]] = {}
        for item in result.rejected:
            try:
                rejection = Rejection(id=item.event_id, reason=item.reason[:2000])
            except ValidationError:
                continue
            rejected.setdefault((item.site, item.device), []).append(rejection)
        now = utc_now()
        for site, device in set(result.committed) | set(rejected):
            try:
                ack = Ack(
                    site=site,
                    device=device,
                    at=now,
                    committed=result.committed.get((site, device), []),
                    rejected=rejected.get((site, device), []),
                )
                topic = topics.ack_topic(site, device)
            except (ValidationError, ProtocolError) as error:
                logger.error("cannot acknowledge to %r/%r: %s", site, device, error)
                continue
            self.client.publish(topic, encode(ack), qos=1)
