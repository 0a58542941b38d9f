"""The kiosk agent: owns the bus, drains the outbox and publishes the kiosk's status.

Delivery (ARCHITECTURE.md §3): events are published QoS 1 in ``seq`` order with at
most ``window`` unacknowledged; an event leaves the outbox only when the hub's
``ack`` names it; anything unacknowledged after ``resend_after`` seconds, or when
the connection drops, is sent again. Duplicates are harmless: the hub's ingest
is idempotent by event id.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field

from sqlite_utils import Database

from kiosk import __version__, outbox, store
from kiosk.bus import BusUnavailable, Message, MqttBus
from kiosk.config import KioskConfig
from protocol import Ack, ProtocolError, Status, decode_message, encode, topics, utc_now

logger = logging.getLogger(__name__)


@dataclass
class DeliveryStats:
    """What the agent has seen since it started; shown on the status page and in benches."""

    published: int = 0
    resent: int = 0
    confirmed: int = 0
    rejected: int = 0
    last_ack_at: float | None = None
    ack_latencies: list[float] = field(default_factory=list)


class Agent:
    """Process wiring for one kiosk. ``start()`` returns at once; ``stop()`` is clean."""

    def __init__(self, config: KioskConfig, *, status_every: float = 30.0) -> None:
        self.config = config
        self.status_every = status_every
        self.stats = DeliveryStats()
        self.record_latencies = False
        self._acks: queue.SimpleQueue[Ack] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._reset_inflight = threading.Event()
        self._thread: threading.Thread | None = None
        self.bus = MqttBus(
            client_id=f"kiosk-{config.site}-{config.device}",
            broker=config.broker,
            will=(self._status_topic, encode(self._status("offline", None))),
        )
        self.bus.subscribe(topics.ack_topic(config.site, config.device), self._on_ack)
        self.bus.on_connected.append(self._on_connected)
        self.bus.on_disconnected.append(self._reset_inflight.set)

    @property
    def _status_topic(self) -> str:
        return topics.status_topic(self.config.site, self.config.device)

    def _status(self, state: str, depth: int | None) -> Status:
        return Status.model_validate(
            {
                "site": self.config.site,
                "device": self.config.device,
                "state": state,
                "at": utc_now() if state == "online" else None,
                "software_version": __version__ if state == "online" else None,
                "mode": self.config.mode if state == "online" else None,
                "outbox_depth": depth,
            }
        )

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="kiosk-agent", daemon=True)
        self._thread.start()
        self.bus.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.bus.stop(last_words=(self._status_topic, encode(self._status("offline", None))))

    def notify(self) -> None:
        """Tell the agent that new events were recorded (it also polls)."""
        self._wake.set()

    # --- callbacks from paho's thread: hand over, never touch the store there ---------------

    def _on_ack(self, message: Message) -> None:
        try:
            ack = decode_message(message.payload, Ack)
        except ProtocolError as exc:
            logger.error("ignored a malformed ack: %s", exc)
            return
        self._acks.put(ack)
        self._wake.set()

    def _on_connected(self) -> None:
        self._reset_inflight.set()
        self._wake.set()

    # --- the agent's own thread ---------------------------------------------------------------

    def _run(self) -> None:
        db = store.open_store(self.config.store_path)
        try:
            self._loop(db)
        except Exception:
            logger.exception("kiosk agent stopped on an unexpected error")
            raise
        finally:
            db.close()

    def _loop(self, db: Database) -> None:
        inflight: dict[str, tuple[int, float]] = {}  # event id → (seq, sent at)
        sent_up_to = 0
        next_status = 0.0
        window = self.config.outbox.window
        resend_after = self.config.outbox.resend_after
        while not self._stopping.is_set():
            self._wake.wait(timeout=0.2)
            self._wake.clear()
            self._apply_acks(db, inflight)
            if self._reset_inflight.is_set():
                self._reset_inflight.clear()
                inflight.clear()
                sent_up_to = 0
                next_status = 0.0
            if not self.bus.connected:
                continue
            try:
                now = time.monotonic()
                if now >= next_status:
                    self._publish_status(db)
                    next_status = now + self.status_every
                overdue = [
                    (seq, event_id)
                    for event_id, (seq, sent) in inflight.items()
                    if now - sent > resend_after
                ]
                if overdue:
                    logger.warning("no ack for %d event(s); sending them again", len(overdue))
                    self._resend(db, sorted(overdue), inflight)
                room = window - len(inflight)
                if room > 0:
                    for event in outbox.pending(db, after_seq=sent_up_to, limit=room):
                        self._publish(event, inflight)
                        sent_up_to = event.seq
            except BusUnavailable:
                self._reset_inflight.set()

    def _publish(self, event: outbox.OutboxEvent, inflight: dict[str, tuple[int, float]]) -> None:
        topic = topics.event_topic(self.config.site, self.config.device, event.type)
        self.bus.publish(topic, event.payload)
        inflight[event.id] = (event.seq, time.monotonic())
        self.stats.published += 1

    def _resend(
        self, db: Database, overdue: list[tuple[int, str]], inflight: dict[str, tuple[int, float]]
    ) -> None:
        for _seq, event_id in overdue:
            row = db.execute(
                "SELECT seq, id, type, payload FROM outbox WHERE id = ?", [event_id]
            ).fetchone()
            if row is None:
                inflight.pop(event_id, None)
                continue
            self._publish(outbox.OutboxEvent(row[0], row[1], row[2], bytes(row[3])), inflight)
            self.stats.resent += 1

    def _apply_acks(self, db: Database, inflight: dict[str, tuple[int, float]]) -> None:
        acks: list[Ack] = []
        while True:
            try:
                acks.append(self._acks.get_nowait())
            except queue.Empty:
                break
        if not acks:
            return
        now = time.monotonic()
        with store.write(db):
            for ack in acks:
                self.stats.confirmed += outbox.confirm(db, ack.committed)
                self.stats.rejected += outbox.reject(db, ack.rejected)
        for ack in acks:
            for event_id in [*ack.committed, *(r.id for r in ack.rejected)]:
                sent = inflight.pop(event_id, None)
                if sent is not None and self.record_latencies:
                    self.stats.ack_latencies.append(now - sent[1])
            for rejection in ack.rejected:
                logger.error("hub refused event %s: %s", rejection.id, rejection.reason)
        self.stats.last_ack_at = time.time()

    def _publish_status(self, db: Database) -> None:
        status = self._status("online", outbox.depth(db))
        self.bus.publish(self._status_topic, encode(status), retain=True)
