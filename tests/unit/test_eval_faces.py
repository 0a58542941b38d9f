"""`masar kiosk eval-faces` and `masar kiosk calibrate` on a small folder of real faces."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from kiosk.recognition.calibration import load_calibration
from kiosk.recognition.face import engine_id
from masar.cli import cli
from tests.shared_data import SHARED

MODELS = SHARED / "models"
FACES = SHARED / "data" / "faces-dev"
PEOPLE = ["Hans_Blix", "Jacques_Chirac", "Naomi_Watts", "Tony_Blair", "Winona_Ryder"]
KEYS_IN_ORDER = (
    "identities",
    "images",
    "failures_to_enrol",
    "eer",
    "fnmr_at_fmr_1e-3",
    "fnmr_at_fmr_1e-4",
    "rank1_identification_rate",
    "ms_detect_p50",
    "ms_embed_p50",
)
KEYS = set(KEYS_IN_ORDER)


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five people × three photos, one damaged file and one hidden file."""
    folder = tmp_path_factory.mktemp("faces")
    for person in PEOPLE:
        (folder / person).mkdir()
        for path in sorted((FACES / person).iterdir())[:3]:
            shutil.copy(path, folder / person / path.name)
    (folder / "Tony_Blair" / "damaged.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (folder / "Hans_Blix" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    return folder


def test_eval_faces_prints_one_json_object_with_exactly_the_keys(faces: Path) -> None:
    result = CliRunner().invoke(
        cli, ["kiosk", "eval-faces", "--data", str(faces), "--models", str(MODELS), "--json"]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert set(figures) == KEYS
    assert figures["identities"] == 5
    assert figures["images"] == 16
    assert figures["failures_to_enrol"] == 1
    assert figures["rank1_identification_rate"] == 1.0
    assert 0 <= figures["eer"] <= figures["fnmr_at_fmr_1e-4"] <= 1
    assert figures["ms_detect_p50"] > 0 and figures["ms_embed_p50"] > 0
    assert "damaged.jpg is not a picture OpenCV can read" in result.stderr
    assert "counted as a failure to enrol" in result.stderr


def test_eval_faces_human_summary_names_each_figure(faces: Path) -> None:
    result = CliRunner().invoke(
        cli, ["kiosk", "eval-faces", "--data", str(faces), "--models", str(MODELS)]
    )
    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in result.stdout.splitlines()] == list(KEYS_IN_ORDER)


def test_eval_faces_refuses_a_folder_with_one_person(tmp_path: Path) -> None:
    shutil.copytree(FACES / "Tony_Blair", tmp_path / "Tony_Blair")
    result = CliRunner().invoke(
        cli, ["kiosk", "eval-faces", "--data", str(tmp_path), "--models", str(MODELS), "--json"]
    )
    assert result.exit_code == 1
    assert "measuring needs at least two people" in result.stderr
    assert result.stdout == ""


def test_eval_faces_refuses_a_folder_without_person_folders(tmp_path: Path) -> None:
    shutil.copy(FACES / "Tony_Blair" / "Tony_Blair_0001.jpg", tmp_path)
    result = CliRunner().invoke(
        cli, ["kiosk", "eval-faces", "--data", str(tmp_path), "--models", str(MODELS)]
    )
    assert result.exit_code == 1
    assert f"{tmp_path} holds no pictures laid out as {tmp_path}/<person>/<image>" in result.stderr


def test_eval_faces_needs_models_or_a_config(faces: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MASAR_CONFIG", raising=False)
    result = CliRunner().invoke(cli, ["kiosk", "eval-faces", "--data", str(faces)])
    assert result.exit_code == 1
    assert "pass --models DIR (the folder holding the model files) or --config FILE" in (
        result.stderr
    )


def test_eval_faces_reports_an_unknown_detector(faces: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["kiosk", "eval-faces", "--data", str(faces), "--models", str(MODELS), "--detector", "x"],
    )
    assert result.exit_code == 1
    assert "unknown face detector 'x'; choose one of: faceplugin, yunet" in result.stderr


def test_calibrate_writes_thresholds_for_three_false_match_rates(
    faces: Path, tmp_path: Path
) -> None:
    config = tmp_path / "kiosk.toml"
    data_dir = tmp_path / "kiosk-data"
    config.write_text(f'site = "test"\ndevice = "wing-a-1"\ndata_dir = "{data_dir}"\n')
    result = CliRunner().invoke(
        cli,
        [
            "kiosk",
            "calibrate",
            "--data",
            str(faces),
            "--config",
            str(config),
            "--models",
            str(MODELS),
        ],
    )
    assert result.exit_code == 0, result.output
    calibration = load_calibration(data_dir / "calibration-face.json")
    assert calibration.modality == "face"
    assert set(calibration.thresholds) == {"1e-2", "1e-3", "1e-4"}
    assert calibration.identities == 5 and calibration.samples == 15
    assert calibration.genuine_pairs == 15 and calibration.impostor_pairs == 90
    assert calibration.data == str(faces.resolve())
    assert calibration.model_sha256 == engine_id("faceplugin")  # detector + embedder files
    assert "5 people, 15 pictures used, 1 failed to enrol" in result.stdout
    assert "too few impostor pairs to measure this rate" in result.stdout
    assert result.stdout.endswith(f"written to {data_dir / 'calibration-face.json'}\n")
