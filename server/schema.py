"""Payload schemas: every client payload is parsed here before anything else sees it.

A parser returns typed values or raises ``Invalid`` (wire code ``invalid``) or
``TooLarge`` (``too_large``). Unknown fields are refused, so a client cannot smuggle
data the server would later store or forward.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Set
from typing import Any

from rooms.model import Place

ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
NONCE_BYTES = 24
BOX_OVERHEAD = 16
MAX_CIPHERTEXT = 8 * 1024 + BOX_OVERHEAD
MAX_PSEUDONYM = 40
MAX_LABEL = 80
MAX_SDP = 32 * 1024


class Invalid(ValueError):
    """The payload does not match its schema."""

    code = "invalid"


class TooLarge(Invalid):
    """The payload, or one of its fields, is over its size limit."""

    code = "too_large"


def obj(
    payload: Any, required: Set[str], optional: Set[str] = frozenset()
) -> dict[str, Any]:
    """A JSON object with exactly the ``required`` keys plus any of ``optional``."""
    if payload is None and not required:
        return {}
    if not isinstance(payload, dict):
        raise Invalid("The payload must be an object.")
    keys = set(payload)
    if not required <= keys:
        raise Invalid(f"Missing field: {sorted(required - keys)[0]}.")
    if keys - required - optional:
        raise Invalid("Unknown field in payload.")
    return payload


def ident(value: Any, what: str = "id") -> str:
    """An opaque id: 1-64 URL-safe characters."""
    if not isinstance(value, str) or not ID_RE.match(value):
        raise Invalid(f"Malformed {what}.")
    return str(value)


def b64bytes(value: Any, *, what: str, exact: int | None = None, max_len: int = 64) -> bytes:
    """Standard base64 text decoding to ``exact`` bytes (or at most ``max_len``)."""
    if not isinstance(value, str):
        raise Invalid(f"{what} must be base64 text.")
    if len(value) > (max_len * 4) // 3 + 8:
        raise TooLarge(f"{what} is too large.")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Invalid(f"{what} is not valid base64.") from exc
    if exact is not None and len(data) != exact:
        raise Invalid(f"{what} must be {exact} bytes.")
    if len(data) > max_len:
        raise TooLarge(f"{what} is too large.")
    return data


def text(value: Any, *, what: str, max_len: int) -> str:
    """Printable text of at most ``max_len`` characters, trimmed."""
    if not isinstance(value, str):
        raise Invalid(f"{what} must be text.")
    value = value.strip()
    if len(value) > max_len:
        raise TooLarge(f"{what} is too long.")
    if any(not ch.isprintable() for ch in value):
        raise Invalid(f"{what} contains control characters.")
    return str(value)


def place(value: Any, *, allow_away: bool = False) -> Place:
    """One of the place names."""
    try:
        found = Place(value) if isinstance(value, str) else None
    except ValueError:
        found = None
    if found is None or (found is Place.AWAY and not allow_away):
        raise Invalid("Unknown place.")
    return found


def boolean(value: Any, what: str) -> bool:
    """A JSON boolean (not a truthy string or number)."""
    if not isinstance(value, bool):
        raise Invalid(f"{what} must be true or false.")
    return value


def box(value: Any) -> dict[str, str]:
    """One recipient's sealed box: 24-byte nonce and a bounded ciphertext, both base64."""
    fields = obj(value, {"nonce", "ciphertext"})
    b64bytes(fields["nonce"], what="nonce", exact=NONCE_BYTES)
    ct = b64bytes(fields["ciphertext"], what="ciphertext", max_len=MAX_CIPHERTEXT)
    if len(ct) < BOX_OVERHEAD:
        raise Invalid("ciphertext is too short to be a box.")
    return {"nonce": fields["nonce"], "ciphertext": fields["ciphertext"]}


def sdp(value: Any) -> str:
    """A session description: text, bounded, starting like SDP. Never logged."""
    if not isinstance(value, str):
        raise Invalid("sdp must be text.")
    if len(value) > MAX_SDP:
        raise TooLarge("sdp is too large.")
    if not value.startswith("v=0"):
        raise Invalid("sdp is not a session description.")
    return value
