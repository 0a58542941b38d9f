"""`masar kiosk provision`: a new kiosk gets its identity from the hub with a one-time token.

The token is ``<secret>.<pin>`` (hub.devices). The kiosk first fetches the hub's CA without
checking anything and compares its pin with the token's: only a hub holding the CA the token
was made for ever sees the secret. It then makes its key here (it never leaves the kiosk),
sends the token and a certificate request over HTTPS checked against that CA, and writes
what the hub answers. Everything is written to temporary files and renamed at the end, the
configuration last: a refusal or a failure leaves the kiosk as it was.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import ssl
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel, Field, ValidationError

from kiosk import withdrawn
from kiosk.store import FIRST_SEQ_FILE
from kiosk.untrusted import untrusted_words
from provisioning.ca import new_device_key

DEFAULT_DATA_DIR = Path("/var/lib/masar")  # systemd/README.md
# Where masar-kiosk.service finds the secrets LoadCredential= gives it.
SERVICE_CREDENTIALS = Path("/run/credentials/masar-kiosk.service")
CA_PATH = "/api/v1/provision/ca"
PROVISION_PATH = "/api/v1/provision"
TIMEOUT = 30.0
MAX_ANSWER = 256 * 1024


class ProvisionError(RuntimeError):
    """Enrolment refused or impossible; the message says why in plain words."""


class _Broker(BaseModel):
    host: str
    port: int


class _Answer(BaseModel):
    """The hub's answer to POST /api/v1/provision (hub.api.schemas.ProvisionOut)."""

    site: str
    device: str
    wing: str
    mode: str
    certificate: str
    ca: str
    broker: _Broker
    next_seq: int = Field(default=1, ge=1)  # a hub from before it was sent: from 1


@dataclass(frozen=True)
class Enrolment:
    site: str
    device: str
    wing: str
    mode: str
    broker: str  # host:port
    config_path: Path
    keyfile: Path
    certfile: Path
    cafile: Path
    serial: int
    not_after: datetime
    pin: str


def ca_pin(ca_pem: bytes) -> str:
    """The first 128 bits of the SHA-256 of the CA certificate's DER (as hub.devices)."""
    certificate = x509.load_pem_x509_certificate(ca_pem)
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()[:32]


def split_token(token: str) -> tuple[str, str]:
    """The secret and the CA pin of a token ``<secret>.<pin>``."""
    secret, _, pin = token.strip().rpartition(".")
    pin = pin.lower()
    if not secret or len(pin) != 32 or any(c not in "0123456789abcdef" for c in pin):
        raise ProvisionError(
            "this is not an enrolment token: it looks like <secret>.<32 hex digits>, as "
            "`masar hub device enrol` prints it; check it was copied whole"
        )
    return secret, pin


def enrolled(config_path: Path) -> bool:
    """Does this configuration already give the kiosk a certificate that is there? (A
    configuration without one, e.g. written by a set-up script, is completed, not refused.)"""
    broker = _read_config(config_path).get("broker")
    tls = broker.get("tls") if isinstance(broker, dict) else None
    certfile = tls.get("certfile") if isinstance(tls, dict) else None
    return isinstance(certfile, str) and Path(certfile).exists()


def provision(
    hub_url: str,
    token: str,
    *,
    config_path: Path,
    data_dir: Path | None = None,
    force: bool = False,
    credstore: Path | None = None,
) -> Enrolment:
    """Enrol this kiosk with the hub at ``hub_url`` (module doc); raises ProvisionError.
    ``data_dir`` defaults to the one in the configuration, else DEFAULT_DATA_DIR. With a
    ``credstore`` (systemd's credential store, /etc/masar/credstore on a Pi), the device
    key and the template cache key go there and the configuration names them where the
    kiosk service sees them (``LoadCredential=``, systemd/README.md)."""
    base = _hub_base(hub_url)
    _, pin = split_token(token)
    if not force and enrolled(config_path):
        raise ProvisionError(
            f"this kiosk is already enrolled ({config_path}); to enrol it again, with a new "
            "token, run the command with --force (its old certificate stops working)"
        )
    # Everything that can fail here does so before the token is spent.
    existing = _read_config(config_path)
    data_dir = (data_dir or Path(existing.get("data_dir") or DEFAULT_DATA_DIR)).resolve()
    tls_dir = data_dir / "tls"
    secrets_dir = credstore.resolve() if credstore is not None else tls_dir
    _check_writable([data_dir, tls_dir, secrets_dir, config_path.parent])
    ca_pem = _fetch_ca(base)
    if not hmac.compare_digest(ca_pin(ca_pem), pin):
        raise ProvisionError(
            f"the hub at {base} does not hold the CA this token was made for: check the "
            "address, or ask the hub admin for a new token (the token was not sent)"
        )
    key_pem, csr_pem = new_device_key("new-kiosk")  # the CA names the device
    answer = _redeem(base, ca_pem, token.strip(), csr_pem)
    certificate = _check_certificate(answer, ca_pem, key_pem)
    files = {
        secrets_dir / "device.key": key_pem,
        tls_dir / "device.crt": answer.certificate.encode(),
        tls_dir / "ca.crt": ca_pem,
        data_dir / FIRST_SEQ_FILE: f"{answer.next_seq}\n".encode(),  # read by kiosk.store
    }
    named = {"keyfile": secrets_dir / "device.key"}
    if credstore is not None:
        if not (secrets_dir / "cache.key").exists():  # kept on re-enrolment: caches stay readable
            files[secrets_dir / "cache.key"] = AESGCM.generate_key(bit_length=256)
        named = {name: SERVICE_CREDENTIALS / name for name in ("device.key", "cache.key")}
        named["keyfile"] = named["device.key"]
    files[config_path] = _config_text(
        config_path, existing, answer, data_dir, tls_dir, named
    ).encode()
    _write_all(files, data_dir)
    withdrawn.clear(data_dir)  # a new certificate: whatever withdrew the old one is past
    return Enrolment(
        site=answer.site,
        device=answer.device,
        wing=answer.wing,
        mode=answer.mode,
        broker=f"{answer.broker.host}:{answer.broker.port}",
        config_path=config_path,
        keyfile=secrets_dir / "device.key",
        certfile=tls_dir / "device.crt",
        cafile=tls_dir / "ca.crt",
        serial=certificate.serial_number,
        not_after=certificate.not_valid_after_utc,
        pin=pin,
    )


def _read_config(config_path: Path) -> dict[str, Any]:
    """What the configuration holds already (a set-up script may have written the camera)."""
    if not config_path.exists():
        return {}
    try:
        text = config_path.read_text()
        data = json.loads(text) if config_path.suffix == ".json" else tomllib.loads(text)
    except (OSError, ValueError) as error:
        raise ProvisionError(
            f"cannot read the kiosk configuration {config_path} to update it: {error}"
        ) from None
    if not isinstance(data, dict):
        raise ProvisionError(f"{config_path} does not hold a kiosk configuration")
    return data


def _check_writable(folders: list[Path]) -> None:
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ProvisionError(f"cannot create {folder}: {error.strerror}") from None
        if not os.access(folder, os.W_OK):
            raise ProvisionError(f"cannot write in {folder}: run the command as root")


def _hub_base(hub_url: str) -> str:
    parts = urlsplit(hub_url.strip())
    if parts.scheme != "https" or not parts.hostname:
        raise ProvisionError(
            f"the hub address must be https://HOST[:PORT] (got {hub_url!r}): the token is "
            "only ever sent over HTTPS"
        )
    return f"https://{parts.netloc}{parts.path.rstrip('/')}"


def _fetch_ca(base: str) -> bytes:
    """The hub's CA certificate, fetched without checking the server: the pin checks it."""
    unchecked = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    unchecked.check_hostname = False
    unchecked.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(base + CA_PATH, timeout=TIMEOUT, context=unchecked) as got:  # nosec B310  # _hub_base accepts only an https:// address
            body: bytes = got.read(MAX_ANSWER)
    except urllib.error.HTTPError as error:
        raise ProvisionError(
            f"the hub at {base} gave no CA certificate: {_hub_words(error)}"
        ) from None
    except (urllib.error.URLError, OSError) as error:
        raise ProvisionError(f"cannot reach the hub at {base}: {_reason(error)}") from None
    try:
        ca_pin(body)
    except ValueError:
        raise ProvisionError(f"{base}{CA_PATH} did not answer with a certificate") from None
    return body


def _redeem(base: str, ca_pem: bytes, token: str, csr_pem: bytes) -> _Answer:
    """POST the token and the request, the server checked against the pinned CA."""
    checked = ssl.create_default_context(cadata=ca_pem.decode())
    request = urllib.request.Request(
        base + PROVISION_PATH,
        data=json.dumps({"token": token, "csr": csr_pem.decode()}).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT, context=checked) as got:  # nosec B310  # _hub_base accepts only an https:// address
            body: bytes = got.read(MAX_ANSWER)
    except urllib.error.HTTPError as error:
        raise ProvisionError(f"the hub refused: {_hub_words(error)}") from None
    except (urllib.error.URLError, OSError) as error:
        raise ProvisionError(
            f"cannot enrol with the hub at {base}: {_reason(error)}"
            + (
                " (the hub's server certificate must be issued by the site CA for the "
                "address you typed)"
                if isinstance(_cause(error), ssl.SSLCertVerificationError)
                else ""
            )
        ) from None
    try:
        return _Answer.model_validate_json(body)
    except ValidationError as error:
        raise ProvisionError(f"the hub's answer is not an enrolment: {error}") from None


def _check_certificate(answer: _Answer, ca_pem: bytes, key_pem: bytes) -> x509.Certificate:
    """The certificate must be for the key made here and signed by the pinned CA."""
    ca = x509.load_pem_x509_certificate(ca_pem)
    try:
        certificate = x509.load_pem_x509_certificate(answer.certificate.encode())
        sent_ca = x509.load_pem_x509_certificate(answer.ca.encode())
    except ValueError:
        raise ProvisionError("the hub's answer holds no valid certificate") from None
    key = serialization.load_pem_private_key(key_pem, None)
    if sent_ca != ca:
        raise ProvisionError("the hub answered with another CA than the one it showed first")
    if certificate.public_key() != key.public_key():
        raise ProvisionError("the hub's certificate is not for the key made on this kiosk")
    try:
        certificate.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature) as error:
        raise ProvisionError(f"the hub's certificate is not signed by its CA ({error})") from None
    return certificate


def _config_text(
    config_path: Path,
    existing: dict[str, Any],
    answer: _Answer,
    data_dir: Path,
    tls_dir: Path,
    named: dict[str, Path],
) -> str:
    """The kiosk configuration: what was there (camera, UI…) with the identity replaced;
    ``named`` says where the service finds its key (and, with a credential store, its cache
    key)."""
    broker = dict(existing.get("broker") or {})
    broker.update(
        host=answer.broker.host,
        port=answer.broker.port,
        tls={
            "cafile": str(tls_dir / "ca.crt"),
            "certfile": str(tls_dir / "device.crt"),
            "keyfile": str(named["keyfile"]),
        },
    )
    data = {
        **existing,
        "site": answer.site,
        "device": answer.device,
        "wing": answer.wing,
        "mode": answer.mode,
        "data_dir": str(data_dir),
        "broker": broker,
    }
    if "cache.key" in named:
        data["cache_key_file"] = str(named["cache.key"])
    if config_path.suffix == ".json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return "# Written by `masar kiosk provision`; the identity is the hub's.\n" + _toml(data)


def _toml(table: dict[str, Any], prefix: str = "") -> str:
    """A TOML document of plain values and tables (what a kiosk configuration holds)."""
    lines = [f"{key} = {_toml_value(v)}" for key, v in table.items() if not isinstance(v, dict)]
    text = "\n".join(lines) + ("\n" if lines else "")
    for key, value in table.items():
        if isinstance(value, dict):
            name = f"{prefix}{key}"
            text += f"\n[{name}]\n" + _toml(value, name + ".")
    return text


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a TOML basic string


def _write_all(files: dict[Path, bytes], data_dir: Path) -> None:
    """Write every file beside its place, then rename them all, the configuration last: a
    failure leaves nothing behind. Keys are 0600 from the first byte. Run as root, what goes
    in the data folder is given to the folder's owner (the service user)."""
    owner = data_dir.stat() if os.geteuid() == 0 else None
    written: list[tuple[Path, Path]] = []
    try:
        for path, content in files.items():
            temporary = path.with_name(f".{path.name}.provisioning")
            mode = 0o600 if path.suffix == ".key" else 0o644
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            written.append((temporary, path))
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temporary, mode)  # whatever the umask
            if owner is not None and path.is_relative_to(data_dir):
                for mine in (temporary, path.parent):
                    os.chown(mine, owner.st_uid, owner.st_gid)
    except OSError as error:
        for temporary, _ in written:
            temporary.unlink(missing_ok=True)
        raise ProvisionError(f"cannot write the kiosk's files: {error}") from None
    for temporary, path in written:
        os.replace(temporary, path)


def _hub_words(error: urllib.error.HTTPError) -> str:
    """The hub's own plain words ({"error": ...}), or the HTTP status."""
    try:
        message = json.loads(error.read(MAX_ANSWER)).get("error")
    except (ValueError, AttributeError, OSError):
        message = None
    return str(message) if message else f"HTTP {error.code} {error.reason}"


def _cause(error: BaseException) -> BaseException:
    return (
        error.reason
        if isinstance(error, urllib.error.URLError) and isinstance(error.reason, BaseException)
        else error
    )


def _reason(error: BaseException) -> str:
    cause = _cause(error)
    if isinstance(cause, ssl.SSLCertVerificationError):
        return untrusted_words(cause)
    return str(getattr(cause, "strerror", None) or cause)
