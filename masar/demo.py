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

from hub.audit import load_key
from hub.db import open_engine, upgrade
from hub.seed import seed_kiosk_wing
from kiosk.policy import policy_key
from masar.demo_faces import FACES_SUBDIR, enrol_faces, shared_dir
from masar.processes import spawn_masar, stop, wait_for_http
from masar.scratch import ScratchError, admit_wing, spawn_ingest_worker
from provisioning.broker import BrokerError, LocalBroker, free_port

DEMO_PEOPLE = 25
# Pictures from ../shared/data/faces-dev for the first demo people (m00000 is on camera).
DEMO_FACES = ("Amelie_Mauresmo", "Arnold_Schwarzenegger", "Atal_Bihari_Vajpayee")


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
            ("officer", "wing_officer"),
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


def demo_faces(engine: Engine, root: Path) -> Path | None:
    """Give the first demo people real faces from ../shared (templates, photos), put the
    models in the hub's store for the kiosk to fetch, and return the folder the kiosk's
    replay camera shows (the first person's unseen pictures); None without ../shared."""
    from sqlalchemy.orm import Session

    from hub import roster
    from hub.audit import Trail, load_key
    from hub.model_store import add_models, folder_models
    from kiosk.recognition.face import FacePipeline, engine_id

    faces_dir, models_dir = shared_dir() / FACES_SUBDIR, shared_dir() / "models"
    if not faces_dir.is_dir() or not models_dir.is_dir():
        click.echo(f"No faces or models under {shared_dir()}: the demo kiosk has no camera.")
        return None
    pipeline = FacePipeline.open(models_dir)
    try:
        faces = enrol_faces(pipeline, faces_dir, DEMO_FACES, root / "camera")
    finally:
        pipeline.close()
    trail = Trail(load_key(root / "audit.key"), "system:demo")
    with Session(engine) as session, session.begin():
        add_models(session, trail, folder_models(models_dir))
        for number, face in enumerate(faces):
            person = f"m{number:05d}"
            record = roster.TemplateRecord(f"face-{person}", "face", engine_id(), face.template)
            roster.replace_templates(session, person, [record])
            roster.update_detainee(session, person, photo_thumbnail=face.photo)
        # The replay camera shows still photos, which the head-turn challenge rightly
        # refuses, and the demo has no badge reader: its policy turns the challenge off and
        # accepts face alone on its 25 people (expected false identification 25 x 1e-4 =
        # 2.5e-3, under a demo bound of 1e-2). A real site keeps the defaults
        # (kiosk/policy.py): head turn, and a badge once the wing is too large.
        demo_policy = {"head_turn_modes": [], "max_false_identification_rate": 1e-2}
        roster.put_document(session, "policy", policy_key("demo"), demo_policy, site="demo")
    return faces[0].probes


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
        seed_kiosk_wing(engine, key=load_key(root / "audit.key"), site="demo", wing="a")
        camera = demo_faces(engine, root)
        engine.dispose()
        (root / "kiosk.toml").write_text(
            f'site = "demo"\ndevice = "wing-a-1"\nwing = "a"\ndata_dir = "{root}/kiosk"\n\n'
            f'[broker]\nhost = "127.0.0.1"\nport = {broker.port}\n\n'
            f'[ui]\nhost = "127.0.0.1"\nport = {kiosk_port}\n'
            + (f'\n[camera]\ndriver = "replay"\npath = "{camera}"\nfps = 10\n' if camera else "")
        )
        if camera is not None:
            click.echo("Measuring the kiosk's face calibration on faces-dev (about half a minute)…")
            calibrate = ["kiosk", "calibrate", "--data", str(shared_dir() / FACES_SUBDIR)]
            models = [
                "--models",
                str(shared_dir() / "models"),
                "--config",
                str(root / "kiosk.toml"),
            ]
            if spawn_masar([*calibrate, *models], root / "calibrate.log").wait() != 0:
                raise DemoError(f"the face calibration failed: {root / 'calibrate.log'}")
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
            click.echo(f"  hub config (for masar hub commands' --config): {root / 'hub.toml'}")
            click.echo(
                "  log in as admin, registrar, trainer, social, nurse, officer: "
                f"password {password}"
            )
            if camera is not None:
                click.echo(
                    "  the kiosk's camera replays pictures of Person 0: touch Start on the "
                    "kiosk UI to be identified as them"
                )
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
