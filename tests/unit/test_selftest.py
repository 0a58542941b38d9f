"""`masar kiosk selftest`: the checks a kiosk runs on its own hardware after installation."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from masar.cli import cli
from tests.shared_data import FACES, MODELS


def kiosk_config(tmp_path: Path, camera_path: Path) -> Path:
    config = tmp_path / "kiosk.toml"
    config.write_text(
        f'site = "test"\ndevice = "wing-a-1"\ndata_dir = "{tmp_path / "data"}"\n'
        f'[camera]\ndriver = "replay"\npath = "{camera_path}"\n'
    )
    return config


def selftest(config: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["kiosk", "selftest", "--config", str(config)])
    return result.exit_code, result.output


def test_selftest_passes_a_working_camera_and_pinned_models(tmp_path: Path) -> None:
    models = tmp_path / "data" / "models"
    models.mkdir(parents=True)
    shutil.copy(MODELS / "fr_eye.onnx", models)
    code, output = selftest(kiosk_config(tmp_path, FACES / "Hugo_Chavez"))
    assert code == 0, output
    assert "ok    camera (replay)" in output
    assert "ok    model fr_eye.onnx" in output
    assert "--    model fr_feature.onnx: not on this kiosk (the hub sends it at sync)" in output


def test_selftest_fails_on_a_damaged_model_and_a_missing_camera(tmp_path: Path) -> None:
    models = tmp_path / "data" / "models"
    models.mkdir(parents=True)
    damaged = models / "fr_eye.onnx"
    damaged.write_bytes((MODELS / "fr_eye.onnx").read_bytes()[:-1] + b"\0")
    code, output = selftest(kiosk_config(tmp_path, tmp_path / "no-such-folder"))
    assert code == 1
    assert "FAIL  camera (replay)" in output
    assert "FAIL  model fr_eye.onnx" in output and "expected 1afcea006abc…" in output
