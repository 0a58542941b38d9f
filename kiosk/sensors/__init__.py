"""Hardware behind small interfaces: the camera, the badge reader and the fingerprint sensor.

Every sensor raises SensorError with a message written for staff, and says through health()
what is wrong, so the kiosk's status shows a broken camera before a detainee meets it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from protocol.messages import SensorHealth

__all__ = [
    "BadgeReaderError",
    "Camera",
    "CardReader",
    "CardTap",
    "FingerImage",
    "FingerprintSensor",
    "Frame",
    "SensorError",
    "SensorHealth",
    "UnreadableBadge",
]


@dataclass(frozen=True, slots=True)
class Frame:
    """One camera image: BGR uint8 (H, W, 3), the layout OpenCV expects.

    Each frame owns its pixels: no driver writes into an array it has handed out.
    """

    pixels: np.ndarray
    captured_at: float  # time.monotonic() when the driver grabbed the image
    source: str  # "opencv:/dev/video0", "picamera2:0", "replay:/path/to/faces"


class SensorError(Exception):
    """A sensor failed. The message is shown to staff as it is, so it is written for them."""


class Camera(Protocol):
    def read(self, timeout: float = 2.0) -> Frame:
        """The newest frame not returned before, waiting up to timeout seconds for one.

        Raises SensorError ("The camera stopped sending images; check its cable.") when none
        comes in time or the camera is gone.
        """
        ...

    def health(self) -> SensorHealth:
        """ok, or in detail what is wrong, in words staff can act on (for the kiosk's status)."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class CardTap:
    """A badge laid on a reader: its UID and ATR in upper-case hex, and which reader."""

    uid: str
    atr: str
    reader: str


class CardReader(Protocol):
    def wait_for_card(self, timeout: float) -> CardTap | None:
        """The next badge laid on a reader, or None when none comes within timeout seconds.

        A badge left on the reader is returned once; it must be lifted and laid again.
        Raises UnreadableBadge when a badge was there but could not be read, and
        BadgeReaderError when no badge can be read at all.
        """
        ...

    def health(self) -> SensorHealth: ...

    def close(self) -> None: ...


class BadgeReaderError(SensorError):
    """No badge can be read (reader service down, no reader); the message is for staff."""


class UnreadableBadge(BadgeReaderError):
    """This badge could not be read (pulled away, not a badge, a UID of the wrong length)."""


@dataclass(frozen=True, slots=True)
class FingerImage:
    """One fingerprint image: grey uint8 (H, W), dark ridges on a light background.

    dpi is the sensor's resolution; matching rescales to 500 dpi, so it must be right.
    """

    pixels: np.ndarray
    dpi: int
    captured_at: float  # time.monotonic() when the image was taken
    source: str  # "zfm:/dev/ttyAMA0", "recorded:/path/to/finger.png"


class FingerprintSensor(Protocol):
    def capture(self, timeout: float = 10.0) -> FingerImage | None:
        """Wait up to timeout seconds for a finger and return its image; None when none came.

        Raises SensorError when the sensor fails or stops answering.
        """
        ...

    def health(self) -> SensorHealth:
        """ok, or in detail what is wrong, in words staff can act on."""
        ...

    def close(self) -> None: ...
