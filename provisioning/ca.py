"""The site's certificate authority: who may speak on the broker, and who no longer may.

EC P-256 throughout. The CA signs server certificates (Mosquitto, the hub) and device
certificates from CSRs; a device's key is generated on the device and never leaves it.
The CA decides the certificate's common name, whatever the CSR asked for: a kiosk's is its
place in the topic tree, ``<site>/kiosk/<device>`` (``device_identity``), which Mosquitto
takes as the username and the ACL file's ``masar/v1/%u/…`` patterns expand, so one ACL
file serves every kiosk of every site. The hub's is ``HUB_IDENTITY``, which no kiosk can
be issued. Revoked serials are kept in ``revoked.json`` and published as a CRL for
Mosquitto's ``crlfile`` (re-read on SIGHUP: ``LocalBroker.reload()``,
``systemctl reload mosquitto``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from protocol import topics
from protocol.errors import ProtocolError
from protocol.ids import is_identifier


class CAError(ValueError):
    """A certificate request was refused; the message says why."""


# The hub's broker username: no device id or kiosk identity can hold a ":".
HUB_IDENTITY = "masar:hub"

# Certificates are valid from this long before they are made: a kiosk whose clock runs
# behind (a Pi has no battery-backed clock; network time may come late) must still accept a
# broker or hub certificate made today. The fault suite runs a kiosk a day behind.
CLOCK_SLACK = dt.timedelta(days=3)


def device_identity(site: str, device: str) -> str:
    """A kiosk's certificate common name: its topics' level under the prefix, as
    protocol.topics builds it (``rabat-1/kiosk/wing-a-1``)."""
    try:
        status = topics.status_topic(site, device)  # checks both ids
    except ProtocolError as error:
        raise CAError(str(error)) from None
    return status.removeprefix(f"{topics.PREFIX}/").removesuffix("/status")


def _check_common_name(name: str) -> str:
    """A device id (a bare client name, no ACL rights) or a kiosk identity."""
    if is_identifier(name):
        return name
    try:
        parts = topics.parse_topic(f"{topics.PREFIX}/{name}/status")
    except ProtocolError:
        parts = None
    if parts is None or device_identity(parts.site, parts.device) != name:
        raise CAError(f"{name!r} is neither a device id nor a kiosk identity (site/kiosk/device)")
    return name


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_private(path: Path, data: bytes) -> None:
    """Write a secret readable by its owner only, from the first byte on."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def _write_pair(folder: Path, name: str, key_pem: bytes, cert_pem: bytes) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    _write_private(folder / f"{name}.key", key_pem)
    (folder / f"{name}.crt").write_bytes(cert_pem)
    return folder / f"{name}.crt", folder / f"{name}.key"


def new_device_key(device: str) -> tuple[bytes, bytes]:
    """On the device: a new private key (PEM) and a CSR (PEM) naming the device."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(_name(device))
        .sign(key, hashes.SHA256())
    )
    return _key_pem(key), csr.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class IssuedCertificate:
    serial: int
    pem: bytes


class SiteCA:
    """A CA kept in a folder: ca.key (0600), ca.crt, revoked.json, crl.pem."""

    def __init__(self, folder: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate):
        self.folder = folder
        self.key = key
        self.cert = cert

    @classmethod
    def create(cls, folder: Path, site: str, *, years: int = 10) -> SiteCA:
        if (folder / "ca.key").exists():
            raise CAError(f"a CA already exists in {folder}; refusing to replace it")
        if not is_identifier(site):
            raise CAError(f"site {site!r} is not valid (use a-z, 0-9, _ and -)")
        folder.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        subject = _name(f"Masar site CA {site}")
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - CLOCK_SLACK)
            .not_valid_after(_now() + dt.timedelta(days=365 * years))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        _write_private(folder / "ca.key", _key_pem(key))
        (folder / "ca.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        ca = cls(folder, key, cert)
        ca.write_crl()
        return ca

    @classmethod
    def load(cls, folder: Path) -> SiteCA:
        try:
            key = serialization.load_pem_private_key((folder / "ca.key").read_bytes(), None)
            cert = x509.load_pem_x509_certificate((folder / "ca.crt").read_bytes())
        except FileNotFoundError:
            raise CAError(f"no CA in {folder}: create one first") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise CAError(f"{folder / 'ca.key'} is not an EC key")
        return cls(folder, key, cert)

    @property
    def cert_path(self) -> Path:
        return self.folder / "ca.crt"

    @property
    def crl_path(self) -> Path:
        return self.folder / "crl.pem"

    def _issue(
        self,
        common_name: str,
        public_key: ec.EllipticCurvePublicKey,
        usage: x509.ObjectIdentifier,
        days: int,
        alt_names: list[x509.GeneralName] | None = None,
    ) -> IssuedCertificate:
        serial = x509.random_serial_number()
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(serial)
            .not_valid_before(_now() - CLOCK_SLACK)
            .not_valid_after(_now() + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if alt_names:
            builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        return IssuedCertificate(serial, cert.public_bytes(serialization.Encoding.PEM))

    def issue_server(
        self, folder: Path, name: str, hosts: list[str], *, days: int = 825
    ) -> tuple[Path, Path]:
        """A key and certificate for a server (Mosquitto, the hub web), written to ``folder``."""
        key = ec.generate_private_key(ec.SECP256R1())
        alt_names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                alt_names.append(x509.DNSName(host))
        issued = self._issue(
            name, key.public_key(), ExtendedKeyUsageOID.SERVER_AUTH, days, alt_names
        )
        return _write_pair(folder, name, _key_pem(key), issued.pem)

    def sign_device(self, csr_pem: bytes, device: str, *, days: int = 825) -> IssuedCertificate:
        """Sign a device's CSR. The common name is what the hub assigned: for a kiosk its
        ``device_identity(site, device)``; a bare device id (tests, tools) gets no ACL rights."""
        common_name = _check_common_name(device)
        try:
            csr = x509.load_pem_x509_csr(csr_pem)
        except ValueError:
            raise CAError("the certificate request is not a PEM CSR") from None
        if not csr.is_signature_valid:
            raise CAError("the certificate request's signature does not match its key")
        public_key = csr.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise CAError("the certificate request must use an EC P-256 key")
        return self._issue(common_name, public_key, ExtendedKeyUsageOID.CLIENT_AUTH, days)

    def issue_client(self, folder: Path, name: str, *, days: int = 825) -> tuple[Path, Path]:
        """A key and client certificate made here, named like a device (tests, tools)."""
        key_pem, csr_pem = new_device_key(name)
        issued = self.sign_device(csr_pem, name, days=days)
        return _write_pair(folder, name, key_pem, issued.pem)

    def issue_hub(self, folder: Path, *, days: int = 825) -> tuple[Path, Path]:
        """The hub's client certificate (``hub.crt``, ``hub.key``), named ``HUB_IDENTITY``."""
        key = ec.generate_private_key(ec.SECP256R1())
        issued = self._issue(HUB_IDENTITY, key.public_key(), ExtendedKeyUsageOID.CLIENT_AUTH, days)
        return _write_pair(folder, "hub", _key_pem(key), issued.pem)

    def revoked(self) -> dict[int, str]:
        path = self.folder / "revoked.json"
        if not path.exists():
            return {}
        return {int(serial): when for serial, when in json.loads(path.read_text()).items()}

    def revoke(self, serial: int) -> None:
        """Add a certificate to the CRL (Mosquitto must then reload its crlfile)."""
        revoked = self.revoked()
        revoked.setdefault(serial, _now().isoformat())
        (self.folder / "revoked.json").write_text(
            json.dumps({str(k): v for k, v in revoked.items()}, indent=2)
        )
        self.write_crl()

    def write_crl(self) -> Path:
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.cert.subject)
            .last_update(_now() - dt.timedelta(minutes=5))
            .next_update(_now() + dt.timedelta(days=30))
        )
        for serial, when in self.revoked().items():
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(dt.datetime.fromisoformat(when))
                .build()
            )
        crl = builder.sign(self.key, hashes.SHA256())
        self.crl_path.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
        return self.crl_path
