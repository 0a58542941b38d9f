"""Which driver serves each configured sensor: tables, so adding a driver is one line.

Drivers are imported when opened, so a kiosk without a badge reader needs no pyscard."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kiosk.config import CameraConfig, FingerprintConfig, PcscReaderConfig
from kiosk.sensors import Camera, CardReader, FingerprintSensor, SensorError
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


def open_card_reader(config: PcscReaderConfig) -> CardReader:
    """The badge reader; pcscd not running is reported through its health, not raised."""
    from kiosk.sensors.smartcard import PcscCardReader

    return PcscCardReader(reader_prefix=config.reader_prefix)


def open_fingerprint_sensor(config: FingerprintConfig) -> FingerprintSensor:
    """The fingerprint sensor the configuration names; SensorError says why it cannot open."""
    from kiosk.sensors.fingerprint import RecordedFingerprintSensor, ZfmFingerprintSensor

    if config.driver == "zfm":
        return ZfmFingerprintSensor.open(
            config.device, baudrate=config.baudrate, password=config.password
        )
    return RecordedFingerprintSensor(config.path)
