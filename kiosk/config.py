"""The kiosk's configuration, validated at start so a typo is reported, not ignored."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError

from protocol.codec import explain
from protocol.events import Identifier, KioskMode


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TlsConfig(Section):
    cafile: Path = Field(description="the site CA certificate")
    certfile: Path = Field(description="this device's certificate (CN = device id)")
    keyfile: Path = Field(description="this device's private key, generated on the device")


class BrokerConfig(Section):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    tls: TlsConfig | None = None
    keepalive: Annotated[int, Field(ge=5, le=3600)] = 30


class OutboxConfig(Section):
    window: Annotated[int, Field(ge=1, le=1000, description="events published but not acked")] = 200
    resend_after: Annotated[
        float, Field(gt=0, description="seconds without an ack before an event is sent again")
    ] = 15.0


class SyncConfig(Section):
    every: Annotated[float, Field(gt=0, description="seconds between periodic syncs")] = 300.0
    page_size: Annotated[int, Field(ge=1, le=5000, description="changes per answer")] = 500
    timeout: Annotated[float, Field(gt=0, description="seconds to wait for each answer")] = 30.0


class UiConfig(Section):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    inactivity_timeout: Annotated[
        float,
        Field(
            ge=5,
            le=3600,
            description="seconds without a touch before the session ends (a countdown shows "
            "the last 15 s)",
        ),
    ] = 60.0
    default_language: Literal["ar", "fr", "tzm"] = Field(
        default="ar", description="the attract screen's language; a person's own applies at login"
    )


Width = Annotated[int, Field(ge=64, le=4096, multiple_of=2, description="image width, pixels")]
Height = Annotated[int, Field(ge=48, le=3072, multiple_of=2, description="image height, pixels")]


class Picamera2Config(Section):
    """The Raspberry Pi camera (ribbon cable), through picamera2."""

    driver: Literal["picamera2"] = "picamera2"
    camera_num: Annotated[int, Field(ge=0, description="which Pi camera: 0 is the first")] = 0
    width: Width = 640
    height: Height = 480
    fps: Annotated[float, Field(gt=0, le=120, description="frames per second")] = 15.0


class OpenCVConfig(Section):
    """A USB webcam (or a video file or stream) through OpenCV's VideoCapture."""

    driver: Literal["opencv"] = "opencv"
    device: int | str = Field(
        default=0,
        description="camera number (0 is /dev/video0), a device path, a video file or a stream URL",
    )
    width: Width = 640
    height: Height = 480
    retry_every: Annotated[
        float, Field(gt=0, le=60, description="seconds between attempts to reopen a lost camera")
    ] = 1.0


class ReplayConfig(Section):
    """Recorded images played back as a camera: for tests, the demo and trials without hardware."""

    driver: Literal["replay"] = "replay"
    path: Path = Field(description="a video file, an image, or a folder of images (sorted by name)")
    fps: Annotated[
        float | None, Field(gt=0, description="frames per second; none: as fast as they are read")
    ] = None
    loop: bool = Field(default=True, description="start again from the first frame at the end")
    skip: bool = Field(
        default=True,
        description="with fps: a slow reader skips the frames it missed, as a camera's does; "
        "false: every frame is played, stamped with the recording's own time (frame n at n/fps), "
        "so that what follows frame timing behaves the same on a fast or a busy machine",
    )


CAMERA_DRIVER_NAMES = ("picamera2", "opencv", "replay")


def _camera_driver(value: Any) -> Any:
    return value.get("driver") if isinstance(value, dict) else getattr(value, "driver", None)


CameraConfig = Annotated[
    Annotated[Picamera2Config, Tag("picamera2")]
    | Annotated[OpenCVConfig, Tag("opencv")]
    | Annotated[ReplayConfig, Tag("replay")],
    Discriminator(
        _camera_driver,
        custom_error_type="camera_driver",
        custom_error_message="driver must be one of "
        + ", ".join(f'"{name}"' for name in CAMERA_DRIVER_NAMES),
    ),
]


class PcscReaderConfig(Section):
    """Badge readers through pcscd (any PC/SC contactless reader)."""

    driver: Literal["pcsc"] = "pcsc"
    reader_prefix: str = Field(
        default="", description="use only readers whose name starts with this (default: all)"
    )


class ZfmSensorConfig(Section):
    """A ZhianTec ZFM / R30x fingerprint sensor on a serial port (UART or USB adapter)."""

    driver: Literal["zfm"] = "zfm"
    device: str = Field(default="/dev/ttyAMA0", description="the serial port")
    baudrate: Annotated[int, Field(ge=9600, le=115200, multiple_of=9600)] = 57600
    password: Annotated[int, Field(ge=0, le=0xFFFFFFFF)] = 0


class RecordedFingerConfig(Section):
    """Fingerprint images from a folder, played back as a sensor: tests, demo, trials."""

    driver: Literal["recorded"] = "recorded"
    path: Path = Field(description="a folder of fingerprint images")


FingerprintConfig = Annotated[ZfmSensorConfig | RecordedFingerConfig, Field(discriminator="driver")]


class KioskConfig(Section):
    site: Identifier
    device: Identifier
    data_dir: Path = Field(description="where the kiosk's SQLite store lives")
    wing: Identifier | None = Field(
        default=None,
        description="the wing this kiosk stands in, as the hub names it (written at "
        "provisioning): where a movement check says people come from and go back to",
    )
    mode: KioskMode = "self_service"
    broker: BrokerConfig = BrokerConfig()
    outbox: OutboxConfig = OutboxConfig()
    sync: SyncConfig = SyncConfig()
    ui: UiConfig = UiConfig()
    camera: CameraConfig | None = Field(
        default=None, description="the camera for faces (default: none, no face identification)"
    )
    badge_reader: PcscReaderConfig | None = Field(
        default=None, description="the badge reader (default: none)"
    )
    fingerprint: FingerprintConfig | None = Field(
        default=None, description="the fingerprint sensor (default: none)"
    )
    cache_key_file: Path | None = Field(
        default=None,
        description="the 256-bit key encrypting cached templates, written at provisioning "
        "(default: <data_dir>/cache.key, created on first start if missing)",
    )

    @property
    def store_path(self) -> Path:
        return self.data_dir / "kiosk.db"

    @property
    def key_path(self) -> Path:
        return self.cache_key_file or self.data_dir / "cache.key"


class ConfigError(ValueError):
    """The configuration file is missing or wrong; the message says where."""


def load_config(path: Path | None = None) -> KioskConfig:
    """Read a TOML or JSON config file (default: $MASAR_CONFIG)."""
    if path is None:
        env = os.environ.get("MASAR_CONFIG")
        if not env:
            raise ConfigError("no kiosk configuration: pass --config FILE or set MASAR_CONFIG")
        path = Path(env)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read kiosk configuration {path}: {exc.strerror}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"{path} is not valid {path.suffix.lstrip('.') or 'TOML'}: {exc}"
        ) from None
    try:
        return KioskConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(explain(exc))
        raise ConfigError(f"{path}: {problems}") from None
