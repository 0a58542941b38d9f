"""A contactless badge on vsmartcard's virtual reader (vpcd), for tests and the demo.

pcscd with the vpcd driver (Debian ``vsmartcard-vpcd``) shows a reader "Virtual PCD 00 00"
that waits on a TCP port (35963) for a card. Whoever connects is the card: pcscd sees it
inserted, sends it APDUs, and sees it removed when the connection closes. This card answers
what a contactless reader answers for a badge: its ATR and, to PC/SC GET DATA
(``FF CA 00 00 00``), its UID. Everything else gets "instruction not supported".

The vpcd protocol: each message is a 2-byte big-endian length and a payload; a 1-byte
payload is a control code (0 power off, 1 power on, 2 reset, 4 send the ATR), anything
longer is a command APDU to answer with data + status word.

Run ``python -m kiosk.sensors.virtual_badge 04A1B2C3D4E5F6`` to hold a badge on the
reader until Ctrl-C (the demo does so).
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import struct
import threading
import time
from dataclasses import dataclass
from types import TracebackType

VPCD_PORT = 35963  # slot 0 of the vpcd reader, from /etc/reader.conf.d/vpcd (0x8C7B)
# MIFARE Classic 1K as a PC/SC contactless reader reports it (PC/SC part 3 form).
MIFARE_1K_ATR = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")
GET_UID = bytes.fromhex("FFCA0000")
_POWER_OFF, _POWER_ON, _RESET, _SEND_ATR = 0, 1, 2, 4
_NOT_SUPPORTED = bytes.fromhex("6D00")


class VirtualBadgeError(RuntimeError):
    """The virtual reader is not there to take the badge; the message says what to start."""


@dataclass(frozen=True)
class Badge:
    """What the card carries. Any UID length is allowed, to test a reader's checks."""

    uid: bytes
    atr: bytes = MIFARE_1K_ATR

    @classmethod
    def from_hex(cls, uid: str) -> Badge:
        return cls(bytes.fromhex(uid))


class VirtualBadgeSlot:
    """One slot of the virtual reader: insert a badge, remove it, swap it for another.

    vpcd looks for its card every 0.4 s (pcscd's polling). When it finds the connection
    gone and a new one already waiting, it takes the new one at once, and pcscd never sees
    a removal: a swap would go unnoticed. So a removal waits until vpcd has hung up on the
    old connection, and a new badge comes at least OFF_READER seconds after the last left,
    as no hand can swap badges faster either.
    """

    OFF_READER = 0.45

    def __init__(self, host: str = "127.0.0.1", port: int = VPCD_PORT) -> None:
        self.host, self.port = host, port
        self.badge: Badge | None = None
        self.apdus = 0  # APDUs answered since the last insert
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._leaving = threading.Event()
        self._left_at = float("-inf")

    def insert(self, badge: Badge, *, pulled_mid_read: bool = False, timeout: float = 5.0) -> None:
        """Put ``badge`` on the reader (the one there, if any, is removed first).

        ``pulled_mid_read``: the badge leaves the field when the first command arrives,
        without answering it, as when a person pulls it away while the reader reads it.
        """
        self.remove()
        time.sleep(max(0.0, self._left_at + self.OFF_READER - time.monotonic()))
        try:
            sock = socket.create_connection((self.host, self.port), timeout=timeout)
        except OSError as exc:
            raise VirtualBadgeError(
                f"the virtual badge reader does not answer on {self.host}:{self.port} "
                f"({exc.strerror or exc}); start pcscd with the vsmartcard-vpcd driver"
            ) from None
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock, self.badge, self.apdus = sock, badge, 0
        self._leaving = threading.Event()
        self._thread = threading.Thread(
            target=self._serve,
            args=(sock, badge, pulled_mid_read, self._leaving),
            name="virtual-badge",
            daemon=True,
        )
        self._thread.start()

    def swap(self, badge: Badge) -> None:
        self.insert(badge)

    def remove(self) -> None:
        """Take the badge away; returns once vpcd has noticed (within about 0.4 s)."""
        sock, thread = self._sock, self._thread
        self._sock, self._thread, self.badge = None, None, None
        if sock is None or thread is None:
            return
        self._leaving.set()
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)  # vpcd's next poll reads the end and hangs up
        thread.join(timeout=2.0)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # it did not (pcscd hung): stop listening
        thread.join(timeout=2.0)
        sock.close()
        self._left_at = time.monotonic()

    @property
    def inserted(self) -> bool:
        """True while the badge is on the reader (false once pcscd or a pull ended it)."""
        return self._thread is not None and self._thread.is_alive()

    def close(self) -> None:
        self.remove()

    def __enter__(self) -> VirtualBadgeSlot:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def _serve(
        self,
        sock: socket.socket,
        badge: Badge,
        pulled_mid_read: bool,
        leaving: threading.Event,
    ) -> None:
        """Answer vpcd until it hangs up; once leaving, hear it out but answer nothing."""
        try:
            while True:
                (size,) = struct.unpack("!H", _receive(sock, 2))
                message = _receive(sock, size)
                if leaving.is_set():
                    continue
                if size > 1 and pulled_mid_read:
                    leaving.set()
                    sock.shutdown(socket.SHUT_WR)
                    continue
                try:
                    if size > 1:
                        _send(sock, respond(badge, message))
                        self.apdus += 1
                    elif message[0] == _SEND_ATR:  # power on/off and reset need no answer
                        _send(sock, badge.atr)
                except OSError:
                    if not leaving.is_set():
                        raise
        except OSError:
            return  # vpcd hung up, or pcscd went away: the badge is off the reader


def respond(badge: Badge, apdu: bytes) -> bytes:
    """The card's answer to one command APDU: the UID for GET DATA, else 6D 00."""
    if apdu[:4] == GET_UID:
        return badge.uid + b"\x90\x00"
    return _NOT_SUPPORTED


def _receive(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the virtual reader closed the connection")
        # vpcd writes length and payload separately: without a quick ACK, Nagle and the
        # delayed ACK hold every APDU ~45 ms (HARNESS.md §2).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        data += chunk
    return data


def _send(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(struct.pack("!H", len(payload)) + payload)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("uid", help="the badge UID in hex, e.g. 04A1B2C3D4E5F6")
    parser.add_argument("--port", type=int, default=VPCD_PORT, help="vpcd port (slot 0: 35963)")
    args = parser.parse_args()
    try:
        badge = Badge.from_hex(args.uid)
    except ValueError:
        parser.error(f"{args.uid!r} is not a UID in hex, e.g. 04A1B2C3D4E5F6")
    with VirtualBadgeSlot(port=args.port) as slot:
        try:
            slot.insert(badge)
        except VirtualBadgeError as error:
            parser.exit(1, f"{error}\n")
        print(f"badge {args.uid.upper()} is on the reader; Ctrl-C takes it away")
        with contextlib.suppress(KeyboardInterrupt):
            while slot.inserted:
                threading.Event().wait(0.5)


if __name__ == "__main__":
    main()
