"""Runs a Mosquitto process from a generated config (demo, tests, benchmarks)."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from provisioning.mosquitto import BrokerTls, render_config


class BrokerError(RuntimeError):
    """Mosquitto could not be started; the message says what to do."""


# Logged at "information" level, which render_config(private=True) turns on.
_RUNNING = " running"  # "mosquitto version 2.0.11 running": its signal handlers are set
_RELOADED = "Reloading config."


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the kernel picks it)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.02)
    return False


class LocalBroker:
    """A Mosquitto on loopback whose state lives in ``directory``; stop and start keep it."""

    def __init__(
        self,
        directory: Path,
        port: int | None = None,
        *,
        tls: BrokerTls | None = None,
        acl_file: Path | None = None,
        allow_anonymous: bool | None = None,
    ) -> None:
        self.directory = directory
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.tls = tls
        self.acl_file = acl_file
        self.allow_anonymous = allow_anonymous
        self.process: subprocess.Popen[bytes] | None = None
        self.config_path = directory / "mosquitto.conf"
        self.log_path = directory / "mosquitto.log"

    def start(self) -> LocalBroker:
        executable = shutil.which("mosquitto") or (
            "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
        )
        if executable is None:
            raise BrokerError(
                "Mosquitto is not installed. Install it with: sudo apt-get install mosquitto"
            )
        data_dir = self.directory / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            render_config(
                port=self.port,
                data_dir=data_dir,
                tls=self.tls,
                acl_file=self.acl_file,
                log_file=self.log_path,
                allow_anonymous=self.allow_anonymous,
                private=True,
            )
        )
        runs = self._log().count(_RUNNING)
        self.process = subprocess.Popen(  # nosec B603  # mosquitto with the config we wrote, no shell
            [executable, "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # The port listens before Mosquitto handles SIGHUP (a reload then would kill it).
        if not wait_for_port(self.host, self.port) or not self._logged(_RUNNING, runs, 10.0):
            self.stop()
            log = self.log_path.read_text() if self.log_path.exists() else ""
            raise BrokerError(f"Mosquitto did not start on port {self.port}:\n{log[-2000:]}")
        return self

    def stop(self) -> None:
        """Clean stop: Mosquitto saves its persistence file on SIGTERM."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def reload(self, timeout: float = 5.0) -> None:
        """Make Mosquitto re-read its ACL file, certificates and CRL without a restart.

        SIGHUP; Mosquitto logs "Reloading config." and reloads in the same pass of its
        loop, before it serves any other connection, so once the line is there every new
        handshake sees the new CRL. Connections already open are kept. A SIGHUP that comes
        while Mosquitto is still reloading is lost, so it is sent again if no reload shows.
        """
        deadline = time.monotonic() + timeout
        before = self._log().count(_RELOADED)
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise BrokerError("Mosquitto is not running: start it before reloading it")
            self.process.send_signal(signal.SIGHUP)
            if self._logged(_RELOADED, before, 0.5):
                return
        raise BrokerError(f"Mosquitto did not reload within {timeout} s")

    def _logged(self, line: str, before: int, timeout: float) -> bool:
        """Wait until ``line`` is in the log more than ``before`` times."""
        deadline = time.monotonic() + timeout
        while self._log().count(line) <= before:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def _log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
