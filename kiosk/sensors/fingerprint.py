"""Fingerprint sensors: ZhianTec ZFM / R30x modules on a UART, and recorded images.

The sensor only captures the image; templates and matching are done on the kiosk
(kiosk/recognition/finger.py), so no template is ever in a vendor's format.

The module speaks ZhianTec's packet protocol itself over pyserial: every packet is
EF 01, a 4-byte address, a packet type (01 command, 07 answer, 02 data, 08 last data), a
2-byte length (payload + 2), the payload and a 2-byte checksum (the sum of type, length and
payload bytes). GenImg (01) takes an image into the module, UpImage (0A) sends it: 256×288
pixels at 4 bits each, two pixels per byte, in data packets of the module's packet size.
pyfingerprint speaks the same protocol, but it turns a silent sensor into a "bad header" only
after 12 two-second timeouts, raises bare Exceptions and writes the image to a file.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from kiosk.sensors import FingerImage, SensorError, SensorHealth

IMAGE_SUFFIXES = frozenset({".bmp", ".png", ".tif", ".tiff", ".pgm", ".jpg", ".jpeg"})

# ZhianTec ZFM / R30x packet protocol
START = b"\xef\x01"
COMMAND, ANSWER, DATA, LAST_DATA = 0x01, 0x07, 0x02, 0x08
GEN_IMG, UP_IMAGE, VERIFY_PASSWORD = 0x01, 0x0A, 0x13
OK, NO_FINGER = 0x00, 0x02
ZFM_WIDTH, ZFM_HEIGHT, ZFM_DPI = 256, 288, 500
ZFM_IMAGE_BYTES = ZFM_WIDTH * ZFM_HEIGHT // 2  # 4 bits per pixel
POLL_EVERY = 0.05  # seconds between GenImg tries while no finger is on the glass

ANSWER_CODES = {
    0x01: "the sensor reports a transmission error",
    0x03: "the sensor could not take the image",
    0x0F: "the sensor could not send the image",
    0x13: "the sensor refused the password",
    0x20: "the sensor answered for another address",
    0x21: "the sensor must be unlocked with its password first",
}


class SerialPort(Protocol):
    """The part of pyserial's Serial the driver uses, so a test can hand in any port."""

    def read(self, size: int = 1) -> bytes: ...
    def write(self, data: bytes, /) -> int | None: ...
    def reset_input_buffer(self) -> None: ...
    def close(self) -> None: ...


def zfm_packet(kind: int, payload: bytes, address: int = 0xFFFFFFFF) -> bytes:
    """One packet as it travels on the wire."""
    length = len(payload) + 2
    body = bytes([kind]) + length.to_bytes(2, "big") + payload
    return START + address.to_bytes(4, "big") + body + (sum(body) & 0xFFFF).to_bytes(2, "big")


class ZfmLink:
    """Packet framing over a serial port: write one packet, read one whole packet back."""

    def __init__(self, port: SerialPort, name: str, address: int = 0xFFFFFFFF) -> None:
        self.port = port
        self.name = name
        self.address = address

    def send(self, kind: int, payload: bytes) -> None:
        self.port.write(zfm_packet(kind, payload, self.address))

    def receive(self) -> tuple[int, bytes]:
        """(packet type, payload) of the next packet; SensorError on silence or garbage."""
        head = self._read_exactly(9)
        if head[:2] != START:
            raise SensorError(
                f"The fingerprint sensor on {self.name} sent something that is not a ZFM "
                "packet; check the baud rate and that the sensor is a ZhianTec ZFM / R30x."
            )
        kind, length = head[6], int.from_bytes(head[7:9], "big")
        if length < 2:
            raise SensorError(f"The fingerprint sensor on {self.name} sent a damaged packet.")
        rest = self._read_exactly(length)
        payload, checksum = rest[:-2], int.from_bytes(rest[-2:], "big")
        if (sum(head[6:9]) + sum(payload)) & 0xFFFF != checksum:
            raise SensorError(
                f"The fingerprint sensor on {self.name} sent a damaged packet (wrong checksum); "
                "check its cable."
            )
        return kind, payload

    def command(self, payload: bytes) -> bytes:
        """Send a command and return its answer's payload (first byte: the answer code)."""
        self.send(COMMAND, payload)
        kind, answer = self.receive()
        if kind != ANSWER or not answer:
            raise SensorError(
                f"The fingerprint sensor on {self.name} answered a command with packet type "
                f"{kind:#04x} instead of an answer."
            )
        return answer

    def _read_exactly(self, count: int) -> bytes:
        data = self.port.read(count)  # pyserial's read(n) waits up to its timeout for all n
        if len(data) < count:
            raise SensorError(
                f"The fingerprint sensor on {self.name} stopped answering; check its cable "
                "and power."
            )
        return data


def unpack_zfm_image(data: bytes) -> np.ndarray:
    """256×288 pixels from 4-bit pairs (high nibble first), scaled to 0–255 (15 × 17 = 255)."""
    if len(data) != ZFM_IMAGE_BYTES:
        raise SensorError(
            f"The fingerprint sensor sent {len(data)} bytes of image instead of "
            f"{ZFM_IMAGE_BYTES}; the image is incomplete. Try again; if it keeps happening, "
            "check the cable."
        )
    packed = np.frombuffer(data, dtype=np.uint8)
    pixels = np.empty(packed.size * 2, dtype=np.uint8)
    pixels[0::2] = packed >> 4
    pixels[1::2] = packed & 0x0F
    return (pixels * 17).reshape(ZFM_HEIGHT, ZFM_WIDTH)


class ZfmFingerprintSensor:
    """A ZhianTec ZFM / R30x (R305, R307, R503, AS608 ...) module on a UART.

    It takes the finger's image (GenImg) and sends it to the kiosk (UpImage). A module that
    stops answering is reported through capture() and health(); the next capture tries again.
    """

    def __init__(
        self,
        port: SerialPort,
        name: str,
        *,
        address: int = 0xFFFFFFFF,
        password: int = 0,
    ) -> None:
        self.source = f"zfm:{name}"
        self._link = ZfmLink(port, name, address)
        self._password = password
        self._problem: str | None = None
        self._closed = False
        try:
            self._unlock()
        except SensorError as exc:
            self._problem = str(exc)
            port.close()
            raise

    @classmethod
    def open(
        cls,
        device: str,
        *,
        baudrate: int = 57600,
        address: int = 0xFFFFFFFF,
        password: int = 0,
        timeout: float = 2.0,
    ) -> ZfmFingerprintSensor:
        """Open the serial device (pyserial is imported here) and unlock the module."""
        try:
            import serial  # type: ignore[import-untyped]
        except ImportError:
            raise SensorError(
                "The serial-port software (pyserial) is not installed on this kiosk; "
                "reinstall the kiosk with its 'kiosk' extra."
            ) from None
        try:
            port = serial.Serial(device, baudrate, timeout=timeout)
        except (serial.SerialException, OSError) as exc:
            raise SensorError(
                f"The fingerprint sensor's port {device} cannot be opened ({exc}); check the "
                "sensor's cable and the port name in the kiosk's configuration."
            ) from None
        return cls(port, device, address=address, password=password)

    def _unlock(self) -> None:
        self._link.port.reset_input_buffer()
        self._check(self._link.command(bytes([VERIFY_PASSWORD, *self._password.to_bytes(4)])))

    def _check(self, answer: bytes) -> None:
        if answer[0] != OK:
            reason = ANSWER_CODES.get(answer[0], f"the sensor answered with code {answer[0]:#04x}")
            raise SensorError(f"The fingerprint sensor on {self._link.name} failed: {reason}.")

    def capture(self, timeout: float = 10.0) -> FingerImage | None:
        if self._closed:
            raise SensorError("The fingerprint sensor has been closed; restart the kiosk.")
        try:
            if self._problem is not None:
                self._unlock()  # the module may have been power-cycled: unlock it again
            image = self._capture(timeout)
        except SensorError as exc:
            self._problem = str(exc)
            raise
        self._problem = None
        return image

    def _capture(self, timeout: float) -> FingerImage | None:
        deadline = time.monotonic() + timeout
        while True:
            answer = self._link.command(bytes([GEN_IMG]))
            if answer[0] == OK:
                break
            if answer[0] != NO_FINGER:
                self._check(answer)
            if time.monotonic() >= deadline:
                return None
            time.sleep(POLL_EVERY)
        captured_at = time.monotonic()
        self._check(self._link.command(bytes([UP_IMAGE])))
        chunks = []
        kind = DATA
        while kind == DATA:
            kind, payload = self._link.receive()
            if kind not in (DATA, LAST_DATA):
                raise SensorError(
                    f"The fingerprint sensor on {self._link.name} interrupted the image with "
                    f"packet type {kind:#04x}."
                )
            chunks.append(payload)
            if sum(map(len, chunks)) > ZFM_IMAGE_BYTES:
                break  # unpack_zfm_image says what is wrong
        pixels = unpack_zfm_image(b"".join(chunks))
        return FingerImage(pixels, ZFM_DPI, captured_at, self.source)

    def health(self) -> SensorHealth:
        if self._closed:
            return SensorHealth(ok=False, detail="The fingerprint sensor has been closed.")
        if self._problem:
            return SensorHealth(ok=False, detail=self._problem)
        return SensorHealth(ok=True)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._link.port.close()


def load_finger_image(path: Path) -> np.ndarray:
    """A fingerprint image file as grey uint8 pixels; SensorError when it cannot be read whole."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SensorError(f"The fingerprint image {path} cannot be read ({exc}).") from None
    pixels = None
    if data:
        try:
            pixels = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
        except cv2.error:
            pixels = None
    if pixels is None or pixels.size == 0:
        raise SensorError(
            f"The fingerprint image {path} is damaged or not an image (truncated file?)."
        )
    return np.ascontiguousarray(pixels)


class RecordedFingerprintSensor:
    """Recorded fingerprint images played back as captures, in order, then none.

    Stands in for a sensor in tests and the demo: each capture() returns the next file's image
    (a new array each time), and None, as a sensor with no finger on it, after the last.
    """

    def __init__(self, images: Path | Iterable[Path], *, dpi: int = ZFM_DPI) -> None:
        paths: Sequence[Path]
        if isinstance(images, Path):
            if not images.is_dir():
                raise SensorError(f"The recorded fingerprint folder {images} does not exist.")
            paths = sorted(p for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            self.source = f"recorded:{images}"
        else:
            paths = list(images)
            self.source = "recorded:" + (str(paths[0].parent) if paths else "nothing")
        if not paths:
            raise SensorError(f"There are no fingerprint images in {self.source[9:]}.")
        self._paths = list(paths)
        self._next = 0
        self._dpi = dpi
        self._closed = False

    def capture(self, timeout: float = 10.0) -> FingerImage | None:
        if self._closed:
            raise SensorError("The fingerprint sensor has been closed; restart the kiosk.")
        if self._next >= len(self._paths):
            return None
        path = self._paths[self._next]
        self._next += 1
        pixels = load_finger_image(path)
        return FingerImage(pixels, self._dpi, time.monotonic(), f"recorded:{path}")

    def health(self) -> SensorHealth:
        if self._closed:
            return SensorHealth(ok=False, detail="The fingerprint sensor has been closed.")
        return SensorHealth(ok=True)

    def close(self) -> None:
        self._closed = True
