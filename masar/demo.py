"""`masar demo`: every part of Masar, for real, on loopback, from a temporary folder."""

from __future__ import annotations

import secrets
import signal
import socket
import subprocess
import tempfile
import threading
from pathlib import Path
from types import FrameType

import click
from sqlalchemy import Engine

from hub.db import open_engine, upgrade
from masar.processes import spawn_masar, stop, wait_for_http
from masar.scratch import ScratchError, admit_wing, spawn_ingest_worker
from provisioning.broker import BrokerError, LocalBroker, free_port

DEMO_PEOPLE = 25


class DemoError(RuntimeError):
    """The demo could not start; the message says why."""


def _port_or_free(port: int, what: str) -> int:
    """The asked-for port if a server could listen there now, else a free one (and say so)."""
    with socket.socket() as sock:
        # As servers do: a port with only TIME_WAIT leftovers of a previous run is usable.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            other = free_port()
            click.echo(f"Port {port} is in use; the {what} will listen on {other} instead.")
            return other
    return port


def demo_users(engine: Engine, audit_key: Path) -> str:
    """One user per daily role, sharing a random password printed at start."""
    from sqlalchemy.orm import Session

    from hub.audit import Trail, load_key
    from hub.users import create_user

    password = secrets.token_urlsafe(9)
    trail = Trail(load_key(audit_key), "system:demo")
    with Session(engine) as session, session.begin():
        for username, role in (
            ("admin", "admin"),
            ("registrar", "registrar"),
            ("trainer", "trainer"),
            ("social", "social_worker"),
            ("nurse", "health_staff"),
        ):
            create_user(
                session,
                trail,
                username=username,
                name=username.title(),
                role=role,
                password=password,
            )
    return password


def run_demo(hub_port: int = 8000, kiosk_port: int = 8080) -> None:
    hub_port, kiosk_port = _port_or_free(hub_port, "hub"), _port_or_free(kiosk_port, "kiosk")
    with tempfile.TemporaryDirectory(prefix="masar-demo-") as tmp:
        root = Path(tmp)
        try:
            broker = LocalBroker(root / "broker").start()
        except BrokerError as exc:
            raise DemoError(str(exc)) from None
        (root / "hub.toml").write_text(
            f'database_url = "sqlite:///{root}/hub.db"\n'
            f'audit_key_file = "{root}/audit.key"\n\n'
            f'[broker]\nhost = "127.0.0.1"\nport = {broker.port}\n'
        )
        # The demo wing: the kiosk registered on wing "a" with 25 synthetic people, so that
        # its first sync has something to copy.
        engine = open_engine(f"sqlite:///{root}/hub.db")
        upgrade(engine)
        admit_wing(engine, "demo", "wing-a-1", "a", DEMO_PEOPLE)
        password = demo_users(engine, root / "audit.key")
        engine.dispose()
        (root / "kiosk.toml").write_text(
            f'site = "demo"\ndevice = "wing-a-1"\ndata_dir = "{root}/kiosk"\n\n'
            f'[broker]\nhost = "127.0.0.1"\nport = {broker.port}\n\n'
            f'[ui]\nhost = "127.0.0.1"\nport = {kiosk_port}\n'
        )
        hub_config, kiosk_config = str(root / "hub.toml"), str(root / "kiosk.toml")
        children: list[tuple[str, subprocess.Popen[bytes]]] = []
        stopping = threading.Event()

        def _stop(signum: int, frame: FrameType | None) -> None:
            stopping.set()

        previous = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            children.append(
                (
                    "hub web",
                    spawn_masar(
                        ["hub", "web", "--config", hub_config, "--port", str(hub_port)],
                        root / "hub-web.log",
                    ),
                )
            )
            # Started and subscribed before the kiosk, so its first sync request is heard.
            children.append(
                (
                    "hub ingest",
                    spawn_ingest_worker(Path(hub_config), "1", root / "hub-ingest.log"),
                )
            )
            children.append(
                (
                    "kiosk",
                    spawn_masar(["kiosk", "run", "--config", kiosk_config], root / "kiosk.log"),
                )
            )
            hub_url = f"http://127.0.0.1:{hub_port}/"
            kiosk_url = f"http://127.0.0.1:{kiosk_port}/"
            for name, url in (("hub", hub_url), ("kiosk", kiosk_url)):
                if not wait_for_http(url):
                    logs = "\n".join(
                        f"--- {p.name}\n{p.read_text()[-1500:]}" for p in root.glob("*.log")
                    )
                    raise DemoError(f"the {name} did not answer at {url}:\n{logs}")
            click.echo("Masar demo is running (Ctrl-C stops everything):")
            click.echo(f"  hub web:   {hub_url}")
            click.echo(f"  kiosk UI:  {kiosk_url}")
            click.echo(f"  broker:    mqtt://127.0.0.1:{broker.port}")
            click.echo(f"  hub API:   {hub_url}api/v1/openapi.json")
            click.echo(f"  log in as admin, registrar, trainer, social, nurse: password {password}")
            while not stopping.wait(0.5):
                for name, child in children:
                    if child.poll() is not None:
                        raise DemoError(
                            f"the {name} process stopped (exit {child.returncode}); "
                            f"see {root}/*.log"
                        )
        except ScratchError as exc:
            raise DemoError(str(exc)) from None
        finally:
            for _name, child in reversed(children):
                stop(child)
            broker.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        click.echo("Masar demo stopped; nothing left running.")
