"""Fingerprint templates, matching and evaluation on real FVC2002 impressions (fingers-dev)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from kiosk.recognition.calibration import load_calibration
from kiosk.recognition.finger import (
    ENGINE_SHA256,
    FingerImageError,
    FingerTemplate,
    finger_template,
    identify,
    image_quality,
    match_score,
    verify,
)
from kiosk.recognition.finger_eval import (
    FingerDataError,
    evaluate_fingers,
    finger_scores,
)
from kiosk.sensors.fingerprint import ZFM_HEIGHT, ZFM_WIDTH, FingerImage, load_finger_image
from masar.cli import cli
from tests.shared_data import FINGERS

DB1 = ["FVC2002DB1_103", "FVC2002DB1_104", "FVC2002DB1_106", "FVC2002DB1_108"]


def impression(finger: str, number: int) -> Path:
    return FINGERS / finger / f"{finger.rsplit('_', 1)[1]}_{number}.png"


def image(finger: str, number: int, dpi: int = 500) -> FingerImage:
    return FingerImage(load_finger_image(impression(finger, number)), dpi, 0.0, "test")


@pytest.fixture(scope="module")
def templates() -> dict[tuple[str, int], FingerTemplate]:
    return {(f, n): finger_template(image(f, n)) for f in DB1 for n in (1, 2, 3)}


def copy_fingers(target: Path, fingers: dict[str, str], impressions: int) -> Path:
    """target/<new name>/<image> for each {new name: fingers-dev folder}."""
    for new_name, finger in fingers.items():
        (target / new_name).mkdir(parents=True)
        for number in range(1, impressions + 1):
            shutil.copy(impression(finger, number), target / new_name)
    return target


def test_same_finger_scores_above_other_fingers(
    templates: dict[tuple[str, int], FingerTemplate],
) -> None:
    genuine = [match_score(templates[f, 1], templates[f, n]) for f in DB1 for n in (2, 3)]
    impostor = [match_score(templates[a, 1], templates[b, 1]) for a in DB1 for b in DB1 if a < b]
    assert min(genuine) > max(impostor)
    assert all(0.0 <= s <= 1.0 for s in genuine + impostor)


def test_match_score_is_near_one_for_the_same_impression(
    templates: dict[tuple[str, int], FingerTemplate],
) -> None:
    template = templates[DB1[0], 1]
    assert match_score(template, template) > 0.99


def test_verify_accepts_the_owner_and_refuses_another_finger(
    templates: dict[tuple[str, int], FingerTemplate],
) -> None:
    owner = [templates[DB1[0], 1], templates[DB1[0], 2]]
    accepted = verify(templates[DB1[0], 3], owner, "d-1", threshold=0.1)
    refused = verify(templates[DB1[1], 3], owner, "d-1", threshold=0.1)
    assert accepted.accepted and accepted.subject_id == "d-1"
    assert not refused.accepted
    assert verify(templates[DB1[0], 3], [], "d-1", threshold=0.1).score == 0.0


def test_identify_finds_the_finger_among_others(
    templates: dict[tuple[str, int], FingerTemplate],
) -> None:
    gallery = [(f"d-{f}", templates[f, n]) for f in DB1 for n in (1, 2)]
    found = identify(templates[DB1[2], 3], gallery, threshold=0.1, k=2)
    assert found.best is not None
    assert found.best.subject_id == f"d-{DB1[2]}"
    assert found.best.accepted
    assert len(found.candidates) == 2
    assert found.margin > 0
    assert identify(templates[DB1[2], 3], [], threshold=0.1).best is None


def test_template_survives_bytes_round_trip(
    templates: dict[tuple[str, int], FingerTemplate],
) -> None:
    template, other = templates[DB1[0], 1], templates[DB1[0], 2]
    loaded = FingerTemplate.from_bytes(template.to_bytes())
    assert np.array_equal(loaded.minutiae, template.minutiae)
    assert np.array_equal(loaded.region, template.region)
    assert match_score(loaded, other) == match_score(template, other)


def test_damaged_or_foreign_template_is_refused(
    templates: dict[tuple[str, int], FingerTemplate],
) -> None:
    data = templates[DB1[0], 1].to_bytes()
    with pytest.raises(FingerImageError, match="damaged"):
        FingerTemplate.from_bytes(data[:-5])
    with pytest.raises(FingerImageError, match="damaged"):
        FingerTemplate.from_bytes(b"")
    foreign = bytes([5]) + b"other" + data[1 + data[0] :]
    with pytest.raises(FingerImageError, match="made by 'other'"):
        FingerTemplate.from_bytes(foreign)


def test_blank_image_is_refused() -> None:
    blank = FingerImage(np.full((288, 256), 255, np.uint8), 500, 0.0, "test")
    with pytest.raises(FingerImageError, match="blank: no finger was on the sensor"):
        finger_template(blank)


def test_image_of_wrong_resolution_is_refused() -> None:
    with pytest.raises(FingerImageError, match="said to be 100 dpi"):
        finger_template(image(DB1[0], 1, dpi=100))
    thumbnail = FingerImage(np.full((48, 48), 128, np.uint8), 500, 0.0, "test")
    with pytest.raises(FingerImageError, match="48×48 pixels: 2×2 mm at 500 dpi"):
        finger_template(thumbnail)


def test_image_that_is_not_grey_bytes_is_refused() -> None:
    colour = FingerImage(np.zeros((288, 256, 3), np.uint8), 500, 0.0, "test")
    with pytest.raises(FingerImageError, match="grey 8-bit pixels"):
        finger_template(colour)


def test_image_with_noise_and_no_ridges_is_refused() -> None:
    noise = np.random.default_rng(1).integers(0, 256, (288, 256), dtype=np.uint8)
    with pytest.raises(FingerImageError, match="no clear ridges"):
        finger_template(FingerImage(noise, 500, 0.0, "test"))


def test_large_noise_image_is_refused_as_unclear() -> None:
    """1000×1000 (50 mm, an allowed size): refused on clarity before any minutiae are sought;
    once its 20,000 false minutiae took 5 GB."""
    noise = np.random.default_rng(2).integers(0, 256, (1000, 1000), dtype=np.uint8)
    with pytest.raises(FingerImageError, match="no clear ridges"):
        finger_template(FingerImage(noise, 500, 0.0, "test"))
    with pytest.raises(FingerImageError, match="no clear ridges"):
        image_quality(FingerImage(noise, 500, 0.0, "test"))


def test_streaked_noise_with_a_clear_direction_is_refused_as_too_noisy() -> None:
    """Noise smeared along one direction is clear enough, but breaks into hundreds of ridges."""
    noise = np.random.default_rng(3).normal(0, 1, (1000, 1000)).astype(np.float32)
    streak = np.zeros((41, 41), np.float32)
    streak[20, :] = 1 / 41
    streaked = cv2.GaussianBlur(cv2.filter2D(noise, -1, streak), (0, 0), 1.5)
    pixels = np.clip(128 + 60 * streaked / streaked.std(), 0, 255).astype(np.uint8)
    with pytest.raises(FingerImageError, match="too noisy to read"):
        finger_template(FingerImage(pixels, 500, 0.0, "test"))


def test_image_at_another_resolution_is_rescaled_and_still_matches(
    templates: dict[tuple[str, int], FingerTemplate],
) -> None:
    pixels = load_finger_image(impression(DB1[0], 2))
    small = pixels[::2, ::2].copy()  # the same finger at 250 dpi
    template = finger_template(FingerImage(small, 250, 0.0, "test"))
    assert match_score(templates[DB1[0], 1], template) > max(
        match_score(templates[DB1[1], 1], template), 0.1
    )


def test_zfm_module_image_matches_the_full_impression(
    templates: dict[tuple[str, int], FingerTemplate],
) -> None:
    """What the sensor sends (256×288 centre, 4 bits per pixel) still matches the finger."""
    pixels = load_finger_image(impression(DB1[0], 2))
    top, left = (pixels.shape[0] - ZFM_HEIGHT) // 2, (pixels.shape[1] - ZFM_WIDTH) // 2
    module = (pixels[top : top + ZFM_HEIGHT, left : left + ZFM_WIDTH] >> 4) * 17
    template = finger_template(FingerImage(module, 500, 0.0, "zfm:test"))
    assert image_quality(FingerImage(module, 500, 0.0, "zfm:test")).score > 40
    assert match_score(templates[DB1[0], 1], template) > 0.1
    assert all(match_score(templates[f, 1], template) < 0.1 for f in DB1[1:])


def test_evaluate_fingers_reports_exactly_the_documented_figures(tmp_path: Path) -> None:
    data = copy_fingers(tmp_path, {f: f for f in DB1[:3]}, impressions=3)
    figures = evaluate_fingers(data)
    assert set(figures) == {
        "fingers",
        "impressions",
        "eer",
        "fnmr_at_fmr_1e-3",
        "ms_extract_p50",
        "ms_match_p50",
    }
    assert figures["fingers"] == 3
    assert figures["impressions"] == 9
    assert figures["eer"] == 0.0  # these nine impressions separate cleanly
    assert 0.0 <= figures["fnmr_at_fmr_1e-3"] <= 1.0
    assert figures["ms_extract_p50"] > 0 and figures["ms_match_p50"] > 0


def test_impostors_are_paired_within_each_sensor_only(tmp_path: Path) -> None:
    data = copy_fingers(
        tmp_path,
        {
            "DB1_103": "FVC2002DB1_103",
            "DB1_104": "FVC2002DB1_104",
            "DB3_103": "FVC2002DB3_103",
            "DB3_104": "FVC2002DB3_104",
        },
        impressions=2,
    )
    measured = finger_scores(data)
    assert len(measured.scores.genuine) == 4  # one pair per finger
    assert len(measured.scores.impostor) == 2 * 4  # per sensor: 2 × 2 cross pairs


def test_names_without_underscore_are_one_sensor(tmp_path: Path) -> None:
    data = copy_fingers(
        tmp_path, {"left": "FVC2002DB1_103", "right": "FVC2002DB3_104"}, impressions=2
    )
    measured = finger_scores(data)
    assert len(measured.scores.genuine) == 2
    assert len(measured.scores.impostor) == 4


def test_unreadable_impression_is_a_failure_to_enrol_not_a_crash(tmp_path: Path) -> None:
    data = copy_fingers(tmp_path, {f: f for f in DB1[:2]}, impressions=2)
    first = data / DB1[0] / "103_1.png"
    first.write_bytes(first.read_bytes()[:200])  # truncated file
    (data / DB1[1] / "blank.png").write_bytes((FINGERS / "manifest.json").read_bytes()[:0])
    measured = finger_scores(data)
    assert measured.failures_to_enrol == 2
    assert measured.impressions == 5
    assert measured.scores.genuine[0] == 0.0  # the truncated impression's genuine pair


def test_evaluate_refuses_a_folder_in_another_layout(tmp_path: Path) -> None:
    with pytest.raises(FingerDataError, match="is not a folder"):
        evaluate_fingers(tmp_path / "missing")
    with pytest.raises(FingerDataError, match="holds no images"):
        evaluate_fingers(tmp_path)
    copy_fingers(tmp_path / "one", {"only": DB1[0]}, impressions=2)
    with pytest.raises(FingerDataError, match="holds one finger"):
        evaluate_fingers(tmp_path / "one")


def test_calibrate_cli_keeps_a_fingerprint_calibration_for_the_policy(tmp_path: Path) -> None:
    data = copy_fingers(tmp_path / "data", {f: f for f in DB1[:3]}, impressions=2)
    config = tmp_path / "kiosk.toml"
    config.write_text(f'site = "test"\ndevice = "wing-a-1"\ndata_dir = "{tmp_path / "kiosk"}"\n')
    result = CliRunner().invoke(
        cli,
        [
            "kiosk",
            "calibrate",
            "--modality",
            "fingerprint",
            "--data",
            str(data),
            "--config",
            str(config),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "3 fingers, 6 pictures used, 0 failed to enrol" in result.output
    calibration = load_calibration(tmp_path / "kiosk" / "calibration-fingerprint.json")
    assert calibration.modality == "fingerprint"
    assert calibration.identities == 3 and calibration.samples == 6
    assert calibration.model_sha256 == ENGINE_SHA256


def test_eval_fingers_cli_prints_one_json_object_or_a_plain_refusal(tmp_path: Path) -> None:
    data = copy_fingers(tmp_path, {f: f for f in DB1[:2]}, impressions=2)
    result = CliRunner().invoke(cli, ["kiosk", "eval-fingers", "--data", str(data), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["fingers"] == 2
    (tmp_path / "empty").mkdir()
    refused = CliRunner().invoke(cli, ["kiosk", "eval-fingers", "--data", str(tmp_path / "empty")])
    assert refused.exit_code == 1 and refused.output.startswith("Error: ")
