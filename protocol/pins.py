"""Staff PIN hashes: made on the hub, checked on kiosks, never the PIN itself on the wire.

scrypt (stdlib hashlib) with a per-PIN salt; the encoded form carries its parameters, so
they can be raised later without breaking existing hashes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re

_N, _R, _P = 2**14, 8, 1
PIN_PATTERN = re.compile(r"[0-9]{4,8}")


class PinError(ValueError):
    """A PIN or a PIN hash is not acceptable; the message says why."""


def hash_pin(pin: str) -> str:
    if not PIN_PATTERN.fullmatch(pin):
        raise PinError("a PIN is 4 to 8 digits")
    return hash_secret(pin)


def verify_pin(pin: str, encoded: str) -> bool:
    """True if ``pin`` matches; constant-time comparison."""
    return verify_secret(pin, encoded)


def hash_secret(pin: str) -> str:
    """scrypt with a fresh salt; used for kiosk PINs and hub passwords alike."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    encode = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${encode(salt).decode()}${encode(digest).decode()}"


def verify_secret(pin: str, encoded: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            raise ValueError(scheme)
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            pin.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except ValueError:
        raise PinError("the stored hash is not in a format Masar knows") from None
    return hmac.compare_digest(actual, expected)
