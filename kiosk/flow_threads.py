"""The threads the kiosk's flows run on, and the camera preview they show.

``Worker`` does a flow's slow work (camera frames, fingerprint captures) off waitress's
threads; ``BadgeRelay`` is the one thread that waits for badges and hands each tap to the
flow on screen; ``Preview`` turns the newest frame a flow looked at into a small JPEG. Kept
apart from the flows (kiosk.identify, kiosk.enrolment_station, ...) that share them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import cv2

from kiosk.sensors import CardReader, Frame, SensorError

logger = logging.getLogger(__name__)

PREVIEW_WIDTH = 320
PREVIEW_QUALITY = 70


class Preview:
    """The newest frame a flow looked at, as a small JPEG for the screen's <img>.

    The JPEG is made once per frame, however often the page asks.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frame: Frame | None = None
        self._jpeg: tuple[float, bytes] | None = None

    def show(self, frame: Frame) -> None:
        with self._lock:
            self._frame = frame

    def clear(self) -> None:
        with self._lock:
            self._frame = None
            self._jpeg = None

    def jpeg(self) -> bytes | None:
        with self._lock:
            frame = self._frame
            if frame is None:
                return None
            if self._jpeg is not None and self._jpeg[0] == frame.captured_at:
                return self._jpeg[1]
            height, width = frame.pixels.shape[:2]
            scale = min(1.0, PREVIEW_WIDTH / width)
            pixels = frame.pixels
            if scale < 1.0:
                size = (PREVIEW_WIDTH, max(1, round(height * scale)))
                pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
            done, encoded = cv2.imencode(
                ".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, PREVIEW_QUALITY]
            )
            if not done:
                return None
            self._jpeg = (frame.captured_at, encoded.tobytes())
            return self._jpeg[1]


class Worker:
    """A thread that calls ``step`` while ``wanted()``; it sleeps while nothing is wanted and
    wakes on ``wake()``. ``step`` returns whether it did anything (else a short pause)."""

    IDLE_WAIT = 0.5
    NOTHING_DONE_PAUSE = 0.02

    def __init__(self, name: str, step: Callable[[], bool], wanted: Callable[[], bool]) -> None:
        self._step = step
        self._wanted = wanted
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stopping.is_set():
            if not self._wanted():
                self._wake.wait(self.IDLE_WAIT)
                self._wake.clear()
                continue
            if not self._step():
                self._stopping.wait(self.NOTHING_DONE_PAUSE)


class BadgeRelay:
    """The one thread that waits for badges (a PC/SC reader is not thread-safe) and hands each
    tap to the flow on screen: ``deliver_to(flow.present_badge)``; None drops taps.

    An unreadable badge or a reader fault is kept in ``problem`` (plain words for the
    screen) until the next good tap.
    """

    def __init__(self, reader: CardReader, *, poll: float = 0.5) -> None:
        self._reader = reader
        self._poll = poll
        self._target: Callable[[str], object] | None = None
        self._lock = threading.Lock()
        self.problem: str | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="badge-relay", daemon=True)

    def deliver_to(self, target: Callable[[str], object] | None) -> None:
        with self._lock:
            self._target = target

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self._poll + 5)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                tap = self._reader.wait_for_card(self._poll)
            except SensorError as error:
                self.problem = str(error)
                self._stopping.wait(1.0)  # the reader retries itself; do not spin
                continue
            if tap is None:
                continue
            self.problem = None
            with self._lock:
                target = self._target
            if target is not None:
                try:
                    target(tap.uid)
                except Exception:
                    logger.exception("a badge tap could not be handled")
