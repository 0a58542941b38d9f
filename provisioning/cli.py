"""`masar provision …`: the site CA, server and hub certificates, the broker's configuration,
and the bridge that joins a site's broker to the national broker."""

from __future__ import annotations

from pathlib import Path

import click

from provisioning.acl import render_acl
from provisioning.bridge import (
    BridgeTls,
    issue_bridge_certificate,
    render_bridge,
    render_bridge_acl,
)
from provisioning.ca import HUB_IDENTITY, CAError, SiteCA
from provisioning.mosquitto import BrokerTls, render_config

_CA_DIR = click.option(
    "--ca-dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="the site CA's folder (ca.key, ca.crt, crl.pem)",
)


def _load_ca(folder: Path) -> SiteCA:
    try:
        return SiteCA.load(folder)
    except CAError as error:
        raise click.ClickException(str(error)) from None


def _site_device(kiosk: str) -> tuple[str, str]:
    site, _, device = kiosk.partition("/")
    return site, device


@click.group(name="provision")
def provision_group() -> None:
    """Provision the fleet: the site CA, certificates, the broker's configuration.

    Example: masar provision ca init --site rabat-1 --dir /etc/masar/ca
    """


@provision_group.group("ca")
def ca_group() -> None:
    """The site's certificate authority, which signs every broker, hub and kiosk certificate.

    Example: masar provision ca init --site rabat-1 --dir /etc/masar/ca
    """


@ca_group.command("init")
@click.option("--site", required=True, help="the site id, as in topics (a-z, 0-9, _ and -)")
@click.option(
    "--dir",
    "folder",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="an empty folder for the CA; its ca.key must stay on the hub",
)
def ca_init(site: str, folder: Path) -> None:
    """Create the site CA and its first (empty) CRL; refuses to replace an existing one.

    Example: masar provision ca init --site rabat-1 --dir /etc/masar/ca
    """
    try:
        ca = SiteCA.create(folder, site)
    except CAError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"CA for site {site}: {ca.cert_path} (CRL {ca.crl_path})")


@provision_group.command("server-cert")
@_CA_DIR
@click.option(
    "--host",
    "hosts",
    multiple=True,
    required=True,
    help="a name or address clients connect to (repeat for several)",
)
@click.option("--name", default="broker", show_default=True, help="file name: NAME.crt, NAME.key")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="where to write the key and certificate  [default: CA_DIR/server]",
)
def server_cert(ca_dir: Path, hosts: tuple[str, ...], name: str, out: Path | None) -> None:
    """Issue a TLS server certificate (Mosquitto's, or the hub web's) signed by the site CA.

    The key is written for its owner only; for Mosquitto: chgrp mosquitto KEY; chmod 640 KEY.

    Example: masar provision server-cert --ca-dir /etc/masar/ca --host hub.local --host 10.0.0.2
    """
    ca = _load_ca(ca_dir)
    cert, key = ca.issue_server(out or ca_dir / "server", name, list(hosts))
    click.echo(f"certificate {cert}\nkey {key}")


@provision_group.command("hub-cert")
@_CA_DIR
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="where to write hub.crt and hub.key  [default: CA_DIR/hub]",
)
def hub_cert(ca_dir: Path, out: Path | None) -> None:
    """Issue the hub's client certificate: the broker identity with the hub's ACL rights.

    Example: masar provision hub-cert --ca-dir /etc/masar/ca --out /etc/masar/hub
    """
    ca = _load_ca(ca_dir)
    cert, key = ca.issue_hub(out or ca_dir / "hub")
    click.echo(
        f"# {HUB_IDENTITY}: put this in hub.toml\n[broker.tls]\n"
        f'cafile = "{ca.cert_path.resolve()}"\ncertfile = "{cert.resolve()}"\n'
        f'keyfile = "{key.resolve()}"'
    )


@provision_group.command("mosquitto-config")
@click.option(
    "--ca-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="the site CA's folder: gives a TLS listener with client certificates, CRL and ACLs",
)
@click.option(
    "--acl-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="where to write the ACL file the config names (required with --ca-dir)",
)
@click.option(
    "--withdrawn",
    multiple=True,
    metavar="SITE/DEVICE",
    help="a revoked kiosk, denied everything even on an open connection (repeat)",
)
@click.option(
    "--certfile",
    type=click.Path(dir_okay=False, path_type=Path),
    help="the broker's certificate  [default: CA_DIR/server/broker.crt]",
)
@click.option(
    "--keyfile",
    type=click.Path(dir_okay=False, path_type=Path),
    help="the broker's key  [default: CA_DIR/server/broker.key]",
)
@click.option(
    "--bridge-site",
    "bridge_sites",
    multiple=True,
    metavar="SITE",
    help="on the national broker: let SITE's bridge (masar:bridge:SITE) speak for SITE's "
    "kiosks (repeat)",
)
@click.option("--host", default=None, help="address to listen on  [default: 127.0.0.1]")
@click.option("--port", type=int, help="[default: 8883 with --ca-dir, 1883 without]")
@click.option(
    "--data-dir",
    default=Path("/var/lib/mosquitto"),
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="where Mosquitto keeps its persistence file",
)
def mosquitto_config(
    ca_dir: Path | None,
    acl_file: Path | None,
    withdrawn: tuple[str, ...],
    certfile: Path | None,
    keyfile: Path | None,
    bridge_sites: tuple[str, ...],
    host: str | None,
    port: int | None,
    data_dir: Path,
) -> None:
    """Print a mosquitto.conf; with --ca-dir, TLS with client certificates, CRL and ACLs.

    With --ca-dir the ACL file is written to --acl-file (each kiosk only its own topics, the
    hub identity its own rights) and the config names it. Without, a plain anonymous
    listener, for loopback only (demo, tests). After a revocation run it again with
    --withdrawn SITE/DEVICE and reload the broker (SIGHUP: systemctl reload mosquitto).
    On a national broker, --bridge-site SITE adds the rights of each site's bridge
    (see bridge-config).

    The config names every setting, so it replaces Debian's /etc/mosquitto/mosquitto.conf.
    Mosquitto runs as user mosquitto: it must be able to read the broker's key (chgrp
    mosquitto, chmod 640), the ACL file and the CRL.

    Example: masar provision mosquitto-config --ca-dir /etc/masar/ca --host 0.0.0.0
    --acl-file /etc/mosquitto/masar.acl > /etc/mosquitto/mosquitto.conf
    """
    data_dir = data_dir.resolve()
    if ca_dir is None:
        if acl_file or withdrawn or certfile or keyfile or bridge_sites:
            raise click.UsageError(
                "--acl-file, --withdrawn, --certfile, --keyfile and --bridge-site need --ca-dir"
            )
        try:
            config = render_config(port=port or 1883, data_dir=data_dir, host=host or "127.0.0.1")
        except ValueError as error:
            raise click.UsageError(f"{error} (give --ca-dir)") from None
        click.echo(config, nl=False)
        return
    if acl_file is None:
        raise click.UsageError("--ca-dir needs --acl-file: where to write the ACL file")
    ca = _load_ca(ca_dir)
    tls = BrokerTls(
        cafile=ca.cert_path.resolve(),
        certfile=(certfile or ca_dir / "server" / "broker.crt").resolve(),
        keyfile=(keyfile or ca_dir / "server" / "broker.key").resolve(),
        crlfile=ca.crl_path.resolve(),
    )
    for path in (tls.certfile, tls.keyfile):
        if not path.is_file():
            raise click.ClickException(
                f"no {path}: run `masar provision server-cert --ca-dir {ca_dir} --host …` first"
            )
    try:
        acl = render_acl(withdrawn=[_site_device(kiosk) for kiosk in withdrawn])
        acl += render_bridge_acl(bridge_sites)
    except (CAError, ValueError) as error:
        raise click.UsageError(str(error)) from None
    acl_file = acl_file.resolve()
    acl_file.write_text(acl)
    click.echo(f"wrote {acl_file}", err=True)
    click.echo(
        render_config(
            port=port or 8883,
            data_dir=data_dir,
            host=host or "127.0.0.1",
            tls=tls,
            acl_file=acl_file,
        ),
        nl=False,
    )


@provision_group.command("bridge-config")
@click.option("--site", required=True, help="this site's id, as in topics")
@click.option(
    "--address",
    "addresses",
    multiple=True,
    required=True,
    metavar="HOST:PORT",
    help="the national broker; repeat for a standby, tried in order",
)
@click.option(
    "--ca-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="the CA the national broker trusts: issue this site's bridge certificate from it "
    "(run where that CA lives, then copy --out to the site broker at the same path)",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="where --ca-dir writes bridge.crt and bridge.key  [default: CA_DIR/bridge/SITE]",
)
@click.option(
    "--cafile",
    type=click.Path(dir_okay=False, path_type=Path),
    help="instead of --ca-dir: the CA certificate that signed the national broker's",
)
@click.option(
    "--certfile",
    type=click.Path(dir_okay=False, path_type=Path),
    help="instead of --ca-dir: the bridge's certificate (CN masar:bridge:SITE)",
)
@click.option(
    "--keyfile",
    type=click.Path(dir_okay=False, path_type=Path),
    help="instead of --ca-dir: the bridge's key",
)
def bridge_config(
    site: str,
    addresses: tuple[str, ...],
    ca_dir: Path | None,
    out: Path | None,
    cafile: Path | None,
    certfile: Path | None,
    keyfile: Path | None,
) -> None:
    """Print the bridge section of a site broker's mosquitto.conf: the site's kiosk-to-hub
    topics go out to the national broker, its hub-to-kiosk topics come back (MQTT v5, QoS 1,
    TLS with the site's bridge certificate).

    Append it to the site's config (after mosquitto-config's listener) and restart Mosquitto:
    bridges are not reloaded on SIGHUP. The national broker must know the bridge:
    mosquitto-config --bridge-site SITE there. Without any TLS option the bridge is plain,
    for a loopback address only (tests).

    Example: masar provision bridge-config --site rabat-1 --address national.masar.example:8883
    --ca-dir /etc/masar/ca >> /etc/mosquitto/mosquitto.conf
    """
    files = (cafile, certfile, keyfile)
    if ca_dir is not None and any(files):
        raise click.UsageError("give either --ca-dir or --cafile, --certfile and --keyfile")
    if ca_dir is None and any(files) and not all(files):
        raise click.UsageError("--cafile, --certfile and --keyfile go together")
    if out is not None and ca_dir is None:
        raise click.UsageError("--out needs --ca-dir")
    tls: BridgeTls | None = None
    try:
        if ca_dir is not None:
            ca = _load_ca(ca_dir)
            cert, key = issue_bridge_certificate(ca, out or ca_dir / "bridge" / site, site)
            click.echo(f"wrote {cert} and {key}", err=True)
            tls = BridgeTls(ca.cert_path.resolve(), cert.resolve(), key.resolve())
        elif cafile is not None and certfile is not None and keyfile is not None:
            tls = BridgeTls(cafile.resolve(), certfile.resolve(), keyfile.resolve())
        click.echo(render_bridge(site=site, addresses=addresses, tls=tls), nl=False)
    except (CAError, ValueError) as error:
        raise click.UsageError(str(error)) from None
