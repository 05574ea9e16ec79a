"""Test clients: a real socketio.AsyncClient per person, with a PyNaCl key pair,
that records everything it receives so tests can assert on what a user observed."""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import socketio
from nacl.public import Box, PrivateKey, PublicKey

from tests.support.waiting import eventually


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class Person:
    """One participant's client: session token, socket, key pair and an inbox of events."""

    base_url: str
    session: str
    role: str
    case_id: str | None = None
    key: PrivateKey = field(default_factory=PrivateKey.generate)
    received: list[tuple[str, Any]] = field(default_factory=list)
    sio: socketio.AsyncClient = field(
        default_factory=lambda: socketio.AsyncClient(reconnection=False)
    )
    refused: Any = None

    async def connect(self, **auth_extra: Any) -> None:
        """Open the socket with the session; record every event that arrives."""

        @self.sio.on("*")  # type: ignore[misc]
        async def catch_all(event: str, data: Any = None) -> None:
            self.received.append((event, data))

        auth = {"session": self.session, **auth_extra}
        if self.case_id and self.role == "mediator":
            auth.setdefault("case_id", self.case_id)
        await self.sio.connect(self.base_url, auth=auth, transports=["websocket"], wait_timeout=5)

    async def call(self, event: str, payload: Any = None) -> dict[str, Any]:
        """Send an event and return its acknowledgement."""
        if payload is None:
            result = await self.sio.call(event, timeout=5)
        else:
            result = await self.sio.call(event, payload, timeout=5)
        assert isinstance(result, dict), result
        return result

    async def ok(self, event: str, payload: Any = None) -> dict[str, Any]:
        """Send an event that must succeed."""
        ack = await self.call(event, payload)
        assert ack.get("ok") is True, (event, ack)
        return ack

    @property
    def public_b64(self) -> str:
        return b64(bytes(self.key.public_key))

    def events(self, name: str) -> list[Any]:
        return [data for ev, data in self.received if ev == name]

    def last_state(self) -> dict[str, Any]:
        states = self.events("state")
        assert states, "no state received"
        return states[-1]  # type: ignore[no-any-return]

    async def wait_state(self, predicate: Any, timeout: float = 5.0) -> dict[str, Any]:
        """Wait until the latest state satisfies ``predicate``."""
        await eventually(
            lambda: bool(self.events("state")) and predicate(self.last_state()), timeout
        )
        return self.last_state()

    async def wait_event(
        self, name: str, predicate: Any = lambda d: True, timeout: float = 5.0
    ) -> Any:
        await eventually(lambda: any(predicate(d) for d in self.events(name)), timeout)
        return next(d for d in self.events(name) if predicate(d))

    def seal_for(self, peer_public_b64: str, plaintext: bytes) -> dict[str, str]:
        box = Box(self.key, PublicKey(base64.b64decode(peer_public_b64)))
        sealed = box.encrypt(plaintext)
        return {"nonce": b64(sealed.nonce), "ciphertext": b64(sealed.ciphertext)}

    def open_from(self, peer_public_b64: str, box: dict[str, str]) -> bytes:
        b = Box(self.key, PublicKey(base64.b64decode(peer_public_b64)))
        return bytes(b.decrypt(base64.b64decode(box["ciphertext"]), base64.b64decode(box["nonce"])))

    def peer_key(self, pid: str) -> str:
        for peer in self.last_state()["peers"]:
            if peer["id"] == pid and peer["public_key"]:
                return str(peer["public_key"])
        raise AssertionError(f"no key for {pid} in state")

    async def send_text(
        self, recipients: dict[str, str], text: str, place: str | None = None
    ) -> dict[str, Any]:
        """Encrypt ``text`` for each recipient {pid: public_key_b64} and send it."""
        mid = secrets.token_hex(8)
        body = json.dumps({"id": mid, "text": text}).encode()
        payload: dict[str, Any] = {
            "id": mid,
            "boxes": {pid: self.seal_for(pk, body) for pid, pk in recipients.items()},
        }
        if place:
            payload["place"] = place
        return await self.call("chat.send", payload)

    def wire_dump(self) -> str:
        """Everything this client ever received, as text (for canary searches)."""
        return json.dumps(self.received, default=str)

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()


async def post(
    base_url: str, path: str, body: Any = None, token: str | None = None, raw: bytes | None = None
) -> tuple[int, dict[str, Any]]:
    """POST JSON (or ``raw`` bytes) and return (status, json body)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http:
        if raw is not None:
            headers["Content-Type"] = "application/json"
            resp = await http.post(base_url + path, data=raw, headers=headers)
        else:
            resp = await http.post(base_url + path, json=body, headers=headers)
        async with resp:
            return resp.status, await resp.json(content_type=None)


async def get(base_url: str, path: str, token: str | None = None) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.get(base_url + path, headers=headers) as resp:
        return resp.status, await resp.json(content_type=None)
