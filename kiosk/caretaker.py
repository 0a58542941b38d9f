"""Keeps the caches current, one job at a time: syncs (on start, on the hub's command,
periodically) and the hub's other commands (wipe caches, change mode, rotate the key).

One thread owns every cache write, so a wipe never interleaves with a sync.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from kiosk import caches, model_files, store
from kiosk.bus import BusUnavailable, Message, MqttBus
from kiosk.config import KioskConfig
from kiosk.sync import SyncError, SyncReport, purge_old_copies, sync
from kiosk.vault import TemplateVault
from protocol import Command, ProtocolError, decode_message

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    kind: str  # "sync", "wipe_caches", "set_mode", "rotate_cache_key"
    mode: str | None = None


class Caretaker:
    def __init__(
        self,
        config: KioskConfig,
        bus: MqttBus,
        vault: TemplateVault,
        *,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.config = config
        self.bus = bus
        self.vault = vault
        self.on_change = on_change  # e.g. publish a fresh status
        self.last_report: SyncReport | None = None
        self.last_error: str | None = None
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()
        self._count_lock = threading.Lock()
        self._pending = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="kiosk-caretaker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._jobs.put(None)
        if self._thread is not None:
            self._thread.join(timeout=30)

    def request(self, job: Job) -> None:
        with self._count_lock:
            self._pending += 1
            self._idle.clear()
        self._jobs.put(job)

    def wait_idle(self, timeout: float) -> bool:
        """True once every requested job has run (for tests and the CLI)."""
        return self._idle.wait(timeout)

    def on_command(self, message: Message) -> None:
        """The hub's command on our cmd topic; one addressed to another kiosk is ignored."""
        try:
            command = decode_message(message.payload, Command)
        except ProtocolError as exc:
            logger.error("ignored a malformed command: %s", exc)
            return
        if (command.site, command.device) != (self.config.site, self.config.device):
            logger.warning("ignored a command for %s/%s", command.site, command.device)
            return
        if command.kind == "set_mode" and command.mode is None:
            logger.error("ignored a set_mode command without a mode")
            return
        self.request(Job(command.kind, command.mode))

    def _run(self) -> None:
        while True:
            try:
                db = store.open_store(self.config.store_path)
                caches.settle_rotation(db, self.vault)
                purge_old_copies(db)
                break
            except Exception as exc:
                self.last_error = f"the kiosk cannot open its local store ({exc}); retrying"
                logger.exception("cannot open the store")
                time.sleep(5)
        retry_in = 0.0
        try:
            while True:
                # After a failed sync, try again soon (10 s, doubling), not at the next period.
                wait = min(retry_in, self.config.sync.every) if retry_in else self.config.sync.every
                try:
                    job = self._jobs.get(timeout=wait)
                except queue.Empty:
                    job = Job("sync")  # periodic
                    with self._count_lock:
                        self._pending += 1
                if job is None:
                    return
                try:
                    self._do(db, job)
                    self.last_error = None
                    retry_in = 0.0
                except (SyncError, BusUnavailable, caches.CacheError, ProtocolError) as exc:
                    self.last_error = str(exc)
                    logger.error("%s failed: %s", job.kind, exc)
                    if job.kind == "sync":
                        retry_in = min(retry_in * 2, self.config.sync.every) if retry_in else 10.0
                except Exception as exc:
                    self.last_error = f"{job.kind} failed: {exc}"
                    logger.exception("%s failed", job.kind)
                finally:
                    try:
                        purge_old_copies(db)  # also after a failed sync's committed pages
                    except Exception:
                        logger.exception("could not purge the WAL")
                    with self._count_lock:
                        self._pending -= 1
                        if self._pending == 0:
                            self._idle.set()
        finally:
            db.close()

    def _do(self, db: store.Database, job: Job) -> None:
        if job.kind == "sync":
            if not self.bus.connected:
                raise BusUnavailable("no connection to the hub; the kiosk works from its cache")
            self.last_report = sync(
                db,
                self.bus,
                self.vault,
                site=self.config.site,
                device=self.config.device,
                limit=self.config.sync.page_size,
                timeout=self.config.sync.timeout,
                models_dir=model_files.models_dir(self.config.data_dir),
            )
            logger.info("synced: %s", self.last_report)
        elif job.kind == "wipe_caches":
            with store.write(db):
                caches.wipe(db)
                caches.set_setting(db, "purge_pending", "1")
            logger.warning("caches wiped on the hub's command; unsent events are kept")
        elif job.kind == "set_mode":
            with store.write(db):
                caches.set_setting(db, "mode", job.mode)
            logger.info("mode changed to %s on the hub's command", job.mode)
        elif job.kind == "rotate_cache_key":
            new_key = self.vault.begin_rotation()
            locked = False
            try:
                with store.write(db):
                    count = caches.reencrypt_sealed(db, self.vault, new_key)
                    caches.set_setting(db, "purge_pending", "1")  # old ciphertexts in the WAL
                    # From the commit to finish_rotation, sealing waits (the UI saves drafts
                    # meanwhile): anything sealed after the commit must use the new key. Taken
                    # inside the transaction, so no one holding the store's write lock waits.
                    self.vault.rotation_lock.acquire()
                    locked = True
                self.vault.finish_rotation()
            finally:
                if locked:
                    self.vault.rotation_lock.release()
            logger.info("cache key rotated; %d sealed values re-encrypted", count)
        self.on_change()
