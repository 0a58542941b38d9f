"""Which driver serves the configured camera: a table, so adding a driver is one line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kiosk.config import CameraConfig
from kiosk.sensors import Camera, SensorError
from kiosk.sensors.camera import OpenCVCamera, Picamera2Camera, ReplayCamera

CAMERA_DRIVERS: dict[str, Callable[[Any], Camera]] = {
    "picamera2": Picamera2Camera,  # imports picamera2 only when a Pi camera is opened
    "opencv": OpenCVCamera,
    "replay": ReplayCamera,
}


def open_camera(config: CameraConfig) -> Camera:
    """Open the camera the configuration names; SensorError says why it cannot be opened."""
    try:
        driver = CAMERA_DRIVERS[config.driver]
    except KeyError:
        raise SensorError(
            f"Unknown camera driver {config.driver!r}; choose one of: {', '.join(CAMERA_DRIVERS)}"
        ) from None
    return driver(config)
