"""AES-GCM sealing of membership packets under a shared key, with a keyring for rotation.

A sealed packet is ``0x01 | nonce (12 bytes) | ciphertext + tag (16 bytes)``; the leading
byte is also authenticated (AAD). Packets are sealed with the primary key and opened with
any key of the ring, so keys rotate without downtime: add the new key everywhere, make it
primary everywhere, then remove the old one.

Without a keyring (``Plaintext``) packets are ``0x00 | payload``: neither side accepts the
other's packets, so an encrypted cluster never admits a node without the key.

Keys come from a secret file (``--ml-secret-file``: base64 keys, one per line) or, the MetalLB
way, from the ``memberlist`` Secret the controller creates (``secretkey``: 16 random bytes,
base64 without padding) mounted in a directory (``--ml-secret-key-path``):
:meth:`Keyring.from_secret_dir` derives the AES key with :func:`memberlist_key`.

``cryptography`` is imported by the first Keyring made: a speaker without a key never loads it
(7 MB of resident memory).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

PLAIN = 0x00
SEALED = 0x01
NONCE_SIZE = 12
TAG_SIZE = 16
KEY_SIZES = (16, 24, 32)
#: Bytes sealing adds to a payload.
OVERHEAD = 1 + NONCE_SIZE + TAG_SIZE
#: The data key of MetalLB's memberlist Secret, and so the file name it is mounted as.
MEMBERLIST_SECRET_KEY = "secretkey"
_MEMBERLIST_SECRET_BYTES = 16


def memberlist_key(secret: bytes) -> bytes:
    """The AES-256 key MetalLB's speaker derives from the mounted secret.

    MetalLB calls Go's ``sha256.New().Sum(secret)``, which *appends* the digest of the
    (empty) hash to ``secret`` rather than hashing it, then keeps 32 bytes: so the key is the
    secret's own bytes followed by SHA-256 of nothing, truncated. A quirk, mirrored so the same
    Secret gives the same key.
    """
    return (secret + hashlib.sha256(b"").digest())[:32]


def new_memberlist_secret() -> bytes:
    """A new value for the memberlist Secret: 16 random bytes, base64 without padding (the
    text is the secret; the speaker never decodes it)."""
    return base64.b64encode(os.urandom(_MEMBERLIST_SECRET_BYTES)).rstrip(b"=")


class AuthError(ValueError):
    """A packet that no key opens (wrong key, tampered, truncated, or the wrong mode)."""


class KeyFileError(ValueError):
    """An unusable secret file. The message names the file and line, never the key."""


class Sealer(Protocol):
    encrypted: bool

    def seal(self, payload: bytes) -> bytes: ...

    def open(self, packet: bytes) -> bytes: ...


class Plaintext:
    """No encryption and no authentication (only for tests and trusted labs)."""

    encrypted = False

    def seal(self, payload: bytes) -> bytes:
        return bytes((PLAIN,)) + payload

    def open(self, packet: bytes) -> bytes:
        if not packet or packet[0] != PLAIN:
            raise AuthError("sealed packet, but this node has no key")
        return packet[1:]


class Keyring:
    """Shared AES-GCM keys: the first is the primary (used to seal), all are tried to open."""

    encrypted = True

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("a keyring needs at least one key")
        for key in keys:
            if len(key) not in KEY_SIZES:
                raise ValueError(f"an AES key is 16, 24 or 32 bytes, not {len(key)}")
        # Duplicates would only cost a second failed attempt; keep the first occurrence.
        unique = list(dict.fromkeys(bytes(k) for k in keys))
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._invalid_tag = InvalidTag
        self._ciphers = [AESGCM(k) for k in unique]
        self._keys = tuple(unique)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:  # never show key material
        return f"Keyring({len(self._keys)} keys)"

    @property
    def primary(self) -> bytes:
        return self._keys[0]

    def seal(self, payload: bytes) -> bytes:
        header = bytes((SEALED,))
        nonce = os.urandom(NONCE_SIZE)
        return header + nonce + self._ciphers[0].encrypt(nonce, payload, header)

    def open(self, packet: bytes) -> bytes:
        if len(packet) < OVERHEAD or packet[0] != SEALED:
            raise AuthError("not a sealed packet")
        header, nonce, body = packet[:1], packet[1 : 1 + NONCE_SIZE], packet[1 + NONCE_SIZE :]
        for cipher in self._ciphers:
            try:
                return cipher.decrypt(nonce, body, header)
            except self._invalid_tag:
                continue
        raise AuthError("no key opens this packet")

    @classmethod
    def generate(cls, size: int = 32) -> Keyring:
        if size not in KEY_SIZES:
            raise ValueError(f"an AES key is 16, 24 or 32 bytes, not {size}")
        return cls([os.urandom(size)])  # what AESGCM.generate_key does

    @classmethod
    def from_text(cls, text: str, source: str = "<secret>") -> Keyring:
        """One base64 key per line (16, 24 or 32 bytes), primary first; ``#`` comments."""
        keys: list[bytes] = []
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                key = base64.b64decode(line, validate=True)
            except (binascii.Error, ValueError):
                raise KeyFileError(f"{source}:{number}: not base64") from None
            if len(key) not in KEY_SIZES:
                raise KeyFileError(
                    f"{source}:{number}: a key is 16, 24 or 32 bytes once decoded, not {len(key)}"
                )
            keys.append(key)
        if not keys:
            raise KeyFileError(f"{source}: no key (one base64 key per line)")
        return cls(keys)

    @classmethod
    def from_secret_dir(cls, directory: str | os.PathLike[str]) -> Keyring:
        """The key of a mounted memberlist Secret: ``directory/secretkey``, derived by
        :func:`memberlist_key` (the file's bytes as they are, as MetalLB reads them)."""
        path = Path(directory) / MEMBERLIST_SECRET_KEY
        try:
            secret = path.read_bytes()
        except OSError as exc:
            raise KeyFileError(f"{path}: cannot read: {exc.__class__.__name__}") from None
        if not secret:
            raise KeyFileError(f"{path}: empty (the memberlist Secret has no secretkey)")
        return cls([memberlist_key(secret)])

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Keyring:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise KeyFileError(f"{path}: cannot read: {exc.__class__.__name__}") from None
        return cls.from_text(text, str(path))


def encode_key(key: bytes) -> str:
    """The secret-file form of ``key``."""
    return base64.b64encode(key).decode("ascii")
