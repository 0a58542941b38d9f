"""Identification, movement checks and enrolment at the kiosk, end to end on real parts: the
shipped face models on real faces-dev photos played by the replay camera, real fingerprint
impressions from fingers-dev played by the recorded sensor, a real kiosk store whose wing is
enrolled from those faces, calibrations measured on the same sets, and the events read back
from the outbox. Badge taps are handed in as the badge relay hands them (present_badge).
"""

from __future__ import annotations

import base64
import json
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from kiosk import caches, outbox, store
from kiosk.agent import Agent
from kiosk.config import KioskConfig, ReplayConfig
from kiosk.enrolment_station import (
    BADGE_ALREADY_THEIRS,
    BADGE_TAKEN,
    EnrolmentStation,
)
from kiosk.flow_parts import KioskParts
from kiosk.identify import (
    CAMERA_DOWN,
    CAMERA_DOWN_BADGE,
    CAMERA_DOWN_FINGER,
    NOT_RECOGNISED,
    STAFF_LOGIN_RULE,
    UNKNOWN_BADGE,
    FlowState,
    IdentificationFlow,
)
from kiosk.movement_check import MovementCheck
from kiosk.policy import PolicyConfig
from kiosk.recognition import finger
from kiosk.recognition.calibration import CalibratedModality, Calibration
from kiosk.recognition.face import FacePipeline, engine_id, enrol, load_image
from kiosk.sensors import Camera, FingerprintSensor
from kiosk.sensors.camera import ReplayCamera
from kiosk.sensors.fingerprint import RecordedFingerprintSensor
from kiosk.store import Database
from kiosk.vault import TemplateVault
from protocol import decode_event
from protocol.events import (
    EnrolmentCapturedEvent,
    EventBase,
    IdentificationEvent,
    ModalityCheck,
    MovementVerifiedEvent,
)
from protocol.messages import Change
from protocol.pins import hash_pin
from tests.shared_data import FACES, FINGERS, MODELS

SITE, DEVICE = "rabat-1", "wing-a-1"
WING = "wing-a"
PEOPLE = {
    "d-blair": "Tony_Blair",
    "d-watts": "Naomi_Watts",
    "d-blix": "Hans_Blix",
    "d-rumsfeld": "Donald_Rumsfeld",
}
BADGES = {"d-blair": "0A0B0C01", "d-watts": "0A0B0C02", "d-blix": "0A0B0C03"}
ENROLLED_FROM = (1, 2, 3)  # each person's template is made from these photos
OFFICER, OFFICER_BADGE, OFFICER_PIN = "s-7", "04A1B2C3D4E5F6", "4821"
BLAIR_FINGER = FINGERS / "FVC2002DB1_103"  # impression 1 is enrolled for d-blair


def measured(modality: CalibratedModality, thresholds: list[float], engine: str) -> Calibration:
    return Calibration.model_validate(
        {
            "modality": modality,
            "thresholds": dict(zip(["1e-2", "1e-3", "1e-4"], thresholds, strict=True)),
            "genuine_pairs": 3104 if modality == "face" else 560,
            "impostor_pairs": 72_751 if modality == "face" else 2560,
            "identities": 34 if modality == "face" else 20,
            "samples": 390 if modality == "face" else 160,
            "eer": 0.0023 if modality == "face" else 0.039,
            "data": "../shared/data/faces-dev" if modality == "face" else "fingers-dev",
            "model_sha256": engine,
            "measured_at": "2026-01-01T00:00:00Z",
        }
    )


# What `masar kiosk calibrate` measures on faces-dev with the shipped models (faceplugin) and
# on fingers-dev with masar-finger-1; the fingerprint set is too small for 1e-4.
FACE_CALIBRATION = measured("face", [0.25995, 0.33563, 0.38473], engine_id())
FINGER_CALIBRATION = measured("fingerprint", [0.06841, 0.07755, 0.08013], finger.ENGINE_SHA256)
CALIBRATIONS: dict[CalibratedModality, Calibration] = {
    "face": FACE_CALIBRATION,
    "fingerprint": FINGER_CALIBRATION,
}
BADGE_FACE = PolicyConfig(self_service_rule="badge_face", head_turn_modes=())
FACE_1N = PolicyConfig(head_turn_modes=())  # face alone: the wing (4 people) is small enough


def photo_path(person: str, number: int) -> Path:
    return FACES / person / f"{person}_{number:04d}.jpg"


@pytest.fixture(scope="module")
def pipeline() -> FacePipeline:
    return FacePipeline.open(MODELS)


@pytest.fixture(scope="module")
def face_templates(pipeline: FacePipeline) -> dict[str, np.ndarray]:
    return enrolled_faces(pipeline)


def enrolled_faces(pipeline: FacePipeline) -> dict[str, np.ndarray]:
    """Each person's face template, made from photos ENROLLED_FROM."""
    threshold = FACE_CALIBRATION.thresholds["1e-3"]
    return {
        detainee: enrol(
            [pipeline.analyse(load_image(photo_path(name, n))) for n in ENROLLED_FROM],
            same_person_threshold=threshold,
        )
        for detainee, name in PEOPLE.items()
    }


@dataclass
class Kiosk:
    """A kiosk store holding the wing (PEOPLE, each face-enrolled, d-blair's finger too), an
    officer with a badge and a PIN, and what a test opened (closed at the end)."""

    store_path: Path
    vault: TemplateVault
    db: Database
    pipeline: FacePipeline
    later: ExitStack

    def parts(
        self,
        *,
        policy: PolicyConfig = BADGE_FACE,
        camera: Camera | None = None,
        fingerprint: FingerprintSensor | None = None,
        pipeline: bool = True,
    ) -> KioskParts:
        return KioskParts(
            store_path=self.store_path,
            vault=self.vault,
            policy=policy,
            calibrations=CALIBRATIONS,
            site=SITE,
            device=DEVICE,
            camera=camera,
            fingerprint=fingerprint,
            face_pipeline=self.pipeline if pipeline else None,
        )

    def camera(self, path: Path, fps: float | None = None, skip: bool = True) -> ReplayCamera:
        camera = ReplayCamera(ReplayConfig(path=path, fps=fps, skip=skip))
        self.later.callback(camera.close)
        return camera

    def flow(self, parts: KioskParts) -> IdentificationFlow:
        """A flow whose steps the test takes itself."""
        flow = IdentificationFlow(parts, background=False)
        self.later.callback(flow.close)
        return flow

    def events(self) -> list[EventBase]:
        return [decode_event(event.payload) for event in outbox.pending(self.db, limit=1000)]


def template_entry(template_id: str, modality: str, data: bytes) -> dict[str, str]:
    """A template as the hub sends it at sync."""
    form = "f32" if modality == "face" else finger.ENGINE
    return {
        "id": template_id,
        "modality": modality,
        "format": form,
        "data": base64.b64encode(data).decode(),
    }


def enrol_detainee(
    kiosk: Kiosk,
    detainee: str,
    templates: list[dict[str, str]],
    *,
    file: dict[str, Any] | None = None,
    out: bool = False,
) -> None:
    """Put ``detainee`` (one of PEOPLE) in the kiosk's caches as a sync from the hub does."""
    data = {
        "file": file or {},
        "out": out,
        "prison_number": f"P-{detainee}",
        "name_latin": PEOPLE[detainee].replace("_", " "),
        "name_arabic": "اسم",
        "preferred_language": "ar",
        "literate": True,
        "badges": [BADGES[detainee]] if detainee in BADGES else [],
        "templates": templates,
    }
    with store.write(kiosk.db):
        caches.apply_change(
            kiosk.db, kiosk.vault, Change(kind="detainee", op="upsert", key=detainee, data=data)
        )


@pytest.fixture
def kiosk(
    tmp_path: Path, pipeline: FacePipeline, face_templates: dict[str, np.ndarray]
) -> Iterator[Kiosk]:
    with kiosk_store(tmp_path, pipeline, face_templates) as made:
        yield made


@contextmanager
def kiosk_store(
    tmp_path: Path, pipeline: FacePipeline, face_templates: dict[str, np.ndarray]
) -> Iterator[Kiosk]:
    """A kiosk store with the officer and the wing (PEOPLE), as a sync brings them."""
    db = store.open_store(tmp_path / "kiosk.db")
    vault = TemplateVault(tmp_path / "cache.key")
    officer = {
        "name": "Officer Amrani",
        "role": "wing_officer",
        "pin_hash": hash_pin(OFFICER_PIN),
        "badges": [OFFICER_BADGE],
    }
    with store.write(db):
        caches.apply_change(db, vault, Change(kind="staff", op="upsert", key=OFFICER, data=officer))
    impression = RecordedFingerprintSensor([BLAIR_FINGER / "103_1.png"]).capture()
    assert impression is not None
    blair_finger = finger.finger_template(impression).to_bytes()
    with ExitStack() as later:
        made = Kiosk(tmp_path / "kiosk.db", vault, db, pipeline, later)
        for detainee, template in face_templates.items():
            templates = [template_entry(f"{detainee}-face", "face", template.tobytes())]
            if detainee == "d-blair":
                templates.append(template_entry(f"{detainee}-finger", "fingerprint", blair_finger))
            enrol_detainee(made, detainee, templates)
        yield made
    db.close()


def run(step: Callable[[], object], active: Callable[[], bool], limit: int = 60) -> None:
    """Call ``step`` until ``active()`` is false, as the worker thread would."""
    for _ in range(limit):
        if not active():
            return
        step()
    pytest.fail(f"still going after {limit} steps")


def replay_folder(folder: Path, pictures: list[np.ndarray]) -> Path:
    """A folder the replay camera plays in this order (lossless PNG)."""
    folder.mkdir()
    for index, picture in enumerate(pictures):
        cv2.imwrite(str(folder / f"{index:03d}.png"), picture)
    return folder


def finish(flow: IdentificationFlow) -> FlowState:
    run(flow.step, lambda: flow.state().active)
    return flow.state()


# --- self-service identification ---------------------------------------------------------


def test_badge_then_face_identifies_the_badge_owner_with_one_event(kiosk: Kiosk) -> None:
    flow = kiosk.flow(kiosk.parts(camera=kiosk.camera(photo_path("Tony_Blair", 5))))

    started = flow.start("self_service")
    assert (started.expect, started.rule, started.error) == (
        "badge",
        "self_service.badge_face",
        None,
    )
    assert started.advice == "Lay your badge on the reader"
    asked = flow.present_badge(BADGES["d-blair"].lower())
    assert (asked.expect, asked.options, asked.advice) == ("face", ("face",), "Look at the camera")
    done = finish(flow)

    assert (done.outcome, done.person_id, done.person_kind) == ("matched", "d-blair", "detainee")
    [event] = kiosk.events()
    assert isinstance(event, IdentificationEvent)
    assert (event.id, event.subject, event.actor) == (done.event_id, "d-blair", None)
    assert (event.body.rule, event.body.outcome) == ("self_service.badge_face", "matched")
    badge, face = event.body.checks
    assert (badge.modality, badge.matched) == ("badge", True)
    assert (face.modality, face.comparison, face.matched) == ("face", "1:1", True)
    assert face.score is not None and face.threshold == FACE_CALIBRATION.thresholds["1e-3"]
    assert face.score >= face.threshold
    preview = flow.preview_jpeg()
    assert preview is not None
    picture = cv2.imdecode(np.frombuffer(preview, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None and picture.shape == (250, 250, 3)  # under 320 px: kept as it is


def test_someone_elses_face_is_not_recognised_and_the_screen_names_nobody(kiosk: Kiosk) -> None:
    flow = kiosk.flow(kiosk.parts(camera=kiosk.camera(photo_path("Naomi_Watts", 5))))
    flow.start()
    flow.present_badge(BADGES["d-blair"])
    done = finish(flow)

    assert (done.outcome, done.message, done.person_id) == ("not_matched", NOT_RECOGNISED, None)
    shown = json.dumps(done.as_dict())
    assert not any(word in shown for word in ("d-blair", "d-watts", "Watts", "Blair", "score"))
    [event] = kiosk.events()
    assert isinstance(event, IdentificationEvent)
    assert (event.subject, event.body.outcome) == (None, "not_matched")
    assert [c.matched for c in event.body.checks] == [True, False]


def test_face_alone_identifies_someone_in_a_small_wing(kiosk: Kiosk) -> None:
    camera = kiosk.camera(photo_path("Hans_Blix", 7))
    flow = kiosk.flow(kiosk.parts(policy=FACE_1N, camera=camera))

    assert flow.start().expect == "face"
    done = finish(flow)

    assert (done.outcome, done.person_id) == ("matched", "d-blix")
    [event] = kiosk.events()
    assert isinstance(event, IdentificationEvent)
    assert (event.subject, event.body.rule) == ("d-blix", "self_service.face_1n")
    assert [(c.comparison, c.matched) for c in event.body.checks] == [("1:N", True)]


def test_unknown_badge_ends_the_attempt_in_plain_words(kiosk: Kiosk) -> None:
    flow = kiosk.flow(kiosk.parts(camera=kiosk.camera(photo_path("Tony_Blair", 5))))
    flow.start()
    done = flow.present_badge("DEADBEEF")
    assert (done.active, done.outcome, done.message) == (False, "not_matched", UNKNOWN_BADGE)
    [event] = kiosk.events()
    assert isinstance(event, IdentificationEvent)
    assert [(c.modality, c.matched) for c in event.body.checks] == [("badge", False)]


def test_face_guidance_says_what_to_do_and_where_the_face_is(kiosk: Kiosk, tmp_path: Path) -> None:
    small = cv2.resize(load_image(photo_path("Tony_Blair", 5)), None, fx=0.3, fy=0.3)
    frame = np.full((480, 640, 3), 128, np.uint8)
    frame[300 : 300 + small.shape[0], 100 : 100 + small.shape[1]] = small
    cv2.imwrite(str(tmp_path / "far.png"), frame)
    flow = kiosk.flow(kiosk.parts(camera=kiosk.camera(tmp_path / "far.png")))
    flow.start()
    flow.present_badge(BADGES["d-blair"])

    flow.step()

    state = flow.state()
    assert (state.active, state.guidance, state.advice) == (True, "too_small", "Come closer")
    assert state.face_box is not None
    x, y, w, h = state.face_box
    assert 100 / 640 <= x < x + w <= 175 / 640 and 300 / 480 <= y < y + h <= 375 / 480
    assert kiosk.events() == []
    preview = flow.preview_jpeg()
    assert preview is not None
    picture = cv2.imdecode(np.frombuffer(preview, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None and picture.shape == (240, 320, 3)


def kiosk_sized(number: int) -> np.ndarray:
    """A photo of Tony Blair enlarged to the face size a kiosk camera sees at ~50 cm."""
    image = load_image(photo_path("Tony_Blair", number))
    return cv2.resize(image, None, fx=1.6, fy=1.6, interpolation=cv2.INTER_CUBIC)


def test_head_turn_is_asked_for_and_cancel_records_the_attempt_as_abandoned(
    kiosk: Kiosk, tmp_path: Path
) -> None:
    policy = PolicyConfig(self_service_rule="badge_face")  # head turn at self-service
    cv2.imwrite(str(tmp_path / "still.png"), kiosk_sized(35))  # looking straight at it
    flow = kiosk.flow(kiosk.parts(policy=policy, camera=kiosk.camera(tmp_path / "still.png")))
    flow.start()
    flow.present_badge(BADGES["d-blair"])
    for _ in range(4):
        flow.step()

    state = flow.state()
    assert (state.guidance, state.advice) == ("turn_left", "Turn your head slowly to your left")
    assert state.challenge is not None
    assert (state.challenge.steps, state.challenge.done) == (("left", "right"), 0)
    assert kiosk.events() == []  # a photo held still never passes, and nothing is compared yet

    assert flow.cancel() == FlowState()
    [event] = kiosk.events()
    assert isinstance(event, IdentificationEvent)
    assert event.body.outcome == "abandoned"
    assert [c.modality for c in event.body.checks] == ["badge"]


YUNET_CALIBRATION = measured("face", [0.26018, 0.33282, 0.38594], engine_id("yunet"))
"""What `masar kiosk calibrate --detector yunet` measures on faces-dev."""

TURNING_BLAIR = [7, 5, 23, 2, 14, 9, 18, 28, 22, 26]
TURNING_BLAIR += [*reversed(TURNING_BLAIR), 29, 41, 30, 25, 37, 3, 13, 42, 39, 35, 16, 43, 32]
TURNING_BLAIR += [33, 10, 4, 40, 31, 21, 24, 20, 38, 19, 27, 6, 15, 8, 1, 17, 11, 12, 36]
"""Tony Blair's photos ordered by the turn YuNet's landmarks measure (as test_liveness.py
orders them): from frontal to past 0.2 to his left, back, and on past 0.2 to his right."""


def test_head_turn_passed_by_a_real_head_then_the_face_is_compared(
    kiosk: Kiosk, tmp_path: Path
) -> None:
    """The photos played as a 15 fps camera would film them, none skipped however busy the
    machine (frame n stamped n/15 s after the first: the challenge bounds the turn's speed by
    those stamps), and analysed by the flow's own worker thread.

    YuNet, because the default detector's landmarks do not foreshorten the eye line as the
    challenge expects on these photos (the report of issue 7 gives the figures)."""
    yunet = FacePipeline.open(MODELS, detector="yunet")
    enrolled = enrol(
        [yunet.analyse(load_image(photo_path("Tony_Blair", n))) for n in ENROLLED_FROM],
        same_person_threshold=YUNET_CALIBRATION.thresholds["1e-3"],
    )
    enrol_detainee(kiosk, "d-blair", [template_entry("d-blair-face", "face", enrolled.tobytes())])
    frames = replay_folder(tmp_path / "turning", [kiosk_sized(n) for n in TURNING_BLAIR])
    parts = replace(
        kiosk.parts(policy=PolicyConfig(self_service_rule="badge_face")),
        camera=kiosk.camera(frames, fps=15, skip=False),
        face_pipeline=yunet,
        calibrations={"face": YUNET_CALIBRATION},
    )
    flow = IdentificationFlow(parts)  # with its worker thread
    kiosk.later.callback(flow.close)

    flow.start()
    flow.present_badge(BADGES["d-blair"])
    phases = set()
    for _ in range(1000):  # 20 ms each: up to 20 s
        state = flow.state()
        if state.challenge is not None:
            phases.add(state.challenge.phase)
        if not state.active:
            break
        time.sleep(0.02)

    assert (state.outcome, state.person_id) == ("matched", "d-blair")
    assert "turned_left" in phases
    [event] = kiosk.events()
    assert isinstance(event, IdentificationEvent)
    assert event.subject == "d-blair"


def test_missing_camera_is_said_plainly_and_badge_and_finger_still_work(kiosk: Kiosk) -> None:
    """Self-service needs a face; a movement check may take the detainee's finger instead."""
    face_only = kiosk.flow(kiosk.parts(camera=None))
    stopped = face_only.start()
    assert (stopped.active, stopped.expect, stopped.outcome) == (False, None, None)
    assert stopped.error == CAMERA_DOWN
    assert kiosk.events() == []

    sensor = RecordedFingerprintSensor([BLAIR_FINGER / "103_2.png"])
    flow = kiosk.flow(kiosk.parts(policy=PolicyConfig(), camera=None, fingerprint=sensor))
    officer = [
        ModalityCheck(modality=m, comparison="exact", matched=True) for m in ("badge", "pin")
    ]
    started = flow.start("movement_check", carried=officer, actor=OFFICER)
    assert (started.active, started.expect, started.error) == (True, "badge", CAMERA_DOWN_BADGE)
    asked = flow.present_badge(BADGES["d-blair"])
    assert (asked.expect, asked.options, asked.error) == (
        "fingerprint",
        ("fingerprint",),
        CAMERA_DOWN_FINGER,
    )
    done = finish(flow)

    assert (done.outcome, done.person_id) == ("matched", "d-blair")
    [event] = kiosk.events()
    assert isinstance(event, IdentificationEvent)
    assert (event.subject, event.actor) == ("d-blair", OFFICER)
    assert event.body.rule == "movement_check.badge_face_or_finger"
    assert [(c.modality, c.matched) for c in event.body.checks] == [
        ("badge", True),
        ("pin", True),
        ("badge", True),
        ("fingerprint", True),
    ]


def test_staff_badge_at_a_self_service_kiosk_asks_for_the_pin_and_identifies_staff(
    kiosk: Kiosk,
) -> None:
    flow = kiosk.flow(kiosk.parts(policy=FACE_1N, camera=kiosk.camera(photo_path("Tony_Blair", 5))))
    assert flow.start().expect == "face"

    assert flow.present_badge(OFFICER_BADGE).expect == "pin"
    wrong = flow.present_pin("1111")
    assert (wrong.expect, wrong.message) == ("pin", "Wrong PIN. 4 more wrong PINs lock it.")
    done = flow.present_pin(OFFICER_PIN)

    assert (done.outcome, done.person_id, done.person_kind) == ("matched", OFFICER, "staff")
    [event] = kiosk.events()
    assert isinstance(event, IdentificationEvent)
    assert (event.subject, event.actor, event.body.rule) == (None, OFFICER, STAFF_LOGIN_RULE)


# --- movement check ------------------------------------------------------------------------


def test_movement_check_from_officer_login_to_confirmed_and_refused_movements(
    kiosk: Kiosk, face_templates: dict[str, np.ndarray]
) -> None:
    workshop = {"id": 12, "to": "workshop", "at": "2026-03-02T09:00:00Z", "reason": "carpentry"}
    blair_face = [template_entry("d-blair-face", "face", face_templates["d-blair"].tobytes())]
    enrol_detainee(kiosk, "d-blair", blair_face, file={"scheduled_movements": [workshop]})
    enrol_detainee(kiosk, "d-blix", [], file={"location": "clinic"}, out=True)
    parts = kiosk.parts(camera=kiosk.camera(photo_path("Tony_Blair", 5)))
    gate = MovementCheck(parts, wing=WING, background=False)
    kiosk.later.callback(gate.close)
    assert gate.state().identification.expect == "staff_badge"
    gate.present_badge(OFFICER_BADGE)
    logged_in = gate.present_pin(OFFICER_PIN)
    assert (logged_in.stage, logged_in.staff_name) == ("identify", "Officer Amrani")
    assert logged_in.identification.expect == "badge"
    assert gate.out_count() == 1  # d-blix, at the clinic

    gate.present_badge(BADGES["d-blair"])
    run(gate.step, lambda: gate.state().stage == "identify")
    shown = gate.state()
    assert shown.stage == "decide" and shown.person is not None
    assert (shown.person.card.prison_number, shown.person.location) == ("P-d-blair", WING)
    assert shown.person.scheduled_movements == (workshop,)
    on_screen = json.loads(json.dumps(shown.as_dict()))["person"]
    assert (on_screen["name_latin"], on_screen["movement_scheduled"]) == ("Tony Blair", True)

    after = gate.confirm("workshop", reason="carpentry")
    assert (after.stage, after.identification.expect) == ("identify", "badge")
    assert after.last is not None and after.last.to_location == "workshop"
    assert gate.out_count() == 2
    gate.present_badge(BADGES["d-blair"])  # back again, wanting to go elsewhere
    run(gate.step, lambda: gate.state().stage == "identify")
    again = gate.state().person
    assert again is not None and again.location == "workshop"
    gate.refuse("yard")

    login, first, moved, second, refused = kiosk.events()
    assert isinstance(login, IdentificationEvent) and login.body.rule == STAFF_LOGIN_RULE
    assert isinstance(first, IdentificationEvent) and isinstance(second, IdentificationEvent)
    assert (first.subject, first.actor) == ("d-blair", OFFICER)
    assert [c.modality for c in first.body.checks] == ["badge", "pin", "badge", "face"]
    assert isinstance(moved, MovementVerifiedEvent) and isinstance(refused, MovementVerifiedEvent)
    assert (moved.subject, moved.actor) == ("d-blair", OFFICER)
    assert moved.body.model_dump() == {
        "from_location": WING,
        "to_location": "workshop",
        "reason": "carpentry",
        "modalities": ["badge", "face"],
        "outcome": "confirmed",
    }
    assert (refused.body.from_location, refused.body.to_location) == ("workshop", "yard")
    assert refused.body.outcome == "refused"
    assert gate.out_count() == 2


# --- enrolment station ---------------------------------------------------------------------


def logged_in_station(kiosk: Kiosk, camera: Camera | None) -> EnrolmentStation:
    station = EnrolmentStation(
        kiosk.parts(camera=camera), face_frames=3, frame_gap=0.0, background=False
    )
    kiosk.later.callback(station.close)
    station.present_badge(OFFICER_BADGE)
    assert station.present_pin(OFFICER_PIN).stage == "pick"
    return station


def test_enrolment_makes_a_face_template_from_several_good_frames(
    kiosk: Kiosk, tmp_path: Path
) -> None:
    two_people = np.hstack(
        [load_image(photo_path("Tony_Blair", 1)), load_image(photo_path("Naomi_Watts", 1))]
    )
    frames = [two_people, *(load_image(photo_path("Donald_Rumsfeld", n)) for n in (4, 5, 6))]
    station = logged_in_station(kiosk, kiosk.camera(replay_folder(tmp_path / "f", frames)))
    assert station.pick_prison_number("P-d-rumsfeld").stage == "menu"

    station.capture_face()
    station.step()
    crowded = station.state()
    assert (crowded.guidance, crowded.advice) == ("several_faces", "One person at a time, please")
    assert crowded.frames_kept == 0
    run(station.step, lambda: station.state().stage == "face")

    done = station.state()
    assert (done.stage, done.enrolled, done.error) == ("menu", ("face",), None)
    *_, event = kiosk.events()
    assert isinstance(event, EnrolmentCapturedEvent)
    assert (event.subject, event.actor, event.body.modality) == ("d-rumsfeld", OFFICER, "face")
    assert event.body.template is not None
    template = np.frombuffer(base64.b64decode(event.body.template), "<f4")
    assert template.shape == (512,)
    known = kiosk.pipeline.analyse(load_image(photo_path("Donald_Rumsfeld", 1))).template
    assert known is not None and float(template @ known) >= FACE_CALIBRATION.thresholds["1e-3"]


def test_enrolment_refuses_frames_of_two_people(kiosk: Kiosk, tmp_path: Path) -> None:
    frames = [
        load_image(photo_path(name, 4)) for name in ("Tony_Blair", "Naomi_Watts", "Hans_Blix")
    ]
    station = logged_in_station(kiosk, kiosk.camera(replay_folder(tmp_path / "f", frames)))
    station.present_badge(BADGES["d-blair"])
    station.capture_face()
    run(station.step, lambda: station.state().stage == "face")

    refused = station.state()
    assert (refused.stage, refused.enrolled) == ("menu", ())
    assert refused.error is not None and "do not all show the same person" in refused.error
    assert not [e for e in kiosk.events() if isinstance(e, EnrolmentCapturedEvent)]


def test_enrolment_assigns_a_new_badge_and_refuses_one_owned_by_someone_else(
    kiosk: Kiosk,
) -> None:
    station = logged_in_station(kiosk, None)
    station.pick_prison_number("P-d-rumsfeld")  # has no badge yet
    station.assign_badge()

    taken = station.present_badge(BADGES["d-watts"])
    assert (taken.stage, taken.error) == ("badge", BADGE_TAKEN)
    assert "d-watts" not in json.dumps(taken.as_dict())
    staff_badge = station.present_badge(OFFICER_BADGE)
    assert staff_badge.error == BADGE_TAKEN
    done = station.present_badge("04aabbccddeeff")

    assert (done.stage, done.enrolled) == ("menu", ("badge",))
    *_, event = kiosk.events()
    assert isinstance(event, EnrolmentCapturedEvent)
    assert (event.subject, event.body.modality, event.body.badge_uid) == (
        "d-rumsfeld",
        "badge",
        "04AABBCCDDEEFF",
    )
    station.assign_badge()
    assert station.present_badge("04AABBCCDDEEFF").error == BADGE_ALREADY_THEIRS
    station.done_with_person()
    station.pick_prison_number("P-d-blix")
    station.assign_badge()
    assert station.present_badge("04AABBCCDDEEFF").error == BADGE_TAKEN  # given out just now


def test_enrolment_takes_a_clear_fingerprint(kiosk: Kiosk) -> None:
    sensor = RecordedFingerprintSensor([BLAIR_FINGER / "103_3.png"])
    station = EnrolmentStation(kiosk.parts(fingerprint=sensor), background=False)
    kiosk.later.callback(station.close)
    station.present_badge(OFFICER_BADGE)
    station.present_pin(OFFICER_PIN)
    station.present_badge(BADGES["d-blair"])
    station.capture_fingerprint()
    run(station.step, lambda: station.state().stage == "fingerprint")

    assert station.state().enrolled == ("fingerprint",)
    *_, event = kiosk.events()
    assert isinstance(event, EnrolmentCapturedEvent)
    assert (event.body.modality, event.body.template_format) == ("fingerprint", finger.ENGINE)
    assert event.body.template is not None
    stored = finger.FingerTemplate.from_bytes(base64.b64decode(event.body.template))
    assert event.body.quality == pytest.approx(stored.quality)


# --- the agent's face pipeline ---------------------------------------------------------------


def test_agent_opens_the_face_pipeline_once_its_models_are_there(tmp_path: Path) -> None:
    agent = Agent(KioskConfig(site=SITE, device=DEVICE, data_dir=tmp_path))
    assert agent.face_pipeline() is None  # no models yet: faces cannot be used
    models = tmp_path / "models"
    models.mkdir()
    for name in ("fr_detect.onnx", "fr_landmark.onnx", "fr_feature.onnx"):
        shutil.copy(MODELS / name, models / name)

    pipeline = agent.face_pipeline()

    assert pipeline is not None and pipeline.engine == engine_id()
    assert agent.face_pipeline() is pipeline  # opened once, kept
