"""The units in systemd/: lint-clean, hardened, and the processes keep their notify contract.

`systemd-analyze verify` must print nothing about our units: typos in a unit are only
warnings (exit code 0), so the check fails on any line naming our units, not only on the
exit code. The units name the installed paths (/opt/masar/venv/bin/masar), which do not
exist here and make systemd-analyze report "Command … is not executable"; the checks run
on copies in tmp_path whose ExecStart binary is a stand-in script, nothing else changed.
The browser is a user unit, so it is verified as one (`systemd-analyze --user`).

`Type=notify` with `WatchdogSec=` gets a process killed if it never sends READY=1 or stops
sending WATCHDOG=1, and with `NotifyAccess=main` only the main process is heard. There is
no systemd as PID 1 here, so the last tests do its part: they run each unit's own
ExecStart= line, with its Environment= and its credentials directory, under a notify socket
that reads the sender's PID, and check who says what, and when.
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioning.broker import LocalBroker, free_port

UNIT_DIR = Path(__file__).resolve().parents[2] / "systemd"
SERVICES = ["masar-kiosk.service", "masar-hub-web.service", "masar-hub-ingest@.service"]
USER_UNITS = ["masar-kiosk-browser.service"]
UNITS = SERVICES + USER_UNITS
MASAR = "/opt/masar/venv/bin/masar"
# Overall exposure systemd-analyze security gives each unit today (lower is better):
# hardening may improve, never slip back unnoticed.
EXPOSURE = {
    "masar-kiosk.service": 1.7,
    "masar-hub-web.service": 1.4,
    "masar-hub-ingest@.service": 1.4,
    "masar-kiosk-browser.service": 5.0,
}

# ./dev.sh test installs Debian's systemd when this is missing; a test never skips for it.
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


def stage(units: dict[str, str], tmp_path: Path) -> Path:
    """Write the units into tmp_path/units with an ExecStart binary that exists."""
    stand_in = tmp_path / "bin" / "stand-in"
    stand_in.parent.mkdir(parents=True)
    stand_in.write_text("#!/bin/sh\nexit 0\n")
    stand_in.chmod(0o755)
    folder = tmp_path / "units"
    folder.mkdir()
    for name, text in units.items():
        (folder / name).write_text(text.replace(MASAR, str(stand_in)))
    return folder


def analyze(path: Path, *command: str) -> tuple[int, list[str]]:
    """Run systemd-analyze on one unit file; its exit code and the lines about our units."""
    assert SYSTEMD_ANALYZE is not None, (
        "systemd-analyze is missing: run the tests with ./dev.sh test"
    )
    user = path.name.split("@")[0] in {u.split("@")[0] for u in USER_UNITS}
    env = dict(os.environ)
    if user:  # the user manager it emulates wants a runtime directory
        env["XDG_RUNTIME_DIR"] = str(path.parent.parent / "run")
        Path(env["XDG_RUNTIME_DIR"]).mkdir(exist_ok=True)
    result = subprocess.run(
        [SYSTEMD_ANALYZE, *(["--user"] if user else []), *command, "--man=no", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
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


def verify(path: Path) -> tuple[int, list[str]]:
    return analyze(path, "verify")


def read_units() -> dict[str, str]:
    return {name: (UNIT_DIR / name).read_text() for name in UNITS}


def settings(name: str) -> dict[str, list[str]]:
    """Each key of a unit file and its values, in order (comments left out)."""
    found: dict[str, list[str]] = {}
    for line in (UNIT_DIR / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key, []).append(value)
    return found


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
    for name, good, typo, says in (
        ("masar-kiosk.service", "\nRestart=always", "\nRestartt=always", "Unknown key"),
        ("masar-kiosk.service", "NotifyAccess=main", "NotifyAccess=mian", "notify access"),
        ("masar-kiosk-browser.service", "=read-only", "=readonly", "protect home"),
    ):
        text = (UNIT_DIR / name).read_text()
        assert good in text
        folder = stage({name: text.replace(good, typo)}, tmp_path / typo.strip("\n="))
        code, lines = verify(folder / name)
        assert code == 0  # a typo is only a warning: the exit code alone would miss it
        assert any(says in line for line in lines), lines


def test_the_check_catches_a_missing_binary(tmp_path: Path) -> None:
    folder = tmp_path / "units"
    folder.mkdir()
    (folder / "masar-kiosk.service").write_text(
        (UNIT_DIR / "masar-kiosk.service").read_text().replace(MASAR, str(tmp_path / "missing"))
    )
    code, lines = verify(folder / "masar-kiosk.service")
    assert code != 0
    assert any("is not executable" in line for line in lines), lines


@pytest.mark.parametrize("name", UNITS)
def test_unit_is_no_more_exposed_than_today(name: str, tmp_path: Path) -> None:
    folder = stage(read_units(), tmp_path)
    threshold = f"--threshold={EXPOSURE[name] * 10:.0f}"  # systemd's scale is 0-100 here
    code, lines = analyze(folder / name, "security", "--offline=yes", threshold)
    assert code == 0, "\n".join(line for line in lines if "✗" in line or "→" in line)


@pytest.mark.parametrize("name", UNITS)
def test_unit_is_hardened_and_restarts(name: str) -> None:
    unit = settings(name)
    for key, value in (
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("PrivateTmp", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectControlGroups", "yes"),
        ("RestrictSUIDSGID", "yes"),
        ("LockPersonality", "yes"),
        ("CapabilityBoundingSet", ""),
        ("UMask", "0077"),
    ):
        assert unit.get(key) == [value], f"{name}: {key}={unit.get(key)}"
    assert unit["Restart"] in (["always"], ["on-failure"])
    assert unit["RestartSec"] and unit["StartLimitIntervalSec"] and unit["StartLimitBurst"]


@pytest.mark.parametrize("name", SERVICES)
def test_services_write_only_the_data_folder_and_load_credentials(name: str) -> None:
    unit = settings(name)
    assert unit["User"] == ["masar"]
    assert unit["ReadWritePaths"] == ["/var/lib/masar"]
    assert unit["StateDirectory"] == ["masar"]
    assert unit["ProtectHome"] == ["yes"]
    assert unit["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6"]
    assert unit["SystemCallFilter"] == ["@system-service", "~@privileged"]
    assert unit["LoadCredential"]
    for credential in unit["LoadCredential"]:
        assert credential.split(":")[1].startswith("/etc/masar/credstore/")
    credentials = {c.split(":")[0] for c in unit["LoadCredential"]}
    if name == "masar-kiosk.service":
        assert credentials == {"cache.key", "device.key"}
        assert unit["SupplementaryGroups"] == ["video dialout"]  # camera, serial sensor
        assert "PrivateDevices" not in unit and "DevicePolicy" not in unit
        assert unit["ConditionPathExists"] == ["/etc/masar/kiosk.toml"]
    else:
        assert credentials == {"database-url", "audit.key"}
        assert unit["PrivateDevices"] == ["yes"]
        assert unit["Environment"][0] == "MASAR_HUB_AUDIT_KEY_FILE=%d/audit.key"


def test_watchdogs_only_where_the_process_notifies() -> None:
    for name in ("masar-kiosk.service", "masar-hub-ingest@.service"):
        unit = settings(name)
        assert (unit["Type"], unit["NotifyAccess"], unit["WatchdogSec"]) == (
            ["notify"],
            ["main"],
            ["30s"],
        )
    web = settings("masar-hub-web.service")  # gunicorn says READY=1, never WATCHDOG=1
    assert (web["Type"], web["NotifyAccess"], "WatchdogSec" in web) == (["notify"], ["main"], False)
    browser = settings("masar-kiosk-browser.service")
    assert browser["Type"] == ["exec"] and "WatchdogSec" not in browser
    assert browser["Restart"] == ["always"] and browser["WantedBy"] == ["graphical-session.target"]
    assert "--name %i" in settings("masar-hub-ingest@.service")["ExecStart"][0]


# --- the notify contract, with real processes -------------------------------------------------


class NotifySocket:
    """What systemd listens on: a datagram socket that learns each sender's PID."""

    def __init__(self, address: str) -> None:
        self.address = address  # a path, or @name in the abstract namespace
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.received: list[tuple[int, str]] = []

    def wait_for(self, message: str, *, count: int = 1, timeout: float = 30) -> list[int]:
        """Read until ``message`` arrived ``count`` times; the PIDs that sent it."""
        deadline = time.monotonic() + timeout
        while [m for _, m in self.received].count(message) < count:
            left = deadline - time.monotonic()
            assert left > 0, f"no {message} ({count}×) within {timeout}s: {self.received}"
            self.sock.settimeout(left)
            try:
                data, ancillary, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
            except TimeoutError:
                continue
            pid = next(
                struct.unpack("3i", body)[0]
                for level, kind, body in ancillary
                if (level, kind) == (socket.SOL_SOCKET, socket.SCM_CREDENTIALS)
            )
            self.received += [(pid, line) for line in data.decode().splitlines()]
        return [pid for pid, m in self.received if m == message]

    def close(self) -> None:
        self.sock.close()


def start_like_systemd(
    name: str,
    tmp_path: Path,
    replace: dict[str, str],
    credentials: dict[str, bytes],
    notify: str,
) -> tuple[subprocess.Popen[bytes], Path]:
    """Run the unit's ExecStart= the way systemd would: its Environment=, a credentials
    directory, the data folder as working directory, $NOTIFY_SOCKET, and, if the unit has
    a watchdog, $WATCHDOG_USEC (0.6 s here, to see kicks quickly) and $WATCHDOG_PID.
    ``replace`` swaps the installed paths (/etc/masar/…) for the test's."""
    unit = settings(name)
    unit_name = name.replace("@.", "@7.")
    credentials_dir = tmp_path / "credentials" / unit_name
    credentials_dir.mkdir(parents=True)
    for credential, content in credentials.items():
        (credentials_dir / credential).write_bytes(content)
    data = tmp_path / "data"
    data.mkdir()
    replace = {
        "%i": "7",
        "%d": str(credentials_dir),
        "%t": str(tmp_path / "run"),
        "$$": "$",
        MASAR: str(Path(sys.executable).with_name("masar")),
        **replace,
    }

    def resolve(text: str) -> str:
        for old, new in replace.items():
            text = text.replace(old, new)
        return text

    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTIFY_", "WATCHDOG_"))}
    for line in unit.get("Environment", []):
        key, value = resolve(line).split("=", 1)
        env[key] = value
    env.update(NOTIFY_SOCKET=notify, CREDENTIALS_DIRECTORY=str(credentials_dir))
    argv = shlex.split(resolve(unit["ExecStart"][0]))
    if "WatchdogSec" in unit:
        env["WATCHDOG_USEC"] = "600000"
        # systemd names the main process; a shell that execs it has its PID already.
        argv = ["/bin/sh", "-c", 'WATCHDOG_PID=$$ exec "$@"', "sh", *argv]
    log = tmp_path / f"{unit_name}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(argv, cwd=data, env=env, stdout=output, stderr=output)
    return process, log


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[NotifySocket]:
    listener = NotifySocket(str(tmp_path / "notify"))
    yield listener
    listener.close()


def stopped(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_kiosk_is_ready_when_its_ui_answers_and_kicks_its_watchdog(
    tmp_path: Path, notify_socket: NotifySocket
) -> None:
    port = free_port()
    credentials = tmp_path / "credentials" / "masar-kiosk.service"
    config = tmp_path / "kiosk.toml"
    config.write_text(
        f'site = "s1"\ndevice = "k1"\ndata_dir = "{tmp_path / "data"}"\n'
        # the path kiosk.toml names on a kiosk: /run/credentials/masar-kiosk.service/…
        f'cache_key_file = "{credentials / "cache.key"}"\n\n'
        f'[broker]\nhost = "127.0.0.1"\nport = {free_port()}\n\n[ui]\nport = {port}\n'
    )
    process, log = start_like_systemd(
        "masar-kiosk.service",
        tmp_path,
        {"/etc/masar/kiosk.toml": str(config)},
        {"cache.key": os.urandom(32), "device.key": b"not used without [broker.tls]\n"},
        notify_socket.address,
    )
    try:
        assert notify_socket.wait_for("READY=1") == [process.pid], log.read_text()
        # READY means the touchscreen can be shown: the browser unit waits for no more.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            assert answer.status == 200
        assert set(notify_socket.wait_for("WATCHDOG=1", count=3)) == {process.pid}
        assert stopped(process) == 0
        assert notify_socket.wait_for("STOPPING=1") == [process.pid]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_ingest_worker_is_ready_once_connected_and_kicks_its_watchdog(
    tmp_path: Path, broker: LocalBroker
) -> None:
    listener = NotifySocket(f"@masar-test-{secrets.token_hex(8)}")  # the abstract namespace
    config = tmp_path / "hub.toml"
    config.write_text(
        f'audit_key_file = "{tmp_path / "audit.key"}"\n\n'
        f'[broker]\nhost = "127.0.0.1"\nport = {broker.port}\n'
    )
    process, log = start_like_systemd(
        "masar-hub-ingest@.service",
        tmp_path,
        {"/etc/masar/hub.toml": str(config)},
        {
            "database-url": f"sqlite:///{tmp_path / 'hub.db'}".encode(),
            "audit.key": os.urandom(32),
        },
        listener.address,
    )
    try:
        assert listener.wait_for("READY=1") == [process.pid], log.read_text()
        assert "ingest worker 7 connected" in log.read_text()  # --name %i
        assert (tmp_path / "hub.db").exists()  # the URL came from the credential
        assert set(listener.wait_for("WATCHDOG=1", count=3)) == {process.pid}
        assert stopped(process) == 0
        assert listener.wait_for("STOPPING=1") == [process.pid]
    finally:
        listener.close()
        if process.poll() is None:
            process.kill()
            process.wait()


def test_hub_web_is_ready_from_gunicorns_main_process(
    tmp_path: Path, notify_socket: NotifySocket
) -> None:
    port = free_port()
    runtime = tmp_path / "run" / "masar-hub-web"  # what RuntimeDirectory= makes
    runtime.mkdir(parents=True)
    config = tmp_path / "hub.toml"
    config.write_text(f'audit_key_file = "{tmp_path / "audit.key"}"\n')
    process, log = start_like_systemd(
        "masar-hub-web.service",
        tmp_path,
        {"/etc/masar/hub.toml": str(config), "--port 8000": f"--port {port}"},
        {
            "database-url": f"sqlite:///{tmp_path / 'hub.db'}".encode(),
            "audit.key": os.urandom(32),
        },
        notify_socket.address,
    )
    try:
        assert notify_socket.wait_for("READY=1") == [process.pid], log.read_text()
        # Gunicorn's control socket (made once its workers run) goes where the unit says,
        # not into the data folder.
        deadline = time.monotonic() + 20
        while not (runtime / "gunicorn.ctl").is_socket() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (runtime / "gunicorn.ctl").is_socket(), log.read_text()
        assert not (tmp_path / "data" / ".gunicorn").exists()
        assert stopped(process) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
