"""Server-side cryptography, all through PyNaCl.

- tokens: 32 random bytes, URL-safe base64; only their keyed BLAKE2b hash is stored;
- passwords: Argon2id;
- metadata at rest (case records: labels, pseudonyms, keys): SecretBox under a subkey.
The server never holds a participant's private key and never sees chat plaintext.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import nacl.encoding
import nacl.exceptions
import nacl.hash
import nacl.pwhash
import nacl.secret
import nacl.utils

KEY_BYTES = 32
TOKEN_BYTES = 32


def b64e(data: bytes) -> str:
    """URL-safe base64 without padding (tokens and ids)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def random_id(nbytes: int = 16) -> str:
    """An opaque random identifier (128 bits by default)."""
    return b64e(nacl.utils.random(nbytes))


def new_token() -> str:
    """A 256-bit bearer token for a session or an invite."""
    return b64e(nacl.utils.random(TOKEN_BYTES))


def load_or_create_key(path: Path) -> bytes:
    """The deployment's master key: read it, or create it (mode 0600) on first start."""
    if path.exists():
        data = path.read_bytes()
        if len(data) != KEY_BYTES:
            raise ValueError(f"secret key file must hold exactly {KEY_BYTES} bytes")
        return data
    path.parent.mkdir(parents=True, exist_ok=True)
    key = nacl.utils.random(KEY_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


class Keyring:
    """Subkeys derived from one master key, each for one purpose only."""

    def __init__(self, master: bytes) -> None:
        if len(master) != KEY_BYTES:
            raise ValueError("master key must be 32 bytes")
        self._hash_key = self._derive(master, b"token-hash")
        self._box = nacl.secret.SecretBox(self._derive(master, b"at-rest"))

    @staticmethod
    def _derive(master: bytes, purpose: bytes) -> bytes:
        return nacl.hash.blake2b(
            b"",
            key=master,
            person=purpose.ljust(16, b"\0"),
            digest_size=32,
            encoder=nacl.encoding.RawEncoder,
        )

    def token_hash(self, token: str) -> str:
        """Keyed hash under which a token (or an email) is stored: a dump reveals nothing."""
        return nacl.hash.blake2b(
            token.encode(), key=self._hash_key, digest_size=32, encoder=nacl.encoding.HexEncoder
        ).decode()

    def seal(self, plaintext: bytes) -> bytes:
        """Encrypt metadata for storage (random nonce, authenticated)."""
        return bytes(self._box.encrypt(plaintext))

    def open(self, sealed: bytes) -> bytes:
        """Decrypt what ``seal`` produced; raise ValueError if it was tampered with."""
        try:
            return bytes(self._box.decrypt(sealed))
        except nacl.exceptions.CryptoError as exc:
            raise ValueError("sealed record failed authentication") from exc


def hash_password(password: str) -> str:
    """Argon2id hash (PyNaCl's moderate-cost interactive parameters)."""
    return nacl.pwhash.argon2id.str(password.encode()).decode()


def verify_password(stored: str, password: str) -> bool:
    """Constant-time check of ``password`` against an Argon2id hash."""
    try:
        return bool(nacl.pwhash.argon2id.verify(stored.encode(), password.encode()))
    except (nacl.exceptions.InvalidkeyError, nacl.exceptions.CryptoError, ValueError):
        return False


class SealedJson:
    """A ``json`` module for python-socketio's Redis manager that seals every pub/sub
    message, so someone subscribed to Redis sees no pseudonym, key or label in transit.

    Messages that fail authentication (not from a node holding the key) are dropped:
    ``loads`` raises, which the manager treats as an unreadable message.
    """

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring

    def dumps(self, data: object) -> bytes:
        """Serialise and seal one manager message."""
        return self._keyring.seal(json.dumps(data, separators=(",", ":")).encode())

    def loads(self, data: bytes | str) -> object:
        """Open and parse one manager message; raise ValueError if it is not ours."""
        raw = data.encode() if isinstance(data, str) else data
        return json.loads(self._keyring.open(raw))
