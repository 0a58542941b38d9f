"""Biometric templates at rest: AES-256-GCM with a key that never enters the database.

A template is never written in clear. Each ciphertext names its key by id, and the
additional data binds it to its row (template id, detainee id), so a ciphertext moved
to another person's row does not decrypt. Rotation writes the new key beside the old
one first (``<key>.next``); templates are re-encrypted in one transaction; only then
does the new key replace the old. A crash at any point leaves every template readable.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12


class VaultError(RuntimeError):
    """A template could not be decrypted: wrong key, or the data was changed."""


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"masar-cache-key" + key).hexdigest()[:16]


def _write_key(path: Path, key: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


class TemplateVault:
    """The kiosk's cache key(s), loaded from ``key_file`` (created on first use)."""

    def __init__(self, key_file: Path, *, create: bool = True) -> None:
        """``create=False`` for a key that provisioning must have written: a missing one is
        an error, not a reason to start over with a new key."""
        self.key_file = key_file
        self.next_file = key_file.with_name(key_file.name + ".next")
        if not key_file.exists() and not create:
            raise VaultError(f"the cache key {key_file} is missing; provision this kiosk again")
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            _write_key(key_file, AESGCM.generate_key(bit_length=256))
        self._keys: dict[str, bytes] = {}
        for path in (key_file, self.next_file):
            if path.exists():
                key = path.read_bytes()
                if len(key) != 32:
                    raise VaultError(f"{path} is not a 256-bit key")
                self._keys[key_id(key)] = key
        self.current_id = key_id(key_file.read_bytes())
        # Held by a rotation from just before its re-encryption commits until the new key is
        # current, so nothing is sealed in between with the key about to be dropped.
        self.rotation_lock = threading.RLock()

    def encrypt(self, plaintext: bytes, context: str, *, with_key: str | None = None) -> bytes:
        """``key id (16) | nonce (12) | ciphertext+tag``."""
        with self.rotation_lock:
            kid = with_key or self.current_id
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self._keys[kid]).encrypt(nonce, plaintext, context.encode())
        return kid.encode() + nonce + sealed

    def decrypt(self, blob: bytes, context: str) -> bytes:
        kid = blob[:16].decode(errors="replace")
        key = self._keys.get(kid)
        if key is None:
            raise VaultError("this template was encrypted with a key the kiosk does not hold")
        nonce, sealed = blob[16 : 16 + NONCE_BYTES], blob[16 + NONCE_BYTES :]
        try:
            return AESGCM(key).decrypt(nonce, sealed, context.encode())
        except InvalidTag:
            raise VaultError("a cached template failed its integrity check") from None

    @property
    def next_id(self) -> str | None:
        """The id of a rotation's new key still kept beside the current one, if any."""
        return key_id(self.next_file.read_bytes()) if self.next_file.exists() else None

    def abandon_rotation(self) -> None:
        """A rotation stopped before its re-encryption committed: its key was never used."""
        self.next_file.unlink(missing_ok=True)
        self._keys = {self.current_id: self.key_file.read_bytes()}

    def begin_rotation(self) -> str:
        """Make the next key (kept beside the current one) and return its id."""
        key = AESGCM.generate_key(bit_length=256)
        _write_key(self.next_file, key)
        self._keys[key_id(key)] = key
        return key_id(key)

    def finish_rotation(self) -> None:
        """Call after the re-encryption committed: the next key becomes the only key."""
        os.replace(self.next_file, self.key_file)
        self.current_id = key_id(self.key_file.read_bytes())
        self._keys = {self.current_id: self.key_file.read_bytes()}
