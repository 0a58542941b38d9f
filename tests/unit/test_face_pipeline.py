"""The face pipeline on real photos from ../shared/data/faces-dev and the real model files."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.recognition.calibration import all_pair_scores, threshold_at_fmr
from kiosk.recognition.detect import FaceImageError, YuNetFaceDetector
from kiosk.recognition.face import EnrolmentError, FacePipeline, enrol, load_image
from kiosk.recognition.models import ModelHashMismatchError, ModelMissingError
from kiosk.recognition.quality import QualityReport
from tests.shared_data import SHARED

MODELS = SHARED / "models"
FACES = SHARED / "data" / "faces-dev"
FINGERS = SHARED / "data" / "fingers-dev"


def photo(person: str, number: int) -> np.ndarray:
    return load_image(FACES / person / f"{person}_{number:04d}.jpg")


@pytest.fixture(scope="module", params=["faceplugin", "yunet"])
def pipeline(request: pytest.FixtureRequest) -> FacePipeline:
    return FacePipeline.open(MODELS, detector=request.param)


@pytest.fixture(scope="module")
def default_pipeline() -> FacePipeline:
    return FacePipeline.open(MODELS)


def test_good_photo_gives_a_unit_template_and_five_points_in_order(
    pipeline: FacePipeline,
) -> None:
    analysis = pipeline.analyse(photo("Tony_Blair", 1))
    assert analysis.quality == QualityReport(ok=True, reasons=())
    assert analysis.template is not None
    assert analysis.template.shape == (512,)
    assert analysis.template.dtype == np.float32
    assert abs(float(np.linalg.norm(analysis.template)) - 1) < 1e-5
    assert analysis.face is not None
    right_eye, left_eye, nose, right_mouth, left_mouth = analysis.face.landmarks
    assert right_eye[0] < nose[0] < left_eye[0]  # the person's right eye is left in the image
    assert right_mouth[0] < left_mouth[0]
    assert max(right_eye[1], left_eye[1]) < nose[1] < min(right_mouth[1], left_mouth[1])


def test_genuine_pairs_score_above_and_impostors_below_a_threshold_measured_on_other_people(
    default_pipeline: FacePipeline,
) -> None:
    """Threshold at FMR 1e-3 from half the people, then checked on the other half."""
    people = sorted(path.name for path in FACES.iterdir())
    templates: list[np.ndarray] = []
    labels: list[str] = []
    for person in people:
        for path in sorted((FACES / person).iterdir())[:4]:
            analysis = default_pipeline.analyse(load_image(path))
            if analysis.template is not None:
                templates.append(analysis.template)
                labels.append(person)
    matrix, names = np.array(templates), np.array(labels)
    calibrating = np.isin(names, people[0::2])
    calibration = all_pair_scores(matrix[calibrating], list(names[calibrating]))
    threshold = threshold_at_fmr(calibration.impostor, 1e-3)

    held_out = all_pair_scores(matrix[~calibrating], list(names[~calibrating]))
    assert len(held_out.genuine) > 90 and len(held_out.impostor) > 2000
    assert held_out.genuine.min() >= threshold
    assert held_out.impostor.max() < threshold


def test_yunet_decoding_agrees_with_opencv_face_detector() -> None:
    """Our numpy decoding of the raw outputs against OpenCV's own (FaceDetectorYN), both on
    the same 640 × 640 input."""
    detector = YuNetFaceDetector.open(MODELS)
    reference = cv2.FaceDetectorYN.create(
        str(MODELS / YuNetFaceDetector.MODEL), "", (640, 640), 0.9, 0.3, 5000
    )
    for person, number in [("Tony_Blair", 1), ("Hans_Blix", 1), ("Laura_Bush", 6)]:
        canvas = np.zeros((640, 640, 3), np.uint8)
        canvas[:250, :250] = photo(person, number)
        _, expected = reference.detect(canvas)
        ours = detector.detect(canvas)
        assert len(ours) == len(expected) >= 1
        for face, row in zip(ours, expected, strict=True):
            np.testing.assert_allclose(face.box, row[:4], atol=0.01)
            np.testing.assert_allclose(face.landmarks, row[4:14].reshape(5, 2), atol=0.01)
            assert face.score == pytest.approx(float(row[14]), abs=1e-5)


def test_both_detectors_place_the_five_points_alike() -> None:
    """The npm chain's 68 points reduced to five land where YuNet puts its five."""
    yunet = FacePipeline.open(MODELS, detector="yunet")
    faceplugin = FacePipeline.open(MODELS, detector="faceplugin")
    for person, number in [("Tony_Blair", 1), ("Jacques_Chirac", 8), ("Naomi_Watts", 3)]:
        image = photo(person, number)
        ours, theirs = faceplugin.analyse(image).face, yunet.analyse(image).face
        assert ours is not None and theirs is not None
        eye_distance = float(np.linalg.norm(theirs.landmarks[1] - theirs.landmarks[0]))
        distances = np.linalg.norm(ours.landmarks - theirs.landmarks, axis=1)
        assert distances.max() < 0.35 * eye_distance


def test_corrupt_image_file_is_refused_with_its_name(tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.jpg"
    damaged.write_bytes((FACES / "Tony_Blair" / "Tony_Blair_0001.jpg").read_bytes()[:20] * 50)
    with pytest.raises(FaceImageError, match=r"damaged\.jpg is not a picture OpenCV can read"):
        load_image(damaged)
    empty = tmp_path / "empty.jpg"
    empty.touch()
    with pytest.raises(FaceImageError, match=r"empty\.jpg is not a picture"):
        load_image(empty)


def test_image_without_a_face_says_look_at_the_camera(pipeline: FacePipeline) -> None:
    fingerprint = load_image(FINGERS / "FVC2002DB1_103" / "103_1.png")
    analysis = pipeline.analyse(fingerprint)
    assert analysis.quality.reasons == ("no_face",)
    assert analysis.quality.advice() == "Look at the camera"
    assert analysis.face is None and analysis.template is None


def test_two_faces_side_by_side_are_refused_as_several(pipeline: FacePipeline) -> None:
    pair = np.hstack([photo("Tony_Blair", 1), photo("Hans_Blix", 2)])
    analysis = pipeline.analyse(pair)
    assert analysis.quality.reasons == ("several_faces",)
    assert analysis.quality.advice() == "One person at a time, please"
    assert analysis.template is None


def test_all_black_frame_says_too_dark(pipeline: FacePipeline) -> None:
    analysis = pipeline.analyse(np.zeros((480, 640, 3), np.uint8))
    assert analysis.quality.reasons == ("too_dark", "no_face")
    assert analysis.quality.advice() == "It is too dark: face the light"


@pytest.mark.parametrize(
    ("degrade", "reason", "advice"),
    [
        (lambda image: cv2.GaussianBlur(image, (0, 0), 3), "blurred", "Hold still"),
        (
            lambda image: cv2.resize(image, None, fx=0.3, fy=0.3, interpolation=cv2.INTER_AREA),
            "too_small",
            "Come closer",
        ),
        (
            lambda image: np.clip(image * 2.5, 0, 255).astype(np.uint8),
            "too_bright",
            "Too much light: step out of the glare",
        ),
        (
            lambda image: cv2.warpAffine(
                image, cv2.getRotationMatrix2D((125, 125), 40, 1), (250, 250)
            ),
            "turned",
            "Look straight at the camera",
        ),
    ],
    ids=["blurred", "too_small", "too_bright", "turned"],
)
def test_degraded_photo_fails_its_quality_gate(
    default_pipeline: FacePipeline, degrade, reason: str, advice: str
) -> None:
    analysis = default_pipeline.analyse(degrade(photo("Tony_Blair", 1)))
    assert analysis.quality.reasons == (reason,)
    assert analysis.quality.advice() == advice
    assert analysis.template is None


def test_picture_that_is_not_colour_pixels_is_refused(default_pipeline: FacePipeline) -> None:
    with pytest.raises(FaceImageError, match="8-bit colour pixels"):
        default_pipeline.analyse(np.zeros((480, 640), np.float32))
    with pytest.raises(FaceImageError, match="colour \\(3 channels\\)"):
        default_pipeline.analyse(np.zeros((480, 640, 4), np.uint8))


def test_model_with_a_wrong_hash_is_refused_with_both_hashes(tmp_path: Path) -> None:
    for model in MODELS.glob("*.onnx"):
        shutil.copy(model, tmp_path / model.name)
    damaged = bytearray((tmp_path / "fr_feature.onnx").read_bytes())
    damaged[-1] ^= 0xFF
    (tmp_path / "fr_feature.onnx").write_bytes(bytes(damaged))
    with pytest.raises(ModelHashMismatchError) as refused:
        FacePipeline.open(tmp_path)
    message = str(refused.value)
    assert message.startswith("model fr_feature.onnx has SHA-256 ")
    assert "expected 87aacdfe5751…" in message
    assert message.endswith("sync the kiosk with the hub again, which sends a good copy")


def test_missing_model_is_reported_by_name(tmp_path: Path) -> None:
    shutil.copy(MODELS / "fr_feature.onnx", tmp_path)
    with pytest.raises(
        ModelMissingError, match=re.escape(f"model fr_detect.onnx is missing from {tmp_path}")
    ):
        FacePipeline.open(tmp_path)


SAME_PERSON = 0.3356  # faces-dev's calibrated 1:1 threshold at FMR 1e-3 (README, "Faces")


def test_enrolment_averages_the_good_frames(default_pipeline: FacePipeline) -> None:
    analyses = [default_pipeline.analyse(photo("Tony_Blair", n)) for n in (1, 2, 3)]
    blurred = default_pipeline.analyse(cv2.GaussianBlur(photo("Tony_Blair", 4), (0, 0), 3))
    template = enrol([*analyses, blurred], same_person_threshold=SAME_PERSON)
    assert template.dtype == np.float32
    assert abs(float(np.linalg.norm(template)) - 1) < 1e-5
    single = [a.template for a in analyses if a.template is not None]
    assert len(single) == 3
    # the mean lies closer to each frame than the frames lie to one another
    assert min(float(template @ t) for t in single) > min(
        float(single[i] @ single[j]) for i in range(3) for j in range(i + 1, 3)
    )
    with pytest.raises(EnrolmentError, match="none of the 1 frames was good enough"):
        enrol([blurred], same_person_threshold=SAME_PERSON)
    someone_else = default_pipeline.analyse(photo("Naomi_Watts", 1))
    with pytest.raises(EnrolmentError, match="do not all show the same person"):
        enrol([*analyses, someone_else], same_person_threshold=SAME_PERSON)
