"""`masar hub …`: migrate the database, run ingest workers, serve the web application."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, get_args

import click

from hub.config import ConfigError, HubConfig, load_config
from hub.roles import ROLES
from protocol.events import KioskMode

KIOSK_MODES = get_args(KioskMode)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from hub.audit import Trail  # imported when used: a kiosk-only install has no SQLAlchemy

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="hub TOML file (default: $MASAR_HUB_CONFIG); MASAR_HUB_DATABASE_URL overrides the URL",
)


def _load(config_path: Path | None) -> HubConfig:
    try:
        return load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _load_existing(config_path: Path | None) -> HubConfig:
    """The configuration of a hub that must exist already: a command that only reads (a
    check, a listing) says so when there is no database, rather than make an empty one and
    report on it (a forgotten --config would look like a clean hub)."""
    from sqlalchemy.engine import make_url

    config = _load(config_path)
    url = make_url(config.database_url)
    path = url.database if url.get_backend_name() == "sqlite" else None
    if path and path != ":memory:" and not Path(path).exists():
        raise click.ClickException(
            f"there is no hub database at {path}: give the hub's configuration with --config "
            "(or $MASAR_HUB_CONFIG); `masar hub migrate` creates a new one"
        )
    return config


def _cli_trail(config: HubConfig) -> Trail:
    """Changes made from the command line are audited as the system user who ran them."""
    import getpass

    from hub.audit import Trail, load_key

    return Trail(load_key(config.audit_key_file), f"system:cli/{getpass.getuser()}")


@contextmanager
def _transaction(config: HubConfig) -> Iterator[Session]:
    """The hub's database, migrated, and one transaction on it: a command's whole change."""
    from sqlalchemy.orm import Session

    from hub.db import open_engine, upgrade

    engine = open_engine(config.database_url)
    try:
        upgrade(engine)
        with Session(engine) as session, session.begin():
            yield session
    finally:
        engine.dispose()


@click.group(name="hub")
def hub_group() -> None:
    """The central hub: master records, ingest workers and the staff web application.

    Example: masar hub ingest --config hub.toml
    """


@hub_group.command()
@config_option
def migrate(config_path: Path | None) -> None:
    """Create or upgrade the hub database to the newest schema.

    Example: MASAR_HUB_DATABASE_URL=postgresql://postgres@127.0.0.1/masar masar hub migrate
    """
    from hub.db import current_revision, open_engine, upgrade

    config = _load(config_path)
    engine = open_engine(config.database_url)
    upgrade(engine)
    click.echo(f"database at revision {current_revision(engine)}")


@hub_group.command()
@config_option
@click.option("--name", default="1", show_default=True, help="worker name; keeps its MQTT session")
def ingest(config_path: Path | None, name: str) -> None:
    """Run one ingest worker (start several for more throughput).

    Example: masar hub ingest --config hub.toml --name 2
    """
    from hub.worker import IngestWorker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    worker = IngestWorker(_load(config_path), name=name)

    def _stop(signum: int, frame: FrameType | None) -> None:
        worker.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    worker.run()


@hub_group.command()
@config_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
@click.option(
    "--certfile",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="serve HTTPS with this certificate (masar provision server-cert); kiosks enrol over it",
)
@click.option("--keyfile", type=click.Path(dir_okay=False, exists=True, path_type=Path))
def web(
    config_path: Path | None,
    host: str,
    port: int,
    workers: int,
    certfile: Path | None,
    keyfile: Path | None,
) -> None:
    """Serve the hub web application with gunicorn (HTTPS with --certfile and --keyfile).

    Example: masar hub web --config hub.toml --port 8443 --certfile hub.crt --keyfile hub.key
    """
    _load(config_path)  # fail here, in plain words, rather than inside gunicorn
    if (certfile is None) != (keyfile is None):
        raise click.ClickException("HTTPS needs both --certfile and --keyfile")
    if config_path is not None:
        os.environ["MASAR_HUB_CONFIG"] = str(config_path.resolve())
    gunicorn = shutil.which("gunicorn") or str(Path(sys.executable).with_name("gunicorn"))
    tls = [] if certfile is None else ["--certfile", str(certfile), "--keyfile", str(keyfile)]
    os.execv(  # nosec B606  # execs gunicorn (shutil.which) with an argument list, no shell
        gunicorn,
        [
            gunicorn,
            "--workers",
            str(workers),
            "--bind",
            f"{host}:{port}",
            "--graceful-timeout",
            "5",
            *tls,
            "hub.app:create_app()",
        ],
    )


@hub_group.command()
@config_option
@click.option("--site", required=True)
@click.option("--device", required=True)
@click.argument("kind", type=click.Choice(["sync", "wipe_caches", "set_mode", "rotate_cache_key"]))
@click.option("--mode", type=click.Choice(KIOSK_MODES), default=None)
def command(config_path: Path | None, site: str, device: str, kind: str, mode: str | None) -> None:
    """Send a command to one kiosk (it runs it when it is next connected).

    Example: masar hub command --site rabat-1 --device wing-a-1 set_mode --mode movement_check
    """
    from hub import mqtt as hub_mqtt
    from hub.commands import command_message

    config = _load(config_path)
    try:
        topic, payload = command_message(site, device, kind, mode)  # type: ignore[arg-type]
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if not _is_registered(config, site, device):
        raise click.ClickException(
            f"no kiosk {site}/{device} is registered on this hub ({config.database_url}); "
            "see masar hub device add"
        )
    try:
        hub_mqtt.publish_once(config.broker, topic, payload)
    except hub_mqtt.BrokerUnreachable as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"sent {kind} to {site}/{device}")


def _is_registered(config: HubConfig, site: str, device: str) -> bool:
    from sqlalchemy.orm import Session

    from hub.db import open_engine, upgrade
    from hub.roster import wing_of

    engine = open_engine(config.database_url)
    try:
        upgrade(engine)
        with Session(engine) as session:
            return wing_of(session, site, device) is not None
    finally:
        engine.dispose()


@hub_group.group()
def audit() -> None:
    """The hash-chained audit log.

    Example: masar hub audit verify --config hub.toml
    """


@audit.command("verify")
@config_option
def audit_verify(config_path: Path | None) -> None:
    """Check that no audit entry was edited, inserted or deleted; exit 1 if one was.

    Example: masar hub audit verify --config hub.toml
    """
    from sqlalchemy.orm import Session

    from hub import audit as trail
    from hub.db import open_engine, upgrade

    config = _load_existing(config_path)
    writer = open_engine(config.database_url)
    upgrade(writer)
    writer.dispose()
    engine = open_engine(config.database_url, writer=False)
    try:
        with Session(engine) as session:
            if not config.audit_key_file.exists():
                if trail.is_empty(session):
                    click.echo("audit log intact: 0 entries (nothing recorded yet)")
                    return
                raise click.ClickException(
                    f"the audit key {config.audit_key_file} is missing, so the log cannot be "
                    "checked; restore the key from its backup"
                )
            result = trail.verify(session, trail.load_key(config.audit_key_file, create=False))
    finally:
        engine.dispose()
    if not result.ok:
        click.echo(f"FAILED after {result.entries} good entries: {result.problem}", err=True)
        sys.exit(1)
    click.echo(f"audit log intact: {result.entries} entries")


@hub_group.group()
def questionnaire() -> None:
    """Questionnaires as XLSForms: import and keep every version.

    Example: masar hub questionnaire import intake.xlsx --config hub.toml
    """


@questionnaire.command("import")
@config_option
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def questionnaire_import(config_path: Path | None, files: tuple[str, ...]) -> None:
    """Check and store XLSForm files; a mistake is reported with its sheet, row and column.

    Example: masar hub questionnaire import hub/questionnaires/forms/*.xlsx --config hub.toml
    """
    from sqlalchemy.orm import Session

    from hub.db import open_engine, upgrade
    from hub.questionnaires import XLSFormError
    from hub.questionnaires.library import QuestionnaireError, import_form

    config = _load(config_path)
    trail = _cli_trail(config)
    engine = open_engine(config.database_url)
    try:
        upgrade(engine)
        for name in files:
            try:
                with Session(engine) as session, session.begin():
                    version = import_form(session, Path(name).read_bytes(), actor=trail.actor)
                    trail.record(
                        session,
                        "questionnaire.import",
                        None,
                        {"form_id": version.form_id, "version": version.version},
                    )
                    click.echo(f"{name}: {version.form_id} version {version.version}")
            except (XLSFormError, QuestionnaireError) as exc:
                raise click.ClickException(f"{name}: {exc}") from None
    finally:
        engine.dispose()


@questionnaire.command("media")
@config_option
@click.option("--form", "form_id", required=True, help="the questionnaire's form id")
@click.option("--site", required=True)
@click.option("--wing", default=None, help="only this wing's kiosks (default: the whole site)")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def questionnaire_media(
    config_path: Path | None, form_id: str, site: str, wing: str | None, files: tuple[str, ...]
) -> None:
    """Send a form's recorded audio (its media::audio files, at most 64 KiB each) to kiosks.

    Example: masar hub questionnaire media --form masar_intake --site rabat-1 q1_fr.ogg
    """
    from sqlalchemy.orm import Session

    from hub.db import open_engine, upgrade
    from hub.questionnaires.media import MediaError, add_media

    contents = {Path(name).name: Path(name).read_bytes() for name in files}
    if len(contents) != len(files):
        raise click.ClickException("two files have the same name; the kiosks know them by name")
    config = _load(config_path)
    trail = _cli_trail(config)
    engine = open_engine(config.database_url)
    try:
        upgrade(engine)
        with Session(engine) as session, session.begin():
            add_media(session, trail, form_id, contents, site, wing)
    except MediaError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()
    click.echo(
        f"{len(contents)} audio file(s) of {form_id} sent to {site}" + (f"/{wing}" if wing else "")
    )


@hub_group.group()
def device() -> None:
    """Kiosks known to the hub: register, enrol with a one-time token, withdraw.

    Example: masar hub device add --site rabat-1 --device wing-a-1 --wing a
    """


def _kiosk_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options naming a kiosk and its place, shared by `device add` and `device enrol`."""
    for option in reversed(
        (
            config_option,
            click.option("--site", required=True),
            click.option("--device", "device_id", required=True),
            click.option("--wing", required=True, help="the wing whose roster the kiosk receives"),
            click.option(
                "--mode",
                type=click.Choice(KIOSK_MODES),
                default="self_service",
                show_default=True,
            ),
        )
    ):
        command = option(command)
    return command


@device.command("add")
@_kiosk_options
def device_add(config_path: Path | None, site: str, device_id: str, wing: str, mode: str) -> None:
    """Register a kiosk (or move it to another wing: it then receives a fresh copy).

    Example: masar hub device add --site rabat-1 --device wing-a-1 --wing a --config hub.toml
    """
    from hub.roster import register_device
    from protocol.ids import is_identifier

    for what, value in (("site", site), ("device", device_id)):
        if not is_identifier(value):
            raise click.ClickException(
                f"{what} {value!r} is not a valid id (use a-z, 0-9, _ and -)"
            )
    config = _load(config_path)
    with _transaction(config) as session:
        register_device(session, site, device_id, wing, mode)
        _cli_trail(config).record(
            session,
            "device.register",
            None,
            {"site": site, "device": device_id, "wing": wing, "mode": mode},
        )
    click.echo(f"kiosk {site}/{device_id} serves wing {wing} in {mode} mode")


@device.command("enrol")
@_kiosk_options
@click.option("--valid-hours", default=24.0, show_default=True, type=float)
@click.option("--hub-url", required=True, help="the hub's HTTPS address as the kiosk will reach it")
def device_enrol(
    config_path: Path | None,
    site: str,
    device_id: str,
    wing: str,
    mode: str,
    valid_hours: float,
    hub_url: str,
) -> None:
    """Register a kiosk and print its one-time enrolment token (text and QR code).

    Example: masar hub device enrol --site rabat-1 --device wing-a-1 --wing a
    --hub-url https://hub.rabat-1.local:8443 --config hub.toml
    """
    import io
    from datetime import timedelta

    import segno

    from hub import devices
    from hub.fleet import FleetError, site_ca

    config = _load(config_path)
    try:
        ca = site_ca(config)
        with _transaction(config) as session:
            invitation = devices.invite(
                session,
                _cli_trail(config),
                ca,
                site=site,
                device=device_id,
                wing=wing,
                mode=mode,
                lifetime=timedelta(hours=valid_hours),
            )
    except (FleetError, devices.EnrolmentRefused) as exc:
        raise click.ClickException(str(exc)) from None
    command = invitation.command(hub_url.rstrip("/"))
    picture = io.StringIO()
    segno.make(command, error="m").terminal(out=picture, compact=True)
    click.echo(picture.getvalue())
    click.echo(f"kiosk {site}/{device_id} (wing {wing}, {mode}) is invited.")
    click.echo(f"token (works once, until {invitation.expires_at:%Y-%m-%d %H:%M} UTC):")
    click.echo(f"  {invitation.token}")
    click.echo("on the kiosk, run:")
    click.echo(f"  {command}")


@device.command("revoke")
@config_option
@click.option("--site", required=True)
@click.option("--device", "device_id", required=True)
def device_revoke(config_path: Path | None, site: str, device_id: str) -> None:
    """Withdraw a kiosk: its certificate is revoked and its events refused from now on.

    Example: masar hub device revoke --site rabat-1 --device wing-a-1 --config hub.toml
    """
    from hub import devices
    from hub.fleet import FleetError, after_revocation, site_ca

    config = _load(config_path)
    try:
        ca = site_ca(config)
        with _transaction(config) as session:
            devices.revoke(session, _cli_trail(config), ca, site, device_id)
            withdrawn = devices.revoked_devices(session)
    except (FleetError, LookupError) as exc:
        raise click.ClickException(str(exc).strip("'")) from None
    click.echo(f"kiosk {site}/{device_id} is withdrawn:")
    for line in after_revocation(config, site, device_id, withdrawn):
        click.echo(f"  {line}")


@hub_group.group()
def models() -> None:
    """The model store: the face model files kiosks download from this hub (never from the
    internet), each checked against the SHA-256 Masar was tested with.

    Example: masar hub models install --config hub.toml
    """


def _store_models(config: HubConfig, paths: list[Path]) -> None:
    """Check and store every file, all or nothing, and say what became of each."""
    from sqlalchemy.orm import Session

    from hub.db import open_engine, upgrade
    from hub.model_store import ModelStoreError, add_models

    trail = _cli_trail(config)
    engine = open_engine(config.database_url)
    try:
        upgrade(engine)
        with Session(engine) as session, session.begin():
            added = add_models(session, trail, paths)
    except ModelStoreError as exc:
        raise click.ClickException(f"{exc}; nothing was stored") from None
    finally:
        engine.dispose()
    for model in added:
        click.echo(f"{model.name}: {model.outcome} ({model.size:,} bytes, SHA-256 {model.sha256})")


@models.command("install")
@config_option
@click.option(
    "--from",
    "folder",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="take the files from this folder instead of the npm registry (a hub without internet)",
)
def models_install(config_path: Path | None, folder: Path | None) -> None:
    """Fetch the models a new hub needs from the npm registry (`npm pack` of
    faceplugin-face-recognition-js@0.0.1), check each one's SHA-256 and store them for the
    kiosks. With --from DIR, every catalogued model file in DIR is taken instead. YuNet is in
    no registry: add it with `masar hub models add`.

    Example: masar hub models install --config hub.toml
    """
    import tempfile

    from hub.model_store import ModelStoreError, folder_models, registry_models

    config = _load(config_path)
    with tempfile.TemporaryDirectory(prefix="masar-models-") as work:
        try:
            paths = folder_models(folder) if folder else registry_models(Path(work))
        except ModelStoreError as exc:
            raise click.ClickException(str(exc)) from None
        _store_models(config, paths)


@models.command("add")
@config_option
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def models_add(config_path: Path | None, files: tuple[Path, ...]) -> None:
    """Store model files known to Masar (the file name says which; its SHA-256 must match),
    e.g. YuNet, which no package registry carries.

    Example: masar hub models add face_detection_yunet_2023mar.onnx --config hub.toml
    """
    _store_models(_load(config_path), list(files))


@models.command("list")
@config_option
def models_list(config_path: Path | None) -> None:
    """Show the stored models, and the catalogued ones the store still lacks.

    Example: masar hub models list --config hub.toml
    """
    from sqlalchemy.orm import Session

    from hub.db import open_engine, upgrade
    from hub.model_store import list_models
    from protocol.models import CATALOGUE

    config = _load_existing(config_path)
    engine = open_engine(config.database_url)
    try:
        upgrade(engine)
        with Session(engine) as session:
            stored = list_models(session)
    finally:
        engine.dispose()
    width = max(len(name) for name in CATALOGUE)
    for model in stored:
        click.echo(
            f"{model.name:<{width}}  {model.size:>9,} bytes  {model.sha256[:12]}…  {model.role}  "
            f"added {model.added_at:%Y-%m-%d %H:%M} by {model.added_by}  ({model.licence})"
        )
    for name in sorted(set(CATALOGUE) - {m.name for m in stored}):
        click.echo(f"{name:<{width}}  missing: {CATALOGUE[name].source}")


@hub_group.group()
def user() -> None:
    """People who log in to the hub's web pages and API, each with one role.

    Example: masar hub user add --username admin --name "Hub admin" --role admin
    """


@user.command("add")
@config_option
@click.option("--username", required=True)
@click.option("--name", required=True, help="full name, as colleagues know it")
@click.option(
    "--role",
    required=True,
    type=click.Choice(ROLES),
)
@click.option("--site", default=None, help="limit the user to one establishment")
@click.option("--partner", default=None, help="a partner user's organisation")
@click.option("--language", type=click.Choice(["fr", "ar"]), default="fr", show_default=True)
@click.option(
    "--password-stdin", is_flag=True, help="read the password from standard input, not a prompt"
)
def user_add(
    config_path: Path | None,
    username: str,
    name: str,
    role: str,
    site: str | None,
    partner: str | None,
    language: str,
    password_stdin: bool,
) -> None:
    """Create a user; the password is asked twice (only its scrypt hash is stored).

    Example: masar hub user add --username amina --name "Amina B." --role registrar --site rabat-1
    """
    from sqlalchemy.orm import Session

    from hub import users
    from hub.db import open_engine, upgrade

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    config = _load(config_path)
    engine = open_engine(config.database_url)
    trail = _cli_trail(config)
    try:
        upgrade(engine)
        with Session(engine) as session, session.begin():
            created = users.create_user(
                session,
                trail,
                username=username,
                name=name,
                role=role,
                password=password,
                site=site,
                partner=partner,
                language=language,
            )
            click.echo(f"user {created.username} ({created.role}) created")
    except users.UserError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()


@hub_group.command("seed")
@config_option
@click.option(
    "--detainees",
    type=click.IntRange(min=0),
    default=200,
    show_default=True,
    help="how many synthetic people to add",
)
@click.option(
    "--seed",
    "random_seed",
    type=int,
    default=7,
    show_default=True,
    help="the same seed draws the same names, profiles and events",
)
def seed_command(config_path: Path | None, detainees: int, random_seed: int) -> None:
    """Fill a demo or benchmark hub with synthetic people, never real ones: names in Arabic
    and Latin script, profiles, programmes, enrolments, movements and questionnaire
    responses. Running it again adds more people.

    Example: masar hub seed --config hub.toml --detainees 200
    """
    from hub.audit import load_key
    from hub.db import open_engine, upgrade
    from hub.seed import seed

    config = _load(config_path)
    engine = open_engine(config.database_url)
    try:
        upgrade(engine)
        report = seed(
            engine,
            detainees=detainees,
            key=load_key(config.audit_key_file),
            random_seed=random_seed,
            progress=lambda step: click.echo(f"  {step}"),
        )
    finally:
        engine.dispose()
    click.echo(
        f"seeded {report.detainees} detainees ({report.released} released) in "
        f"{report.seconds:.1f} s: {report.profile_facts} profile facts, {report.programmes} "
        f"programmes, {report.enrolments} enrolments ({report.attendance} attendance marks), "
        f"{report.responses} questionnaire responses, {report.movements} movements, "
        f"{report.screenings} screenings, {report.kiosks} kiosks"
    )
    if report.first_prison_number:
        click.echo(f"prison numbers {report.first_prison_number} to {report.last_prison_number}")


@hub_group.group()
def retention() -> None:
    """Delete personal data that has outlived its purpose (hub.retention).

    Example: masar hub retention apply --config hub.toml --dry-run
    """


@retention.command("apply")
@config_option
@click.option("--dry-run", is_flag=True, help="count what would be deleted; change nothing")
def retention_apply(config_path: Path | None, dry_run: bool) -> None:
    """Delete released people's biometric templates once [retention]
    templates_after_release_days have passed, their questionnaire drafts, the bytes of dead
    letters older than dead_letter_days, ended web sessions and old login throttles; kiosks
    drop the people at their next sync. Prints the count per
    class and writes one audit entry. Run it daily (a timer or cron).

    Example: masar hub retention apply --config hub.toml --dry-run
    """
    from time import perf_counter

    from hub import retention as rules
    from hub.db import open_engine, session_factory, upgrade

    config = _load(config_path)
    trail = _cli_trail(config)
    engine = open_engine(config.database_url)
    started = perf_counter()
    try:
        upgrade(engine)
        with session_factory(engine).begin() as session:
            report = rules.apply(session, trail, config.retention, dry_run=dry_run)
    finally:
        engine.dispose()
    what = "would delete (dry run, nothing changed)" if dry_run else "deleted"
    click.echo(f"retention {what}, in {perf_counter() - started:.2f} s:")
    for line in rules.describe(report):
        click.echo(f"  {line}")


@hub_group.command("subject-access")
@config_option
@click.option("--detainee", "detainee_id", required=True, help="the person's Masar id")
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="the JSON file to write (mode 0600); an existing file is never overwritten",
)
def subject_access_command(config_path: Path | None, detainee_id: str, out_path: Path) -> None:
    """Write everything the hub holds on one person to a JSON file, for their right of
    access (law 09-08): identity, facts with provenance, questionnaire answers, health
    screenings and alerts, training, movements, plan, consents, kiosk events and the audit
    entries about them. Biometric templates are described, never copied. The export is
    audited (subject_access.export and health.read).

    Example: masar hub subject-access --config hub.toml --detainee mabc234 --out person.json
    """
    import json

    from hub import subject_access
    from hub.db import open_engine, session_factory, upgrade

    config = _load(config_path)
    trail = _cli_trail(config)
    try:
        descriptor = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise click.ClickException(f"{out_path} already exists; choose another name") from None
    except OSError as exc:
        raise click.ClickException(f"cannot write {out_path}: {exc.strerror}") from None
    engine = open_engine(config.database_url)
    try:
        upgrade(engine)
        with session_factory(engine).begin() as session:
            document = subject_access.export(session, trail, detainee_id)
    except BaseException as exc:
        os.close(descriptor)
        out_path.unlink(missing_ok=True)
        if isinstance(exc, LookupError):
            raise click.ClickException(str(exc)) from None
        raise
    finally:
        engine.dispose()
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(document, handle, ensure_ascii=False, indent=2)
        handle.write("\n")
    click.echo(
        f"wrote {out_path}: everything held on {detainee_id}; "
        f"audit entry {document['audit_entry_id']}"
    )
