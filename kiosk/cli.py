"""`masar kiosk …`: run the kiosk (agent + touchscreen UI) and inspect its outbox."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from types import FrameType

import click

from kiosk.config import ConfigError, KioskConfig, load_config

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

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = _load(config_path)
    agent = Agent(config)
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
