"""The durable mark of a withdrawn kiosk: the broker refused its certificate as revoked.

A revoked kiosk can never reach the hub again with its key, so it must stop taking people's
answers, which would wait in its outbox for ever. The mark is a small file in the data
folder: it survives restarts and a wipe of the store, is set by the bus when the broker
sends the TLS alert "certificate revoked" (kiosk.bus), is read by the touchscreen before
every screen that could start a session, and is removed only when the kiosk is enrolled
anew (``masar kiosk provision --force``).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from protocol.ids import format_timestamp, utc_now

if TYPE_CHECKING:
    from kiosk.bus import MqttBus

logger = logging.getLogger(__name__)

FILE_NAME = "withdrawn.json"
REVOKED = "certificate revoked"  # the TLS alert that means the hub withdrew this kiosk


@dataclass(frozen=True)
class Withdrawal:
    at: str  # when the kiosk learnt it (UTC, RFC 3339)
    reason: str  # in plain words, for staff and the status page


def marker_path(data_dir: Path) -> Path:
    return data_dir / FILE_NAME


def mark(data_dir: Path, reason: str) -> None:
    """Set the mark (written whole or not at all; kept if already set)."""
    path = marker_path(data_dir)
    if path.exists():
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{FILE_NAME}.tmp")
    temporary.write_text(json.dumps({"at": format_timestamp(utc_now()), "reason": reason}))
    os.replace(temporary, path)
    logger.error("this kiosk has been withdrawn: %s", reason)


def withdrawal(data_dir: Path) -> Withdrawal | None:
    """The mark if set. A mark that cannot be read still counts: fail closed."""
    path = marker_path(data_dir)
    try:
        data = json.loads(path.read_text())
        return Withdrawal(at=str(data["at"]), reason=str(data["reason"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return Withdrawal(at="", reason=f"{path} is set but cannot be read")


def clear(data_dir: Path) -> None:
    """Enrolled anew: the new certificate is not revoked."""
    marker_path(data_dir).unlink(missing_ok=True)


def on_certificate_refused(data_dir: Path, alert: str) -> None:
    """The bus's callback: a revoked certificate withdraws the kiosk; other refusals (an
    expired certificate, a CA the broker does not know) are faults for staff, not a
    withdrawal, and the bus reports them in its ``refused`` words."""
    if alert == REVOKED:
        mark(data_dir, "the broker refused this kiosk's certificate: it has been revoked")


def watch(bus: MqttBus, data_dir: Path) -> None:
    """Have the bus set the mark when the broker says this kiosk's certificate is revoked."""
    bus.on_certificate_refused.append(lambda alert: on_certificate_refused(data_dir, alert))
