"""The `masar` command: mounts the kiosk, hub and provision groups, and the demo."""

from __future__ import annotations

import sys

import click

from hub.cli import hub_group
from kiosk.cli import kiosk_group
from provisioning.cli import provision_group


@click.group()
@click.version_option(package_name="masar")
def cli() -> None:
    """Masar: reintegration data for prisons — wing kiosks, a hub, and MQTT between them.

    Example: masar demo
    """


@cli.command()
@click.option("--hub-port", default=8000, show_default=True, type=int)
@click.option("--kiosk-port", default=8080, show_default=True, type=int)
def demo(hub_port: int, kiosk_port: int) -> None:
    """Start a broker, the hub (web + one ingest worker) and one kiosk on this machine.

    Everything runs on loopback from a temporary folder; Ctrl-C stops it all.

    Example: masar demo --hub-port 8000 --kiosk-port 8080
    """
    from masar.demo import DemoError, run_demo

    try:
        run_demo(hub_port=hub_port, kiosk_port=kiosk_port)
    except DemoError as exc:
        raise click.ClickException(str(exc)) from None


cli.add_command(kiosk_group)
cli.add_command(hub_group)
cli.add_command(provision_group)


def main() -> None:
    try:
        cli()
    except ModuleNotFoundError as exc:
        # A kiosk is installed without the hub's packages and the other way round.
        click.echo(
            f"Error: the Python package {exc.name!r} is not installed here. A kiosk needs "
            "pip install 'masar[kiosk]', a hub pip install 'masar[hub]'.",
            err=True,
        )
        sys.exit(1)
