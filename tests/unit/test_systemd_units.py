"""The units in systemd/ pass `systemd-analyze verify` with no output at all.

Typos in a unit are only warnings (exit code 0), so the check fails on any line the
command prints about our units, not only on its exit code. The units name the installed
paths (/opt/masar/venv/bin/masar, /usr/bin/chromium), which do not exist here and make
systemd-analyze report "Command … is not executable"; the test verifies copies in
tmp_path whose ExecStart paths point to a stand-in script, and nothing else is changed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

UNIT_DIR = Path(__file__).resolve().parents[2] / "systemd"
UNITS = [
    "masar-kiosk.service",
    "masar-kiosk-browser.service",
    "masar-hub-web.service",
    "masar-hub-ingest@.service",
]
INSTALLED_BINARIES = ["/opt/masar/venv/bin/masar", "/usr/bin/chromium"]
HARDENING = ["NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes"]

# ./dev.sh test installs Debian's systemd when this is missing; a test never skips for it.
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


def stage(units: dict[str, str], tmp_path: Path) -> Path:
    """Write the units into tmp_path/units with ExecStart binaries that exist."""
    stand_in = tmp_path / "bin" / "stand-in"
    stand_in.parent.mkdir()
    stand_in.write_text("#!/bin/sh\nexit 0\n")
    stand_in.chmod(0o755)
    folder = tmp_path / "units"
    folder.mkdir()
    for name, text in units.items():
        for binary in INSTALLED_BINARIES:
            text = text.replace(binary, str(stand_in))
        (folder / name).write_text(text)
    return folder


def verify(path: Path) -> tuple[int, list[str]]:
    """Run systemd-analyze verify; return its exit code and the lines about our units."""
    assert SYSTEMD_ANALYZE is not None, (
        "systemd-analyze is missing: run the tests with ./dev.sh test"
    )
    result = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", "--man=no", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # systemd-analyze also loads the units ours depend on from this machine
    # (network-online.target, postgresql.service …) and may print lines about them
    # or about the machine itself. Those are not ours to fix: keep only the lines that
    # name our staged folder or one of our units ("masar-kiosk.service: Command … is
    # not executable" names the unit, not the path).
    lines = (result.stdout + result.stderr).splitlines()
    ours = [
        line
        for line in lines
        if str(path.parent) in line or any(unit.split("@")[0] in line for unit in UNITS)
    ]
    return result.returncode, ours


def read_units() -> dict[str, str]:
    return {name: (UNIT_DIR / name).read_text() for name in UNITS}


@pytest.mark.parametrize("name", UNITS)
def test_unit_verifies_without_any_warning(name: str, tmp_path: Path) -> None:
    folder = stage(read_units(), tmp_path)
    code, lines = verify(folder / name)
    assert lines == []
    assert code == 0


def test_ingest_instance_verifies_without_any_warning(tmp_path: Path) -> None:
    folder = stage(read_units(), tmp_path)
    code, lines = verify(folder / "masar-hub-ingest@2.service")
    assert lines == []
    assert code == 0


def test_the_check_catches_a_typo(tmp_path: Path) -> None:
    text = (UNIT_DIR / "masar-kiosk.service").read_text()
    broken = text.replace("\nRestart=on-failure", "\nRestartt=on-failure")
    assert broken != text
    folder = stage({"masar-kiosk.service": broken}, tmp_path)
    code, lines = verify(folder / "masar-kiosk.service")
    assert code == 0  # a typo is only a warning: the exit code alone would miss it
    assert any("Unknown key 'Restartt'" in line for line in lines), lines


def test_the_check_catches_a_missing_binary(tmp_path: Path) -> None:
    folder = tmp_path / "units"
    folder.mkdir()
    (folder / "masar-kiosk.service").write_text(
        (UNIT_DIR / "masar-kiosk.service")
        .read_text()
        .replace("/opt/masar/venv/bin/masar", str(tmp_path / "missing"))
    )
    code, lines = verify(folder / "masar-kiosk.service")
    assert code != 0
    assert any("is not executable" in line for line in lines), lines


@pytest.mark.parametrize("name", UNITS)
def test_unit_is_hardened_and_restarts(name: str) -> None:
    lines = [
        line for line in (UNIT_DIR / name).read_text().splitlines() if not line.startswith("#")
    ]
    text = "\n".join(lines)
    for setting in HARDENING:
        assert setting in lines, f"{name} lacks {setting}"
    assert "StartLimitIntervalSec=" in text and "StartLimitBurst=" in text
    assert "\nRestart=" in text
    # Nothing sends sd_notify yet: claiming a watchdog would get the service killed.
    assert "Type=notify" not in text and "WatchdogSec=" not in text
    assert any(binary in text for binary in INSTALLED_BINARIES)


def test_services_write_only_the_data_folder_and_load_credentials() -> None:
    for name in ["masar-kiosk.service", "masar-hub-web.service", "masar-hub-ingest@.service"]:
        text = (UNIT_DIR / name).read_text()
        assert [line for line in text.splitlines() if line.startswith("ReadWritePaths=")] == [
            "ReadWritePaths=/var/lib/masar"
        ]
        assert "LoadCredential=" in text
        assert "User=masar" in text


def test_ingest_template_passes_instance_name() -> None:
    assert "--name %i" in (UNIT_DIR / "masar-hub-ingest@.service").read_text()
