"""`masar kiosk …`: run the kiosk (agent + touchscreen UI) and inspect its outbox."""

from __future__ import annotations

import json
import logging
import os
import signal
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from kiosk.config import ConfigError, KioskConfig, load_config

if TYPE_CHECKING:
    from kiosk.recognition.evaluation import FaceSet

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="kiosk TOML file (default: $MASAR_CONFIG)",
)


def _load(config_path: Path | None) -> KioskConfig:
    try:
        return load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@click.group(name="kiosk")
def kiosk_group() -> None:
    """A wing kiosk: touchscreen UI, sensors, local caches and the durable outbox.

    Example: masar kiosk run --config /etc/masar/kiosk.toml
    """


@kiosk_group.command()
@config_option
def run(config_path: Path | None) -> None:
    """Run the kiosk agent and serve its UI with waitress.

    Example: masar kiosk run --config /etc/masar/kiosk.toml
    """
    from waitress import create_server

    from kiosk.agent import Agent
    from kiosk.app import create_app
    from kiosk.sensors import SensorError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = _load(config_path)
    try:
        agent = Agent(config)
    except SensorError as error:
        raise click.ClickException(str(error)) from None
    server = create_server(create_app(config, agent), host=config.ui.host, port=config.ui.port)

    def _stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _stop)
    agent.start()
    click.echo(f"kiosk {config.device} UI on http://{config.ui.host}:{config.ui.port}/")
    try:
        server.run()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.close()
        agent.stop()


@kiosk_group.command()
@config_option
def outbox(config_path: Path | None) -> None:
    """Show how many events wait for the hub, and how many it refused.

    Example: masar kiosk outbox --config /etc/masar/kiosk.toml
    """
    from kiosk import outbox as queue
    from kiosk.store import open_store

    config = _load(config_path)
    if not config.store_path.exists():
        raise click.ClickException(
            f"no kiosk store at {config.store_path} yet: `masar kiosk run` creates it"
        )
    db = open_store(config.store_path)
    try:
        click.echo(f"waiting for the hub: {queue.depth(db)}")
        click.echo(f"refused by the hub: {queue.rejected_count(db)}")
    finally:
        db.close()


@kiosk_group.command()
@click.option("--hub", "hub_url", required=True, help="the hub's HTTPS address (from its admin)")
@click.option("--token", required=True, help="the one-time token (masar hub device enrol)")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="the kiosk's data folder (default: the configuration's, else /var/lib/masar)",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="the kiosk configuration to write (default: $MASAR_CONFIG, else /etc/masar/kiosk.toml)",
)
@click.option("--force", is_flag=True, help="enrol again a kiosk that is already enrolled")
@click.option(
    "--credstore",
    type=click.Path(file_okay=False, path_type=Path),
    help="systemd's credential store (/etc/masar/credstore on a Pi set up by "
    "provisioning/pi): the device key and the cache key go there, for the kiosk service",
)
def provision(
    hub_url: str,
    token: str,
    data_dir: Path | None,
    config_path: Path | None,
    force: bool,
    credstore: Path | None,
) -> None:
    """Enrol this kiosk with the hub: check the hub's CA against the token, make the key
    here, send a certificate request with the token over HTTPS, and write the certificate,
    the CA and the kiosk configuration (broker, site, device, wing, mode).

    Example: masar kiosk provision --hub https://hub.rabat-1.local:8443 --token TOKEN
    --credstore /etc/masar/credstore
    """
    from kiosk.provision import ProvisionError
    from kiosk.provision import provision as enrol

    config_path = config_path or Path(os.environ.get("MASAR_CONFIG") or "/etc/masar/kiosk.toml")
    try:
        done = enrol(
            hub_url,
            token,
            config_path=config_path,
            data_dir=data_dir,
            force=force,
            credstore=credstore,
        )
    except ProvisionError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"kiosk {done.site}/{done.device} (wing {done.wing}, {done.mode}) is enrolled.")
    click.echo(f"  key made on this kiosk, never sent:  {done.keyfile} (0600)")
    click.echo(
        f"  its certificate:  {done.certfile} (serial {done.serial:x}, "
        f"valid until {done.not_after:%Y-%m-%d})"
    )
    click.echo(f"  the site CA:      {done.cafile} (pin {done.pin})")
    click.echo(f"  configuration:    {done.config_path} (broker {done.broker} over TLS)")
    if credstore is not None:
        click.echo("next: sudo reboot (the kiosk service starts at boot, its browser with the")
        click.echo("  desktop session; see provisioning/pi/README.md)")
    else:
        click.echo(f"next: masar kiosk run --config {done.config_path}")
        click.echo("  (on a Pi set up by provisioning/pi, enrol with --credstore instead)")


models_option = click.option(
    "--models",
    "models_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="folder holding the model files (default: <data_dir>/models of the kiosk config)",
)
detector_option = click.option(
    "--detector",
    help="face detector: faceplugin (fr_detect + fr_landmark, the default) or yunet",
)
data_option = click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="folder of faces laid out as DIR/<person>/<image>",
)


def _models_dir(models_dir: Path | None, config_path: Path | None) -> Path:
    if models_dir is not None:
        return models_dir
    if config_path is None and not os.environ.get("MASAR_CONFIG"):
        raise click.ClickException(
            "pass --models DIR (the folder holding the model files) or --config FILE"
        )
    return _load(config_path).data_dir / "models"


def _face_set(data_dir: Path, models_dir: Path, detector: str | None) -> FaceSet:
    """Every picture of ``data_dir`` through the kiosk's face pipeline; errors as plain words."""
    from kiosk.recognition.detect import UnknownDetectorError
    from kiosk.recognition.evaluation import FaceDataError, check_measurable, embed_folder
    from kiosk.recognition.face import DEFAULT_DETECTOR, FacePipeline
    from kiosk.recognition.models import ModelHashMismatchError, ModelMissingError

    try:
        pipeline = FacePipeline.open(models_dir, detector=detector or DEFAULT_DETECTOR)
    except (ModelMissingError, ModelHashMismatchError, UnknownDetectorError) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        faces = embed_folder(pipeline, data_dir, lambda text: click.echo(text, err=True))
        check_measurable(faces, data_dir)
    except FaceDataError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        pipeline.close()
    return faces


@kiosk_group.command()
@config_option
def selftest(config_path: Path | None) -> None:
    """Check this kiosk's parts on its own hardware: the camera keeps its contract, every
    model file is the pinned one, and the calibrations match the models in use.

    Prints one line per check and exits with 1 if any fails. Run it after installing a kiosk
    and after changing its camera.

    Example: masar kiosk selftest --config /etc/masar/kiosk.toml
    """
    from kiosk import model_files
    from kiosk.recognition.calibration import CalibrationError, load_calibrations
    from kiosk.recognition.face import engine_id
    from kiosk.recognition.finger import ENGINE_SHA256
    from kiosk.sensors import SensorError
    from kiosk.sensors.contract import check_camera
    from kiosk.sensors.registry import open_camera
    from protocol.models import CATALOGUE, short_hash

    config = _load(config_path)
    failures = 0

    def report(what: str, problems: list[str]) -> None:
        nonlocal failures
        failures += bool(problems)
        click.echo(f"{'FAIL' if problems else 'ok  '}  {what}")
        for problem in problems:
            click.echo(f"      {problem}")

    if config.camera is None:
        click.echo("--    camera: none configured")
    else:
        try:
            camera = open_camera(config.camera)
            try:
                report(f"camera ({config.camera.driver})", check_camera(camera))
            finally:
                camera.close()
        except SensorError as error:
            report(f"camera ({config.camera.driver})", [str(error)])
    present = model_files.present_models(model_files.models_dir(config.data_dir), fresh=True)
    for name, spec in sorted(CATALOGUE.items()):
        if name not in present:
            click.echo(f"--    model {name}: not on this kiosk (the hub sends it at sync)")
        elif present[name] != spec.sha256:
            report(
                f"model {name}",
                [f"SHA-256 {short_hash(present[name])}, expected {short_hash(spec.sha256)}"],
            )
        else:
            report(f"model {name}", [])
    try:
        calibrations = load_calibrations(config.data_dir)
    except CalibrationError as error:
        report("calibrations", [str(error)])
        calibrations = {}
    engines = {"face": engine_id(), "fingerprint": ENGINE_SHA256}
    for modality, calibration in calibrations.items():
        stale = calibration.model_sha256 != engines[modality]
        report(f"{modality} calibration", ["measured with other models: calibrate again"] * stale)
    if failures:
        raise SystemExit(1)


@kiosk_group.command("eval-faces")
@data_option
@models_option
@config_option
@detector_option
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def eval_faces(
    data_dir: Path,
    models_dir: Path | None,
    config_path: Path | None,
    detector: str | None,
    as_json: bool,
) -> None:
    """Measure face recognition on a folder of faces: every genuine and impostor pair.

    Rates are fractions (0.0018 = 0.18 %); unreadable files count as failures to enrol.

    Example: masar kiosk eval-faces --data ../shared/data/faces-dev --models ../shared/models --json
    """
    from kiosk.recognition.evaluation import evaluate

    figures = evaluate(_face_set(data_dir, _models_dir(models_dir, config_path), detector))
    _print_figures(figures, as_json)


@kiosk_group.command()
@data_option
@config_option
@models_option
@detector_option
@click.option(
    "--modality",
    type=click.Choice(["face", "fingerprint"]),
    default="face",
    show_default=True,
    help="faces (DIR/<person>/<image>) or fingerprints (DIR/<finger>/<impression>)",
)
def calibrate(
    data_dir: Path,
    config_path: Path | None,
    models_dir: Path | None,
    detector: str | None,
    modality: str,
) -> None:
    """Measure score thresholds for false-match rates 1e-2, 1e-3 and 1e-4 on a folder of
    faces (or, with --modality fingerprint, fingerprints) and keep them in the kiosk's data
    directory, where the identification policy reads them.

    Example: masar kiosk calibrate --data /srv/faces-calibration --config /etc/masar/kiosk.toml
    """
    from kiosk.recognition.calibration import (
        FMR_TARGETS,
        Calibration,
        all_pair_scores,
        calibration_path,
        fnmr_at_threshold,
        save_calibration,
    )
    from protocol.ids import utc_now

    config = _load(config_path)
    if modality == "fingerprint":
        from kiosk.recognition.finger_eval import FingerDataError, finger_scores

        try:
            fingers = finger_scores(data_dir)
        except FingerDataError as exc:
            raise click.ClickException(str(exc)) from None
        scores, people, samples = fingers.scores, fingers.fingers, fingers.impressions
        failures, engine = fingers.failures_to_enrol, _finger_engine_sha256()
    else:
        from kiosk.recognition.face import DEFAULT_DETECTOR, engine_id

        faces = _face_set(data_dir, models_dir or config.data_dir / "models", detector)
        scores = all_pair_scores(faces.templates, faces.labels)
        people, samples, failures = faces.identities, len(faces.labels), faces.failures_to_enrol
        engine = engine_id(detector or DEFAULT_DETECTOR)
    calibration = Calibration.from_scores(
        scores,
        modality="fingerprint" if modality == "fingerprint" else "face",
        identities=people,
        samples=samples,
        data=str(data_dir.resolve()),
        model_sha256=engine,
        measured_at=utc_now(),
    )
    path = calibration_path(config.data_dir, calibration.modality)
    save_calibration(path, calibration)
    click.echo(
        f"{people} {'fingers' if modality == 'fingerprint' else 'people'}, "
        f"{samples} pictures used, {failures} failed to enrol; "
        f"{calibration.genuine_pairs:,} genuine and {calibration.impostor_pairs:,} impostor "
        f"pairs; EER {calibration.eer:.2%}"
    )
    too_few = calibration.limited_by_sample()
    for key in FMR_TARGETS:
        threshold = calibration.thresholds[key]
        note = " (too few impostor pairs to measure this rate)" if key in too_few else ""
        click.echo(
            f"  false-match rate {key}: threshold {threshold:.4f}, "
            f"false non-match rate {fnmr_at_threshold(scores.genuine, threshold):.2%}{note}"
        )
    click.echo(f"written to {path}")


@kiosk_group.command("eval-fingers")
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="folder of fingerprints laid out as DIR/<finger>/<impression image>",
)
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def eval_fingers(data_dir: Path, as_json: bool) -> None:
    """Measure fingerprint matching on a folder: every genuine pair, and every impostor pair
    between fingers of the same sensor (the folder name before its last `_`).

    Rates are fractions (0.039 = 3.9 %); an image that gives no template scores 0.

    Example: masar kiosk eval-fingers --data ../shared/data/fingers-dev --json
    """
    from kiosk.recognition.finger_eval import FingerDataError, evaluate_fingers

    try:
        figures = evaluate_fingers(data_dir)
    except FingerDataError as exc:
        raise click.ClickException(str(exc)) from None
    _print_figures(figures, as_json)


def _print_figures(figures: dict[str, float | int], as_json: bool) -> None:
    """One JSON object, or one figure per line for a person to read."""
    if as_json:
        click.echo(json.dumps(figures))
        return
    for name, value in figures.items():
        if isinstance(value, int):
            shown = f"{value:,}"
        elif name.startswith("ms_"):
            shown = f"{value:.1f} ms"
        else:
            shown = f"{value:.2%}"
        click.echo(f"{name:27} {shown}")


def _finger_engine_sha256() -> str:
    from kiosk.recognition.finger import ENGINE_SHA256

    return ENGINE_SHA256
