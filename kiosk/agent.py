"""The kiosk agent: owns the bus, drains the outbox and publishes the kiosk's status.

Delivery (ARCHITECTURE.md §3): events are published QoS 1 in ``seq`` order with at
most ``window`` unacknowledged; an event leaves the outbox only when the hub's
``ack`` names it; anything unacknowledged after ``resend_after`` seconds, or when
the connection drops, is sent again. Duplicates are harmless: the hub's ingest
is idempotent by event id.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

from sqlite_utils import Database

from kiosk import __version__, caches, drafts, model_files, outbox, store, withdrawn
from kiosk.bus import BusUnavailable, Message, MqttBus
from kiosk.caretaker import Caretaker, Job
from kiosk.config import KioskConfig
from kiosk.sensors import SensorHealth
from kiosk.sensors.registry import open_camera, open_card_reader, open_fingerprint_sensor
from kiosk.vault import TemplateVault
from protocol import Ack, ProtocolError, Status, decode_message, encode, topics, utc_now
from protocol.sdnotify import Watchdog, notify

if TYPE_CHECKING:
    from kiosk.recognition.face import FacePipeline

logger = logging.getLogger(__name__)


class Inflight:
    """Events published and not yet acknowledged, with a per-event resend back-off.

    The first resend comes after ``resend_after`` seconds, then after twice that, and so on
    up to five minutes: a slow hub is not flooded with copies of what it is still working on.
    """

    MAX_WAIT = 300.0

    def __init__(self, resend_after: float) -> None:
        self.resend_after = resend_after
        self._events: dict[str, tuple[int, float, int]] = {}  # id → (seq, sent at, sends)

    def __len__(self) -> int:
        return len(self._events)

    def clear(self) -> None:
        self._events.clear()

    def sent(self, event_id: str, seq: int, at: float) -> None:
        sends = self._events[event_id][2] + 1 if event_id in self._events else 1
        self._events[event_id] = (seq, at, sends)

    def done(self, event_id: str) -> float | None:
        """Forget an acknowledged event; return when it was last sent."""
        entry = self._events.pop(event_id, None)
        return None if entry is None else entry[1]

    def overdue(self, now: float) -> list[str]:
        """Ids to send again, in seq order."""
        due = [
            (seq, event_id)
            for event_id, (seq, at, sends) in self._events.items()
            if now - at > min(self.resend_after * 2 ** (sends - 1), self.MAX_WAIT)
        ]
        return [event_id for _, event_id in sorted(due)]


@dataclass
class DeliveryStats:
    """What the agent has seen since it started; shown on the status page and in benches."""

    published: int = 0
    resent: int = 0
    confirmed: int = 0
    rejected: int = 0
    ack_latencies: list[float] = field(default_factory=list)


class _Closable(Protocol):
    def close(self) -> None: ...


S = TypeVar("S", bound=_Closable)


def _closed_on_failure(undo: contextlib.ExitStack, sensor: S | None) -> S | None:
    if sensor is not None:
        undo.callback(sensor.close)
    return sensor


class Agent:
    """Process wiring for one kiosk. ``start()`` returns at once; ``stop()`` is clean."""

    def __init__(self, config: KioskConfig, *, status_every: float = 30.0) -> None:
        self.config = config
        self.status_every = status_every
        self.stats = DeliveryStats()
        self.record_latencies = False
        self.problem: str | None = None  # what is wrong right now, in plain words
        self._acks: queue.SimpleQueue[Ack] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._reset_inflight = threading.Event()
        self._thread: threading.Thread | None = None
        self._watchdog = Watchdog.from_environment()  # systemd's WatchdogSec=, if any
        self.bus = MqttBus(
            client_id=f"masar-kiosk:{config.site}:{config.device}",  # ':' is in no id
            broker=config.broker,
            will=(self._status_topic, encode(self._status("offline", None))),
        )
        withdrawn.watch(self.bus, config.data_dir)  # a revoked certificate: withdrawn for good
        self.bus.subscribe(topics.ack_topic(config.site, config.device), self._on_ack)
        self.bus.on_connected.append(self._on_connected)
        self.bus.on_disconnected.append(self._reset_inflight.set)
        self.vault = TemplateVault(config.key_path, create=config.cache_key_file is None)
        self.caretaker = Caretaker(config, self.bus, self.vault, on_change=self._refresh_status)
        self.bus.subscribe(topics.cmd_topic(config.site, config.device), self.caretaker.on_command)
        # Answers are matched to their request by correlation data (MqttBus.request).
        self.bus.subscribe(
            topics.sync_response_topic(config.site, config.device), self._on_stray_answer
        )
        self.bus.subscribe(
            topics.model_response_topic(config.site, config.device), self._on_stray_answer
        )
        self._refresh = threading.Event()
        # The camera is opened here, with the process, so that its health is in the status
        # before anyone stands in front of it (a lost camera is retried by its driver).
        with contextlib.ExitStack() as undo:  # a sensor that fails closes those opened
            camera, reader, finger = config.camera, config.badge_reader, config.fingerprint
            self.camera = _closed_on_failure(undo, open_camera(camera) if camera else None)
            self.badge_reader = _closed_on_failure(
                undo, open_card_reader(reader) if reader else None
            )
            self.fingerprint = _closed_on_failure(
                undo, open_fingerprint_sensor(finger) if finger else None
            )
            undo.pop_all()
        self._face_pipeline: FacePipeline | None = None
        self._face_pipeline_lock = threading.Lock()

    def face_pipeline(self) -> FacePipeline | None:
        """The face pipeline on this kiosk's model files, opened at its first use and kept;
        None while a model file is missing or refused (tried again at the next call: the hub
        sends the files at sync). Opened lazily so the agent starts without onnxruntime."""
        from kiosk.recognition.face import FacePipeline
        from kiosk.recognition.models import ModelHashMismatchError, ModelMissingError

        with self._face_pipeline_lock:
            if self._face_pipeline is None:
                try:
                    self._face_pipeline = FacePipeline.open(
                        model_files.models_dir(self.config.data_dir)
                    )
                except (ModelMissingError, ModelHashMismatchError) as error:
                    logger.warning("faces cannot be used: %s", error)
            return self._face_pipeline

    @property
    def _status_topic(self) -> str:
        return topics.status_topic(self.config.site, self.config.device)

    def _status(self, state: str, depth: int | None, db: Database | None = None) -> Status:
        if state == "offline":  # the Last Will: fixed before connecting, so nothing that varies
            return Status(site=self.config.site, device=self.config.device, state="offline")
        problems = [
            p[:500] for p in (self.problem, self.caretaker.last_error, self.bus.refused) if p
        ]
        return Status.model_validate(
            {
                "site": self.config.site,
                "device": self.config.device,
                "state": state,
                "at": utc_now(),
                "software_version": __version__,
                "mode": self.mode(db) if db is not None else self.config.mode,
                "model_hashes": model_files.present_models(
                    model_files.models_dir(self.config.data_dir)
                ),
                "outbox_depth": depth,
                "last_sync_at": caches.get_setting(db, "last_sync_at") if db else None,
                "sensors": self.sensor_health(),
                "problems": problems,
            }
        )

    def sensor_health(self) -> dict[str, SensorHealth]:
        """Each configured sensor: ok, or what is wrong in words staff can act on."""
        sensors = {
            "camera": self.camera,
            "badge_reader": self.badge_reader,
            "fingerprint": self.fingerprint,
        }
        return {name: sensor.health() for name, sensor in sensors.items() if sensor is not None}

    def mode(self, db: Database) -> str:
        """The mode the hub set last, or the configured one."""
        return caches.get_setting(db, "mode") or self.config.mode

    def _refresh_status(self) -> None:
        self._refresh.set()
        self._wake.set()

    def _on_stray_answer(self, message: Message) -> None:
        logger.info("ignored an answer on %s nobody waits for (late or duplicate)", message.topic)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="kiosk-agent", daemon=True)
        self._thread.start()
        self.caretaker.start()
        self.bus.start()

    def stop(self) -> None:
        notify("STOPPING=1")
        self._stopping.set()
        self._wake.set()
        self.caretaker.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.bus.stop(last_words=(self._status_topic, encode(self._status("offline", None))))
        for sensor in (self.camera, self.badge_reader, self.fingerprint):
            if sensor is not None:
                sensor.close()

    # --- callbacks from paho's thread: hand over, never touch the store there ---------------

    def _on_ack(self, message: Message) -> None:
        try:
            ack = decode_message(message.payload, Ack)
        except ProtocolError as exc:
            logger.error("ignored a malformed ack: %s", exc)
            return
        if (ack.site, ack.device) != (self.config.site, self.config.device):
            logger.error("ignored an ack addressed to %s/%s", ack.site, ack.device)
            return
        self._acks.put(ack)
        self._wake.set()

    def _on_connected(self) -> None:
        self._reset_inflight.set()
        self._wake.set()
        self.caretaker.request(Job("sync"))  # on start and after every reconnect

    # --- the agent's own thread ---------------------------------------------------------------

    def _run(self) -> None:
        """Keep draining whatever happens: a store error is reported, waited out and retried."""
        pause = 1.0
        while not self._stopping.is_set():
            try:
                db = store.open_store(self.config.store_path)
                notify("READY=1")  # store open, UI socket bound; a repeat is ignored
                try:
                    self._loop(db)
                finally:
                    db.close()
            except Exception as error:
                self.problem = f"the kiosk cannot use its local store ({error}); retrying"
                logger.exception("kiosk agent error; retrying in %.0fs", pause)
                with contextlib.suppress(BusUnavailable):
                    self.bus.publish(
                        self._status_topic, encode(self._status("online", None)), retain=True
                    )
                self._watchdog.wait(self._stopping, pause)
                pause = min(pause * 2, 30.0)

    def _loop(self, db: Database) -> None:
        inflight = Inflight(self.config.outbox.resend_after)
        sent_up_to = 0
        next_status = 0.0
        window = self.config.outbox.window
        while not self._stopping.is_set():
            self._watchdog.kick()
            self._wake.wait(timeout=0.2)
            self._wake.clear()
            self._apply_acks(db, inflight)
            self.problem = None
            if self._reset_inflight.is_set():
                # (Re)connected or disconnected: whatever was in flight may be lost; send it all
                # again, in seq order, once connected.
                self._reset_inflight.clear()
                inflight.clear()
                sent_up_to = 0
                next_status = 0.0
            if not self.bus.connected:
                continue
            try:
                now = time.monotonic()
                if now >= next_status or self._refresh.is_set():
                    self._refresh.clear()
                    self._publish_status(db)
                    next_status = now + self.status_every
                overdue = inflight.overdue(now)
                if overdue:
                    logger.warning("no ack for %d event(s); sending them again", len(overdue))
                    self._resend(db, overdue, inflight)
                room = window - len(inflight)
                if room > 0:
                    for event in outbox.pending(db, after_seq=sent_up_to, limit=room):
                        self._publish(event, inflight)
                        sent_up_to = event.seq
            except BusUnavailable:
                self._reset_inflight.set()

    def _publish(self, event: outbox.OutboxEvent, inflight: Inflight) -> None:
        topic = topics.event_topic(self.config.site, self.config.device, event.type)
        self.bus.publish(topic, event.payload)
        inflight.sent(event.id, event.seq, time.monotonic())
        self.stats.published += 1

    def _resend(self, db: Database, overdue: list[str], inflight: Inflight) -> None:
        for event_id in overdue:
            row = db.execute(
                "SELECT seq, id, type, payload FROM outbox WHERE id = ?", [event_id]
            ).fetchone()
            if row is None:
                inflight.done(event_id)
                continue
            self._publish(outbox.OutboxEvent(row[0], row[1], row[2], bytes(row[3])), inflight)
            self.stats.resent += 1

    def _apply_acks(self, db: Database, inflight: Inflight) -> None:
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
                drafts.cap_at_arrival(db, self.vault, ack.committed, ack.at)
                self.stats.confirmed += outbox.confirm(db, ack.committed)
                self.stats.rejected += outbox.reject(db, ack.rejected)
        for ack in acks:
            for event_id in [*ack.committed, *(r.id for r in ack.rejected)]:
                sent_at = inflight.done(event_id)
                if sent_at is not None and self.record_latencies:
                    self.stats.ack_latencies.append(now - sent_at)
            for rejection in ack.rejected:
                logger.error("hub refused event %s: %s", rejection.id, rejection.reason)

    def _publish_status(self, db: Database) -> None:
        status = self._status("online", outbox.depth(db), db)
        self.bus.publish(self._status_topic, encode(status), retain=True)
