"""provisioning/pi/setup.py: a second run changes nothing, a dry run changes nothing.

The real script runs, as a separate process, on a folder laid out as a Raspberry Pi OS
root (``--root``): it writes its files there and enables the units there with
``systemctl --root``; what only the machine could do (apt-get, useradd, chown, pip,
raspi-config) it records in the folder instead, as documented. The checks it makes on a
real Pi without ``--root`` are run read-only against this machine.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "provisioning" / "pi" / "setup.py"
RECORD = "var/lib/masar-pi-setup/recorded.json"


def pi_root(tmp_path: Path) -> Path:
    """An empty Raspberry Pi OS Bookworm as the script recognises one."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text(
        'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n'
    )
    (root / "etc/rpi-issue").write_text("Raspberry Pi reference 2024-11-19\n")
    return root


def source_tree(tmp_path: Path) -> Path:
    """The parts of this checkout the script installs, copied so that edits made to the
    checkout meanwhile do not change what the runs compare."""
    source = tmp_path / "src"
    shutil.copytree(REPO / "systemd", source / "systemd")
    shutil.copytree(REPO / "provisioning" / "pi", source / "provisioning" / "pi")
    shutil.copy(REPO / "pyproject.toml", source / "pyproject.toml")
    return source


def setup(root: Path, source: Path, *options: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(root), "--source", str(source), *options],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    """Every path under ``root``: its mode and its content (a link: where it points)."""
    found: dict[str, tuple[int, bytes]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            found[str(path.relative_to(root))] = (0, str(path.readlink()).encode())
        else:
            content = path.read_bytes() if path.is_file() else b""
            found[str(path.relative_to(root))] = (path.stat().st_mode, content)
    return found


def planned(output: str) -> list[str]:
    return [line.split(None, 1)[1] for line in output.splitlines() if line.startswith("  would")]


def test_a_second_run_plans_and_changes_nothing(tmp_path: Path) -> None:
    root, source = pi_root(tmp_path), source_tree(tmp_path)
    empty = snapshot(root)

    plan = setup(root, source, "--dry-run")
    assert snapshot(root) == empty  # a dry run changes nothing
    steps = planned(plan.stdout)
    assert len(steps) == 21, plan.stdout
    for command in (
        "env DEBIAN_FRONTEND=noninteractive apt-get install --yes --no-upgrade python3 ",
        " python3-picamera2 pcscd python3-pyscard libpcsclite-dev ",
        "useradd --system --user-group",
        "usermod --append --groups video,dialout masar",
        "chown masar:masar /var/lib/masar",
        "/usr/bin/python3 -m venv --system-site-packages /opt/masar/venv",
        f"/opt/masar/venv/bin/python -m pip install '{source}[kiosk]' 'numpy<2'",
        "install -m 0644 systemd/masar-kiosk.service /etc/systemd/system/masar-kiosk.service",
        "systemctl daemon-reload",
        f"systemctl --root {root} enable masar-kiosk.service",
        f"systemctl --root {root} --global enable masar-kiosk-browser.service",
        "raspi-config nonint do_blanking 1",
    ):
        assert command in plan.stdout, command

    first = setup(root, source)
    assert "21 change(s) made." in first.stdout
    after_first = snapshot(root)

    again = setup(root, source, "--dry-run")
    assert planned(again.stdout) == []
    assert again.stdout.count("  ok ") == 21
    assert again.stdout.rstrip().endswith("Nothing to change.")
    second = setup(root, source)
    assert second.stdout.rstrip().endswith("Nothing to change.")
    assert snapshot(root) == after_first  # not a byte, not a mode, not a link

    # What the first run left: files and modes, the units enabled, the machine's commands
    # recorded once each.
    for name, target in (
        ("masar-kiosk.service", "etc/systemd/system"),
        ("masar-kiosk-browser.service", "etc/systemd/user"),
    ):
        assert (root / target / name).read_bytes() == (source / "systemd" / name).read_bytes()
        assert (root / target / name).stat().st_mode & 0o777 == 0o644
    assert (root / "etc/masar/credstore").stat().st_mode & 0o777 == 0o700
    assert (root / "var/lib/masar").stat().st_mode & 0o777 == 0o750
    assert (root / "etc/systemd/system/multi-user.target.wants/masar-kiosk.service").is_symlink()
    assert (
        root / "etc/systemd/user/graphical-session.target.wants/masar-kiosk-browser.service"
    ).is_symlink()
    assert (root / "etc/polkit-1/rules.d/60-masar-pcscd.rules").is_file()
    assert (root / "etc/xdg/autostart/masar-kiosk-browser.desktop").is_file()
    commands = [" ".join(c) for c in json.loads((root / RECORD).read_text())["commands"]]
    assert len(commands) == len(set(commands)) == 12
    assert commands[0] == "apt-get update"


def test_only_what_drifted_is_planned_again(tmp_path: Path) -> None:
    root, source = pi_root(tmp_path), source_tree(tmp_path)
    setup(root, source)
    unit = root / "etc/systemd/system/masar-kiosk.service"
    unit.write_text(unit.read_text().replace("Restart=always", "Restart=no"))
    (root / "etc/masar/credstore").chmod(0o755)
    (source / "pyproject.toml").write_text((source / "pyproject.toml").read_text() + "\n")

    plan = setup(root, source, "--dry-run")
    assert planned(plan.stdout) == [
        "folder /etc/masar/credstore, mode 0700",
        "masar[kiosk] from " + str(source) + " installed in the virtualenv",
        "/etc/systemd/system/masar-kiosk.service as in systemd/masar-kiosk.service",
        "systemd has read the unit files",
    ]
    setup(root, source)
    assert "Restart=always" in unit.read_text()
    assert (root / "etc/masar/credstore").stat().st_mode & 0o777 == 0o700
    assert planned(setup(root, source, "--dry-run").stdout) == []


def test_it_refuses_a_system_it_is_not_for(tmp_path: Path) -> None:
    root, source = pi_root(tmp_path), source_tree(tmp_path)
    (root / "etc/rpi-issue").unlink()
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(root), "--source", str(source)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "not Raspberry Pi OS" in result.stderr
    assert sorted(p.name for p in root.rglob("*")) == ["etc", "os-release"]
    # Without --root it looks at this machine, a Debian that is no Raspberry Pi OS: refused
    # before it changes anything.
    here = subprocess.run(
        [sys.executable, str(SCRIPT), "--dry-run"], capture_output=True, text=True, timeout=60
    )
    assert here.returncode == 1 and "error:" in here.stderr


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pi_setup", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_checks_for_a_real_pi_read_this_machine() -> None:
    """Without --root the checks ask dpkg, apt, the user database and the file system:
    here they answer for this Debian machine, and change nothing."""
    script = load_script()
    assert script.installed_packages(["dpkg", "masar-no-such-package"]) == {"dpkg"}
    assert script.has_candidate("dpkg") is True
    assert script.has_candidate("masar-no-such-package") is False
    assert script.user_exists("root") is True
    assert script.user_exists("masar-no-such-user") is False
    assert "root" in script.groups_of("root")
    assert script.groups_of("masar-no-such-user") == set()
    assert script.owner_of(Path("/")) == "root:root"
    assert script.owner_of(Path("/masar-no-such-path")) is None
