"""Camera drivers: the Pi camera (picamera2), USB webcams (OpenCV) and recorded images (replay).

picamera2 is imported only inside its driver: it exists on a Raspberry Pi (apt
python3-picamera2, in a virtualenv made with --system-site-packages) and nowhere else.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

from kiosk.config import OpenCVConfig, Picamera2Config, ReplayConfig
from kiosk.sensors import Frame, SensorError, SensorHealth

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".bmp", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp"})
STALE_AFTER = 3.0  # seconds without an image before a running camera counts as stopped
READER_ACTIVE_FOR = 3.0  # seconds after a read during which frames are decoded for the reader
CLOSED = "The camera has been closed; restart the kiosk."

PI_STOPPED = "The Pi camera stopped sending images; check its ribbon cable."
PI_RETRY_EVERY = 2.0  # seconds between attempts to open a missing or failed Pi camera
PI_CHECK_EVERY = 1.0  # seconds between the captures that check an idle Pi camera (< STALE_AFTER)
PI_CAPTURE_TIMEOUT = 2.0  # seconds a Pi camera may take for one frame before it counts as stopped


class _NewestFrame:
    """The one frame a camera thread keeps for readers, and what health() says.

    Both live drivers (Pi and OpenCV) keep their promises through this one piece, so the tests
    on the OpenCV driver also check the Pi driver's reads, health and closing.
    """

    def __init__(self, name: str, stopped: str) -> None:
        self._name = name
        self._stopped = stopped  # the message once images stop coming
        self._changed = threading.Condition()
        self._latest: Frame | None = None  # the one frame kept: a slow reader never builds a queue
        self._last_frame_at = time.monotonic()  # grace period while the camera starts
        self._last_returned_at = -math.inf
        self._asked_at = -math.inf
        self._waiting = 0  # readers inside read()
        self._problem: str | None = None
        self._closed = False

    def read(self, timeout: float) -> Frame:
        deadline = time.monotonic() + timeout
        with self._changed:
            if self._closed:
                raise SensorError(CLOSED)
            now = time.monotonic()
            if not self._reader_active(now):  # what an idle camera kept is old: wait for a new one
                self._last_returned_at = max(self._last_returned_at, now)
            self._asked_at = now
            self._waiting += 1
            self._changed.notify_all()  # wakes a camera thread idling in wait_for_reader()
            try:
                while True:
                    if self._closed:
                        raise SensorError(CLOSED)
                    frame = self._latest
                    if frame is not None and frame.captured_at > self._last_returned_at:
                        self._last_returned_at = frame.captured_at
                        return frame
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise SensorError(self._problem or self._stopped)
                    self._changed.wait(remaining)
            finally:
                self._waiting -= 1

    def health(self) -> SensorHealth:
        with self._changed:
            if self._closed:
                return SensorHealth(ok=False, detail=CLOSED)
            if self._problem:
                return SensorHealth(ok=False, detail=self._problem)
            if time.monotonic() - self._last_frame_at > STALE_AFTER:
                return SensorHealth(ok=False, detail=self._stopped)
            return SensorHealth(ok=True)

    def close(self) -> bool:
        """Refuse reads from now on; False when it was closed already."""
        with self._changed:
            if self._closed:
                return False
            self._closed = True
            self._changed.notify_all()
            return True

    def reader_active(self) -> bool:
        """Whether someone reads now, so the camera thread should decode every frame."""
        with self._changed:
            return self._reader_active(time.monotonic())

    def _reader_active(self, now: float) -> bool:
        return self._waiting > 0 or now - self._asked_at < READER_ACTIVE_FOR

    def wait_for_reader(self, timeout: float) -> None:
        """Sleep up to timeout seconds, waking at once when a read comes or on close."""
        with self._changed:
            self._changed.wait_for(
                lambda: self._closed or self._reader_active(time.monotonic()), timeout
            )

    def publish(self, frame: Frame) -> None:
        with self._changed:
            if self._problem:
                logger.info("camera %s is back", self._name)
            self._latest = frame
            self._last_frame_at = frame.captured_at
            self._problem = None
            self._changed.notify_all()

    def skipped(self, captured_at: float) -> None:
        """The camera delivered an image nobody wanted: it is alive, and what is kept is old."""
        with self._changed:
            self._latest = None
            self._last_frame_at = captured_at

    def report(self, problem: str, *, exc_info: bool = False) -> None:
        with self._changed:
            if problem != self._problem:  # logged once, not at every retry
                logger.warning("camera %s: %s", self._name, problem, exc_info=exc_info)
            self._problem = problem
            self._latest = None
            self._changed.notify_all()


class _CapturingCamera:
    """What the live drivers share: one thread owns the device and hands over the newest
    frame through ``_frames``; read, health and close only talk to that."""

    _frames: _NewestFrame
    _stopping: threading.Event
    _thread: threading.Thread
    _label: str

    def _start(self, run: Callable[[Any], None], first: Any) -> None:
        self._thread = threading.Thread(
            target=run, args=(first,), name=f"camera {self._label}", daemon=True
        )
        self._thread.start()

    def read(self, timeout: float = 2.0) -> Frame:
        return self._frames.read(timeout)

    def health(self) -> SensorHealth:
        return self._frames.health()

    def close(self) -> None:
        self._stopping.set()
        if self._frames.close():
            self._thread.join(timeout=5)
            if self._thread.is_alive():
                logger.warning("camera %s: the capture thread did not stop in time", self._label)


class Picamera2Camera(_CapturingCamera):
    """The Raspberry Pi camera, captured by a thread that keeps only the newest frame.

    While someone reads, every frame is captured; otherwise one a second, so health() notices a
    camera that stops even when nobody reads. A camera missing at start or failing later is
    opened again every PI_RETRY_EVERY seconds: the kiosk keeps running and its status says
    what is wrong.
    """

    def __init__(self, config: Picamera2Config) -> None:
        self.source = f"picamera2:{config.camera_num}"
        self._config = config
        try:
            from picamera2 import Picamera2  # type: ignore[import-not-found, unused-ignore]
        except ImportError:
            raise SensorError(
                "The Pi camera software is not installed on this kiosk. A technician must run "
                "'sudo apt install python3-picamera2' and make the kiosk's virtualenv with "
                "--system-site-packages."
            ) from None
        self._picamera2: Any = Picamera2
        self._label = self.source
        self._frames = _NewestFrame(self.source, stopped=PI_STOPPED)
        self._stopping = threading.Event()
        self._start(self._run, self._try_open())  # opened here: health() right from the start

    def _run(self, camera: Any) -> None:
        """Capture while the camera works; after a fault, open it again until it comes back.

        Only this thread touches the camera, so close() cannot pull it away mid-capture.
        """
        while not self._stopping.is_set():
            if camera is None:
                if self._stopping.wait(PI_RETRY_EVERY):
                    break
                camera = self._try_open()
                continue
            try:
                job = camera.capture_array("main", wait=False)
                pixels = job.get_result(timeout=PI_CAPTURE_TIMEOUT)
                frame = Frame(np.ascontiguousarray(pixels[:, :, :3]), time.monotonic(), self.source)
            except Exception as exc:  # libcamera reports faults with several types
                if isinstance(exc, TimeoutError):
                    self._frames.report(PI_STOPPED)
                else:
                    self._frames.report(
                        f"The Pi camera failed ({exc}); it will be opened again.", exc_info=True
                    )
                _close_after_fault(camera)
                camera = None
                continue
            self._frames.publish(frame)
            self._frames.wait_for_reader(PI_CHECK_EVERY)
        if camera is not None:
            camera.close()

    def _try_open(self) -> Any:
        """The started camera, or None once the reason is reported."""
        try:
            return self._open()
        except SensorError as exc:
            self._frames.report(str(exc))
        except Exception as exc:  # picamera2 fails in ways its documentation does not list
            self._frames.report(
                f"The Pi camera cannot be opened ({exc}); it will be tried again.", exc_info=True
            )
        return None

    def _open(self) -> Any:
        config = self._config
        if config.camera_num >= len(self._picamera2.global_camera_info()):
            raise SensorError(
                f"The Pi camera (number {config.camera_num}) is not connected; "
                "check its ribbon cable, then restart the kiosk."
            )
        try:
            camera = self._picamera2(config.camera_num)
        except RuntimeError as exc:
            raise SensorError(
                f"The Pi camera cannot be opened ({exc}); check that no other program uses it."
            ) from None
        try:
            controls: dict[str, Any] = {}
            if "FrameDurationLimits" in camera.camera_controls:
                period_us = round(1_000_000 / config.fps)
                controls["FrameDurationLimits"] = (period_us, period_us)
            # "RGB888" is picamera2's name for pixels stored B, G, R: OpenCV's order.
            size = (config.width, config.height)
            camera.configure(
                camera.create_video_configuration(
                    main={"size": size, "format": "RGB888"}, controls=controls
                )
            )
            camera.start()
        except Exception as exc:  # libcamera reports sizes and busy devices with several types
            camera.close()
            raise SensorError(
                f"The Pi camera cannot start at {config.width}x{config.height} ({exc})."
            ) from None
        return camera


def _close_after_fault(camera: Any) -> None:
    """Cancel a stuck capture and close the Pi camera, so the next attempt starts afresh."""
    try:
        camera.cancel_all_and_flush()
        camera.close()
    except Exception:
        logger.exception("closing the Pi camera after a fault failed")


class OpenCVCamera(_CapturingCamera):
    """A USB webcam (or a video file or stream) read by a thread that keeps only the newest frame.

    A slow reader gets the newest image, never a backlog. While nobody reads, frames are only
    grabbed (which keeps the stream fresh and shows the camera is alive), not decoded, so an
    idle kiosk does not spend a core on them. A lost camera is reported through health() and
    read(), and opened again every retry_every seconds until it comes back. A video file plays
    at its own frame rate, as a camera would deliver it, and starts again at its end.
    """

    def __init__(self, config: OpenCVConfig) -> None:
        self._device = _capture_argument(config.device)
        self._name = _describe(self._device)
        self.source = f"opencv:{self._name}"
        self._size = (config.width, config.height)
        self._retry_every = config.retry_every
        self._frames = _NewestFrame(
            self._name,
            stopped=f"The camera ({self._name}) stopped sending images; check its cable.",
        )
        self._stopping = threading.Event()
        self._label = self._name
        self._start(self._run, self._open())  # opened here: health() right from the start

    def _run(self, capture: cv2.VideoCapture | None) -> None:
        """Stream while the camera works; when it fails, open it again until it comes back."""
        while not self._stopping.is_set():
            try:
                if capture is not None:
                    delivered = self._stream(capture)  # releases the capture
                    capture = None
                    if delivered and not self._stopping.is_set():
                        capture = self._open()  # at once: a video file that ended, a glitch
                        continue
                if self._stopping.wait(self._retry_every):
                    break
                capture = self._open()
            except Exception as exc:  # an OpenCV fault must not end the thread
                self._frames.report(
                    f"The camera ({self._name}) failed ({exc}); trying again.", exc_info=True
                )
                capture = None
                if self._stopping.wait(self._retry_every):
                    break
        if capture is not None:  # opened just as close() was called
            capture.release()

    def _open(self) -> cv2.VideoCapture | None:
        missing = _missing_device(self._device)
        if missing:
            self._frames.report(
                f"The camera is not connected ({missing} is missing); check its cable."
            )
            return None
        capture = cv2.VideoCapture(self._device)
        if not capture.isOpened():
            capture.release()
            self._frames.report(
                f"The camera ({self._name}) cannot be opened; check its cable, "
                "and that no other program is using it."
            )
            return None
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, self._size[0])
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self._size[1])
        return capture

    def _stream(self, capture: cv2.VideoCapture) -> int:
        """Grab frames until the camera fails or close() is called; returns how many came.

        The first frame after opening is always decoded, to check the camera's image format.
        """
        period = self._file_frame_period(capture)
        delivered = 0
        due = time.monotonic()
        try:
            while not self._stopping.is_set() and capture.grab():
                captured_at = time.monotonic()
                if delivered and not self._frames.reader_active():
                    self._frames.skipped(captured_at)
                else:
                    ok, pixels = capture.retrieve()
                    if not ok or pixels is None:
                        break
                    bgr = _as_bgr(pixels)
                    if bgr is None:
                        self._frames.report(
                            f"The camera ({self._name}) sends images of a kind the kiosk cannot "
                            f"use ({pixels.dtype} {pixels.shape})."
                        )
                        return 0
                    self._frames.publish(Frame(bgr, captured_at, self.source))
                delivered += 1
                if period is not None:  # never bursts to catch up after a slow frame
                    due = max(due + period, time.monotonic() - period)
                    self._stopping.wait(max(0.0, due - time.monotonic()))
        finally:
            capture.release()
        if not delivered and not self._stopping.is_set():
            self._frames.report(
                f"The camera ({self._name}) is connected but sends no images; "
                "unplug it and plug it back in."
            )
        return delivered

    def _file_frame_period(self, capture: cv2.VideoCapture) -> float | None:
        """A video file plays at its own rate; a device or stream sets its own pace."""
        if not (isinstance(self._device, str) and Path(self._device).is_file()):
            return None
        fps = capture.get(cv2.CAP_PROP_FPS)
        return 1.0 / fps if math.isfinite(fps) and fps > 0 else 1.0 / 15


class ReplayCamera:
    """Recorded images played back as a camera: a video file, one image, or a folder of images.

    Frames come in sorted path order; folders are searched recursively, so faces-dev's
    <person>/<image> layout replays person by person. With fps set, frames follow the clock
    as a camera's do (a slow reader skips the frames it missed; with ``skip`` off, none is
    skipped and frame n is stamped n/fps after the first); without, each read gets the next
    frame at once.
    """

    def __init__(self, config: ReplayConfig) -> None:
        path = config.path
        self.source = f"replay:{path}"
        self._path = path
        self._fps = config.fps
        self._loop = config.loop
        self._skip = config.skip
        if not path.exists():
            raise SensorError(f"The recording {path} does not exist.")
        self._recording: _ImageFiles | _VideoFile
        if path.is_dir():
            images = sorted(
                p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
            )
            if not images:
                raise SensorError(
                    f"The recording {path} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})."
                )
            self._recording = _ImageFiles(images)
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            self._recording = _ImageFiles([path])
        else:
            self._recording = _VideoFile(path)
        self._next_index = 0
        self._started_at: float | None = None
        self._problem: str | None = None
        self._closed = False

    def read(self, timeout: float = 2.0) -> Frame:
        if self._closed:
            raise SensorError(CLOSED)
        index = self._next_index
        recorded_at: float | None = None
        if self._fps is not None:
            now = time.monotonic()
            if self._started_at is None:
                self._started_at = now
            if self._skip:
                index = max(index, math.floor((now - self._started_at) * self._fps))
            recorded_at = self._started_at + index / self._fps
            wait = recorded_at - now
            if wait > timeout:
                time.sleep(timeout)
                raise SensorError(
                    f"The recording gives its next image only in {wait:.1f} s (fps {self._fps})."
                )
            if wait > 0:
                time.sleep(wait)
        self._next_index = index + 1  # a damaged image is skipped on the next read
        try:
            pixels = self._recording.image(index, loop=self._loop)
        except SensorError as exc:
            self._problem = str(exc)
            raise
        if pixels is None:
            self._problem = f"The recording {self._path} has ended."
            raise SensorError(self._problem)
        self._problem = None
        stamp = time.monotonic() if self._skip or recorded_at is None else recorded_at
        return Frame(pixels, stamp, self.source)

    def health(self) -> SensorHealth:
        if self._closed:
            return SensorHealth(ok=False, detail=CLOSED)
        if self._problem:
            return SensorHealth(ok=False, detail=self._problem)
        return SensorHealth(ok=True)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._recording.close()


class _ImageFiles:
    """Images read from disk one at a time, so a long recording costs no memory."""

    def __init__(self, paths: list[Path]) -> None:
        self._paths = paths

    def image(self, index: int, *, loop: bool) -> np.ndarray | None:
        """The index-th image (wrapping round when looping); None once a recording has ended."""
        if index >= len(self._paths) and not loop:
            return None
        path = self._paths[index % len(self._paths)]
        pixels = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if pixels is None:
            raise SensorError(f"{path} cannot be read as an image (damaged, or not an image).")
        return pixels

    def close(self) -> None:
        pass


class _VideoFile:
    """A video decoded forwards; its length is learnt when the end is first reached."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._capture = self._open()
        self._position = 0  # the index of the frame the capture decodes next
        self._length: int | None = None

    def _open(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(str(self._path))
        if not capture.isOpened():
            capture.release()
            raise SensorError(f"{self._path} cannot be read as a video (damaged, or not a video).")
        return capture

    def _rewind(self) -> None:
        self._capture.release()
        self._capture = self._open()
        self._position = 0

    def image(self, index: int, *, loop: bool) -> np.ndarray | None:
        """The index-th frame (wrapping round when looping); None once a recording has ended."""
        while True:
            if self._length is not None and index >= self._length:
                if not loop:
                    return None
                index %= self._length
            if index < self._position:
                self._rewind()
            while self._position < index and self._capture.grab():
                self._position += 1
            if self._position == index:
                ok, pixels = self._capture.read()
                if ok and pixels is not None:
                    self._position += 1
                    return _as_bgr(pixels)
            if self._position == 0:
                raise SensorError(f"{self._path} holds no frames that can be read.")
            self._length = self._position  # the end: every frame before it has been seen

    def close(self) -> None:
        self._capture.release()


def _as_bgr(pixels: np.ndarray) -> np.ndarray | None:
    """BGR uint8 (H, W, 3) from what OpenCV hands back (grey and BGRA happen); None if unusable."""
    if pixels.dtype != np.uint8:
        return None
    if pixels.ndim == 2:
        return cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        return cv2.cvtColor(pixels, cv2.COLOR_BGRA2BGR)
    if pixels.ndim == 3 and pixels.shape[2] == 3:
        return pixels
    return None


def _capture_argument(device: int | str) -> int | str:
    """What VideoCapture takes: a camera number, or a path or URL ("2" means camera 2)."""
    if isinstance(device, str) and device.isdigit():
        return int(device)
    return device


def _describe(device: int | str) -> str:
    """The camera's name in messages and in Frame.source, without any password in a URL."""
    if isinstance(device, int):
        return f"/dev/video{device}" if sys.platform == "linux" else f"camera {device}"
    if "://" in device:
        parts = urlsplit(device)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return device


def _missing_device(device: int | str) -> str | None:
    """The device file or video file that is absent, if any (URLs are left to OpenCV)."""
    if isinstance(device, int):
        path = f"/dev/video{device}"
        return path if sys.platform == "linux" and not Path(path).exists() else None
    if "://" in device:
        return None
    return None if Path(device).exists() else device
