"""ICE: what the server offers itself, and what it hands to clients.

The server's own peer connections never use a STUN or TURN server
(``RTCConfiguration(iceServers=[])``: aiortc's default would query a public STUN server)
and offer only the server's host address: the configured public IP, on a port from the
configured UDP range (aioice has no port-range option; ``seam.bind_host_candidates``
binds the sockets itself). Parties therefore only ever see the server's address.

Clients get TURN (coturn ``use-auth-secret``, the TURN REST scheme) when configured:
username ``"<expiry unix time>:<opaque id>"``, credential
``base64(HMAC-SHA1(secret, username))``; coturn refuses it after the expiry time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiortc import RTCBundlePolicy, RTCConfiguration

TURN_TTL = 6 * 3600.0


@dataclass(frozen=True)
class MediaConfig:
    """Where the relay listens. ``public_ip``: the only address put in answers (bound
    directly when it is a local address, else announced for a socket on the wildcard
    address behind 1:1 NAT). ``ports``: inclusive UDP range, one port per connection."""

    public_ip: str | None = None
    ports: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.ports is not None:
            low, high = self.ports
            if not 1 <= low <= high <= 65535:
                raise ValueError("invalid UDP port range")

    def rtc_configuration(self) -> RTCConfiguration:
        """The server side never asks a STUN/TURN server anything. Max-bundle: one transport
        (one UDP port) per participant; aiortc's default "balanced" policy leaves a second
        m-line of a kind on an unbundled, never-connected transport."""
        return RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


def turn_credentials(
    secret: str, *, now: float, ttl: float = TURN_TTL, user: str | None = None
) -> tuple[str, str]:
    """TURN REST credentials valid until ``now + ttl``: ``(username, credential)``.

    ``user`` is an opaque id (never a name); a random one is made when omitted.
    """
    expiry = int(now + ttl)
    username = f"{expiry}:{user or secrets.token_hex(8)}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


def client_ice_servers(
    turn_urls: Sequence[str],
    turn_secret: str | None,
    *,
    now: float,
    ttl: float = TURN_TTL,
    user: str | None = None,
) -> list[dict[str, Any]]:
    """The ``iceServers`` list for a browser's ``RTCPeerConnection``.

    Empty without TURN: the server is reachable on its own address, so clients need no
    STUN server (and no third party learns that they are in a session).
    """
    if not turn_urls or not turn_secret:
        return []
    username, credential = turn_credentials(turn_secret, now=now, ttl=ttl, user=user)
    return [{"urls": list(turn_urls), "username": username, "credential": credential}]
