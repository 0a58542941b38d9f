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
CLOSED = "The camera has been closed; restart the kiosk."


class Picamera2Camera:
    """The Raspberry Pi camera. picamera2 keeps the newest frame, and a read takes that one.

    After a camera fault the next read opens the camera again, so it comes back by itself
    once the fault clears.
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
        self._problem: str | None = None
        self._closed = False
        self._camera: Any = self._open()

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

    def read(self, timeout: float = 2.0) -> Frame:
        if self._closed:
            raise SensorError(CLOSED)
        if self._camera is None:
            try:
                self._camera = self._open()
            except SensorError as exc:
                self._problem = str(exc)
                raise
        try:
            job = self._camera.capture_array("main", wait=False)
            pixels = job.get_result(timeout=timeout)
        except Exception as exc:
            self._drop_camera()
            if isinstance(exc, TimeoutError):
                self._problem = "The Pi camera stopped sending images; check its ribbon cable."
            else:
                self._problem = f"The Pi camera failed ({exc}); it will be opened again."
            raise SensorError(self._problem) from None
        captured_at = time.monotonic()
        self._problem = None
        return Frame(np.ascontiguousarray(pixels[:, :, :3]), captured_at, self.source)

    def _drop_camera(self) -> None:
        """Cancel the stuck capture and close the camera, so the next read starts afresh."""
        camera, self._camera = self._camera, None
        try:
            camera.cancel_all_and_flush()
            camera.close()
        except Exception:
            logger.exception("closing the Pi camera after a fault failed")

    def health(self) -> SensorHealth:
        if self._closed:
            return SensorHealth(ok=False, detail=CLOSED)
        if self._problem:
            return SensorHealth(ok=False, detail=self._problem)
        return SensorHealth(ok=True)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._camera is not None:
            camera, self._camera = self._camera, None
            camera.close()


class OpenCVCamera:
    """A USB webcam (or a video file or stream) read by a thread that keeps only the newest frame.

    A slow reader gets the newest image, never a backlog. A lost camera is reported through
    health() and read(), and opened again every retry_every seconds until it comes back. A
    video file plays at its own frame rate, as a camera would deliver it, and starts again at
    its end.
    """

    def __init__(self, config: OpenCVConfig) -> None:
        self._device = _capture_argument(config.device)
        self._name = _describe(self._device)
        self.source = f"opencv:{self._name}"
        self._size = (config.width, config.height)
        self._retry_every = config.retry_every
        self._changed = threading.Condition()
        self._latest: Frame | None = None  # the one frame kept: a slow reader never builds a queue
        self._last_frame_at = time.monotonic()  # grace period while the camera starts
        self._last_returned_at = -math.inf
        self._problem: str | None = None
        self._closed = False
        self._stopping = threading.Event()
        first = self._open()  # here, so health() is right from the start
        self._thread = threading.Thread(
            target=self._run, args=(first,), name=f"camera {self._name}", daemon=True
        )
        self._thread.start()

    def read(self, timeout: float = 2.0) -> Frame:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                if self._closed:
                    raise SensorError(CLOSED)
                frame = self._latest
                if frame is not None and frame.captured_at > self._last_returned_at:
                    self._last_returned_at = frame.captured_at
                    return frame
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise SensorError(self._problem or self._stopped())
                self._changed.wait(remaining)

    def health(self) -> SensorHealth:
        with self._changed:
            if self._closed:
                return SensorHealth(ok=False, detail=CLOSED)
            if self._problem:
                return SensorHealth(ok=False, detail=self._problem)
            if time.monotonic() - self._last_frame_at > STALE_AFTER:
                return SensorHealth(ok=False, detail=self._stopped())
            return SensorHealth(ok=True)

    def close(self) -> None:
        with self._changed:
            if self._closed:
                return
            self._closed = True
            self._changed.notify_all()
        self._stopping.set()
        self._thread.join(timeout=5)
        if self._thread.is_alive():
            logger.warning("camera %s: the capture thread did not stop in time", self._name)

    def _stopped(self) -> str:
        return f"The camera ({self._name}) stopped sending images; check its cable."

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
                logger.exception("camera %s failed", self._name)
                self._report(f"The camera ({self._name}) failed ({exc}); trying again.")
                capture = None
                if self._stopping.wait(self._retry_every):
                    break
        if capture is not None:  # opened just as close() was called
            capture.release()

    def _open(self) -> cv2.VideoCapture | None:
        missing = _missing_device(self._device)
        if missing:
            self._report(f"The camera is not connected ({missing} is missing); check its cable.")
            return None
        capture = cv2.VideoCapture(self._device)
        if not capture.isOpened():
            capture.release()
            self._report(
                f"The camera ({self._name}) cannot be opened; check its cable, "
                "and that no other program is using it."
            )
            return None
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, self._size[0])
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self._size[1])
        return capture

    def _stream(self, capture: cv2.VideoCapture) -> int:
        """Grab frames until the camera fails or close() is called; returns how many came."""
        period = self._file_frame_period(capture)
        delivered = 0
        due = time.monotonic()
        try:
            while not self._stopping.is_set() and capture.grab():
                captured_at = time.monotonic()
                ok, pixels = capture.retrieve()
                if not ok or pixels is None:
                    break
                bgr = _as_bgr(pixels)
                if bgr is None:
                    self._report(
                        f"The camera ({self._name}) sends images of a kind the kiosk cannot "
                        f"use ({pixels.dtype} {pixels.shape})."
                    )
                    return 0
                delivered += 1
                self._publish(Frame(bgr, captured_at, self.source))
                if period is not None:  # never bursts to catch up after a slow frame
                    due = max(due + period, time.monotonic() - period)
                    self._stopping.wait(max(0.0, due - time.monotonic()))
        finally:
            capture.release()
        if not delivered and not self._stopping.is_set():
            self._report(
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

    def _publish(self, frame: Frame) -> None:
        with self._changed:
            if self._problem:
                logger.info("camera %s is back", self._name)
            self._latest = frame
            self._last_frame_at = frame.captured_at
            self._problem = None
            self._changed.notify_all()

    def _report(self, problem: str) -> None:
        with self._changed:
            if problem != self._problem:
                logger.warning("camera %s: %s", self._name, problem)
            self._problem = problem
            self._latest = None
            self._changed.notify_all()


class ReplayCamera:
    """Recorded images played back as a camera: a video file, one image, or a folder of images.

    Frames come in sorted path order; folders are searched recursively, so faces-dev's
    <person>/<image> layout replays person by person. With fps set, frames follow the clock
    as a camera's do (a slow reader skips the frames it missed); without, each read gets the
    next frame at once.
    """

    def __init__(self, config: ReplayConfig) -> None:
        path = config.path
        self.source = f"replay:{path}"
        self._path = path
        self._fps = config.fps
        self._loop = config.loop
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
        if self._fps is not None:
            now = time.monotonic()
            if self._started_at is None:
                self._started_at = now
            index = max(index, math.floor((now - self._started_at) * self._fps))
            wait = self._started_at + index / self._fps - now
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
        return Frame(pixels, time.monotonic(), self.source)

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
