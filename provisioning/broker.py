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
        self.process = subprocess.Popen(
            [executable, "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not wait_for_port(self.host, self.port):
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

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
