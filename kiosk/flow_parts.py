"""What the kiosk's three flows (kiosk.identify, kiosk.movement_check,
kiosk.enrolment_station) share about the kiosk and its people: the parts every flow is built
from, and the roster and staff look-ups their screens show.

Kept apart from any one flow so that none of them has to import another only for these.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiosk.policy import PolicyConfig
from kiosk.recognition import finger
from kiosk.recognition.calibration import CalibratedModality, Calibration
from kiosk.recognition.face import FacePipeline, engine_id
from kiosk.sensors import Camera, CardReader, FingerprintSensor
from kiosk.store import Database
from kiosk.vault import TemplateVault
from protocol.ids import utc_now

if TYPE_CHECKING:
    from kiosk.agent import Agent


@dataclass(frozen=True)
class KioskParts:
    """The store, keys, policy, calibrations and sensors a flow works with.

    ``badge_reader`` is consulted only for its health: taps reach a flow through its
    ``present_badge`` (``BadgeRelay`` feeds it from the reader). None means no reader is
    watched here, and taps come from elsewhere (tests, a reader driven by another thread).
    ``camera`` or ``face_pipeline`` None: faces cannot be used; ``fingerprint`` None:
    fingerprints cannot.
    """

    store_path: Path
    vault: TemplateVault
    policy: PolicyConfig
    calibrations: Mapping[CalibratedModality, Calibration]
    site: str
    device: str
    camera: Camera | None = None
    badge_reader: CardReader | None = None
    fingerprint: FingerprintSensor | None = None
    face_pipeline: FacePipeline | None = None
    clock: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = utc_now

    @classmethod
    def of_agent(
        cls,
        agent: Agent,
        policy: PolicyConfig,
        calibrations: Mapping[CalibratedModality, Calibration],
    ) -> KioskParts:
        """The parts of a running kiosk: its store, vault and sensors, its face pipeline if
        the models are there."""
        config = agent.config
        return cls(
            store_path=config.store_path,
            vault=agent.vault,
            policy=policy,
            calibrations=calibrations,
            site=config.site,
            device=config.device,
            camera=agent.camera,
            badge_reader=agent.badge_reader,
            fingerprint=agent.fingerprint,
            face_pipeline=agent.face_pipeline(),
        )

    def engines(self) -> dict[CalibratedModality, str]:
        """The recognition engines in use, which a calibration must have been measured with."""
        face = self.face_pipeline.engine if self.face_pipeline is not None else engine_id()
        return {"face": face, "fingerprint": finger.ENGINE_SHA256}


@dataclass(frozen=True)
class PersonCard:
    """Who a detainee is, as the roster on this kiosk has them (the photo is served apart)."""

    detainee_id: str
    prison_number: str
    name_latin: str
    name_arabic: str
    has_photo: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def person_card(db: Database, detainee_id: str) -> PersonCard | None:
    row = db.execute(
        "SELECT prison_number, name_latin, name_arabic, photo_thumbnail IS NOT NULL "
        "FROM roster WHERE detainee_id = ?",
        [detainee_id],
    ).fetchone()
    if row is None:
        return None
    return PersonCard(detainee_id, str(row[0]), str(row[1]), str(row[2]), bool(row[3]))


def roster_photo(db: Database, detainee_id: str) -> bytes | None:
    """The roster's photo of a detainee (JPEG from the hub), for the staff screens."""
    row = db.execute(
        "SELECT photo_thumbnail FROM roster WHERE detainee_id = ?", [detainee_id]
    ).fetchone()
    return None if row is None or row[0] is None else bytes(row[0])


def staff_name(db: Database, staff_id: str) -> str | None:
    row = db.execute("SELECT name FROM staff WHERE staff_id = ?", [staff_id]).fetchone()
    return None if row is None else str(row[0])


def normalised_box(
    box: tuple[float, float, float, float], shape: tuple[int, ...]
) -> tuple[float, float, float, float]:
    """A face box (x, y, width, height in pixels) as fractions 0..1 of the frame."""
    height, width = shape[0], shape[1]
    x, y, w, h = box
    left, top = min(max(x / width, 0.0), 1.0), min(max(y / height, 0.0), 1.0)
    right, bottom = min(max((x + w) / width, 0.0), 1.0), min(max((y + h) / height, 0.0), 1.0)
    return (round(left, 4), round(top, 4), round(right - left, 4), round(bottom - top, 4))
