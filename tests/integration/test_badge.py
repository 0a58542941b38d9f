"""Badges on a real PC/SC stack: pcscd with vsmartcard's virtual reader (vpcd), read by the
kiosk's PcscCardReader, the badge played by kiosk.sensors.virtual_badge.

The tests run a pcscd of their own in a private user and mount namespace (``unshare``):
its socket in a temporary folder, its virtual reader on free ports. pcscd's socket path is
fixed (/run/pcscd/pcscd.comm), so this is how the tests neither need nor disturb a pcscd
already running on the machine, and may stop and restart theirs. The client library reads
PCSCLITE_CSOCK_NAME once per process, at its first call: the fixture sets it before any.
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from smartcard import scard  # type: ignore[import-untyped]

from kiosk import caches, outbox
from kiosk.sensors.smartcard import (
    NO_READER,
    NOT_RUNNING,
    PULLED,
    BadgeReaderError,
    CardTap,
    PcscCardReader,
    UnreadableBadge,
    checked_uid,
)
from kiosk.sensors.virtual_badge import MIFARE_1K_ATR, Badge, VirtualBadgeSlot
from kiosk.staff_pins import LOCKED, MAX_WRONG_PINS, check_pin, is_locked
from kiosk.store import Database, open_store, write
from kiosk.vault import TemplateVault
from masar.processes import stop
from protocol import decode_event
from protocol.events import StaffPinLockedEvent
from protocol.messages import Change
from protocol.pins import hash_pin

pytestmark = pytest.mark.integration

READER = "Virtual PCD 00 00"  # slot 0 of the vpcd reader
OFFICER_BADGE = Badge.from_hex("04A1B2C3D4E5F6")
DETAINEE_BADGE = Badge.from_hex("0A0B0C0D")
UNKNOWN_BADGE = Badge.from_hex("0411223344556677889A")  # 10 bytes, on no record
SITE, DEVICE = "rabat-1", "wing-a-1"


def free_port_pair() -> int:
    """A port P such that P and P + 1 are free: vpcd's slots 0 and 1 listen there."""
    for _ in range(50):
        with socket.socket() as first, socket.socket() as second:
            first.bind(("0.0.0.0", 0))
            port: int = first.getsockname()[1]
            try:
                second.bind(("0.0.0.0", port + 1))
            except OSError:
                continue
            return port
    raise RuntimeError("no two free TCP ports in a row")


class PrivatePcscd:
    """pcscd with only the vpcd driver, its socket in ``directory``; start, stop, restart."""

    def __init__(self, directory: Path) -> None:
        self.run_dir = directory / "run"
        self.conf_dir = directory / "reader.conf.d"
        self.log = directory / "pcscd.log"
        self.run_dir.mkdir()
        self.conf_dir.mkdir()
        self.port = free_port_pair()
        (self.conf_dir / "vpcd").write_text(
            'FRIENDLYNAME "Virtual PCD"\n'
            f"DEVICENAME   /dev/null:0x{self.port:04X}\n"
            "LIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so\n"
            f"CHANNELID    0x{self.port:04X}\n"
        )
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def socket(self) -> Path:
        return self.run_dir / "pcscd.comm"

    def start(self) -> None:
        # In its namespace pcscd finds its usual /run/pcscd, which is our run_dir outside.
        script = (
            "mount -t tmpfs tmpfs /run && mkdir /run/pcscd && "
            f"mount --bind {shlex.quote(str(self.run_dir))} /run/pcscd && "
            f"exec pcscd --foreground --info --config {shlex.quote(str(self.conf_dir))}"
        )
        ready_before = self._log_text().count("daemon ready")
        self._log = self.log.open("ab")
        self.process = subprocess.Popen(
            ["unshare", "--user", "--map-root-user", "--mount", "--", "sh", "-c", script],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while self._log_text().count("daemon ready") == ready_before:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"pcscd did not start:\n{self._log_text()[-2000:]}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def _log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@pytest.fixture(scope="module")
def pcscd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivatePcscd]:
    daemon = PrivatePcscd(tmp_path_factory.mktemp("pcscd"))
    previous = os.environ.get("PCSCLITE_CSOCK_NAME")
    os.environ["PCSCLITE_CSOCK_NAME"] = str(daemon.socket)
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()
        if previous is None:
            os.environ.pop("PCSCLITE_CSOCK_NAME", None)
        else:
            os.environ["PCSCLITE_CSOCK_NAME"] = previous


@pytest.fixture
def reader(pcscd: PrivatePcscd) -> Iterator[PcscCardReader]:
    card_reader = PcscCardReader(reader_prefix=READER)
    yield card_reader
    card_reader.close()


@pytest.fixture
def slot(pcscd: PrivatePcscd) -> Iterator[VirtualBadgeSlot]:
    with VirtualBadgeSlot(port=pcscd.port) as badge_slot:
        yield badge_slot
    wait_until_empty()  # else the next test's reader could meet this badge on its way out


@pytest.fixture
def kiosk_db(tmp_path: Path) -> Iterator[Database]:
    """A kiosk store whose caches hold one officer and one detainee, each with a badge."""
    db = open_store(tmp_path / "kiosk.db")
    vault = TemplateVault(tmp_path / "cache.key")
    officer = {
        "name": "Officer Amrani",
        "role": "wing_officer",
        "pin_hash": hash_pin("4821"),
        "badges": [OFFICER_BADGE.uid.hex().upper()],
    }
    detainee = {
        "prison_number": "R-2024-0117",
        "name_latin": "Youssef El Idrissi",
        "name_arabic": "يوسف الإدريسي",
        "preferred_language": "ar",
        "literate": True,
        "badges": [DETAINEE_BADGE.uid.hex().upper()],
    }
    with write(db):
        caches.apply_change(db, vault, Change(kind="staff", op="upsert", key="s-7", data=officer))
        caches.apply_change(
            db, vault, Change(kind="detainee", op="upsert", key="d-00117", data=detainee)
        )
    yield db
    db.conn.close()


def wait_until_empty(timeout: float = 5.0) -> None:
    """Until pcscd has seen the badge leave the virtual reader (it polls every 0.4 s)."""
    _, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    try:
        state, deadline = scard.SCARD_STATE_UNAWARE, time.monotonic() + timeout
        while time.monotonic() < deadline:
            _, result = scard.SCardGetStatusChange(context, 500, [(READER, state)])
            state = result[0][1] if result else state
            if not state & scard.SCARD_STATE_PRESENT:
                return
        raise AssertionError("pcscd still sees a badge on the virtual reader")
    finally:
        scard.SCardReleaseContext(context)


def tap(card_reader: PcscCardReader, slot: VirtualBadgeSlot, badge: Badge) -> CardTap:
    slot.insert(badge)
    found = card_reader.wait_for_card(5.0)
    assert found is not None, "no tap within 5 s of laying the badge"
    return found


# --- a GET DATA answer, checked without a reader --------------------------------------------


@pytest.mark.parametrize("uid_length", [4, 7, 10])
def test_uid_of_an_iso_14443_length_is_accepted(uid_length: int) -> None:
    assert (
        checked_uid(bytes(range(1, uid_length + 1)) + b"\x90\x00")
        == bytes(range(1, uid_length + 1)).hex().upper()
    )


@pytest.mark.parametrize(
    ("response", "says"),
    [
        (b"", PULLED),
        (b"\x90", PULLED),
        (bytes.fromhex("0102030405") + b"\x90\x00", "5 bytes long"),
        (b"\x90\x00", "0 bytes long"),
        (bytes.fromhex("6A81"), "it answered 6A 81"),
        (bytes.fromhex("04A1B2C3") + bytes.fromhex("6F00"), "it answered 6F 00"),
    ],
)
def test_get_data_answer_that_is_no_uid_gives_a_clear_error(response: bytes, says: str) -> None:
    with pytest.raises(UnreadableBadge, match=says):
        checked_uid(response)


# --- on pcscd --------------------------------------------------------------------------------


def test_badge_laid_on_the_reader_gives_its_uid_and_atr(
    reader: PcscCardReader, slot: VirtualBadgeSlot
) -> None:
    found = tap(reader, slot, OFFICER_BADGE)
    assert found == CardTap(uid="04A1B2C3D4E5F6", atr=MIFARE_1K_ATR.hex().upper(), reader=READER)
    assert slot.apdus == 1  # one GET DATA
    assert reader.health().ok and READER in reader.health().detail


def test_badge_left_on_the_reader_is_returned_once(
    reader: PcscCardReader, slot: VirtualBadgeSlot
) -> None:
    tap(reader, slot, OFFICER_BADGE)
    assert reader.wait_for_card(0.8) is None
    assert slot.inserted


def test_removed_badge_laid_again_is_read_again(
    reader: PcscCardReader, slot: VirtualBadgeSlot
) -> None:
    tap(reader, slot, DETAINEE_BADGE)
    slot.remove()
    assert reader.wait_for_card(0.8) is None  # removal seen, nothing to return
    assert tap(reader, slot, DETAINEE_BADGE).uid == "0A0B0C0D"


def test_swapped_badge_gives_the_new_uid(reader: PcscCardReader, slot: VirtualBadgeSlot) -> None:
    tap(reader, slot, OFFICER_BADGE)
    slot.swap(UNKNOWN_BADGE)
    found = reader.wait_for_card(5.0)
    assert found is not None and found.uid == "0411223344556677889A"


def test_badges_map_to_staff_detainee_or_nobody_from_the_cache(
    reader: PcscCardReader, slot: VirtualBadgeSlot, kiosk_db: Database
) -> None:
    owners = []
    for badge in (OFFICER_BADGE, DETAINEE_BADGE, UNKNOWN_BADGE):
        owners.append(caches.badge_owner(kiosk_db, tap(reader, slot, badge).uid))
    assert owners == [("staff", "s-7"), ("detainee", "d-00117"), None]


def test_badge_pulled_mid_read_gives_a_clear_error_and_the_next_badge_reads(
    reader: PcscCardReader, slot: VirtualBadgeSlot
) -> None:
    slot.insert(DETAINEE_BADGE, pulled_mid_read=True)
    with pytest.raises(UnreadableBadge) as raised:
        reader.wait_for_card(5.0)
    assert str(raised.value) == PULLED
    assert reader.wait_for_card(0.8) is None  # the pulled badge is not read twice
    assert tap(reader, slot, DETAINEE_BADGE).uid == "0A0B0C0D"


@pytest.mark.parametrize("uid_length", [5, 8])
def test_badge_uid_of_unexpected_length_gives_a_clear_error(
    reader: PcscCardReader, slot: VirtualBadgeSlot, uid_length: int
) -> None:
    slot.insert(Badge(bytes(range(1, uid_length + 1))))
    with pytest.raises(UnreadableBadge, match=f"{uid_length} bytes long.*4, 7 or 10 bytes"):
        reader.wait_for_card(5.0)
    assert tap(reader, slot, OFFICER_BADGE).uid == "04A1B2C3D4E5F6"  # the reader still works


def test_no_matching_reader_is_reported_in_health(pcscd: PrivatePcscd) -> None:
    card_reader = PcscCardReader(reader_prefix="ACS ACR122U")
    try:
        assert card_reader.wait_for_card(0.2) is None
        assert card_reader.health().ok is False
        assert card_reader.health().detail == NO_READER
    finally:
        card_reader.close()


def test_reader_keeps_working_after_pcscd_restarts(
    pcscd: PrivatePcscd, slot: VirtualBadgeSlot
) -> None:
    card_reader = PcscCardReader(reader_prefix=READER, outage_grace=0.5)
    try:
        assert tap(card_reader, slot, OFFICER_BADGE).uid == "04A1B2C3D4E5F6"
        pcscd.stop()
        with pytest.raises(BadgeReaderError) as raised:
            card_reader.wait_for_card(3.0)
        assert str(raised.value) == NOT_RUNNING
        assert card_reader.health().detail == NOT_RUNNING
        pcscd.start()
        assert tap(card_reader, slot, DETAINEE_BADGE).uid == "0A0B0C0D"
        assert card_reader.health().ok
    finally:
        card_reader.close()


def test_pcscd_outage_shorter_than_the_grace_is_waited_out(
    pcscd: PrivatePcscd, reader: PcscCardReader, slot: VirtualBadgeSlot
) -> None:
    pcscd.stop()
    assert reader.wait_for_card(0.5) is None  # no error yet: it may come back
    assert reader.health().detail == NOT_RUNNING
    pcscd.start()
    assert tap(reader, slot, OFFICER_BADGE).uid == "04A1B2C3D4E5F6"


def test_reader_made_while_pcscd_is_down_works_once_it_starts(
    pcscd: PrivatePcscd, slot: VirtualBadgeSlot
) -> None:
    pcscd.stop()
    card_reader = PcscCardReader(reader_prefix=READER)
    try:
        assert card_reader.health().detail == NOT_RUNNING
        pcscd.start()
        assert tap(card_reader, slot, DETAINEE_BADGE).uid == "0A0B0C0D"
    finally:
        card_reader.close()


def test_staff_badge_then_five_wrong_pins_lock_and_report_it(
    reader: PcscCardReader, slot: VirtualBadgeSlot, kiosk_db: Database
) -> None:
    owner = caches.badge_owner(kiosk_db, tap(reader, slot, OFFICER_BADGE).uid)
    assert owner == ("staff", "s-7")
    staff_id = owner[1]
    assert not is_locked(kiosk_db, staff_id)
    results = [
        check_pin(kiosk_db, staff_id, "0000", site=SITE, device=DEVICE)
        for _ in range(MAX_WRONG_PINS)
    ]
    assert [r.tries_left for r in results] == [4, 3, 2, 1, 0]
    assert results[-1].locked and results[-1].message() == LOCKED
    assert is_locked(kiosk_db, staff_id)
    # The right PIN no longer opens, and the badge laid again finds the PIN still locked.
    assert not check_pin(kiosk_db, staff_id, "4821", site=SITE, device=DEVICE).accepted
    slot.remove()
    again = caches.badge_owner(kiosk_db, tap(reader, slot, OFFICER_BADGE).uid)
    assert again is not None and is_locked(kiosk_db, again[1])
    queued = outbox.pending(kiosk_db)
    assert [e.type for e in queued] == ["staff.pin_locked"]
    event = decode_event(queued[0].payload)
    assert isinstance(event, StaffPinLockedEvent)
    assert (event.actor, event.site, event.device, event.body.wrong_tries) == (
        "s-7",
        SITE,
        DEVICE,
        MAX_WRONG_PINS,
    )
