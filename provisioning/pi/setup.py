#!/usr/bin/env python3
"""Set up a Raspberry Pi (Raspberry Pi OS Bookworm 64-bit, with desktop) as a Masar kiosk.

    sudo python3 /opt/masar/src/provisioning/pi/setup.py --dry-run   # show the plan
    sudo python3 /opt/masar/src/provisioning/pi/setup.py             # carry it out

Every step first looks at the machine and is skipped when it is already as wanted, so a
second run changes nothing. ``--dry-run`` prints every check and every change it would
make, and changes nothing. Standard library only: it runs before the virtualenv exists.

``--root DIR`` works on a folder instead of the machine (tests, images): files are
written under DIR, ``systemctl --root=DIR`` enables the units there, and what only a
command run on the machine itself can do (apt-get, useradd/usermod, chown, python3 -m venv,
pip, raspi-config, daemon-reload) is not run but recorded, with the facts it would establish,
in DIR/var/lib/masar-pi-setup/recorded.json, which the checks then read. Without
``--root`` nothing is recorded and nothing is skipped: every check looks at the machine
and every change is made on it.
"""

from __future__ import annotations

import argparse
import grp
import hashlib
import io
import json
import os
import pwd
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

USER = "masar"
# Camera (/dev/video*, /dev/media*, /dev/dma_heap/*) and serial fingerprint sensors.
# Badges: pcscd asks polkit, see 60-masar-pcscd.rules.
GROUPS = ("video", "dialout")
VENV = Path("/opt/masar/venv")
DATA = Path("/var/lib/masar")

PACKAGES = [
    # the virtualenv, and what pip needs to build a wheel PyPI lacks for arm64
    *("python3", "python3-venv", "python3-dev", "gcc"),
    # the Pi camera: picamera2 and libcamera exist only as Debian packages (the venv sees
    # them through --system-site-packages)
    "python3-picamera2",
    # badge readers: the PC/SC daemon, pyscard from Debian (no compiling) with what pip
    # needs if it builds a newer one, and polkit, which decides who may talk to pcscd
    *("pcscd", "python3-pyscard", "libpcsclite-dev", "swig", "polkitd"),
    # the touchscreen: Arabic and Tifinagh fonts; curl: the browser unit waits for the UI
    *("fonts-noto-core", "fonts-noto-color-emoji", "curl"),
    # to look at the broker from the kiosk when something is wrong (mosquitto_sub)
    "mosquitto-clients",
]
# Raspberry Pi OS ships Chromium as `chromium-browser` (older images) or `chromium`.
BROWSERS = ("chromium-browser", "chromium")
# picamera2's Debian dependencies (simplejpeg, pidng) are built against Debian's numpy 1.x:
# a numpy 2 in the venv would shadow it and break them.
PIP_CONSTRAINTS = ("numpy<2",)
# Where the packages the kiosk runs are in the source tree (the stamp covers them).
SOURCE_PARTS = ("pyproject.toml", "masar", "protocol", "kiosk", "hub", "provisioning")

# (file in the source tree, where it goes, mode)
FILES = [
    ("systemd/masar-kiosk.service", "/etc/systemd/system/masar-kiosk.service", 0o644),
    (
        "systemd/masar-kiosk-browser.service",
        "/etc/systemd/user/masar-kiosk-browser.service",
        0o644,
    ),
    (
        "provisioning/pi/masar-kiosk-browser.desktop",
        "/etc/xdg/autostart/masar-kiosk-browser.desktop",
        0o644,
    ),
    (
        "provisioning/pi/60-masar-pcscd.rules",
        "/etc/polkit-1/rules.d/60-masar-pcscd.rules",
        0o644,
    ),
]
# (folder, mode, owner): the configuration (public), the secrets systemd hands over
# with LoadCredential= (root only), the code, the kiosk's data.
FOLDERS = [
    ("/etc/masar", 0o755, "root"),
    ("/etc/masar/credstore", 0o700, "root"),
    ("/opt/masar", 0o755, "root"),
    (str(DATA), 0o750, USER),
]


class SetupError(RuntimeError):
    """The set-up cannot go on; the message says why and what to do."""


# --- looking at the machine (read only) ------------------------------------------------------


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Ask the machine; a missing program answers like a failing one (exit code 127)."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False)  # nosec B603  # the setup script's fixed commands as argument lists, no shell
    except FileNotFoundError:
        return subprocess.CompletedProcess(argv, 127, "", f"{argv[0]}: not found")


def must_run(argv: list[str]) -> None:
    """Make a change on the machine, its output shown; stop the set-up if it fails."""
    try:
        failed = subprocess.run(argv, check=False).returncode != 0  # nosec B603  # the setup script's fixed commands as argument lists, no shell
    except FileNotFoundError:
        failed = True
    if failed:
        raise SetupError(f"this failed: {shlex.join(argv)}")


def installed_packages(names: list[str]) -> set[str]:
    """Which of ``names`` dpkg has installed."""
    result = run(["dpkg-query", "--show", "--showformat=${Package} ${db:Status-Status}\n", *names])
    lines = [line.split() for line in result.stdout.splitlines()]
    return {words[0].split(":")[0] for words in lines if words[1:] == ["installed"]}


def has_candidate(package: str) -> bool:
    """Whether apt can install ``package`` (it is in a configured repository)."""
    for line in run(["apt-cache", "policy", package]).stdout.splitlines():
        if line.strip().startswith("Candidate:"):
            return line.split(":", 1)[1].strip() != "(none)"
    return False


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def groups_of(name: str) -> set[str]:
    """The groups ``name`` belongs to (its own and its supplementary ones)."""
    try:
        primary = grp.getgrgid(pwd.getpwnam(name).pw_gid).gr_name
    except KeyError:
        return set()
    return {primary} | {group.gr_name for group in grp.getgrall() if name in group.gr_mem}


def owner_of(path: Path) -> str | None:
    """``user:group`` owning ``path``, or None if it does not exist."""
    try:
        stat = path.stat()
        return f"{pwd.getpwuid(stat.st_uid).pw_name}:{grp.getgrgid(stat.st_gid).gr_name}"
    except (FileNotFoundError, KeyError):
        return None


def blanking_off() -> bool:
    """raspi-config's own answer: 1 means screen blanking is disabled."""
    return run(["raspi-config", "nonint", "get_blanking"]).stdout.strip() == "1"


def unit_enabled(unit: str, root: Path | None, *, user_unit: bool) -> bool:
    argv = ["systemctl", *(["--root", str(root)] if root else []), "is-enabled", unit]
    if user_unit:
        argv.insert(1, "--global")
    return run(argv).stdout.strip() == "enabled"


def source_fingerprint(source: Path, pip_command: list[str]) -> str:
    """What the venv's install is made of: every file of the packages, and the command."""
    digest = hashlib.sha256("\0".join(pip_command).encode())
    for part in SOURCE_PARTS:
        top = source / part
        files = [top] if top.is_file() else sorted(top.rglob("*")) if top.is_dir() else []
        for path in files:
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(source)).encode() + b"\0")
                digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


# --- the plan ----------------------------------------------------------------------------------


@dataclass
class Step:
    """One thing the machine should be: ``done()`` looks, ``make()`` changes."""

    what: str
    done: Callable[[], bool]
    make: Callable[[], None]
    shows: list[str] = field(default_factory=list)  # the commands or file it would write
    unit_file: bool = False  # changing it means systemd must read its unit files again


class Recorder:
    """Under --root: the commands only the machine itself can run, kept instead of run.

    Each recorded change names the fact it establishes (``key``), which the matching check
    reads back, so a second run sees it done.
    """

    def __init__(self, root: Path) -> None:
        self.path = root / "var/lib/masar-pi-setup/recorded.json"

    def _read(self) -> tuple[list[str], list[list[str]]]:
        data = json.loads(self.path.read_text()) if self.path.exists() else {}
        return list(data.get("done", [])), list(data.get("commands", []))

    def has(self, key: str) -> bool:
        return key in self._read()[0]

    def record(self, key: str, commands: list[list[str]]) -> None:
        done, recorded = self._read()
        data = {"done": sorted({*done, key}), "commands": [*recorded, *commands]}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(data, indent=1) + "\n")


class Setup:
    """The steps for this machine (or for the folder given with --root)."""

    def __init__(self, source: Path, root: Path | None, wheels: Path | None) -> None:
        self.source = source
        self.root = root
        self.wheels = wheels
        self.recorder = Recorder(root) if root else None
        self.units_changed = False

    def at(self, path: str | Path) -> Path:
        """Where an absolute path of the machine is (under --root, inside DIR)."""
        return self.root / str(path).lstrip("/") if self.root else Path(path)

    def command_step(
        self, key: str, what: str, looks: Callable[[], bool], commands: list[list[str]]
    ) -> Step:
        """A change only a command on the machine can make: run it, or under --root record
        it (and read the record back instead of looking)."""
        shows = [shlex.join(command) for command in commands]
        if self.recorder is not None:
            recorder = self.recorder
            return Step(
                what,
                lambda: recorder.has(key),
                lambda: recorder.record(key, commands),
                [f"{line}   (recorded, not run: --root)" for line in shows],
            )

        def make() -> None:
            for command in commands:
                must_run(command)

        return Step(what, looks, make, shows)

    # -- the steps, in the order they are carried out --

    def steps(self) -> Iterator[Step]:
        yield self.packages_step()
        yield self.command_step(
            f"user:{USER}",
            f"service user {USER}",
            lambda: user_exists(USER),
            [
                [
                    *("useradd", "--system", "--user-group", "--no-create-home"),
                    *("--home-dir", str(DATA), "--shell", "/usr/sbin/nologin", USER),
                ]
            ],
        )
        yield self.command_step(
            f"groups:{USER}:{','.join(GROUPS)}",
            f"{USER} in groups {', '.join(GROUPS)} (camera, serial sensor)",
            lambda: set(GROUPS) <= groups_of(USER),
            [["usermod", "--append", "--groups", ",".join(GROUPS), USER]],
        )
        for folder, mode, owner in FOLDERS:
            yield self.folder_step(Path(folder), mode)
            yield self.owner_step(folder, f"{owner}:{owner}")
        yield self.venv_step()
        yield self.pip_step()
        for source, target, mode in FILES:
            yield self.file_step(source, Path(target), mode)
        yield self.reload_step()
        yield self.enable_step("masar-kiosk.service", user_unit=False)
        yield self.enable_step("masar-kiosk-browser.service", user_unit=True)
        yield self.command_step(
            "blanking:off",
            "screen blanking off",
            blanking_off,
            [["raspi-config", "nonint", "do_blanking", "1"]],
        )

    def packages_step(self) -> Step:
        looks_at_machine = self.recorder is None
        present = installed_packages([*PACKAGES, *BROWSERS]) if looks_at_machine else set()
        if present & set(BROWSERS):
            browser: list[str] = []
        elif looks_at_machine and has_candidate("chromium-browser"):
            browser = ["chromium-browser"]
        else:
            browser = ["chromium"]
        wanted = [*PACKAGES, *browser]
        missing = [name for name in wanted if name not in present]
        return self.command_step(
            f"packages:{' '.join(wanted)}",
            f"Debian packages: {', '.join(PACKAGES)}, and Chromium",
            lambda: not missing,
            [
                ["apt-get", "update"],
                [
                    *("env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install"),
                    *("--yes", "--no-upgrade", *missing),
                ],
            ],
        )

    def folder_step(self, folder: Path, mode: int) -> Step:
        path = self.at(folder)

        def done() -> bool:
            return path.is_dir() and path.stat().st_mode & 0o7777 == mode

        def make() -> None:
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(mode)

        return Step(
            f"folder {folder}, mode {mode:04o}", done, make, [f"mkdir -m {mode:04o} {folder}"]
        )

    def owner_step(self, folder: str, owner: str) -> Step:
        return self.command_step(
            f"owner:{folder}:{owner}",
            f"{folder} owned by {owner}",
            lambda: owner_of(Path(folder)) == owner,
            [["chown", owner, folder]],
        )

    def venv_step(self) -> Step:
        python = self.at(VENV / "bin/python")
        config = self.at(VENV / "pyvenv.cfg")

        def looks() -> bool:
            lines = config.read_text().splitlines() if config.exists() else []
            return python.exists() and "include-system-site-packages = true" in lines

        # Debian's own python3, not the one running this script: picamera2 is in its
        # dist-packages. On an existing venv, venv rewrites pyvenv.cfg.
        return self.command_step(
            "venv",
            f"virtualenv {VENV} sees the system's packages (picamera2)",
            looks,
            [["/usr/bin/python3", "-m", "venv", "--system-site-packages", str(VENV)]],
        )

    def pip_command(self) -> list[str]:
        offline = ["--no-index", "--find-links", str(self.wheels)] if self.wheels else []
        return [
            *(str(VENV / "bin/python"), "-m", "pip", "install", *offline),
            f"{self.source}[kiosk]",
            *PIP_CONSTRAINTS,
        ]

    def pip_step(self) -> Step:
        command = self.pip_command()
        fingerprint = source_fingerprint(self.source, command)
        stamp = self.at(VENV / ".masar-source")
        step = self.command_step(
            f"pip:{fingerprint}",
            f"masar[kiosk] from {self.source} installed in the virtualenv",
            lambda: stamp.exists() and stamp.read_text().strip() == fingerprint,
            [command],
        )
        if self.recorder is None:
            install = step.make

            def make() -> None:
                install()
                stamp.write_text(fingerprint + "\n")

            step.make = make
            step.shows.append(f"echo {fingerprint[:12]}… > {VENV}/.masar-source")
        return step

    def file_step(self, source: str, target: Path, mode: int) -> Step:
        content = (self.source / source).read_bytes()
        path = self.at(target)

        def done() -> bool:
            return (
                path.is_file()
                and path.read_bytes() == content
                and path.stat().st_mode & 0o7777 == mode
            )

        def make() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            path.chmod(mode)

        return Step(
            f"{target} as in {source}",
            done,
            make,
            [f"install -m {mode:04o} {source} {target}"],
            unit_file=target.suffix == ".service",
        )

    def reload_step(self) -> Step:
        """systemd reads its unit files again, when this run changes one."""
        step = self.command_step(
            "daemon-reload",
            "systemd has read the unit files",
            lambda: not self.units_changed,
            [["systemctl", "daemon-reload"]],
        )
        step.done = lambda: not self.units_changed  # under --root too, whatever was recorded
        return step

    def enable_step(self, unit: str, *, user_unit: bool) -> Step:
        argv = [
            "systemctl",
            *(["--root", str(self.root)] if self.root else []),
            *(["--global"] if user_unit else []),
            "enable",
            unit,
        ]

        scope = "every desktop session" if user_unit else "boot"
        return Step(
            f"{unit} enabled at {scope}",
            lambda: unit_enabled(unit, self.root, user_unit=user_unit),
            lambda: must_run(argv),
            [shlex.join(argv)],
        )


# --- running it --------------------------------------------------------------------------------


def check_platform(root: Path | None) -> None:
    """Raspberry Pi OS Bookworm 64-bit only: the packages and paths are that system's."""
    where = root or Path("/")
    release = where / "etc/os-release"
    fields = (
        dict(line.split("=", 1) for line in release.read_text().splitlines() if "=" in line)
        if release.exists()
        else {}
    )
    if fields.get("VERSION_CODENAME", "").strip('"') != "bookworm":
        raise SetupError(f"{release} does not say Bookworm: this script is for Raspberry Pi OS 12")
    if not (where / "etc/rpi-issue").exists():
        raise SetupError("no /etc/rpi-issue: this is not Raspberry Pi OS")
    if root is None:
        architecture = run(["dpkg", "--print-architecture"]).stdout.strip()
        if architecture != "arm64":
            raise SetupError(f"this is {architecture}: use Raspberry Pi OS 64-bit (arm64)")
        if os.geteuid() != 0:
            raise SetupError("run it as root: sudo python3 provisioning/pi/setup.py")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Set up this Raspberry Pi as a Masar kiosk (safe to run again).",
        epilog="--root DIR writes files under DIR and records, in "
        "DIR/var/lib/masar-pi-setup/recorded.json, the commands only the machine itself "
        "can run (apt-get, useradd, usermod, chown, venv, pip, raspi-config) instead of running "
        "them. Without --root every check looks at the machine and every change is made.",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    parser.add_argument("--root", type=Path, help="work on this folder instead of the machine")
    parser.add_argument(
        "--source",
        type=Path,
        default=Path(__file__).resolve().parents[2],
        help="the Masar source tree to install (default: the one holding this script)",
    )
    parser.add_argument(
        "--wheels", type=Path, help="install Python packages from this folder only (no PyPI)"
    )
    args = parser.parse_args(argv)
    if isinstance(sys.stdout, io.TextIOWrapper):  # in order with the commands' own output
        sys.stdout.reconfigure(line_buffering=True)
    root = args.root.resolve() if args.root else None
    try:
        check_platform(root)
        wheels = args.wheels.resolve() if args.wheels else None
        setup = Setup(args.source.resolve(), root, wheels)
        if args.dry_run:
            print("Masar kiosk set-up, dry run: nothing is changed.")
        elif root:
            print(f"Masar kiosk set-up under {root} (machine-only commands are recorded).")
        changes = 0
        for step in setup.steps():
            if step.done():
                print(f"  ok      {step.what}")
                continue
            changes += 1
            setup.units_changed |= step.unit_file
            print(f"  {'would' if args.dry_run else 'doing':7} {step.what}")
            for line in step.shows:
                print(f"            $ {line}")
            if not args.dry_run:
                step.make()
    except SetupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.dry_run:
        print(f"{changes} change(s) planned." if changes else "Nothing to change.")
    else:
        print(f"{changes} change(s) made." if changes else "Nothing to change.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
