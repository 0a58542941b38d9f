"""The ZFM / R30x driver against a stand-in module on a pseudo-terminal, and recorded images.

The stand-in runs on the master side of os.openpty() and speaks the module's packet protocol
byte for byte, sending a real FVC2002 finger image (cut to the module's 256×288 and reduced to
its 4 bits per pixel); the driver opens the slave side with pyserial, as it opens /dev/ttyAMA0
on a kiosk.
"""

from __future__ import annotations

import os
import select
import threading
import time
import tty
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from kiosk.sensors import SensorError
from kiosk.sensors.fingerprint import (
    ANSWER,
    COMMAND,
    DATA,
    GEN_IMG,
    LAST_DATA,
    NO_FINGER,
    OK,
    UP_IMAGE,
    VERIFY_PASSWORD,
    ZFM_HEIGHT,
    ZFM_WIDTH,
    FingerImage,
    RecordedFingerprintSensor,
    ZfmFingerprintSensor,
    load_finger_image,
    zfm_packet,
)
from tests.shared_data import FINGERS

FINGER = FINGERS / "FVC2002DB1_103"


def module_image() -> np.ndarray:
    """The centre 256×288 of a 500-dpi FVC2002 DB1 image: what a ZFM module would see."""
    pixels = load_finger_image(FINGER / "103_1.png")
    top = (pixels.shape[0] - ZFM_HEIGHT) // 2
    left = (pixels.shape[1] - ZFM_WIDTH) // 2
    return pixels[top : top + ZFM_HEIGHT, left : left + ZFM_WIDTH]


def pack_4bit(pixels: np.ndarray) -> bytes:
    nibbles = (pixels >> 4).reshape(-1)
    return bytes((nibbles[0::2] << 4) | nibbles[1::2])


class ZfmModuleStandIn:
    """A ZFM module on a pty: answers VerifyPassword, GenImg and UpImage like the real one.

    :param no_finger: GenImg answers "no finger" this many times before it takes the image.
    :param silent_after: after this many commands it reads but never answers (a dead module).
    :param image_packets: send only this many data packets of the image, then fall silent.
    """

    def __init__(
        self,
        image: np.ndarray,
        *,
        password: int = 0,
        no_finger: int = 2,
        packet_size: int = 128,
        silent_after: int | None = None,
        image_packets: int | None = None,
    ) -> None:
        self.image_bytes = pack_4bit(image)
        self.password = password
        self.no_finger = no_finger
        self.packet_size = packet_size
        self.silent_after = silent_after
        self.image_packets = image_packets
        self.commands: list[int] = []
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="zfm stand-in", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        os.close(self.master)
        os.close(self.slave)

    def _read_exactly(self, count: int) -> bytes | None:
        data = b""
        while len(data) < count:  # the driver's bytes may come in several pieces
            if self._stop.is_set():
                return None
            if select.select([self.master], [], [], 0.05)[0]:
                data += os.read(self.master, count - len(data))
        return data

    def _write_all(self, data: bytes) -> None:
        while data and not self._stop.is_set():
            if select.select([], [self.master], [], 0.05)[1]:
                data = data[os.write(self.master, data) :]

    def _answer(self, kind: int, payload: bytes) -> None:
        self._write_all(zfm_packet(kind, payload))

    def _serve(self) -> None:
        while True:
            head = self._read_exactly(9)
            if head is None:
                return
            body = self._read_exactly(int.from_bytes(head[7:9], "big"))
            if body is None:
                return
            assert head[:2] == b"\xef\x01" and head[6] == COMMAND, head.hex()
            code = body[0]
            self.commands.append(code)
            if self.silent_after is not None and len(self.commands) > self.silent_after:
                continue
            if code == VERIFY_PASSWORD:
                right = int.from_bytes(body[1:5], "big") == self.password
                self._answer(ANSWER, bytes([OK if right else 0x13]))
            elif code == GEN_IMG:
                finger = self.commands.count(GEN_IMG) > self.no_finger
                self._answer(ANSWER, bytes([OK if finger else NO_FINGER]))
            elif code == UP_IMAGE:
                self._answer(ANSWER, bytes([OK]))
                self._send_image()
            else:
                self._answer(ANSWER, bytes([0x01]))

    def _send_image(self) -> None:
        size = self.packet_size
        chunks = [self.image_bytes[i : i + size] for i in range(0, len(self.image_bytes), size)]
        for number, chunk in enumerate(chunks, start=1):
            if self.image_packets is not None and number > self.image_packets:
                return
            self._answer(LAST_DATA if number == len(chunks) else DATA, chunk)


@pytest.fixture
def image() -> np.ndarray:
    return module_image()


@pytest.fixture
def module(image: np.ndarray) -> Iterator[ZfmModuleStandIn]:
    stand_in = ZfmModuleStandIn(image)
    yield stand_in
    stand_in.close()


def open_sensor(
    stand_in: ZfmModuleStandIn, timeout: float = 2.0, password: int = 0
) -> ZfmFingerprintSensor:
    """The driver on the stand-in's pty; a short timeout where the module is meant to fall
    silent, a long one where it must answer even on a busy test machine."""
    return ZfmFingerprintSensor.open(stand_in.path, timeout=timeout, password=password)


def test_zfm_sensor_downloads_the_finger_image_over_the_pty(
    module: ZfmModuleStandIn, image: np.ndarray
) -> None:
    sensor = open_sensor(module)
    try:
        captured = sensor.capture(timeout=5)
        assert isinstance(captured, FingerImage)
        assert captured.pixels.shape == (ZFM_HEIGHT, ZFM_WIDTH)
        assert captured.pixels.dtype == np.uint8
        assert captured.dpi == 500
        assert captured.source == f"zfm:{module.path}"
        # 4 bits per pixel on the wire: each grey level comes back as its top nibble × 17
        assert np.array_equal(captured.pixels, (image >> 4) * 17)
        assert module.commands == [VERIFY_PASSWORD, GEN_IMG, GEN_IMG, GEN_IMG, UP_IMAGE]
        assert sensor.health().ok
    finally:
        sensor.close()


def test_zfm_sensor_reads_any_packet_size(image: np.ndarray) -> None:
    stand_in = ZfmModuleStandIn(image, no_finger=0, packet_size=32)
    try:
        sensor = open_sensor(stand_in)
        captured = sensor.capture(timeout=5)
        sensor.close()
        assert captured is not None
        assert np.array_equal(captured.pixels, (image >> 4) * 17)
    finally:
        stand_in.close()


def test_zfm_sensor_returns_none_when_no_finger_comes(image: np.ndarray) -> None:
    stand_in = ZfmModuleStandIn(image, no_finger=10_000)
    try:
        sensor = open_sensor(stand_in)
        assert sensor.capture(timeout=0.3) is None
        assert sensor.health().ok
        sensor.close()
        assert UP_IMAGE not in stand_in.commands
    finally:
        stand_in.close()


def test_zfm_sensor_reports_a_module_that_stops_answering(image: np.ndarray) -> None:
    stand_in = ZfmModuleStandIn(image, silent_after=1)  # answers the password, then nothing
    try:
        sensor = open_sensor(stand_in, timeout=0.5)
        with pytest.raises(SensorError) as caught:
            sensor.capture(timeout=5)
        message = f"The fingerprint sensor on {stand_in.path} stopped answering; check its cable"
        assert str(caught.value).startswith(message)
        health = sensor.health()
        assert not health.ok
        assert health.detail.startswith(message)
        sensor.close()
    finally:
        stand_in.close()


def test_zfm_sensor_reports_an_image_cut_off_midway(image: np.ndarray) -> None:
    stand_in = ZfmModuleStandIn(image, no_finger=0, image_packets=100)
    try:
        sensor = open_sensor(stand_in, timeout=0.5)
        with pytest.raises(SensorError, match="stopped answering"):
            sensor.capture(timeout=5)
        sensor.close()
    finally:
        stand_in.close()


def test_zfm_sensor_comes_back_after_the_module_answers_again(image: np.ndarray) -> None:
    stand_in = ZfmModuleStandIn(image, no_finger=0, silent_after=1)
    try:
        sensor = open_sensor(stand_in, timeout=1.0)
        with pytest.raises(SensorError):
            sensor.capture(timeout=5)
        deadline = time.monotonic() + 5
        while len(stand_in.commands) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)  # the unanswered GenImg has reached the module
        stand_in.silent_after = None  # power back: the driver unlocks the module again
        captured = sensor.capture(timeout=5)
        assert captured is not None
        assert sensor.health().ok
        assert stand_in.commands[-3:] == [VERIFY_PASSWORD, GEN_IMG, UP_IMAGE]
        sensor.close()
    finally:
        stand_in.close()


def test_zfm_sensor_refuses_a_wrong_password(image: np.ndarray) -> None:
    stand_in = ZfmModuleStandIn(image, password=0x1234)
    try:
        with pytest.raises(SensorError) as caught:
            open_sensor(stand_in, password=0x9999)
        assert str(caught.value) == (
            f"The fingerprint sensor on {stand_in.path} failed: the sensor refused the password."
        )
    finally:
        stand_in.close()


def test_zfm_sensor_reports_a_port_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(SensorError, match="cannot be opened"):
        ZfmFingerprintSensor.open(str(tmp_path / "ttyNothing"))


def test_recorded_sensor_plays_the_images_in_order_then_none() -> None:
    sensor = RecordedFingerprintSensor(FINGER)
    first = sensor.capture()
    assert first is not None
    assert first.source.endswith("103_1.png")
    assert first.pixels.dtype == np.uint8 and first.pixels.ndim == 2
    rest = [sensor.capture() for _ in range(7)]
    assert all(image is not None for image in rest)
    assert sensor.capture() is None
    sensor.close()
    with pytest.raises(SensorError, match="closed"):
        sensor.capture()


def test_recorded_sensor_reports_a_truncated_image_file(tmp_path: Path) -> None:
    whole = (FINGER / "103_1.png").read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole[: len(whole) // 3])
    sensor = RecordedFingerprintSensor([cut])
    with pytest.raises(SensorError, match="damaged or not an image"):
        sensor.capture()
