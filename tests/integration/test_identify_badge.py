"""Badge taps reach the identification flow from a real reader: a private pcscd with the
virtual reader (as tests/integration/test_badge.py runs it), the kiosk's PcscCardReader
watched by the BadgeRelay thread, the badge played by kiosk.sensors.virtual_badge.

The reader and its relay run in a child process: the PC/SC client library reads the socket
path once per process, and test_badge.py's pcscd has taken it in this one. The child prints
each tap the relay hands it; the test hands it to the flow, as the kiosk's relay does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk.identify import BADGE_READER_DOWN, IdentificationFlow
from kiosk.recognition.face import FacePipeline
from kiosk.sensors.virtual_badge import Badge, VirtualBadgeSlot
from tests.integration.test_badge import READER, PrivatePcscd
from tests.shared_data import MODELS
from tests.unit.test_identify import (
    BADGE_FACE,
    BADGES,
    Kiosk,
    enrolled_faces,
    kiosk_store,
    photo_path,
)

pytestmark = pytest.mark.integration

RELAY = f"""
import sys, threading
from kiosk.flow_threads import BadgeRelay
from kiosk.sensors.smartcard import PcscCardReader

reader = PcscCardReader(reader_prefix={READER!r})
print("health", reader.health().ok, flush=True)
relay = BadgeRelay(reader, poll=0.2)
relay.deliver_to(lambda uid: print("tap", uid, flush=True))
relay.start()
sys.stdin.read()  # until the test closes our input
relay.stop()
reader.close()
"""


@pytest.fixture(scope="module")
def pcscd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivatePcscd]:
    daemon = PrivatePcscd(tmp_path_factory.mktemp("pcscd"))
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture
def relay(pcscd: PrivatePcscd) -> Iterator[subprocess.Popen[str]]:
    with subprocess.Popen(
        [sys.executable, "-c", RELAY],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PCSCLITE_CSOCK_NAME": str(pcscd.socket)},
    ) as child:
        try:
            yield child
        finally:
            assert child.stdin is not None
            child.stdin.close()  # the child stops its relay and ends
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


@pytest.fixture
def kiosk(tmp_path: Path) -> Iterator[Kiosk]:
    pipeline = FacePipeline.open(MODELS)
    with kiosk_store(tmp_path, pipeline, enrolled_faces(pipeline)) as made:
        yield made


def test_badge_laid_on_the_reader_reaches_the_flow_which_identifies_its_owner(
    pcscd: PrivatePcscd, relay: subprocess.Popen[str], kiosk: Kiosk
) -> None:
    assert relay.stdout is not None
    assert relay.stdout.readline().split() == ["health", "True"]
    camera = kiosk.camera(photo_path("Tony_Blair", 5))
    flow = IdentificationFlow(kiosk.parts(policy=BADGE_FACE, camera=camera))  # with its worker
    kiosk.later.callback(flow.close)
    assert flow.start().expect == "badge"

    with VirtualBadgeSlot(port=pcscd.port) as slot:
        slot.insert(Badge.from_hex(BADGES["d-blair"]))
        kind, uid = relay.stdout.readline().split()  # the relay's tap
    assert (kind, uid) == ("tap", BADGES["d-blair"])
    flow.present_badge(uid)
    for _ in range(500):  # the worker needs one frame; each wait is 10 ms
        state = flow.state()
        if not state.active:
            break
        time.sleep(0.01)

    assert (state.outcome, state.person_id, state.error) == ("matched", "d-blair", None)


STAFF_LOGIN = f"""
import sys
from pathlib import Path
from kiosk.flow_parts import KioskParts
from kiosk.identify import IdentificationFlow
from kiosk.policy import PolicyConfig
from kiosk.sensors.smartcard import PcscCardReader
from kiosk.vault import TemplateVault

folder = Path(sys.argv[1])
reader = PcscCardReader(reader_prefix={READER!r})
parts = KioskParts(
    store_path=folder / "kiosk.db",
    vault=TemplateVault(folder / "cache.key"),
    policy=PolicyConfig(),
    calibrations={{}},
    site="rabat-1",
    device="wing-a-1",
    badge_reader=reader,
)
flow = IdentificationFlow(parts, background=False)
state = flow.start("movement_check", staff_login=True)
print(state.expect, state.error, sep="\\n")
flow.close()
"""


def test_reader_without_its_service_is_reported_while_a_badge_is_expected(
    tmp_path: Path,
) -> None:
    """No pcscd at the reader's socket: the staff login screen says the reader is down."""
    shown = subprocess.run(
        [sys.executable, "-c", STAFF_LOGIN, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PCSCLITE_CSOCK_NAME": str(tmp_path / "no-pcscd.comm")},
    )
    assert shown.stdout.splitlines() == ["staff_badge", BADGE_READER_DOWN]
