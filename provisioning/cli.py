"""`masar provision …`: broker configuration (device enrolment comes with the fleet issue)."""

from __future__ import annotations

from pathlib import Path

import click

from provisioning.mosquitto import render_config


@click.group(name="provision")
def provision_group() -> None:
    """Provision the fleet: broker configuration, device identities.

    Example: masar provision mosquitto-config --port 1883
    """


@provision_group.command("mosquitto-config")
@click.option("--port", default=1883, show_default=True, type=int)
@click.option(
    "--data-dir",
    default=Path("/var/lib/mosquitto"),
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="where Mosquitto keeps its persistence file",
)
def mosquitto_config(port: int, data_dir: Path) -> None:
    """Print a mosquitto.conf for a loopback broker (TLS and ACLs: see the fleet issue).

    Example: masar provision mosquitto-config --port 1883 > masar-mosquitto.conf
    then: mosquitto -c masar-mosquitto.conf
    """
    click.echo(render_config(port=port, data_dir=data_dir), nl=False)
